//! Which worker gets a shard: one whose record meets the job (engine, price cap) and the
//! network; among those the least loaded, then the one with fewer offences, then the
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

#[test]
fn shards_go_only_to_workers_whose_records_meet_the_job_and_the_network() {
    // A Blender job: the worker without Blender gets none of it.
    let mut rig = Rig::new(2);
    rig.job.engine = Engine::Blender;
    rig.job.scene_name = "scene.blend".into();
    let (a, b) = (rig.workers[0], rig.workers[1]);
    rig.broadcast(0, || {
        CheckerInput::Capability(capability(a, &[Engine::Builtin], 2000))
    });
    rig.broadcast(0, || {
        CheckerInput::Capability(capability(b, &[Engine::Builtin, Engine::Blender], 2000))
    });
    for w in [a, b] {
        rig.broadcast(0, || CheckerInput::WorkerSeen(w));
    }
    let job = rig.job.clone();
    rig.broadcast(1, || CheckerInput::Job(job.clone()));
    let assigned = rig.assignments();
    assert!(!assigned.is_empty());
    assert!(assigned.iter().all(|x| x.worker == b), "{assigned:?}");

    // A network that asks for a benchmark score of 1.5 Msamples/s: the slow worker waits.
    let mut params = params();
    params.requirements.min_benchmark_score = Some(1.5);
    let keys: Vec<Keypair> = (1..=4).map(key).collect();
    let set: Vec<PublicKey> = keys.iter().map(Keypair::public).collect();
    let mut rig = Rig::new(2);
    rig.checkers = keys
        .into_iter()
        .map(|k| Checker::new(k, set.clone(), params.clone()))
        .collect();
    let (slow, fast) = (rig.workers[0], rig.workers[1]);
    rig.broadcast(0, || {
        CheckerInput::Capability(capability(slow, &[Engine::Builtin], 800))
    });
    rig.broadcast(0, || {
        CheckerInput::Capability(capability(fast, &[Engine::Builtin], 2000))
    });
    for w in [slow, fast] {
        rig.broadcast(0, || CheckerInput::WorkerSeen(w));
        // A network with requirements admits a worker once its render is checked.
        rig.broadcast(0, || CheckerInput::AdmissionRendered {
            applicant: w,
            digest: Ok(RENDER),
        });
    }
    let job = rig.job.clone();
    rig.broadcast(1, || CheckerInput::Job(job.clone()));
    let assigned = rig.assignments();
    assert!(!assigned.is_empty());
    assert!(assigned.iter().all(|x| x.worker == fast), "{assigned:?}");
}

#[test]
fn shards_go_only_to_workers_within_the_jobs_price_cap() {
    let mut rig = Rig::new(3);
    let (cheap, at_cap, dear) = (rig.workers[0], rig.workers[1], rig.workers[2]);
    // The dear worker is the fastest machine: without the cap it would get a shard first.
    for (w, price, score) in [(cheap, 2, 2000), (at_cap, 5, 2000), (dear, 6, 8000)] {
        let mut record = capability(w, &[Engine::Builtin], score);
        record.price = price;
        rig.broadcast(0, || CheckerInput::Capability(record.clone()));
        rig.broadcast(0, || CheckerInput::WorkerSeen(w));
    }
    rig.job.price_cap = 5;
    let job = rig.job.clone();
    rig.broadcast(1, || CheckerInput::Job(job.clone()));
    let assigned = rig.assignments();
    assert_eq!(assigned.len(), 2, "two tiles: {assigned:?}");
    assert!(assigned.iter().all(|a| a.worker != dear), "{assigned:?}");

    // Without a cap (0) every worker may get shards: the dear one among them.
    let mut rig = Rig::new(3);
    let dear = rig.workers[0];
    for (i, w) in rig.workers.clone().into_iter().enumerate() {
        let mut record = capability(w, &[Engine::Builtin], if i == 0 { 8000 } else { 1000 });
        record.price = if w == dear { 1_000 } else { 1 };
        rig.broadcast(0, || CheckerInput::Capability(record.clone()));
        rig.broadcast(0, || CheckerInput::WorkerSeen(w));
    }
    let job = rig.job.clone();
    rig.broadcast(1, || CheckerInput::Job(job.clone()));
    let assigned = rig.assignments();
    assert!(assigned.iter().any(|a| a.worker == dear), "{assigned:?}");
}
