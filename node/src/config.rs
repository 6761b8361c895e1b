//! A node's configuration: its network's parameters and its roles.

use std::{path::PathBuf, time::Duration};

use libp2p::Multiaddr;
use pictor_protocol::{Keypair, PublicKey};

use crate::roles::worker::Tamper;

/// The parameters every node of one network shares (from its network spec).
#[derive(Debug, Clone)]
pub struct NetworkParams {
    /// The network id: the domain of every signature.
    pub id: String,
    /// The active checkers.
    pub checkers: Vec<PublicKey>,
    /// Checkers on each job's committee.
    pub committee_size: usize,
    /// Shards a worker may hold unclaimed at once.
    pub max_outstanding: usize,
    /// A shard assigned this long without a claim is assigned elsewhere.
    pub shard_timeout: Duration,
    /// A claim not certified within this time is given up.
    pub claim_timeout: Duration,
    /// How often workers announce themselves.
    pub heartbeat_interval: Duration,
    /// A leader silent this long while shards wait is replaced.
    pub leader_timeout: Duration,
    /// Gossip older than this is dropped as stale.
    pub max_message_age: Duration,
    /// What a worker must bring (the network spec's `[requirements]`); empty: anything.
    pub requirements: pictor_gpu::HardwareRequirements,
    /// The gossipsub heartbeat.
    pub gossip_heartbeat: Duration,
    /// A worker's first ban lasts this long; each further offence doubles it.
    pub ban_cooldown: Duration,
    /// Shard attempts a worker turns into canaries, in parts per million (see
    /// `pictor_protocol::canary`); 0: none.
    pub canary_rate_ppm: u32,
    /// Length of an epoch: the checker set changes (admitted checkers join) only at epoch
    /// boundaries, counted from the Unix epoch.
    pub epoch: Duration,
    /// The network's credits (faucet, fee), where it has them (`[credits]` in its spec).
    pub credits: Option<crate::spec::CreditsSpec>,
}

impl NetworkParams {
    /// Defaults for a network of `checkers` named `id`.
    pub fn new(id: &str, checkers: Vec<PublicKey>) -> NetworkParams {
        NetworkParams {
            id: id.to_owned(),
            checkers,
            committee_size: 4,
            max_outstanding: 2,
            shard_timeout: Duration::from_secs(300),
            claim_timeout: Duration::from_secs(120),
            heartbeat_interval: Duration::from_secs(5),
            leader_timeout: Duration::from_secs(30),
            max_message_age: Duration::from_secs(600),
            requirements: pictor_gpu::HardwareRequirements::default(),
            gossip_heartbeat: Duration::from_millis(500),
            ban_cooldown: Duration::from_secs(600),
            // Off unless the network spec asks: canaries cost their share of rendering.
            canary_rate_ppm: 0,
            epoch: Duration::from_secs(600),
            credits: None,
        }
    }

    /// The parameters of a local network (`devnet`) of `checkers`: small committees
    /// (at most four) and short timers, so that a network on one machine forms and
    /// recovers in seconds.
    pub fn devnet(checkers: Vec<PublicKey>) -> NetworkParams {
        let mut params = NetworkParams::new("devnet", checkers);
        params.committee_size = params.checkers.len().clamp(1, 4);
        params.heartbeat_interval = Duration::from_secs(2);
        params.gossip_heartbeat = Duration::from_millis(200);
        params.shard_timeout = Duration::from_secs(120);
        params.claim_timeout = Duration::from_secs(60);
        params.leader_timeout = Duration::from_secs(20);
        params.ban_cooldown = Duration::from_secs(60);
        params.epoch = Duration::from_secs(5);
        params
    }
}

/// What a worker node brings.
#[derive(Debug, Clone, Default)]
pub struct WorkerConfig {
    /// A description of the device it renders on.
    pub device: String,
    /// Deliberately wrong outputs, for demonstrations and tests of verification.
    pub tamper: Option<Tamper>,
    /// What the worker measured at start ([`crate::LocalCapability::probe`]); it is
    /// checked against the network's requirements and gossiped as a signed record.
    /// `None`: no record (only networks without requirements accept such a worker).
    pub capability: Option<crate::LocalCapability>,
    /// The device Blender renders on (CPU when `None`).
    pub blender_device: Option<pictor_gpu::BlenderDevice>,
}

/// The roles a node plays.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    /// Verify claims, sit on committees, assign shards.
    pub checker: bool,
    /// How the checker behaves (honest but for demonstrations of the defences).
    pub checker_behaviour: crate::roles::checker::Behaviour,
    /// Render shards.
    pub worker: Option<WorkerConfig>,
    /// What a checker outside the network's genesis set states when it applies to join
    /// (its probe; a worker's record serves when this is `None`).
    pub checker_capability: Option<crate::LocalCapability>,
    /// Serve as a relay (circuit relay v2) for nodes behind NAT: a bootnode's part.
    pub relay: bool,
}

/// Everything needed to start a node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's home: its database and key file.
    pub home: PathBuf,
    /// Its network.
    pub network: NetworkParams,
    /// Its roles.
    pub roles: Roles,
    /// Addresses to listen on (port 0 picks a free port).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start.
    pub bootnodes: Vec<Multiaddr>,
    /// The node's key; read from (or created in) `home` when `None`.
    pub keypair: Option<Keypair>,
    /// Whether the node reports the progress of its own jobs as [`crate::NodeEvent`]s.
    pub events: bool,
    /// Where the node's HTTP port (the IPFS trustless gateway) listens; `None`: no HTTP.
    pub http: Option<std::net::SocketAddr>,
    /// The HTTP port's limits per client (connections, rate, uploads).
    pub http_limits: crate::http::HttpLimits,
    /// Blender processes shared with the other nodes of this program (a local network
    /// shares one pool, so its nodes start no more Blender processes than the machine has
    /// cores); `None`: the node keeps its own pool, one process per core.
    pub blender_pool: Option<std::sync::Arc<pictor_gpu::BlenderPool>>,
    /// How long a finished job (complete, failed or cancelled) is kept, in memory and on
    /// disk, before it is pruned.
    pub job_retention: Duration,
    /// Whether the database syncs what it stores to disk before the node acts on it
    /// (`true`, the default: nothing accepted is lost across a crash). A node in a
    /// temporary home removed when its program ends (an in-process network made for one
    /// command) has nothing to recover and skips the syncs.
    pub durable: bool,
    /// NAT traversal and UPnP (a relay server follows [`Roles::relay`]).
    pub swarm: crate::network::SwarmOptions,
}

/// How long finished jobs are kept by default: a week.
pub const DEFAULT_JOB_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

impl NodeConfig {
    /// A node in `home` on `network`, with no role but creator, listening on no address,
    /// its key read from (or created in) `home`, no HTTP port and no progress events.
    pub fn new(home: impl Into<PathBuf>, network: NetworkParams) -> NodeConfig {
        NodeConfig {
            home: home.into(),
            network,
            roles: Roles::default(),
            listen: Vec::new(),
            bootnodes: Vec::new(),
            keypair: None,
            durable: true,
            events: false,
            http: None,
            http_limits: crate::http::HttpLimits::default(),
            blender_pool: None,
            job_retention: DEFAULT_JOB_RETENTION,
            swarm: crate::network::SwarmOptions {
                nat_traversal: true,
                ..Default::default()
            },
        }
    }
}
