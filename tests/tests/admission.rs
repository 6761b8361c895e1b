//! A checker outside the genesis set joins a running network over real sockets: it
//! applies, the four genesis checkers render its admission window and admit it by quorum,
//! it joins the set at the epoch boundary two epochs later, and from then on sits on the
//! committees of new jobs and attests their shards; a node that starts later learns of
//! it; and a worker comes back after its ban by rendering a challenge.

use std::time::Duration;

use pictor_node::{
    devnet::{Devnet, DevnetConfig},
    spawn, JobProgress, JobState, LocalCapability, NodeConfig, Roles,
};
use pictor_protocol::{rules, CheckerStatus, FrameRange, JobId, JobSpec, Keypair};
use pictor_tests::{cornell_job, tcp_dial_addr};

/// A node of the local network's spec, on loopback, in `home`.
fn node_config(
    devnet: &Devnet,
    home: std::path::PathBuf,
    roles: Roles,
    keypair: Option<Keypair>,
) -> NodeConfig {
    NodeConfig {
        home,
        network: devnet.params.clone(),
        roles,
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
        bootnodes: Vec::new(),
        keypair,
        events: false,
        http: None,
        http_limits: Default::default(),
        blender_pool: None,
        job_retention: pictor_node::DEFAULT_JOB_RETENTION,
        durable: false,
        swarm: Default::default(),
    }
}

/// The creator's job once it has finished (two minutes at most).
async fn finished(devnet: &Devnet, job: JobId) -> JobProgress {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    pictor_tests::finished(&devnet.creator, job, deadline).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_checker_is_admitted_and_certifies_the_jobs_of_later_epochs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = Devnet::start(&DevnetConfig::plain(dir.path(), 4, 2))
        .await
        .expect("local network");
    let epoch_ms = devnet.params.epoch.as_millis() as u64;
    let genesis = devnet.params.checkers.clone();

    let applicant = Keypair::from_seed([77; 32]);
    let capability = tokio::task::spawn_blocking(|| LocalCapability::probe_with(1, false, false))
        .await
        .expect("join")
        .expect("probe");
    let roles = Roles {
        checker: true,
        checker_capability: Some(capability),
        ..Roles::default()
    };
    let home = dir.path().join("applicant");
    let (client, _) = spawn(node_config(&devnet, home, roles, Some(applicant.clone())))
        .expect("applicant starts");
    for node in &devnet.nodes {
        client
            .dial(tcp_dial_addr(&node.client).await)
            .await
            .expect("dial");
    }
    client
        .dial(tcp_dial_addr(&devnet.creator).await)
        .await
        .expect("dial");

    // Pending, then a member of every genesis checker's set once its epoch comes.
    let key = applicant.public().to_string();
    let status = |snapshot: &pictor_node::NetworkSnapshot| {
        snapshot
            .checkers
            .iter()
            .find(|(_, c)| c.key == key)
            .map(|(s, _)| *s)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20) + 4 * devnet.params.epoch;
    let mut seen_pending = false;
    loop {
        let snapshot = devnet.creator.network().await.expect("view");
        seen_pending |= status(&snapshot) == Some(CheckerStatus::Pending);
        let mut members = 0;
        for node in devnet.nodes.iter().filter(|n| genesis.contains(&n.key)) {
            if node.client.facts().await.expect("facts").checkers_total == 5 {
                members += 1;
            }
        }
        let admitted = matches!(
            status(&snapshot),
            Some(CheckerStatus::Standby | CheckerStatus::Checking)
        );
        if members == genesis.len() && admitted {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not admitted: {members} of {} checkers hold it, the creator sees {:?}",
            genesis.len(),
            status(&snapshot)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        seen_pending,
        "the creator saw the applicant as pending first"
    );

    // A job of this epoch whose committee holds the new checker.
    let (base, bundle) = cornell_job(devnet.creator_key.public(), epoch_ms, 0);
    let mut set = genesis.clone();
    set.push(applicant.public());
    let spec = (0..64)
        .map(|nonce| JobSpec {
            nonce,
            ..base.clone()
        })
        .find(|s| rules::committee(&s.id(), &set, 4).contains(&applicant.public()))
        .expect("a committee with the new checker");
    let job = devnet.creator.submit(spec, bundle).await.expect("submit");
    let progress = finished(&devnet, job).await;
    assert_eq!(progress.state, JobState::Complete, "{progress:?}");
    let snapshot = devnet.creator.network().await.expect("view");
    let view = snapshot
        .checkers
        .iter()
        .find(|(_, c)| c.key == key)
        .map(|(_, c)| c.clone())
        .expect("the new checker is in the view");
    // It did committee work on the job. Whether its vote is among the 3 of 4 that make a
    // shard's certificate depends on which members were fastest: on a loaded machine the
    // newest member can be the slowest on every shard, so only its attestations are asked.
    assert!(
        view.attestations > 0,
        "the new checker attested the job's shards: {view:?}"
    );

    // A node that starts now, after the admission was gossiped, learns of it from the
    // peers it connects to.
    let home = dir.path().join("late");
    let (late, _) =
        spawn(node_config(&devnet, home, Roles::default(), None)).expect("a late node starts");
    assert_eq!(late.facts().await.expect("facts").checkers_total, 4);
    late.dial(tcp_dial_addr(&devnet.nodes[0].client).await)
        .await
        .expect("dial");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while late.facts().await.expect("facts").checkers_total != 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the late node did not learn of the admission"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    late.shutdown().await.expect("stop");
    client.shutdown().await.expect("stop");
    devnet.shutdown().await;
}

/// What the creator's view says of `worker`.
async fn worker_view(devnet: &Devnet, worker: &str) -> pictor_node::view::WorkerView {
    devnet
        .creator
        .network()
        .await
        .expect("view")
        .workers
        .into_iter()
        .find(|(_, w)| w.key == worker)
        .map(|(_, w)| w)
        .expect("the worker is in the view")
}

async fn eligible_everywhere(devnet: &Devnet, n: usize) -> bool {
    for node in devnet.nodes.iter().filter(|n| n.role == "checker") {
        let status = node.client.status().await.expect("status");
        if status.eligible_workers != Some(n) {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_returns_after_its_ban_by_rendering_a_challenge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = Devnet::start(&DevnetConfig {
        faulty_workers: 1,
        ban_cooldown: Some(Duration::from_secs(2)),
        ..DevnetConfig::plain(dir.path(), 4, 3)
    })
    .await
    .expect("local network");
    let cheat = devnet
        .nodes
        .iter()
        .find(|n| n.role == "worker (faulty)")
        .expect("a faulty worker")
        .key
        .to_string();
    let (base, bundle) = cornell_job(devnet.creator_key.public(), 1, 0);
    let job = |nonce: u64| JobSpec {
        frames: FrameRange { first: 1, last: 2 },
        width: 96,
        nonce,
        epoch: 0,
        ..base.clone()
    };
    // The cheat falsifies its first output: rejected, banned.
    let first = devnet
        .creator
        .submit(job(1), bundle.clone())
        .await
        .expect("submit");
    assert_eq!(finished(&devnet, first).await.state, JobState::Complete);
    let before = worker_view(&devnet, &cheat).await;
    assert!(before.rejected >= 1, "{before:?}");
    // After the cool-down every checker challenges it; it renders the window live, and
    // every checker counts it eligible again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while !eligible_everywhere(&devnet, 3).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker did not come back after its ban"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A new job: it renders again (and, faulty as it is, is caught again).
    let second = devnet
        .creator
        .submit(job(2), bundle.clone())
        .await
        .expect("submit");
    assert_eq!(finished(&devnet, second).await.state, JobState::Complete);
    let after = worker_view(&devnet, &cheat).await;
    assert!(
        after.claimed > before.claimed,
        "the returning worker got shards again: {before:?} then {after:?}"
    );
    devnet.shutdown().await;
}
