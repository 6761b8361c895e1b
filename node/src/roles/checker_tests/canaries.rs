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
