//! The creator: the jobs this node submitted, their lifecycle and progress, and the
//! assembly of their frames. A deterministic state machine like the checker: the node
//! loop feeds it its own jobs, the gossip about them, fetched outputs and stored frames;
//! it answers with the outputs to fetch, the frames to store, the records to persist and
//! the progress events to report.
//!
//! A certified tile is fetched by CID, placed into its frame buffer, and once every tile
//! of a frame is in, the frame goes to the loop to be encoded as PNG (checked to decode to
//! the certified pixels) and added to the block store as a UnixFS file. A job is complete
//! when every frame is stored. Its [`JobRecord`] is persisted at every change of state and
//! restored at start, so a node killed mid-job finishes assembling it after a restart.

mod frames;
mod job;
mod store;

use std::collections::{BTreeMap, BTreeSet};

use pictor_protocol::{
    Assignment, Attestation, ContentId, JobId, JobSpec, PublicKey, QuorumCertificate, ResultClaim,
    ShardId, TileImage, Verdict,
};

use frames::Frames;
pub use job::{JobProgress, JobRecord, JobState, NodeEvent};
pub use store::{FrameNotStored, FRAME_RETRY_MS, MAX_WAITING_FRAME_BYTES};

/// How often the creator tries to fetch one certified output before the job fails; it
/// waits longer after each failure (1 s, 2 s, 4 s, … at most 30 s), so a peer that is
/// not reachable yet (this node has just started, say) has minutes to become so.
pub const MAX_FETCH_ATTEMPTS: u32 = 10;

/// One certified output being fetched.
#[derive(Debug, Clone, Copy)]
struct Fetch {
    output: ContentId,
    worker: PublicKey,
    failures: u32,
    retry_at_ms: Option<u64>,
}

/// What the node loop tells the creator.
#[derive(Debug)]
pub enum CreatorInput {
    /// A job this node signed and published.
    Submitted(JobSpec),
    /// A job of this node's, replayed at start with its record (`None`: no record yet).
    Restored(JobSpec, Option<JobRecord>),
    /// Gossip about any job (the creator keeps what concerns its own).
    Assignment(Assignment),
    Claim(ResultClaim),
    Attestation(Attestation),
    Certificate(QuorumCertificate),
    /// A certified output, fetched and checked against its CID (or why not).
    OutputFetched {
        shard: ShardId,
        worker: PublicKey,
        result: Result<TileImage, String>,
    },
    /// A frame stored as a UnixFS file (its CID), or why not.
    FrameStored {
        job: JobId,
        frame: u32,
        result: Result<String, FrameNotStored>,
    },
    /// The job cannot go on.
    Fail {
        job: JobId,
        reason: String,
    },
    /// The user cancelled the job.
    Cancel(JobId),
    /// A finished job is pruned: forget it.
    Forget(JobId),
    /// Time passes: a job that has heard nothing for a while asks peers for the
    /// certificates it may have missed (while this node was down, say).
    Tick,
}

/// How long a running job hears nothing before it asks peers for its certificates.
pub const SYNC_AFTER_MS: u64 = 5_000;

/// What the creator asks the node loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum CreatorOutput {
    /// Fetch a certified output (from its worker first) and answer
    /// [`CreatorInput::OutputFetched`].
    FetchOutput {
        shard: ShardId,
        output: ContentId,
        worker: PublicKey,
    },
    /// Encode this frame as PNG, store it as a UnixFS file and answer
    /// [`CreatorInput::FrameStored`].
    StoreFrame {
        job: JobId,
        frame: u32,
        width: u32,
        height: u32,
        rgb: Vec<u8>,
    },
    /// Write this record (durably) before anything depends on it.
    Persist(JobRecord),
    /// Tell whoever watches the job.
    Event(NodeEvent),
    /// Ask peers for the job's certificates; they come back as certificates.
    SyncCertificates(JobId),
    /// Gossip the job again: no shard of it has been assigned, so its first announcement
    /// may have been lost to peers that could not take it (the peers that have it ignore
    /// it).
    Announce(JobId),
}

#[derive(Debug)]
struct CreatorJob {
    spec: JobSpec,
    record: JobRecord,
    rendered: BTreeSet<ShardId>,
    /// Shards certified valid whose output is being fetched or is in.
    delivered: BTreeSet<ShardId>,
    /// Outputs being fetched: what, from whom, how many tries failed, and when to try
    /// again after a failure.
    fetching: BTreeMap<ShardId, Fetch>,
    verified: u64,
    rejected: u64,
    frames: Frames,
    /// When the job last heard anything, and last asked for its certificates.
    heard_ms: u64,
    synced_ms: u64,
}

/// The creator's state.
#[derive(Debug, Default)]
pub struct Creator {
    jobs: BTreeMap<JobId, CreatorJob>,
}

impl CreatorInput {
    /// The job an input concerns (its arrival counts as the job hearing something; a
    /// restored job has heard nothing yet).
    fn job(&self) -> Option<JobId> {
        match self {
            CreatorInput::Submitted(spec) => Some(spec.id()),
            CreatorInput::Assignment(a) => Some(a.shard.job),
            CreatorInput::Claim(c) => Some(c.shard.job),
            CreatorInput::Attestation(a) => Some(a.vote.shard.job),
            CreatorInput::Certificate(qc) => Some(qc.vote.shard.job),
            CreatorInput::OutputFetched { shard, .. } => Some(shard.job),
            CreatorInput::FrameStored { job, .. } => Some(*job),
            CreatorInput::Restored(..)
            | CreatorInput::Fail { .. }
            | CreatorInput::Cancel(_)
            | CreatorInput::Forget(_)
            | CreatorInput::Tick => None,
        }
    }
}

impl Creator {
    /// A creator with no jobs.
    pub fn new() -> Creator {
        Creator::default()
    }

    /// Whether `job` is one of this node's.
    pub fn owns(&self, job: &JobId) -> bool {
        self.jobs.contains_key(job)
    }

    /// The progress of one job.
    pub fn progress(&self, job: &JobId) -> Option<JobProgress> {
        self.jobs.get(job).map(|j| JobProgress {
            id: *job,
            state: j.record.state,
            reason: j.record.reason.clone(),
            shards: j.spec.shard_count(),
            rendered: j.rendered.len() as u64,
            verified: j.verified,
            rejected: j.rejected,
            frames: j.spec.frames.len(),
            scene_name: j.spec.scene_name.clone(),
            engine: j.spec.engine,
            width: j.spec.width,
            height: j.spec.height,
            samples: j.spec.samples,
            tile: j.spec.tile,
            frame_cids: j.record.frames.clone(),
            submitted_ms: j.record.submitted_ms,
            finished_ms: j.record.finished_ms,
            escrow: None,
            paused: None,
        })
    }

    /// Every job, oldest first.
    pub fn list(&self) -> Vec<JobProgress> {
        let mut all: Vec<JobProgress> = self.jobs.keys().filter_map(|j| self.progress(j)).collect();
        all.sort_by_key(|p| (p.submitted_ms, p.id));
        all
    }

    /// The state of every job, for counting.
    pub fn states(&self) -> impl Iterator<Item = JobState> + '_ {
        self.jobs.values().map(|j| j.record.state)
    }

    /// Feeds one input at time `now_ms`; returns what to do.
    pub fn handle(&mut self, now_ms: u64, input: CreatorInput) -> Vec<CreatorOutput> {
        let mut out = Vec::new();
        if let Some(job) = input.job().and_then(|id| self.jobs.get_mut(&id)) {
            job.heard_ms = job.heard_ms.max(now_ms);
        }
        match input {
            CreatorInput::Submitted(spec) => {
                let id = spec.id();
                self.add(spec, JobRecord::submitted(id, now_ms), &mut out);
                if let Some(job) = self.jobs.get_mut(&id) {
                    job.heard_ms = now_ms;
                }
            }
            CreatorInput::Restored(spec, record) => {
                let record = record.unwrap_or_else(|| JobRecord::submitted(spec.id(), now_ms));
                self.add(spec, record, &mut out);
            }
            CreatorInput::Assignment(a) => {
                if let Some(job) = self.jobs.get_mut(&a.shard.job) {
                    if job.record.state == JobState::Submitted {
                        job.record.state = JobState::Running;
                        out.push(CreatorOutput::Persist(job.record.clone()));
                    }
                    out.push(CreatorOutput::Event(NodeEvent::Assigned {
                        shard: a.shard,
                        worker: a.worker,
                        attempt: a.attempt,
                    }));
                }
            }
            CreatorInput::Claim(c) => {
                if let Some(job) = self.jobs.get_mut(&c.shard.job) {
                    job.rendered.insert(c.shard);
                    out.push(CreatorOutput::Event(NodeEvent::Rendered {
                        shard: c.shard,
                        worker: c.worker,
                        render_ms: c.render_ms,
                    }));
                }
            }
            CreatorInput::Attestation(a) => {
                if self.jobs.contains_key(&a.vote.shard.job) {
                    let regions = a
                        .regions
                        .iter()
                        .map(pictor_protocol::RegionScore::pixel_count)
                        .fold(0, u64::saturating_add);
                    let regions = usize::try_from(regions).unwrap_or(usize::MAX);
                    out.push(CreatorOutput::Event(NodeEvent::Attested {
                        shard: a.vote.shard,
                        checker: a.checker,
                        verdict: a.vote.verdict,
                        samples: a.samples.len().saturating_add(regions),
                    }));
                }
            }
            CreatorInput::Certificate(qc) => self.on_certificate(qc, &mut out),
            CreatorInput::OutputFetched {
                shard,
                worker,
                result,
            } => self.on_output(now_ms, shard, worker, result, &mut out),
            CreatorInput::FrameStored { job, frame, result } => {
                self.on_frame_stored(now_ms, job, frame, result, &mut out)
            }
            CreatorInput::Fail { job, reason } => {
                self.finish(now_ms, job, JobState::Failed, Some(reason), &mut out)
            }
            CreatorInput::Cancel(job) => {
                self.finish(now_ms, job, JobState::Cancelled, None, &mut out)
            }
            CreatorInput::Forget(job) => {
                self.jobs.remove(&job);
            }
            CreatorInput::Tick => {
                for job in self.jobs.values_mut() {
                    for (shard, fetch) in &mut job.fetching {
                        if fetch.retry_at_ms.is_some_and(|at| now_ms >= at) {
                            fetch.retry_at_ms = None;
                            out.push(CreatorOutput::FetchOutput {
                                shard: *shard,
                                output: fetch.output,
                                worker: fetch.worker,
                            });
                        }
                    }
                }
                self.store_due_frames(now_ms, &mut out);
                for (id, job) in &mut self.jobs {
                    let quiet = now_ms.saturating_sub(job.heard_ms.max(job.synced_ms));
                    if !job.record.state.is_finished() && quiet >= SYNC_AFTER_MS {
                        job.synced_ms = now_ms;
                        out.push(CreatorOutput::SyncCertificates(*id));
                        if job.record.state == JobState::Submitted {
                            out.push(CreatorOutput::Announce(*id));
                        }
                    }
                }
            }
        }
        out
    }

    fn add(&mut self, spec: JobSpec, record: JobRecord, out: &mut Vec<CreatorOutput>) {
        let id = spec.id();
        if self.jobs.contains_key(&id) {
            return;
        }
        let frames = Frames::new(&spec, &record.frames);
        out.push(CreatorOutput::Persist(record.clone()));
        self.jobs.insert(
            id,
            CreatorJob {
                spec,
                record,
                rendered: BTreeSet::new(),
                delivered: BTreeSet::new(),
                fetching: BTreeMap::new(),
                verified: 0,
                rejected: 0,
                frames,
                heard_ms: 0,
                synced_ms: 0,
            },
        );
    }

    fn on_certificate(&mut self, qc: QuorumCertificate, out: &mut Vec<CreatorOutput>) {
        let shard = qc.vote.shard;
        let Some(job) = self.jobs.get_mut(&shard.job) else {
            return;
        };
        if job.record.state.is_finished() || job.delivered.contains(&shard) {
            return;
        }
        match qc.vote.verdict {
            Verdict::Valid => {
                job.delivered.insert(shard);
                if job.frames.is_stored(shard.frame) {
                    // Assembled before a restart: nothing to fetch.
                    job.verified += 1;
                    return;
                }
                job.fetching.insert(
                    shard,
                    Fetch {
                        output: qc.vote.output,
                        worker: qc.vote.worker,
                        failures: 0,
                        retry_at_ms: None,
                    },
                );
                out.push(CreatorOutput::FetchOutput {
                    shard,
                    output: qc.vote.output,
                    worker: qc.vote.worker,
                });
            }
            Verdict::Invalid => {
                job.rejected += 1;
                out.push(CreatorOutput::Event(NodeEvent::Rejected {
                    shard,
                    worker: qc.vote.worker,
                }));
            }
        }
    }

    fn on_output(
        &mut self,
        now_ms: u64,
        shard: ShardId,
        worker: PublicKey,
        result: Result<TileImage, String>,
        out: &mut Vec<CreatorOutput>,
    ) {
        let Some(job) = self.jobs.get_mut(&shard.job) else {
            return;
        };
        if job.record.state.is_finished() {
            return;
        }
        let tile = match result {
            Ok(tile) => tile,
            Err(reason) => {
                // Bitswap could not get it: try again, a few times, then give up.
                let message = format!("cannot fetch the certified output of {shard}: {reason}");
                out.push(CreatorOutput::Event(NodeEvent::Problem {
                    job: shard.job,
                    message: message.clone(),
                }));
                if let Some(fetch) = job.fetching.get_mut(&shard) {
                    fetch.failures += 1;
                    if fetch.failures < MAX_FETCH_ATTEMPTS {
                        let backoff = (1_000u64 << fetch.failures.min(5)).min(30_000);
                        fetch.retry_at_ms = Some(now_ms + backoff);
                        return;
                    }
                }
                return self.finish(now_ms, shard.job, JobState::Failed, Some(message), out);
            }
        };
        job.fetching.remove(&shard);
        match job.frames.place(&job.spec, &shard, &tile) {
            Err(reason) => {
                let message = format!("cannot use the certified output of {shard}: {reason}");
                out.push(CreatorOutput::Event(NodeEvent::Problem {
                    job: shard.job,
                    message: message.clone(),
                }));
                self.finish(now_ms, shard.job, JobState::Failed, Some(message), out);
            }
            Ok(full) => {
                job.verified += 1;
                out.push(CreatorOutput::Event(NodeEvent::Verified { shard, worker }));
                if let Some(rgb) = full {
                    out.push(CreatorOutput::StoreFrame {
                        job: shard.job,
                        frame: shard.frame,
                        width: job.spec.width,
                        height: job.spec.height,
                        rgb,
                    });
                }
            }
        }
    }

    fn finish(
        &mut self,
        now_ms: u64,
        id: JobId,
        state: JobState,
        reason: Option<String>,
        out: &mut Vec<CreatorOutput>,
    ) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if job.record.state.is_finished() {
            return;
        }
        job.record.state = state;
        if state == JobState::Complete {
            // Every frame is stored, and a frame is stored only once all its tiles are
            // certified (some perhaps before a restart).
            job.verified = job.spec.shard_count();
        }
        job.record.reason = reason.clone();
        job.record.finished_ms = Some(now_ms);
        job.frames.clear();
        job.fetching.clear();
        out.push(CreatorOutput::Persist(job.record.clone()));
        out.push(CreatorOutput::Event(NodeEvent::Finished {
            job: id,
            state,
            reason,
        }));
    }
}

#[cfg(test)]
mod tests;
