//! Which worker gets a shard: the least loaded, then the one with fewer offences, then the
//! faster class of machine.

use super::*;

#[test]
fn shards_go_to_the_least_loaded_then_the_fastest_machines() {
    let mut rig = Rig::new(3);
    let (fast, slow, unknown) = (rig.workers[0], rig.workers[1], rig.workers[2]);
    rig.broadcast(0, || {
        CheckerInput::Capability(capability(slow, &[Engine::Builtin], 1_000))
    });
    rig.broadcast(0, || {
        CheckerInput::Capability(capability(fast, &[Engine::Builtin], 8_000))
    });
    for w in [fast, slow, unknown] {
        rig.broadcast(0, || CheckerInput::WorkerSeen(w));
    }
    let job = rig.job.clone();
    rig.broadcast(1, || CheckerInput::Job(job.clone()));
    let assigned = rig.assignments();
    assert_eq!(assigned.len(), 2, "two tiles: {assigned:?}");
    // The first shard goes to the fastest idle machine; the second to the next idle one
    // (load comes first), never to the worker without a benchmark while a measured one is
    // idle.
    let workers: Vec<PublicKey> = assigned.iter().map(|a| a.worker).collect();
    assert!(workers.contains(&fast), "{workers:?}");
    assert!(workers.contains(&slow), "{workers:?}");
    assert!(!workers.contains(&unknown), "{workers:?}");
}

#[test]
fn an_assignment_past_the_last_attempt_is_ignored_and_attempts_never_overflow() {
    let mut rig = Rig::started(1);
    let first = rig.assignments();
    assert_eq!(first.len(), 2, "{first:?}");
    let shard = first[0].shard;
    // A member of the committee signs an assignment at the largest attempt there is.
    let mut hostile = first[0].clone();
    hostile.attempt = u32::MAX;
    hostile.assigned_by = key(3).public();
    rig.broadcast(1, || CheckerInput::Assignment(hostile.clone()));
    // The worker stays silent past the shard's timeout: the shard goes out again at the
    // next attempt, not at u32::MAX + 1.
    let later = params().shard_timeout_ms + 10;
    rig.broadcast(later, || CheckerInput::WorkerSeen(first[0].worker));
    rig.broadcast(later, || CheckerInput::Tick);
    let again: Vec<u32> = rig
        .assignments()
        .iter()
        .filter(|a| a.shard == shard && a.assigned_by != hostile.assigned_by)
        .map(|a| a.attempt)
        .collect();
    assert!(again.contains(&1), "{again:?}");

    // At the last attempt a committee may name, timeouts keep the shard going there.
    let mut last = first[1].clone();
    last.attempt = rules::MAX_ATTEMPT;
    last.assigned_by = key(3).public();
    rig.broadcast(later, || CheckerInput::Assignment(last.clone()));
    for round in 2..4 {
        let now = later + round * (params().shard_timeout_ms + 10);
        rig.broadcast(now, || CheckerInput::WorkerSeen(first[1].worker));
        rig.broadcast(now, || CheckerInput::Tick);
    }
    let attempts: Vec<u32> = rig
        .assignments()
        .iter()
        .filter(|a| a.shard == last.shard && a.attempt > 1)
        .map(|a| a.attempt)
        .collect();
    assert!(
        attempts.iter().all(|&a| a == rules::MAX_ATTEMPT),
        "{attempts:?}"
    );
    assert!(attempts.len() > 1, "assigned again at the last attempt");
}
