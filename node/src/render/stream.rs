//! A stream of one-tile jobs through a local network, a fixed number in flight at once:
//! what the soak and finality benches run.

use std::time::Duration;

use pictor_protocol::{ContentId, Engine, FrameRange, JobSpec};

use crate::{devnet::Devnet, JobState, NodeError, NodeEvent};

/// The jobs: `count` of them, each one tile of `side` × `side` pixels at one sample.
pub(super) struct TileJobs<'a> {
    pub(super) name: &'a str,
    pub(super) side: u32,
    pub(super) count: usize,
    pub(super) in_flight: usize,
    /// How long to wait for the next job to finish before giving up.
    pub(super) stall: Duration,
}

/// Submits the jobs from the devnet's creator, keeping `in_flight` of them open, until all
/// are complete; `on_done` hears how many are after each. A job that fails ends the run.
pub(super) async fn run(
    devnet: &mut Devnet,
    bundle: &[u8],
    jobs: &TileJobs<'_>,
    mut on_done: impl FnMut(usize),
) -> Result<(), NodeError> {
    let spec = |nonce: usize| JobSpec {
        creator: devnet.creator_key.public(),
        scene: ContentId::of(bundle),
        scene_name: jobs.name.into(),
        engine: Engine::Builtin,
        frames: FrameRange { first: 1, last: 1 },
        width: jobs.side,
        height: jobs.side,
        samples: 1,
        tile: jobs.side,
        price_cap: 0,
        nonce: nonce as u64,
        epoch: 0,
    };
    let in_flight = jobs.in_flight.max(1);
    let (mut submitted, mut done) = (0usize, 0usize);
    while done < jobs.count {
        while submitted < jobs.count && submitted - done < in_flight {
            devnet
                .creator
                .submit(spec(submitted), bundle.to_vec())
                .await?;
            submitted += 1;
        }
        let event = tokio::time::timeout(jobs.stall, devnet.events.recv())
            .await
            .map_err(|_| {
                NodeError::Config(format!(
                    "no job finished for {} s ({done} done)",
                    jobs.stall.as_secs()
                ))
            })?
            .ok_or(NodeError::Shutdown)?;
        if let NodeEvent::Finished { state, reason, job } = event {
            if state != JobState::Complete {
                return Err(NodeError::InvalidJob(format!(
                    "job {} {state}: {}",
                    job.short(),
                    reason.unwrap_or_default()
                )));
            }
            done += 1;
            on_done(done);
        }
    }
    Ok(())
}
