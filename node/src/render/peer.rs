//! The creator's side of a network for `pictor render`: a local network made for the one
//! job, or a running network joined as a creator peer; either way, a node handle that
//! submits the job and hears its progress.

use std::{path::Path, time::Duration};

use libp2p::multiaddr::Protocol;

use super::RenderRequest;
use crate::{
    devnet::{Devnet, DevnetConfig},
    Client, NetworkParams, NetworkSpec, NodeConfig, NodeError, NodeEvent,
};

/// The creator's side of a network: the node that submits the job and hears its progress,
/// whichever way the network was found.
pub(super) struct JobPeer {
    pub(super) client: Client,
    pub(super) key: pictor_protocol::PublicKey,
    pub(super) events: tokio::sync::mpsc::Receiver<NodeEvent>,
    pub(super) params: NetworkParams,
    /// Workers known in advance (a local network's); others join the tally as they work.
    pub(super) workers: Vec<String>,
    /// Checkers known in advance (a local network's), with how they behave.
    pub(super) checkers: Vec<(String, &'static str)>,
    /// What to stop when the job is done.
    local: Option<Devnet>,
    _home: Option<tempfile::TempDir>,
}

impl JobPeer {
    /// A local network made for the one job: an in-process network of nodes.
    pub(super) async fn local(req: &RenderRequest) -> Result<JobPeer, NodeError> {
        let root = temp_home("pictor-devnet-")?;
        let devnet = Devnet::start(&DevnetConfig {
            checkers: req.checkers,
            workers: req.workers,
            faulty_workers: req.faulty_workers,
            lazy_checkers: req.lazy_checkers,
            equivocating_checkers: req.equivocating_checkers,
            root: root.path().to_path_buf(),
            form_timeout: Duration::from_secs(60),
            blender_device: req.blender_device,
            requirements: req.requirements.clone(),
            job_retention: crate::DEFAULT_JOB_RETENTION,
            blender: req.engine.is_blender(),
            durable: false,
            committee: None,
            canary_rate_ppm: req.canary_rate_ppm,
            ban_cooldown: None,
            worker_prices: req.worker_prices.clone(),
            credits: false,
        })
        .await?;
        let mut devnet = devnet;
        let events = std::mem::replace(&mut devnet.events, tokio::sync::mpsc::channel(1).1);
        let workers = devnet
            .nodes
            .iter()
            .filter(|n| n.role.starts_with("worker"))
            .map(|n| n.key.short())
            .collect();
        let checkers = devnet
            .nodes
            .iter()
            .filter(|n| n.role.starts_with("checker"))
            .map(|n| {
                let behaviour = match n.role {
                    "checker (lazy)" => "lazy",
                    "checker (equivocating)" => "equivocating",
                    _ => "honest",
                };
                (n.key.short(), behaviour)
            })
            .collect();
        Ok(JobPeer {
            client: devnet.creator.clone(),
            checkers,
            key: devnet.creator_key.public(),
            events,
            params: devnet.params.clone(),
            workers,
            local: Some(devnet),
            _home: Some(root),
        })
    }

    /// A running network, joined as a creator peer of its own from its spec file.
    pub(super) async fn join(spec_path: &Path, home: Option<&Path>) -> Result<JobPeer, NodeError> {
        let spec = NetworkSpec::load_named(spec_path)?;
        let params = spec.params()?;
        if spec.bootnodes.is_empty() {
            return Err(NodeError::Config(format!(
                "{} names no bootnode to join the network through",
                spec_path.display()
            )));
        }
        let (dir, tmp) = match home {
            Some(home) => (home.to_path_buf(), None),
            None => {
                let tmp = temp_home("pictor-creator-")?;
                (tmp.path().to_path_buf(), Some(tmp))
            }
        };
        let keypair = crate::identity::load_or_create(&dir)?;
        // On a network of this machine (a devnet) stay on loopback.
        let loopback = spec.bootnodes.iter().all(|a| {
            a.iter().any(|p| match p {
                Protocol::Ip4(ip) => ip.is_loopback(),
                Protocol::Ip6(ip) => ip.is_loopback(),
                _ => false,
            })
        });
        let listen = if loopback {
            "/ip4/127.0.0.1/tcp/0"
        } else {
            "/ip4/0.0.0.0/tcp/0"
        };
        let mut config = NodeConfig::new(dir, params.clone());
        config.keypair = Some(keypair.clone());
        config.events = true;
        config.bootnodes = spec.bootnodes.clone();
        config.listen = vec![listen
            .parse()
            .map_err(|e| NodeError::Config(format!("listen address: {e}")))?];
        config.http = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        let (client, events) = crate::spawn(config)?;
        let events = events.ok_or_else(|| NodeError::Config("no event stream".into()))?;
        let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
        while client.status().await?.gossip_peers == 0 {
            if tokio::time::Instant::now() > deadline {
                let _ = client.shutdown().await;
                return Err(NodeError::Config(format!(
                    "cannot reach the network of {}: no bootnode answered within {} s ({})",
                    spec_path.display(),
                    JOIN_TIMEOUT.as_secs(),
                    spec.bootnodes
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(JobPeer {
            client,
            key: keypair.public(),
            events,
            params,
            workers: Vec::new(),
            checkers: Vec::new(),
            local: None,
            _home: tmp,
        })
    }

    pub(super) async fn shutdown(self) {
        match self.local {
            Some(devnet) => devnet.shutdown().await,
            None => {
                let _ = self.client.shutdown().await;
            }
        }
    }
}

/// How long joining a running network may take.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

fn temp_home(prefix: &str) -> Result<tempfile::TempDir, NodeError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| NodeError::Config(format!("cannot make a temporary home: {e}")))
}
