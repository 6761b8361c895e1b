//! A committee member's side of a job's escrow: it votes for the payer's proposal once it
//! has checked it against what it accepted itself, sends a payer that was down the
//! certificates it missed, and asks peers for the job's certificates when it may have
//! missed some itself.

use pictor_protocol::{
    credits::{CreditMessage, EscrowAction, EscrowOrder, EscrowVote},
    JobId,
};
use tracing::debug;

use super::escrow::{MAX_PAY_JOBS, SYNC_MS};
use super::{Credits, CreditsOutput, RESEND_MS};

impl Credits {
    /// Whether this member votes for `order`, the payer's proposal: at the escrow's next
    /// sequence, naming the committee it knows, and either the payment of a shard it
    /// accepted itself for that worker, unpaid, at the amounts it computes (the payer may
    /// have seen the shards accepted in another order), or the refund once every shard is
    /// paid.
    pub(super) fn acceptable(&self, order: &EscrowOrder) -> bool {
        let Some(pay) = self.pay_jobs.get(&order.escrow.job) else {
            return false;
        };
        let Some(escrow) = self.ledger.escrow(&pay.escrow) else {
            return false;
        };
        if pay.escrow != order.escrow
            || escrow.is_closed()
            || escrow.next_sequence() != order.sequence
            || pay.committee != order.committee
            || !pay.committee.contains(&self.me)
        {
            return false;
        }
        match &order.action {
            EscrowAction::PayShard { shard, worker, .. } => {
                !escrow.is_paid(shard)
                    && pay.accepted.get(shard) == Some(worker)
                    && self.payment(pay, shard, worker).as_ref() == Some(&order.action)
            }
            EscrowAction::Refund => self.refund_due(pay, escrow),
        }
    }

    /// A vote on an escrow order: counted where this node proposed it; where it is the
    /// payer's proposal, this member votes for it too once it expects the same order.
    pub(super) fn on_escrow_vote(
        &mut self,
        now_ms: u64,
        vote: EscrowVote,
        out: &mut Vec<CreditsOutput>,
    ) {
        let escrow = vote.order.escrow;
        if let Some(p) = self.proposals.get_mut(&escrow) {
            if p.order == vote.order && vote.order.committee.contains(&vote.checker) {
                p.votes.insert(vote.checker, vote.clone());
                self.try_certify_escrow(&escrow, out);
            }
        }
        let job = escrow.job;
        let from_payer = self
            .pay_jobs
            .get(&job)
            .is_some_and(|p| p.payer == Some(vote.checker));
        if vote.checker == self.me || !from_payer {
            return;
        }
        if self.resend_missed(now_ms, &vote, out) {
            return;
        }
        if self.acceptable(&vote.order) {
            let committee = vote.order.committee.clone();
            match self
                .ledger
                .vote_escrow(&self.keypair, &vote.order, &committee)
            {
                Ok(mine) => {
                    self.voted(mine.clone());
                    out.push(CreditsOutput::Publish(CreditMessage::EscrowVote(mine)))
                }
                Err(e) => debug!(error = %e, "no vote for an escrow order"),
            }
        } else if self.waiting.len() < MAX_PAY_JOBS || self.waiting.contains_key(&escrow) {
            // Not what this member saw (yet): the shard's certificate or the worker's
            // record may still be on its way. Tried again as they come.
            self.waiting.insert(escrow, (vote, now_ms));
        }
    }

    /// Jobs whose certificates this node may have missed: as payer, an unfinished escrow
    /// with nothing to propose; as a member, a proposal for a shard it has not seen
    /// accepted. Asked for at most every few seconds a job.
    pub(super) fn sync_missing(&mut self, now_ms: u64, out: &mut Vec<CreditsOutput>) {
        let mut missing: Vec<JobId> = self
            .waiting
            .values()
            .filter_map(|(vote, _)| match vote.order.action {
                EscrowAction::PayShard { shard, .. } => self
                    .pay_jobs
                    .get(&shard.job)
                    .is_some_and(|p| !p.accepted.contains_key(&shard))
                    .then_some(shard.job),
                EscrowAction::Refund => None,
            })
            .collect();
        for (job, pay) in &self.pay_jobs {
            let idle = pay.payer == Some(self.me)
                && !self.proposals.contains_key(&pay.escrow)
                && self.ledger.escrow(&pay.escrow).is_some_and(|e| {
                    !e.is_closed() && (e.paid_shards().count() as u64) < pay.spec.shard_count()
                })
                && self.expected(job).is_none();
            if idle {
                missing.push(*job);
            }
        }
        for job in missing {
            if let Some(pay) = self.pay_jobs.get_mut(&job) {
                if now_ms >= pay.synced_ms.saturating_add(SYNC_MS) {
                    pay.synced_ms = now_ms;
                    out.push(CreditsOutput::SyncJob(job));
                }
            }
        }
    }

    /// A payer that proposes at a sequence this member has seen certified missed that
    /// certificate (it was down): it is gossiped again for it (at most every few seconds).
    fn resend_missed(
        &mut self,
        now_ms: u64,
        vote: &EscrowVote,
        out: &mut Vec<CreditsOutput>,
    ) -> bool {
        let used = self
            .ledger
            .escrow(&vote.order.escrow)
            .is_some_and(|e| e.next_sequence() > vote.order.sequence);
        if !used {
            return false;
        }
        if let Some(pay) = self.pay_jobs.get_mut(&vote.order.escrow.job) {
            if let Some(cert) = pay.certs.get(&vote.order.sequence) {
                if now_ms >= pay.resent_ms.saturating_add(RESEND_MS) {
                    pay.resent_ms = now_ms;
                    debug!(job = %vote.order.escrow.job.short(), sequence = vote.order.sequence, "escrow certificate sent again for its payer");
                    out.push(CreditsOutput::Publish(CreditMessage::EscrowCertificate(
                        cert.clone(),
                    )));
                }
            }
        }
        true
    }

    /// The payer's proposals this member could not vote for yet, tried again.
    pub(super) fn retry_waiting(&mut self, now_ms: u64, out: &mut Vec<CreditsOutput>) {
        for (_, (vote, _)) in std::mem::take(&mut self.waiting) {
            let used = self
                .ledger
                .escrow(&vote.order.escrow)
                .is_some_and(|e| e.next_sequence() > vote.order.sequence);
            if !used {
                self.on_escrow_vote(now_ms, vote, out);
            }
        }
    }
}
