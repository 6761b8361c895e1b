//! The Job Manager's half of the checker: who may render, who renders what (and the
//! assignments other committee members make), and what happens when time passes
//! (timeouts, silent workers, a silent leader).

use std::collections::{BTreeMap, VecDeque};

use pictor_protocol::{
    credits::worker_within_cap, rules, Assignment, Engine, Message, PublicKey, ShardId,
};

use super::{Checker, CheckerOutput, JobFunding};

/// Offences remembered per worker, for a canary reveal to strike off.
const MAX_OFFENCES_HELD: usize = 16;
/// A shard that took at least this long from its assignment to its claim counts towards
/// its worker's measured speed (on shorter ones the network's time dominates).
const MIN_MEASURED_MS: u64 = 100;
/// Measured renders before the measured speed caps a worker's stated score.
const MIN_MEASURED_RENDERS: u32 = 2;
/// How much faster than its fastest measured render a worker's stated score may be (its
/// measured renders include the network's time and its queue).
const SPEED_SLACK: u32 = 4;

/// What a checker knows of a worker.
#[derive(Debug, Default)]
pub(super) struct WorkerRecord {
    pub(super) last_seen_ms: u64,
    /// Banned until then (0: never banned).
    pub(super) banned_until_ms: u64,
    /// Claims of its rejected by quorum.
    pub(super) offences: u32,
    /// The latest offences (struck off ones too): the shard attempt rejected, and the
    /// ban before it.
    pub(super) recent_offences: VecDeque<Offence>,
    /// The engines its capability record names (`None`: no record yet).
    pub(super) engines: Option<Vec<Engine>>,
    /// Whether its capability record meets the network's hardware requirements.
    pub(super) meets_requirements: bool,
    /// Whether its capability record lists a GPU: its Blender output is then held to the
    /// cross-device thresholds (CPU ones otherwise, and without a record).
    pub(super) gpu: bool,
    /// Its benchmark score, ksamples/s (capability record; 0 without one).
    pub(super) benchmark_ks: u32,
    /// Its price, credits per benchmark-normalised render-second (capability record; 0
    /// without one).
    pub(super) price: u64,
    /// The fastest render this checker saw of it, ksamples/s (assignment to claim), and
    /// how many renders long enough to measure it saw.
    pub(super) measured_ks: u32,
    pub(super) measured_renders: u32,
    /// Where the check of its admission render stands.
    pub(super) render: super::admit::RenderCheck,
    /// Rejected claims ever held against it (struck-off ones too): the round of the
    /// challenge it answers after a ban.
    pub(super) rejections_ever: u32,
    /// The live render it owes after a ban before it gets shards again.
    pub(super) readmission: Option<super::admit::Readmission>,
}

/// A rejected claim held against a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Offence {
    pub(super) shard: ShardId,
    pub(super) attempt: u32,
    /// When the worker's ban ended before this offence.
    pub(super) banned_until_before_ms: u64,
    /// The worker revealed it as a canary: no offence.
    pub(super) struck_off: bool,
}

impl WorkerRecord {
    /// A claim came `elapsed_ms` after its assignment, for a shard of `samples` samples.
    pub(super) fn observe_render(&mut self, samples: u64, elapsed_ms: u64) {
        if elapsed_ms < MIN_MEASURED_MS {
            return;
        }
        // Samples per millisecond are ksamples per second.
        let ks = u32::try_from(samples / elapsed_ms).unwrap_or(u32::MAX);
        self.measured_ks = self.measured_ks.max(ks);
        self.measured_renders = self.measured_renders.saturating_add(1);
    }

    /// The benchmark score allocation goes by: the stated one, but never more than
    /// [`SPEED_SLACK`] times the fastest render measured (once there are
    /// [`MIN_MEASURED_RENDERS`]), so a worker gains nothing by stating a score it does
    /// not have.
    pub(super) fn trusted_benchmark_ks(&self) -> u32 {
        if self.measured_renders < MIN_MEASURED_RENDERS {
            return self.benchmark_ks;
        }
        self.benchmark_ks
            .min(self.measured_ks.saturating_mul(SPEED_SLACK))
    }

    /// Whether the worker is admitted: on a network with requirements, its record meets
    /// them and this checker rendered the digest its record states; on an open network,
    /// anything but a wrong render.
    pub(super) fn admitted(&self, open: bool) -> bool {
        use super::admit::RenderCheck;
        if self.readmission.is_some() {
            return false;
        }
        match self.render {
            RenderCheck::Wrong(_) => false,
            RenderCheck::Holds(_) => open || self.meets_requirements,
            RenderCheck::Unstated | RenderCheck::Asked(_) => open,
        }
    }

    /// Counts a rejected claim on `shard` at `attempt` and bans the worker until at least
    /// `until_ms`.
    pub(super) fn offend(&mut self, shard: ShardId, attempt: u32, until_ms: u64) {
        if self.recent_offences.len() >= MAX_OFFENCES_HELD {
            self.recent_offences.pop_front();
        }
        self.recent_offences.push_back(Offence {
            shard,
            attempt,
            banned_until_before_ms: self.banned_until_ms,
            struck_off: false,
        });
        self.offences = self.offences.saturating_add(1);
        self.banned_until_ms = self.banned_until_ms.max(until_ms);
        self.rejections_ever = self.rejections_ever.saturating_add(1);
        self.readmission = Some(super::admit::Readmission::new(self.rejections_ever));
    }
}

/// Whether a worker is heard from recently and not banned.
pub(super) fn live(
    workers: &BTreeMap<PublicKey, WorkerRecord>,
    worker: &PublicKey,
    now_ms: u64,
    liveness_ms: u64,
) -> bool {
    workers.get(worker).is_some_and(|w| {
        now_ms >= w.banned_until_ms && now_ms <= w.last_seen_ms.saturating_add(liveness_ms)
    })
}

/// The class of a benchmark score: its power of two (0 for no score).
fn score_class(ksamples_per_s: u32) -> u32 {
    u32::BITS - ksamples_per_s.leading_zeros()
}

impl Checker {
    pub(super) fn on_assignment(
        &mut self,
        now_ms: u64,
        a: Assignment,
        out: &mut Vec<CheckerOutput>,
    ) {
        let Some(job) = self.jobs.get_mut(&a.shard.job) else {
            // The job may still be on its way.
            return self.hold_assignment(a);
        };
        if !job.committee.contains(&a.assigned_by) {
            return;
        }
        let Some(shard) = job.shards.get_mut(&a.shard) else {
            return;
        };
        // An attempt past the last one is no committee's (see `rules::MAX_ATTEMPT`).
        if shard.done || a.attempt < shard.attempt || a.attempt > rules::MAX_ATTEMPT {
            return;
        }
        if a.attempt == shard.attempt && shard.assignment.is_some() {
            return; // the first assignment of an attempt stands
        }
        shard.attempt = a.attempt;
        shard.assigned_ms = now_ms;
        shard.claim = None;
        let id = a.shard;
        shard.assignment = Some(a);
        job.last_progress_ms = now_ms;
        if let Some(early) = self.early_claims.remove(&id) {
            for claim in early {
                self.on_claim(now_ms, claim, out);
            }
        }
    }

    pub(super) fn on_tick(&mut self, now_ms: u64, out: &mut Vec<CheckerOutput>) {
        let params = self.params.clone();
        let me = self.me;
        for job in self.jobs.values_mut() {
            // Only the leader takes a shard from a worker that is banned or silent: it
            // reassigns at once, and the others follow its assignment. A member that
            // moved on by itself would drop the worker's claim while the leader still
            // waits for it (a canary's ban lifted by its reveal before the leader saw
            // it), and the claim would then lack a quorum until its timeout.
            let leads = rules::job_leader(&job.committee, job.leader_epoch) == Some(me);
            let mut waiting = false;
            for shard in job.shards.values_mut().filter(|s| !s.done) {
                waiting = true;
                let expired = match (&shard.assignment, shard.claim) {
                    (Some(a), None) => {
                        now_ms > shard.assigned_ms.saturating_add(params.shard_timeout_ms)
                            || (leads
                                && !live(
                                    &self.workers,
                                    &a.worker,
                                    now_ms,
                                    params.worker_liveness_ms,
                                ))
                    }
                    // A banned worker's claim is never accepted (see `on_claim`): the
                    // leader moves its shards on, whether or not its claim has arrived.
                    (Some(a), Some((_, at))) => {
                        now_ms > at.saturating_add(params.claim_timeout_ms)
                            || (leads
                                && self
                                    .workers
                                    .get(&a.worker)
                                    .is_some_and(|w| now_ms < w.banned_until_ms))
                    }
                    (None, _) => false,
                };
                if expired {
                    if let Some(a) = shard.assignment.take() {
                        shard.failed.insert(a.worker);
                    }
                    shard.claim = None;
                    shard.claim_msg = None;
                    shard.attempt = rules::next_attempt(shard.attempt);
                }
            }
            if waiting
                && now_ms
                    > job
                        .last_progress_ms
                        .saturating_add(params.leader_timeout_ms)
            {
                job.leader_epoch += 1;
                job.last_progress_ms = now_ms;
            }
        }
        self.challenge_returning(now_ms, out);
        self.assign_all(now_ms, out);
    }

    pub(super) fn eligible(&self, now_ms: u64) -> Vec<PublicKey> {
        let open = self.params.requirements.is_empty();
        self.workers
            .iter()
            .filter(|(k, w)| {
                live(&self.workers, k, now_ms, self.params.worker_liveness_ms) && w.admitted(open)
            })
            .map(|(k, _)| *k)
            .collect()
    }

    /// The leader of each job assigns waiting shards to the least-loaded eligible workers.
    pub(super) fn assign_all(&mut self, now_ms: u64, out: &mut Vec<CheckerOutput>) {
        let eligible = self.eligible(now_ms);
        if eligible.is_empty() {
            return;
        }
        // Outstanding (assigned, unclaimed) shards per worker across all jobs.
        let mut load: BTreeMap<PublicKey, usize> = eligible.iter().map(|w| (*w, 0)).collect();
        for job in self.jobs.values() {
            for shard in job.shards.values().filter(|s| !s.done && s.claim.is_none()) {
                if let Some(a) = &shard.assignment {
                    if let Some(l) = load.get_mut(&a.worker) {
                        *l += 1;
                    }
                }
            }
        }
        let me = self.me;
        let workers = &self.workers;
        let max = self.params.max_outstanding;
        let deadline = self.params.shard_timeout_ms;
        for job in self.jobs.values_mut() {
            if rules::job_leader(&job.committee, job.leader_epoch) != Some(me) {
                continue;
            }
            // A worker whose capability record lacks the job's engine cannot render it,
            // and one that asks more than the job's price cap does not get it.
            // A job whose budget is out gets no new shard; one without an escrow only
            // workers that ask nothing.
            if job.funding == JobFunding::Paused {
                continue;
            }
            let engine = job.spec.engine;
            let cap = job.spec.price_cap;
            let free_only = job.funding == JobFunding::Free;
            let can_render = |w: &PublicKey| {
                let record = workers.get(w);
                let price = record.map_or(0, |r| r.price);
                record
                    .and_then(|r| r.engines.as_ref())
                    .is_none_or(|engines| engines.contains(&engine))
                    && worker_within_cap(price, cap)
                    && (!free_only || price == 0)
            };
            for (id, shard) in job.shards.iter_mut() {
                if shard.done || shard.assignment.is_some() {
                    continue;
                }
                if eligible.iter().all(|w| shard.failed.contains(w)) {
                    // Every live worker timed out on this shard once; try them again
                    // rather than leave it stranded (banned workers are not eligible).
                    shard.failed.retain(|w| !eligible.contains(w));
                }
                let candidates: Vec<PublicKey> = eligible
                    .iter()
                    .filter(|w| {
                        !shard.failed.contains(w)
                            && !job.excluded.contains(w)
                            && can_render(w)
                            && load.get(w).is_some_and(|l| *l < max)
                    })
                    .copied()
                    .collect();
                // The least loaded first; among them the fewest offences, then the fastest
                // class of machine (benchmark score, by powers of two so that similar
                // machines share the work); rendezvous hashing breaks the remaining ties.
                let rank = |w: &PublicKey| {
                    let record = workers.get(w);
                    (
                        load.get(w).copied().unwrap_or(usize::MAX),
                        record.map_or(0, |r| r.offences),
                        std::cmp::Reverse(
                            record.map_or(0, |r| score_class(r.trusted_benchmark_ks())),
                        ),
                    )
                };
                // The worker that held the shard before its committee moved comes first:
                // it may have the output already, and claims it again without rendering.
                let previous = shard.previous.filter(|w| candidates.contains(w));
                let Some(best) = candidates.iter().map(rank).min() else {
                    break;
                };
                let least: Vec<PublicKey> =
                    candidates.into_iter().filter(|w| rank(w) == best).collect();
                let Some(worker) = previous
                    .or_else(|| rules::assign_worker(id, shard.attempt, &least, &shard.failed))
                else {
                    continue;
                };
                let a = Assignment {
                    shard: *id,
                    worker,
                    attempt: shard.attempt,
                    assigned_by: me,
                    deadline_ms: now_ms.saturating_add(deadline),
                };
                shard.assignment = Some(a.clone());
                shard.assigned_ms = now_ms;
                job.last_progress_ms = now_ms;
                if let Some(l) = load.get_mut(&worker) {
                    *l += 1;
                }
                out.push(CheckerOutput::Publish(Message::Assignment(a)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WorkerRecord;

    fn stating(benchmark_ks: u32) -> WorkerRecord {
        WorkerRecord {
            benchmark_ks,
            ..WorkerRecord::default()
        }
    }

    #[test]
    fn a_stated_score_is_capped_by_the_renders_measured() {
        // A worker that states a million ksamples/s and renders a million samples a second.
        let mut liar = stating(1_000_000);
        liar.observe_render(1_000_000, 1_000);
        assert_eq!(
            liar.trusted_benchmark_ks(),
            1_000_000,
            "one render is not enough"
        );
        liar.observe_render(1_000_000, 1_200);
        assert_eq!(
            liar.trusted_benchmark_ks(),
            4_000,
            "four times its fastest render"
        );

        // An honest worker keeps its score: its renders are as fast as it says, or
        // slower only by the network's time and its queue.
        let mut honest = stating(8_000);
        honest.observe_render(1_000_000, 200);
        honest.observe_render(1_000_000, 400);
        assert_eq!(honest.trusted_benchmark_ks(), 8_000);

        // Renders too short to measure say nothing; neither does an absurd one.
        let mut quick = stating(1_000_000);
        for _ in 0..10 {
            quick.observe_render(1_000, 5);
        }
        assert_eq!(quick.trusted_benchmark_ks(), 1_000_000);
        let mut huge = stating(u32::MAX);
        huge.observe_render(u64::MAX, 100);
        huge.observe_render(u64::MAX, 100);
        assert_eq!(huge.trusted_benchmark_ks(), u32::MAX);
    }
}
