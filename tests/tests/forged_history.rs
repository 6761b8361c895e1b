//! A peer that serves forged history to a node catching up (a decision certificate whose
//! signature does not verify) is dropped, over a real socket: the node takes nothing from
//! it, closes the connection, and refuses the peer's next connection.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{request_response, swarm::SwarmEvent, Multiaddr, PeerId};
use pictor_node::{
    identity,
    network::{build_swarm, BehaviourEvent},
    spawn, Client, NetworkParams, NodeConfig,
};
use pictor_protocol::{
    Action, DecisionCertificate, JobId, Keypair, MessageKind, Request, Response,
};
use pictor_tests::tcp_dial_addr;

const NET: &str = "forged-net";

fn genesis() -> Keypair {
    Keypair::from_seed([1; 32])
}

/// A node that is no checker: it catches up on the set's decisions from its first peers.
async fn start_victim(home: &std::path::Path) -> (Client, Multiaddr, PeerId) {
    let key = Keypair::from_seed([5; 32]);
    let mut config = NodeConfig::new(
        home.to_path_buf(),
        NetworkParams::new(NET, vec![genesis().public()]),
    );
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")];
    config.keypair = Some(key.clone());
    let (client, _) = spawn(config).expect("node starts");
    let peer = identity::peer_id(&key.public()).expect("peer id");
    let addr = tcp_dial_addr(&client).await;
    (client, addr, peer)
}

/// A move of a job to a new committee, "signed" by the genesis checker with another key.
fn forged_decision() -> DecisionCertificate {
    let action = Action::Recommittee {
        job: JobId([7; 32]),
        generation: 1,
        committee: vec![genesis().public()],
    };
    let signature = Keypair::from_seed([2; 32]).sign(MessageKind::Decision, NET, &action.id().0);
    DecisionCertificate {
        action,
        signatures: vec![(genesis().public(), signature)],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_serves_forged_decisions_is_dropped_and_refused() {
    let home = tempfile::tempdir().expect("tempdir");
    let (victim, addr, victim_peer) = start_victim(home.path()).await;
    let attacker_key = libp2p::identity::Keypair::generate_ed25519();
    let mut swarm = build_swarm(attacker_key, NET, Duration::from_millis(100)).expect("swarm");
    swarm.dial(addr.clone()).expect("dial");

    // The node asks its new peer for the set's decisions; the answer is forged. It closes
    // the connection.
    let mut answered = false;
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(BehaviourEvent::Fetch(
                    request_response::Event::Message {
                        message:
                            request_response::Message::Request {
                                request: Request::GetDecisions,
                                channel,
                                ..
                            },
                        ..
                    },
                )) => {
                    let forged = Response::Decisions(vec![forged_decision()]);
                    let _ = swarm.behaviour_mut().fetch.send_response(channel, forged);
                    answered = true;
                }
                SwarmEvent::ConnectionClosed { peer_id, .. } if peer_id == victim_peer => {
                    return answered;
                }
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(
        outcome,
        Ok(true),
        "the node asked, got the forgery and hung up"
    );

    // A new connection from the same peer is closed at once.
    swarm.dial(addr).expect("dial again");
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let SwarmEvent::ConnectionClosed { peer_id, .. } = swarm.select_next_some().await {
                if peer_id == victim_peer {
                    return;
                }
            }
        }
    })
    .await;
    assert!(refused.is_ok(), "the node took the peer back");

    // Nothing of the forgery was taken: no decision stored.
    victim.shutdown().await.expect("stop");
    let store = pictor_storage::Store::open(&home.path().join("db")).expect("db");
    assert!(store.decisions().expect("decisions").is_empty());
}
