//! Each way a worker can falsify a shard is caught by every committee checker's own
//! sample, drawn exactly as the checkers draw it (from blake3 of the checker's signature
//! over the claim id), with real renders of a real scene.

use pictor_gpu::{render_pixel, RenderSettings, Scene};
use pictor_node::roles::worker::{render_shard, Tamper};
use pictor_protocol::{
    rules, ContentId, Engine, FrameRange, JobSpec, Keypair, MessageKind, ResultClaim, ShardId,
    TileImage,
};
use pictor_tests::example_scene;

fn spec(scene: &[u8]) -> JobSpec {
    JobSpec {
        creator: Keypair::from_seed([7; 32]).public(),
        scene: ContentId::of(scene),
        scene_name: "cornell-box.gltf".into(),
        engine: Engine::Builtin,
        frames: FrameRange { first: 1, last: 2 },
        width: 96,
        height: 64,
        samples: 8,
        tile: 32,
        price_cap: 0,
        nonce: 1,
        epoch: 0,
    }
}

/// The claim a worker with key seed `worker` makes for `tile`.
fn claim(shard: ShardId, tile: &TileImage, worker: u8, attempt: u32) -> ResultClaim {
    ResultClaim {
        shard,
        worker: Keypair::from_seed([worker; 32]).public(),
        attempt,
        output: ContentId::of(&tile.to_block()),
        width: tile.width,
        height: tile.height,
        render_ms: 1,
        device: "test".into(),
    }
}

/// How many of `checker`'s k sampled pixels of `claim` differ between `tile` and a fresh
/// render: exactly what the checker computes before it votes.
fn mismatches(
    scene: &Scene,
    spec: &JobSpec,
    checker: &Keypair,
    claim: &ResultClaim,
    tile: &TileImage,
    k: usize,
) -> usize {
    let rect = spec.tile_rect(claim.shard.tile).expect("tile");
    let settings = RenderSettings {
        width: spec.width,
        height: spec.height,
        samples: spec.samples,
        frame: claim.shard.frame,
    };
    let seed_sig = checker.sign(MessageKind::SampleSeed, "devnet", &claim.id().0);
    rules::sample_pixels(&rules::sample_seed(&seed_sig), rect.w, rect.h, k)
        .iter()
        .filter(|&&(x, y)| {
            let expected = render_pixel(scene, &settings, rect.x + x, rect.y + y).expect("pixel");
            let at = ((y * rect.w + x) * 3) as usize;
            tile.pixels[at..at + 3] != expected
        })
        .count()
}

fn cornell() -> (Scene, JobSpec) {
    let bundle = pictor_gpu::SceneBundle::from_path(&example_scene("cornell-box.gltf"))
        .expect("scene")
        .to_bytes();
    let scene = Scene::from_bundle_bytes(&bundle).expect("scene loads");
    (scene, spec(&bundle))
}

#[test]
fn every_falsification_is_caught_by_every_checker() {
    let (scene, spec) = cornell();
    let checkers: Vec<Keypair> = (1..=4).map(|i| Keypair::from_seed([i; 32])).collect();
    let k = rules::samples_per_checker(4, rules::FRAUD_FRACTION, rules::DETECTION_TARGET);
    assert_eq!(k, 27);
    for (n, mode) in [
        Tamper::Noise,
        Tamper::CopyOtherTile,
        Tamper::QuarterOfPixels,
        Tamper::FewerSamples,
    ]
    .into_iter()
    .enumerate()
    {
        // A middle tile (frame 2, tile 4) and a corner tile (frame 1, tile 0).
        for shard in [&spec.shards()[4 + 6], &spec.shards()[0]] {
            let honest = render_shard(&scene, &spec, shard, None).expect("honest render");
            let forged = render_shard(&scene, &spec, shard, Some(mode)).expect("forged render");
            assert_ne!(honest.pixels, forged.pixels, "{mode:?} changes the tile");
            let claim = claim(*shard, &forged, 50, n as u32);
            for checker in &checkers {
                assert!(
                    mismatches(&scene, &spec, checker, &claim, &forged, k) > 0,
                    "{mode:?} on {shard} slipped past checker {}",
                    checker.public().short()
                );
                // The honest tile passes the same sample.
                assert_eq!(mismatches(&scene, &spec, checker, &claim, &honest, k), 0);
            }
        }
    }
}

/// A tenth of the pixels changed: each checker alone may miss it (27 samples miss with
/// probability 0.9^27 = 5.8 %), but the committee must not reach a quorum of valid votes
/// (that happens with probability 0.075 %; the keys and claims here are fixed).
#[test]
fn a_tenth_of_the_pixels_falsified_gets_no_valid_quorum() {
    let (scene, spec) = cornell();
    let checkers: Vec<Keypair> = (1..=4).map(|i| Keypair::from_seed([i; 32])).collect();
    let k = rules::samples_per_checker(4, rules::FRAUD_FRACTION, rules::DETECTION_TARGET);
    for shard in spec.shards() {
        let forged =
            render_shard(&scene, &spec, &shard, Some(Tamper::TenthOfPixels)).expect("render");
        let claim = claim(shard, &forged, 51, 0);
        let valid_votes = checkers
            .iter()
            .filter(|c| mismatches(&scene, &spec, c, &claim, &forged, k) == 0)
            .count();
        assert!(
            valid_votes < rules::quorum_threshold(4),
            "{shard}: {valid_votes} checkers missed a tenth of the pixels falsified"
        );
    }
}
