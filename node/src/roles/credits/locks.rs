//! What this node voted for on each escrow: a vote locks its action at that sequence (see
//! `pictor_protocol::credits`), so whoever becomes the job's payer proposes that action
//! there again (after a restart, or once a move makes a member the payer), never another
//! that its own vote, and those of members locked like it, would refuse.

use pictor_protocol::credits::{EscrowId, EscrowOrder, EscrowVote};
use pictor_protocol::PublicKey;
use tracing::debug;

use super::escrow::MAX_PAY_JOBS;
use super::{in_flight, Credits};

impl Credits {
    /// A stored escrow vote of this node's: its lock taken again; the payer's own
    /// proposal in flight again.
    pub(super) fn restore_escrow_vote(&mut self, now_ms: u64, vote: EscrowVote) {
        if let Err(e) = self.ledger.relock_escrow(&vote) {
            return debug!(error = %e, "stored escrow vote not relocked");
        }
        let escrow = vote.order.escrow;
        let open = self
            .ledger
            .escrow(&escrow)
            .is_none_or(|e| e.next_sequence() <= vote.order.sequence);
        let payer = self
            .pay_jobs
            .get(&escrow.job)
            .is_some_and(|p| p.payer == Some(self.me));
        if open && payer {
            let mut flight = in_flight(vote.order.clone(), now_ms, None);
            flight.votes.insert(self.me, vote.clone());
            self.proposals.insert(escrow, flight);
        }
        if open {
            // Its job is followed again only once its certificates are replayed: as its
            // payer then, this node proposes the action it voted for, whatever shard it
            // would pick first now.
            self.voted(vote);
        }
    }

    /// Remembers this node's newest vote on an escrow: its vote at that sequence is
    /// locked to that action, so as payer (after a restart, or once a move makes it the
    /// payer) it proposes that action there, never another (which would never get its own
    /// vote, and the escrow would stop there).
    pub(super) fn voted(&mut self, vote: EscrowVote) {
        let escrow = vote.order.escrow;
        let newer = self
            .locked
            .get(&escrow)
            .is_none_or(|v| v.order.sequence <= vote.order.sequence);
        if newer && (self.locked.len() < MAX_PAY_JOBS || self.locked.contains_key(&escrow)) {
            self.locked.insert(escrow, vote);
        }
    }

    /// The order this node proposes at `escrow`'s `sequence`, held by `committee`, if that
    /// sequence has an action already (under the committee of now): the one it voted for,
    /// or else the one an earlier payer proposed there (members may be locked to it), if
    /// this node finds it right itself (what it votes for, it has checked).
    pub(super) fn locked_order(
        &mut self,
        escrow: &EscrowId,
        sequence: u64,
        committee: &[PublicKey],
    ) -> Option<EscrowOrder> {
        if self
            .locked
            .get(escrow)
            .is_some_and(|v| v.order.sequence < sequence)
        {
            self.locked.remove(escrow);
        }
        let at = |v: &&EscrowVote| v.order.sequence == sequence;
        let again = |v: &EscrowVote| EscrowOrder::new(*escrow, sequence, committee, v.order.action);
        if let Some(mine) = self.locked.get(escrow).filter(at) {
            return Some(again(mine));
        }
        let (proposed, _) = self.waiting.get(escrow).filter(|(v, _)| at(&v))?;
        Some(again(proposed)).filter(|order| self.acceptable(order))
    }
}
