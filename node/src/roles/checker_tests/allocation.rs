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
