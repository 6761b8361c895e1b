//! Jobs' escrows, the loop's side: a submitted job's budget escrowed before it is
//! published, a cancel closing its escrow, the shards a checker's committee accepted
//! handed to the credits role, the checker told how each job's escrow stands, and a job's
//! progress with its budget.

use pictor_protocol::{credits::CreditMessage, PublicKey};

use super::{EventLoop, Work};
use crate::{
    roles::credits::{CreditsInput, CreditsOutput},
    NodeError,
};

impl EventLoop {
    /// A job's progress with its escrow, where the network keeps credits.
    pub(super) fn with_escrow(&self, mut progress: crate::JobProgress) -> crate::JobProgress {
        if let Some(credits) = &self.credits {
            progress.escrow = crate::wallet::JobEscrow::of(credits.ledger(), progress.id, self.me);
            progress.paused = self.paused_reason(credits, &progress);
        }
        progress
    }

    /// Why a running job of this creator is stopped for want of budget.
    fn paused_reason(
        &self,
        credits: &crate::roles::credits::Credits,
        progress: &crate::JobProgress,
    ) -> Option<String> {
        if progress.state.is_finished() {
            return None;
        }
        match credits.funding(&progress.id, &self.me) {
            crate::roles::credits::Funding::Paused { remaining, needed } => Some(format!(
                "paused: the job's budget is out ({remaining} credits left, the next accepted \
                 shard costs {needed}); no new shard is given out until `pictor fund {} AMOUNT` \
                 adds credits",
                progress.id
            )),
            _ => None,
        }
    }

    /// Whether this node can fund a job's escrow with `budget` (0: no escrow asked).
    pub(super) fn check_budget(&self, budget: u64) -> Result<(), NodeError> {
        if budget == 0 {
            return Ok(());
        }
        let Some(credits) = &self.credits else {
            return Err(NodeError::Credits(
                "this network has no credits: submit the job without a budget".into(),
            ));
        };
        let balance = credits.ledger().balance(&self.me);
        if balance < budget {
            return Err(NodeError::Credits(format!(
                "insufficient balance for the job's budget: {balance} credits, the budget is \
                 {budget} (`pictor faucet` asks the faucet for more)"
            )));
        }
        Ok(())
    }

    /// Moves a submitted job's budget into its escrow; the job is published once the
    /// transfer is certified.
    pub(super) fn fund_escrow(&mut self, job: pictor_protocol::JobId, budget: u64) {
        let reply = self.next_reply();
        self.fundings.insert(reply, job);
        self.queue.push_back(Work::Credits(CreditsInput::Pay {
            to: pictor_protocol::credits::Payee::Escrow(job),
            amount: budget,
            reply,
        }));
    }

    pub(super) fn escrow_funded(
        &mut self,
        job: pictor_protocol::JobId,
        result: Result<crate::roles::credits::Receipt, String>,
    ) {
        match result {
            Ok(receipt) => {
                tracing::info!(job = %job.short(), budget = receipt.amount, "job budget escrowed");
                self.publish_submitted(job);
            }
            Err(why) => {
                if let Some((_, reply)) = self.submits.remove(&job) {
                    let _ = reply.send(Err(NodeError::Credits(format!(
                        "the job's budget was not escrowed, so the job is not published: {why}"
                    ))));
                }
            }
        }
    }

    /// Cancels this creator's job `job` on the network: a job with an open escrow is
    /// closed by its committee, which pays what was accepted and refunds the rest.
    pub(super) fn close_escrow(&mut self, job: pictor_protocol::JobId) {
        let Some(credits) = &self.credits else {
            return;
        };
        if credits.payments_due(&job, &self.me) {
            let close = CreditMessage::EscrowClose(pictor_protocol::credits::EscrowId {
                job,
                creator: self.me,
            });
            self.on_credits_output(CreditsOutput::Publish(close.clone()));
            self.queue
                .push_back(Work::Credits(CreditsInput::Message(close)));
        }
    }

    /// A shard this checker's committee accepted: its worker is paid from the job's
    /// escrow.
    pub(super) fn shard_accepted(&mut self, shard: pictor_protocol::ShardId, worker: PublicKey) {
        if self.credits.is_none() {
            return;
        }
        let Some(spec) = self.jobs.get(&shard.job).cloned() else {
            return;
        };
        let committee = self.ledger.lock().committee(&shard.job);
        self.queue.push_back(Work::Credits(CreditsInput::Accepted {
            spec: Box::new(spec),
            shard,
            worker,
            committee,
        }));
    }

    /// Tells the checker how `job`'s escrow stands, where that changed: its leader gives
    /// out the job's shards by it.
    pub(super) fn tell_funding(&mut self, job: pictor_protocol::JobId) {
        if let Some(work) = self.funding_work(job) {
            self.queue.push_back(work);
        }
    }

    /// The checker's input for `job`'s funding, where it changed since the checker was
    /// last told.
    pub(super) fn funding_work(&mut self, job: pictor_protocol::JobId) -> Option<Work> {
        use crate::roles::{checker::JobFunding, credits::Funding};
        let (Some(credits), Some(spec)) = (&self.credits, self.jobs.get(&job)) else {
            return None;
        };
        let funding = match credits.funding(&job, &spec.creator) {
            Funding::Free => JobFunding::Free,
            Funding::Funded => JobFunding::Funded,
            Funding::Paused { .. } | Funding::Closed => JobFunding::Paused,
        };
        let payments_due = credits.payments_due(&job, &spec.creator);
        let funding = (funding, payments_due);
        if self.funding_told.get(&job) != Some(&funding) {
            if self.funding_told.len() >= crate::jobs::MAX_JOBS
                && !self.funding_told.contains_key(&job)
            {
                self.funding_told.clear();
            }
            self.funding_told.insert(job, funding);
            return Some(Work::Checker(
                crate::roles::checker::CheckerInput::Funding {
                    job,
                    funding: funding.0,
                    payments_due,
                },
            ));
        }
        None
    }
}
