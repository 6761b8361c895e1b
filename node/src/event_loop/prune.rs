//! Pruning finished jobs: forgotten by every role, removed from the database with the
//! blocks that only they used. Blocks are content-addressed, so two jobs can share one (the
//! same tile rendered twice, the same frame, the same scene): a block goes only when no job
//! the node still holds names it.

use std::collections::BTreeSet;

use pictor_protocol::{ContentId, JobId};
use tracing::{debug, warn};

use super::{EventLoop, Work};
use crate::roles::{checker::CheckerInput, creator::CreatorInput, worker::WorkerInput};

impl EventLoop {
    /// Forgets `jobs` (finished more than the retention period ago, or evicted).
    pub(super) fn prune(&mut self, jobs: Vec<JobId>) {
        let mut outputs: BTreeSet<ContentId> = BTreeSet::new();
        let mut scenes: BTreeSet<ContentId> = BTreeSet::new();
        let mut frames: BTreeSet<String> = BTreeSet::new();
        for job in &jobs {
            debug!(job = %job.short(), "pruning a finished job");
            let spec = self
                .jobs
                .remove(job)
                .or_else(|| self.store.job(job).ok().flatten());
            scenes.extend(spec.map(|s| s.scene));
            if let Some(progress) = self.creator.progress(job) {
                frames.extend(progress.frame_cids.into_values());
            }
            if let Ok(claims) = self.store.claims_of(job) {
                outputs.extend(claims.into_iter().map(|c| c.output));
            }
            self.queue
                .push_back(Work::Worker(WorkerInput::Forget(*job)));
            self.queue
                .push_back(Work::Creator(CreatorInput::Forget(*job)));
            self.queue
                .push_back(Work::Checker(CheckerInput::Forget(*job)));
            self.funding_told.remove(job);
            if self.credits.is_some() {
                self.queue
                    .push_back(Work::Credits(crate::roles::credits::CreditsInput::Forget(
                        *job,
                    )));
            }
        }
        // Keep what a job still held names.
        if !outputs.is_empty() {
            for live in self.jobs.ids() {
                for claim in self.store.claims_of(&live).unwrap_or_default() {
                    outputs.remove(&claim.output);
                }
            }
        }
        scenes.retain(|scene| !self.jobs.uses_scene(scene));
        for progress in self.creator.list() {
            if !jobs.contains(&progress.id) {
                for cid in progress.frame_cids.values() {
                    frames.remove(cid);
                }
            }
        }
        for output in &outputs {
            let _ = self.store.remove_block(output);
        }
        for scene in &scenes {
            self.scenes.forget(scene);
            let _ = self.store.remove_block(scene);
        }
        self.tasks.remove_files(frames.into_iter().collect());
        for job in &jobs {
            if let Err(e) = self.store.remove_job(job) {
                warn!(job = %job.short(), error = %e, "cannot prune the job from the database");
            }
        }
    }
}
