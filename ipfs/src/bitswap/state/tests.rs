use super::*;
use crate::{raw_cid, MemoryBlockstore};

fn shared(max_peer_wants: usize) -> Shared {
    let config = BitswapConfig {
        max_peer_wants,
        max_entries_per_message: 8,
        ..BitswapConfig::default()
    };
    Shared::new(Arc::new(MemoryBlockstore::new()), config)
}

/// A message saying the sender lacks `cid`.
fn dont_have(cid: &Cid) -> Message {
    Message {
        block_presences: vec![wire::BlockPresence {
            cid: cid.to_bytes().into(),
            r#type: wire::PRESENCE_DONT_HAVE,
        }],
        ..Message::default()
    }
}

fn entry(n: u32, cancel: bool) -> wire::Entry {
    wire::Entry {
        block: raw_cid(&n.to_le_bytes()).to_bytes().into(),
        priority: 1,
        cancel,
        want_type: wire::WANT_BLOCK,
        send_dont_have: true,
    }
}

fn message(entries: Vec<wire::Entry>, full: bool) -> Message {
    Message {
        wantlist: Some(Wantlist { entries, full }),
        ..Message::default()
    }
}

#[test]
fn peer_wants_are_capped_cancelled_and_replaced() {
    let shared = shared(5);
    let peer = PeerId::random();
    let pending = || shared.peer_stats(&peer).map_or(0, |p| p.pending_wants);

    // 10 entries: 8 read (the per-message limit), 5 kept (the per-peer limit).
    shared.handle_message(
        &peer,
        message((0..10).map(|n| entry(n, false)).collect(), false),
    );
    assert_eq!(pending(), 5);
    assert_eq!(shared.stats().wants_ignored, 5);
    assert_eq!(shared.stats().peak_peer_wants, 5);

    // A repeated want is not a new one; a cancel frees a place.
    shared.handle_message(&peer, message(vec![entry(0, false), entry(1, true)], false));
    assert_eq!(pending(), 4);

    // A full wantlist replaces the old one.
    shared.handle_message(&peer, message(vec![entry(100, false)], true));
    assert_eq!(pending(), 1);

    // Invalid CID bytes are ignored.
    let mut bad = entry(0, false);
    bad.block = Bytes::from_static(b"\xff\xff");
    shared.handle_message(&peer, message(vec![bad], false));
    assert_eq!(pending(), 1);
    assert_eq!(shared.stats().wants_ignored, 6);
}

#[test]
fn requests_are_served_by_priority_then_arrival() {
    let shared = shared(100);
    let peer = PeerId::random();
    let mut low = entry(1, false);
    low.priority = 1;
    let mut high = entry(2, false);
    high.priority = 9;
    let mut low2 = entry(3, false);
    low2.priority = 1;
    shared.handle_message(&peer, message(vec![low, high, low2], false));
    let mut order = Vec::new();
    while let Some((key, request)) = shared.peek_request(&peer) {
        assert!(shared.take_request(&peer, &key));
        order.push(request.cid);
    }
    assert_eq!(
        order,
        vec![
            raw_cid(&2u32.to_le_bytes()),
            raw_cid(&1u32.to_le_bytes()),
            raw_cid(&3u32.to_le_bytes())
        ]
    );
}

#[test]
fn unrequested_blocks_are_rejected_and_dont_haves_fail_the_want() {
    let shared = Arc::new(shared(100));
    let (a, b) = (PeerId::random(), PeerId::random());
    let cid = raw_cid(b"wanted");
    let (_guard, mut receiver) = shared.begin_get(cid, &[a, b]).expect("running");
    // A block nobody asked for.
    shared.on_payload(&a, &[1, 0x55, 0x1e, 32], Bytes::from_static(b"other"));
    assert_eq!(shared.stats().blocks_rejected, 1);
    assert_eq!(shared.want_report(&cid), (2, 1));
    shared.handle_message(&a, dont_have(&cid));
    assert!(matches!(receiver.try_recv(), Ok(None)));
    shared.handle_message(&b, dont_have(&cid));
    assert!(matches!(receiver.try_recv(), Ok(Some(Err(2)))));
    assert_eq!(shared.stats().pending_gets, 0);
}

#[test]
fn a_dropped_get_cancels_its_want() {
    let shared = Arc::new(shared(100));
    let peer = PeerId::random();
    let cid = raw_cid(b"wanted");
    let (guard, _receiver) = shared.begin_get(cid, &[peer]).expect("running");
    // The want is still in the outbox: dropping the get removes it instead of
    // queueing a cancel.
    drop(guard);
    assert_eq!(shared.stats().pending_gets, 0);
    assert!(shared.take_outbox(&peer, 10).is_empty());
    // Once sent, a dropped get queues a cancel.
    let (guard, _receiver) = shared.begin_get(cid, &[peer]).expect("running");
    assert_eq!(shared.take_outbox(&peer, 10).len(), 1);
    drop(guard);
    let outbox = shared.take_outbox(&peer, 10);
    assert_eq!(outbox.len(), 1);
    assert!(outbox[0].cancel);
}

#[test]
fn a_want_is_sent_again_to_the_peers_that_have_not_answered() {
    let shared = Arc::new(shared(100));
    let (a, b) = (PeerId::random(), PeerId::random());
    let cid = raw_cid(b"wanted");
    let (_guard, _receiver) = shared.begin_get(cid, &[a, b]).expect("running");
    assert_eq!(shared.take_outbox(&a, 10).len(), 1);
    assert_eq!(shared.take_outbox(&b, 10).len(), 1);
    // `a` says it lacks the block; `b` says nothing (its answer was lost).
    shared.handle_message(&a, dont_have(&cid));
    shared.resend(&cid);
    assert!(shared.take_outbox(&a, 10).is_empty(), "a answered");
    let again = shared.take_outbox(&b, 10);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].cid, cid);
    assert!(!again[0].cancel);
    // Once the block is in, there is nothing to send again.
    shared.handle_message(
        &b,
        Message {
            payload: vec![wire::Payload {
                prefix: crate::block::cid_prefix(&cid),
                data: Bytes::from_static(b"wanted"),
            }],
            ..Message::default()
        },
    );
    shared.resend(&cid);
    assert!(shared.take_outbox(&b, 10).is_empty());
}
