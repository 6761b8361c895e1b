//! Bitswap between real libp2p swarms on loopback TCP + noise + yamux.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::{
    random_bytes, receive, send, want, wants, Node, WireMessage, WirePayload, DONT_HAVE, HAVE,
    WANT_BLOCK, WANT_HAVE,
};
use futures::{AsyncWriteExt as _, StreamExt as _};
use pictor_ipfs::{
    bitswap::{PROTOCOL_1_1, PROTOCOL_1_2},
    raw_cid,
    unixfs::{self, DEFAULT_CHUNK_SIZE},
    Bitswap, BitswapConfig, BitswapError, Block, Blockstore, Cid, MemoryBlockstore,
};

/// A server holding `blocks` and a client, connected, both running Bitswap.
async fn server_and_client(
    blocks: &[Block],
) -> (Node, Bitswap, Node, Bitswap, Arc<MemoryBlockstore>) {
    let mut server = Node::start().await;
    let mut client = Node::start().await;
    client.connect(&mut server).await;
    let server_store = Arc::new(MemoryBlockstore::new());
    for block in blocks {
        server_store.put(block).expect("memory store");
    }
    let server_bitswap = server.bitswap(server_store, BitswapConfig::default());
    let client_store = Arc::new(MemoryBlockstore::new());
    let client_bitswap = client.bitswap(client_store.clone(), BitswapConfig::default());
    (server, server_bitswap, client, client_bitswap, client_store)
}

/// Waits until `check` holds on the stats (or fails after 10 s).
async fn until(bitswap: &Bitswap, what: &str, check: impl Fn(&pictor_ipfs::BitswapStats) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check(&bitswap.stats()) {
        assert!(Instant::now() < deadline, "{what}: {:?}", bitswap.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_a_raw_block() {
    let block = Block::raw(random_bytes(10_000, b"raw")).expect("small block");
    let (server, server_bitswap, _client, client_bitswap, client_store) =
        server_and_client(std::slice::from_ref(&block)).await;

    let got = client_bitswap
        .get(block.cid(), &[server.peer_id], Duration::from_secs(10))
        .await
        .expect("block fetched");
    assert_eq!(got, block);
    assert!(client_store.has(block.cid()).expect("memory store"));
    assert_eq!(client_bitswap.stats().blocks_received, 1);
    assert_eq!(client_bitswap.stats().pending_gets, 0);
    until(&server_bitswap, "server counted the block", |s| {
        s.blocks_sent == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_a_64_mib_unixfs_file() {
    let data = random_bytes(64 * 1024 * 1024, b"file");
    let (root, blocks) = unixfs::import(data.clone(), DEFAULT_CHUNK_SIZE).expect("imports");
    assert_eq!(blocks.len(), 65, "64 leaves and a root");
    let (server, _server_bitswap, _client, client_bitswap, client_store) =
        server_and_client(&blocks).await;

    let start = Instant::now();
    let got = client_bitswap
        .get_file(&root, &[server.peer_id], data.len() as u64)
        .await
        .expect("file fetched");
    let elapsed = start.elapsed();
    assert!(got == data, "the fetched file differs");
    assert_eq!(client_store.len(), 65);
    println!(
        "64 MiB in {elapsed:?}: {:.0} MB/s (debug build, one process)",
        data.len() as f64 / elapsed.as_secs_f64() / 1e6
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_cid_is_not_found_quickly() {
    let (server, _server_bitswap, _client, client_bitswap, _) = server_and_client(&[]).await;
    let missing = raw_cid(b"nobody has this");
    let start = Instant::now();
    let err = client_bitswap
        .get(&missing, &[server.peer_id], Duration::from_secs(20))
        .await
        .expect_err("not found");
    assert!(
        matches!(err, BitswapError::NotFound { peers: 1, .. }),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(client_bitswap.stats().pending_gets, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_not_matching_its_cid_is_dropped_and_the_get_times_out() {
    let mut victim = Node::start().await;
    let mut hostile = Node::start().await;
    victim.connect(&mut hostile).await;
    let victim_store = Arc::new(MemoryBlockstore::new());
    let bitswap = victim.bitswap(victim_store.clone(), BitswapConfig::default());
    let mut control = hostile.control.clone();
    let mut incoming = control.accept(PROTOCOL_1_2).expect("protocol free");

    let wanted = raw_cid(b"the real block");
    let fetch = tokio::spawn({
        let bitswap = bitswap.clone();
        let hostile_id = hostile.peer_id;
        async move {
            bitswap
                .get(&wanted, &[hostile_id], Duration::from_secs(4))
                .await
        }
    });

    // The hostile peer receives the want...
    let (_, mut want_stream) = incoming.next().await.expect("victim's stream");
    let message = receive(&mut want_stream).await;
    let entry = &message.wantlist.expect("a wantlist").entries[0];
    assert_eq!(entry.block, wanted.to_bytes());
    assert_eq!(entry.want_type, WANT_BLOCK);
    assert!(entry.send_dont_have);

    // ...and answers with other bytes under the wanted CID's prefix.
    let mut answer = control
        .open_stream(victim.peer_id, PROTOCOL_1_2)
        .await
        .expect("stream to the victim");
    let forged = WireMessage {
        wantlist: None,
        payload: vec![WirePayload {
            prefix: vec![1, 0x55, 0x1e, 32],
            data: b"a forged block".to_vec(),
        }],
        block_presences: vec![],
    };
    send(&mut answer, &forged).await;

    let err = fetch.await.expect("task").expect_err("no valid block");
    match &err {
        BitswapError::Timeout {
            cid,
            rejected_blocks,
            peers,
            ..
        } => {
            assert_eq!(**cid, wanted);
            assert_eq!(*peers, 1);
            assert_eq!(*rejected_blocks, 1, "{err}");
        }
        other => panic!("expected a timeout, got {other}"),
    }
    assert!(!victim_store.has(&wanted).expect("memory store"));
    assert!(victim_store.is_empty(), "the forged block was stored");
    assert_eq!(bitswap.stats().blocks_rejected, 1);
    let peer = bitswap.peer_stats(&hostile.peer_id).expect("peer state");
    assert_eq!(peer.rejected_blocks, 1);
    // The want was sent again while unanswered (a forged block is no answer), then
    // cancelled on timeout.
    let mut resent = 0;
    loop {
        let message = receive(&mut want_stream).await;
        let entry = &message.wantlist.expect("a wantlist").entries[0];
        assert_eq!(entry.block, wanted.to_bytes());
        if entry.cancel {
            break;
        }
        resent += 1;
    }
    assert!(
        (1..=3).contains(&resent),
        "sent again {resent} times in 4 s"
    );
}

/// A victim serving an honest client, attacked by a raw peer.
async fn victim_with_honest_client() -> (Node, Bitswap, Node, Bitswap, Node, Block) {
    let block = Block::raw(random_bytes(50_000, b"served")).expect("small block");
    let mut victim = Node::start().await;
    let mut client = Node::start().await;
    let mut attacker = Node::start().await;
    client.connect(&mut victim).await;
    attacker.connect(&mut victim).await;
    let store = Arc::new(MemoryBlockstore::new());
    store.put(&block).expect("memory store");
    let victim_bitswap = victim.bitswap(store, BitswapConfig::default());
    let client_bitswap =
        client.bitswap(Arc::new(MemoryBlockstore::new()), BitswapConfig::default());
    (
        victim,
        victim_bitswap,
        client,
        client_bitswap,
        attacker,
        block,
    )
}

async fn still_serves(victim: &Node, client: &Bitswap, block: &Block) {
    let got = client
        .get(block.cid(), &[victim.peer_id], Duration::from_secs(10))
        .await
        .expect("the victim still serves");
    assert_eq!(&got, block);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_drops_the_stream_only() {
    let (victim, victim_bitswap, _client_node, client, attacker, block) =
        victim_with_honest_client().await;
    let mut control = attacker.control.clone();
    let mut stream = control
        .open_stream(victim.peer_id, PROTOCOL_1_2)
        .await
        .expect("stream");
    // A 5 MiB length prefix, then some of the body.
    let mut prefix = Vec::new();
    let mut len = 5u64 * 1024 * 1024;
    while len >= 0x80 {
        prefix.push((len as u8) | 0x80);
        len >>= 7;
    }
    prefix.push(len as u8);
    stream.write_all(&prefix).await.expect("write");
    let _ = stream.write_all(&vec![0u8; 64 * 1024]).await;
    let _ = stream.flush().await;
    until(&victim_bitswap, "stream dropped", |s| {
        s.messages_dropped == 1
    })
    .await;
    still_serves(&victim, &client, &block).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_bytes_drop_the_stream_only() {
    let (victim, victim_bitswap, _client_node, client, attacker, block) =
        victim_with_honest_client().await;
    let mut control = attacker.control.clone();
    let mut stream = control
        .open_stream(victim.peer_id, PROTOCOL_1_2)
        .await
        .expect("stream");
    // Length 8, then fields with the invalid wire type 7.
    stream
        .write_all(&[8, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f])
        .await
        .expect("write");
    stream.flush().await.expect("flush");
    until(&victim_bitswap, "stream dropped", |s| {
        s.messages_dropped == 1
    })
    .await;
    still_serves(&victim, &client, &block).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_want_list_flood_holds_bounded_state() {
    let (victim, victim_bitswap, _client_node, client, attacker, block) =
        victim_with_honest_client().await;
    let mut control = attacker.control.clone();
    // Accept the victim's answers but never read them, so its writer stalls.
    let _incoming = control.accept(PROTOCOL_1_2).expect("protocol free");
    let mut stream = control
        .open_stream(victim.peer_id, PROTOCOL_1_2)
        .await
        .expect("stream");
    let config = BitswapConfig::default();
    let mut sent = 0u32;
    for round in 0..100u32 {
        let entries = (0..1000u32)
            .map(|i| {
                let cid = raw_cid(&(round * 1000 + i).to_le_bytes());
                want(&cid, WANT_BLOCK, true)
            })
            .collect();
        send(&mut stream, &wants(entries)).await;
        sent += 1000;
    }
    assert_eq!(sent, 100_000);
    until(&victim_bitswap, "all entries processed", |s| {
        s.wants_ignored + s.peer_wants >= 50_000
    })
    .await;
    let stats = victim_bitswap.stats();
    assert!(
        stats.peak_peer_wants <= config.max_peer_wants as u64,
        "{stats:?}"
    );
    let peer = victim_bitswap
        .peer_stats(&attacker.peer_id)
        .expect("attacker state");
    assert!(peer.pending_wants <= config.max_peer_wants, "{peer:?}");
    assert!(stats.wants_ignored > 0, "{stats:?}");
    still_serves(&victim, &client, &block).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_haves_dont_haves_and_blocks() {
    let (victim, victim_bitswap, _client_node, _client, attacker, block) =
        victim_with_honest_client().await;
    let mut control = attacker.control.clone();
    let mut incoming = control.accept(PROTOCOL_1_2).expect("protocol free");
    let mut stream = control
        .open_stream(victim.peer_id, PROTOCOL_1_2)
        .await
        .expect("stream");
    let missing = raw_cid(b"missing");
    let silent = raw_cid(b"missing, no answer asked");
    let mut entries = vec![
        want(block.cid(), WANT_HAVE, true),
        want(&missing, WANT_HAVE, true),
        want(&silent, WANT_BLOCK, false),
    ];
    // Over the per-message limit of 1024: the last 1100 entries are ignored.
    entries.extend((0..2121u32).map(|i| want(&raw_cid(&i.to_le_bytes()), WANT_HAVE, false)));
    send(&mut stream, &wants(entries)).await;

    let (_, mut answers) = incoming.next().await.expect("victim's stream");
    let (mut have, mut dont_have) = (Vec::new(), Vec::new());
    while have.is_empty() || dont_have.is_empty() {
        let message = tokio::time::timeout(Duration::from_secs(10), receive(&mut answers))
            .await
            .expect("answers within 10 s");
        assert!(message.payload.is_empty(), "a block for a want-have");
        for presence in message.block_presences {
            let cid = Cid::try_from(presence.cid.as_slice()).expect("cid");
            match presence.r#type {
                HAVE => have.push(cid),
                DONT_HAVE => dont_have.push(cid),
                other => panic!("unknown presence {other}"),
            }
        }
    }
    assert_eq!(have, vec![*block.cid()]);
    assert_eq!(dont_have, vec![missing]);

    send(
        &mut stream,
        &wants(vec![want(block.cid(), WANT_BLOCK, true)]),
    )
    .await;
    let message = tokio::time::timeout(Duration::from_secs(10), receive(&mut answers))
        .await
        .expect("the block within 10 s");
    assert!(message.block_presences.is_empty());
    assert_eq!(message.payload.len(), 1);
    assert_eq!(message.payload[0].prefix, vec![1, 0x55, 0x1e, 32]);
    assert_eq!(message.payload[0].data, block.data().as_ref());
    assert_eq!(victim_bitswap.stats().wants_ignored, 1100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bitswap_1_1_peer_is_served() {
    let (victim, _victim_bitswap, _client_node, _client, attacker, block) =
        victim_with_honest_client().await;
    let mut control = attacker.control.clone();
    // This peer speaks only 1.1.0: the victim must fall back to it to answer.
    let mut incoming = control.accept(PROTOCOL_1_1).expect("protocol free");
    let mut stream = control
        .open_stream(victim.peer_id, PROTOCOL_1_1)
        .await
        .expect("stream");
    send(
        &mut stream,
        &wants(vec![want(block.cid(), WANT_BLOCK, false)]),
    )
    .await;
    let (_, mut answers) = incoming.next().await.expect("victim's stream");
    let message = tokio::time::timeout(Duration::from_secs(10), receive(&mut answers))
        .await
        .expect("an answer within 10 s");
    assert_eq!(message.payload.len(), 1);
    assert_eq!(message.payload[0].data, block.data().as_ref());
    assert!(message.block_presences.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_gets_of_one_block_share_a_want() {
    let block = Block::raw(random_bytes(1000, b"shared")).expect("small block");
    let (server, _server_bitswap, _client, client_bitswap, _) =
        server_and_client(std::slice::from_ref(&block)).await;
    let peers = [server.peer_id];
    let gets = (0..8).map(|_| client_bitswap.get(block.cid(), &peers, Duration::from_secs(10)));
    for got in futures::future::join_all(gets).await {
        assert_eq!(got.expect("block fetched"), block);
    }
}
