//! The worker: which shards it renders, in what order, and what it claims. A deterministic
//! state machine like the checker: the node loop feeds it jobs, assignments, its own
//! claims (on replay) and finished renders; it answers with the renders to start and the
//! claims to publish. It never renders a shard it has claimed, across restarts too.
//!
//! The rendering itself (and the deliberate faults of `--faulty-workers`) is in
//! [`render`]; the loop runs it on the blocking pool.

mod render;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub use render::{render_shard, render_shard_with, ShardError, Tamper};

use pictor_protocol::{
    canary, rules, Assignment, CanaryReveal, ContentId, Engine, JobId, Keypair, PublicKey,
    ResultClaim, ShardId,
};

/// Assignments kept while their job is on its way (gossip is not ordered); past it an
/// early assignment is dropped.
pub const MAX_EARLY_ASSIGNMENTS: usize = 1024;
/// Assignments queued for rendering (a checker hands a worker a few at a time). Past it
/// an assignment is dropped: the worker never claims it, and the checkers give the shard
/// to another worker when its timeout runs out.
pub const MAX_QUEUE: usize = 4096;
/// Jobs whose moved committees a worker remembers.
pub const MAX_MOVED: usize = 10_000;
/// Outputs of shards not yet final kept for claiming again (content ids, not pixels).
pub const MAX_OUTPUTS: usize = 4096;

/// What a worker is, for the claims it makes.
#[derive(Debug, Clone)]
pub struct WorkerParams {
    /// The network's checkers (assignments come from a job's committee of them).
    pub checkers: Vec<PublicKey>,
    /// Checkers on a job's committee.
    pub committee_size: usize,
    /// The device the worker renders on, as its claims name it.
    pub device: String,
    /// The device Blender renders on, when it is not the CPU: a Blender shard's claim
    /// names it, so that checkers hold GPU output to the cross-device thresholds.
    pub blender_device: Option<String>,
    /// Deliberately wrong outputs, for demonstrations and tests of verification.
    pub tamper: Option<Tamper>,
    /// The network id (the domain of the canary draws).
    pub network: String,
    /// Shard attempts that are canaries, in parts per million (0: none).
    pub canary_rate_ppm: u32,
}

/// A rendered shard: its output block is already in the node's block store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedShard {
    /// The output block's content id.
    pub output: ContentId,
    /// Tile width.
    pub width: u32,
    /// Tile height.
    pub height: u32,
    /// How long the render took.
    pub render_ms: u64,
}

/// What the node loop tells the worker.
#[derive(Debug)]
pub enum WorkerInput {
    /// A job is known (validated and stored).
    Job { id: JobId, engine: Engine },
    /// An assignment (to any worker: the worker keeps its own).
    Assignment(Assignment),
    /// A claim this worker made earlier (replayed from the database at start).
    Claimed(ResultClaim),
    /// A shard became final: nobody needs it rendered any more.
    ShardDone(ShardId),
    /// A quorum rejected `worker`'s claim on a shard attempt.
    Rejected {
        shard: ShardId,
        attempt: u32,
        worker: PublicKey,
    },
    /// A job is finished or pruned: forget it.
    Forget(JobId),
    /// The checker set moved a job to a new committee: its members may assign too.
    Moved {
        job: JobId,
        committee: Vec<PublicKey>,
    },
    /// The render started by [`WorkerOutput::Render`] finished (or could not start).
    Rendered {
        assignment: Assignment,
        result: Result<RenderedShard, String>,
    },
    /// Replay is over: start rendering.
    Start,
    /// The node is stopping: start nothing new.
    Stop,
}

/// What the worker asks the node loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerOutput {
    /// Render this shard (with the job's scene), falsified as `tamper` says, store the
    /// output block and answer [`WorkerInput::Rendered`].
    Render {
        assignment: Assignment,
        tamper: Option<Tamper>,
    },
    /// Sign, store and gossip this claim.
    Claim(ResultClaim),
    /// A render failed: the shard is left to the checkers' timeout.
    Failed { shard: ShardId, reason: String },
    /// A canary's rejection is certified: announce [`Worker::reveals`] now.
    Reveal(CanaryReveal),
}

/// The worker's state.
#[derive(Debug)]
pub struct Worker {
    keypair: Keypair,
    me: PublicKey,
    params: WorkerParams,
    /// Known jobs and their engines.
    jobs: BTreeMap<JobId, Engine>,
    queue: VecDeque<Assignment>,
    early: BTreeMap<JobId, Vec<Assignment>>,
    /// The shard being rendered now.
    current: Option<Assignment>,
    /// Shards (and attempts) claimed, or final: never rendered again.
    claimed: BTreeSet<(ShardId, u32)>,
    done: BTreeSet<ShardId>,
    /// Outputs rendered so far (decides which ones a faulty worker falsifies).
    rendered: u64,
    /// The output of each shard rendered and not yet final: a new attempt of the same
    /// shard (its committee moved, its claim timed out) is claimed again at once.
    outputs: BTreeMap<ShardId, RenderedShard>,
    /// Members of the committees a job moved to (besides its first committee).
    moved: BTreeMap<JobId, BTreeSet<PublicKey>>,
    /// Canaries rendered and claimed, waiting for their rejection.
    canaries: BTreeMap<(ShardId, u32), CanaryReveal>,
    /// Canaries whose rejection is certified, announced in every heartbeat until their
    /// job is forgotten (the newest [`canary::MAX_REVEALS`]).
    reveals: VecDeque<CanaryReveal>,
    started: bool,
    stopping: bool,
}

impl Worker {
    /// A worker with key `keypair`.
    pub fn new(keypair: Keypair, params: WorkerParams) -> Worker {
        Worker {
            me: keypair.public(),
            keypair,
            params,
            jobs: BTreeMap::new(),
            queue: VecDeque::new(),
            early: BTreeMap::new(),
            moved: BTreeMap::new(),
            current: None,
            claimed: BTreeSet::new(),
            done: BTreeSet::new(),
            rendered: 0,
            outputs: BTreeMap::new(),
            canaries: BTreeMap::new(),
            reveals: VecDeque::new(),
            started: false,
            stopping: false,
        }
    }

    /// The device its claims name.
    pub fn device(&self) -> &str {
        &self.params.device
    }

    /// Whether a shard is being rendered now.
    pub fn is_rendering(&self) -> bool {
        self.current.is_some()
    }

    /// Assignments waiting to be rendered.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The canaries whose rejection is certified, for the worker's heartbeats.
    pub fn reveals(&self) -> Vec<CanaryReveal> {
        self.reveals.iter().cloned().collect()
    }

    /// Feeds one input; returns what to do.
    pub fn handle(&mut self, input: WorkerInput) -> Vec<WorkerOutput> {
        let mut out = Vec::new();
        match input {
            WorkerInput::Job { id, engine } => {
                self.jobs.insert(id, engine);
                for a in self.early.remove(&id).unwrap_or_default() {
                    self.enqueue(a);
                }
            }
            WorkerInput::Assignment(a) => {
                if a.worker != self.me {
                    return out;
                }
                if !self.is_from_committee(&a) {
                    tracing::debug!(shard = %a.shard, by = %a.assigned_by.short(), "an assignment from outside the job's committee; dropped");
                    return out;
                }
                if self.jobs.contains_key(&a.shard.job) {
                    self.enqueue(a);
                } else if self.early.values().map(Vec::len).sum::<usize>() < MAX_EARLY_ASSIGNMENTS {
                    self.early.entry(a.shard.job).or_default().push(a);
                } else {
                    tracing::debug!(shard = %a.shard, "{MAX_EARLY_ASSIGNMENTS} assignments wait for their jobs already; dropped");
                }
            }
            WorkerInput::Claimed(claim) => {
                if claim.worker == self.me {
                    self.claimed.insert((claim.shard, claim.attempt));
                }
            }
            WorkerInput::ShardDone(shard) => {
                self.done.insert(shard);
                self.outputs.remove(&shard);
                self.queue.retain(|a| a.shard != shard);
                self.canaries.retain(|(s, _), _| *s != shard);
            }
            WorkerInput::Rejected {
                shard,
                attempt,
                worker,
            } => {
                if worker == self.me {
                    if let Some(reveal) = self.canaries.remove(&(shard, attempt)) {
                        if self.reveals.len() >= canary::MAX_REVEALS {
                            self.reveals.pop_front();
                        }
                        self.reveals.push_back(reveal.clone());
                        out.push(WorkerOutput::Reveal(reveal));
                    }
                }
            }
            WorkerInput::Forget(job) => {
                self.jobs.remove(&job);
                self.early.remove(&job);
                self.moved.remove(&job);
                self.queue.retain(|a| a.shard.job != job);
                self.claimed.retain(|(s, _)| s.job != job);
                self.done.retain(|s| s.job != job);
                self.outputs.retain(|s, _| s.job != job);
                self.canaries.retain(|(s, _), _| s.job != job);
                self.reveals.retain(|r| r.shard.job != job);
            }
            WorkerInput::Rendered { assignment, result } => {
                if self.current.as_ref() == Some(&assignment) {
                    self.current = None;
                }
                match result {
                    Ok(rendered) => {
                        // A canary's output is wrong on purpose: never claimed again.
                        let canary = self
                            .canaries
                            .contains_key(&(assignment.shard, assignment.attempt));
                        if !canary && self.outputs.len() < MAX_OUTPUTS {
                            self.outputs.insert(assignment.shard, rendered.clone());
                        }
                        out.push(WorkerOutput::Claim(self.claim(&assignment, rendered)))
                    }
                    Err(reason) => out.push(WorkerOutput::Failed {
                        shard: assignment.shard,
                        reason,
                    }),
                }
            }
            WorkerInput::Moved { job, committee } => {
                if self.moved.contains_key(&job) || self.moved.len() < MAX_MOVED {
                    self.moved.entry(job).or_default().extend(committee);
                }
            }
            WorkerInput::Start => self.started = true,
            WorkerInput::Stop => self.stopping = true,
        }
        self.start_next(&mut out);
        out
    }

    fn is_from_committee(&self, a: &Assignment) -> bool {
        self.moved
            .get(&a.shard.job)
            .is_some_and(|m| m.contains(&a.assigned_by))
            || rules::committee(
                &a.shard.job,
                &self.params.checkers,
                self.params.committee_size,
            )
            .contains(&a.assigned_by)
    }

    fn enqueue(&mut self, a: Assignment) {
        let known = self.claimed.contains(&(a.shard, a.attempt))
            || self.done.contains(&a.shard)
            || self.current.as_ref() == Some(&a)
            || self.queue.contains(&a);
        if known {
            return;
        }
        if self.queue.len() < MAX_QUEUE {
            self.queue.push_back(a);
        } else {
            tracing::debug!(shard = %a.shard, "{MAX_QUEUE} assignments queued already; dropped");
        }
    }

    fn start_next(&mut self, out: &mut Vec<WorkerOutput>) {
        if !self.started || self.stopping || self.current.is_some() {
            return;
        }
        while let Some(a) = self.queue.pop_front() {
            if self.claimed.contains(&(a.shard, a.attempt)) || self.done.contains(&a.shard) {
                continue;
            }
            if let Some(rendered) = self.outputs.get(&a.shard).cloned() {
                out.push(WorkerOutput::Claim(self.claim(&a, rendered)));
                continue;
            }
            let drawn = CanaryReveal::draw(
                &self.keypair,
                &self.params.network,
                &a.shard,
                a.attempt,
                self.params.canary_rate_ppm,
            );
            let tamper = match drawn {
                Some(reveal) if self.canaries.len() < MAX_OUTPUTS => {
                    self.canaries.insert((a.shard, a.attempt), reveal);
                    Some(Tamper::Canary)
                }
                _ => self.params.tamper.and_then(|t| t.for_output(self.rendered)),
            };
            self.rendered += 1;
            self.current = Some(a.clone());
            out.push(WorkerOutput::Render {
                assignment: a,
                tamper,
            });
            return;
        }
    }

    fn claim(&mut self, a: &Assignment, rendered: RenderedShard) -> ResultClaim {
        self.claimed.insert((a.shard, a.attempt));
        let blender = self
            .jobs
            .get(&a.shard.job)
            .is_some_and(|engine| engine.is_blender());
        let device = match &self.params.blender_device {
            Some(device) if blender => format!("{device} (blender)"),
            _ => self.params.device.clone(),
        };
        ResultClaim {
            shard: a.shard,
            worker: self.me,
            attempt: a.attempt,
            output: rendered.output,
            width: rendered.width,
            height: rendered.height,
            render_ms: rendered.render_ms,
            device,
        }
    }
}

#[cfg(test)]
mod tests;
