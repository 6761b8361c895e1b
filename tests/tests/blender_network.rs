//! End to end with the real Blender: a local network of real libp2p nodes renders a .blend
//! scene, workers through persistent Blender processes and checkers re-rendering sampled
//! regions and comparing them perceptually. Skipped, with the reason printed, where
//! Blender is not installed (`scripts/setup-blender.sh` installs it).

use std::time::Duration;

use pictor_node::render::{render_direct, render_network, RenderRequest};
use pictor_protocol::Engine;
use pictor_tests::{blender_or_skip, make_demo_blend};

fn request(scene: &std::path::Path, out: &std::path::Path, faulty_workers: usize) -> RenderRequest {
    RenderRequest {
        scene: scene.to_path_buf(),
        engine: Engine::Blender,
        blender_device: pictor_gpu::BlenderDevice::Cpu,
        frames: "1-2".parse().expect("frame range"),
        width: 96,
        height: 64,
        samples: 4,
        tile: 32,
        out: out.to_path_buf(),
        checkers: 4,
        workers: 3,
        faulty_workers,
        lazy_checkers: 0,
        equivocating_checkers: 0,
        canary_rate_ppm: 0,
        stall_timeout: Duration::from_secs(180),
        requirements: Default::default(),
        network: None,
        home: None,
        price_cap: 0,
        worker_prices: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blender_network_render_matches_plain_blender_and_catches_a_cheat() {
    let Some(blender) = blender_or_skip("blender_network_render") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let scene = make_demo_blend(&blender, dir.path());

    let direct_req = request(&scene, &dir.path().join("direct"), 0);
    let direct = tokio::task::spawn_blocking(move || render_direct(&direct_req, |_| {}))
        .await
        .expect("join")
        .expect("plain Blender renders");
    assert_eq!(direct.frames.len(), 2);

    // One worker falsifies every other output (noise, another tile, a quarter of the
    // pixels changed, an eighth of the samples): each falsified claim is rejected by
    // quorum, and the frames still equal plain Blender's.
    let net = render_network(&request(&scene, &dir.path().join("net"), 1), |_| {})
        .await
        .expect("network render");
    assert_eq!(net.shards, 2 * 3 * 2);
    assert!(net.claims_rejected >= 1, "the cheat was caught: {net:?}");
    let cheat_accepted: u64 = net
        .workers
        .values()
        .filter(|t| t.rejected > 0)
        .map(|t| t.accepted)
        .sum();
    // The cheat's honest outputs before its ban may be accepted; none of its falsified ones.
    for (d, n) in direct.frames.iter().zip(&net.frames) {
        let a = std::fs::read(d).expect("direct frame");
        let b = std::fs::read(n).expect("network frame");
        assert!(
            a == b,
            "{} differs from plain Blender's frame (cheat accepted {cheat_accepted} shards)",
            n.display()
        );
    }
}

#[test]
fn a_file_that_is_not_a_blend_is_refused_before_anything_runs() {
    if blender_or_skip("not_a_blend").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let scene = dir.path().join("junk.blend");
    std::fs::write(&scene, b"not a blender file at all").expect("write");
    let out = dir.path().join("out");
    let err = render_direct(&request(&scene, &out, 0), |_| {}).expect_err("refused");
    assert!(err.to_string().contains("not a Blender file"), "{err}");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn a_broken_blend_fails_with_blenders_own_words() {
    if blender_or_skip("broken_blend").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let scene = dir.path().join("broken.blend");
    // The right header, then garbage: Blender itself must refuse it.
    let mut bytes = b"BLENDER-v304RENDH".to_vec();
    bytes.extend(std::iter::repeat_n(0xABu8, 4096));
    std::fs::write(&scene, &bytes).expect("write");
    let err = render_direct(&request(&scene, &dir.path().join("out"), 0), |_| {})
        .expect_err("Blender refuses the file");
    let text = err.to_string();
    eprintln!("Blender said: {text}");
    // Blender's own words reach the user.
    assert!(text.contains("Failed to read blend file"), "{text}");
}
