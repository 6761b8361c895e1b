//! The node's [`Behaviour`] and how its swarm is built.

use std::time::Duration;

use libp2p::{
    autonat,
    connection_limits::{self, ConnectionLimits},
    dcutr, gossipsub, identify, identity, kad, ping, relay, request_response,
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour},
    upnp, StreamProtocol, Swarm, SwarmBuilder,
};
use pictor_protocol::{MessageKind, MAX_GOSSIP_SIZE};

use super::codec::{Codec, PROTOCOL};
use crate::NodeError;

/// Every protocol a Pictor node speaks on its swarm.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Bounds on connections (every connected peer holds state in each protocol).
    pub limits: connection_limits::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub gossipsub: gossipsub::Behaviour,
    pub fetch: request_response::Behaviour<Codec>,
    /// Kademlia on the IPFS protocol id: peers find each other, and who holds which
    /// block (provider records).
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    /// Raw streams, for Bitswap.
    pub stream: libp2p_stream::Behaviour,
    /// Reservations on relays and connections through them (circuit relay v2).
    pub relay_client: relay::client::Behaviour,
    /// Serving as a relay (`--role relay`).
    pub relay: Toggle<relay::Behaviour>,
    /// Upgrading a relayed connection to a direct one by a hole punch.
    pub dcutr: Toggle<dcutr::Behaviour>,
    /// Asking peers to dial this node's address candidates back (AutoNAT v2)...
    pub autonat: Toggle<autonat::v2::client::Behaviour>,
    /// ...and dialling theirs back.
    pub autonat_server: Toggle<autonat::v2::server::Behaviour>,
    /// Mapping the listen port on a UPnP gateway, where the operator allows it.
    pub upnp: Toggle<upnp::tokio::Behaviour>,
}

/// How a node's swarm is made beyond its network: the parts an operator turns on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwarmOptions {
    /// Learn whether this node is reachable (AutoNAT v2, client and server) and punch
    /// holes through NATs (DCUtR). Off for a network inside one process on loopback.
    pub nat_traversal: bool,
    /// Serve as a relay for nodes behind NAT (`pictor node --role relay`).
    pub relay_server: bool,
    /// Ask the router for a port mapping over UPnP (it sends SSDP multicast on the LAN).
    pub upnp: bool,
}

/// What travels over a relay: control traffic (gossip, claims, requests), not frames.
/// Bulk bytes go direct once a hole punch succeeds.
const RELAY_CIRCUIT_BYTES: u64 = 4 << 20;
/// How long one relayed circuit lasts before it is renewed.
const RELAY_CIRCUIT_DURATION: Duration = Duration::from_secs(10 * 60);
/// Reservations a relay holds at once.
const RELAY_RESERVATIONS: usize = 512;
/// Circuits a relay carries at once.
const RELAY_CIRCUITS: usize = 1_024;

fn relay_config() -> relay::Config {
    relay::Config {
        max_reservations: RELAY_RESERVATIONS,
        max_circuits: RELAY_CIRCUITS,
        max_circuits_per_peer: 16,
        max_circuit_duration: RELAY_CIRCUIT_DURATION,
        max_circuit_bytes: RELAY_CIRCUIT_BYTES,
        ..relay::Config::default()
    }
}

/// The Kademlia protocol of the Pictor DHT: a name of its own, so that a node's routing
/// table holds Pictor nodes only, not every peer of the public IPFS DHT it may meet.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/pictor/kad/1.0.0");

/// The most provider records a node keeps for the blocks it holds itself.
const MAX_PROVIDED_KEYS: usize = 65_536;

/// The most connections a node holds at once, in and out (each peer holds state in every
/// protocol: gossip queues, Kademlia, the loop's table of peer addresses).
pub const MAX_CONNECTIONS: u32 = 2_048;
/// The most connections one peer holds to a node (TCP and QUIC, a dial each way, and
/// room for a reconnection).
pub const MAX_CONNECTIONS_PER_PEER: u32 = 8;
/// The most inbound connections still in their handshake at once.
pub const MAX_PENDING_INCOMING: u32 = 256;

impl std::fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Behaviour").finish_non_exhaustive()
    }
}

/// The gossip topics of one network: one per kind of message.
#[derive(Debug, Clone)]
pub struct Topics {
    network: String,
}

impl Topics {
    /// The topics of network `network`.
    pub fn new(network: &str) -> Topics {
        Topics {
            network: network.to_owned(),
        }
    }

    /// The topic that carries messages of `kind`.
    pub fn topic(&self, kind: MessageKind) -> gossipsub::IdentTopic {
        let name = match kind {
            MessageKind::Job => "jobs",
            MessageKind::Assignment => "shards",
            MessageKind::Claim => "claims",
            MessageKind::Attestation => "attestations",
            MessageKind::Certificate => "certificates",
            MessageKind::Heartbeat => "heartbeats",
            MessageKind::Capability => "capabilities",
            MessageKind::DecisionVote => "decision-votes",
            MessageKind::DecisionCertificate => "decisions",
            MessageKind::Evidence => "evidence",
            MessageKind::Application => "applications",
            MessageKind::Credits => "credits",
            _ => "other",
        };
        gossipsub::IdentTopic::new(format!("/pictor/{}/{name}/1", self.network))
    }

    /// Every topic of the network.
    pub fn all(&self) -> Vec<gossipsub::IdentTopic> {
        self.of(&ALL_KINDS)
    }

    /// The topics of `kinds`.
    pub fn of(&self, kinds: &[MessageKind]) -> Vec<gossipsub::IdentTopic> {
        kinds.iter().map(|k| self.topic(*k)).collect()
    }
}

/// Every kind of message gossiped.
const ALL_KINDS: [MessageKind; 12] = [
    MessageKind::Job,
    MessageKind::Assignment,
    MessageKind::Claim,
    MessageKind::Attestation,
    MessageKind::Certificate,
    MessageKind::Heartbeat,
    MessageKind::Capability,
    MessageKind::DecisionVote,
    MessageKind::DecisionCertificate,
    MessageKind::Evidence,
    MessageKind::Application,
    MessageKind::Credits,
];

/// What every node reads: jobs, assignments (a worker's work, a creator's progress),
/// certificates (a worker's shard is done, a creator's output is verified), and the
/// checker set's decisions and evidence (which committees certify, who is banned), and
/// credits (every node keeps the ledger; its account's orders need the checkers' votes).
pub const EVERY_NODE_READS: [MessageKind; 6] = [
    MessageKind::Job,
    MessageKind::Assignment,
    MessageKind::Certificate,
    MessageKind::DecisionCertificate,
    MessageKind::Evidence,
    MessageKind::Credits,
];

/// What a creator reads besides: the claims and attestations of its jobs, for progress,
/// and workers' heartbeats and capability records, for its view of the network (the
/// explorer, `net_workers`). A worker that submits no job never reads them (on a busy
/// network they are most of the gossip), so a worker subscribes to them only once it has
/// a job of its own.
pub const CREATOR_READS: [MessageKind; 4] = [
    MessageKind::Claim,
    MessageKind::Attestation,
    MessageKind::Heartbeat,
    MessageKind::Capability,
];

/// What a checker reads besides: everything else (claims to verify, its peers' votes,
/// workers' heartbeats and capability records, applications to join the set).
pub const CHECKER_READS: [MessageKind; 6] = [
    MessageKind::Claim,
    MessageKind::Attestation,
    MessageKind::Heartbeat,
    MessageKind::Capability,
    MessageKind::DecisionVote,
    MessageKind::Application,
];

/// The kinds a node with these roles reads from the start: a checker everything, a
/// creator-only node what a creator reads, a worker only what every node reads (it adds
/// [`CREATOR_READS`] once it has a job of its own).
pub fn kinds_read(checker: bool, worker: bool) -> Vec<MessageKind> {
    let mut kinds = EVERY_NODE_READS.to_vec();
    if checker {
        kinds.extend(CHECKER_READS);
    } else if !worker {
        kinds.extend(CREATOR_READS);
    }
    kinds
}

fn gossipsub_config(heartbeat: Duration) -> Result<gossipsub::Config, NodeError> {
    gossipsub::ConfigBuilder::default()
        .heartbeat_interval(heartbeat)
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        // Messages are forwarded only after the node has checked them.
        .validate_messages()
        .max_transmit_size(MAX_GOSSIP_SIZE + 1024)
        // Identical messages (a certificate assembled by several checkers) are one message.
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(blake3::hash(&m.data).as_bytes().to_vec())
        })
        .mesh_n_low(2)
        .mesh_n(4)
        .mesh_n_high(8)
        .mesh_outbound_min(1)
        .build()
        .map_err(|e| NodeError::Config(format!("gossipsub: {e}")))
}

fn peer_score(network: &str) -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let mut params = gossipsub::PeerScoreParams::default();
    // Many peers behind one address cost score (a defence against one host posing as
    // many), except on loopback, where a local network's every node is.
    params
        .ip_colocation_factor_whitelist
        .insert(std::net::Ipv4Addr::LOCALHOST.into());
    // A message that fails validation costs its forwarder dearly (P4): a handful and it
    // falls under the graylist threshold, so its gossip is ignored.
    for topic in Topics::new(network).all() {
        let topic_params = gossipsub::TopicScoreParams {
            topic_weight: 1.0,
            // Small rewards for staying in the mesh and delivering first...
            time_in_mesh_weight: 0.01,
            time_in_mesh_quantum: Duration::from_secs(1),
            time_in_mesh_cap: 300.0,
            first_message_deliveries_weight: 0.5,
            first_message_deliveries_cap: 50.0,
            // ...no penalty for quiet topics (most of ours are quiet most of the time)...
            mesh_message_deliveries_weight: 0.0,
            mesh_failure_penalty_weight: 0.0,
            // ...and a heavy one for every message that fails validation.
            invalid_message_deliveries_weight: -100.0,
            invalid_message_deliveries_decay: 0.9,
            ..Default::default()
        };
        params.topics.insert(topic.hash(), topic_params);
    }
    (params, gossipsub::PeerScoreThresholds::default())
}

/// The system's resolver configuration (`/etc/resolv.conf`), or hickory's default where it
/// cannot be read. Only `/dns…` addresses are resolved: a network of IP addresses sends no
/// DNS query.
fn resolver_config() -> (libp2p::dns::ResolverConfig, libp2p::dns::ResolverOpts) {
    hickory_resolver::system_conf::read_system_conf().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the system's DNS configuration; using the default resolvers for /dns addresses");
        (libp2p::dns::ResolverConfig::default(), libp2p::dns::ResolverOpts::default())
    })
}

/// Builds a swarm with TCP and QUIC, noise, yamux and the node's behaviour, neither relay
/// nor UPnP.
pub fn build_swarm(
    keypair: identity::Keypair,
    network: &str,
    heartbeat: Duration,
) -> Result<Swarm<Behaviour>, NodeError> {
    build_swarm_with(keypair, network, heartbeat, SwarmOptions::default())
}

/// Builds a swarm with TCP and QUIC (and circuits through relays), noise, yamux and the
/// node's behaviour.
pub fn build_swarm_with(
    keypair: identity::Keypair,
    network: &str,
    heartbeat: Duration,
    options: SwarmOptions,
) -> Result<Swarm<Behaviour>, NodeError> {
    let agent = format!("pictor/{}", env!("CARGO_PKG_VERSION"));
    let protocol_version = super::identify_version(network);
    let gossip_config = gossipsub_config(heartbeat)?;
    let resolver = resolver_config();
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .map_err(|e| NodeError::Config(format!("tcp transport: {e}")))?
        .with_quic()
        // Bootnodes by DNS name (`/dns4/…`): resolved with the system's resolver.
        .with_dns_config(resolver.0, resolver.1)
        .with_relay_client(libp2p::noise::Config::new, libp2p::yamux::Config::default)
        .map_err(|e| NodeError::Config(format!("relay transport: {e}")))?
        .with_behaviour(|key, relay_client| {
            let mut gossipsub = gossipsub::Behaviour::new(
                // Every payload is a signed envelope checked before it is forwarded;
                // gossipsub's own per-message signature would double the signature work.
                gossipsub::MessageAuthenticity::Anonymous,
                gossip_config,
            )?;
            let (params, thresholds) = peer_score(network);
            gossipsub.with_peer_score(params, thresholds)?;
            let me = key.public().to_peer_id();
            let store = kad::store::MemoryStore::with_config(
                me,
                kad::store::MemoryStoreConfig {
                    max_provided_keys: MAX_PROVIDED_KEYS,
                    ..Default::default()
                },
            );
            let mut kad_config = kad::Config::new(KAD_PROTOCOL);
            kad_config.set_query_timeout(Duration::from_secs(30));
            // Peers join the routing table from identify as they connect; a timer that
            // bootstraps before any is known would only warn.
            kad_config.set_periodic_bootstrap_interval(None);
            let mut kad = kad::Behaviour::with_config(me, store, kad_config);
            // Serve the DHT: every node is a full IPFS peer.
            kad.set_mode(Some(kad::Mode::Server));
            Ok(Behaviour {
                limits: connection_limits::Behaviour::new(
                    ConnectionLimits::default()
                        .with_max_established(Some(MAX_CONNECTIONS))
                        .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
                        .with_max_pending_incoming(Some(MAX_PENDING_INCOMING)),
                ),
                kad,
                stream: libp2p_stream::Behaviour::new(),
                identify: identify::Behaviour::new(
                    identify::Config::new(protocol_version, key.public()).with_agent_version(agent),
                ),
                ping: ping::Behaviour::default(),
                relay_client,
                relay: Toggle::from(
                    options
                        .relay_server
                        .then(|| relay::Behaviour::new(me, relay_config())),
                ),
                dcutr: Toggle::from(options.nat_traversal.then(|| dcutr::Behaviour::new(me))),
                autonat: Toggle::from(
                    options
                        .nat_traversal
                        .then(autonat::v2::client::Behaviour::default),
                ),
                autonat_server: Toggle::from(
                    options
                        .nat_traversal
                        .then(autonat::v2::server::Behaviour::default),
                ),
                upnp: Toggle::from(options.upnp.then(upnp::tokio::Behaviour::default)),
                gossipsub,
                fetch: request_response::Behaviour::new(
                    [(PROTOCOL, request_response::ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(60))
                        .with_max_concurrent_streams(256),
                ),
            })
        })
        .map_err(|e| NodeError::Config(format!("behaviour: {e}")))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();
    Ok(swarm)
}
