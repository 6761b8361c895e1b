//! Forgetting a pruned job, so that the checker's tables hold only live jobs.

use pictor_protocol::JobId;

use super::Checker;

impl Checker {
    pub(super) fn forget(&mut self, job: &JobId) {
        self.jobs.remove(job);
        self.claims.retain(|_, c| c.claim.shard.job != *job);
        self.collectors.retain(|_, c| c.job() != Some(*job));
        self.closed.forget(job);
        self.early_votes.remove(job);
        self.certified.retain(|_, (j, _)| j != job);
        self.early_claims.retain(|shard, _| shard.job != *job);
        self.early_assignments.remove(job);
        self.held_attestations
            .retain(|_, atts| atts.first().is_some_and(|(a, _)| a.vote.shard.job != *job));
        self.ledger.forget(job);
        self.decisions.retain(|action| match action {
            pictor_protocol::Action::Recommittee { job: j, .. } => j != job,
            _ => true,
        });
        self.unpublished
            .retain(|_, (qc, _)| qc.vote.shard.job != *job);
    }
}
