//! Canary reveals: a worker's rejected claim that was a forced error is no offence.
//!
//! The lazy checker that vouched for the canary is caught by the peer checks of
//! `peers.rs` (its vote dissents from the rejecting certificate); here the worker gets
//! back what the rejection took: the offence, the ban it set, its place on the job, and
//! the claims it made meanwhile (held while it was banned, see `verify.rs`). Gossip is not
//! ordered: a reveal that comes before its rejection is kept, and the rejection is then no
//! offence at all. A struck-off offence stays in the worker's record, marked, so that the
//! reveal its heartbeats repeat is known for what it is.

use std::collections::BTreeSet;

use pictor_protocol::{CanaryReveal, PublicKey, ResultClaim, ShardId};

use super::{Checker, CheckerOutput};

/// Reveals kept while their rejection is on its way (when full, the smallest key goes).
const MAX_EARLY_REVEALS: usize = 1024;

/// Reveals that came before the rejection they answer: (worker, shard, attempt).
#[derive(Debug, Default)]
pub(super) struct Revealed(BTreeSet<(PublicKey, ShardId, u32)>);

impl Revealed {
    fn insert(&mut self, worker: PublicKey, shard: ShardId, attempt: u32) {
        if self.0.len() >= MAX_EARLY_REVEALS {
            self.0.pop_first();
        }
        self.0.insert((worker, shard, attempt));
    }

    /// Whether `worker` revealed its attempt `attempt` on `shard` as a canary (forgetting
    /// the reveal).
    pub(super) fn take(&mut self, worker: &PublicKey, shard: &ShardId, attempt: u32) -> bool {
        self.0.remove(&(*worker, *shard, attempt))
    }
}

impl Checker {
    /// `worker` revealed `reveal` (verified by the node's validator). Heartbeats repeat
    /// their reveals: one already taken changes nothing.
    pub(super) fn on_canary(
        &mut self,
        now_ms: u64,
        worker: PublicKey,
        reveal: CanaryReveal,
        out: &mut Vec<CheckerOutput>,
    ) {
        let found = self.workers.get_mut(&worker).and_then(|record| {
            let at = record
                .recent_offences
                .iter()
                .position(|o| o.shard == reveal.shard && o.attempt == reveal.attempt)?;
            Some((record, at))
        });
        let Some((record, at)) = found else {
            // Its rejection has not come yet.
            self.revealed.insert(worker, reveal.shard, reveal.attempt);
            return;
        };
        if record.recent_offences[at].struck_off {
            return; // a heartbeat's repeat
        }
        record.recent_offences[at].struck_off = true;
        record.offences = record.offences.saturating_sub(1);
        // The ban this offence set ends; a ban a later offence set stands.
        let later = record
            .recent_offences
            .iter()
            .skip(at + 1)
            .any(|o| !o.struck_off);
        if !later {
            record.banned_until_ms = record.recent_offences[at].banned_until_before_ms;
            // No ban of its own left: nothing to answer for.
            record.readmission = None;
        }
        let offences = record.offences;
        if let Some(job) = self.jobs.get_mut(&reveal.shard.job) {
            job.excluded.remove(&worker);
            if let Some(shard) = job.shards.get_mut(&reveal.shard) {
                shard.failed.remove(&worker);
            }
        }
        out.push(CheckerOutput::Forgiven {
            worker,
            shard: reveal.shard,
            offences,
        });
        // The claims it made while it was banned count now.
        let mut held: Vec<ResultClaim> = Vec::new();
        for claims in self.early_claims.values_mut() {
            held.extend(claims.extract_if(.., |c| c.worker == worker));
        }
        self.early_claims.retain(|_, claims| !claims.is_empty());
        for claim in held {
            self.on_claim(now_ms, claim, out);
        }
        self.assign_all(now_ms, out);
    }
}
