//! What the Bitswap tasks share: our wants, each peer's wants, counters.
//!
//! Everything sits behind one mutex held for short, synchronous sections (no `.await`,
//! no store access inside).

use std::{
    cmp::Reverse,
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
};

use bytes::Bytes;
use cid::Cid;
use futures::channel::oneshot;
use libp2p::PeerId;
use tokio::sync::Notify;

use super::{
    wire::{self, Message, Wantlist},
    BitswapConfig, BitswapStats, PeerStats,
};
use crate::{block::cid_from_prefix, Block, Blockstore, MAX_BLOCK_SIZE};

mod wants;

/// What a waiting `get` is told: the block, or how many peers said they lack it.
pub(crate) type WantOutcome = Result<Block, usize>;

/// Monotonic counters for [`BitswapStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) blocks_sent: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) blocks_received: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) blocks_rejected: AtomicU64,
    pub(crate) messages_dropped: AtomicU64,
    pub(crate) wants_ignored: AtomicU64,
    pub(crate) streams_refused: AtomicU64,
    pub(crate) peak_peer_wants: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// State shared by the handle, the service and its tasks.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Blockstore>,
    pub(crate) config: BitswapConfig,
    pub(crate) counters: Counters,
    /// Wakes the service to spawn writers listed in `State::to_spawn`.
    pub(crate) wake_service: Notify,
    state: Mutex<State>,
}

struct State {
    closed: bool,
    wants: HashMap<Cid, Want>,
    peers: HashMap<PeerId, PeerState>,
    to_spawn: Vec<PeerId>,
    inbound_streams: usize,
    next_waiter: u64,
    next_priority: i32,
}

/// One of our wants.
struct Want {
    waiters: Vec<(u64, oneshot::Sender<WantOutcome>)>,
    asked: HashMap<PeerId, Asked>,
    /// The priority it was first sent with (sent again with the same).
    priority: i32,
}

struct Asked {
    dont_have: bool,
    /// The peer's rejected-block count when we asked.
    rejected_before: u64,
}

/// A want a peer sent us, waiting to be served.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request {
    pub(crate) cid: Cid,
    pub(crate) have_only: bool,
    pub(crate) send_dont_have: bool,
}

/// Queue key: higher priority first, then arrival order.
pub(crate) type RequestKey = (Reverse<i32>, u64);

/// An entry of ours to send to a peer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutEntry {
    pub(crate) cid: Cid,
    pub(crate) priority: i32,
    pub(crate) cancel: bool,
}

struct PeerState {
    requests: BTreeMap<RequestKey, Request>,
    index: HashMap<Cid, RequestKey>,
    seq: u64,
    outbox: Vec<OutEntry>,
    /// A writer task runs (or is about to).
    writer: bool,
    notify: Arc<Notify>,
    inbound_streams: usize,
    rejected_blocks: u64,
}

impl PeerState {
    fn new() -> Self {
        Self {
            requests: BTreeMap::new(),
            index: HashMap::new(),
            seq: 0,
            outbox: Vec::new(),
            writer: false,
            notify: Arc::new(Notify::new()),
            inbound_streams: 0,
            rejected_blocks: 0,
        }
    }

    fn has_work(&self) -> bool {
        !self.requests.is_empty() || !self.outbox.is_empty()
    }

    fn remove_request(&mut self, cid: &Cid) {
        if let Some(key) = self.index.remove(cid) {
            self.requests.remove(&key);
        }
    }

    fn want(&mut self, cid: Cid, priority: i32) {
        self.outbox.retain(|e| e.cid != cid);
        self.outbox.push(OutEntry {
            cid,
            priority,
            cancel: false,
        });
    }

    /// Queues a cancel, or drops the want if it was never sent.
    fn cancel(&mut self, cid: Cid) {
        let before = self.outbox.len();
        self.outbox.retain(|e| e.cid != cid);
        if self.outbox.len() == before {
            self.outbox.push(OutEntry {
                cid,
                priority: 0,
                cancel: true,
            });
        }
    }
}

impl State {
    /// Marks that `peer` has work; returns whether the service must spawn its writer.
    fn wake_writer(&mut self, peer: PeerId) -> bool {
        let state = self.peers.entry(peer).or_insert_with(PeerState::new);
        if state.writer {
            state.notify.notify_one();
            false
        } else {
            state.writer = true;
            self.to_spawn.push(peer);
            true
        }
    }

    /// [`State::wake_writer`] for each of `peers`; whether any writer must be spawned.
    fn wake_writers(&mut self, peers: Vec<PeerId>) -> bool {
        peers
            .into_iter()
            .fold(false, |spawn, peer| self.wake_writer(peer) | spawn)
    }

    fn remove_idle_peer(&mut self, peer: &PeerId) {
        if let Some(state) = self.peers.get(peer) {
            if !state.writer && state.inbound_streams == 0 && !state.has_work() {
                self.peers.remove(peer);
            }
        }
    }

    /// Records that `peer` lacks `cid`; when every asked peer does, fails the want.
    fn dont_have(&mut self, peer: &PeerId, cid: &Cid) {
        let Some(want) = self.wants.get_mut(cid) else {
            return;
        };
        let Some(asked) = want.asked.get_mut(peer) else {
            return;
        };
        asked.dont_have = true;
        if want.asked.values().all(|a| a.dont_have) {
            if let Some(want) = self.wants.remove(cid) {
                let peers = want.asked.len();
                for (_, waiter) in want.waiters {
                    let _ = waiter.send(Err(peers));
                }
            }
        }
    }
}

impl Shared {
    pub(crate) fn new(store: Arc<dyn Blockstore>, config: BitswapConfig) -> Self {
        Self {
            store,
            config,
            counters: Counters::default(),
            wake_service: Notify::new(),
            state: Mutex::new(State {
                closed: false,
                wants: HashMap::new(),
                peers: HashMap::new(),
                to_spawn: Vec::new(),
                inbound_streams: 0,
                next_waiter: 0,
                next_priority: i32::MAX,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ---- inbound messages ----

    /// Applies one message from `peer`.
    pub(crate) fn handle_message(&self, peer: &PeerId, message: Message) {
        if let Some(wantlist) = message.wantlist {
            self.on_wantlist(peer, wantlist);
        }
        for payload in message.payload {
            self.on_payload(peer, &payload.prefix, payload.data);
        }
        // Bitswap 1.0.0 blocks: CIDv0, that is dag-pb and sha2-256.
        for data in message.blocks {
            self.on_payload(peer, &[0, 0x70, 0x12, 32], data);
        }
        for presence in message.block_presences {
            if presence.r#type != wire::PRESENCE_DONT_HAVE {
                continue; // we only send want-block; a Have tells us nothing we use
            }
            if let Ok(cid) = Cid::try_from(presence.cid.as_ref()) {
                self.lock().dont_have(peer, &cid);
            }
        }
    }

    fn on_payload(&self, peer: &PeerId, prefix: &[u8], data: Bytes) {
        if data.len() > MAX_BLOCK_SIZE {
            tracing::debug!(%peer, size = data.len(), "dropping an oversized block");
            self.reject_block(peer);
            return;
        }
        match cid_from_prefix(prefix, &data) {
            Ok(cid) => self.on_block(peer, Block::trusted(cid, data)),
            Err(reason) => {
                tracing::debug!(%peer, %reason, "dropping a block with an unusable CID prefix");
                self.reject_block(peer);
            }
        }
    }

    fn on_wantlist(&self, peer: &PeerId, wantlist: Wantlist) {
        let max_entries = self.config.max_entries_per_message;
        let max_wants = self.config.max_peer_wants;
        let entries = wantlist.entries.len();
        let mut ignored = entries.saturating_sub(max_entries) as u64;
        let spawn = {
            let mut state = self.lock();
            let peer_state = state.peers.entry(*peer).or_insert_with(PeerState::new);
            if wantlist.full {
                peer_state.requests.clear();
                peer_state.index.clear();
            }
            for entry in wantlist.entries.into_iter().take(max_entries) {
                let Ok(cid) = Cid::try_from(entry.block.as_ref()) else {
                    ignored += 1;
                    continue;
                };
                if entry.cancel {
                    peer_state.remove_request(&cid);
                    continue;
                }
                let request = Request {
                    cid,
                    have_only: entry.want_type == wire::WANT_HAVE,
                    send_dont_have: entry.send_dont_have,
                };
                if peer_state.index.contains_key(&cid) {
                    peer_state.remove_request(&cid);
                } else if peer_state.requests.len() >= max_wants {
                    ignored += 1;
                    continue;
                }
                let key = (Reverse(entry.priority), peer_state.seq);
                peer_state.seq += 1;
                peer_state.requests.insert(key, request);
                peer_state.index.insert(cid, key);
            }
            let pending = peer_state.requests.len() as u64;
            self.counters
                .peak_peer_wants
                .fetch_max(pending, Ordering::Relaxed);
            pending > 0 && state.wake_writer(*peer)
        };
        if ignored > 0 {
            tracing::debug!(%peer, ignored, "ignoring want entries over the limits");
            Counters::add(&self.counters.wants_ignored, ignored);
        }
        if spawn {
            self.wake_service.notify_one();
        }
    }

    /// Admits an inbound stream from `peer` if under the limits.
    pub(crate) fn inbound_opened(&self, peer: &PeerId) -> bool {
        let mut state = self.lock();
        if state.closed || state.inbound_streams >= self.config.max_inbound_streams {
            return false;
        }
        let peer_state = state.peers.entry(*peer).or_insert_with(PeerState::new);
        if peer_state.inbound_streams >= self.config.max_inbound_streams_per_peer {
            return false;
        }
        peer_state.inbound_streams += 1;
        state.inbound_streams += 1;
        true
    }

    pub(crate) fn inbound_closed(&self, peer: &PeerId) {
        let mut state = self.lock();
        state.inbound_streams = state.inbound_streams.saturating_sub(1);
        if let Some(peer_state) = state.peers.get_mut(peer) {
            peer_state.inbound_streams = peer_state.inbound_streams.saturating_sub(1);
        }
        state.remove_idle_peer(peer);
    }

    // ---- writers ----

    /// Peers whose writer the service must spawn.
    pub(crate) fn take_to_spawn(&self) -> Vec<PeerId> {
        std::mem::take(&mut self.lock().to_spawn)
    }

    /// The writer's wake-up and whether it has work now.
    pub(crate) fn writer_status(&self, peer: &PeerId) -> (Arc<Notify>, bool) {
        let mut state = self.lock();
        let peer_state = state.peers.entry(*peer).or_insert_with(PeerState::new);
        (peer_state.notify.clone(), peer_state.has_work())
    }

    /// Ends an idle writer unless work arrived meanwhile; returns whether it ended.
    pub(crate) fn writer_idle(&self, peer: &PeerId) -> bool {
        let mut state = self.lock();
        let Some(peer_state) = state.peers.get_mut(peer) else {
            return true;
        };
        if peer_state.has_work() {
            return false;
        }
        peer_state.writer = false;
        state.remove_idle_peer(peer);
        true
    }

    /// The writer cannot reach `peer`: drop what it wanted from us and count the peer as
    /// lacking everything we asked it for.
    pub(crate) fn writer_failed(&self, peer: &PeerId) {
        let mut state = self.lock();
        if let Some(peer_state) = state.peers.get_mut(peer) {
            peer_state.requests.clear();
            peer_state.index.clear();
            peer_state.outbox.clear();
            peer_state.writer = false;
        }
        let asked: Vec<Cid> = state
            .wants
            .iter()
            .filter(|(_, want)| want.asked.get(peer).is_some_and(|a| !a.dont_have))
            .map(|(cid, _)| *cid)
            .collect();
        for cid in asked {
            state.dont_have(peer, &cid);
        }
        state.remove_idle_peer(peer);
    }

    /// Takes up to `max` of our entries for `peer`.
    pub(crate) fn take_outbox(&self, peer: &PeerId, max: usize) -> Vec<OutEntry> {
        let mut state = self.lock();
        let Some(peer_state) = state.peers.get_mut(peer) else {
            return Vec::new();
        };
        let n = peer_state.outbox.len().min(max);
        peer_state.outbox.drain(..n).collect()
    }

    /// The first request of `peer` to serve, left in the queue.
    pub(crate) fn peek_request(&self, peer: &PeerId) -> Option<(RequestKey, Request)> {
        let state = self.lock();
        let peer_state = state.peers.get(peer)?;
        peer_state
            .requests
            .first_key_value()
            .map(|(key, request)| (*key, *request))
    }

    /// Removes a request being served; false if the peer cancelled it meanwhile.
    pub(crate) fn take_request(&self, peer: &PeerId, key: &RequestKey) -> bool {
        let mut state = self.lock();
        let Some(peer_state) = state.peers.get_mut(peer) else {
            return false;
        };
        match peer_state.requests.remove(key) {
            Some(request) => {
                peer_state.index.remove(&request.cid);
                true
            }
            None => false,
        }
    }

    // ---- service ----

    /// The service stopped: fail every `get` and forget every peer.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.wants.clear(); // dropping the senders ends the waiting gets
        state.peers.clear();
        state.to_spawn.clear();
    }

    pub(crate) fn stats(&self) -> BitswapStats {
        let (peer_wants, pending_gets, peers) = {
            let state = self.lock();
            let peer_wants = state.peers.values().map(|p| p.requests.len() as u64).sum();
            (
                peer_wants,
                state.wants.len() as u64,
                state.peers.len() as u64,
            )
        };
        let c = &self.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        BitswapStats {
            blocks_sent: load(&c.blocks_sent),
            bytes_sent: load(&c.bytes_sent),
            blocks_received: load(&c.blocks_received),
            bytes_received: load(&c.bytes_received),
            blocks_rejected: load(&c.blocks_rejected),
            messages_dropped: load(&c.messages_dropped),
            wants_ignored: load(&c.wants_ignored),
            streams_refused: load(&c.streams_refused),
            peer_wants,
            peak_peer_wants: load(&c.peak_peer_wants),
            pending_gets,
            peers,
        }
    }

    pub(crate) fn peer_stats(&self, peer: &PeerId) -> Option<PeerStats> {
        let state = self.lock();
        state.peers.get(peer).map(|p| PeerStats {
            pending_wants: p.requests.len(),
            rejected_blocks: p.rejected_blocks,
            inbound_streams: p.inbound_streams,
        })
    }
}

#[cfg(test)]
mod tests;
