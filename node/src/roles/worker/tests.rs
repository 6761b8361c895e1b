//! The worker state machine driven directly.

use pictor_protocol::{
    rules, Assignment, ContentId, Engine, JobId, Keypair, PublicKey, ResultClaim, ShardId,
};

use super::{RenderedShard, Tamper, Worker, WorkerInput, WorkerOutput, WorkerParams};

fn key(i: u8) -> PublicKey {
    Keypair::from_seed([i; 32]).public()
}

fn checkers() -> Vec<PublicKey> {
    (1..=4).map(key).collect()
}

fn worker(tamper: Option<Tamper>) -> Worker {
    Worker::new(
        Keypair::from_seed([9; 32]),
        WorkerParams {
            checkers: checkers(),
            committee_size: 4,
            device: "cpu".into(),
            blender_device: Some("cuda".into()),
            tamper,
            network: "devnet".into(),
            canary_rate_ppm: 0,
        },
    )
}

const JOB: JobId = JobId([7; 32]);

fn assignment(tile: u32, attempt: u32, to: PublicKey) -> Assignment {
    let shard = ShardId {
        job: JOB,
        frame: 1,
        tile,
    };
    Assignment {
        shard,
        worker: to,
        attempt,
        assigned_by: rules::committee(&JOB, &checkers(), 4)[0],
        deadline_ms: 0,
    }
}

fn rendered() -> RenderedShard {
    RenderedShard {
        output: ContentId::of(b"tile"),
        width: 8,
        height: 8,
        render_ms: 5,
    }
}

fn renders(out: &[WorkerOutput]) -> Vec<u32> {
    out.iter()
        .filter_map(|o| match o {
            WorkerOutput::Render { assignment, .. } => Some(assignment.shard.tile),
            _ => None,
        })
        .collect()
}

fn started(engine: Engine) -> Worker {
    let mut w = worker(None);
    w.handle(WorkerInput::Job { id: JOB, engine });
    w.handle(WorkerInput::Start);
    w
}

#[test]
fn renders_its_shards_one_at_a_time_in_order_and_claims_each() {
    let mut w = started(Engine::Builtin);
    assert_eq!(
        renders(&w.handle(WorkerInput::Assignment(assignment(0, 0, key(9))))),
        [0]
    );
    assert!(renders(&w.handle(WorkerInput::Assignment(assignment(1, 0, key(9))))).is_empty());
    let out = w.handle(WorkerInput::Rendered {
        assignment: assignment(0, 0, key(9)),
        result: Ok(rendered()),
    });
    let claim = out.iter().find_map(|o| match o {
        WorkerOutput::Claim(c) => Some(c.clone()),
        _ => None,
    });
    let claim = claim.expect("a claim");
    assert_eq!(
        (claim.shard.tile, claim.worker, claim.device.as_str()),
        (0, key(9), "cpu")
    );
    assert_eq!(renders(&out), [1], "the next shard starts at once");
}

#[test]
fn ignores_assignments_to_others_and_from_outside_the_committee() {
    let mut w = started(Engine::Builtin);
    assert!(w
        .handle(WorkerInput::Assignment(assignment(0, 0, key(8))))
        .is_empty());
    let mut forged = assignment(0, 0, key(9));
    forged.assigned_by = key(200);
    assert!(w.handle(WorkerInput::Assignment(forged)).is_empty());
}

#[test]
fn an_assignment_before_its_job_waits_for_it() {
    let mut w = worker(None);
    w.handle(WorkerInput::Start);
    assert!(w
        .handle(WorkerInput::Assignment(assignment(3, 0, key(9))))
        .is_empty());
    let out = w.handle(WorkerInput::Job {
        id: JOB,
        engine: Engine::Builtin,
    });
    assert_eq!(renders(&out), [3]);
}

#[test]
fn nothing_renders_before_start_and_a_claimed_shard_never_renders_again() {
    let mut w = worker(None);
    w.handle(WorkerInput::Job {
        id: JOB,
        engine: Engine::Builtin,
    });
    let old = ResultClaim {
        shard: assignment(0, 0, key(9)).shard,
        worker: key(9),
        attempt: 0,
        output: ContentId::of(b"old"),
        width: 8,
        height: 8,
        render_ms: 1,
        device: "cpu".into(),
    };
    w.handle(WorkerInput::Claimed(old));
    assert!(w
        .handle(WorkerInput::Assignment(assignment(0, 0, key(9))))
        .is_empty());
    assert!(w
        .handle(WorkerInput::Assignment(assignment(1, 0, key(9))))
        .is_empty());
    assert_eq!(
        renders(&w.handle(WorkerInput::Start)),
        [1],
        "only the unclaimed shard"
    );
    // A new attempt at the claimed shard (its claim was rejected) is rendered.
    w.handle(WorkerInput::Assignment(assignment(0, 1, key(9))));
    let out = w.handle(WorkerInput::Rendered {
        assignment: assignment(1, 0, key(9)),
        result: Ok(rendered()),
    });
    assert_eq!(renders(&out), [0]);
}

#[test]
fn a_final_shard_is_dropped_from_the_queue_and_stop_starts_nothing() {
    let mut w = started(Engine::Builtin);
    w.handle(WorkerInput::Assignment(assignment(0, 0, key(9))));
    w.handle(WorkerInput::Assignment(assignment(1, 0, key(9))));
    w.handle(WorkerInput::Assignment(assignment(2, 0, key(9))));
    w.handle(WorkerInput::ShardDone(assignment(1, 0, key(9)).shard));
    w.handle(WorkerInput::Stop);
    let out = w.handle(WorkerInput::Rendered {
        assignment: assignment(0, 0, key(9)),
        result: Err("scene unusable".into()),
    });
    assert!(matches!(&out[..], [WorkerOutput::Failed { .. }]), "{out:?}");
    assert_eq!(w.queued(), 1, "tile 2 waits; tile 1 is final");
}

#[test]
fn a_blender_claim_names_blenders_device_and_a_faulty_worker_falsifies_every_other_output() {
    let mut w = worker(Some(Tamper::Mixed));
    w.handle(WorkerInput::Job {
        id: JOB,
        engine: Engine::Blender,
    });
    w.handle(WorkerInput::Start);
    let out = w.handle(WorkerInput::Assignment(assignment(0, 0, key(9))));
    assert!(matches!(
        &out[..],
        [WorkerOutput::Render {
            tamper: Some(_),
            ..
        }]
    ));
    w.handle(WorkerInput::Assignment(assignment(1, 0, key(9))));
    let out = w.handle(WorkerInput::Rendered {
        assignment: assignment(0, 0, key(9)),
        result: Ok(rendered()),
    });
    assert!(out
        .iter()
        .any(|o| matches!(o, WorkerOutput::Claim(c) if c.device == "cuda (blender)")));
    assert!(out
        .iter()
        .any(|o| matches!(o, WorkerOutput::Render { tamper: None, .. })));
}

#[test]
fn a_new_attempt_of_a_shard_it_rendered_is_claimed_again_without_rendering() {
    let mut w = started(Engine::Builtin);
    w.handle(WorkerInput::Assignment(assignment(0, 0, key(9))));
    w.handle(WorkerInput::Rendered {
        assignment: assignment(0, 0, key(9)),
        result: Ok(rendered()),
    });
    // The job's committee moved: the same shard at the new generation's first attempt.
    let again = assignment(0, rules::first_attempt(1), key(9));
    let out = w.handle(WorkerInput::Assignment(again.clone()));
    assert!(renders(&out).is_empty(), "{out:?}");
    let claim = out.iter().find_map(|o| match o {
        WorkerOutput::Claim(c) => Some(c.clone()),
        _ => None,
    });
    let claim = claim.expect("claimed at once");
    assert_eq!(
        (claim.attempt, claim.output),
        (again.attempt, rendered().output)
    );
    // Once the shard is final, the output is let go: nothing is claimed for it again.
    w.handle(WorkerInput::ShardDone(again.shard));
    let out = w.handle(WorkerInput::Assignment(assignment(
        0,
        rules::first_attempt(2),
        key(9),
    )));
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn a_canary_is_falsified_claimed_and_revealed_once_rejected() {
    // At one half, some of eight shards are canaries and some are not.
    let mut w = worker(None);
    w.params.canary_rate_ppm = pictor_protocol::canary::PPM / 2;
    w.handle(WorkerInput::Job {
        id: JOB,
        engine: Engine::Builtin,
    });
    w.handle(WorkerInput::Start);
    let mut canaries = Vec::new();
    let mut plain = Vec::new();
    for tile in 0..8 {
        let out = w.handle(WorkerInput::Assignment(assignment(tile, 0, key(9))));
        let tamper = out.iter().find_map(|o| match o {
            WorkerOutput::Render { tamper, .. } => Some(*tamper),
            _ => None,
        });
        let tamper = tamper.expect("renders each shard when its turn comes");
        let out = w.handle(WorkerInput::Rendered {
            assignment: assignment(tile, 0, key(9)),
            result: Ok(rendered()),
        });
        assert!(out.iter().any(|o| matches!(o, WorkerOutput::Claim(_))));
        match tamper {
            Some(Tamper::Canary) => canaries.push(tile),
            None => plain.push(tile),
            other => panic!("an honest worker falsifies only canaries: {other:?}"),
        }
    }
    assert!(!canaries.is_empty() && !plain.is_empty(), "{canaries:?}");
    assert!(
        w.reveals().is_empty(),
        "nothing is revealed before the rejection"
    );
    let shard = |tile| assignment(tile, 0, key(9)).shard;
    // Another worker's rejection, or a rejection of a plain shard, reveals nothing.
    let theirs = WorkerInput::Rejected {
        shard: shard(canaries[0]),
        attempt: 0,
        worker: key(8),
    };
    assert!(w.handle(theirs).is_empty());
    let honest_mistake = WorkerInput::Rejected {
        shard: shard(plain[0]),
        attempt: 0,
        worker: key(9),
    };
    assert!(w.handle(honest_mistake).is_empty());
    let out = w.handle(WorkerInput::Rejected {
        shard: shard(canaries[0]),
        attempt: 0,
        worker: key(9),
    });
    let reveal = match out.as_slice() {
        [WorkerOutput::Reveal(r)] => r.clone(),
        other => panic!("one reveal: {other:?}"),
    };
    assert_eq!((reveal.shard, reveal.attempt), (shard(canaries[0]), 0));
    reveal
        .verify("devnet", &key(9), w.params.canary_rate_ppm)
        .expect("anyone verifies it with the worker's key");
    assert_eq!(w.reveals(), vec![reveal]);
    // The canary's next attempt is rendered afresh, never claimed from the falsified output.
    let out = w.handle(WorkerInput::Assignment(assignment(canaries[0], 1, key(9))));
    assert_eq!(renders(&out), [canaries[0]]);
    // Forgetting the job forgets its reveals.
    w.handle(WorkerInput::Forget(JOB));
    assert!(w.reveals().is_empty());
}

/// Finishes the render of `a`; returns the tiles it starts next.
fn finish(w: &mut Worker, a: Assignment) -> Vec<u32> {
    renders(&w.handle(WorkerInput::Rendered {
        assignment: a,
        result: Ok(rendered()),
    }))
}

#[test]
fn the_queue_of_assignments_is_bounded_and_a_dropped_shard_comes_back_on_reassignment() {
    let mut w = started(Engine::Builtin);
    assert_eq!(
        renders(&w.handle(WorkerInput::Assignment(assignment(0, 0, key(9))))),
        [0]
    );
    let past = super::MAX_QUEUE as u32 + 10;
    for tile in 1..=past {
        assert!(
            renders(&w.handle(WorkerInput::Assignment(assignment(tile, 0, key(9))))).is_empty()
        );
    }
    assert_eq!(w.queued(), super::MAX_QUEUE, "the newest are dropped");
    // The queue drains in order: the first MAX_QUEUE assignments, then nothing.
    let mut rendering = 0;
    loop {
        match finish(&mut w, assignment(rendering, 0, key(9)))[..] {
            [next] => {
                assert_eq!(next, rendering + 1);
                rendering = next;
            }
            [] => break,
            ref more => panic!("{more:?}"),
        }
    }
    assert_eq!(rendering, super::MAX_QUEUE as u32);
    // A dropped shard is never claimed: its timeout gives it out again, and then it renders.
    assert_eq!(
        renders(&w.handle(WorkerInput::Assignment(assignment(past, 1, key(9))))),
        [past]
    );
}

#[test]
fn assignments_waiting_for_their_job_are_bounded() {
    let mut w = worker(None);
    w.handle(WorkerInput::Start);
    for tile in 0..super::MAX_EARLY_ASSIGNMENTS as u32 + 50 {
        assert!(w
            .handle(WorkerInput::Assignment(assignment(tile, 0, key(9))))
            .is_empty());
    }
    let out = w.handle(WorkerInput::Job {
        id: JOB,
        engine: Engine::Builtin,
    });
    assert_eq!(renders(&out), [0]);
    assert_eq!(w.queued(), super::MAX_EARLY_ASSIGNMENTS - 1);
}

#[test]
fn moved_committees_are_remembered_for_a_bounded_number_of_jobs() {
    let job = |i: u32| {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&i.to_le_bytes());
        JobId(id)
    };
    let from_new_member = |i: u32| {
        let mut a = assignment(0, rules::first_attempt(1), key(9));
        a.shard.job = job(i);
        a.assigned_by = key(50);
        a
    };
    let mut w = worker(None);
    w.handle(WorkerInput::Start);
    let last = super::MAX_MOVED as u32;
    for i in 0..=last {
        w.handle(WorkerInput::Moved {
            job: job(i),
            committee: vec![key(50)],
        });
    }
    for i in [0, last] {
        w.handle(WorkerInput::Job {
            id: job(i),
            engine: Engine::Builtin,
        });
    }
    // The first job's new member assigns; the job past the bound keeps its first committee.
    assert_eq!(
        renders(&w.handle(WorkerInput::Assignment(from_new_member(0)))),
        [0]
    );
    w.handle(WorkerInput::Assignment(from_new_member(last)));
    assert_eq!(
        w.queued(),
        0,
        "an assignment from outside the known committees"
    );
}
