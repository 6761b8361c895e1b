//! The runs of the simulation: the network of the module above under each scenario, and
//! what must hold at the end of every run.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use pictor_protocol::{ContentId, Engine, FrameRange, JobSpec, Keypair, PublicKey, Verdict};

use super::*;

fn job_spec(nonce: u64) -> JobSpec {
    JobSpec {
        creator: Keypair::from_seed([90 + nonce as u8; 32]).public(),
        scene: ContentId::of(b"scene"),
        scene_name: "scene.gltf".into(),
        engine: Engine::Builtin,
        frames: FrameRange { first: 1, last: 2 },
        width: 80,
        height: 48,
        samples: 1,
        tile: 32,
        price_cap: 0,
        nonce,
        epoch: 0,
    }
}

/// What goes wrong in a run besides the two cheating workers.
#[derive(Default)]
struct Scenario {
    /// Committee members of the first job that crash before it arrives (how many).
    crash_committee: usize,
    /// Committee members of the first job that attest without checking (how many).
    lazy: usize,
    /// Committee members of the first job that sign two conflicting votes (how many).
    equivocating: usize,
    /// Checkers, workers and jobs (0: 7, 5 and 2).
    checkers: u8,
    workers: u16,
    jobs: u64,
    /// Losses, duplicates and partitions.
    faults: NetFaults,
    /// Nodes that apply to join the checker set while the jobs run.
    applicants: u8,
}

/// An application to join the checker set, with the admission render the simulation's
/// engine gives.
fn application(applicant: &Keypair) -> pictor_protocol::SignedApplication {
    use pictor_protocol::{
        AdmissionRender, Application, CapabilityRecord, Device, DeviceKind, EngineVersion,
    };
    let capability = CapabilityRecord {
        node: applicant.public(),
        devices: vec![Device {
            kind: DeviceKind::Cpu,
            name: "sim cpu".into(),
            memory_bytes: 8 << 30,
            compute_capability: None,
        }],
        engines: vec![EngineVersion {
            engine: pictor_protocol::Engine::Builtin,
            version: "0.1.0".into(),
        }],
        benchmark_ksamples_per_s: 1_000,
        threads: 2,
        issued_ms: 1,
        render_digest: None,
        price: 0,
    };
    let render = AdmissionRender::of(&applicant.public());
    pictor_protocol::SignedApplication::new(
        applicant,
        "sim",
        Application {
            checker: applicant.public(),
            capability,
            render_digest: super::admission_digest(&render),
            issued_ms: 1,
        },
    )
}

fn run(seed: u64) {
    let sim = simulate(seed, &Scenario::default());
    // Simulated time, so deterministic: no shard may wait for a timeout (leader 10 s,
    // claim 30 s) when every checker is up and only workers cheat.
    assert!(
        sim.done_at < 5_000,
        "seed {seed}: finished at {} ms, a shard waited for a timeout",
        sim.done_at
    );
}

fn simulate(seed: u64, scenario: &Scenario) -> Sim {
    let n_checkers = if scenario.checkers == 0 {
        7
    } else {
        scenario.checkers
    };
    let n_workers = if scenario.workers == 0 {
        5
    } else {
        scenario.workers
    };
    let n_jobs = if scenario.jobs == 0 { 2 } else { scenario.jobs };
    let checker_keys: Vec<Keypair> = (1..=n_checkers)
        .map(|i| Keypair::from_seed([i; 32]))
        .collect();
    let set: Vec<PublicKey> = checker_keys.iter().map(Keypair::public).collect();
    let params = CheckerParams {
        network: "sim".into(),
        committee_size: 4,
        max_outstanding: 2,
        shard_timeout_ms: 30_000,
        claim_timeout_ms: 30_000,
        worker_liveness_ms: 5_000,
        leader_timeout_ms: 10_000,
        requirements: Default::default(),
        // Checkers here send no heartbeats: none is ever taken for offline.
        checker_liveness_ms: 3_000,
        ban_cooldown_ms: 60_000,
        behaviour: Default::default(),
        epoch_ms: 0,
    };
    let first_job = job_spec(0).id();
    let first_committee = pictor_protocol::rules::committee(&first_job, &set, 4);
    let index = |k: &PublicKey| set.iter().position(|s| s == k);
    let lazy: Vec<usize> = first_committee
        .iter()
        .rev()
        .take(scenario.lazy)
        .filter_map(index)
        .collect();
    let equivocating: Vec<usize> = first_committee
        .iter()
        .rev()
        .skip(scenario.lazy)
        .take(scenario.equivocating)
        .filter_map(index)
        .collect();
    let mut sim = Sim {
        rng: Rng(seed | 1),
        faults: scenario.faults.clone(),
        now: 0,
        seq: 0,
        queue: BinaryHeap::new(),
        keys: checker_keys.clone(),
        checkers: checker_keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| {
                let mut params = params.clone();
                params.behaviour = if lazy.contains(&i) {
                    Behaviour::Lazy
                } else if equivocating.contains(&i) {
                    Behaviour::Equivocating
                } else {
                    Behaviour::Honest
                };
                Checker::new(k, set.clone(), params)
            })
            .collect(),
        workers: (0..n_workers)
            .map(|i| {
                let mut seed = [100; 32];
                seed[1..3].copy_from_slice(&i.to_le_bytes());
                Keypair::from_seed(seed).public()
            })
            .collect(),
        faulty: [1, 3].into_iter().collect(),
        jobs: BTreeMap::new(),
        outputs: BTreeMap::new(),
        rendered: BTreeSet::new(),
        finals: BTreeMap::new(),
        certified_outputs: BTreeMap::new(),
        banned: BTreeSet::new(),
        crashed: BTreeSet::new(),
        checker_bans: BTreeSet::new(),
        moves: BTreeSet::new(),
        done_at: 0,
        verdicts: BTreeMap::new(),
        valid: BTreeMap::new(),
        conflicts: Vec::new(),
        claimed_at: BTreeMap::new(),
        finality: Vec::new(),
        claimed_by: BTreeMap::new(),
        admitted: BTreeSet::new(),
    };
    sim.at(0, Event::Tick);
    for a in 0..scenario.applicants {
        let applicant = Keypair::from_seed([200u8.wrapping_add(a); 32]);
        let application = application(&applicant);
        for i in 0..sim.checkers.len() {
            let delay = 300 + sim.rng.between(1, 80);
            let input = CheckerInput::Application(application.clone());
            sim.at(delay, Event::ToChecker(i, input));
        }
    }
    for nonce in 0..n_jobs {
        let spec = job_spec(nonce);
        sim.jobs.insert(spec.id(), spec.clone());
        for i in 0..sim.checkers.len() {
            let delay = 300 + sim.rng.between(1, 80);
            sim.at(delay, Event::ToChecker(i, CheckerInput::Job(spec.clone())));
        }
    }
    let jobs: Vec<JobSpec> = sim.jobs.values().cloned().collect();
    if scenario.crash_committee > 0 {
        let first = pictor_protocol::rules::committee(&jobs[0].id(), &set, 4);
        for key in first.iter().skip(1).take(scenario.crash_committee) {
            if let Some(i) = set.iter().position(|k| k == key) {
                sim.crashed.insert(i);
            }
        }
    }
    let done = |sim: &Sim| {
        jobs.iter().all(|spec| {
            spec.shards().iter().all(|shard| {
                (0..sim.checkers.len())
                    .filter(|i| !sim.crashed.contains(i))
                    .all(|i| matches!(sim.finals.get(&(i, *shard)), Some((Verdict::Valid, _))))
            })
        })
    };
    // Whether every shard is done is asked every 50 ms of simulated time (it looks at
    // every checker's every shard), so the finish time is known to 50 ms.
    let mut asked = 0;
    while sim.now < 600_000 && !(sim.now >= asked && done(&sim)) {
        if sim.now >= asked {
            asked = sim.now + 50;
        }
        assert!(sim.step(), "the simulation ran dry");
    }
    assert!(
        done(&sim),
        "seed {seed}: not every shard was certified by {} ms",
        sim.now
    );
    sim.done_at = sim.now;
    assert!(
        sim.conflicts.is_empty(),
        "seed {seed}: conflicting certificates: {:?}",
        sim.conflicts
    );
    // Decisions that follow the last certificates (bans of faulty checkers) settle.
    let settle = sim.now + 10_000;
    while sim.now < settle && sim.step() {}
    let faulty_checkers: BTreeSet<PublicKey> = lazy
        .iter()
        .chain(&equivocating)
        .map(|&i| sim.checkers[i].key())
        .collect();
    for (i, c) in sim.checkers.iter().enumerate() {
        if sim.crashed.contains(&i) || faulty_checkers.contains(&c.key()) {
            continue;
        }
        for k in &faulty_checkers {
            assert!(
                c.ledger().is_banned(k),
                "seed {seed}: checker {i} does not know faulty checker {} is banned",
                k.short()
            );
        }
        for other in sim.checkers.iter().map(Checker::key) {
            if !faulty_checkers.contains(&other) {
                assert!(
                    !c.ledger().is_banned(&other),
                    "seed {seed}: honest checker {} banned",
                    other.short()
                );
            }
        }
    }
    if scenario.crash_committee > 0 {
        for i in (0..sim.checkers.len()).filter(|i| !sim.crashed.contains(i)) {
            assert!(
                sim.moves.contains(&(i, first_job)),
                "seed {seed}: checker {i} never moved the job whose committee crashed"
            );
        }
    }
    for spec in &jobs {
        for shard in spec.shards() {
            let honest = ContentId::of(&truth(spec, &shard).to_block());
            for ((_, s), (verdict, claim)) in sim.finals.iter().filter(|((_, s), _)| *s == shard) {
                if *verdict == Verdict::Valid {
                    let output = sim.certified_outputs.get(claim).copied();
                    assert!(
                        output.is_none() || output == Some(honest),
                        "seed {seed}: {s} accepted a forged output"
                    );
                }
            }
        }
    }
    let banned: BTreeSet<PublicKey> = sim.banned.iter().map(|(_, w)| *w).collect();
    // A cheater that had a claim judged claimed a forged output, and is banned. (A claim
    // can go unjudged: one on an attempt that a committee move voided.)
    for &f in &sim.faulty {
        let judged = sim
            .verdicts
            .keys()
            .any(|claim| sim.claimed_by.get(claim) == Some(&f));
        assert!(
            !judged || banned.contains(&sim.workers[f]),
            "seed {seed}: cheater {f} not banned"
        );
    }
    for (w, key) in sim.workers.iter().enumerate() {
        if !sim.faulty.contains(&w) {
            assert!(
                !banned.contains(key),
                "seed {seed}: honest worker {w} banned"
            );
        }
    }
    sim
}

#[test]
fn reordered_network_with_cheaters_certifies_only_honest_outputs() {
    for seed in 1..=20 {
        run(seed * 7919);
    }
}

#[test]
fn a_job_whose_committee_lost_half_its_members_moves_and_finishes() {
    for seed in 1..=10 {
        simulate(
            seed * 104_729,
            &Scenario {
                crash_committee: 2,
                ..Scenario::default()
            },
        );
    }
}

#[test]
fn a_lazy_checker_is_caught_and_banned_by_every_honest_checker() {
    for seed in 1..=10 {
        simulate(
            seed * 15_485_863,
            &Scenario {
                lazy: 1,
                ..Scenario::default()
            },
        );
    }
}

#[test]
fn an_equivocating_checker_is_banned_everywhere() {
    for seed in 1..=10 {
        simulate(
            seed * 32_452_843,
            &Scenario {
                equivocating: 1,
                ..Scenario::default()
            },
        );
    }
}

#[test]
fn a_crashed_lazy_and_equivocating_mix_within_the_fault_budget() {
    // Seven checkers tolerate two faulty ones: one lazy and one crashed member.
    for seed in 1..=5 {
        simulate(
            seed * 49_979_687,
            &Scenario {
                crash_committee: 1,
                lazy: 1,
                ..Scenario::default()
            },
        );
    }
}

#[test]
fn a_hundred_and_three_nodes_through_losses_duplicates_and_a_partition() {
    // 31 checkers (f = 10), 72 workers (two cheat), ten jobs of 12 shards; a tenth of the
    // gossip lost and repaired seconds later, a twentieth duplicated, and five checkers
    // cut off for four seconds while the jobs run.
    for seed in 1..=4 {
        let sim = simulate(
            seed * 86_028_121,
            &Scenario {
                checkers: 31,
                workers: 72,
                jobs: 10,
                faults: NetFaults {
                    drop_pct: 10,
                    dup_pct: 5,
                    partition: Some(([2, 9, 14, 20, 27].into_iter().collect(), 500, 4_500)),
                    ..NetFaults::default()
                },
                ..Scenario::default()
            },
        );
        assert!(sim.seq > 10_000, "seed {seed}: {} events", sim.seq);
        let judged = sim.faulty.iter().filter(|&&f| {
            sim.verdicts
                .keys()
                .any(|c| sim.claimed_by.get(c) == Some(&f))
        });
        assert!(
            judged.count() > 0,
            "seed {seed}: no cheater had a claim judged"
        );
    }
}

#[test]
fn a_thousand_nodes_with_50_ms_links_certify_claims_within_a_second() {
    // 100 checkers (committees of four), 900 workers (two cheat), 20 jobs of 12 shards.
    // Every link takes 50 ms: gossip crosses three to five of them (150-250 ms), a row
    // fetch is a round trip (100-120 ms). Each worker times its claims from publishing to
    // the first certificate reaching it.
    let sim = simulate(
        20_261_201,
        &Scenario {
            checkers: 100,
            workers: 900,
            jobs: 20,
            faults: NetFaults {
                gossip_ms: Some((150, 250)),
                rows_ms: Some((100, 120)),
                ..NetFaults::default()
            },
            applicants: 2,
            ..Scenario::default()
        },
    );
    let mut finality = sim.finality.clone();
    finality.sort_unstable();
    assert!(finality.len() >= 240, "{} claims timed", finality.len());
    let p95 = finality[(finality.len() * 95).div_ceil(100) - 1];
    let median = finality[finality.len() / 2];
    println!(
        "1000 nodes, 50 ms links: {} claims, finality median {median} ms, p95 {p95} ms",
        finality.len()
    );
    assert!(p95 <= 1_000, "p95 finality {p95} ms (median {median} ms)");
    // Two nodes applied to join the set while the jobs ran: every checker learnt of both
    // admissions (one certificate each, from a quorum of the hundred).
    for a in 0..2u8 {
        let applicant = Keypair::from_seed([200 + a; 32]).public();
        let knew = (0..sim.checkers.len())
            .filter(|i| sim.admitted.contains(&(*i, applicant)))
            .count();
        assert_eq!(
            knew,
            sim.checkers.len(),
            "applicant {a} admitted by {knew} checkers"
        );
    }
}
