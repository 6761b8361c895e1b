//! What a checker holds until it can judge it: claims before their job or assignment (or
//! while their worker is banned), assignments and votes before their job. Gossip is not
//! ordered, so honest messages arrive early; a stranger's junk must not crowd them out.
//! Votes and assignments are held only from checkers of the set, and every signer has a
//! quota ([`MAX_EARLY_PER_SIGNER`]) within the global bound ([`MAX_EARLY`]).

use pictor_protocol::{Assignment, Attestation, EnvelopeProof, PublicKey, ResultClaim};

use super::Checker;

/// Claims and assignments held at once, all signers together.
pub(super) const MAX_EARLY: usize = 10_000;
/// Votes held at once, all signers together.
const MAX_EARLY_VOTES: usize = 10_000;
/// Early claims, assignments and votes held from any one signer.
pub(super) const MAX_EARLY_PER_SIGNER: usize = 256;

impl Checker {
    pub(super) fn early_len(&self) -> usize {
        self.early_claims.values().map(Vec::len).sum::<usize>()
            + self.early_assignments.values().map(Vec::len).sum::<usize>()
    }

    /// Early items `signer` signed that this checker holds.
    fn early_by(&self, signer: &PublicKey) -> usize {
        self.early_claims
            .values()
            .flatten()
            .filter(|c| c.worker == *signer)
            .count()
            + self
                .early_assignments
                .values()
                .flatten()
                .filter(|a| a.assigned_by == *signer)
                .count()
            + self
                .early_votes
                .values()
                .flatten()
                .filter(|(v, _)| v.checker == *signer)
                .count()
    }

    /// Whether `signer` is a checker of the set (or admitted to it).
    fn of_the_set(&self, signer: &PublicKey) -> bool {
        self.ledger.set().contains(signer) || self.ledger.is_admitted(signer)
    }

    /// Holds a claim until its job or assignment comes (or its worker's ban is lifted).
    pub(super) fn hold_claim(&mut self, claim: ResultClaim) {
        if self.early_len() < MAX_EARLY && self.early_by(&claim.worker) < MAX_EARLY_PER_SIGNER {
            self.early_claims
                .entry(claim.shard)
                .or_default()
                .push(claim);
        }
    }

    /// Holds an assignment until its job comes: only a checker of the set assigns.
    pub(super) fn hold_assignment(&mut self, a: Assignment) {
        if self.of_the_set(&a.assigned_by)
            && self.early_len() < MAX_EARLY
            && self.early_by(&a.assigned_by) < MAX_EARLY_PER_SIGNER
        {
            self.early_assignments
                .entry(a.shard.job)
                .or_default()
                .push(a);
        }
    }

    /// Holds a vote until its job (and so its committee) comes: only a checker of the set
    /// sits on a committee.
    pub(super) fn hold_vote(&mut self, a: Attestation, proof: Option<EnvelopeProof>) {
        let held: usize = self.early_votes.values().map(Vec::len).sum();
        if self.of_the_set(&a.checker)
            && held < MAX_EARLY_VOTES
            && self.early_by(&a.checker) < MAX_EARLY_PER_SIGNER
        {
            self.early_votes
                .entry(a.vote.shard.job)
                .or_default()
                .push((a, proof));
        }
    }
}
