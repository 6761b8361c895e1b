//! Paying a job's workers from its escrow (the rules are `pictor_protocol::credits`): a
//! committee member hears of each shard its committee accepted; the job's payer (the
//! first leader of its committee, [`rules::job_leader`] at 0) votes for the payment of
//! one accepted shard at a time, at the escrow's next sequence, and gossips that vote as
//! its proposal; every other member votes for the same order once it has checked it
//! against what it saw itself (the shard accepted, for that worker, at the worker's
//! price); the payer gathers more than two thirds of the committee into a certificate.
//! When every shard of the job is paid the payer proposes the refund of the rest.
//!
//! One payer per job means two orders never compete for one sequence (which would lock
//! the votes of that sequence for good). While the payer is down its job's payments wait;
//! a payer gone for good misses its heartbeats, and the checker set moves the job to a new
//! committee (an escrow with payments due keeps a finished job's committee on the hook:
//! `CheckerInput::Funding`'s `payments_due`), whose own first leader pays from then on.

use std::collections::BTreeMap;

use pictor_protocol::{
    credits::{
        pay_rate, shard_price, AppliedEscrow, CreditError, CreditMessage, EscrowAction,
        EscrowCertificate, EscrowId, EscrowOrder,
    },
    rules, JobId, JobSpec, PublicKey, ShardId,
};
use tracing::{debug, info, warn};

use super::{in_flight, Credits, CreditsOutput, RESEND_MS};

/// Jobs whose payments a member follows at once (the oldest is dropped past it).
pub(super) const MAX_PAY_JOBS: usize = 10_000;
/// Workers whose price is remembered.
pub(super) const MAX_PRICES: usize = 100_000;
/// Accepted shards waiting for their payment, per job.
pub(super) const MAX_ACCEPTED_PER_JOB: usize = 100_000;
/// How often a payer with nothing to propose for an unfinished escrow (or a member asked
/// to vote for a shard it has not seen accepted) asks peers for the job's certificates.
pub(super) const SYNC_MS: u64 = 5_000;

/// A job this node's committee pays.
#[derive(Debug)]
pub(super) struct PayJob {
    pub(super) escrow: EscrowId,
    pub(super) spec: JobSpec,
    /// The committee that holds the job now, sorted.
    pub(super) committee: Vec<PublicKey>,
    pub(super) payer: Option<PublicKey>,
    /// Shards accepted and not yet paid, with the worker whose claim was accepted.
    pub(super) accepted: BTreeMap<ShardId, PublicKey>,
    /// Why its payments are stopped, once said.
    pub(super) stalled: Option<String>,
    /// When this node last asked peers for the job's certificates.
    pub(super) synced_ms: u64,
    /// The escrow's certificates, by sequence, for a payer that missed some (it was down
    /// when they came), and when one was last gossiped again for it.
    pub(super) certs: BTreeMap<u64, EscrowCertificate>,
    pub(super) resent_ms: u64,
}

/// Where a job stands with its escrow, as this node sees it: the committee's leader gives
/// out its shards by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Funding {
    /// No escrow: nobody pays for it, so only workers that ask nothing render it.
    Free,
    /// Its escrow pays for what is accepted.
    Funded,
    /// Its budget is out: `remaining` credits do not cover the `needed` of the next
    /// accepted shard. No new shard is given out until its creator adds credits.
    Paused { remaining: u64, needed: u64 },
    /// Its creator cancelled it, or its escrow is refunded: no new shard is given out.
    Closed,
}

/// What this node was paid by a job's escrow (as a worker and in checker fees).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Earned {
    /// Paid for its accepted shards.
    pub shards: u64,
    /// Paid in checker fees.
    pub fees: u64,
}

impl Credits {
    /// This node's committee accepted `shard` of `spec`, rendered by `worker`: it is paid
    /// from the job's escrow (if the job has one).
    pub(super) fn on_accepted(
        &mut self,
        spec: JobSpec,
        shard: ShardId,
        worker: PublicKey,
        committee: Vec<PublicKey>,
    ) {
        let Some(entry) = self.track(spec, committee) else {
            return;
        };
        let escrow = entry.escrow;
        let paid = self
            .ledger
            .escrow(&escrow)
            .is_some_and(|e| e.is_paid(&shard));
        if let Some(entry) = self.pay_jobs.get_mut(&escrow.job) {
            if !paid && entry.accepted.len() < MAX_ACCEPTED_PER_JOB {
                entry.accepted.insert(shard, worker);
            }
        }
    }

    /// Follows the escrow of `spec`, held by `committee` now (its payer the committee's
    /// first leader).
    pub(super) fn track(&mut self, spec: JobSpec, committee: Vec<PublicKey>) -> Option<&PayJob> {
        let job = spec.id();
        if !self.pay_jobs.contains_key(&job) && self.pay_jobs.len() >= MAX_PAY_JOBS {
            let oldest = self.pay_jobs.keys().next().copied()?;
            self.pay_jobs.remove(&oldest);
        }
        let payer = rules::job_leader(&committee, 0);
        let mut sorted = committee;
        sorted.sort_unstable();
        sorted.dedup();
        let entry = self.pay_jobs.entry(job).or_insert_with(|| PayJob {
            escrow: EscrowId {
                job,
                creator: spec.creator,
            },
            spec,
            committee: Vec::new(),
            payer,
            accepted: BTreeMap::new(),
            stalled: None,
            synced_ms: 0,
            certs: BTreeMap::new(),
            resent_ms: 0,
        });
        entry.committee = sorted;
        entry.payer = payer;
        Some(entry)
    }

    /// A worker's price, from its newest capability record.
    pub(super) fn on_price(&mut self, worker: PublicKey, price: u64, issued_ms: u64) {
        let newer = self
            .prices
            .get(&worker)
            .is_none_or(|(_, at)| issued_ms >= *at);
        if newer && (self.prices.contains_key(&worker) || self.prices.len() < MAX_PRICES) {
            self.prices.insert(worker, (price, issued_ms));
        }
    }

    /// The payment this node owes for `shard` of `pay`'s job, rendered by `worker`: the
    /// worker's price for it (never above the job's cap: `pay_rate`) and the committee's
    /// fee (`None` while the worker's price is not known here).
    pub(super) fn payment(
        &self,
        pay: &PayJob,
        shard: &ShardId,
        worker: &PublicKey,
    ) -> Option<EscrowAction> {
        let (price, _) = self.prices.get(worker)?;
        let worker_amount = shard_price(&pay.spec, shard, pay_rate(*price, &pay.spec)).ok()?;
        Some(EscrowAction::PayShard {
            shard: *shard,
            worker: *worker,
            worker_amount,
            checker_fee: self.checker_fee,
        })
    }

    /// The order this node proposes at `job`'s escrow's next sequence, as its payer: the
    /// payment of its first accepted, unpaid shard whose worker's price it knows, or the
    /// refund once every shard of the job is paid. `None`: nothing to pay now (or no
    /// escrow).
    pub(super) fn expected(&self, job: &JobId) -> Option<EscrowOrder> {
        let pay = self.pay_jobs.get(job)?;
        let escrow = self.ledger.escrow(&pay.escrow)?;
        if escrow.is_closed() || !pay.committee.contains(&self.me) {
            return None;
        }
        let sequence = escrow.next_sequence();
        let action = if self.refund_due(pay, escrow) {
            EscrowAction::Refund
        } else {
            pay.accepted
                .iter()
                .filter(|(s, _)| !escrow.is_paid(s))
                .find_map(|(shard, worker)| self.payment(pay, shard, worker))?
        };
        Some(EscrowOrder::new(
            pay.escrow,
            sequence,
            &pay.committee,
            action,
        ))
    }

    /// Whether `pay`'s escrow is refunded now: every shard of the job is paid, or its
    /// creator cancelled the job, no shard given out before the cancel is still in a
    /// worker's hands (this node's checker says so: [`super::CreditsInput::Settled`]), and
    /// every shard accepted is paid. A shard that lands after the cancel is paid too.
    pub(super) fn refund_due(
        &self,
        pay: &PayJob,
        escrow: &pictor_protocol::credits::Escrow,
    ) -> bool {
        let all_paid = escrow.paid_shards().count() as u64 == pay.spec.shard_count();
        let cancelled = self.closing.get(&pay.escrow) == Some(&true)
            && pay.accepted.keys().all(|s| escrow.is_paid(s));
        all_paid || cancelled
    }

    /// Cancelled jobs whose shards this node's checker has not yet seen all decided or
    /// timed out (see [`super::CreditsInput::Settled`]).
    pub fn unsettled_cancels(&self) -> Vec<JobId> {
        self.closing
            .iter()
            .filter(|(_, settled)| !**settled)
            .map(|(e, _)| e.job)
            .collect()
    }

    /// Whether `job` (by `creator`) has an escrow still to pay from or refund: until it is
    /// closed, its committee is not done with it.
    pub fn payments_due(&self, job: &JobId, creator: &PublicKey) -> bool {
        let id = EscrowId {
            job: *job,
            creator: *creator,
        };
        self.ledger.escrow(&id).is_some_and(|e| !e.is_closed())
    }

    /// Where `job` (by `creator`) stands with its escrow.
    pub fn funding(&self, job: &JobId, creator: &PublicKey) -> Funding {
        let id = EscrowId {
            job: *job,
            creator: *creator,
        };
        let Some(escrow) = self.ledger.escrow(&id) else {
            return Funding::Free;
        };
        if escrow.is_closed() || self.closing.contains_key(&id) {
            return Funding::Closed;
        }
        let Some(pay) = self.pay_jobs.get(job) else {
            return Funding::Funded;
        };
        // The accepted shards waiting for their payment, in the order they are paid: the
        // budget must cover them all before anything new is given out.
        let mut needed: u64 = 0;
        for (shard, worker) in pay.accepted.iter().filter(|(s, _)| !escrow.is_paid(s)) {
            let Some((price, _)) = self.prices.get(worker) else {
                continue;
            };
            let cost = shard_price(&pay.spec, shard, pay_rate(*price, &pay.spec))
                .unwrap_or(u64::MAX)
                .saturating_add(self.checker_fee);
            needed = needed.saturating_add(cost);
            if needed > escrow.remaining() {
                return Funding::Paused {
                    remaining: escrow.remaining(),
                    needed: cost,
                };
            }
        }
        Funding::Funded
    }

    /// The credits a committee earns per accepted shard.
    pub fn checker_fee(&self) -> u64 {
        self.checker_fee
    }

    /// As the payer of its jobs: proposes the next order of every escrow with none in
    /// flight.
    pub(super) fn pay_next(&mut self, now_ms: u64, out: &mut Vec<CreditsOutput>) {
        let mine: Vec<JobId> = self
            .pay_jobs
            .iter()
            .filter(|(_, p)| p.payer == Some(self.me))
            .map(|(j, _)| *j)
            .collect();
        for job in mine {
            let Some(pay) = self.pay_jobs.get(&job) else {
                continue;
            };
            let next = self.ledger.escrow(&pay.escrow).map(|e| e.next_sequence());
            let escrow = pay.escrow;
            let committee = pay.committee.clone();
            match self.proposals.get(&escrow) {
                Some(p) if next.is_some_and(|n| p.order.sequence >= n) => continue,
                Some(_) => {
                    self.proposals.remove(&escrow);
                }
                None => {}
            }
            let locked = next.and_then(|n| self.locked_order(&escrow, n, &committee));
            let Some(order) = locked.or_else(|| self.expected(&job)) else {
                continue;
            };
            match self.ledger.vote_escrow(&self.keypair, &order, &committee) {
                Ok(vote) => {
                    debug!(job = %job.short(), sequence = order.sequence, "escrow order proposed");
                    if let Some(p) = self.pay_jobs.get_mut(&job) {
                        p.stalled = None;
                    }
                    let mut flight = in_flight(order, now_ms, None);
                    flight.votes.insert(self.me, vote.clone());
                    self.proposals.insert(escrow, flight);
                    self.voted(vote.clone());
                    out.push(CreditsOutput::Publish(CreditMessage::EscrowVote(vote)));
                    self.try_certify_escrow(&escrow, out);
                }
                Err(e) => self.stalled(&job, &e),
            }
        }
    }

    pub(super) fn stalled(&mut self, job: &JobId, e: &CreditError) {
        let Some(pay) = self.pay_jobs.get_mut(job) else {
            return;
        };
        let why = match e {
            CreditError::BudgetExhausted {
                remaining, needed, ..
            } => format!(
                "job {}'s budget is out: {remaining} credits left, the next accepted shard \
                 costs {needed}; its creator adds more with `pictor fund {} AMOUNT`",
                job.short(),
                job
            ),
            other => format!("job {}'s payments wait: {other}", job.short()),
        };
        if pay.stalled.as_deref() != Some(why.as_str()) {
            warn!("{why}");
            pay.stalled = Some(why);
        }
    }

    pub(super) fn try_certify_escrow(&mut self, escrow: &EscrowId, out: &mut Vec<CreditsOutput>) {
        let Some(p) = self.proposals.get(escrow) else {
            return;
        };
        if p.votes.len() < rules::quorum_threshold(p.order.committee.len()) {
            return;
        }
        match EscrowCertificate::assemble(self.ledger.network(), p.order.clone(), p.votes.values())
        {
            Ok(cert) => {
                out.push(CreditsOutput::Publish(CreditMessage::EscrowCertificate(
                    cert.clone(),
                )));
                self.apply(CreditMessage::EscrowCertificate(cert), out);
            }
            Err(e) => debug!(error = %e, "escrow votes do not make a certificate yet"),
        }
    }

    /// Resends the payer's proposals that wait for votes.
    pub(super) fn resend_proposals(&mut self, now_ms: u64, out: &mut Vec<CreditsOutput>) {
        for p in self.proposals.values_mut() {
            if now_ms >= p.sent_ms + RESEND_MS {
                p.sent_ms = now_ms;
                if let Some(vote) = p.votes.get(&self.me) {
                    out.push(CreditsOutput::Publish(CreditMessage::EscrowVote(
                        vote.clone(),
                    )));
                }
            }
        }
    }

    /// An escrow certificate applied: what it paid this node, and its proposal settled.
    pub(super) fn escrow_settled(&mut self, cert: &EscrowCertificate, applied: &AppliedEscrow) {
        let escrow = cert.order.escrow;
        if self
            .proposals
            .get(&escrow)
            .is_some_and(|p| p.order == cert.order)
        {
            self.proposals.remove(&escrow);
        }
        if let Some(pay) = self.pay_jobs.get_mut(&escrow.job) {
            if pay.certs.len() < MAX_ACCEPTED_PER_JOB {
                pay.certs.insert(cert.order.sequence, cert.clone());
            }
        }
        match applied {
            AppliedEscrow::Paid {
                shard,
                worker,
                worker_amount,
                fees,
                ..
            } => {
                if let Some(pay) = self.pay_jobs.get_mut(&escrow.job) {
                    pay.accepted.remove(shard);
                }
                let fee: u64 = fees
                    .iter()
                    .filter(|(k, _)| *k == self.me)
                    .map(|(_, a)| *a)
                    .sum();
                if *worker == self.me || fee > 0 {
                    let earned = self.earned.entry(escrow.job).or_default();
                    if *worker == self.me {
                        earned.shards = earned.shards.saturating_add(*worker_amount);
                    }
                    earned.fees = earned.fees.saturating_add(fee);
                }
            }
            AppliedEscrow::Refunded { creator, amount } => {
                info!(job = %escrow.job.short(), creator = %creator.short(), amount, "job escrow refunded");
                self.pay_jobs.remove(&escrow.job);
            }
            _ => {}
        }
    }

    /// What this node earned, job by job (the jobs it still keeps).
    pub fn earnings(&self) -> impl Iterator<Item = (JobId, Earned)> + '_ {
        self.earned.iter().map(|(j, e)| (*j, *e))
    }

    /// What this node earned from `job`'s escrow.
    pub fn earned(&self, job: &JobId) -> Earned {
        self.earned.get(job).copied().unwrap_or_default()
    }

    /// A job is pruned: what this node followed of it is dropped.
    pub(super) fn forget(&mut self, job: &JobId) {
        self.pay_jobs.remove(job);
        self.earned.remove(job);
        self.waiting.retain(|e, _| e.job != *job);
        self.closing.retain(|e, _| e.job != *job);
        self.locked.retain(|e, _| e.job != *job);
        self.proposals.retain(|e, _| e.job != *job);
    }
}
