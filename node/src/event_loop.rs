//! The event loop: the one task that owns the swarm.
//!
//! It validates gossip before it is forwarded (signature, network id, freshness, size,
//! strict encoding; a bad message is rejected and its forwarder penalised by gossipsub's
//! peer scoring), stores every accepted message before acting on it, feeds the checker
//! state machine and carries out its outputs, renders a worker's shards on the blocking
//! pool, and serves and fetches blocks and row proofs point to point.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    sync::Arc,
    time::Duration,
};

use cid::Cid;
use futures::StreamExt;
use libp2p::{gossipsub, request_response, swarm::SwarmEvent, PeerId, Swarm};
use pictor_gpu::BlenderDevice;
use pictor_ipfs::{Bitswap, BitswapConfig, Blockstore};
use pictor_protocol::{
    Assignment, ClaimId, ContentId, Heartbeat, JobId, JobSpec, Keypair, Message, MessageKind,
    NodeRole, PublicKey, ShardId, TileImage,
};
use pictor_storage::Store;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::{
    client::Command,
    engines::LoadedScene,
    fetch::{Pending, SceneSlot},
    identity,
    network::{build_swarm, Behaviour, BehaviourEvent, Topics},
    now_ms,
    roles::checker::{Checker, CheckerInput, CheckerParams},
    validation, Client, NetworkParams, NodeConfig, NodeError, NodeEvent, NodeStatus,
    SledBlockstore, WorkerConfig,
};

/// The most addresses of one peer that go into the Kademlia routing table.
const MAX_PEER_ADDRS: usize = 8;

/// A provider lookup in flight: the providers found so far, and who asked.
type ProviderQuery = (
    BTreeSet<PeerId>,
    tokio::sync::oneshot::Sender<Result<Vec<PeerId>, NodeError>>,
);

/// Provider queries in flight at once.
const MAX_PROVIDER_QUERIES: usize = 256;

/// How often a worker gossips its capability record.
const CAPABILITY_INTERVAL_MS: u64 = 60_000;

/// The most jobs a node keeps in memory.
pub(crate) const MAX_JOBS: usize = 10_000;

/// Work finished off the network task.
#[derive(Debug)]
pub(crate) enum Internal {
    SceneParsed {
        id: ContentId,
        result: Result<Arc<LoadedScene>, String>,
    },
    TileRendered {
        assignment: Assignment,
        result: Result<(TileImage, u64), String>,
    },
    Rerendered {
        claim: ClaimId,
        result: Result<Vec<[u8; 3]>, String>,
    },
    RerenderedRegions {
        claim: ClaimId,
        result: Result<Vec<Vec<u8>>, String>,
    },
    OutputFetched {
        shard: ShardId,
        worker: Option<PublicKey>,
        output: ContentId,
        result: Result<Vec<u8>, String>,
    },
    OutputRows {
        claim: ClaimId,
        width: u32,
        rows: Vec<u32>,
        result: Result<Vec<u8>, String>,
    },
    Validated {
        source: PeerId,
        id: gossipsub::MessageId,
        result: Result<Box<Message>, String>,
    },
}

#[derive(Debug)]
pub(crate) struct WorkerState {
    pub(crate) config: WorkerConfig,
    pub(crate) queue: VecDeque<Assignment>,
    /// Assignments whose job has not arrived yet (gossip is not ordered).
    pub(crate) early: Vec<Assignment>,
    pub(crate) busy: bool,
    /// Outputs rendered so far (decides which ones a faulty worker falsifies).
    pub(crate) rendered: u64,
}

/// The loop's state. Fields are shared with the `fetch` module's half of the loop.
pub(crate) struct EventLoop {
    pub(crate) swarm: Swarm<Behaviour>,
    pub(crate) store: Store,
    /// The node's home (database, key, Blender scenes).
    pub(crate) home: std::path::PathBuf,
    /// The device this node's Blender renders on.
    pub(crate) blender_device: BlenderDevice,
    /// The Blender processes this node renders with.
    pub(crate) blender_pool: std::sync::Arc<pictor_gpu::BlenderPool>,
    pub(crate) keypair: Keypair,
    pub(crate) me: PublicKey,
    pub(crate) params: NetworkParams,
    pub(crate) topics: Topics,
    commands: mpsc::Receiver<Command>,
    pub(crate) internal_tx: mpsc::Sender<Internal>,
    pub(crate) validate_tx: mpsc::Sender<validation::Unchecked>,
    internal_rx: mpsc::Receiver<Internal>,
    pub(crate) events: Option<mpsc::Sender<NodeEvent>>,
    pub(crate) checker: Option<Checker>,
    pub(crate) worker: Option<WorkerState>,
    pub(crate) jobs: BTreeMap<JobId, JobSpec>,
    pub(crate) my_jobs: BTreeSet<JobId>,
    pub(crate) delivered: BTreeSet<ShardId>,
    pub(crate) scenes: BTreeMap<ContentId, SceneSlot>,
    pub(crate) requests: HashMap<request_response::OutboundRequestId, Pending>,
    last_heartbeat_ms: u64,
    last_capability_ms: u64,
    /// A peer subscribed since the last record went out.
    capability_wanted: bool,
    /// Bitswap: blocks by CID, to and from any IPFS peer.
    pub(crate) bitswap: Bitswap,
    /// The Bitswap service and the gateway, stopped at shutdown.
    services: Vec<tokio::task::JoinHandle<()>>,
    http: Option<std::net::SocketAddr>,
    provider_queries: HashMap<libp2p::kad::QueryId, ProviderQuery>,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

/// Starts a node on the current tokio runtime.
///
/// Returns its [`Client`] and, when `config.events` is set, the stream of progress events
/// of the jobs it submits.
pub fn spawn(config: NodeConfig) -> Result<(Client, Option<mpsc::Receiver<NodeEvent>>), NodeError> {
    std::fs::create_dir_all(&config.home).map_err(|e| {
        NodeError::Config(format!("cannot create home {}: {e}", config.home.display()))
    })?;
    let keypair = match config.keypair {
        Some(k) => k,
        None => identity::load_or_create(&config.home)?,
    };
    if let Some(worker) = &config.roles.worker {
        if let Err(e) = config.network.requirements.validate() {
            return Err(NodeError::Config(format!("network requirements: {e}")));
        }
        if !config.network.requirements.is_empty() {
            match &worker.capability {
                Some(capability) => capability.check(&config.network.requirements)?,
                None => {
                    return Err(NodeError::Requirements(
                        "this worker has not measured its capabilities, and the network has hardware requirements".into(),
                    ))
                }
            }
        }
    }
    let store = Store::open(&config.home.join("db"))?;
    let mut swarm = build_swarm(
        identity::libp2p_keypair(&keypair)?,
        &config.network.id,
        config.network.gossip_heartbeat,
    )?;
    let blockstore: Arc<dyn Blockstore> = Arc::new(SledBlockstore::new(store.clone()));
    let (bitswap, bitswap_service) = Bitswap::new(
        swarm.behaviour().stream.new_control(),
        blockstore.clone(),
        BitswapConfig::default(),
    )
    .map_err(|e| NodeError::Config(format!("bitswap: {e}")))?;
    let mut services = vec![tokio::spawn(bitswap_service)];
    let http = match config.http {
        None => None,
        Some(addr) => {
            let listener = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .and_then(tokio::net::TcpListener::from_std)
                .map_err(|e| NodeError::Listen {
                    addr: format!("http://{addr}"),
                    reason: e.to_string(),
                })?;
            let bound = listener.local_addr().map_err(|e| NodeError::Listen {
                addr: format!("http://{addr}"),
                reason: e.to_string(),
            })?;
            services.push(tokio::spawn(pictor_ipfs::gateway::serve(
                listener, blockstore,
            )));
            Some(bound)
        }
    };
    let topics = Topics::new(&config.network.id);
    for topic in topics.all() {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| NodeError::Config(format!("subscribe: {e}")))?;
    }
    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NodeError::Listen {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
    }
    for addr in &config.bootnodes {
        if let Err(e) = swarm.dial(addr.clone()) {
            warn!(%addr, error = %e, "cannot dial bootnode");
        }
    }
    let checker = config.roles.checker.then(|| {
        Checker::new(
            keypair.clone(),
            config.network.checkers.clone(),
            CheckerParams {
                network: config.network.id.clone(),
                committee_size: config.network.committee_size,
                max_outstanding: config.network.max_outstanding,
                shard_timeout_ms: config.network.shard_timeout.as_millis() as u64,
                claim_timeout_ms: config.network.claim_timeout.as_millis() as u64,
                worker_liveness_ms: 3 * config.network.heartbeat_interval.as_millis() as u64,
                leader_timeout_ms: config.network.leader_timeout.as_millis() as u64,
                requirements: config.network.requirements.clone(),
            },
        )
    });
    let (commands_tx, commands) = mpsc::channel(64);
    let (internal_tx, internal_rx) = mpsc::channel(256);
    let (events_tx, events_rx) = if config.events {
        let (tx, rx) = mpsc::channel(1024);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let validate_tx = validation::spawn(
        validation::Rules {
            network: config.network.id.clone(),
            checkers: config.network.checkers.clone(),
            committee_size: config.network.committee_size,
            max_age_ms: config.network.max_message_age.as_millis() as u64,
        },
        internal_tx.clone(),
    );
    let blender_device = config
        .roles
        .worker
        .as_ref()
        .and_then(|w| w.blender_device)
        .unwrap_or(BlenderDevice::Cpu);
    let blender_pool = config
        .blender_pool
        .clone()
        .unwrap_or_else(|| std::sync::Arc::new(pictor_gpu::BlenderPool::per_core()));
    let mut event_loop = EventLoop {
        swarm,
        store,
        home: config.home.clone(),
        blender_device,
        blender_pool,
        me: keypair.public(),
        keypair,
        params: config.network,
        topics,
        commands,
        internal_tx,
        validate_tx,
        internal_rx,
        events: events_tx,
        checker,
        worker: config.roles.worker.map(|config| WorkerState {
            config,
            queue: VecDeque::new(),
            early: Vec::new(),
            busy: false,
            rendered: 0,
        }),
        jobs: BTreeMap::new(),
        my_jobs: BTreeSet::new(),
        delivered: BTreeSet::new(),
        scenes: BTreeMap::new(),
        requests: HashMap::new(),
        last_heartbeat_ms: 0,
        last_capability_ms: 0,
        capability_wanted: true,
        bitswap,
        services,
        http,
        provider_queries: HashMap::new(),
    };
    event_loop.replay()?;
    tokio::spawn(event_loop.run());
    Ok((
        Client {
            commands: commands_tx,
        },
        events_rx,
    ))
}

impl EventLoop {
    /// Rebuilds the in-memory state from the database after a restart.
    fn replay(&mut self) -> Result<(), NodeError> {
        for spec in self.store.jobs()? {
            self.dispatch(Message::Job(spec));
        }
        for job in self.jobs.keys().copied().collect::<Vec<_>>() {
            for a in self.store.assignments(&job)? {
                self.dispatch(Message::Assignment(a));
            }
        }
        for claim in self.store.claims()? {
            self.dispatch(Message::Claim(claim));
        }
        for a in self.store.attestations()? {
            self.dispatch(Message::Attestation(a));
        }
        for qc in self.store.all_certificates()? {
            self.dispatch(Message::Certificate(qc));
        }
        Ok(())
    }

    async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reply = loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown(reply)) => break Some(reply),
                    Some(command) => self.on_command(command),
                    None => break None,
                },
                Some(internal) = self.internal_rx.recv() => self.on_internal(internal),
                _ = tick.tick() => self.on_tick(),
            }
        };
        if let Err(e) = self.store.flush() {
            warn!(error = %e, "flush at shutdown failed");
        }
        // Bitswap and the gateway hold the database too: stop them first.
        for service in std::mem::take(&mut self.services) {
            service.abort();
            let _ = service.await;
        }
        // Release the database and the sockets before saying the node has stopped, so
        // that a node can start again on the same home at once.
        drop(self);
        if let Some(reply) = reply {
            let _ = reply.send(());
        }
    }

    fn on_tick(&mut self) {
        let now = now_ms();
        self.run_checker(CheckerInput::Tick);
        if self.worker.is_some()
            && now >= self.last_heartbeat_ms + self.params.heartbeat_interval.as_millis() as u64
        {
            self.send_heartbeat(now);
        }
    }

    fn send_heartbeat(&mut self, now: u64) {
        if now == self.last_heartbeat_ms {
            return; // the same bytes again: one heartbeat per millisecond is plenty
        }
        self.last_heartbeat_ms = now;
        let role = if self.worker.is_some() {
            NodeRole::Worker
        } else if self.checker.is_some() {
            NodeRole::Checker
        } else {
            NodeRole::Creator
        };
        let heartbeat = Heartbeat {
            node: self.me,
            role,
            device: self
                .worker
                .as_ref()
                .map(|w| w.config.device.clone())
                .unwrap_or_default(),
        };
        self.publish(Message::Heartbeat(heartbeat), false);
        self.send_capability(now);
    }

    /// Gossips the worker's capability record, when it has one, at most once a minute
    /// (and at once when a peer subscribes), well within the gossip age limit.
    fn send_capability(&mut self, now: u64) {
        let Some(capability) = self
            .worker
            .as_ref()
            .and_then(|w| w.config.capability.clone())
        else {
            return;
        };
        if now < self.last_capability_ms + CAPABILITY_INTERVAL_MS && !self.capability_wanted {
            return;
        }
        self.capability_wanted = false;
        self.last_capability_ms = now;
        self.publish(Message::Capability(capability.record(self.me, now)), false);
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::ListenAddrs(reply) => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Dial(addr, reply) => {
                let result = self.swarm.dial(addr.clone()).map_err(|e| NodeError::Dial {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                });
                let _ = reply.send(result);
            }
            Command::Submit { spec, scene, reply } => {
                let _ = reply.send(self.submit(*spec, scene));
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::PeerScore(peer, reply) => {
                let _ = reply.send(self.swarm.behaviour().gossipsub.peer_score(&peer));
            }
            Command::AddFile { bytes, reply } => {
                let _ = reply.send(self.add_file(bytes));
            }
            Command::GetFile {
                root,
                peers,
                limit,
                reply,
            } => {
                let bitswap = self.bitswap.clone();
                tokio::spawn(async move {
                    let result = bitswap
                        .get_file(&root, &peers, limit)
                        .await
                        .map(|b| b.to_vec())
                        .map_err(|e| NodeError::Ipfs(e.to_string()));
                    let _ = reply.send(result);
                });
            }
            Command::FindProviders { cid, reply } => {
                let key = libp2p::kad::RecordKey::new(&cid.hash().to_bytes());
                let query = self.swarm.behaviour_mut().kad.get_providers(key);
                if self.provider_queries.len() < MAX_PROVIDER_QUERIES {
                    self.provider_queries
                        .insert(query, (BTreeSet::new(), reply));
                } else {
                    let _ = reply.send(Err(NodeError::Ipfs("too many provider queries".into())));
                }
            }
            Command::Shutdown(_) => {}
        }
    }

    fn on_kad_event(&mut self, event: libp2p::kad::Event) {
        use libp2p::kad::{Event, GetProvidersOk, QueryResult};
        let Event::OutboundQueryProgressed {
            id, result, step, ..
        } = event
        else {
            return debug!(?event, "kademlia");
        };
        let QueryResult::GetProviders(result) = result else {
            return;
        };
        if let Some((found, _)) = self.provider_queries.get_mut(&id) {
            match result {
                Ok(GetProvidersOk::FoundProviders { providers, .. }) => found.extend(providers),
                Ok(GetProvidersOk::FinishedWithNoAdditionalRecord { .. }) => {}
                Err(e) => debug!(error = %e, "provider query"),
            }
        }
        if step.last {
            if let Some((found, reply)) = self.provider_queries.remove(&id) {
                let _ = reply.send(Ok(found.into_iter().collect()));
            }
        }
    }

    /// Imports `bytes` as a UnixFS file into the block store, flushes, and announces the
    /// root in Kademlia.
    fn add_file(&mut self, bytes: Vec<u8>) -> Result<Cid, NodeError> {
        let (root, blocks) =
            pictor_ipfs::unixfs::import(bytes.into(), pictor_ipfs::unixfs::DEFAULT_CHUNK_SIZE)
                .map_err(|e| NodeError::Ipfs(e.to_string()))?;
        let store = SledBlockstore::new(self.store.clone());
        for block in &blocks {
            store
                .put(block)
                .map_err(|e| NodeError::Ipfs(e.to_string()))?;
        }
        self.store.flush()?;
        self.provide(&root);
        Ok(root)
    }

    /// Announces in Kademlia that this node holds `cid`.
    pub(crate) fn provide(&mut self, cid: &Cid) {
        let key = libp2p::kad::RecordKey::new(&cid.hash().to_bytes());
        if let Err(e) = self.swarm.behaviour_mut().kad.start_providing(key) {
            debug!(%cid, error = %e, "not announced in Kademlia");
        }
    }

    fn status(&self) -> NodeStatus {
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let topics = self.topics.all();
        let gossip_peers = gossipsub
            .all_peers()
            .filter(|(_, subscribed)| {
                topics
                    .iter()
                    .all(|t| subscribed.iter().any(|h| **h == t.hash()))
            })
            .count();
        NodeStatus {
            peer_id: *self.swarm.local_peer_id(),
            key: self.me,
            connected_peers: self.swarm.connected_peers().count(),
            gossip_peers,
            eligible_workers: self.checker.as_ref().map(|c| c.eligible_workers(now_ms())),
            jobs: self.jobs.len(),
            http: self.http,
            bitswap: self.bitswap.stats(),
        }
    }

    fn submit(&mut self, spec: JobSpec, scene: Vec<u8>) -> Result<JobId, NodeError> {
        if spec.creator != self.me {
            return Err(NodeError::InvalidJob(
                "the job's creator is not this node's key".into(),
            ));
        }
        spec.validate()
            .map_err(|e| NodeError::InvalidJob(e.to_string()))?;
        if scene.len() + 64 > pictor_protocol::MAX_RESPONSE_SIZE {
            return Err(NodeError::InvalidJob(format!(
                "the scene bundle is {} bytes; scenes up to {} bytes can be distributed",
                scene.len(),
                pictor_protocol::MAX_RESPONSE_SIZE - 64
            )));
        }
        let scene_id = self.store.put_block(&scene)?;
        if scene_id != spec.scene {
            return Err(NodeError::InvalidJob(format!(
                "the scene bundle hashes to {scene_id}, the job names {}",
                spec.scene
            )));
        }
        let id = spec.id();
        self.my_jobs.insert(id);
        self.publish(Message::Job(spec), true);
        Ok(id)
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_gossip(propagation_source, message_id, message.data),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed {
                topic,
                ..
            })) => {
                // A new peer listens for heartbeats: tell it about this worker at once
                // (once per subscribing peer, so this is bounded by the peers we have).
                let heartbeats = self.topics.topic(MessageKind::Heartbeat).hash();
                if self.worker.is_some() && topic == heartbeats {
                    self.capability_wanted = true;
                    self.send_heartbeat(now_ms());
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Fetch(event)) => self.on_fetch_event(event),
            // Peers that speak the DHT join the routing table under the addresses they
            // listen on.
            SwarmEvent::Behaviour(BehaviourEvent::Identify(
                libp2p::identify::Event::Received { peer_id, info, .. },
            )) if info.protocols.contains(&crate::network::KAD_PROTOCOL) => {
                for addr in info.listen_addrs.into_iter().take(MAX_PEER_ADDRS) {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad_event(event),
            SwarmEvent::NewListenAddr { address, .. } => {
                debug!(%address, "listening");
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                debug!(%peer_id, "connected");
            }
            SwarmEvent::ConnectionClosed { peer_id, cause, .. } => {
                debug!(%peer_id, ?cause, "disconnected");
            }
            _ => {}
        }
    }

    fn on_internal(&mut self, internal: Internal) {
        match internal {
            Internal::SceneParsed { id, result } => self.on_scene_parsed(id, result),
            Internal::TileRendered { assignment, result } => {
                self.on_tile_rendered(assignment, result)
            }
            Internal::Validated { source, id, result } => self.on_validated(source, id, result),
            Internal::OutputFetched {
                shard,
                worker,
                output,
                result,
            } => self.on_output_fetched(shard, worker, output, result),
            Internal::OutputRows {
                claim,
                width,
                rows,
                result,
            } => self.on_output_rows(claim, width, rows, result),
            Internal::RerenderedRegions { claim, result } => {
                self.run_checker(CheckerInput::RerenderedRegions {
                    claim,
                    regions: result,
                });
            }
            Internal::Rerendered { claim, result } => {
                self.run_checker(CheckerInput::Rerendered {
                    claim,
                    pixels: result,
                });
            }
        }
    }

    pub(crate) fn peer_of(&self, key: &PublicKey) -> Option<PeerId> {
        identity::peer_id(key)
    }

    pub(crate) fn connected(&self) -> Vec<PeerId> {
        self.swarm.connected_peers().copied().collect()
    }
}
