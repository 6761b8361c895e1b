//! A long-running network serves many jobs: several at once and one after another, each
//! with its own progress and lifecycle, found by its id; finished jobs are pruned after
//! the retention period; a scene that does not load is refused and the node goes on.

use std::time::Duration;

use pictor_gpu::{decode_png, SceneBundle};
use pictor_node::{
    devnet::{Devnet, DevnetConfig},
    JobState,
};
use pictor_protocol::{ContentId, Engine, FrameRange, JobId, JobSpec};
use pictor_tests::example_scene;

fn config(root: &std::path::Path, retention: Duration) -> DevnetConfig {
    DevnetConfig {
        checkers: 4,
        workers: 2,
        faulty_workers: 0,
        lazy_checkers: 0,
        equivocating_checkers: 0,
        root: root.to_path_buf(),
        form_timeout: Duration::from_secs(60),
        blender_device: pictor_gpu::BlenderDevice::Cpu,
        requirements: Default::default(),
        job_retention: retention,
        blender: false,
        durable: true,
        committee: None,
        canary_rate_ppm: 0,
        ban_cooldown: None,
        worker_prices: Vec::new(),
        credits: false,
    }
}

fn spec(devnet: &Devnet, bundle: &[u8], frames: FrameRange, nonce: u64) -> JobSpec {
    JobSpec {
        creator: devnet.creator_key.public(),
        scene: ContentId::of(bundle),
        scene_name: "cornell-box.gltf".into(),
        engine: Engine::Builtin,
        frames,
        width: 64,
        height: 48,
        samples: 2,
        tile: 32,
        price_cap: 0,
        nonce,
        epoch: 0,
    }
}

async fn wait_complete(devnet: &Devnet, job: JobId) -> pictor_node::JobProgress {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    pictor_tests::finished(&devnet.creator, job, deadline).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_at_once_and_one_after_another_each_complete_with_their_own_frames() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = Devnet::start(&config(dir.path(), Duration::from_secs(3600)))
        .await
        .expect("devnet");
    let bundle = SceneBundle::from_path(&example_scene("cornell-box.gltf"))
        .expect("scene")
        .to_bytes();
    let mut ids = Vec::new();
    for (nonce, frames) in [(1, "1-2"), (2, "3"), (3, "4-5")] {
        let spec = spec(&devnet, &bundle, frames.parse().expect("frames"), nonce);
        ids.push(
            devnet
                .creator
                .submit(spec, bundle.clone())
                .await
                .expect("submit"),
        );
    }
    for (id, frames) in ids.iter().zip([2, 1, 2]) {
        let done = wait_complete(&devnet, *id).await;
        assert_eq!(done.state, JobState::Complete, "{done:?}");
        assert_eq!(done.frame_cids.len(), frames, "{done:?}");
        assert_eq!(done.verified, done.shards);
        for cid in done.frame_cids.values() {
            let png = devnet
                .creator
                .get_file(cid.parse().expect("cid"), Vec::new(), 1 << 24)
                .await
                .expect("the creator holds the frame");
            let (w, h, _) = decode_png(&png).expect("a PNG");
            assert_eq!((w, h), (64, 48));
        }
    }
    // One more, after the others finished.
    let late = spec(&devnet, &bundle, "6".parse().expect("frames"), 4);
    let late = devnet
        .creator
        .submit(late, bundle.clone())
        .await
        .expect("submit");
    assert_eq!(wait_complete(&devnet, late).await.state, JobState::Complete);
    let listed: Vec<JobId> = devnet
        .creator
        .jobs()
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(listed.len(), 4);
    assert!(ids.iter().chain([&late]).all(|id| listed.contains(id)));

    // A bundle that is not a scene is refused with the reason; the node goes on.
    let junk = b"not a scene bundle".to_vec();
    let bad = spec(&devnet, &junk, "1".parse().expect("frames"), 5);
    let err = devnet.creator.submit(bad, junk).await.expect_err("refused");
    assert!(err.to_string().contains("invalid scene"), "{err}");
    let again = spec(&devnet, &bundle, "7".parse().expect("frames"), 6);
    let again = devnet.creator.submit(again, bundle).await.expect("submit");
    assert_eq!(
        wait_complete(&devnet, again).await.state,
        JobState::Complete
    );
    devnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_are_pruned_after_the_retention_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = Devnet::start(&config(dir.path(), Duration::from_secs(2)))
        .await
        .expect("devnet");
    let bundle = SceneBundle::from_path(&example_scene("cornell-box.gltf"))
        .expect("scene")
        .to_bytes();
    let spec = spec(&devnet, &bundle, "1".parse().expect("frames"), 1);
    let id = devnet.creator.submit(spec, bundle).await.expect("submit");
    let done = wait_complete(&devnet, id).await;
    assert_eq!(done.state, JobState::Complete);
    let frame: cid::Cid = done.frame_cids[&1].parse().expect("cid");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut held = usize::from(devnet.creator.job(id).await.expect("job").is_some());
        held += devnet.creator.status().await.expect("status").jobs;
        for node in &devnet.nodes {
            held += node.client.status().await.expect("status").jobs;
        }
        if held == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{held} nodes still hold the job"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The frame's blocks go right after the job (a task of the creator node's).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while devnet
        .creator
        .get_file(frame, Vec::new(), 1 << 24)
        .await
        .is_ok()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pruned job's frame is still in the block store"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    devnet.shutdown().await;
}
