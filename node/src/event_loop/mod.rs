//! The event loop: the one task that owns the swarm, the roles and the I/O parts.
//!
//! Every event (a swarm event, a command, a gossip verdict, a finished task, a tick)
//! becomes work on one queue; [`EventLoop::drain`] hands each item to its role and carries
//! out what the role answers. Nothing here calls back into itself: work that must reach a
//! role at once goes on the queue.

mod commands;
mod credits;
mod dispatch;
mod escrow;
mod gossip;
mod govern;
mod nat;
mod prune;
mod refused;
mod scenes;
mod start;
mod submit;
mod swarm;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    time::Duration,
};

use futures::StreamExt as _;
use libp2p::{PeerId, Swarm};
use pictor_ipfs::Bitswap;
use pictor_protocol::{JobId, JobSpec, Keypair, Message, PublicKey};
use pictor_storage::Store;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

pub use nat::ConnectReport;
pub use start::spawn;

use crate::{
    client::Command,
    jobs::JobTable,
    network::{Behaviour, Topics},
    requests::Requests,
    roles::{
        checker::{Checker, CheckerInput},
        creator::{Creator, CreatorInput, JobRecord},
        credits::{Credits, CreditsInput, Receipt},
        worker::{Worker, WorkerInput},
    },
    scenes::SceneCache,
    tasks::{Done, Tasks},
    validation, LocalCapability, NetworkParams, NodeError, NodeEvent,
};

/// How long a stopping node waits for the shard its worker renders, so that it can claim
/// it; past this the shard is left to the checkers' timeout.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// How often finished jobs are looked at for pruning.
const PRUNE_INTERVAL_MS: u64 = 10_000;

/// One item of work for a role.
#[derive(Debug)]
enum Work {
    /// A stored (or ephemeral) message, for every role of this node; `from_checker`: this
    /// node's checker made it and has seen it; `proof`: the proof of the envelope its author
    /// gossiped it in (kept for attestations, the evidence of a peer check).
    Message {
        message: Message,
        from_checker: bool,
        proof: Option<pictor_protocol::EnvelopeProof>,
    },
    Checker(CheckerInput),
    Worker(WorkerInput),
    Creator(CreatorInput),
    Credits(CreditsInput),
}

/// A provider lookup in flight: the providers found so far, and who asked.
type ProviderQuery = (
    BTreeSet<PeerId>,
    oneshot::Sender<Result<Vec<PeerId>, NodeError>>,
);

/// A job waiting for its scene to load before it is published.
type PendingSubmit = (JobSpec, oneshot::Sender<Result<JobId, NodeError>>);

/// The loop's state.
pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    store: Store,
    keypair: Keypair,
    me: PublicKey,
    params: NetworkParams,
    topics: Topics,
    retention_ms: u64,
    // The roles.
    checker: Option<Checker>,
    worker: Option<Worker>,
    creator: Creator,
    /// A worker's capability record, gossiped now and then.
    capability: Option<LocalCapability>,
    /// This node's application to join the checker set, repeated until it is admitted
    /// (a checker outside the genesis set).
    application: Option<pictor_protocol::SignedApplication>,
    /// Challenge renders this worker is answering.
    renders_answering: usize,
    /// Peers asked for the checker set's decisions so far.
    decision_syncs: usize,
    /// Point-to-point requests each peer may still make (a token bucket per peer).
    request_quota: crate::quota::Quota<libp2p::PeerId>,
    // The I/O parts.
    jobs: JobTable,
    scenes: SceneCache,
    requests: Requests,
    tasks: Tasks,
    bitswap: Bitswap,
    validate_tx: mpsc::Sender<validation::Unchecked>,
    /// Vote signatures checked (by the validator) or made (by this node's checker).
    checked: validation::Checked,
    /// The checker set's ledger, shared with the validator.
    ledger: validation::SharedLedger,
    // Channels in.
    commands: mpsc::Receiver<Command>,
    done_rx: mpsc::Receiver<Done>,
    validated_rx: mpsc::Receiver<validation::Validated>,
    events: Option<mpsc::Sender<NodeEvent>>,
    /// Every progress event, for RPC subscribers.
    broadcast: tokio::sync::broadcast::Sender<NodeEvent>,
    /// The network as gossip shows it.
    view: crate::view::NetView,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    last_gauges_ms: u64,
    /// The remote addresses of each connected peer's connections.
    peer_addrs: HashMap<PeerId, Vec<String>>,
    /// Peers gossipsub reported slow: when the failures began, when last seen.
    slow_peers: HashMap<PeerId, (u64, u64)>,
    /// When this node last dialled the checkers it was not connected to.
    last_reach_ms: u64,
    /// When this node last bootstrapped its Kademlia routing table.
    last_bootstrap_ms: u64,
    /// Connections open now that peers opened.
    inbound: usize,
    /// Peers caught serving forged history, and until when their connections are refused.
    distrusted: HashMap<PeerId, u64>,
    /// The bootnodes dialled at start, dialled again while not connected.
    bootnodes: Vec<libp2p::Multiaddr>,
    /// Reachability, relay reservations, hole punches, connection tests.
    nat: nat::Nat,
    /// Pictor nodes of another network or protocol version met (each told once).
    foreign_peers: std::collections::BTreeSet<PeerId>,
    /// Jobs this worker asked a peer for (it holds assignments of them), and when.
    jobs_asked: HashMap<JobId, u64>,
    /// Whether this worker has received a shard since it started.
    rendered_any: bool,
    /// The credits role, on a network with credits.
    credits: Option<Credits>,
    /// Callers waiting for a payment or a faucet mint, by the role's reply id.
    credit_replies: HashMap<u64, oneshot::Sender<Result<Receipt, NodeError>>>,
    next_credit_reply: u64,
    /// Submitted jobs' budgets, escrowed before the job is published; and the escrow
    /// transfers in flight, by their reply number.
    budgets: BTreeMap<JobId, u64>,
    fundings: HashMap<u64, JobId>,
    /// How each job's escrow stood when the checker was last told.
    funding_told: HashMap<JobId, (crate::roles::checker::JobFunding, bool)>,
    /// Foreign peers to disconnect, and when (after a moment's grace).
    foreign_cuts: Vec<(PeerId, u64)>,
    /// Work for the roles, in order.
    queue: VecDeque<Work>,
    /// Stored since the last flush.
    dirty: bool,
    /// Signed messages to gossip once what they depend on is flushed.
    outbox: Vec<(Message, Vec<u8>, u32)>,
    /// Messages whose publishing failed, sent again at the next tick (with their tries).
    unsent: Vec<(Message, u32)>,
    /// Jobs of this node's creator restored from the database, until their spec arrives.
    restored: BTreeMap<JobId, JobRecord>,
    submits: BTreeMap<JobId, PendingSubmit>,
    last_heartbeat_ms: u64,
    /// A worker whose disk has no room for a shard's output: it sends no heartbeats (so
    /// checkers see it Offline and assign it nothing) until there is room again.
    no_room: bool,
    last_capability_ms: u64,
    last_prune_ms: u64,
    /// A peer subscribed since the last capability record went out.
    capability_wanted: bool,
    /// Bitswap and the gateway, stopped at shutdown.
    services: Vec<tokio::task::JoinHandle<()>>,
    http: Option<std::net::SocketAddr>,
    provider_queries: HashMap<libp2p::kad::QueryId, ProviderQuery>,
    /// Creators being looked up in the DHT for their scenes: the scene, its engine, the
    /// creator, and the other peers to ask.
    scene_lookups: HashMap<
        libp2p::kad::QueryId,
        (
            pictor_protocol::ContentId,
            pictor_protocol::Engine,
            PeerId,
            Vec<PeerId>,
        ),
    >,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl EventLoop {
    /// The table of contents.
    async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stopping: Option<(Option<oneshot::Sender<()>>, tokio::time::Instant)> = None;
        loop {
            if let Some((_, deadline)) = &stopping {
                let rendering = self.worker.as_ref().is_some_and(Worker::is_rendering);
                if !rendering || tokio::time::Instant::now() >= *deadline {
                    break;
                }
            }
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv(), if stopping.is_none() => match command {
                    Some(Command::Shutdown(reply)) => stopping = Some(self.stop(Some(reply))),
                    Some(command) => self.on_command(command),
                    None => stopping = Some(self.stop(None)),
                },
                Some(verdict) = self.validated_rx.recv() => self.on_validated(verdict),
                Some(done) = self.done_rx.recv() => self.on_done(done),
                _ = tick.tick() => self.on_tick(),
            }
            self.drain();
            self.commit();
        }
        let reply = stopping.and_then(|(reply, _)| reply);
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

    /// Starts stopping: the worker starts nothing new and finishes the shard it renders.
    fn stop(
        &mut self,
        reply: Option<oneshot::Sender<()>>,
    ) -> (Option<oneshot::Sender<()>>, tokio::time::Instant) {
        self.queue.push_back(Work::Worker(WorkerInput::Stop));
        (reply, tokio::time::Instant::now() + SHUTDOWN_GRACE)
    }

    fn on_tick(&mut self) {
        let now = crate::now_ms();
        self.queue.push_back(Work::Checker(CheckerInput::Tick));
        self.queue.push_back(Work::Creator(CreatorInput::Tick));
        self.credits_tick();
        self.send_unsent();
        self.cut_foreign(now);
        let due = self.last_heartbeat_ms + self.params.heartbeat_interval.as_millis() as u64;
        let heartbeat =
            (self.worker.is_some() || self.checker.is_some()) && now >= due && self.has_room();
        if heartbeat {
            self.send_heartbeat(now);
        }
        self.govern(now, heartbeat);
        if now >= self.last_gauges_ms + 1_000 {
            self.last_gauges_ms = now;
            self.update_gauges();
            self.unstick_gossip(now);
            self.reach_checkers(now);
            self.nat_tick(now);
        }
        let prune_every = PRUNE_INTERVAL_MS.min(self.retention_ms / 2).max(250);
        if now >= self.last_prune_ms + prune_every {
            self.last_prune_ms = now;
            let expired = self.jobs.expired(now, self.retention_ms);
            if !expired.is_empty() {
                self.prune(expired);
            }
        }
    }

    /// Hands queued work to the roles until none is left.
    fn drain(&mut self) {
        while let Some(work) = self.queue.pop_front() {
            let now = crate::now_ms();
            match work {
                Work::Message {
                    message,
                    from_checker,
                    proof,
                } => self.dispatch(message, from_checker, proof),
                Work::Checker(input) => {
                    if let Some(checker) = &mut self.checker {
                        for output in checker.handle(now, input) {
                            self.on_checker_output(output);
                        }
                    }
                }
                Work::Worker(input) => {
                    if let Some(worker) = &mut self.worker {
                        for output in worker.handle(input) {
                            self.on_worker_output(output);
                        }
                    }
                }
                Work::Creator(input) => {
                    for output in self.creator.handle(now, input) {
                        self.on_creator_output(output);
                    }
                }
                Work::Credits(input) => self.run_credits(now, input),
            }
        }
    }

    fn peer_of(&self, key: &PublicKey) -> Option<PeerId> {
        crate::identity::peer_id(key)
    }

    /// Peers to ask for a block: `first`, then every connected peer.
    fn candidates(&self, first: Option<PeerId>) -> Vec<PeerId> {
        let mut peers: Vec<PeerId> = first.into_iter().collect();
        for p in self.swarm.connected_peers() {
            if !peers.contains(p) {
                peers.push(*p);
            }
        }
        peers
    }
}
