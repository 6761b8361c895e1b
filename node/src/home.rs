//! A node's home: the directory that holds everything one node keeps.
//!
//! ```text
//! HOME/
//!   node.key      the node's ed25519 secret (hex, mode 0600); never printed
//!   config.toml   how this node runs: listen and HTTP addresses, role, bootnodes, ...
//!   network.toml  the network spec it runs on
//!   db/           its database
//!   node.json     while it runs: pid, peer id, addresses, peers (for other programs)
//!   node.log      the log of a node that `pictor devnet up` started
//! ```
//!
//! [`Home::init`] makes one; [`Home::node_config`] turns one (and command-line overrides)
//! into a [`NodeConfig`]; [`Home::run`] runs a node on it until told to stop.

mod config;
mod runtime;
#[cfg(test)]
mod tests;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};
use pictor_protocol::{Keypair, PublicKey};

pub use config::{parse_http, HomeConfig, Role, DEFAULT_HTTP, DEFAULT_LOG, DEFAULT_PORT};
pub use runtime::{RuntimeInfo, RuntimeJob};

use crate::{identity, NetworkParams, NetworkSpec, NodeConfig, NodeError};

/// The configuration file in a home.
pub const CONFIG_FILE: &str = "config.toml";
/// The network spec in a home.
pub const NETWORK_FILE: &str = "network.toml";
/// The database directory in a home.
pub const DB_DIR: &str = "db";
/// The runtime file a running node keeps in its home.
pub const RUNTIME_FILE: &str = "node.json";
/// The log of a node started in the background.
pub const LOG_FILE: &str = "node.log";
/// The environment variable that names the default home.
pub const HOME_ENV: &str = "PICTOR_HOME";

/// The network a new home is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitNetwork {
    /// A fresh network of one: this node is its only genesis checker.
    Devnet,
    /// A network whose spec ships in the binary (`testnet`), by name.
    Shipped(&'static str),
    /// The network spec in this file (checked, then copied).
    File(PathBuf),
}

impl std::str::FromStr for InitNetwork {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<InitNetwork, Self::Err> {
        Ok(if s == "devnet" {
            InitNetwork::Devnet
        } else if let Some((name, _)) = crate::spec::SHIPPED.iter().find(|(n, _)| *n == s) {
            InitNetwork::Shipped(name)
        } else {
            InitNetwork::File(PathBuf::from(s))
        })
    }
}

/// What [`Home::init`] did.
#[derive(Debug, Clone)]
pub struct InitOutcome {
    /// The home.
    pub home: PathBuf,
    /// The node's public key (`None` only for a home that has a config but no key).
    pub public_key: Option<PublicKey>,
    /// Its peer id.
    pub peer_id: Option<PeerId>,
    /// What was created; empty when the home already existed.
    pub created: Vec<PathBuf>,
    /// The home held a key or a config already, and nothing was changed.
    pub already_initialised: bool,
}

/// What the command line changes about a home's configuration.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Another role than `config.toml`'s.
    pub role: Option<Role>,
    /// Another network spec than the home's `network.toml`.
    pub network: Option<PathBuf>,
    /// Listen addresses instead of `config.toml`'s (when not empty).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial besides the spec's and `config.toml`'s bootnodes.
    pub bootnodes: Vec<Multiaddr>,
    /// Another HTTP address (`Some(None)`: no HTTP port).
    pub http: Option<Option<SocketAddr>>,
    /// Ask the router for a port mapping over UPnP (as `config.toml`'s `upnp = true`).
    pub upnp: bool,
}

/// A node's home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    dir: PathBuf,
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> NodeError {
    NodeError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Writes `text` to `path` through a temporary file, so that a reader never sees half.
pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<(), NodeError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| io_error(path, e))
}

impl Home {
    /// The home at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Home {
        Home { dir: dir.into() }
    }

    /// The default home: `$PICTOR_HOME`, else `~/.pictor`.
    pub fn default_dir() -> Result<PathBuf, NodeError> {
        if let Some(dir) = std::env::var_os(HOME_ENV).filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        std::env::var_os("HOME")
            .filter(|d| !d.is_empty())
            .map(|h| PathBuf::from(h).join(".pictor"))
            .ok_or_else(|| {
                NodeError::Config(format!(
                    "no home given: pass --home DIR or set {HOME_ENV} (HOME is not set either)"
                ))
            })
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file in the home.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Whether the home holds a key or a config.
    pub fn is_initialised(&self) -> bool {
        self.path(identity::KEY_FILE).exists() || self.path(CONFIG_FILE).exists()
    }

    /// Makes a home at `dir` for `network`: a key, `config.toml`, `network.toml` and the
    /// database. A home that holds a key or a config already is left as it is.
    pub fn init(dir: &Path, network: &InitNetwork) -> Result<InitOutcome, NodeError> {
        let home = Home::new(dir);
        if home.is_initialised() {
            let public_key = home.public_key().ok();
            return Ok(InitOutcome {
                home: dir.to_path_buf(),
                peer_id: public_key.as_ref().and_then(identity::peer_id),
                public_key,
                created: Vec::new(),
                already_initialised: true,
            });
        }
        // Check the spec before anything is written.
        let copied = match network {
            InitNetwork::Devnet => None,
            InitNetwork::Shipped(name) => {
                let path = Path::new(name);
                NetworkSpec::load_named(path)?
                    .params()
                    .map_err(|e| in_file(path, e))?;
                crate::spec::shipped(name).map(str::to_owned)
            }
            InitNetwork::File(path) => {
                let spec = NetworkSpec::load(path)?;
                spec.params().map_err(|e| in_file(path, e))?;
                let text = std::fs::read_to_string(path).map_err(|e| io_error(path, e))?;
                Some(text)
            }
        };
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let keypair = identity::load_or_create(dir)?;
        let (spec, config) = match copied {
            // A node that joins a public network from home: ask the router for a port.
            Some(text) if matches!(network, InitNetwork::Shipped(_)) => (
                text,
                HomeConfig {
                    upnp: true,
                    ..HomeConfig::default()
                },
            ),
            Some(text) => (text, HomeConfig::default()),
            None => {
                let params = NetworkParams::devnet(vec![keypair.public()]);
                let config = HomeConfig {
                    role: Role::All,
                    ..HomeConfig::default()
                };
                (
                    NetworkSpec::from_params(&params, Vec::new()).to_toml()?,
                    config,
                )
            }
        };
        let created = home.write_files(&spec, &config)?;
        let public_key = keypair.public();
        Ok(InitOutcome {
            home: dir.to_path_buf(),
            peer_id: identity::peer_id(&public_key),
            public_key: Some(public_key),
            created: [vec![home.path(identity::KEY_FILE)], created].concat(),
            already_initialised: false,
        })
    }

    /// Writes the network spec, the config and the database of a home whose key exists.
    pub(crate) fn write_files(
        &self,
        spec: &str,
        config: &HomeConfig,
    ) -> Result<Vec<PathBuf>, NodeError> {
        let network = self.path(NETWORK_FILE);
        write_atomically(&network, spec)?;
        let db = self.path(DB_DIR);
        drop(pictor_storage::Store::open(&db)?);
        // The config is written last: a home with a config is a whole home.
        let config_path = self.path(CONFIG_FILE);
        write_atomically(&config_path, &config.to_toml())?;
        Ok(vec![config_path, network, db])
    }

    /// The node's key; an error when the home has none.
    pub fn keypair(&self) -> Result<Keypair, NodeError> {
        if !self.path(identity::KEY_FILE).exists() {
            return Err(self.not_initialised());
        }
        identity::load_or_create(&self.dir)
    }

    /// The node's public key.
    pub fn public_key(&self) -> Result<PublicKey, NodeError> {
        Ok(self.keypair()?.public())
    }

    fn not_initialised(&self) -> NodeError {
        NodeError::Config(format!(
            "{} is not an initialised Pictor home: run `pictor init --home {}` first",
            self.dir.display(),
            self.dir.display()
        ))
    }

    /// The home's `config.toml`, checked.
    pub fn config(&self) -> Result<HomeConfig, NodeError> {
        let path = self.path(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(self.not_initialised())
            }
            Err(e) => return Err(io_error(&path, e)),
        };
        HomeConfig::from_toml(&text, &path.display().to_string())
    }

    /// The node's configuration: the home's key, `config.toml` and `network.toml` (or
    /// the overrides' spec), with the command line's overrides applied.
    pub fn node_config(&self, overrides: &Overrides) -> Result<NodeConfig, NodeError> {
        if !self.is_initialised() {
            return Err(self.not_initialised());
        }
        let config = self.config()?;
        let keypair = self.keypair()?;
        let spec_path = overrides
            .network
            .clone()
            .unwrap_or_else(|| self.path(NETWORK_FILE));
        let spec = NetworkSpec::load_named(&spec_path)?;
        let params = spec.params().map_err(|e| in_file(&spec_path, e))?;
        let me = identity::peer_id(&keypair.public());
        let mut bootnodes: Vec<Multiaddr> = Vec::new();
        for addr in spec
            .bootnodes
            .iter()
            .chain(&config.bootnodes)
            .chain(&overrides.bootnodes)
        {
            let is_me = addr
                .iter()
                .any(|p| matches!(p, Protocol::P2p(peer) if Some(peer) == me));
            if !is_me && !bootnodes.contains(addr) {
                bootnodes.push(addr.clone());
            }
        }
        let mut node = NodeConfig::new(&self.dir, params);
        node.roles = overrides.role.unwrap_or(config.role).roles();
        node.listen = if overrides.listen.is_empty() {
            config.listen
        } else {
            overrides.listen.clone()
        };
        node.bootnodes = bootnodes;
        node.http = overrides.http.unwrap_or(config.http);
        node.job_retention = config.job_retention;
        node.http_limits = config.http_limits;
        node.swarm.upnp = overrides.upnp || config.upnp;
        node.keypair = Some(keypair);
        Ok(node)
    }
}

/// An error about the spec at `path` that does not name it yet.
fn in_file(path: &Path, e: NodeError) -> NodeError {
    match e {
        NodeError::Config(message) => {
            NodeError::Config(format!("network spec {}: {message}", path.display()))
        }
        other => other,
    }
}
