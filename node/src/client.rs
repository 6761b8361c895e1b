//! The handle through which everything outside the event loop talks to a node.

use cid::Cid;
use libp2p::{Multiaddr, PeerId};
use pictor_ipfs::BitswapStats;
use pictor_protocol::{JobId, JobSpec, PublicKey};
use tokio::sync::{mpsc, oneshot};

use crate::{
    roles::creator::JobProgress,
    view::{CheckerStatus, CheckerView, WorkerStatus, WorkerView},
    NodeError, NodeEvent,
};

/// A request to the event loop, each with its reply channel.
#[derive(Debug)]
pub(crate) enum Command {
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Dial(Multiaddr, oneshot::Sender<Result<(), NodeError>>),
    Submit {
        spec: Box<JobSpec>,
        scene: Vec<u8>,
        budget: u64,
        reply: oneshot::Sender<Result<JobId, NodeError>>,
    },
    Status(oneshot::Sender<NodeStatus>),
    Job(JobId, oneshot::Sender<Option<JobProgress>>),
    Jobs(oneshot::Sender<Vec<JobProgress>>),
    Cancel(JobId, oneshot::Sender<Result<(), NodeError>>),
    PeerScore(PeerId, oneshot::Sender<Option<f64>>),
    AddFile {
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<Cid, NodeError>>,
    },
    GetFile {
        root: Cid,
        peers: Vec<PeerId>,
        limit: u64,
        reply: oneshot::Sender<Result<Vec<u8>, NodeError>>,
    },
    FindProviders {
        cid: Cid,
        reply: oneshot::Sender<Result<Vec<PeerId>, NodeError>>,
    },
    Network(oneshot::Sender<NetworkSnapshot>),
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Facts(oneshot::Sender<Facts>),
    Reach(oneshot::Sender<crate::network::reach::ReachReport>),
    Connect {
        peer: PeerId,
        timeout_ms: u64,
        reply: oneshot::Sender<Result<crate::ConnectReport, NodeError>>,
    },
    Credits(crate::wallet::CreditsCommand),
    Shutdown(oneshot::Sender<()>),
}

/// The workers and checkers this node has heard of, with their statuses.
#[derive(Debug, Clone, Default)]
pub struct NetworkSnapshot {
    pub workers: Vec<(WorkerStatus, WorkerView)>,
    pub checkers: Vec<(CheckerStatus, CheckerView)>,
}

/// A peer with an open connection.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PeerInfo {
    pub peer_id: String,
    /// The remote addresses of its connections.
    pub addresses: Vec<String>,
    /// `checker` (in the network spec), `worker` (seen working), or `peer`.
    pub role: &'static str,
    /// Whether it is on this network's gossip.
    pub gossip: bool,
    /// The gossipsub score this node gives it.
    pub score: Option<f64>,
}

/// What the diagnosis ("why am I not getting work") is made from.
#[derive(Debug, Clone)]
pub struct Facts {
    pub worker: bool,
    pub checker: bool,
    pub connected_peers: usize,
    /// Genesis checkers with an open connection, and all of them.
    pub checkers_connected: usize,
    pub checkers_total: usize,
    /// This worker as the network sees it (`None`: never seen).
    pub me_as_worker: Option<WorkerView>,
    /// Its capability against the network's requirements: `Err(why)` when not met.
    pub requirements: Result<(), String>,
    /// The engines this worker runs.
    pub engines: Vec<String>,
    /// Jobs known that have not finished.
    pub open_jobs: usize,
    /// The addresses it listens on.
    pub listen: Vec<Multiaddr>,
    /// Whether a peer reported an address of this node that is not loopback or private.
    pub public_address: bool,
    /// Connections open now that peers opened (they dialled this node).
    pub inbound_connections: usize,
    /// AutoNAT's verdict, with relays and hole punches (`pictor doctor`).
    pub reach: crate::network::reach::ReachReport,
    /// For a worker: the latest times from one of its claims to the claim's quorum
    /// certificate, oldest first.
    pub finality: Vec<std::time::Duration>,
}

/// A snapshot of a node's state.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    /// Its libp2p peer id.
    pub peer_id: PeerId,
    /// Its protocol key.
    pub key: PublicKey,
    /// Peers with an open connection.
    pub connected_peers: usize,
    /// Peers of this network's gossip (subscribed to its jobs topic).
    pub gossip_peers: usize,
    /// For a checker: workers that may receive shards now.
    pub eligible_workers: Option<usize>,
    /// Jobs the node knows.
    pub jobs: usize,
    /// Where its IPFS trustless gateway answers, if it has an HTTP port.
    pub http: Option<std::net::SocketAddr>,
    /// Bitswap counters.
    pub bitswap: BitswapStats,
}

/// A cloneable handle to a running node.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) events: tokio::sync::broadcast::Sender<NodeEvent>,
}

/// A handle that does not keep the node running (the node's own HTTP port holds one).
#[derive(Debug, Clone)]
pub(crate) struct WeakClient {
    commands: mpsc::WeakSender<Command>,
    events: tokio::sync::broadcast::Sender<NodeEvent>,
}

impl WeakClient {
    /// A client, while the node runs.
    pub(crate) fn upgrade(&self) -> Option<Client> {
        Some(Client {
            commands: self.commands.upgrade()?,
            events: self.events.clone(),
        })
    }
}

impl Client {
    /// A handle that does not keep the node running.
    pub(crate) fn downgrade(&self) -> WeakClient {
        WeakClient {
            commands: self.commands.downgrade(),
            events: self.events.clone(),
        }
    }

    pub(crate) async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NodeError::Shutdown)?;
        rx.await.map_err(|_| NodeError::Shutdown)
    }

    /// The addresses the node listens on.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NodeError> {
        self.ask(Command::ListenAddrs).await
    }

    /// Dials a peer.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NodeError> {
        self.ask(|tx| Command::Dial(addr, tx)).await?
    }

    /// Submits a job whose scene bundle is `scene`; the node checks that the scene loads,
    /// then signs and publishes it.
    pub async fn submit(&self, spec: JobSpec, scene: Vec<u8>) -> Result<JobId, NodeError> {
        self.submit_with_budget(spec, scene, 0).await
    }

    /// Submits a job as [`Client::submit`] does, with a budget: `budget` credits move from
    /// this node's account into the job's escrow (a certified transfer) before the job is
    /// published; its committee pays each accepted shard from it and refunds the rest when
    /// the job is complete. 0: no escrow (only free workers are paid nothing).
    pub async fn submit_with_budget(
        &self,
        spec: JobSpec,
        scene: Vec<u8>,
        budget: u64,
    ) -> Result<JobId, NodeError> {
        self.ask(|reply| Command::Submit {
            spec: Box::new(spec),
            scene,
            budget,
            reply,
        })
        .await?
    }

    /// The progress of a job this node submitted (`None`: not one of its jobs, or pruned).
    pub async fn job(&self, job: JobId) -> Result<Option<JobProgress>, NodeError> {
        self.ask(|tx| Command::Job(job, tx)).await
    }

    /// Every job this node submitted and still keeps, oldest first.
    pub async fn jobs(&self) -> Result<Vec<JobProgress>, NodeError> {
        self.ask(Command::Jobs).await
    }

    /// Cancels a job this node submitted: it stops assembling it and marks it cancelled.
    pub async fn cancel(&self, job: JobId) -> Result<(), NodeError> {
        self.ask(|tx| Command::Cancel(job, tx)).await?
    }

    /// The node's state.
    pub async fn status(&self) -> Result<NodeStatus, NodeError> {
        self.ask(Command::Status).await
    }

    /// The gossipsub score this node gives `peer` (negative once it misbehaved).
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, NodeError> {
        self.ask(|tx| Command::PeerScore(peer, tx)).await
    }

    /// Adds a file to the node's block store as UnixFS (one raw block if it fits a chunk,
    /// else chunked dag-pb), announces its root in Kademlia and returns the root's CID.
    /// Any IPFS peer can then fetch it over Bitswap, or over the node's gateway.
    pub async fn add_file(&self, bytes: Vec<u8>) -> Result<Cid, NodeError> {
        self.ask(|reply| Command::AddFile { bytes, reply }).await?
    }

    /// Fetches the UnixFS file `root` from `peers` through Bitswap (blocks are checked
    /// against their CIDs and stored); at most `limit` bytes.
    pub async fn get_file(
        &self,
        root: Cid,
        peers: Vec<PeerId>,
        limit: u64,
    ) -> Result<Vec<u8>, NodeError> {
        self.ask(|reply| Command::GetFile {
            root,
            peers,
            limit,
            reply,
        })
        .await?
    }

    /// Asks Kademlia which peers announced that they hold `cid` (this node included when
    /// it does).
    pub async fn find_providers(&self, cid: Cid) -> Result<Vec<PeerId>, NodeError> {
        self.ask(|reply| Command::FindProviders { cid, reply })
            .await?
    }

    /// The progress events of this node's jobs from now on (a receiver that falls more
    /// than a few thousand events behind misses some, and is told so).
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// The workers and checkers this node has heard of.
    pub async fn network(&self) -> Result<NetworkSnapshot, NodeError> {
        self.ask(Command::Network).await
    }

    /// The peers with an open connection.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NodeError> {
        self.ask(Command::Peers).await
    }

    /// What the diagnosis is made from.
    pub async fn facts(&self) -> Result<Facts, NodeError> {
        self.ask(Command::Facts).await
    }

    /// How this node can be reached (`pictor doctor`).
    pub async fn reach(&self) -> Result<crate::network::reach::ReachReport, NodeError> {
        self.ask(Command::Reach).await
    }

    /// Dials `peer` and says how it was reached: directly, through a relay and a hole
    /// punch, or through a relay only (waits up to `timeout_ms`, at most a minute).
    pub async fn connect(
        &self,
        peer: PeerId,
        timeout_ms: u64,
    ) -> Result<crate::ConnectReport, NodeError> {
        self.ask(|reply| Command::Connect {
            peer,
            timeout_ms,
            reply,
        })
        .await?
    }

    /// Stops the node, flushing its database.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        self.ask(Command::Shutdown).await
    }
}

/// A client whose commands nobody answers (for tests of what sits on top of it).
#[cfg(test)]
pub(crate) fn detached() -> (Client, mpsc::Receiver<Command>) {
    let (commands, rx) = mpsc::channel(1);
    let (events, _) = tokio::sync::broadcast::channel(16);
    (Client { commands, events }, rx)
}
