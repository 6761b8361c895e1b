//! A running node's runtime file (`HOME/node.json`) and the run of a node on its home.

use std::{future::Future, time::Duration};

use libp2p::multiaddr::Protocol;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::{io_error, write_atomically, Home, Role, RUNTIME_FILE};
use crate::{spawn, Client, NodeConfig, NodeError};

/// How long a node may take to listen on its addresses.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the runtime file is rewritten.
const REFRESH: Duration = Duration::from_secs(1);

/// What a running node tells other programs, in `HOME/node.json`; rewritten every second
/// while it runs and removed when it stops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// The node's process id.
    pub pid: u32,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Its ed25519 public key (hex).
    pub public_key: String,
    /// The roles it plays (`checker`, `worker`, `creator`).
    pub roles: Vec<String>,
    /// The addresses it listens on, each ending in `/p2p/<peer id>`.
    pub listen: Vec<String>,
    /// Where its HTTP port answers, if it has one.
    pub http: Option<String>,
    /// Peers with an open connection.
    pub connected_peers: usize,
    /// Peers subscribed to every Pictor topic.
    pub gossip_peers: usize,
    /// When the file was written (milliseconds since the Unix epoch).
    pub updated_ms: u64,
    /// The jobs this node submitted, newest last (at most [`RUNTIME_JOBS`]).
    #[serde(default)]
    pub jobs: Vec<RuntimeJob>,
}

/// The most jobs listed in the runtime file.
const RUNTIME_JOBS: usize = 100;

/// One of this node's jobs, as the runtime file lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeJob {
    /// The job id (hex).
    pub id: String,
    /// `submitted`, `running`, `complete`, `failed` or `cancelled`.
    pub state: String,
    /// Shards verified of all.
    pub verified: u64,
    pub shards: u64,
    /// The stored frames' CIDs, by frame number.
    pub frames: std::collections::BTreeMap<u32, String>,
}

async fn runtime_jobs(client: &Client) -> Result<Vec<RuntimeJob>, NodeError> {
    let jobs = client.jobs().await?;
    let skip = jobs.len().saturating_sub(RUNTIME_JOBS);
    Ok(jobs
        .into_iter()
        .skip(skip)
        .map(|p| RuntimeJob {
            id: p.id.to_string(),
            state: p.state.to_string(),
            verified: p.verified,
            shards: p.shards,
            frames: p.frame_cids,
        })
        .collect())
}

impl Home {
    /// The runtime file of the node running on this home, if there is one (it may be
    /// left over from a node that was killed: check its pid).
    pub fn runtime(&self) -> Option<RuntimeInfo> {
        let text = std::fs::read_to_string(self.path(RUNTIME_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Removes the runtime file (a node that was killed leaves it behind).
    pub fn remove_runtime(&self) -> Result<(), NodeError> {
        let path = self.path(RUNTIME_FILE);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(&path, e)),
            _ => Ok(()),
        }
    }

    fn write_runtime(&self, info: &RuntimeInfo) -> Result<(), NodeError> {
        let text = serde_json::to_string_pretty(info)
            .map_err(|e| NodeError::Config(format!("runtime file: {e}")))?;
        write_atomically(&self.path(RUNTIME_FILE), &text)
    }

    /// Runs a node with `config` on this home until `stop` completes, then shuts it down
    /// (its database flushed and released) and removes the runtime file. The runtime file
    /// is written once the node listens, and rewritten every second with its peers.
    pub async fn run(
        &self,
        config: NodeConfig,
        stop: impl Future<Output = ()>,
    ) -> Result<(), NodeError> {
        let roles = Role::names(&config.roles);
        let (client, _events) = spawn(config)?;
        let outcome = self.serve(&client, roles, stop).await;
        if let Err(e) = client.shutdown().await {
            warn!(error = %e, "node shutdown");
        }
        self.remove_runtime()?;
        if outcome.is_ok() {
            info!("node stopped");
        }
        outcome
    }

    async fn serve(
        &self,
        client: &Client,
        roles: Vec<String>,
        stop: impl Future<Output = ()>,
    ) -> Result<(), NodeError> {
        let deadline = tokio::time::Instant::now() + LISTEN_TIMEOUT;
        let addrs = loop {
            let addrs = client.listen_addrs().await?;
            if !addrs.is_empty() {
                break addrs;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(NodeError::Config(format!(
                    "the node listens on no address after {} s",
                    LISTEN_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let status = client.status().await?;
        let listen: Vec<String> = addrs
            .into_iter()
            .map(|a| a.with(Protocol::P2p(status.peer_id)).to_string())
            .collect();
        let mut runtime = RuntimeInfo {
            pid: std::process::id(),
            peer_id: status.peer_id.to_string(),
            public_key: status.key.to_string(),
            roles,
            listen,
            http: status.http.map(|a| a.to_string()),
            connected_peers: status.connected_peers,
            gossip_peers: status.gossip_peers,
            updated_ms: crate::now_ms(),
            jobs: runtime_jobs(client).await?,
        };
        self.write_runtime(&runtime)?;
        info!(
            peer_id = %runtime.peer_id,
            public_key = %runtime.public_key,
            roles = %runtime.roles.join(","),
            listen = %runtime.listen.join(" "),
            http = runtime.http.as_deref().unwrap_or("off"),
            home = %self.dir().display(),
            "node started"
        );
        tokio::pin!(stop);
        let mut refresh = tokio::time::interval(REFRESH);
        loop {
            tokio::select! {
                () = &mut stop => return Ok(()),
                _ = refresh.tick() => {
                    let status = client.status().await?;
                    if (status.connected_peers, status.gossip_peers)
                        != (runtime.connected_peers, runtime.gossip_peers)
                    {
                        info!(
                            connected = status.connected_peers,
                            gossip = status.gossip_peers,
                            "peers"
                        );
                    }
                    runtime.connected_peers = status.connected_peers;
                    runtime.gossip_peers = status.gossip_peers;
                    runtime.updated_ms = crate::now_ms();
                    runtime.jobs = runtime_jobs(client).await?;
                    self.write_runtime(&runtime)?;
                }
            }
        }
    }
}
