//! The checker state machine driven directly: four checkers, workers, claims honest and
//! falsified, all in memory and deterministic.

use std::collections::BTreeMap;

use pictor_protocol::{
    rules, seed_signature, Assignment, Attestation, ContentId, Engine, FrameRange, JobSpec,
    Keypair, Message, PixelSample, PublicKey, ResultClaim, ShardId, SignedEnvelope, TileImage,
    Verdict,
};

use super::checker::{Checker, CheckerInput, CheckerOutput, CheckerParams};

const NET: &str = "test-net";

fn params() -> CheckerParams {
    CheckerParams {
        network: NET.into(),
        committee_size: 4,
        max_outstanding: 2,
        shard_timeout_ms: 10_000,
        claim_timeout_ms: 10_000,
        worker_liveness_ms: 60_000,
        leader_timeout_ms: 30_000,
        requirements: Default::default(),
        // Checkers here send no heartbeats: none is ever taken for offline.
        checker_liveness_ms: u64::MAX / 4,
        ban_cooldown_ms: 60_000,
        behaviour: Default::default(),
        epoch_ms: 0,
    }
}

struct Rig {
    checkers: Vec<Checker>,
    workers: Vec<PublicKey>,
    job: JobSpec,
    /// Messages published, in order, with the index of the publishing checker.
    published: Vec<(usize, Message)>,
    /// A checker whose messages never reach the others (it has gone silent).
    silent: Option<usize>,
}

fn key(i: u8) -> Keypair {
    Keypair::from_seed([i; 32])
}

/// `a` as gossip brings it: with the proof of the envelope `kp`, its checker, sealed it in.
fn sent(kp: &Keypair, a: Attestation) -> CheckerInput {
    let proof = SignedEnvelope::seal(kp, NET, 0, &Message::Attestation(a.clone())).proof();
    CheckerInput::Attestation(a, Some(proof))
}

/// A 32x32 claim on `shard` by `worker` at `attempt`, of `output`.
fn claim_at(shard: ShardId, worker: PublicKey, attempt: u32, output: &[u8]) -> ResultClaim {
    ResultClaim {
        shard,
        worker,
        attempt,
        output: ContentId::of(output),
        width: 32,
        height: 32,
        render_ms: 5,
        device: "test".into(),
    }
}

/// A 32x32 claim on `shard` by `worker` at attempt 0.
fn claim_on(shard: ShardId, worker: PublicKey) -> ResultClaim {
    claim_at(shard, worker, 0, b"output")
}

fn tile(w: u32, h: u32, shade: u8) -> TileImage {
    TileImage {
        width: w,
        height: h,
        pixels: (0..w * h * 3)
            .map(|i| (i as u8).wrapping_add(shade))
            .collect(),
    }
}

impl Rig {
    fn new(workers: u8) -> Rig {
        Rig::with_params(workers, params())
    }

    fn with_params(workers: u8, params: CheckerParams) -> Rig {
        let keys: Vec<Keypair> = (1..=4).map(key).collect();
        let set: Vec<PublicKey> = keys.iter().map(Keypair::public).collect();
        let checkers = keys
            .into_iter()
            .map(|k| Checker::new(k, set.clone(), params.clone()))
            .collect();
        let job = JobSpec {
            creator: key(100).public(),
            scene: ContentId::of(b"scene"),
            scene_name: "scene.gltf".into(),
            engine: Engine::Builtin,
            frames: FrameRange { first: 1, last: 1 },
            width: 64,
            height: 32,
            samples: 4,
            tile: 32,
            price_cap: 0,
            nonce: 7,
            epoch: 0,
        };
        Rig {
            checkers,
            workers: (0..workers).map(|i| key(50 + i).public()).collect(),
            job,
            published: Vec::new(),
            silent: None,
        }
    }

    /// A rig whose checkers know `workers` live workers and then the job.
    fn started(workers: u8) -> Rig {
        Rig::started_with(workers, params())
    }

    fn started_with(workers: u8, params: CheckerParams) -> Rig {
        let mut rig = Rig::with_params(workers, params);
        for w in rig.workers.clone() {
            rig.broadcast(0, || CheckerInput::WorkerSeen(w));
        }
        let job = rig.job.clone();
        rig.broadcast(1, || CheckerInput::Job(job.clone()));
        rig
    }

    /// Delivers an input to every checker and gossips what they publish until quiet.
    fn broadcast(
        &mut self,
        now: u64,
        input: impl Fn() -> CheckerInput,
    ) -> Vec<(usize, CheckerOutput)> {
        let mut all = Vec::new();
        for i in 0..self.checkers.len() {
            for out in self.checkers[i].handle(now, input()) {
                all.push((i, out));
            }
        }
        self.gossip(now, all)
    }

    fn gossip(
        &mut self,
        now: u64,
        outputs: Vec<(usize, CheckerOutput)>,
    ) -> Vec<(usize, CheckerOutput)> {
        let mut queue = outputs;
        let mut rest = Vec::new();
        while let Some((from, out)) = queue.pop() {
            match out {
                CheckerOutput::Publish(m) => {
                    if self.silent == Some(from) {
                        continue;
                    }
                    self.published.push((from, m.clone()));
                    for i in 0..self.checkers.len() {
                        if i == from {
                            continue;
                        }
                        let input = match m.clone() {
                            Message::Assignment(a) => CheckerInput::Assignment(a),
                            Message::Attestation(a) => sent(&key(from as u8 + 1), a),
                            Message::Certificate(c) => CheckerInput::Certificate(c),
                            other => panic!("unexpected publish {other:?}"),
                        };
                        for o in self.checkers[i].handle(now, input) {
                            queue.push((i, o));
                        }
                    }
                }
                other => rest.push((from, other)),
            }
        }
        rest
    }

    fn assignments(&self) -> Vec<pictor_protocol::Assignment> {
        self.published
            .iter()
            .filter_map(|(_, m)| match m {
                Message::Assignment(a) => Some(a.clone()),
                _ => None,
            })
            .collect()
    }

    /// A worker claims `output` for the assignment; each checker fetches rows, the rig
    /// answers with `served` and the re-render with `truth`.
    fn claim_and_verify(
        &mut self,
        now: u64,
        a: &pictor_protocol::Assignment,
        served: &TileImage,
        truth: &TileImage,
    ) -> Vec<(usize, CheckerOutput)> {
        let claim = ResultClaim {
            shard: a.shard,
            worker: a.worker,
            attempt: a.attempt,
            output: ContentId::of(&served.to_block()),
            width: served.width,
            height: served.height,
            render_ms: 5,
            device: "test".into(),
        };
        let outs = self.broadcast(now, || CheckerInput::Claim(claim.clone()));
        let mut pending = outs;
        let mut done = Vec::new();
        while let Some((i, out)) = pending.pop() {
            let next = match out {
                CheckerOutput::FetchRows { claim, rows, .. } => {
                    let rows = rows
                        .iter()
                        .map(|&r| {
                            let at = (r * served.width * 3) as usize;
                            (
                                r,
                                served.pixels[at..at + (served.width * 3) as usize].to_vec(),
                            )
                        })
                        .collect();
                    CheckerInput::Rows {
                        claim,
                        rows: Ok(rows),
                    }
                }
                CheckerOutput::Rerender { claim, pixels, .. } => {
                    let rect = self.job.tile_rect(a.shard.tile).expect("tile");
                    let values = pixels
                        .iter()
                        .map(|&(x, y)| {
                            let at = (((y - rect.y) * truth.width + (x - rect.x)) * 3) as usize;
                            [truth.pixels[at], truth.pixels[at + 1], truth.pixels[at + 2]]
                        })
                        .collect();
                    CheckerInput::Rerendered {
                        claim,
                        pixels: Ok(values),
                    }
                }
                other => {
                    done.push((i, other));
                    continue;
                }
            };
            let outs: Vec<(usize, CheckerOutput)> = self.checkers[i]
                .handle(now, next)
                .into_iter()
                .map(|o| (i, o))
                .collect();
            pending.extend(self.gossip(now, outs));
        }
        done
    }
}

fn finals(outs: &[(usize, CheckerOutput)]) -> BTreeMap<usize, Verdict> {
    outs.iter()
        .filter_map(|(i, o)| match o {
            CheckerOutput::Finalized { verdict, .. } => Some((*i, *verdict)),
            _ => None,
        })
        .collect()
}

#[test]
fn leader_assigns_every_shard_once_and_honest_claims_are_certified() {
    let mut rig = Rig::started(2);
    let job = rig.job.clone();
    let assignments = rig.assignments();
    assert_eq!(assignments.len(), 2, "two tiles, one assignment each");
    let leaders: std::collections::BTreeSet<_> =
        assignments.iter().map(|a| a.assigned_by).collect();
    assert_eq!(leaders.len(), 1, "one leader assigns");
    assert_ne!(
        assignments[0].worker, assignments[1].worker,
        "load is spread"
    );

    for a in &assignments {
        let good = tile(32, 32, a.shard.tile as u8);
        let outs = rig.claim_and_verify(10, a, &good, &good);
        let finals = finals(&outs);
        assert_eq!(
            finals.len(),
            4,
            "every checker sees the certificate: {outs:?}"
        );
        assert!(finals.values().all(|v| *v == Verdict::Valid));
    }
    for c in &rig.checkers {
        assert_eq!(c.open_shards(&job.id()), Some(0));
    }
    let certificates = rig
        .published
        .iter()
        .filter(|(_, m)| matches!(m, Message::Certificate(_)))
        .count();
    assert!(certificates >= 2);
}

#[test]
fn falsified_claim_is_rejected_worker_banned_and_shard_reassigned() {
    let mut rig = Rig::started(2);
    let job = rig.job.clone();
    let first = rig.assignments()[0].clone();
    let truth = tile(32, 32, 3);
    let mut forged = truth.clone();
    // A quarter of the pixels changed.
    for (i, px) in forged.pixels.chunks_exact_mut(3).enumerate() {
        if i % 4 == 0 {
            px[0] ^= 0x55;
        }
    }
    let outs = rig.claim_and_verify(10, &first, &forged, &truth);
    let finals = finals(&outs);
    assert_eq!(finals.len(), 4);
    assert!(finals.values().all(|v| *v == Verdict::Invalid), "{outs:?}");
    assert!(outs.iter().any(
        |(_, o)| matches!(o, CheckerOutput::Banned { worker, .. } if *worker == first.worker)
    ));
    for c in &rig.checkers {
        assert!(c.is_banned(&first.worker, 20));
        assert_eq!(c.open_shards(&job.id()), Some(2));
    }
    let again: Vec<_> = rig
        .assignments()
        .into_iter()
        .filter(|a| a.shard == first.shard && a.attempt == 1)
        .collect();
    assert_eq!(again.len(), 1, "the shard is assigned again");
    assert_ne!(again[0].worker, first.worker, "to another worker");
    let outs = rig.claim_and_verify(20, &again[0], &truth, &truth);
    assert!(finals_valid(&outs));
}

fn finals_valid(outs: &[(usize, CheckerOutput)]) -> bool {
    let f = finals(outs);
    f.len() == 4 && f.values().all(|v| *v == Verdict::Valid)
}

#[test]
fn claims_from_unassigned_workers_are_ignored() {
    let mut rig = Rig::new(1);
    let job = rig.job.clone();
    rig.broadcast(0, || CheckerInput::Job(job.clone()));
    let w = rig.workers[0];
    rig.broadcast(1, || CheckerInput::WorkerSeen(w));
    let mut a = rig.assignments()[0].clone();
    a.worker = key(99).public();
    let t = tile(32, 32, 0);
    let outs = rig.claim_and_verify(5, &a, &t, &t);
    assert!(outs.is_empty(), "no fetch, no vote: {outs:?}");
}

#[test]
fn shards_of_a_silent_worker_go_to_a_live_one() {
    let mut rig = Rig::started(2);
    let first = rig.assignments();
    assert_eq!(first.len(), 2);
    let (silent, alive) = (first[0].worker, first[1].worker);
    // Only `alive` keeps announcing itself; time passes beyond the liveness window.
    let later = params().worker_liveness_ms + 1_000;
    rig.broadcast(later, || CheckerInput::WorkerSeen(alive));
    rig.broadcast(later, || CheckerInput::Tick);
    let again: Vec<_> = rig
        .assignments()
        .into_iter()
        .filter(|a| a.shard == first[0].shard && a.attempt == 1)
        .collect();
    assert_eq!(
        again.len(),
        1,
        "the silent worker's shard is assigned again"
    );
    assert_eq!(again[0].worker, alive);
    assert_ne!(again[0].worker, silent);
}

#[test]
fn one_certificate_per_shard_and_others_step_in_when_the_leader_is_silent() {
    let mut rig = Rig::started(2);
    let assignments = rig.assignments();
    let leader_key = assignments[0].assigned_by;
    let leader = (0..4)
        .find(|&i| rig.checkers[i].key() == leader_key)
        .expect("the leader is a checker");
    let certificates = |rig: &Rig| {
        rig.published
            .iter()
            .filter(|(_, m)| matches!(m, Message::Certificate(_)))
            .map(|(i, _)| *i)
            .collect::<Vec<_>>()
    };

    // With everyone talking: exactly one certificate, from the leader.
    let good = tile(32, 32, 0);
    rig.claim_and_verify(10, &assignments[0], &good, &good);
    assert_eq!(certificates(&rig), vec![leader]);

    // The leader goes silent: the other three still reach a quorum, hold their
    // certificates back for the grace period, then publish.
    rig.silent = Some(leader);
    let before = certificates(&rig).len();
    let outs = rig.claim_and_verify(20, &assignments[1], &good, &good);
    assert!(finals(&outs).len() >= 3, "the others decide: {outs:?}");
    assert_eq!(
        certificates(&rig).len(),
        before,
        "nothing during the grace period"
    );
    rig.broadcast(20 + 1_000, || CheckerInput::Tick);
    let after = certificates(&rig);
    assert!(
        after.len() > before,
        "a certificate is published after the grace period"
    );
    assert!(after[before..].iter().all(|&i| i != leader));
}

fn capability(
    worker: PublicKey,
    engines: &[Engine],
    ksamples: u32,
) -> pictor_protocol::CapabilityRecord {
    pictor_protocol::CapabilityRecord {
        node: worker,
        devices: vec![pictor_protocol::Device {
            kind: pictor_protocol::DeviceKind::Cpu,
            name: "test cpu".into(),
            memory_bytes: 8 << 30,
            compute_capability: None,
        }],
        engines: engines
            .iter()
            .map(|&engine| pictor_protocol::EngineVersion {
                engine,
                version: "1".into(),
            })
            .collect(),
        benchmark_ksamples_per_s: ksamples,
        threads: 2,
        issued_ms: 1,
        render_digest: Some(RENDER),
        price: 0,
    }
}

/// The admission render digest the test workers state (and the checkers get).
const RENDER: [u8; 32] = [9; 32];

mod admission;
mod allocation;
mod canaries;
mod moves;
mod votes;
