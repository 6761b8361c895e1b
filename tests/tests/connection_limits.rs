//! A peer that opens connection after connection over real sockets: the node keeps
//! `MAX_CONNECTIONS_PER_PEER` of them, closes the rest, and goes on answering.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use libp2p::{
    ping,
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        SwarmEvent,
    },
};
use pictor_node::network::MAX_CONNECTIONS_PER_PEER;
use pictor_node::{identity, spawn, NetworkParams, NodeConfig};
use pictor_protocol::Keypair;

/// Connections the peer tries to open: more than the node keeps.
const DIALS: u32 = MAX_CONNECTIONS_PER_PEER + 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_gets_at_most_its_share_of_connections() {
    let home = tempfile::tempdir().expect("tempdir");
    let key = Keypair::from_seed([1; 32]);
    let mut config = NodeConfig::new(
        home.path(),
        NetworkParams::new("limits", vec![key.public()]),
    );
    config.keypair = Some(key.clone());
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")];
    let (client, _) = spawn(config).expect("node starts");
    let node = identity::peer_id(&key.public()).expect("peer id");
    let addr = pictor_tests::tcp_dial_addr(&client).await;

    // A bare peer (no limits of its own) that dials the node again and again.
    let mut peer = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|_| ping::Behaviour::default())
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    for _ in 0..DIALS {
        peer.dial(
            DialOpts::peer_id(node)
                .addresses(vec![addr.clone()])
                .condition(PeerCondition::Always)
                .build(),
        )
        .expect("dial");
    }

    // Every dial ends one way or the other; the node closes what is past its limit.
    let mut open = BTreeSet::new();
    let mut refused = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !(open.len() as u32 == MAX_CONNECTIONS_PER_PEER
        && refused == DIALS - MAX_CONNECTIONS_PER_PEER)
    {
        let event = tokio::time::timeout_at(deadline, peer.select_next_some())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} connections open, {refused} refused, of {DIALS} dials",
                    open.len()
                )
            });
        match event {
            SwarmEvent::ConnectionEstablished { connection_id, .. } => {
                open.insert(connection_id);
            }
            SwarmEvent::ConnectionClosed { connection_id, .. } => {
                open.remove(&connection_id);
                refused += 1;
            }
            SwarmEvent::OutgoingConnectionError { .. } => refused += 1,
            _ => {}
        }
    }
    assert_eq!(
        client
            .status()
            .await
            .expect("the node answers")
            .connected_peers,
        1
    );
    client.shutdown().await.expect("stop");
}
