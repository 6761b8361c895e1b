//! Shared helpers of Pictor's multi-node integration tests.

use std::path::PathBuf;

pub mod disk;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// An example scene shipped in `examples/scenes/`.
pub fn example_scene(name: &str) -> PathBuf {
    repo_root().join("examples").join("scenes").join(name)
}

/// A test whose external program is missing skips with `reason` printed; in CI (`CI`
/// set, as CI services do) it fails instead, so that a green CI means the real peers ran.
pub fn skip_unless_ci(test: &str, reason: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {reason}, and CI must run this test (.ci/run installs what it needs)"
    );
    eprintln!("skipping {test}: {reason}");
}

/// Blender, or `None` after printing why the calling test is skipped (outside CI).
pub fn blender_or_skip(test: &str) -> Option<pictor_gpu::Blender> {
    match pictor_gpu::Blender::locate() {
        Ok(blender) => Some(blender),
        Err(e) => {
            skip_unless_ci(test, &e.to_string());
            None
        }
    }
}

/// Makes the example Blender scene (examples/scenes/make_blend.py) in `dir` and returns
/// its path.
pub fn make_demo_blend(blender: &pictor_gpu::Blender, dir: &std::path::Path) -> PathBuf {
    let out = dir.join("demo.blend");
    let status = std::process::Command::new(blender.path())
        .args(["-b", "--factory-startup", "-noaudio", "--python"])
        .arg(example_scene("make_blend.py"))
        .arg("--")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("Blender runs");
    assert!(status.success(), "make_blend.py failed: {status}");
    out
}

/// A running node's TCP listen address with its `/p2p/` peer id: what another peer dials
/// (waiting up to 30 s for a node that has just started to listen, on a loaded machine).
pub async fn tcp_dial_addr(client: &pictor_node::Client) -> libp2p::Multiaddr {
    let peer = client.status().await.expect("status").peer_id;
    for _ in 0..3_000 {
        let tcp = client
            .listen_addrs()
            .await
            .expect("addrs")
            .into_iter()
            .find(|a| a.to_string().contains("/tcp/"));
        if let Some(tcp) = tcp {
            return format!("{tcp}/p2p/{peer}").parse().expect("multiaddr");
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the node listens on no TCP address");
}

/// Polls `creator` until `job` is finished (failing past `deadline`): its last progress.
pub async fn finished(
    creator: &pictor_node::Client,
    job: pictor_protocol::JobId,
    deadline: tokio::time::Instant,
) -> pictor_node::JobProgress {
    loop {
        let now = creator.job(job).await.expect("job").expect("known");
        if now.state.is_finished() {
            return now;
        }
        assert!(tokio::time::Instant::now() < deadline, "{now:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The example Cornell box as a scene bundle, with a small built-in job of it by `creator`
/// (one 64×64 frame, 2 samples, tiles of 32: 4 shards) made in the epoch of now, for
/// epochs of `epoch_ms`; a test changes what it needs with `JobSpec { …, ..job }`.
pub fn cornell_job(
    creator: pictor_protocol::PublicKey,
    epoch_ms: u64,
    nonce: u64,
) -> (pictor_protocol::JobSpec, Vec<u8>) {
    use pictor_protocol::{governance::epoch_at, ContentId, Engine, FrameRange, JobSpec};
    let bundle = pictor_gpu::SceneBundle::from_path(&example_scene("cornell-box.gltf"))
        .expect("scene")
        .to_bytes();
    let spec = JobSpec {
        creator,
        scene: ContentId::of(&bundle),
        scene_name: "cornell-box.gltf".into(),
        engine: Engine::Builtin,
        frames: FrameRange { first: 1, last: 1 },
        width: 64,
        height: 64,
        samples: 2,
        tile: 32,
        price_cap: 0,
        nonce,
        epoch: epoch_at(pictor_node::now_ms(), epoch_ms),
    };
    (spec, bundle)
}
