//! Our wants: a `get` registers a waiter and asks peers; a block, a DONT_HAVE from every
//! peer asked, or the `get`'s end settles it.

use std::{collections::HashMap, sync::Arc};

use cid::Cid;
use futures::channel::oneshot;
use libp2p::PeerId;

use super::{Asked, Counters, PeerState, Shared, State, Want, WantOutcome};
use crate::{bitswap::BitswapError, Block};

/// Removes a `get`'s waiter when the `get` ends, however it ends.
pub(crate) struct WaiterGuard {
    shared: Arc<Shared>,
    cid: Cid,
    id: u64,
}

impl Drop for WaiterGuard {
    fn drop(&mut self) {
        self.shared.end_get(&self.cid, self.id);
    }
}

impl Shared {
    // ---- our wants ----

    /// Registers a waiter for `cid` and sends want-block to the peers not yet asked.
    pub(crate) fn begin_get(
        self: &Arc<Self>,
        cid: Cid,
        peers: &[PeerId],
    ) -> Result<(WaiterGuard, oneshot::Receiver<WantOutcome>), BitswapError> {
        let (sender, receiver) = oneshot::channel();
        let (id, spawn) = {
            let mut state = self.lock();
            if state.closed {
                return Err(BitswapError::Shutdown);
            }
            let id = state.next_waiter;
            state.next_waiter += 1;
            let priority = state.next_priority;
            // Earlier wants are served first; start over long before reaching zero.
            state.next_priority = if priority > 1 { priority - 1 } else { i32::MAX };
            let State {
                wants,
                peers: peer_states,
                ..
            } = &mut *state;
            let want = wants.entry(cid).or_insert_with(|| Want {
                waiters: Vec::new(),
                asked: HashMap::new(),
                priority,
            });
            want.waiters.push((id, sender));
            let mut newly_asked = Vec::new();
            for peer in peers {
                if want.asked.contains_key(peer) {
                    continue;
                }
                let peer_state = peer_states.entry(*peer).or_insert_with(PeerState::new);
                peer_state.want(cid, priority);
                want.asked.insert(
                    *peer,
                    Asked {
                        dont_have: false,
                        rejected_before: peer_state.rejected_blocks,
                    },
                );
                newly_asked.push(*peer);
            }
            (id, state.wake_writers(newly_asked))
        };
        if spawn {
            self.wake_service.notify_one();
        }
        let guard = WaiterGuard {
            shared: self.clone(),
            cid,
            id,
        };
        Ok((guard, receiver))
    }

    /// Sends the want for `cid` again to every peer asked that has not said it lacks the
    /// block. A want, or the block that answers it, can be lost with a stream: a peer
    /// drops an inbound stream it cannot take at once (libp2p-stream hands streams over
    /// one at a time), and a write to a stream the peer dropped may still succeed. Peers
    /// answer a want once, so a want not answered in a while is sent again; writing
    /// again also shows the writer a dead stream, which it then opens anew.
    pub(crate) fn resend(&self, cid: &Cid) {
        let spawn = {
            let mut state = self.lock();
            let State {
                wants,
                peers: peer_states,
                ..
            } = &mut *state;
            let Some(want) = wants.get(cid) else {
                return;
            };
            let mut again = Vec::new();
            for (peer, asked) in &want.asked {
                if asked.dont_have {
                    continue;
                }
                peer_states
                    .entry(*peer)
                    .or_insert_with(PeerState::new)
                    .want(*cid, want.priority);
                again.push(*peer);
            }
            state.wake_writers(again)
        };
        if spawn {
            self.wake_service.notify_one();
        }
    }

    /// Peers asked for `cid` and the blocks they sent that we had to drop since.
    pub(crate) fn want_report(&self, cid: &Cid) -> (usize, u64) {
        let state = self.lock();
        let Some(want) = state.wants.get(cid) else {
            return (0, 0);
        };
        let rejected = want
            .asked
            .iter()
            .map(|(peer, asked)| {
                let now = state.peers.get(peer).map_or(0, |p| p.rejected_blocks);
                now.saturating_sub(asked.rejected_before)
            })
            .sum();
        (want.asked.len(), rejected)
    }

    pub(super) fn end_get(&self, cid: &Cid, id: u64) {
        let mut spawn = false;
        {
            let mut state = self.lock();
            let Some(want) = state.wants.get_mut(cid) else {
                return;
            };
            want.waiters.retain(|(waiter, _)| *waiter != id);
            if !want.waiters.is_empty() {
                return;
            }
            let Some(want) = state.wants.remove(cid) else {
                return;
            };
            for (peer, asked) in want.asked {
                if asked.dont_have {
                    continue;
                }
                if let Some(peer_state) = state.peers.get_mut(&peer) {
                    peer_state.cancel(*cid);
                    spawn |= state.wake_writer(peer);
                }
            }
        }
        if spawn {
            self.wake_service.notify_one();
        }
    }

    /// A block arrived from `peer`: deliver and store it if we want it, else drop it.
    pub(super) fn on_block(&self, peer: &PeerId, block: Block) {
        let want = self.lock().wants.remove(block.cid());
        let Some(want) = want else {
            tracing::debug!(%peer, cid = %block.cid(), "dropping a block we did not ask for (or whose data does not match the CID we asked for)");
            self.reject_block(peer);
            return;
        };
        if let Err(e) = self.store.put(&block) {
            tracing::warn!(cid = %block.cid(), error = %e, "could not store a fetched block");
        }
        Counters::add(&self.counters.blocks_received, 1);
        Counters::add(&self.counters.bytes_received, block.data().len() as u64);
        for (_, waiter) in want.waiters {
            let _ = waiter.send(Ok(block.clone()));
        }
        let mut spawn = false;
        {
            let mut state = self.lock();
            for (other, asked) in want.asked {
                if other == *peer || asked.dont_have {
                    continue;
                }
                if let Some(peer_state) = state.peers.get_mut(&other) {
                    peer_state.cancel(*block.cid());
                    spawn |= state.wake_writer(other);
                }
            }
        }
        if spawn {
            self.wake_service.notify_one();
        }
    }

    pub(super) fn reject_block(&self, peer: &PeerId) {
        Counters::add(&self.counters.blocks_rejected, 1);
        if let Some(state) = self.lock().peers.get_mut(peer) {
            state.rejected_blocks += 1;
        }
    }
}
