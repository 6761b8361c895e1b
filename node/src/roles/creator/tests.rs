//! The creator state machine driven directly.

use std::collections::BTreeMap;

use pictor_protocol::{
    ClaimId, ContentId, Engine, FrameRange, JobSpec, Keypair, QuorumCertificate, ShardId,
    TileImage, Verdict, Vote,
};

use super::{Creator, CreatorInput, CreatorOutput, JobRecord, JobState, NodeEvent};

pub(super) fn spec() -> JobSpec {
    JobSpec {
        creator: Keypair::from_seed([1; 32]).public(),
        scene: ContentId::of(b"scene"),
        scene_name: "scene.gltf".into(),
        engine: Engine::Builtin,
        frames: FrameRange { first: 1, last: 2 },
        width: 4,
        height: 2,
        samples: 1,
        tile: 2,
        price_cap: 0,
        nonce: 1,
        epoch: 0,
    }
}

fn certificate(shard: ShardId, verdict: Verdict) -> QuorumCertificate {
    QuorumCertificate {
        vote: Vote {
            claim: ClaimId([shard.tile as u8; 32]),
            shard,
            worker: Keypair::from_seed([5; 32]).public(),
            attempt: 0,
            output: ContentId::of(&[shard.frame as u8, shard.tile as u8]),
            verdict,
        },
        signatures: Vec::new(),
    }
}

fn tile(value: u8) -> TileImage {
    TileImage {
        width: 2,
        height: 2,
        pixels: vec![value; 12],
    }
}

/// Delivers every certified output of `shards` as a tile of `value + tile`.
pub(super) fn deliver(creator: &mut Creator, spec: &JobSpec, frame: u32) -> Vec<CreatorOutput> {
    let mut out = Vec::new();
    for t in 0..spec.tiles_per_frame() {
        let shard = ShardId {
            job: spec.id(),
            frame,
            tile: t,
        };
        let fetch = creator.handle(
            1,
            CreatorInput::Certificate(certificate(shard, Verdict::Valid)),
        );
        assert!(
            matches!(&fetch[..], [CreatorOutput::FetchOutput { .. }]),
            "{fetch:?}"
        );
        out.extend(creator.handle(
            2,
            CreatorInput::OutputFetched {
                shard,
                worker: Keypair::from_seed([5; 32]).public(),
                result: Ok(tile(10 * t as u8 + 1)),
            },
        ));
    }
    out
}

pub(super) fn stored_frames(out: &[CreatorOutput]) -> Vec<(u32, Vec<u8>)> {
    out.iter()
        .filter_map(|o| match o {
            CreatorOutput::StoreFrame { frame, rgb, .. } => Some((*frame, rgb.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn certified_tiles_make_frames_and_the_job_completes_when_every_frame_is_stored() {
    let spec = spec();
    let id = spec.id();
    let mut creator = Creator::new();
    creator.handle(0, CreatorInput::Submitted(spec.clone()));
    assert_eq!(
        creator.progress(&id).map(|p| p.state),
        Some(JobState::Submitted)
    );
    let frames = stored_frames(&deliver(&mut creator, &spec, 1));
    // Two 2x2 tiles side by side: the left half is tile 0's value, the right tile 1's.
    let expected: Vec<u8> = (0..2)
        .flat_map(|_| [[1u8; 6], [11u8; 6]].concat())
        .collect();
    assert_eq!(frames, [(1, expected)]);
    creator.handle(
        3,
        CreatorInput::FrameStored {
            job: id,
            frame: 1,
            result: Ok("bafy1".into()),
        },
    );
    assert_eq!(
        creator.progress(&id).map(|p| p.state),
        Some(JobState::Submitted)
    );
    assert_eq!(stored_frames(&deliver(&mut creator, &spec, 2)).len(), 1);
    let out = creator.handle(
        4,
        CreatorInput::FrameStored {
            job: id,
            frame: 2,
            result: Ok("bafy2".into()),
        },
    );
    let progress = creator.progress(&id).expect("known");
    assert_eq!(progress.state, JobState::Complete);
    assert_eq!(progress.verified, 4);
    assert_eq!(progress.finished_ms, Some(4));
    assert!(out.iter().any(|o| matches!(o, CreatorOutput::Persist(r) if r.state == JobState::Complete && r.frames.len() == 2)));
    assert!(out.iter().any(|o| matches!(
        o,
        CreatorOutput::Event(NodeEvent::Finished {
            state: JobState::Complete,
            ..
        })
    )));
}

#[test]
fn a_rejection_is_reported_and_a_later_valid_certificate_still_delivers() {
    let spec = spec();
    let mut creator = Creator::new();
    creator.handle(0, CreatorInput::Submitted(spec.clone()));
    let shard = ShardId {
        job: spec.id(),
        frame: 1,
        tile: 0,
    };
    let out = creator.handle(
        1,
        CreatorInput::Certificate(certificate(shard, Verdict::Invalid)),
    );
    assert!(matches!(
        &out[..],
        [CreatorOutput::Event(NodeEvent::Rejected { .. })]
    ));
    let out = creator.handle(
        1,
        CreatorInput::Certificate(certificate(shard, Verdict::Valid)),
    );
    assert!(matches!(&out[..], [CreatorOutput::FetchOutput { .. }]));
    // The same certificate again fetches nothing.
    assert!(creator
        .handle(
            1,
            CreatorInput::Certificate(certificate(shard, Verdict::Valid))
        )
        .is_empty());
}

#[test]
fn a_restored_job_does_not_fetch_the_tiles_of_frames_it_already_stored() {
    let spec = spec();
    let id = spec.id();
    let record = JobRecord {
        id,
        state: JobState::Running,
        reason: None,
        submitted_ms: 0,
        finished_ms: None,
        frames: BTreeMap::from([(1, "bafy1".to_owned())]),
    };
    let mut creator = Creator::new();
    creator.handle(5, CreatorInput::Restored(spec.clone(), Some(record)));
    let done = ShardId {
        job: id,
        frame: 1,
        tile: 0,
    };
    assert!(creator
        .handle(
            6,
            CreatorInput::Certificate(certificate(done, Verdict::Valid))
        )
        .is_empty());
    let open = ShardId {
        job: id,
        frame: 2,
        tile: 0,
    };
    assert_eq!(
        creator
            .handle(
                6,
                CreatorInput::Certificate(certificate(open, Verdict::Valid))
            )
            .len(),
        1
    );
}

#[test]
fn a_tile_that_does_not_fit_fails_the_job_with_the_reason_and_cancel_ends_another() {
    let spec = spec();
    let id = spec.id();
    let mut creator = Creator::new();
    creator.handle(0, CreatorInput::Submitted(spec.clone()));
    let shard = ShardId {
        job: id,
        frame: 1,
        tile: 0,
    };
    creator.handle(
        1,
        CreatorInput::Certificate(certificate(shard, Verdict::Valid)),
    );
    let wrong = TileImage {
        width: 3,
        height: 2,
        pixels: vec![0; 18],
    };
    creator.handle(
        2,
        CreatorInput::OutputFetched {
            shard,
            worker: spec.creator,
            result: Ok(wrong),
        },
    );
    let progress = creator.progress(&id).expect("known");
    assert_eq!(progress.state, JobState::Failed);
    assert!(
        progress
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("3x2")),
        "{progress:?}"
    );

    let mut other = spec.clone();
    other.nonce = 2;
    creator.handle(3, CreatorInput::Submitted(other.clone()));
    creator.handle(4, CreatorInput::Cancel(other.id()));
    assert_eq!(
        creator.progress(&other.id()).map(|p| p.state),
        Some(JobState::Cancelled)
    );
    let late = ShardId {
        job: other.id(),
        frame: 1,
        tile: 0,
    };
    assert!(creator
        .handle(
            5,
            CreatorInput::Certificate(certificate(late, Verdict::Valid))
        )
        .is_empty());
    assert_eq!(creator.list().len(), 2);
    creator.handle(6, CreatorInput::Forget(id));
    assert_eq!(creator.list().len(), 1);
}

#[test]
fn a_failed_fetch_is_tried_again_later_and_the_job_fails_only_after_many_tries() {
    let spec = spec();
    let mut creator = Creator::new();
    creator.handle(0, CreatorInput::Submitted(spec.clone()));
    let shard = ShardId {
        job: spec.id(),
        frame: 1,
        tile: 0,
    };
    creator.handle(
        0,
        CreatorInput::Certificate(certificate(shard, Verdict::Valid)),
    );
    let worker = Keypair::from_seed([5; 32]).public();
    let mut now = 0;
    for _ in 1..super::MAX_FETCH_ATTEMPTS {
        let out = creator.handle(
            now,
            CreatorInput::OutputFetched {
                shard,
                worker,
                result: Err("peer unreachable".into()),
            },
        );
        assert!(
            !out.iter()
                .any(|o| matches!(o, CreatorOutput::FetchOutput { .. })),
            "not at once"
        );
        assert!(!creator
            .handle(now + 500, CreatorInput::Tick)
            .iter()
            .any(|o| matches!(o, CreatorOutput::FetchOutput { .. })));
        now += 31_000;
        let again = creator.handle(now, CreatorInput::Tick);
        assert!(
            again
                .iter()
                .any(|o| matches!(o, CreatorOutput::FetchOutput { shard: s, .. } if *s == shard)),
            "{again:?}"
        );
    }
    assert_eq!(
        creator.progress(&spec.id()).map(|p| p.state),
        Some(JobState::Submitted)
    );
    creator.handle(
        now,
        CreatorInput::OutputFetched {
            shard,
            worker,
            result: Err("peer unreachable".into()),
        },
    );
    assert_eq!(
        creator.progress(&spec.id()).map(|p| p.state),
        Some(JobState::Failed)
    );
}

#[test]
fn a_job_nobody_assigned_is_announced_again_once_it_is_quiet() {
    let mut creator = Creator::new();
    let spec = spec();
    let id = spec.id();
    creator.handle(0, CreatorInput::Restored(spec, None));
    let announces = |out: &[CreatorOutput]| {
        out.iter()
            .filter(|o| matches!(o, CreatorOutput::Announce(j) if *j == id))
            .count()
    };
    assert_eq!(
        announces(&creator.handle(1_000, CreatorInput::Tick)),
        0,
        "not while fresh"
    );
    assert_eq!(
        announces(&creator.handle(super::SYNC_AFTER_MS, CreatorInput::Tick)),
        1
    );
    assert_eq!(
        announces(&creator.handle(super::SYNC_AFTER_MS + 100, CreatorInput::Tick)),
        0,
        "not at every tick"
    );
    let shard = ShardId {
        job: id,
        frame: 1,
        tile: 0,
    };
    let worker = Keypair::from_seed([5; 32]).public();
    creator.handle(
        super::SYNC_AFTER_MS + 200,
        CreatorInput::Assignment(pictor_protocol::Assignment {
            shard,
            worker,
            attempt: 0,
            assigned_by: worker,
            deadline_ms: 0,
        }),
    );
    let later = creator.handle(4 * super::SYNC_AFTER_MS, CreatorInput::Tick);
    assert_eq!(
        announces(&later),
        0,
        "a job with an assignment is known to its checkers"
    );
    assert!(later
        .iter()
        .any(|o| matches!(o, CreatorOutput::SyncCertificates(j) if *j == id)));
}

#[test]
fn an_attestation_with_regions_of_any_size_counts_its_samples_without_overflow() {
    let spec = spec();
    let mut creator = Creator::new();
    creator.handle(0, CreatorInput::Submitted(spec.clone()));
    let shard = ShardId {
        job: spec.id(),
        frame: 1,
        tile: 0,
    };
    let claim = pictor_protocol::ResultClaim {
        shard,
        worker: Keypair::from_seed([5; 32]).public(),
        attempt: 0,
        output: ContentId::of(b"tile"),
        width: 2,
        height: 2,
        render_ms: 1,
        device: "cpu".into(),
    };
    // Signed, and absurd: the largest regions, as many as an attestation may carry.
    let huge = pictor_protocol::RegionScore {
        x: u32::MAX,
        y: u32::MAX,
        w: u32::MAX,
        h: u32::MAX,
        psnr_cdb: 0,
        ssim_ppm: 0,
        pass: true,
    };
    assert_eq!(
        huge.pixel_count(),
        u64::from(u32::MAX) * u64::from(u32::MAX)
    );
    let attestation = pictor_protocol::Attestation::create_perceptual(
        &Keypair::from_seed([2; 32]),
        "net",
        &claim,
        vec![huge; pictor_protocol::rules::MAX_REGIONS],
    );
    let out = creator.handle(1, CreatorInput::Attestation(attestation));
    assert!(
        matches!(
            &out[..],
            [CreatorOutput::Event(NodeEvent::Attested { samples, .. })] if *samples == usize::MAX
        ),
        "{out:?}"
    );
}
