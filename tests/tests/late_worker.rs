//! A worker that joins while a job runs, over real sockets: the job was gossiped before it
//! was there, so the first shards the checkers assign it name a job it has not heard of.
//! It asks the checker that assigned them for the job's spec (`GetJob`, checked against the
//! job's id, the hash of the spec), renders them, and has them accepted before the job ends.

use std::time::Duration;

use pictor_node::{
    devnet::{Devnet, DevnetConfig},
    spawn, LocalCapability, NodeConfig, Roles, WorkerConfig,
};
use pictor_protocol::{FrameRange, JobSpec};
use pictor_tests::{cornell_job, finished, tcp_dial_addr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_joins_during_a_job_gets_and_renders_its_shards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = Devnet::start(&DevnetConfig::plain(dir.path(), 4, 1))
        .await
        .expect("local network");
    let epoch_ms = devnet.params.epoch.as_millis() as u64;
    let (small, bundle) = cornell_job(devnet.creator_key.public(), epoch_ms, 7);
    // 2 frames of 256 tiles of 16×16: long enough on one worker for a second to join.
    let spec = JobSpec {
        frames: FrameRange { first: 1, last: 2 },
        width: 256,
        height: 256,
        samples: 64,
        tile: 16,
        ..small
    };
    let job = devnet.creator.submit(spec, bundle).await.expect("submit");
    let submitted = tokio::time::Instant::now();

    // The job is under way when the new worker starts, and its spec went round long ago:
    // out of gossip's message caches (a few heartbeats of 200 ms).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let progress = devnet.creator.job(job).await.expect("job").expect("known");
        if progress.verified >= 4 && submitted.elapsed() >= Duration::from_secs(3) {
            assert!(
                !progress.state.is_finished(),
                "the job ended before the worker joined: {progress:?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no progress: {progress:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let capability = tokio::task::spawn_blocking(|| LocalCapability::probe_with(1, false, false))
        .await
        .expect("probe")
        .expect("capability");
    let mut config = NodeConfig::new(dir.path().join("late-worker"), devnet.params.clone());
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")];
    config.durable = false;
    config.roles = Roles {
        worker: Some(WorkerConfig {
            device: "cpu (1 thread)".into(),
            capability: Some(capability),
            ..WorkerConfig::default()
        }),
        ..Roles::default()
    };
    let (late, _) = spawn(config).expect("the late worker starts");
    let me = late.status().await.expect("status").key;
    for node in devnet.nodes.iter().filter(|n| n.role == "checker") {
        late.dial(tcp_dial_addr(&node.client).await)
            .await
            .expect("dial a checker");
    }

    let done = finished(
        &devnet.creator,
        job,
        tokio::time::Instant::now() + Duration::from_secs(180),
    )
    .await;
    assert!(
        done.state.is_finished() && done.verified == done.shards,
        "{done:?}"
    );
    let snapshot = devnet.creator.network().await.expect("view");
    let accepted = snapshot
        .workers
        .iter()
        .find(|(_, w)| w.key == me.to_string())
        .map_or(0, |(_, w)| w.accepted);
    assert!(
        accepted >= 1,
        "the worker that joined during the job had no shard accepted"
    );
    late.shutdown().await.expect("stop");
    devnet.shutdown().await;
}
