//! Starting a node: its key, its database, its swarm and services, its roles, and the
//! replay of what it had accepted before it stopped.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Arc,
};

use pictor_gpu::BlenderDevice;
use pictor_ipfs::{Bitswap, BitswapConfig, Blockstore};
use pictor_protocol::{codec, Keypair, Message};
use pictor_storage::Store;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{EventLoop, Work};
use crate::{
    identity,
    jobs::JobTable,
    network::{build_swarm_with, kinds_read, SwarmOptions, Topics},
    requests::Requests,
    roles::{
        checker::{Checker, CheckerParams},
        creator::{Creator, JobRecord},
        worker::{Worker, WorkerInput, WorkerParams},
    },
    scenes::SceneCache,
    tasks::Tasks,
    validation, Client, NodeConfig, NodeError, NodeEvent, SledBlockstore,
};

/// Progress events held for slow RPC subscribers.
const EVENTS_BUFFERED: usize = 4096;

/// Records of this node's jobs are its own encoding; this bounds what a corrupt one costs.
const MAX_JOB_RECORD: usize = 1 << 20;

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
    let db = config.home.join("db");
    let store = if config.durable {
        Store::open(&db)?
    } else {
        Store::open_unsynced(&db)?
    };
    let swarm_options = SwarmOptions {
        relay_server: config.roles.relay,
        ..config.swarm
    };
    let mut swarm = build_swarm_with(
        identity::libp2p_keypair(&keypair)?,
        &config.network.id,
        config.network.gossip_heartbeat,
        swarm_options,
    )?;
    let blockstore: Arc<dyn Blockstore> = Arc::new(SledBlockstore::new(store.clone()));
    let (bitswap, bitswap_service) = Bitswap::new(
        swarm.behaviour().stream.new_control(),
        blockstore.clone(),
        BitswapConfig::default(),
    )
    .map_err(|e| NodeError::Config(format!("bitswap: {e}")))?;
    let mut services = vec![tokio::spawn(bitswap_service)];
    let http_listener = match config.http {
        None => None,
        Some(addr) => {
            let listen_error = |e: std::io::Error| NodeError::Listen {
                addr: format!("http://{addr}"),
                reason: e.to_string(),
            };
            let listener = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .and_then(tokio::net::TcpListener::from_std)
                .map_err(listen_error)?;
            let bound = listener.local_addr().map_err(listen_error)?;
            Some((listener, bound))
        }
    };
    let http = http_listener.as_ref().map(|(_, bound)| *bound);
    // A node subscribes to what its roles read (see `network::kinds_read`); a worker
    // adds a creator's topics when it has a job of its own (`EventLoop::read_as_creator`).
    let topics = Topics::new(&config.network.id);
    let kinds = kinds_read(config.roles.checker, config.roles.worker.is_some());
    for topic in topics.of(&kinds) {
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
    let network = &config.network;
    let checker = config.roles.checker.then(|| {
        Checker::new(
            keypair.clone(),
            network.checkers.clone(),
            CheckerParams {
                network: network.id.clone(),
                committee_size: network.committee_size,
                max_outstanding: network.max_outstanding,
                shard_timeout_ms: network.shard_timeout.as_millis() as u64,
                claim_timeout_ms: network.claim_timeout.as_millis() as u64,
                worker_liveness_ms: 3 * network.heartbeat_interval.as_millis() as u64,
                leader_timeout_ms: network.leader_timeout.as_millis() as u64,
                requirements: network.requirements.clone(),
                checker_liveness_ms: 3 * network.heartbeat_interval.as_millis() as u64,
                ban_cooldown_ms: network.ban_cooldown.as_millis() as u64,
                behaviour: config.roles.checker_behaviour,
                epoch_ms: network.epoch.as_millis() as u64,
            },
        )
    });
    let blender_device = config
        .roles
        .worker
        .as_ref()
        .and_then(|w| w.blender_device)
        .unwrap_or(BlenderDevice::Cpu);
    let worker = config.roles.worker.as_ref().map(|w| {
        Worker::new(
            keypair.clone(),
            WorkerParams {
                checkers: network.checkers.clone(),
                committee_size: network.committee_size,
                device: w.device.clone(),
                blender_device: (blender_device != BlenderDevice::Cpu)
                    .then(|| blender_device.to_string()),
                tamper: w.tamper,
                network: network.id.clone(),
                canary_rate_ppm: network.canary_rate_ppm,
            },
        )
    });
    // A worker states its admission render in its record; checkers render the same
    // window before it gets shards.
    let capability = config
        .roles
        .worker
        .as_ref()
        .and_then(|w| w.capability.clone())
        .map(|c| {
            let digest = crate::tasks::admission_digest(pictor_protocol::AdmissionRender::of(
                &keypair.public(),
            ));
            if let Err(e) = &digest {
                warn!(error = %e, "cannot render the admission window; networks with requirements give this worker no shards");
            }
            c.with_render_digest(digest.ok())
        });
    let application = if config.roles.checker && !network.checkers.contains(&keypair.public()) {
        application(
            &keypair,
            &network.id,
            config
                .roles
                .checker_capability
                .as_ref()
                .or(capability.as_ref()),
        )
    } else {
        None
    };
    let (commands_tx, commands) = mpsc::channel(64);
    let (broadcast, _) = tokio::sync::broadcast::channel(EVENTS_BUFFERED);
    let client = Client {
        commands: commands_tx,
        events: broadcast.clone(),
    };
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let network_checkers = network.checkers.clone();
    let network_ban_cooldown_ms = network.ban_cooldown.as_millis() as u64;
    let network_epoch_ms = network.epoch.as_millis() as u64;
    if let Some((listener, bound)) = http_listener {
        let auth = crate::http::auth::Auth::create(&config.home, bound)?;
        let info = crate::rpc::NodeInfo {
            network: network.id.clone(),
            roles: crate::home::Role::names(&config.roles),
            home: config.home.clone(),
            http: format!("http://{bound}"),
            started: std::time::Instant::now(),
            started_ms: crate::now_ms(),
        };
        let methods = crate::rpc::module(client.clone(), info, blockstore.clone()).into();
        services.push(tokio::spawn(crate::http::serve(
            listener,
            crate::http::HttpState {
                auth,
                blockstore: blockstore.clone(),
                metrics: metrics.clone(),
                client: client.downgrade(),
                methods,
                limits: config.http_limits,
            },
        )));
    }
    let (done_tx, done_rx) = mpsc::channel(256);
    let (validated_tx, validated_rx) = mpsc::channel(256);
    let (events_tx, events_rx) = if config.events {
        let (tx, rx) = mpsc::channel(4096);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let checked = validation::Checked::new();
    let ledger = validation::SharedLedger::new(
        pictor_protocol::Ledger::new(
            &network.id,
            network.checkers.clone(),
            network.committee_size,
        )
        .with_epochs(network.epoch.as_millis() as u64),
    );
    ledger.lock().advance(crate::now_ms());
    let validate_tx = validation::spawn(
        validation::Rules {
            network: network.id.clone(),
            ledger: ledger.clone(),
            max_age_ms: network.max_message_age.as_millis() as u64,
            checked: checked.clone(),
            canary_rate_ppm: network.canary_rate_ppm,
            faucet: network.credits.as_ref().map(|c| c.faucet),
        },
        validated_tx,
    );
    let tasks = Tasks {
        done: done_tx,
        store: store.clone(),
        bitswap: bitswap.clone(),
        scenes_dir: config.home.join("scenes"),
        blender_device,
        blender_pool: config
            .blender_pool
            .clone()
            .unwrap_or_else(|| Arc::new(pictor_gpu::BlenderPool::per_core())),
    };
    let credits = match &config.network.credits {
        Some(spec) => Some(
            crate::roles::credits::Credits::new(
                keypair.clone(),
                &config.network.id,
                spec.faucet,
                spec.limits,
                crate::identity::load_faucet(&config.home)?,
            )
            .with_checker_fee(spec.checker_fee),
        ),
        None => None,
    };
    let mut event_loop = EventLoop {
        swarm,
        store,
        me: keypair.public(),
        keypair,
        params: config.network,
        topics,
        retention_ms: config.job_retention.as_millis() as u64,
        checker,
        worker,
        creator: Creator::new(),
        capability,
        application,
        renders_answering: 0,
        decision_syncs: 0,
        request_quota: crate::quota::Quota::default(),
        jobs: JobTable::default(),
        scenes: SceneCache::default(),
        requests: Requests::default(),
        tasks,
        bitswap,
        validate_tx,
        checked,
        ledger,
        commands,
        done_rx,
        validated_rx,
        events: events_tx,
        queue: VecDeque::new(),
        dirty: false,
        outbox: Vec::new(),
        unsent: Vec::new(),
        restored: BTreeMap::new(),
        submits: BTreeMap::new(),
        last_heartbeat_ms: 0,
        no_room: false,
        last_capability_ms: 0,
        last_prune_ms: 0,
        capability_wanted: true,
        services,
        http,
        provider_queries: HashMap::new(),
        scene_lookups: HashMap::new(),
        broadcast,
        view: crate::view::NetView::new(
            &network_checkers,
            network_ban_cooldown_ms,
            network_epoch_ms,
        ),
        metrics,
        last_gauges_ms: 0,
        peer_addrs: HashMap::new(),
        slow_peers: HashMap::new(),
        foreign_peers: Default::default(),
        foreign_cuts: Vec::new(),
        rendered_any: false,
        jobs_asked: HashMap::new(),
        nat: super::nat::Nat::new(crate::network::reach::Reach::new(
            swarm_options.relay_server,
            swarm_options.upnp,
        )),
        last_reach_ms: 0,
        last_bootstrap_ms: crate::now_ms(),
        inbound: 0,
        distrusted: HashMap::new(),
        bootnodes: config.bootnodes.clone(),
        credits,
        credit_replies: HashMap::new(),
        next_credit_reply: 0,
        budgets: BTreeMap::new(),
        fundings: HashMap::new(),
        funding_told: HashMap::new(),
    };
    event_loop.replay()?;
    event_loop.restore_credits();
    // Every line the loop logs names its node: a local network logs many nodes together.
    let span = tracing::info_span!("node", key = %event_loop.me.short());
    tokio::spawn(tracing::Instrument::instrument(event_loop.run(), span));
    Ok((client, events_rx))
}

impl EventLoop {
    /// Rebuilds the roles' state from the database after a restart: the creator's job
    /// records, the worker's own claims (so that it renders nothing twice), then every
    /// stored message — certificates before the claims they decide, so that nothing
    /// decided is examined again. The worker starts rendering once replay is over.
    fn replay(&mut self) -> Result<(), NodeError> {
        for (job, bytes) in self.store.job_records()? {
            match codec::decode::<JobRecord>(&bytes, MAX_JOB_RECORD) {
                Ok(record) => {
                    self.restored.insert(job, record);
                }
                Err(e) => warn!(job = %job.short(), error = %e, "unreadable job record skipped"),
            }
        }
        let jobs = self.store.jobs()?;
        let mut claims = Vec::new();
        for spec in &jobs {
            claims.extend(self.store.claims_of(&spec.id())?);
        }
        for claim in claims.iter().filter(|c| c.worker == self.me) {
            self.queue
                .push_back(Work::Worker(WorkerInput::Claimed(claim.clone())));
        }
        // The checker set's history first: it decides the committees of what follows.
        let mut messages: Vec<Message> = Vec::new();
        messages.extend(self.store.evidence()?.into_iter().map(Message::Evidence));
        let mut decisions = self.store.decisions()?;
        // Admissions in epoch order: each is verified against a set the earlier ones made.
        decisions.sort_by_key(|d| d.action.apply_order());
        messages.extend(decisions.into_iter().map(Message::Decision));
        for spec in &jobs {
            let id = spec.id();
            messages.push(Message::Job(spec.clone()));
            messages.extend(
                self.store
                    .certificates(&id)?
                    .into_iter()
                    .map(Message::Certificate),
            );
            messages.extend(
                self.store
                    .assignments(&id)?
                    .into_iter()
                    .map(Message::Assignment),
            );
        }
        messages.extend(claims.into_iter().map(Message::Claim));
        messages.extend(
            self.store
                .attestations()?
                .into_iter()
                .map(Message::Attestation),
        );
        // Restored without their envelopes' proofs: what this node held for peer checks
        // before it stopped is not re-checked.
        for message in messages {
            self.queue.push_back(Work::Message {
                message,
                from_checker: false,
                proof: None,
            });
        }
        self.queue.push_back(Work::Worker(WorkerInput::Start));
        self.drain();
        self.commit();
        Ok(())
    }
}

/// The application of a checker outside the genesis set: its capability record and its
/// admission render (a few milliseconds of rendering). `None`, with the reason logged,
/// when it cannot apply.
fn application(
    keypair: &Keypair,
    network: &str,
    capability: Option<&crate::LocalCapability>,
) -> Option<pictor_protocol::SignedApplication> {
    let me = keypair.public();
    let Some(capability) = capability else {
        warn!("this checker is not in the network's genesis set and has no capability record to apply with; it does not check");
        return None;
    };
    let digest = match crate::tasks::admission_digest(pictor_protocol::AdmissionRender::of(&me)) {
        Ok(d) => d,
        Err(e) => {
            warn!(error = %e, "cannot render the admission window; not applying to the checker set");
            return None;
        }
    };
    let now = crate::now_ms();
    info!("this checker is not in the network's genesis set: applying to join it");
    Some(pictor_protocol::SignedApplication::new(
        keypair,
        network,
        pictor_protocol::Application {
            checker: me,
            capability: capability.record(me, now),
            render_digest: digest,
            issued_ms: now,
        },
    ))
}
