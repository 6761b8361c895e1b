//! The job table: every job this node knows, when it was last active and when it finished.
//! Finished jobs (every shard certified valid, or ended by their creator) are kept for the
//! retention period and then pruned; unfinished jobs that see no activity for that long
//! (and at least an hour) are pruned too, so the table never grows without bound and a new
//! job never depends on how many came before it.

use std::collections::{BTreeMap, BTreeSet};

use pictor_protocol::{JobId, JobSpec, ShardId};

/// The most jobs a node holds at once. When the table is full, the oldest finished job
/// makes room; a node with this many unfinished jobs refuses new ones until some finish.
pub(crate) const MAX_JOBS: usize = 10_000;

/// How long an unfinished job must see no activity at all before it counts as abandoned
/// and is pruned (whatever the retention period).
pub(crate) const ABANDONED_MS: u64 = 3_600_000;

#[derive(Debug)]
pub(crate) struct JobEntry {
    pub(crate) spec: JobSpec,
    last_activity_ms: u64,
    valid: BTreeSet<ShardId>,
    pub(crate) finished_ms: Option<u64>,
}

/// Why a job was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this node holds {MAX_JOBS} unfinished jobs; try again when some have finished")]
pub(crate) struct TableFull;

/// The jobs of this node.
#[derive(Debug, Default)]
pub(crate) struct JobTable {
    jobs: BTreeMap<JobId, JobEntry>,
}

impl JobTable {
    pub(crate) fn get(&self, id: &JobId) -> Option<&JobSpec> {
        self.jobs.get(id).map(|e| &e.spec)
    }

    pub(crate) fn contains(&self, id: &JobId) -> bool {
        self.jobs.contains_key(id)
    }

    /// Every job held.
    pub(crate) fn ids(&self) -> Vec<JobId> {
        self.jobs.keys().copied().collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Jobs held that have not finished.
    pub(crate) fn open(&self) -> usize {
        self.jobs
            .values()
            .filter(|e| e.finished_ms.is_none())
            .count()
    }

    /// Whether another job uses `scene`.
    pub(crate) fn uses_scene(&self, scene: &pictor_protocol::ContentId) -> bool {
        self.jobs.values().any(|e| e.spec.scene == *scene)
    }

    /// Takes a job. Returns whether it is new, and the finished job evicted to make room.
    pub(crate) fn insert(
        &mut self,
        spec: JobSpec,
        now_ms: u64,
    ) -> Result<(bool, Option<JobId>), TableFull> {
        let id = spec.id();
        if self.jobs.contains_key(&id) {
            return Ok((false, None));
        }
        let mut evicted = None;
        if self.jobs.len() >= MAX_JOBS {
            let oldest = self
                .jobs
                .iter()
                .filter_map(|(id, e)| e.finished_ms.map(|at| (at, *id)))
                .min()
                .map(|(_, id)| id);
            let Some(oldest) = oldest else {
                return Err(TableFull);
            };
            self.jobs.remove(&oldest);
            evicted = Some(oldest);
        }
        self.jobs.insert(
            id,
            JobEntry {
                spec,
                last_activity_ms: now_ms,
                valid: BTreeSet::new(),
                finished_ms: None,
            },
        );
        Ok((true, evicted))
    }

    /// Something happened for the job.
    pub(crate) fn touch(&mut self, id: &JobId, now_ms: u64) {
        if let Some(e) = self.jobs.get_mut(id) {
            e.last_activity_ms = e.last_activity_ms.max(now_ms);
        }
    }

    /// A shard was certified valid; the job finishes when all of its shards are.
    pub(crate) fn certified(&mut self, shard: &ShardId, now_ms: u64) {
        let Some(e) = self.jobs.get_mut(&shard.job) else {
            return;
        };
        e.last_activity_ms = e.last_activity_ms.max(now_ms);
        if e.spec.contains(shard) {
            e.valid.insert(*shard);
        }
        if e.finished_ms.is_none() && e.valid.len() as u64 == e.spec.shard_count() {
            e.finished_ms = Some(now_ms);
            e.valid.clear();
        }
    }

    /// The job ended by its creator's word (failed or cancelled), or finished before.
    pub(crate) fn finished(&mut self, id: &JobId, at_ms: u64) {
        if let Some(e) = self.jobs.get_mut(id) {
            e.finished_ms.get_or_insert(at_ms);
            e.valid.clear();
        }
    }

    /// Jobs due for pruning at `now_ms`: finished more than `retention_ms` ago, or
    /// unfinished with no activity for `retention_ms` and at least [`ABANDONED_MS`] (a job
    /// that is only quiet, its shards waiting out their timeouts, is not abandoned: pruned,
    /// it would lose its timers on every node and never finish).
    pub(crate) fn expired(&self, now_ms: u64, retention_ms: u64) -> Vec<JobId> {
        let idle_ms = retention_ms.max(ABANDONED_MS);
        self.jobs
            .iter()
            .filter(|(_, e)| match e.finished_ms {
                Some(at) => now_ms.saturating_sub(at) > retention_ms,
                None => now_ms.saturating_sub(e.last_activity_ms) > idle_ms,
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Forgets a job.
    pub(crate) fn remove(&mut self, id: &JobId) -> Option<JobSpec> {
        self.jobs.remove(id).map(|e| e.spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pictor_protocol::{ContentId, Engine, Keypair};

    fn spec(nonce: u64) -> JobSpec {
        JobSpec {
            creator: Keypair::from_seed([1; 32]).public(),
            scene: ContentId::of(b"scene"),
            scene_name: "s".into(),
            engine: Engine::Builtin,
            frames: "1".parse().expect("frames"),
            width: 16,
            height: 16,
            samples: 1,
            tile: 16,
            price_cap: 0,
            nonce,
            epoch: 0,
        }
    }

    #[test]
    fn a_quiet_unfinished_job_outlives_a_short_retention_a_finished_one_does_not() {
        let mut table = JobTable::default();
        let (quiet, done) = (spec(1), spec(2));
        table.insert(quiet.clone(), 0).expect("room");
        table.insert(done.clone(), 0).expect("room");
        table.finished(&done.id(), 0);
        // Retention 1 s: the finished job goes after 1 s, the quiet one stays.
        assert_eq!(table.expired(2_000, 1_000), vec![done.id()]);
        // An unfinished job with no activity at all for an hour is abandoned.
        let later = table.expired(ABANDONED_MS + 1, 1_000);
        assert!(later.contains(&quiet.id()), "{later:?}");
    }
}
