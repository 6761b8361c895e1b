//! Admissions: members check an applicant's record and render its admission window, vote,
//! and the set grows at the epoch boundary two epochs after the certificate.

use pictor_protocol::{
    AdmissionRender, Application, CapabilityRecord, CheckerStatus, Device, DeviceKind,
    EngineVersion, SignedApplication, WorkerStatus,
};

use super::*;

const EPOCH_MS: u64 = 1_000;

fn record(node: PublicKey, memory_bytes: u64) -> CapabilityRecord {
    CapabilityRecord {
        node,
        devices: vec![Device {
            kind: DeviceKind::Cpu,
            name: "test cpu".into(),
            memory_bytes,
            compute_capability: None,
        }],
        engines: vec![EngineVersion {
            engine: Engine::Builtin,
            version: "0.1.0".into(),
        }],
        benchmark_ksamples_per_s: 1_000,
        threads: 2,
        issued_ms: 5,
        render_digest: None,
        price: 0,
    }
}

fn apply(applicant: &Keypair, digest: [u8; 32], memory_bytes: u64) -> SignedApplication {
    SignedApplication::new(
        applicant,
        NET,
        Application {
            checker: applicant.public(),
            capability: record(applicant.public(), memory_bytes),
            render_digest: digest,
            issued_ms: 5,
        },
    )
}

/// Four checkers with epochs of a second, asking for 4 GiB of memory.
fn set() -> Vec<Checker> {
    let keys: Vec<Keypair> = (1..=4).map(key).collect();
    let genesis: Vec<PublicKey> = keys.iter().map(Keypair::public).collect();
    keys.into_iter()
        .map(|k| {
            let mut p = params();
            p.epoch_ms = EPOCH_MS;
            p.requirements.min_memory_bytes = Some(4 << 30);
            Checker::new(k, genesis.clone(), p)
        })
        .collect()
}

/// Delivers `input` to every checker, answers admission renders with `rendered`, and
/// gossips votes and decisions until quiet; returns the other outputs.
fn run(
    checkers: &mut [Checker],
    now: u64,
    input: impl Fn() -> CheckerInput,
    rendered: [u8; 32],
) -> Vec<(usize, CheckerOutput)> {
    let mut queue: Vec<(usize, CheckerOutput)> = Vec::new();
    for (i, c) in checkers.iter_mut().enumerate() {
        queue.extend(c.handle(now, input()).into_iter().map(|o| (i, o)));
    }
    let mut rest = Vec::new();
    while let Some((from, out)) = queue.pop() {
        let deliveries: Vec<(usize, CheckerInput)> = match &out {
            CheckerOutput::RenderAdmission { applicant, .. } => vec![(
                from,
                CheckerInput::AdmissionRendered {
                    applicant: *applicant,
                    digest: Ok(rendered),
                },
            )],
            CheckerOutput::Publish(Message::DecisionVote(v)) => (0..checkers.len())
                .filter(|&i| i != from)
                .map(|i| (i, CheckerInput::DecisionVote(v.clone())))
                .collect(),
            CheckerOutput::Publish(Message::Decision(d)) => (0..checkers.len())
                .filter(|&i| i != from)
                .map(|i| (i, CheckerInput::Decision(d.clone())))
                .collect(),
            _ => Vec::new(),
        };
        for (i, input) in deliveries {
            queue.extend(checkers[i].handle(now, input).into_iter().map(|o| (i, o)));
        }
        rest.push((from, out));
    }
    rest
}

#[test]
fn an_applicant_that_renders_right_is_admitted_and_joins_at_the_epoch_boundary() {
    let mut checkers = set();
    let applicant = key(30);
    let truth = [42; 32];
    let application = apply(&applicant, truth, 8 << 30);
    let outs = run(
        &mut checkers,
        100,
        || CheckerInput::Application(application.clone()),
        truth,
    );
    let renders: Vec<_> = outs
        .iter()
        .filter_map(|(_, o)| match o {
            CheckerOutput::RenderAdmission { render, .. } => Some(*render),
            _ => None,
        })
        .collect();
    assert_eq!(renders.len(), 4, "every member renders the window itself");
    assert!(renders
        .iter()
        .all(|r| *r == AdmissionRender::of(&applicant.public())));
    let admitted = outs
        .iter()
        .filter(|(_, o)| {
            matches!(o, CheckerOutput::Admitted { checker, from_epoch: 2 } if *checker == applicant.public())
        })
        .count();
    assert_eq!(admitted, 4, "{outs:?}");
    for c in &checkers {
        assert!(!c.ledger().set().contains(&applicant.public()));
        assert!(c
            .checker_statuses(100)
            .contains(&(applicant.public(), CheckerStatus::Pending)));
    }
    // Epoch 1: still four; epoch 2: five.
    run(&mut checkers, EPOCH_MS + 1, || CheckerInput::Tick, truth);
    assert!(checkers.iter().all(|c| c.ledger().set().len() == 4));
    run(
        &mut checkers,
        2 * EPOCH_MS + 1,
        || CheckerInput::Tick,
        truth,
    );
    for c in &checkers {
        assert_eq!(c.ledger().set().len(), 5);
        assert!(c.ledger().set().contains(&applicant.public()));
    }
}

#[test]
fn an_applicant_with_a_wrong_render_or_too_little_hardware_is_not_admitted() {
    let mut checkers = set();
    // Its digest is not what the members render.
    let wrong = apply(&key(31), [1; 32], 8 << 30);
    let outs = run(
        &mut checkers,
        100,
        || CheckerInput::Application(wrong.clone()),
        [2; 32],
    );
    assert!(outs
        .iter()
        .all(|(_, o)| !matches!(o, CheckerOutput::Publish(Message::DecisionVote(_)))));
    // Too little memory: nobody even renders.
    let small = apply(&key(32), [2; 32], 1 << 30);
    let outs = run(
        &mut checkers,
        100,
        || CheckerInput::Application(small.clone()),
        [2; 32],
    );
    assert!(outs.is_empty(), "{outs:?}");
    // A forged application (its signature broken) changes nothing either.
    let mut forged = apply(&key(33), [2; 32], 8 << 30);
    forged.application.issued_ms += 1;
    let outs = run(
        &mut checkers,
        100,
        || CheckerInput::Application(forged.clone()),
        [2; 32],
    );
    assert!(outs.is_empty(), "{outs:?}");
    run(&mut checkers, 3 * EPOCH_MS, || CheckerInput::Tick, [2; 32]);
    assert!(checkers.iter().all(|c| c.ledger().set().len() == 4));
}

#[test]
fn a_worker_gets_shards_only_once_its_admission_render_is_checked() {
    // A network with requirements; two workers state render digests, one of them wrong.
    let mut rig = Rig::new(2);
    rig.checkers = set();
    let (right, wrong) = (rig.workers[0], rig.workers[1]);
    let truth = [5; 32];
    for (w, digest) in [(right, truth), (wrong, [6; 32])] {
        let mut record = record(w, 8 << 30);
        record.render_digest = Some(digest);
        let outs = rig.broadcast(0, || CheckerInput::Capability(record.clone()));
        let asked = outs
            .iter()
            .filter(|(_, o)| {
                matches!(o, CheckerOutput::RenderAdmission { applicant, render }
                    if *applicant == w && *render == AdmissionRender::of(&w))
            })
            .count();
        assert_eq!(asked, 4, "every checker renders the window: {outs:?}");
        rig.broadcast(0, || CheckerInput::WorkerSeen(w));
    }
    let job = rig.job.clone();
    rig.broadcast(1, || CheckerInput::Job(job.clone()));
    assert!(rig.assignments().is_empty(), "nobody is admitted yet");
    for c in &rig.checkers {
        let statuses = c.worker_statuses(1);
        assert!(statuses.contains(&(right, WorkerStatus::Pending)));
        assert!(statuses.contains(&(wrong, WorkerStatus::Pending)));
    }
    // The checkers' renders come back: the right worker is admitted and gets the shards.
    for w in [right, wrong] {
        rig.broadcast(2, || CheckerInput::AdmissionRendered {
            applicant: w,
            digest: Ok(truth),
        });
    }
    let assigned = rig.assignments();
    assert_eq!(assigned.len(), 2, "{assigned:?}");
    assert!(assigned.iter().all(|a| a.worker == right));
    for c in &rig.checkers {
        let statuses = c.worker_statuses(3);
        assert!(statuses.contains(&(right, WorkerStatus::Rendering)));
        assert!(statuses.contains(&(wrong, WorkerStatus::Pending)));
    }
}

#[test]
fn a_worker_returns_after_its_ban_only_by_rendering_a_fresh_challenge_live() {
    let mut rig = Rig::started(2);
    let first = rig.assignments()[0].clone();
    let cheat = first.worker;
    let truth = tile(32, 32, 3);
    let mut forged = truth.clone();
    forged.pixels.iter_mut().step_by(4).for_each(|v| *v ^= 0x55);
    rig.claim_and_verify(10, &first, &forged, &truth);
    for c in &rig.checkers {
        assert!(c
            .worker_statuses(20)
            .contains(&(cheat, WorkerStatus::Banned)));
    }
    // The cool-down ends: every checker renders the worker's challenge and asks for it.
    let after = 10 + params().ban_cooldown_ms + 1;
    rig.broadcast(after, || CheckerInput::WorkerSeen(cheat));
    let outs = rig.broadcast(after, || CheckerInput::Tick);
    let challenges: Vec<_> = outs
        .iter()
        .filter_map(|(i, o)| match o {
            CheckerOutput::Challenge { worker, render } if *worker == cheat => Some((*i, *render)),
            _ => None,
        })
        .collect();
    assert_eq!(challenges.len(), 4, "{outs:?}");
    assert!(challenges
        .iter()
        .all(|(_, r)| *r == AdmissionRender::challenge(&cheat, 1)));
    assert_ne!(
        AdmissionRender::challenge(&cheat, 1),
        AdmissionRender::of(&cheat),
        "not the render it showed before"
    );
    // Not back until it answers; a wrong answer keeps it out.
    let digest = |i: usize, ours: bool, d: [u8; 32]| CheckerInput::ChallengeDigest {
        worker: cheat,
        ours,
        digest: if i == usize::MAX {
            Err("x".into())
        } else {
            Ok(d)
        },
    };
    for i in 0..4 {
        rig.checkers[i].handle(after, digest(i, true, [7; 32]));
        rig.checkers[i].handle(after, digest(i, false, [8; 32]));
        assert!(rig.checkers[i]
            .worker_statuses(after)
            .contains(&(cheat, WorkerStatus::Pending)));
    }
    // Asked again after the retry period, and answered right this time.
    let later = after + 10_001;
    rig.broadcast(later, || CheckerInput::WorkerSeen(cheat));
    let outs = rig.broadcast(later, || CheckerInput::Tick);
    assert_eq!(
        outs.iter()
            .filter(|(_, o)| matches!(o, CheckerOutput::Challenge { .. }))
            .count(),
        4
    );
    for i in 0..4 {
        rig.checkers[i].handle(later, digest(i, false, [7; 32]));
        rig.checkers[i].handle(later, digest(i, true, [7; 32]));
        let statuses = rig.checkers[i].worker_statuses(later);
        assert!(
            statuses.contains(&(cheat, WorkerStatus::Idle))
                || statuses.contains(&(cheat, WorkerStatus::Rendering)),
            "{statuses:?}"
        );
    }
}
