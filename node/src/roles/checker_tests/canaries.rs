//! Canary reveals: a rejected claim that was the worker's forced error is struck off.

use pictor_protocol::CanaryReveal;

use super::*;

/// Worker `worker_seed`'s reveal of its attempt `attempt` on `shard` (drawn at a rate of
/// one: every attempt is a canary; the node's validator checks the rate, not the checker).
fn reveal(worker_seed: u8, shard: ShardId, attempt: u32) -> CanaryReveal {
    CanaryReveal::draw(
        &key(worker_seed),
        NET,
        &shard,
        attempt,
        pictor_protocol::canary::PPM,
    )
    .expect("every attempt is a canary at a rate of one")
}

#[test]
fn a_revealed_canary_lifts_the_ban_and_gives_the_worker_back_its_job() {
    let mut rig = Rig::started(2);
    let first = rig.assignments()[0].clone();
    let truth = tile(32, 32, 3);
    let mut canary = truth.clone();
    canary.pixels.iter_mut().for_each(|v| *v = 255 - *v);
    let outs = rig.claim_and_verify(10, &first, &canary, &truth);
    assert!(finals(&outs).values().all(|v| *v == Verdict::Invalid));
    for c in &rig.checkers {
        assert!(c.is_banned(&first.worker, 20));
    }
    // Worker 50 is the rig's first worker (key(50)).
    let seed = if first.worker == key(50).public() {
        50
    } else {
        51
    };
    // A reveal of a shard it was never rejected on changes nothing.
    let other = rig.assignments()[1].shard;
    let outs = rig.broadcast(30, || CheckerInput::Canary {
        worker: first.worker,
        reveal: reveal(seed, other, 0),
    });
    assert!(outs.is_empty(), "{outs:?}");
    // The true reveal: forgiven by every checker, no ban left.
    let outs = rig.broadcast(30, || CheckerInput::Canary {
        worker: first.worker,
        reveal: reveal(seed, first.shard, 0),
    });
    let forgiven = outs
        .iter()
        .filter(|(_, o)| {
            matches!(o, CheckerOutput::Forgiven { worker, offences: 0, .. } if *worker == first.worker)
        })
        .count();
    assert_eq!(forgiven, 4, "{outs:?}");
    for c in &rig.checkers {
        assert!(!c.is_banned(&first.worker, 31));
    }
    // Heartbeats repeat reveals: the second changes nothing.
    let outs = rig.broadcast(40, || CheckerInput::Canary {
        worker: first.worker,
        reveal: reveal(seed, first.shard, 0),
    });
    assert!(outs.is_empty(), "{outs:?}");
}

#[test]
fn a_member_that_saw_the_ban_first_still_takes_the_next_claim_the_leader_waits_for() {
    // One worker holds both shards; its first claim is a canary.
    let mut rig = Rig::started(1);
    let assigned = rig.assignments();
    assert_eq!(assigned.len(), 2, "{assigned:?}");
    assert!(assigned.iter().all(|a| a.worker == key(50).public()));
    let (first, second) = (assigned[0].clone(), assigned[1].clone());
    let truth = tile(32, 32, 3);
    let mut canary = truth.clone();
    canary.pixels.iter_mut().for_each(|v| *v = 255 - *v);
    let outs = rig.claim_and_verify(10, &first, &canary, &truth);
    assert!(finals(&outs).values().all(|v| *v == Verdict::Invalid));
    let leader = (0..4)
        .find(|&i| rig.checkers[i].key() == first.assigned_by)
        .expect("the leader is a checker");
    // The leader sees the reveal at once; the others tick while the worker is still
    // banned to them, and see the reveal only after.
    let outs: Vec<(usize, CheckerOutput)> = rig.checkers[leader]
        .handle(
            11,
            CheckerInput::Canary {
                worker: first.worker,
                reveal: reveal(50, first.shard, 0),
            },
        )
        .into_iter()
        .map(|o| (leader, o))
        .collect();
    rig.gossip(11, outs);
    for i in (0..4).filter(|&i| i != leader) {
        let outs: Vec<(usize, CheckerOutput)> = rig.checkers[i]
            .handle(12, CheckerInput::Tick)
            .into_iter()
            .map(|o| (i, o))
            .collect();
        rig.gossip(12, outs);
        rig.checkers[i].handle(
            13,
            CheckerInput::Canary {
                worker: first.worker,
                reveal: reveal(50, first.shard, 0),
            },
        );
    }
    // The worker's claim on its other shard, at the attempt the leader still waits for,
    // is checked and certified by the whole committee.
    let good = tile(32, 32, 0);
    let outs = rig.claim_and_verify(14, &second, &good, &good);
    let finals = finals(&outs);
    assert_eq!(finals.len(), 4, "{outs:?}");
    assert!(finals.values().all(|v| *v == Verdict::Valid));
}
