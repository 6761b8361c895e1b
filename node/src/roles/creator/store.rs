//! Whole frames going to the block store, and those the disk had no room for: a frame
//! that could not be stored for a full disk waits in memory and is stored again every
//! [`FRAME_RETRY_MS`] until there is room, so the certified pixels of a job are never
//! dropped for want of space; any other failure fails the job with its reason.

use pictor_protocol::JobId;

use super::{Creator, CreatorOutput, JobState, NodeEvent};

/// How long a frame the disk had no room for waits before it is stored again.
pub const FRAME_RETRY_MS: u64 = 2_000;

/// Bytes of whole frames that may wait for room on the disk, over all jobs. A frame past
/// it fails its job (the disk stays full for longer than memory should hold frames).
pub const MAX_WAITING_FRAME_BYTES: usize = 1024 * 1024 * 1024;

/// Why a frame was not stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameNotStored {
    /// What went wrong, for the job's reason or its problem event.
    pub reason: String,
    /// The disk is full: the frame's pixels, to store again once there is room. `None`
    /// when another try would fail the same way.
    pub retry: Option<Vec<u8>>,
}

impl Creator {
    /// The loop stored a frame, or could not.
    pub(super) fn on_frame_stored(
        &mut self,
        now_ms: u64,
        id: JobId,
        frame: u32,
        result: Result<String, FrameNotStored>,
        out: &mut Vec<CreatorOutput>,
    ) {
        let waiting: usize = self.jobs.values().map(|j| j.frames.waiting_bytes()).sum();
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if job.record.state.is_finished() {
            return;
        }
        match result {
            Err(FrameNotStored {
                reason,
                retry: Some(rgb),
            }) if waiting.saturating_add(rgb.len()) <= MAX_WAITING_FRAME_BYTES => {
                out.push(CreatorOutput::Event(NodeEvent::Problem {
                    job: id,
                    message: format!(
                        "frame {frame} waits for room on the disk (tried again every {} s): {reason}",
                        FRAME_RETRY_MS / 1_000
                    ),
                }));
                job.frames
                    .wait(frame, rgb, now_ms.saturating_add(FRAME_RETRY_MS));
            }
            Err(FrameNotStored { reason, retry }) => {
                let message = match retry {
                    Some(_) => format!(
                        "cannot store frame {frame}: {reason}; {} MiB of frames already wait for room",
                        waiting / (1024 * 1024)
                    ),
                    None => format!("cannot store frame {frame}: {reason}"),
                };
                self.finish(now_ms, id, JobState::Failed, Some(message), out);
            }
            Ok(cid) => {
                job.frames.stored(frame);
                job.record.frames.insert(frame, cid.clone());
                out.push(CreatorOutput::Persist(job.record.clone()));
                out.push(CreatorOutput::Event(NodeEvent::FrameStored {
                    job: id,
                    frame,
                    cid,
                }));
                if job.record.frames.len() as u32 == job.spec.frames.len() {
                    self.finish(now_ms, id, JobState::Complete, None, out);
                }
            }
        }
    }

    /// Frames whose wait for room is over go to the store again.
    pub(super) fn store_due_frames(&mut self, now_ms: u64, out: &mut Vec<CreatorOutput>) {
        for (id, job) in &mut self.jobs {
            for (frame, rgb) in job.frames.due(now_ms) {
                out.push(CreatorOutput::StoreFrame {
                    job: *id,
                    frame,
                    width: job.spec.width,
                    height: job.spec.height,
                    rgb,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{deliver, spec, stored_frames};
    use super::super::{CreatorInput, CreatorOutput, JobState, NodeEvent};
    use super::{Creator, FrameNotStored, FRAME_RETRY_MS};

    #[test]
    fn a_frame_the_disk_has_no_room_for_waits_and_is_stored_once_there_is_room() {
        let spec = spec();
        let id = spec.id();
        let mut creator = Creator::new();
        creator.handle(0, CreatorInput::Submitted(spec.clone()));
        let [(frame, rgb)] = &stored_frames(&deliver(&mut creator, &spec, 1))[..] else {
            panic!("one whole frame");
        };
        let full = |rgb: &[u8]| FrameNotStored {
            reason: "the disk is full".into(),
            retry: Some(rgb.to_vec()),
        };
        let out = creator.handle(
            3,
            CreatorInput::FrameStored {
                job: id,
                frame: *frame,
                result: Err(full(rgb)),
            },
        );
        assert!(out.iter().any(|o| matches!(o, CreatorOutput::Event(NodeEvent::Problem { message, .. }) if message.contains("waits for room"))), "{out:?}");
        assert_eq!(
            creator.progress(&id).map(|p| p.state),
            Some(JobState::Submitted)
        );
        // Not before its wait is over; then the same pixels, until the store takes them.
        assert!(
            stored_frames(&creator.handle(3 + FRAME_RETRY_MS - 1, CreatorInput::Tick)).is_empty()
        );
        let again = stored_frames(&creator.handle(3 + FRAME_RETRY_MS, CreatorInput::Tick));
        assert_eq!(again, [(*frame, rgb.clone())]);
        assert!(
            stored_frames(&creator.handle(3 + FRAME_RETRY_MS, CreatorInput::Tick)).is_empty(),
            "once a wait"
        );
        creator.handle(
            5_000,
            CreatorInput::FrameStored {
                job: id,
                frame: 1,
                result: Ok("bafy1".into()),
            },
        );
        deliver(&mut creator, &spec, 2);
        creator.handle(
            5_001,
            CreatorInput::FrameStored {
                job: id,
                frame: 2,
                result: Ok("bafy2".into()),
            },
        );
        assert_eq!(
            creator.progress(&id).map(|p| p.state),
            Some(JobState::Complete)
        );

        // Any other failure fails the job with the reason.
        let mut creator = Creator::new();
        creator.handle(0, CreatorInput::Submitted(spec.clone()));
        deliver(&mut creator, &spec, 1);
        let broken = FrameNotStored {
            reason: "the database failed a write".into(),
            retry: None,
        };
        creator.handle(
            3,
            CreatorInput::FrameStored {
                job: id,
                frame: 1,
                result: Err(broken),
            },
        );
        let progress = creator.progress(&id).expect("known");
        assert_eq!(progress.state, JobState::Failed);
        assert!(progress
            .reason
            .is_some_and(|r| r.contains("cannot store frame 1: the database failed")));
    }
}
