//! A creator's job as the rest of the node sees it: its state, its durable record, its
//! progress, and the events that report it.

use std::collections::BTreeMap;

use pictor_protocol::{JobId, PublicKey, ShardId, Verdict};
use serde::{Deserialize, Serialize};

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Published; no shard assigned yet.
    Submitted,
    /// Shards are being rendered and verified.
    Running,
    /// Every frame is verified and stored.
    Complete,
    /// The job cannot finish (the reason is in the record).
    Failed,
    /// Cancelled by its creator.
    Cancelled,
}

impl JobState {
    /// Whether the job has ended (complete, failed or cancelled).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Complete | JobState::Failed | JobState::Cancelled
        )
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobState::Submitted => "submitted",
            JobState::Running => "running",
            JobState::Complete => "complete",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        })
    }
}

/// What survives a restart of a creator's job: its state and its stored frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job.
    pub id: JobId,
    /// Where it stands.
    pub state: JobState,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// When it was submitted (ms since the epoch).
    pub submitted_ms: u64,
    /// When it finished, once it has.
    pub finished_ms: Option<u64>,
    /// The frames stored so far: frame number and the CID of its PNG (a UnixFS file).
    pub frames: BTreeMap<u32, String>,
}

impl JobRecord {
    /// The record of a job just submitted at `now_ms`.
    pub fn submitted(id: JobId, now_ms: u64) -> JobRecord {
        JobRecord {
            id,
            state: JobState::Submitted,
            reason: None,
            submitted_ms: now_ms,
            finished_ms: None,
            frames: BTreeMap::new(),
        }
    }
}

/// A job's progress, for status queries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobProgress {
    /// The job.
    pub id: JobId,
    /// Where it stands.
    pub state: JobState,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// Shards in the job.
    pub shards: u64,
    /// Shards with at least one claim.
    pub rendered: u64,
    /// Shards certified and fetched.
    pub verified: u64,
    /// Claims rejected by a quorum.
    pub rejected: u64,
    /// Frames in the job.
    pub frames: u32,
    /// What the job renders: the scene's name, the engine, the image size, samples per
    /// pixel and tile size.
    pub scene_name: String,
    pub engine: pictor_protocol::Engine,
    pub width: u32,
    pub height: u32,
    pub samples: u32,
    pub tile: u32,
    /// The stored frames: frame number and CID.
    pub frame_cids: BTreeMap<u32, String>,
    /// When it was submitted, and when it finished.
    pub submitted_ms: u64,
    pub finished_ms: Option<u64>,
    /// Its escrow, on a network with credits where it has one (filled by the node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escrow: Option<crate::wallet::JobEscrow>,
    /// Why its payments are stopped (its budget is out), where this node knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
}

/// The progress of a job this node submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// A shard was given to a worker.
    Assigned {
        shard: ShardId,
        worker: PublicKey,
        attempt: u32,
    },
    /// A worker claimed a result for a shard.
    Rendered {
        shard: ShardId,
        worker: PublicKey,
        render_ms: u64,
    },
    /// A checker attested a claim; `samples` is the number of pixels it re-rendered.
    Attested {
        shard: ShardId,
        checker: PublicKey,
        verdict: Verdict,
        samples: usize,
    },
    /// A shard's output is certified, fetched, checked and placed into its frame.
    Verified { shard: ShardId, worker: PublicKey },
    /// A claim was rejected by a quorum; the shard goes to another worker.
    Rejected { shard: ShardId, worker: PublicKey },
    /// A frame is whole, encoded as PNG and stored as a UnixFS file with this CID.
    FrameStored { job: JobId, frame: u32, cid: String },
    /// The job ended: complete, failed (with the reason) or cancelled.
    Finished {
        job: JobId,
        state: JobState,
        reason: Option<String>,
    },
    /// Something went wrong for the job that the user should see.
    Problem { job: JobId, message: String },
}
