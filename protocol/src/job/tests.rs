use super::*;
use crate::identity::Keypair;

pub(crate) fn sample_job() -> JobSpec {
    JobSpec {
        creator: Keypair::from_seed([7; 32]).public(),
        scene: ContentId::of(b"scene"),
        scene_name: "scene.gltf".into(),
        engine: Engine::Builtin,
        frames: FrameRange::new(1, 4).unwrap_or(FrameRange { first: 1, last: 1 }),
        width: 320,
        height: 200,
        samples: 16,
        tile: 64,
        price_cap: 100,
        nonce: 1,
        epoch: 0,
    }
}

#[test]
fn frame_ranges() {
    assert_eq!("1-4".parse::<FrameRange>().map(|r| r.len()), Ok(4));
    assert_eq!(
        "7".parse::<FrameRange>().map(|r| (r.first, r.last)),
        Ok((7, 7))
    );
    assert!("0-3".parse::<FrameRange>().is_err());
    assert!("5-3".parse::<FrameRange>().is_err());
    assert!("a".parse::<FrameRange>().is_err());
    assert!("1-2-3".parse::<FrameRange>().is_err());
    let r: Vec<u32> = FrameRange { first: 3, last: 5 }.into_iter().collect();
    assert_eq!(r, vec![3, 4, 5]);
    assert_eq!(FrameRange { first: 0, last: 5 }.len(), 0);
    assert_eq!(FrameRange { first: 2, last: 9 }.to_string(), "2-9");
}

#[test]
fn tiling() {
    let j = sample_job();
    assert_eq!((j.tiles_x(), j.tiles_y(), j.tiles_per_frame()), (5, 4, 20));
    assert_eq!(
        j.tile_rect(0),
        Some(TileRect {
            x: 0,
            y: 0,
            w: 64,
            h: 64
        })
    );
    assert_eq!(
        j.tile_rect(19),
        Some(TileRect {
            x: 256,
            y: 192,
            w: 64,
            h: 8
        })
    );
    assert_eq!(j.tile_rect(20), None);
    let shards = j.shards();
    assert_eq!(shards.len() as u64, j.shard_count());
    assert_eq!(shards.len(), 80);
    assert_eq!((shards[0].frame, shards[0].tile), (1, 0));
    assert_eq!((shards[21].frame, shards[21].tile), (2, 1));
    assert!(shards.iter().all(|s| j.contains(s)));
    let s = shards[21].to_string();
    assert!(s.ends_with("/f0002/t0001"), "{s}");
    let mut odd = j.clone();
    odd.width = 300;
    assert_eq!(odd.tile_rect(4).map(|r| r.w), Some(44));
}

#[test]
fn validation_names_field() {
    let ok = sample_job();
    assert_eq!(ok.validate(), Ok(()));
    let mut j = ok.clone();
    j.width = 0;
    assert!(matches!(
        j.validate(),
        Err(JobError::OutOfRange { field: "width", .. })
    ));
    let mut j = ok.clone();
    j.tile = 8;
    assert!(matches!(
        j.validate(),
        Err(JobError::OutOfRange {
            field: "tile",
            max: 832,
            ..
        })
    ));
    let mut j = ok.clone();
    j.tile = 833;
    assert!(
        j.validate().is_err(),
        "a tile whose output exceeds a Bitswap block"
    );
    assert!(
        u64::from(limits::MAX_TILE).pow(2) * 3 + 16 <= 2 * 1024 * 1024,
        "the largest tile's output fits one 2 MiB block"
    );
    let mut j = ok.clone();
    j.samples = 70_000;
    assert!(matches!(
        j.validate(),
        Err(JobError::OutOfRange {
            field: "samples",
            ..
        })
    ));
    let mut j = ok.clone();
    j.frames = FrameRange {
        first: 1,
        last: 200_000,
    };
    assert!(matches!(
        j.validate(),
        Err(JobError::OutOfRange {
            field: "frames",
            ..
        })
    ));
    let mut j = ok.clone();
    j.frames = FrameRange {
        first: 1,
        last: 100_000,
    };
    assert!(matches!(
        j.validate(),
        Err(JobError::OutOfRange {
            field: "shards",
            ..
        })
    ));
    assert!(j.shards().is_empty());
    let mut j = ok.clone();
    j.scene_name = "x".repeat(300);
    assert!(matches!(
        j.validate(),
        Err(JobError::TooLong {
            field: "scene_name",
            ..
        })
    ));
    let mut j = ok;
    j.frames = FrameRange { first: 0, last: 1 };
    assert!(matches!(j.validate(), Err(JobError::InvalidFrames(_))));
}

#[test]
fn id_depends_on_every_field() {
    let a = sample_job();
    let mut b = a.clone();
    b.nonce += 1;
    assert_ne!(a.id(), b.id());
    assert_eq!(a.id(), a.clone().id());
    assert_eq!(a.id().to_string().parse::<JobId>(), Ok(a.id()));
}

#[test]
fn a_job_of_the_largest_numbers_is_refused_and_its_tiling_does_not_overflow() {
    let mut j = sample_job();
    j.width = u32::MAX;
    j.height = u32::MAX;
    j.tile = 1;
    j.frames = FrameRange {
        first: 1,
        last: u32::MAX,
    };
    assert!(j.validate().is_err());
    assert_eq!(j.frames.len(), u32::MAX);
    assert_eq!(j.tiles_per_frame(), u32::MAX, "saturated");
    assert_eq!(j.shard_count(), u64::from(u32::MAX) * u64::from(u32::MAX));
    assert!(j.shards().is_empty(), "past MAX_SHARDS");
    for tile in [0, 1, u32::MAX - 1, u32::MAX] {
        if let Some(r) = j.tile_rect(tile) {
            assert!(u64::from(r.x) + u64::from(r.w) <= u64::from(j.width));
            assert!(u64::from(r.y) + u64::from(r.h) <= u64::from(j.height));
        }
    }
    j.tile = u32::MAX;
    assert_eq!(j.tiles_per_frame(), 1);
    assert_eq!(
        j.tile_rect(0),
        Some(TileRect {
            x: 0,
            y: 0,
            w: u32::MAX,
            h: u32::MAX
        })
    );
}
