//! A hostile peer on a real socket: forged, foreign, stale and malformed gossip is dropped
//! before any work, the node keeps running, and the sender is penalised; a well-formed
//! message from the same peer still gets through.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{gossipsub, multiaddr::Protocol, swarm::SwarmEvent, Multiaddr, Swarm};
use pictor_node::{
    network::{build_swarm, Behaviour, BehaviourEvent, Topics},
    now_ms, spawn, Client, NetworkParams, NodeConfig, Roles,
};
use pictor_protocol::{
    ContentId, Engine, FrameRange, JobSpec, Keypair, Message, MessageKind, SignedEnvelope,
};

const NET: &str = "test-net";

async fn start_victim(home: &std::path::Path) -> (Client, Multiaddr) {
    let checker = Keypair::from_seed([1; 32]);
    let mut params = NetworkParams::new(NET, vec![checker.public()]);
    params.committee_size = 1;
    params.gossip_heartbeat = Duration::from_millis(100);
    let (client, _) = spawn(NodeConfig {
        home: home.to_path_buf(),
        network: params,
        roles: Roles {
            checker: true,
            worker: None,
            ..Roles::default()
        },
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
        bootnodes: Vec::new(),
        keypair: Some(checker.clone()),
        events: false,
        http: None,
        http_limits: Default::default(),
        blender_pool: None,
        job_retention: pictor_node::DEFAULT_JOB_RETENTION,
        durable: true,
        swarm: Default::default(),
    })
    .expect("node starts");
    let addr = pictor_tests::tcp_dial_addr(&client).await;
    (client, addr)
}

fn job(creator: &Keypair, nonce: u64) -> JobSpec {
    JobSpec {
        creator: creator.public(),
        scene: ContentId::of(b"scene"),
        scene_name: "scene.gltf".into(),
        engine: Engine::Builtin,
        frames: FrameRange { first: 1, last: 1 },
        width: 64,
        height: 64,
        samples: 1,
        tile: 32,
        price_cap: 0,
        nonce,
        epoch: 0,
    }
}

/// Drives the attacker's swarm until `done` holds or the time runs out.
async fn drive(
    swarm: &mut Swarm<Behaviour>,
    mut done: impl FnMut(&SwarmEvent<BehaviourEvent>) -> bool,
) {
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            event = swarm.select_next_some() => if done(&event) { return },
            _ = &mut deadline => panic!("timed out driving the attacker's swarm"),
        }
    }
}

async fn pump(swarm: &mut Swarm<Behaviour>, for_: Duration) {
    let _ = tokio::time::timeout(for_, async {
        loop {
            swarm.select_next_some().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_gossip_is_dropped_and_its_sender_penalised() {
    let home = tempfile::tempdir().expect("tempdir");
    let (victim, addr) = start_victim(home.path()).await;

    let attacker_key = libp2p::identity::Keypair::generate_ed25519();
    let attacker_peer = attacker_key.public().to_peer_id();
    let mut swarm = build_swarm(attacker_key, NET, Duration::from_millis(100)).expect("swarm");
    let topics = Topics::new(NET);
    for t in topics.all() {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&t)
            .expect("subscribe");
    }
    swarm.dial(addr).expect("dial");
    let jobs_topic = topics.topic(MessageKind::Job).hash();
    drive(&mut swarm, |e| {
        matches!(e, SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { topic, .. })) if *topic == jobs_topic)
    })
    .await;

    let creator = Keypair::from_seed([9; 32]);
    let topic = topics.topic(MessageKind::Job);

    // A well-formed job from this peer is accepted: the node can tell good from bad.
    let first = SignedEnvelope::seal(&creator, NET, now_ms(), &Message::Job(job(&creator, 1)));
    swarm
        .behaviour_mut()
        .gossipsub
        .publish(topic.clone(), first.to_bytes())
        .expect("publish");
    let mut accepted = false;
    for _ in 0..50 {
        pump(&mut swarm, Duration::from_millis(100)).await;
        if victim.status().await.expect("status").jobs == 1 {
            accepted = true;
            break;
        }
    }
    assert!(accepted, "a valid job is stored");
    let before = victim
        .peer_score(attacker_peer)
        .await
        .expect("answers")
        .unwrap_or(0.0);

    let good =
        SignedEnvelope::seal(&creator, NET, now_ms(), &Message::Job(job(&creator, 2))).to_bytes();
    let mut forged = good.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1; // a bit of the signature
    let foreign = SignedEnvelope::seal(
        &creator,
        "other-net",
        now_ms(),
        &Message::Job(job(&creator, 3)),
    )
    .to_bytes();
    let stale =
        SignedEnvelope::seal(&creator, NET, 1_000, &Message::Job(job(&creator, 4))).to_bytes();
    let junk = vec![0xa5u8; 60 * 1024];
    // Over the protocol's 64 KiB limit (but under gossipsub's transport limit).
    let oversized = {
        let mut big = good.clone();
        big.resize(pictor_protocol::MAX_GOSSIP_SIZE + 512, 0);
        big
    };
    let truncated = good[..good.len() / 2].to_vec();
    let mut wrong_signer =
        SignedEnvelope::seal(&creator, NET, now_ms(), &Message::Job(job(&creator, 5)));
    wrong_signer.signer = Keypair::from_seed([8; 32]).public();

    for bad in [
        forged,
        foreign,
        stale,
        junk,
        oversized,
        truncated,
        wrong_signer.to_bytes(),
    ] {
        swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic.clone(), bad)
            .expect("publish");
    }
    pump(&mut swarm, Duration::from_millis(1500)).await;

    let status = victim.status().await.expect("the node still answers");
    assert_eq!(status.jobs, 1, "no bad message was acted on");
    let score = victim
        .peer_score(attacker_peer)
        .await
        .expect("answers")
        .expect("the attacker has a score");
    assert!(
        score < 0.0 && score < before,
        "the sender is penalised: score {before} -> {score}"
    );
    victim.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_requests_from_one_peer_is_refused_past_its_rate_and_the_node_goes_on() {
    use libp2p::request_response;
    use pictor_protocol::{Request, Response};

    let home = tempfile::tempdir().expect("tempdir");
    let (victim, addr) = start_victim(home.path()).await;
    let attacker_key = libp2p::identity::Keypair::generate_ed25519();
    let mut swarm = build_swarm(attacker_key, NET, Duration::from_millis(100)).expect("swarm");
    let peer = match addr.iter().last() {
        Some(Protocol::P2p(peer)) => peer,
        _ => panic!("no peer id in {addr}"),
    };
    swarm.dial(addr).expect("dial");
    drive(&mut swarm, |e| {
        matches!(e, SwarmEvent::ConnectionEstablished { .. })
    })
    .await;
    // 6 000 requests for a block the node does not hold, as fast as the connection takes
    // them (libp2p itself caps the streams open at once).
    let total = 6_000;
    let (mut sent, mut answered, mut refused, mut failed) = (0, 0, 0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while answered + refused + failed < total && tokio::time::Instant::now() < deadline {
        while sent < total && sent - (answered + refused + failed) < 32 {
            swarm.behaviour_mut().fetch.send_request(
                &peer,
                Request::GetBlock {
                    id: ContentId::of(b"nothing here"),
                },
            );
            sent += 1;
        }
        let Ok(event) =
            tokio::time::timeout(Duration::from_secs(5), swarm.select_next_some()).await
        else {
            break;
        };
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Fetch(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            })) => match response {
                Response::NotFound => answered += 1,
                Response::Error(e) if e.contains("too many requests") => refused += 1,
                other => panic!("unexpected answer {other:?}"),
            },
            SwarmEvent::Behaviour(BehaviourEvent::Fetch(
                request_response::Event::OutboundFailure { .. },
            )) => failed += 1,
            _ => {}
        }
    }
    assert!(
        answered >= 2_000,
        "the burst is answered: {answered} answered, {refused} refused, {failed} failed"
    );
    assert!(
        refused > 0,
        "past the rate, refused: {answered} answered, {refused} refused, {failed} failed"
    );
    // The node goes on, and the peer is answered again after a quiet spell.
    victim.status().await.expect("the node still answers");
    tokio::time::sleep(Duration::from_secs(2)).await;
    swarm.behaviour_mut().fetch.send_request(
        &peer,
        Request::GetBlock {
            id: ContentId::of(b"nothing here"),
        },
    );
    let mut again = false;
    drive(&mut swarm, |e| {
        again = matches!(
            e,
            SwarmEvent::Behaviour(BehaviourEvent::Fetch(request_response::Event::Message {
                message: request_response::Message::Response {
                    response: Response::NotFound,
                    ..
                },
                ..
            }))
        );
        again
    })
    .await;
    assert!(again);
    victim.shutdown().await.expect("stop");
}
