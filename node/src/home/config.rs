//! A home's `config.toml`: how this one node runs (where it listens, what it does), as
//! opposed to the network spec, which every node of a network shares.

use std::{fmt, net::SocketAddr, str::FromStr, time::Duration};

use libp2p::Multiaddr;
use serde::Deserialize;

use crate::http::HttpLimits;
use crate::spec::{format_duration, parse_duration, TomlText};
use crate::{NodeError, Roles, WorkerConfig, DEFAULT_JOB_RETENTION};

/// The TCP (and UDP, for QUIC) port a node listens on by default.
pub const DEFAULT_PORT: u16 = 7400;
/// Where a node's HTTP port listens by default: loopback only.
pub const DEFAULT_HTTP: &str = "127.0.0.1:7401";
/// The level of the node's own logs by default.
pub const DEFAULT_LOG: &str = "info";

/// What a node does. Every node can submit jobs (the creator's part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Submits jobs and assembles their frames; no checking, no rendering.
    #[default]
    Creator,
    /// Sits on committees, assigns shards, verifies claims.
    Checker,
    /// Renders shards.
    Worker,
    /// Checker and worker.
    All,
    /// A bootnode that relays for nodes behind NAT; no checking, no rendering.
    Relay,
}

impl Role {
    /// The roles of a node that does this; a worker gets a CPU device description and no
    /// capability record yet (the caller measures the machine).
    pub fn roles(self) -> Roles {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let worker = matches!(self, Role::Worker | Role::All).then(|| WorkerConfig {
            device: format!("cpu ({threads} threads)"),
            ..WorkerConfig::default()
        });
        Roles {
            checker: matches!(self, Role::Checker | Role::All),
            worker,
            relay: self == Role::Relay,
            ..Roles::default()
        }
    }

    /// The names of the roles a node plays (`["checker", "worker"]` for `All`).
    pub fn names(roles: &Roles) -> Vec<String> {
        let mut names = Vec::new();
        if roles.checker {
            names.push("checker".to_owned());
        }
        if roles.worker.is_some() {
            names.push("worker".to_owned());
        }
        if roles.relay {
            names.push("relay".to_owned());
        }
        if names.is_empty() {
            names.push("creator".to_owned());
        }
        names
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Creator => "creator",
            Role::Checker => "checker",
            Role::Worker => "worker",
            Role::All => "all",
            Role::Relay => "relay",
        })
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "creator" => Ok(Role::Creator),
            "checker" => Ok(Role::Checker),
            "worker" => Ok(Role::Worker),
            "all" => Ok(Role::All),
            "relay" => Ok(Role::Relay),
            other => Err(format!(
                "unknown role {other:?}: expected checker, worker, creator, all or relay"
            )),
        }
    }
}

/// An HTTP address, or `off` for none.
pub fn parse_http(text: &str) -> Result<Option<SocketAddr>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        format!("{text:?} is not an HTTP address: expected IP:PORT (such as \"127.0.0.1:7401\") or \"off\"")
    })
}

/// A home's `config.toml`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct HomeConfig {
    /// Addresses to listen on for peers.
    pub listen: Vec<Multiaddr>,
    /// Where the HTTP port (the IPFS trustless gateway) listens; `None`: no HTTP port.
    pub http: Option<SocketAddr>,
    /// What the node does.
    pub role: Role,
    /// Peers to dial at start besides the network spec's bootnodes.
    pub bootnodes: Vec<Multiaddr>,
    /// How long finished jobs are kept.
    pub job_retention: Duration,
    /// The log level of the node's own crates, or a whole tracing filter.
    pub log: String,
    /// The HTTP port's limits per client (`[http_limits]`).
    pub http_limits: HttpLimits,
    /// A worker's price, credits per benchmark-normalised render-second (0: free).
    pub price: u64,
    /// Whether the node asks the router for a port mapping over UPnP.
    pub upnp: bool,
}

impl Default for HomeConfig {
    fn default() -> HomeConfig {
        HomeConfig {
            listen: default_listen(),
            http: parse_http(DEFAULT_HTTP).ok().flatten(),
            role: Role::default(),
            bootnodes: Vec::new(),
            job_retention: DEFAULT_JOB_RETENTION,
            log: DEFAULT_LOG.to_owned(),
            http_limits: HttpLimits::default(),
            price: 0,
            upnp: false,
        }
    }
}

fn default_listen() -> Vec<Multiaddr> {
    [
        format!("/ip4/0.0.0.0/tcp/{DEFAULT_PORT}"),
        format!("/ip4/0.0.0.0/udp/{DEFAULT_PORT}/quic-v1"),
    ]
    .iter()
    .filter_map(|a| a.parse().ok())
    .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    listen: Option<Vec<String>>,
    http: Option<String>,
    role: Option<String>,
    bootnodes: Vec<String>,
    job_retention: Option<String>,
    log: Option<String>,
    http_limits: RawHttpLimits,
    price: Option<u64>,
    upnp: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawHttpLimits {
    rate_per_client: Option<u32>,
    burst_per_client: Option<u32>,
    local_rate_per_client: Option<u32>,
    local_burst_per_client: Option<u32>,
    connections_per_client: Option<u32>,
    uploads_per_client: Option<u32>,
}

/// The `[http_limits]` table, each missing key its default; every limit is at least 1.
fn http_limits(doc: &TomlText<'_>, raw: &RawHttpLimits) -> Result<HttpLimits, NodeError> {
    let d = HttpLimits::default();
    let limit = |key: &str, value: Option<u32>, default: u32| match value {
        Some(0) => Err(doc.error(
            &["http_limits", key],
            "must be at least 1 (a limit of 0 would refuse every client)",
        )),
        Some(n) => Ok(n),
        None => Ok(default),
    };
    Ok(HttpLimits {
        rate_per_client: limit("rate_per_client", raw.rate_per_client, d.rate_per_client)?,
        burst_per_client: limit("burst_per_client", raw.burst_per_client, d.burst_per_client)?,
        local_rate_per_client: limit(
            "local_rate_per_client",
            raw.local_rate_per_client,
            d.local_rate_per_client,
        )?,
        local_burst_per_client: limit(
            "local_burst_per_client",
            raw.local_burst_per_client,
            d.local_burst_per_client,
        )?,
        connections_per_client: limit(
            "connections_per_client",
            raw.connections_per_client,
            d.connections_per_client,
        )?,
        uploads_per_client: limit(
            "uploads_per_client",
            raw.uploads_per_client,
            d.uploads_per_client,
        )?,
    })
}

fn multiaddrs(
    doc: &TomlText<'_>,
    key: &str,
    texts: &[String],
) -> Result<Vec<Multiaddr>, NodeError> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.trim().parse::<Multiaddr>().map_err(|e| {
                doc.error(
                    &[key, &i.to_string()],
                    format!("{t:?} is not a multiaddr: {e}"),
                )
            })
        })
        .collect()
}

impl HomeConfig {
    /// Parses `config.toml` text; `origin` names it in errors, which are one line with
    /// the file, line, column and key.
    pub fn from_toml(text: &str, origin: &str) -> Result<HomeConfig, NodeError> {
        let doc = TomlText::new(origin, text);
        let raw: RawConfig = doc.parse()?;
        let d = HomeConfig::default();
        let listen = match &raw.listen {
            None => d.listen,
            Some(texts) => multiaddrs(&doc, "listen", texts)?,
        };
        let http = match &raw.http {
            None => d.http,
            Some(text) => parse_http(text).map_err(|e| doc.error(&["http"], e))?,
        };
        let role = match &raw.role {
            None => d.role,
            Some(text) => text.parse().map_err(|e: String| doc.error(&["role"], e))?,
        };
        let bootnodes = multiaddrs(&doc, "bootnodes", &raw.bootnodes)?;
        let job_retention = match &raw.job_retention {
            None => d.job_retention,
            Some(text) => parse_duration(text).map_err(|e| doc.error(&["job_retention"], e))?,
        };
        let log = match raw.log {
            None => d.log,
            Some(text) if text.trim().is_empty() => {
                return Err(doc.error(
                    &["log"],
                    "must name a level (error, warn, info, debug, trace) or a filter",
                ))
            }
            Some(text) => text,
        };
        let http_limits = http_limits(&doc, &raw.http_limits)?;
        let price = raw.price.unwrap_or(d.price);
        Ok(HomeConfig {
            listen,
            http,
            role,
            bootnodes,
            job_retention,
            log,
            http_limits,
            price,
            upnp: raw.upnp.unwrap_or(d.upnp),
        })
    }

    /// The file, each key with a comment on what it does and its default.
    pub fn to_toml(&self) -> String {
        let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let list = |addrs: &[Multiaddr]| {
            let items: Vec<String> = addrs.iter().map(|a| quote(&a.to_string())).collect();
            format!("[{}]", items.join(", "))
        };
        let d = HomeConfig::default();
        let http = self
            .http
            .map_or_else(|| "off".to_owned(), |a| a.to_string());
        format!(
            r#"# How this Pictor node runs. Every key is optional: a missing key takes the default
# named in its comment. The network the node belongs to is in network.toml; the flags of
# `pictor node` (--role, --listen, --bootnode, --http) override what is here.

# Addresses the node listens on for peers (libp2p multiaddrs; TCP, and UDP with
# /quic-v1). Port 0 picks a free port.
# Default: {default_listen}
listen = {listen}

# Where the node's HTTP port (the IPFS trustless gateway, /ipfs/<cid>) listens, or "off".
# Default: "{default_http}" (this machine only)
http = {http}

# What the node does: "creator" (submits jobs and gets back verified frames), "checker"
# (verifies workers' results on job committees), "worker" (renders shards), "all"
# (checker and worker) or "relay" (a bootnode that relays for nodes behind NAT).
# Default: "creator"
role = {role}

# Peers to dial at start besides the bootnodes of the network spec (multiaddrs ending in
# /p2p/<peer id>).
# Default: []
bootnodes = {bootnodes}

# How long a finished job (complete, failed or cancelled) is kept, in memory and on disk,
# before it is pruned: a whole number and a unit (ms, s, m, h, d).
# Default: "{default_retention}"
job_retention = {retention}

# A worker's price, in credits per benchmark-normalised render-second (a second of a
# machine that renders 1 Msample/s: a machine twice as fast earns the same for the same
# shard). A job whose price cap is lower gives this worker none of its shards.
# Default: 0 (free)
price = {price}

# Whether the node asks the router for a port mapping over UPnP (it multicasts on the
# local network to find the router), so that peers can dial it behind a home NAT. Without
# it a node behind NAT is reached through a relay and hole punches (`pictor doctor`).
# Default: false
upnp = {upnp}

# The level of the node's own logs: "error", "warn", "info", "debug" or "trace" (other
# libraries log warnings and errors), or a whole tracing filter such as
# "info,libp2p_gossipsub=debug". RUST_LOG, --log, -v and -q override it.
# Default: "{default_log}"
log = {log}

# Limits per client of the HTTP port. A client is one IP address (an IPv6 client: its
# /64); past a limit a request is answered 429 with Retry-After. Loopback clients (this
# machine: scripts, `pictor bench --rpc`) have a rate of their own. Behind a reverse proxy
# every client is the proxy: limit per client there.
[http_limits]
# Requests per second a client may make, sustained, and at once after a quiet spell.
# Default: {d_rate} and {d_burst}
rate_per_client = {rate}
burst_per_client = {burst}
# The same for loopback clients (127.0.0.0/8, ::1).
# Default: {d_local_rate} and {d_local_burst}
local_rate_per_client = {local_rate}
local_burst_per_client = {local_burst}
# Connections a client may hold open at once (WebSockets included).
# Default: {d_connections}
connections_per_client = {connections}
# Uploads (POST /upload) a client may have in flight at once; the node takes at most
# {max_uploads} at once from all clients, as each may hold up to {max_upload_mib} MiB in memory.
# Default: {d_uploads}
uploads_per_client = {uploads}
"#,
            default_listen = list(&d.listen),
            listen = list(&self.listen),
            default_http = DEFAULT_HTTP,
            http = quote(&http),
            role = quote(&self.role.to_string()),
            bootnodes = list(&self.bootnodes),
            default_retention = format_duration(d.job_retention),
            retention = quote(&format_duration(self.job_retention)),
            default_log = DEFAULT_LOG,
            log = quote(&self.log),
            price = self.price,
            upnp = self.upnp,
            d_rate = d.http_limits.rate_per_client,
            d_burst = d.http_limits.burst_per_client,
            d_local_rate = d.http_limits.local_rate_per_client,
            d_local_burst = d.http_limits.local_burst_per_client,
            d_connections = d.http_limits.connections_per_client,
            d_uploads = d.http_limits.uploads_per_client,
            rate = self.http_limits.rate_per_client,
            burst = self.http_limits.burst_per_client,
            local_rate = self.http_limits.local_rate_per_client,
            local_burst = self.http_limits.local_burst_per_client,
            connections = self.http_limits.connections_per_client,
            uploads = self.http_limits.uploads_per_client,
            max_uploads = crate::http::MAX_UPLOADS,
            max_upload_mib = crate::http::MAX_UPLOAD / (1024 * 1024),
        )
    }
}
