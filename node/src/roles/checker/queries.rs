//! What the node asks of its checker between inputs: its key, a job's committee and
//! shards, who may get work.

use pictor_protocol::{JobId, Ledger, PublicKey};

use super::Checker;

impl Checker {
    /// This checker's key.
    pub fn key(&self) -> PublicKey {
        self.me
    }

    /// The committee of a known job.
    pub fn committee(&self, job: &JobId) -> Option<&[PublicKey]> {
        self.jobs.get(job).map(|j| j.committee.as_slice())
    }

    /// Whether the worker is banned (serving a cool-down) at `now_ms`.
    pub fn is_banned(&self, worker: &PublicKey, now_ms: u64) -> bool {
        self.workers
            .get(worker)
            .is_some_and(|w| now_ms < w.banned_until_ms)
    }

    /// The checker set's ledger as this checker holds it.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The number of workers that may receive shards now.
    pub fn eligible_workers(&self, now_ms: u64) -> usize {
        self.eligible(now_ms).len()
    }

    /// Shards of `job` not yet final.
    pub fn open_shards(&self, job: &JobId) -> Option<usize> {
        self.jobs
            .get(job)
            .map(|j| j.shards.values().filter(|s| !s.done).count())
    }

    /// Shards of `job` in a worker's hands: given out and not yet decided.
    pub fn shards_out(&self, job: &JobId) -> Option<usize> {
        self.jobs.get(job).map(|j| {
            j.shards
                .values()
                .filter(|s| !s.done && s.assignment.is_some())
                .count()
        })
    }
}
