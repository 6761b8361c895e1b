//! Votes and certificates: one [`VoteCollector`] per claim (the quorum rule and the
//! equivocation check live in the protocol crate), attestations held until their job
//! arrives, who publishes a certificate and when, and what a certificate decides.

use pictor_protocol::{
    rules, Attestation, ClaimId, Collected, EnvelopeProof, Message, QuorumCertificate, Verdict,
    VoteCollector,
};

use super::{Checker, CheckerOutput};

/// Collectors of certified claims kept for the votes that come late, the most recent
/// first: a late vote that contradicts its author's earlier one is equivocation all the
/// same (about 1 KiB each with committees of four).
const MAX_CLOSED: usize = 10_000;

/// The collectors of certified claims, oldest evicted first.
#[derive(Debug, Default)]
pub(super) struct Closed {
    collectors: std::collections::BTreeMap<ClaimId, VoteCollector>,
    order: std::collections::VecDeque<ClaimId>,
}

impl Closed {
    fn insert(&mut self, claim: ClaimId, collector: VoteCollector) {
        if self.collectors.insert(claim, collector).is_none() {
            self.order.push_back(claim);
        }
        while self.order.len() > MAX_CLOSED {
            if let Some(old) = self.order.pop_front() {
                self.collectors.remove(&old);
            }
        }
    }

    /// Counts a late vote on a certified claim: the evidence, if it contradicts its
    /// author's earlier vote.
    fn late_vote(&mut self, a: &Attestation) -> Option<Box<pictor_protocol::Evidence>> {
        match self.collectors.get_mut(&a.vote.claim)?.add_verified(a) {
            Ok(Collected::Equivocation(evidence)) => Some(evidence),
            _ => None,
        }
    }

    /// Forgets the collectors of `job`.
    pub(super) fn forget(&mut self, job: &pictor_protocol::JobId) {
        self.collectors.retain(|_, c| c.job() != Some(*job));
        let collectors = &self.collectors;
        self.order.retain(|claim| collectors.contains_key(claim));
    }
}

/// Claims with votes and no certificate yet (a collector holds at most one vote per
/// committee member: about 100 000 votes with committees of four).
const MAX_COLLECTORS: usize = 25_000;
/// How long a committee member waits for the leader's certificate before publishing its own.
const CERTIFICATE_GRACE_MS: u64 = 1_000;

impl Checker {
    pub(super) fn on_attestation(
        &mut self,
        now_ms: u64,
        a: Attestation,
        proof: Option<EnvelopeProof>,
        out: &mut Vec<CheckerOutput>,
    ) {
        let claim = a.vote.claim;
        if let Some(&(_, verdict)) = self.certified.get(&claim) {
            // A late vote that contradicts its author's earlier vote is equivocation.
            if let Some(evidence) = self.closed.late_vote(&a) {
                return self.on_equivocation(now_ms, evidence, out);
            }
            // A vote that arrives after the certificate and contradicts it is checked as
            // any dissent is (a lazy checker's late vote included).
            let member = self
                .jobs
                .get(&a.vote.shard.job)
                .is_some_and(|j| j.committee.contains(&a.checker));
            if member && a.vote.verdict != verdict && !self.ledger.is_banned(&a.checker) {
                self.recheck_late(a, proof, out);
            }
            return;
        }
        let Some(job) = self.jobs.get(&a.vote.shard.job) else {
            // Gossip is unordered: without its job the committee is unknown, so the vote
            // waits for the job (`on_job` feeds it back here).
            return self.hold_vote(a, proof);
        };
        if !job.committee.contains(&a.checker) || self.ledger.is_banned(&a.checker) {
            return;
        }
        if let Some(rect) = job.spec.tile_rect(a.vote.shard.tile) {
            let positions = if job.spec.engine.is_bit_exact() {
                a.check_samples(rect.w, rect.h, job.samples)
            } else {
                a.check_regions(rect.w, rect.h, job.samples, rules::REGION_SIDE)
            };
            if positions.is_err() {
                return;
            }
        }
        if !self.collectors.contains_key(&claim) && self.collectors.len() >= MAX_COLLECTORS {
            return;
        }
        let network = &self.params.network;
        let collector = self
            .collectors
            .entry(claim)
            .or_insert_with(|| VoteCollector::new(network, claim, &job.committee));
        // The node's validator verified the attestation's signatures and verdict before
        // it reached the checker: one verification per node.
        let Ok(collected) = collector.add_verified(&a) else {
            return;
        };
        match collected {
            Collected::Certified(qc) => {
                self.hold_attestation(&a, proof, out);
                self.on_quorum(now_ms, qc, out)
            }
            Collected::Pending => self.hold_attestation(&a, proof, out),
            Collected::Equivocation(evidence) => self.on_equivocation(now_ms, evidence, out),
            // A duplicate: nothing to do.
            _ => {}
        }
    }

    /// The second vote is not counted; the evidence goes out for everyone to see, and bans
    /// the checker here at once.
    fn on_equivocation(
        &mut self,
        now_ms: u64,
        evidence: Box<pictor_protocol::Evidence>,
        out: &mut Vec<CheckerOutput>,
    ) {
        out.push(CheckerOutput::Publish(Message::Evidence(
            (*evidence).clone(),
        )));
        self.on_evidence(now_ms, (*evidence).clone(), out);
        out.push(CheckerOutput::Equivocation(evidence));
    }

    /// A quorum this checker reached itself. Every member reaches it from the same
    /// attestations; one certificate on the wire is enough. The job's leader publishes it at
    /// once, the others only if none has been seen after a grace period (the leader may be
    /// gone).
    pub(super) fn on_quorum(
        &mut self,
        now_ms: u64,
        qc: QuorumCertificate,
        out: &mut Vec<CheckerOutput>,
    ) {
        let leader = self
            .jobs
            .get(&qc.vote.shard.job)
            .and_then(|job| rules::job_leader(&job.committee, job.leader_epoch));
        let publish_now = leader == Some(self.me);
        if publish_now {
            out.push(CheckerOutput::Publish(Message::Certificate(qc.clone())));
        }
        let claim = qc.vote.claim;
        self.on_certificate(now_ms, qc.clone(), out);
        if !publish_now {
            self.unpublished
                .insert(claim, (qc, now_ms + CERTIFICATE_GRACE_MS));
        }
    }

    /// Publishes the certificates whose leader stayed silent past the grace period.
    pub(super) fn publish_overdue_certificates(
        &mut self,
        now_ms: u64,
        out: &mut Vec<CheckerOutput>,
    ) {
        let overdue: Vec<ClaimId> = self
            .unpublished
            .iter()
            .filter(|(_, (_, due))| now_ms >= *due)
            .map(|(claim, _)| *claim)
            .collect();
        for claim in overdue {
            if let Some((qc, _)) = self.unpublished.remove(&claim) {
                out.push(CheckerOutput::Publish(Message::Certificate(qc)));
            }
        }
    }

    pub(super) fn on_certificate(
        &mut self,
        now_ms: u64,
        qc: QuorumCertificate,
        out: &mut Vec<CheckerOutput>,
    ) {
        let claim = qc.vote.claim;
        // A certificate for this claim is on the wire: ours need not be.
        self.unpublished.remove(&claim);
        if self.certified.contains_key(&claim) {
            return;
        }
        if !self.jobs.contains_key(&qc.vote.shard.job) {
            return;
        }
        self.certified
            .insert(claim, (qc.vote.shard.job, qc.vote.verdict));
        // Kept for the votes that come late: two of them that contradict each other are
        // equivocation all the same. A certificate may arrive before any vote it holds
        // (gossip topics are not ordered): its claim gets a collector of its own then.
        let collector = self.collectors.remove(&claim).or_else(|| {
            let job = self.jobs.get(&qc.vote.shard.job)?;
            Some(VoteCollector::new(
                &self.params.network,
                claim,
                &job.committee,
            ))
        });
        if let Some(collector) = collector {
            self.closed.insert(claim, collector);
        }
        self.check_dissenters(&qc, out);
        let floor = rules::first_attempt(self.ledger.generation(&qc.vote.shard.job));
        let Some(job) = self.jobs.get_mut(&qc.vote.shard.job) else {
            return;
        };
        let Some(shard) = job.shards.get_mut(&qc.vote.shard) else {
            return;
        };
        job.last_progress_ms = now_ms;
        // The certificate names the claim's worker and attempt: never guess them from the
        // shard's current assignment, which may already belong to the next worker.
        let rejected = Some((qc.vote.worker, qc.vote.attempt));
        // A lazy checker attests every claim it was handed, late or not (a vote is what
        // it is paid for), so its late false vote is there to be caught.
        if self.params.behaviour != super::Behaviour::Lazy {
            self.claims.remove(&claim);
        }
        if shard.done {
            return;
        }
        match qc.vote.verdict {
            Verdict::Valid => {
                shard.done = true;
                out.push(CheckerOutput::Finalized {
                    shard: qc.vote.shard,
                    claim,
                    worker: qc.vote.worker,
                    verdict: Verdict::Valid,
                });
            }
            Verdict::Invalid => {
                out.push(CheckerOutput::Finalized {
                    shard: qc.vote.shard,
                    claim,
                    worker: qc.vote.worker,
                    verdict: Verdict::Invalid,
                });
                let (worker, attempt) = match rejected {
                    Some((w, a)) => (Some(w), a),
                    None => (None, shard.attempt),
                };
                // The assignment that replaces the rejected one may have arrived first:
                // only a rejection of the current attempt moves the shard on.
                if shard.attempt <= attempt {
                    shard.attempt = rules::next_attempt(attempt).max(floor);
                    shard.assignment = None;
                    shard.claim = None;
                }
                match worker {
                    // Its canary, revealed before this certificate came: no offence.
                    Some(worker) if self.revealed.take(&worker, &qc.vote.shard, attempt) => {
                        let offences = self.workers.get(&worker).map_or(0, |r| r.offences);
                        out.push(CheckerOutput::Forgiven {
                            worker,
                            shard: qc.vote.shard,
                            offences,
                        });
                    }
                    Some(worker) => {
                        shard.failed.insert(worker);
                        job.excluded.insert(worker);
                        // Each rejected claim is an offence; the cool-down doubles with each.
                        let record = self.workers.entry(worker).or_default();
                        let until_ms =
                            now_ms.saturating_add(pictor_protocol::governance::ban_cooldown_ms(
                                self.params.ban_cooldown_ms,
                                record.offences.saturating_add(1),
                            ));
                        record.offend(qc.vote.shard, attempt, until_ms);
                        out.push(CheckerOutput::Banned {
                            worker,
                            until_ms: record.banned_until_ms,
                            offences: record.offences,
                        });
                    }
                    None => {}
                }
                self.assign_all(now_ms, out);
            }
        }
    }
}
