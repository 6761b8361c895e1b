//! Peers refused: Pictor nodes of another network (told once, then disconnected) and
//! peers caught serving forged history (disconnected and refused for a while).

use libp2p::PeerId;
use tracing::warn;

use super::EventLoop;

/// How long the connections of a peer caught serving forged history are refused.
const DISTRUST_MS: u64 = 10 * 60_000;
/// Distrusted peers remembered at once.
const MAX_DISTRUSTED: usize = 1_024;
/// Pictor nodes of other networks remembered, so that each is told of once.
const MAX_FOREIGN_PEERS: usize = 1_024;
/// How long a foreign peer's connection stays open after identify told this node, so that
/// the other side gets this node's identify too.
const FOREIGN_GRACE_MS: u64 = 2_000;

impl EventLoop {
    /// A Pictor node of another network or protocol version: no peer of this one. The
    /// operator is told once, in one line (a wrong `--network` or bootnode is the usual
    /// cause), and the connection is closed.
    pub(super) fn on_foreign_peer(&mut self, peer: PeerId, why: &str) {
        if self.foreign_peers.len() >= MAX_FOREIGN_PEERS {
            self.foreign_peers.clear();
        }
        if self.foreign_peers.insert(peer) {
            warn!("peer {peer} is not a node of this network: {why}; disconnected (check --network and the bootnodes)");
        }
        // Closed a moment later, so that it learns of this node from identify too (and
        // tells its operator) before the connection goes.
        self.swarm.behaviour_mut().kad.remove_peer(&peer);
        if self.foreign_cuts.len() < MAX_FOREIGN_PEERS
            && !self.foreign_cuts.iter().any(|(p, _)| *p == peer)
        {
            self.foreign_cuts
                .push((peer, crate::now_ms().saturating_add(FOREIGN_GRACE_MS)));
        }
    }

    /// Closes the connections of foreign peers whose grace has run out.
    pub(super) fn cut_foreign(&mut self, now: u64) {
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.foreign_cuts)
            .into_iter()
            .partition(|(_, at)| *at <= now);
        self.foreign_cuts = waiting;
        for (peer, _) in due {
            self.cut_off(peer);
        }
    }

    /// A peer answered with history that is forged (a signature that does not verify,
    /// which no honest node relays): the operator is told in one line, the connection is
    /// closed, and the peer's connections are refused for [`DISTRUST_MS`].
    pub(super) fn distrust(&mut self, peer: PeerId, why: &str) {
        let now = crate::now_ms();
        self.distrusted.retain(|_, until| *until > now);
        if self.distrusted.len() >= MAX_DISTRUSTED {
            self.distrusted.clear();
        }
        if self
            .distrusted
            .insert(peer, now.saturating_add(DISTRUST_MS))
            .is_none()
        {
            warn!(
                "peer {peer} served forged history ({why}): disconnected, its connections refused for {} minutes",
                DISTRUST_MS / 60_000
            );
        }
        self.cut_off(peer);
    }

    /// Closes the connections of `peer` and drops it from the routing table.
    pub(super) fn cut_off(&mut self, peer: PeerId) {
        self.swarm.behaviour_mut().kad.remove_peer(&peer);
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    pub(super) fn is_distrusted(&self, peer: &PeerId) -> bool {
        self.distrusted
            .get(peer)
            .is_some_and(|until| *until > crate::now_ms())
    }
}
