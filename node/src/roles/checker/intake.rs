//! What a checker learns of the jobs and workers of the network: a job's spec (its
//! committee, drawn from the set of the epoch it names) and a worker's capability record.

use std::collections::BTreeSet;

use pictor_protocol::{rules, CapabilityRecord, DeviceKind, JobSpec, PublicKey, WorkerStatus};

use super::{
    capability_view, Checker, CheckerOutput, JobFunding, JobState, ShardState, MAX_JOBS,
    MAX_WORKERS,
};

impl Checker {
    /// The status of every worker this checker knows, from what it verified itself:
    /// Banned while a cool-down runs, Offline when not heard from, Pending until admitted
    /// (its record meets the requirements and its admission render holds), Rendering
    /// while it holds shards, else Idle.
    pub fn worker_statuses(&self, now_ms: u64) -> Vec<(PublicKey, WorkerStatus)> {
        let open = self.params.requirements.is_empty();
        let liveness = self.params.worker_liveness_ms;
        self.workers
            .iter()
            .map(|(k, w)| {
                let holds = self.jobs.values().any(|j| {
                    j.shards
                        .values()
                        .any(|s| !s.done && s.assignment.as_ref().is_some_and(|a| a.worker == *k))
                });
                let status = if now_ms < w.banned_until_ms {
                    WorkerStatus::Banned
                } else if now_ms > w.last_seen_ms.saturating_add(liveness) {
                    WorkerStatus::Offline
                } else if !w.admitted(open) {
                    WorkerStatus::Pending
                } else if holds {
                    WorkerStatus::Rendering
                } else {
                    WorkerStatus::Idle
                };
                (*k, status)
            })
            .collect()
    }

    pub(super) fn on_capability(
        &mut self,
        now_ms: u64,
        record: CapabilityRecord,
        out: &mut Vec<CheckerOutput>,
    ) {
        if !self.workers.contains_key(&record.node) && self.workers.len() >= MAX_WORKERS {
            return;
        }
        let meets = self
            .params
            .requirements
            .check(&capability_view(&record))
            .is_ok();
        let worker = self.workers.entry(record.node).or_default();
        worker.engines = Some(record.engines.iter().map(|e| e.engine).collect());
        worker.meets_requirements = meets;
        worker.gpu = record.devices.iter().any(|d| d.kind == DeviceKind::Gpu);
        worker.benchmark_ks = record.benchmark_ksamples_per_s;
        worker.price = record.price;
        self.check_render(record.node, record.render_digest, out);
        self.assign_all(now_ms, out);
    }

    pub(super) fn on_job(&mut self, now_ms: u64, spec: JobSpec, out: &mut Vec<CheckerOutput>) {
        let id = spec.id();
        if self.jobs.contains_key(&id) || self.jobs.len() >= MAX_JOBS {
            return;
        }
        // A job names the epoch whose set draws its committee: one to come is not known
        // yet (the creator's clock is ahead by more than an epoch).
        if spec.epoch > self.ledger.epoch().saturating_add(1) {
            return;
        }
        self.ledger.note_job(id, spec.epoch);
        let committee = self.ledger.committee(&id);
        let samples = rules::samples_per_checker(
            committee.len(),
            rules::FRAUD_FRACTION,
            rules::DETECTION_TARGET,
        );
        // A job learnt of after its committee moved starts in that generation's attempts.
        let attempt = rules::first_attempt(self.ledger.generation(&id));
        let shards = spec
            .shards()
            .into_iter()
            .map(|s| {
                (
                    s,
                    ShardState {
                        attempt,
                        ..ShardState::default()
                    },
                )
            })
            .collect();
        self.jobs.insert(
            id,
            JobState {
                spec,
                committee,
                samples,
                shards,
                last_progress_ms: now_ms,
                leader_epoch: 0,
                excluded: BTreeSet::new(),
                funding: JobFunding::Funded,
                payments_due: false,
            },
        );
        // Assignments (and through them, claims) and votes that arrived before the job
        // are examined now: gossip on different topics arrives in any order.
        for a in self.early_assignments.remove(&id).unwrap_or_default() {
            self.on_assignment(now_ms, a, out);
        }
        for (a, proof) in self.early_votes.remove(&id).unwrap_or_default() {
            self.on_attestation(now_ms, a, proof, out);
        }
        self.assign_all(now_ms, out);
    }
}
