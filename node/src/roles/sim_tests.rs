//! A deterministic simulation: seven checkers and five workers (two of them falsifying
//! their outputs) run two jobs over a simulated network that delays every message by a
//! random amount, so messages arrive out of order. Several seeds; each run must end with
//! every shard certified valid on the honest pixels, by every checker that is up, and both
//! cheaters banned. Scenarios add crashed checkers (their committees move), lazy checkers
//! and equivocating ones (caught and banned by every honest checker, and no honest checker
//! is). A failing seed is named in the message and replays the same run.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use pictor_protocol::{
    Assignment, ContentId, Engine, FrameRange, JobSpec, Keypair, Message, PublicKey, ResultClaim,
    ShardId, TileImage, Verdict,
};

use super::checker::{Behaviour, Checker, CheckerInput, CheckerOutput, CheckerParams};

/// xorshift64*: the simulation's only source of randomness, seeded per run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

#[allow(clippy::large_enum_variant)] // a test queue of a few thousand events
enum Event {
    ToChecker(usize, CheckerInput),
    ToWorker(usize, Assignment),
    Rendered(usize, Assignment),
    Tick,
}

struct Scheduled {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // A min-heap on (time, sequence).
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

fn truth(spec: &JobSpec, shard: &ShardId) -> TileImage {
    let rect = spec.tile_rect(shard.tile).expect("tile");
    let n = (rect.w * rect.h * 3) as usize;
    let salt = shard.frame * 31 + shard.tile * 7 + spec.nonce as u32;
    TileImage {
        width: rect.w,
        height: rect.h,
        pixels: (0..n).map(|i| (i as u32 * 13 + salt) as u8).collect(),
    }
}

fn forged(tile: &TileImage) -> TileImage {
    let mut t = tile.clone();
    for (i, px) in t.pixels.chunks_exact_mut(3).enumerate() {
        if i % 4 == 1 {
            px[1] ^= 0x5a;
        }
    }
    t
}

struct Sim {
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Scheduled>,
    checkers: Vec<Checker>,
    workers: Vec<PublicKey>,
    faulty: BTreeSet<usize>,
    jobs: BTreeMap<pictor_protocol::JobId, JobSpec>,
    outputs: BTreeMap<ContentId, TileImage>,
    rendered: BTreeSet<(ShardId, u32, usize)>,
    finals: BTreeMap<(usize, ShardId), (Verdict, pictor_protocol::ClaimId)>,
    certified_outputs: BTreeMap<pictor_protocol::ClaimId, ContentId>,
    banned: BTreeSet<(usize, PublicKey)>,
    /// Checkers that crashed: they get nothing and say nothing.
    crashed: BTreeSet<usize>,
    /// Checkers banned, as each checker learnt it.
    checker_bans: BTreeSet<(usize, PublicKey)>,
    /// Moves of a job to a new committee, as each checker applied them.
    moves: BTreeSet<(usize, pictor_protocol::JobId)>,
    /// When every shard was certified.
    done_at: u64,
}

impl Sim {
    fn at(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at: self.now + delay,
            seq: self.seq,
            event,
        });
    }

    fn gossip(&mut self, from: Option<usize>, message: Message) {
        if let Message::Certificate(qc) = &message {
            self.certified_outputs.insert(qc.vote.claim, qc.vote.output);
        }
        for i in 0..self.checkers.len() {
            if Some(i) == from || self.crashed.contains(&i) {
                continue;
            }
            let input = match message.clone() {
                Message::Assignment(a) => CheckerInput::Assignment(a),
                Message::Claim(c) => CheckerInput::Claim(c),
                Message::Attestation(a) => CheckerInput::Attestation(a),
                Message::Certificate(c) => CheckerInput::Certificate(c),
                Message::DecisionVote(v) => CheckerInput::DecisionVote(v),
                Message::Decision(d) => CheckerInput::Decision(d),
                Message::Evidence(e) => CheckerInput::Evidence(e),
                _ => continue,
            };
            let delay = self.rng.between(1, 80);
            self.at(delay, Event::ToChecker(i, input));
        }
        if let Message::Assignment(a) = message {
            if let Some(w) = self.workers.iter().position(|k| *k == a.worker) {
                let delay = self.rng.between(1, 80);
                self.at(delay, Event::ToWorker(w, a));
            }
        }
    }

    fn outputs_of(&mut self, i: usize, outputs: Vec<CheckerOutput>) {
        if self.crashed.contains(&i) {
            return;
        }
        for out in outputs {
            match out {
                CheckerOutput::Publish(m) => self.gossip(Some(i), m),
                CheckerOutput::FetchRows {
                    claim,
                    output,
                    rows,
                    ..
                } => {
                    let tile = self.outputs.get(&output).expect("worker holds its output");
                    let rows = rows
                        .iter()
                        .map(|&r| {
                            let len = (tile.width * 3) as usize;
                            let at = r as usize * len;
                            (r, tile.pixels[at..at + len].to_vec())
                        })
                        .collect();
                    let delay = self.rng.between(2, 60);
                    self.at(
                        delay,
                        Event::ToChecker(
                            i,
                            CheckerInput::Rows {
                                claim,
                                rows: Ok(rows),
                            },
                        ),
                    );
                }
                CheckerOutput::RerenderRegions { .. } => {
                    panic!("built-in jobs are verified pixel by pixel")
                }
                CheckerOutput::Rerender {
                    claim,
                    job,
                    frame,
                    pixels,
                } => {
                    let spec = self.jobs[&job].clone();
                    // Which tile holds these pixels: the one whose rect contains the first.
                    let (x0, y0) = pixels[0];
                    let tile = (y0 / spec.tile) * spec.tiles_x() + x0 / spec.tile;
                    let shard = ShardId { job, frame, tile };
                    let rect = spec.tile_rect(tile).expect("tile");
                    let t = truth(&spec, &shard);
                    let values = pixels
                        .iter()
                        .map(|&(x, y)| {
                            let at = (((y - rect.y) * rect.w + (x - rect.x)) * 3) as usize;
                            [t.pixels[at], t.pixels[at + 1], t.pixels[at + 2]]
                        })
                        .collect();
                    let delay = self.rng.between(5, 40);
                    self.at(
                        delay,
                        Event::ToChecker(
                            i,
                            CheckerInput::Rerendered {
                                claim,
                                pixels: Ok(values),
                            },
                        ),
                    );
                }
                CheckerOutput::Finalized {
                    shard,
                    claim,
                    verdict,
                } => {
                    self.finals.insert((i, shard), (verdict, claim));
                }
                CheckerOutput::Banned { worker: w, .. } => {
                    self.banned.insert((i, w));
                }
                CheckerOutput::Equivocation(_) => {}
                CheckerOutput::CheckerBanned { checker, .. } => {
                    self.checker_bans.insert((i, checker));
                }
                CheckerOutput::Moved { job, .. } => {
                    self.moves.insert((i, job));
                }
            }
        }
    }

    fn step(&mut self) -> bool {
        let Some(next) = self.queue.pop() else {
            return false;
        };
        self.now = next.at;
        match next.event {
            Event::ToChecker(i, input) => {
                if self.crashed.contains(&i) {
                    return true;
                }
                let outs = self.checkers[i].handle(self.now, input);
                self.outputs_of(i, outs);
            }
            Event::ToWorker(w, a) => {
                if self.rendered.insert((a.shard, a.attempt, w)) {
                    let delay = self.rng.between(50, 400);
                    self.at(delay, Event::Rendered(w, a));
                }
            }
            Event::Rendered(w, a) => {
                let spec = self.jobs[&a.shard.job].clone();
                let honest = truth(&spec, &a.shard);
                let tile = if self.faulty.contains(&w) {
                    forged(&honest)
                } else {
                    honest
                };
                let output = ContentId::of(&tile.to_block());
                let claim = ResultClaim {
                    shard: a.shard,
                    worker: self.workers[w],
                    attempt: a.attempt,
                    output,
                    width: tile.width,
                    height: tile.height,
                    render_ms: 1,
                    device: "sim".into(),
                };
                self.outputs.insert(output, tile);
                self.gossip(None, Message::Claim(claim));
            }
            Event::Tick => {
                for i in 0..self.checkers.len() {
                    if self.crashed.contains(&i) {
                        continue;
                    }
                    let outs = self.checkers[i].handle(self.now, CheckerInput::Tick);
                    self.outputs_of(i, outs);
                    // Checkers that are up announce themselves too.
                    let me = self.checkers[i].key();
                    for j in 0..self.checkers.len() {
                        if j != i {
                            let delay = self.rng.between(1, 80);
                            self.at(delay, Event::ToChecker(j, CheckerInput::CheckerSeen(me)));
                        }
                    }
                }
                // Workers announce themselves with every tick.
                for w in self.workers.clone() {
                    for i in 0..self.checkers.len() {
                        let delay = self.rng.between(1, 80);
                        self.at(delay, Event::ToChecker(i, CheckerInput::WorkerSeen(w)));
                    }
                }
                self.at(250, Event::Tick);
            }
        }
        true
    }
}

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
    let checker_keys: Vec<Keypair> = (1..=7).map(|i| Keypair::from_seed([i; 32])).collect();
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
        now: 0,
        seq: 0,
        queue: BinaryHeap::new(),
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
        workers: (0..5)
            .map(|i| Keypair::from_seed([100 + i; 32]).public())
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
    };
    sim.at(0, Event::Tick);
    for nonce in 0..2 {
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
    while sim.now < 600_000 && !done(&sim) {
        assert!(sim.step(), "the simulation ran dry");
    }
    assert!(
        done(&sim),
        "seed {seed}: not every shard was certified by {} ms",
        sim.now
    );
    sim.done_at = sim.now;
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
    for &f in &sim.faulty {
        assert!(
            banned.contains(&sim.workers[f]),
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
