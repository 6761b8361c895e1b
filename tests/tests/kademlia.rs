//! Kademlia on real sockets: a node adds a file, and a node two hops away finds it as a
//! provider through the DHT and fetches the file from it over Bitswap.

use std::time::Duration;

use pictor_node::{spawn, Client, NetworkParams, NodeConfig, Roles};
use pictor_protocol::Keypair;
use pictor_tests::tcp_dial_addr;

fn node(dir: &std::path::Path, seed: u8) -> Client {
    let (client, _) = spawn(NodeConfig {
        home: dir.join(format!("node-{seed}")),
        network: NetworkParams::new("kad-net", vec![Keypair::from_seed([1; 32]).public()]),
        roles: Roles::default(),
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
        bootnodes: Vec::new(),
        keypair: Some(Keypair::from_seed([seed; 32])),
        events: false,
        http: None,
        http_limits: Default::default(),
        blender_pool: None,
        job_retention: pictor_node::DEFAULT_JOB_RETENTION,
        durable: true,
        swarm: Default::default(),
    })
    .expect("node starts");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_two_hops_away_is_found_and_fetched_from() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (
        node(dir.path(), 10),
        node(dir.path(), 11),
        node(dir.path(), 12),
    );
    let a_id = a.status().await.expect("status").peer_id;
    b.dial(tcp_dial_addr(&a).await).await.expect("b dials a");
    c.dial(tcp_dial_addr(&b).await).await.expect("c dials b");
    // Let identify fill the routing tables.
    for _ in 0..100 {
        let (sb, sc) = (b.status().await.expect("b"), c.status().await.expect("c"));
        if sb.connected_peers >= 2 && sc.connected_peers >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let cid = a.add_file(bytes.clone()).await.expect("a adds the file");

    let mut providers = Vec::new();
    for _ in 0..20 {
        providers = c.find_providers(cid).await.expect("query");
        if providers.contains(&a_id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        providers.contains(&a_id),
        "c finds a as a provider: {providers:?}"
    );
    let got = c
        .get_file(cid, providers, 1 << 30)
        .await
        .expect("c fetches the file from its provider");
    assert!(got == bytes);
    for n in [a, b, c] {
        n.shutdown().await.expect("stop");
    }
}
