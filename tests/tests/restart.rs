//! A node stops and starts again on the same home: what it had accepted is still there,
//! replayed from its sled database.

use pictor_node::{spawn, NetworkParams, NodeConfig, Roles};
use pictor_protocol::{FrameRange, JobSpec, Keypair};

fn config(home: &std::path::Path, key: &Keypair) -> NodeConfig {
    NodeConfig {
        home: home.to_path_buf(),
        network: NetworkParams::new("restart-net", vec![key.public()]),
        roles: Roles {
            checker: true,
            worker: None,
            ..Roles::default()
        },
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
        bootnodes: Vec::new(),
        keypair: None,
        events: false,
        http: None,
        http_limits: Default::default(),
        blender_pool: None,
        job_retention: pictor_node::DEFAULT_JOB_RETENTION,
        durable: true,
        swarm: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_job_survives_a_restart() {
    let home = tempfile::tempdir().expect("tempdir");
    // First start: the node makes its key in its home.
    let probe = {
        let (client, _) = spawn(config(home.path(), &Keypair::from_seed([0; 32]))).expect("start");
        let key = client.status().await.expect("status").key;
        client.shutdown().await.expect("stop");
        key
    };
    let key_file = home.path().join(pictor_node::identity::KEY_FILE);
    let seed = hex_seed(&std::fs::read_to_string(key_file).expect("key file"));
    let key = Keypair::from_seed(seed);
    assert_eq!(key.public(), probe, "the key file holds the node's key");

    let (base, bundle) = pictor_tests::cornell_job(key.public(), 1, 0);
    let spec = JobSpec {
        frames: FrameRange { first: 1, last: 2 },
        samples: 1,
        nonce: 42,
        epoch: 0,
        ..base
    };
    let (client, _) = spawn(config(home.path(), &key)).expect("start");
    let id = client.submit(spec, bundle).await.expect("submit");
    assert_eq!(client.status().await.expect("status").jobs, 1);
    client.shutdown().await.expect("stop");

    let (client, _) = spawn(config(home.path(), &key)).expect("restart");
    let status = client.status().await.expect("status");
    assert_eq!(status.key, key.public(), "same identity after restart");
    assert_eq!(status.jobs, 1, "job {id} replayed from the database");
    client.shutdown().await.expect("stop");
}

fn hex_seed(text: &str) -> [u8; 32] {
    let text = text.trim();
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex");
    }
    seed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_below_the_network_requirements_is_told_why_in_one_line() {
    let home = tempfile::tempdir().expect("tempdir");
    let capability = tokio::task::spawn_blocking(|| pictor_node::LocalCapability::probe(1))
        .await
        .expect("join")
        .expect("probe");
    let mut config = config(home.path(), &Keypair::from_seed([3; 32]));
    config.roles = Roles {
        checker: false,
        worker: Some(pictor_node::WorkerConfig {
            device: "cpu".into(),
            tamper: None,
            blender_device: None,
            capability: Some(capability),
        }),
        ..Roles::default()
    };
    config.network.requirements.min_benchmark_score = Some(1e9);
    config.network.requirements.engines = vec!["no-such-engine".into()];
    let err = spawn(config).map(|_| ()).expect_err("refused");
    let line = err.to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(
        line.contains("does not meet the network's requirements"),
        "{line}"
    );
    assert!(line.contains("benchmark score"), "{line}");
    assert!(line.contains("no-such-engine"), "{line}");
    assert!(!home.path().join("db").exists(), "nothing was written");
}
