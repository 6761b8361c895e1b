//! The Node Manager's half for checkers: who of the set is up (heartbeats), moving a job
//! whose committee lost members, co-signing and applying the set's decisions, and acting
//! on equivocation evidence. The rules themselves live in `pictor_protocol::governance`.

use pictor_protocol::{
    rules, Action, Applied, CheckerStatus, DecisionCertificate, DecisionVote, Evidence, Fault,
    JobId, Message, PublicKey, VoteCollector,
};
use tracing::info;

use super::{Checker, CheckerOutput};

/// Governance actions with votes and no certificate yet.
pub(super) const MAX_OPEN_DECISIONS: usize = 1_000;
/// Actions this checker remembers voting for (a vote cast twice is harmless).
const MAX_VOTED: usize = 10_000;

impl Checker {
    /// Whether `checker` is heard from: within the liveness period of its last heartbeat,
    /// or of this checker's start for one it has not heard yet.
    pub fn checker_live(&self, checker: &PublicKey, now_ms: u64) -> bool {
        if *checker == self.me {
            return true;
        }
        let since = self
            .checkers_seen
            .get(checker)
            .copied()
            .or(self.started_ms)
            .unwrap_or(now_ms);
        now_ms <= since.saturating_add(self.params.checker_liveness_ms)
    }

    /// The status of every checker of the set, as this checker derives it, and of every
    /// applicant and admitted checker whose epoch has not come (Pending).
    pub fn checker_statuses(&self, now_ms: u64) -> Vec<(PublicKey, CheckerStatus)> {
        let pending = self
            .pending()
            .into_iter()
            .map(|k| (k, CheckerStatus::Pending));
        self.ledger
            .set()
            .iter()
            .filter_map(|k| {
                let checking = self
                    .jobs
                    .values()
                    .any(|j| j.committee.contains(k) && j.shards.values().any(|s| !s.done));
                self.ledger
                    .status(k, self.checker_live(k, now_ms), checking)
                    .map(|s| (*k, s))
            })
            .chain(pending)
            .collect()
    }

    /// Each tick: every job with open shards, or payments due from its escrow, whose
    /// committee lost a member gets this checker's vote for the move it computes (every
    /// live checker computes the same one from the same view).
    pub(super) fn govern(&mut self, now_ms: u64, out: &mut Vec<CheckerOutput>) {
        if self.ledger.is_banned(&self.me) {
            return;
        }
        let open: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.payments_due || j.shards.values().any(|s| !s.done))
            .map(|(id, _)| *id)
            .collect();
        for job in open {
            let Some(action) = self
                .ledger
                .next_committee(&job, |k| self.checker_live(k, now_ms))
            else {
                continue;
            };
            self.vote(now_ms, action, out);
        }
    }

    /// Signs, publishes and counts this checker's vote for `action` (once).
    pub(super) fn vote(&mut self, now_ms: u64, action: Action, out: &mut Vec<CheckerOutput>) {
        let id = action.id();
        if self.voted.contains(&id) || !self.ledger.signers_for(&action).contains(&self.me) {
            return;
        }
        if self.voted.len() >= MAX_VOTED {
            self.voted.clear();
        }
        self.voted.insert(id);
        info!(action = %action.describe(), "voting for a decision of the checker set");
        let vote = DecisionVote::new(&self.keypair, &self.params.network, action);
        out.push(CheckerOutput::Publish(Message::DecisionVote(vote.clone())));
        self.count_vote(now_ms, vote, out);
    }

    fn count_vote(&mut self, now_ms: u64, vote: DecisionVote, out: &mut Vec<CheckerOutput>) {
        if let Some(cert) = self.decisions.add_verified(vote) {
            out.push(CheckerOutput::Publish(Message::Decision(cert.clone())));
            self.on_decision(now_ms, cert, out);
        }
    }

    pub(super) fn on_decision_vote(
        &mut self,
        now_ms: u64,
        vote: DecisionVote,
        out: &mut Vec<CheckerOutput>,
    ) {
        let set = self.ledger.signers_for(&vote.action);
        if !set.contains(&vote.checker) || self.ledger.is_banned(&vote.checker) {
            return;
        }
        if vote
            .action
            .check(&self.params.network, &set, set.len())
            .is_err()
        {
            return;
        }
        drop(set);
        let action = vote.action.clone();
        self.count_vote(now_ms, vote, out);
        if self.ledger.is_banned(&self.me) {
            return;
        }
        // Co-sign what this checker finds true itself.
        match &action {
            Action::Recommittee { job, .. } => {
                let mine = self
                    .ledger
                    .next_committee(job, |k| self.checker_live(k, now_ms));
                if mine.as_ref() == Some(&action) {
                    self.vote(now_ms, action, out);
                }
            }
            Action::BanChecker {
                fault: Fault::Equivocation(_),
                ..
            } => self.vote(now_ms, action, out),
            Action::BanChecker {
                fault: Fault::FalseAttestation { .. },
                ..
            } => self.confirm_fault(action, out),
            Action::AdmitChecker { .. } => {
                if self.would_admit(&action) {
                    self.vote(now_ms, action, out);
                }
            }
        }
    }

    /// Each tick: when a new epoch has begun, the set of that epoch holds; this checker
    /// votes again for the applicants it verified that are not admitted yet.
    pub(super) fn next_epoch(&mut self, now_ms: u64, out: &mut Vec<CheckerOutput>) {
        let before = self.ledger.epoch();
        self.ledger.advance(now_ms);
        if self.ledger.epoch() == before {
            return;
        }
        self.decisions.resize(self.ledger.set().len());
        self.vote_admissions(now_ms, out);
    }

    pub(super) fn on_decision(
        &mut self,
        now_ms: u64,
        cert: DecisionCertificate,
        out: &mut Vec<CheckerOutput>,
    ) {
        self.decisions.decided(cert.action.id());
        let Ok(applied) = self.ledger.apply(&cert) else {
            return;
        };
        self.on_applied(now_ms, applied, out);
    }

    pub(super) fn on_evidence(
        &mut self,
        now_ms: u64,
        evidence: Evidence,
        out: &mut Vec<CheckerOutput>,
    ) {
        if let Ok(applied) = self.ledger.apply_evidence(&evidence) {
            self.on_applied(now_ms, applied, out);
        }
    }

    fn on_applied(&mut self, now_ms: u64, applied: Applied, out: &mut Vec<CheckerOutput>) {
        match applied {
            Applied::Banned(checker) => {
                let fault = self.ledger.ban_of(&checker).cloned();
                if let Some(fault) = fault {
                    out.push(CheckerOutput::CheckerBanned {
                        checker,
                        fault: Box::new(fault),
                    });
                }
                // Its votes no longer count: drop them from every open collector (the
                // quorum stays more than two thirds of the whole committee).
                for collector in self.collectors.values_mut() {
                    collector.drop_vote(&checker);
                }
                // Its committees move at the next tick (a banned member is lost).
                self.govern(now_ms, out);
            }
            Applied::Moved { job, generation } => self.moved(now_ms, job, generation, out),
            Applied::Admitted {
                checker,
                from_epoch,
            } => {
                info!(checker = %checker.short(), from_epoch, "checker admitted to the set");
                self.admitted(&checker);
                out.push(CheckerOutput::Admitted {
                    checker,
                    from_epoch,
                });
            }
            _ => {}
        }
    }

    /// A job's committee changed: open shards are assigned anew by the new committee,
    /// which takes over the votes on claims already made in its own attempts.
    fn moved(&mut self, now_ms: u64, job: JobId, generation: u32, out: &mut Vec<CheckerOutput>) {
        let committee = self.ledger.committee(&job);
        out.push(CheckerOutput::Moved {
            job,
            generation,
            committee: committee.clone(),
        });
        let Some(state) = self.jobs.get_mut(&job) else {
            return;
        };
        state.committee = committee.clone();
        state.leader_epoch = 0;
        state.last_progress_ms = now_ms;
        // Open shards start over in the new generation's attempts: what the old committee
        // assigned (and what was claimed on it), which some nodes saw and others did not,
        // no longer stands. A certificate of an old claim still decides its shard.
        let floor = rules::first_attempt(generation);
        for shard in state.shards.values_mut() {
            if !shard.done && shard.attempt < floor {
                shard.attempt = floor;
                shard.previous = shard.assignment.take().map(|a| a.worker);
                shard.claim = None;
                shard.claim_msg = None;
            }
        }
        let network = self.params.network.clone();
        let claims: Vec<_> = state
            .shards
            .values()
            .filter(|s| !s.done)
            .filter_map(|s| s.claim_msg.clone())
            .collect();
        let mut reached = Vec::new();
        for claim in &claims {
            let id = claim.id();
            let mut collector = match self.collectors.get(&id) {
                Some(c) => c.regroup(&committee),
                None => VoteCollector::new(&network, id, &committee),
            };
            // The members that stay may already agree: a quorum of the new committee.
            reached.extend(collector.quorum());
            self.collectors.insert(id, collector);
        }
        for qc in reached {
            self.on_quorum(now_ms, qc, out);
        }
        // A new member checks the claims in flight; the others' votes are kept.
        if committee.contains(&self.me) {
            for claim in claims {
                if !self.claims.contains_key(&claim.id()) {
                    self.start_verify(claim, out);
                }
            }
        }
        self.assign_all(now_ms, out);
    }
}
