//! Each way a worker can falsify a shard is caught by every committee checker's own
//! sample, drawn exactly as the checkers draw it (from blake3 of the checker's signature
//! over the claim id), with real renders of a real scene.

use pictor_gpu::{render_pixel, RenderSettings, Scene};
use pictor_node::roles::worker::{render_shard, Tamper};
use pictor_protocol::{
    rules, ContentId, Engine, FrameRange, JobSpec, Keypair, MessageKind, ResultClaim,
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
    }
}

#[test]
fn every_falsification_is_caught_by_every_checker() {
    let bundle = pictor_gpu::SceneBundle::from_path(&example_scene("cornell-box.gltf"))
        .expect("scene")
        .to_bytes();
    let scene = Scene::from_bundle_bytes(&bundle).expect("scene loads");
    let spec = spec(&bundle);
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
            let rect = spec.tile_rect(shard.tile).expect("tile");
            let claim = ResultClaim {
                shard: *shard,
                worker: Keypair::from_seed([50; 32]).public(),
                attempt: n as u32,
                output: ContentId::of(&forged.to_block()),
                width: forged.width,
                height: forged.height,
                render_ms: 1,
                device: "test".into(),
            };
            let settings = RenderSettings {
                width: spec.width,
                height: spec.height,
                samples: spec.samples,
                frame: shard.frame,
            };
            for checker in &checkers {
                let seed_sig = checker.sign(MessageKind::SampleSeed, "devnet", &claim.id().0);
                let positions =
                    rules::sample_pixels(&rules::sample_seed(&seed_sig), rect.w, rect.h, k);
                let mismatches = positions
                    .iter()
                    .filter(|&&(x, y)| {
                        let expected =
                            render_pixel(&scene, &settings, rect.x + x, rect.y + y).expect("pixel");
                        let at = ((y * rect.w + x) * 3) as usize;
                        forged.pixels[at..at + 3] != expected
                    })
                    .count();
                assert!(
                    mismatches > 0,
                    "{mode:?} on {shard} slipped past checker {}",
                    checker.public().short()
                );
                // The honest tile passes the same sample.
                let honest_ok = positions.iter().all(|&(x, y)| {
                    let expected =
                        render_pixel(&scene, &settings, rect.x + x, rect.y + y).expect("pixel");
                    let at = ((y * rect.w + x) * 3) as usize;
                    honest.pixels[at..at + 3] == expected
                });
                assert!(honest_ok, "an honest tile must pass");
            }
        }
    }
}

/// A tenth of the pixels changed: each checker alone may miss it (27 samples miss with
/// probability 0.9^27 = 5.8 %), but the committee must not reach a quorum of valid votes
/// (that happens with probability 0.075 %; the keys and claims here are fixed).
#[test]
fn a_tenth_of_the_pixels_falsified_gets_no_valid_quorum() {
    let bundle = pictor_gpu::SceneBundle::from_path(&example_scene("cornell-box.gltf"))
        .expect("scene")
        .to_bytes();
    let scene = Scene::from_bundle_bytes(&bundle).expect("scene loads");
    let spec = spec(&bundle);
    let checkers: Vec<Keypair> = (1..=4).map(|i| Keypair::from_seed([i; 32])).collect();
    let k = rules::samples_per_checker(4, rules::FRAUD_FRACTION, rules::DETECTION_TARGET);
    let mut caught_by = Vec::new();
    for shard in spec.shards() {
        let forged =
            render_shard(&scene, &spec, &shard, Some(Tamper::TenthOfPixels)).expect("render");
        let rect = spec.tile_rect(shard.tile).expect("tile");
        let claim = ResultClaim {
            shard,
            worker: Keypair::from_seed([51; 32]).public(),
            attempt: 0,
            output: ContentId::of(&forged.to_block()),
            width: forged.width,
            height: forged.height,
            render_ms: 1,
            device: "test".into(),
        };
        let settings = RenderSettings {
            width: spec.width,
            height: spec.height,
            samples: spec.samples,
            frame: shard.frame,
        };
        let mut valid_votes = 0;
        for checker in &checkers {
            let seed_sig = checker.sign(MessageKind::SampleSeed, "devnet", &claim.id().0);
            let positions = rules::sample_pixels(&rules::sample_seed(&seed_sig), rect.w, rect.h, k);
            let clean = positions.iter().all(|&(x, y)| {
                let expected =
                    render_pixel(&scene, &settings, rect.x + x, rect.y + y).expect("pixel");
                let at = ((y * rect.w + x) * 3) as usize;
                forged.pixels[at..at + 3] == expected
            });
            if clean {
                valid_votes += 1;
            }
        }
        assert!(
            valid_votes < rules::quorum_threshold(4),
            "{shard}: {valid_votes} checkers missed a tenth of the pixels falsified"
        );
        caught_by.push(4 - valid_votes);
    }
    assert_eq!(caught_by.len(), spec.shards().len());
}
