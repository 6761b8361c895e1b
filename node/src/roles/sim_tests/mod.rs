//! A deterministic simulation: seven checkers and five workers (two of them falsifying
//! their outputs) run two jobs over a simulated network that delays every message by a
//! random amount, so messages arrive out of order. Several seeds; each run must end with
//! every shard certified valid on the honest pixels, by every checker that is up, and both
//! cheaters banned. Scenarios add crashed checkers (their committees move), lazy checkers
//! and equivocating ones (caught and banned by every honest checker, and no honest checker
//! is). A larger network (31 checkers, 72 workers) runs with messages lost and repaired
//! later, duplicated, and a partition that cuts checkers off for seconds. A failing seed is
//! named in the message and replays the same run.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use pictor_protocol::{
    Assignment, ContentId, JobSpec, Message, PublicKey, ResultClaim, ShardId, TileImage, Verdict,
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

/// What the simulated network does to messages besides delaying them.
#[derive(Clone, Default)]
pub(super) struct NetFaults {
    /// Percent of gossip deliveries lost on the way; the copy arrives later, as
    /// gossipsub's gossip (IHAVE/IWANT) or a certificate sync would bring it, after 1–3 s.
    pub drop_pct: u64,
    /// Percent of gossip deliveries that arrive twice.
    pub dup_pct: u64,
    /// Checkers cut off from everyone else from `start` to `end` (ms): what crosses the
    /// cut waits until it heals.
    pub partition: Option<(BTreeSet<usize>, u64, u64)>,
    /// The range of a gossip delivery's delay (ms); `None`: 1–80.
    pub gossip_ms: Option<(u64, u64)>,
    /// The range of a row fetch's delay, request and answer (ms); `None`: 2–60.
    pub rows_ms: Option<(u64, u64)>,
}

struct Sim {
    rng: Rng,
    faults: NetFaults,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Scheduled>,
    checkers: Vec<Checker>,
    /// Each checker's key, to seal what it gossips (an attestation reaches the others
    /// with the proof of its envelope, the evidence of a peer check).
    keys: Vec<pictor_protocol::Keypair>,
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
    /// The verdict certified on each claim, and the output certified valid for each shard.
    verdicts: BTreeMap<pictor_protocol::ClaimId, Verdict>,
    valid: BTreeMap<ShardId, ContentId>,
    /// Certificates that contradict one another (must stay empty).
    conflicts: Vec<String>,
    /// When each claim was published, and how long each claim's worker waited for the
    /// first certificate on it to reach it (ms).
    claimed_at: BTreeMap<pictor_protocol::ClaimId, u64>,
    finality: Vec<u64>,
    /// The worker of each claim.
    claimed_by: BTreeMap<pictor_protocol::ClaimId, usize>,
    /// Applicants admitted to the checker set, as each checker learnt it.
    admitted: BTreeSet<(usize, PublicKey)>,
}

/// What the simulation's engine renders for an admission window: every honest node
/// renders the same digest.
fn admission_digest(render: &pictor_protocol::AdmissionRender) -> [u8; 32] {
    *blake3::hash(format!("admission {render:?}").as_bytes()).as_bytes()
}

impl Sim {
    /// The delays after which one gossip delivery from `from` to checker `to` (`None`:
    /// a worker, outside any partition) arrives: none, one or two copies.
    fn deliveries(&mut self, from: Option<usize>, to: Option<usize>, lo: u64, hi: u64) -> Vec<u64> {
        let mut delay = self.rng.between(lo, hi);
        if let Some((cut, start, end)) = &self.faults.partition {
            let inside = |i: Option<usize>| i.is_some_and(|i| cut.contains(&i));
            if (*start..*end).contains(&self.now) && inside(from) != inside(to) {
                delay += end - self.now;
            }
        }
        if self.rng.between(1, 100) <= self.faults.drop_pct {
            delay += self.rng.between(1_000, 3_000);
        }
        let mut out = vec![delay];
        if self.rng.between(1, 100) <= self.faults.dup_pct {
            out.push(delay + self.rng.between(1, 200));
        }
        out
    }

    fn at(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at: self.now + delay,
            seq: self.seq,
            event,
        });
    }

    fn gossip(&mut self, from: Option<usize>, message: Message) {
        let (lo, hi) = self.faults.gossip_ms.unwrap_or((1, 80));
        if let Message::Certificate(qc) = &message {
            if let Some(at) = self.claimed_at.remove(&qc.vote.claim) {
                // The first certificate on the claim, on its way to the claim's worker.
                let delay = self.deliveries(from, None, lo, hi)[0];
                self.finality.push(self.now + delay - at);
            }
            self.certified_outputs.insert(qc.vote.claim, qc.vote.output);
            let v = &qc.vote;
            match self.verdicts.insert(v.claim, v.verdict) {
                Some(other) if other != v.verdict => self.conflicts.push(format!(
                    "{}: certified {other:?} and {:?}",
                    v.shard, v.verdict
                )),
                _ => {}
            }
            if v.verdict == Verdict::Valid {
                if let Some(other) = self.valid.insert(v.shard, v.output) {
                    if other != v.output {
                        self.conflicts
                            .push(format!("{}: two different outputs certified", v.shard));
                    }
                }
            }
        }
        let proof = match (&message, from) {
            (Message::Attestation(_), Some(i)) => Some(
                pictor_protocol::SignedEnvelope::seal(&self.keys[i], "sim", self.now, &message)
                    .proof(),
            ),
            _ => None,
        };
        let input = |message: Message| match message {
            Message::Assignment(a) => Some(CheckerInput::Assignment(a)),
            Message::Claim(c) => Some(CheckerInput::Claim(c)),
            Message::Attestation(a) => Some(CheckerInput::Attestation(a, proof)),
            Message::Certificate(c) => Some(CheckerInput::Certificate(c)),
            Message::DecisionVote(v) => Some(CheckerInput::DecisionVote(v)),
            Message::Decision(d) => Some(CheckerInput::Decision(d)),
            Message::Evidence(e) => Some(CheckerInput::Evidence(e)),
            _ => None,
        };
        for i in 0..self.checkers.len() {
            if Some(i) == from || self.crashed.contains(&i) {
                continue;
            }
            for delay in self.deliveries(from, Some(i), lo, hi) {
                if let Some(input) = input(message.clone()) {
                    self.at(delay, Event::ToChecker(i, input));
                }
            }
        }
        if let Message::Assignment(a) = message {
            if let Some(w) = self.workers.iter().position(|k| *k == a.worker) {
                for delay in self.deliveries(from, None, lo, hi) {
                    self.at(delay, Event::ToWorker(w, a.clone()));
                }
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
                    let (lo, hi) = self.faults.rows_ms.unwrap_or((2, 60));
                    let delay = self.deliveries(None, Some(i), lo, hi)[0];
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
                CheckerOutput::RenderAdmission { applicant, render } => {
                    let delay = self.rng.between(5, 40);
                    let digest = Ok(admission_digest(&render));
                    self.at(
                        delay,
                        Event::ToChecker(i, CheckerInput::AdmissionRendered { applicant, digest }),
                    );
                }
                CheckerOutput::Admitted { checker, .. } => {
                    self.admitted.insert((i, checker));
                }
                CheckerOutput::Challenge { worker, render } => {
                    // A banned worker's engine is sound (it cheats on purpose): its answer
                    // and the checker's own render agree.
                    let digest =
                        *blake3::hash(format!("{worker:?} {render:?}").as_bytes()).as_bytes();
                    for ours in [true, false] {
                        let delay = self.rng.between(5, 40);
                        self.at(
                            delay,
                            Event::ToChecker(
                                i,
                                CheckerInput::ChallengeDigest {
                                    worker,
                                    ours,
                                    digest: Ok(digest),
                                },
                            ),
                        );
                    }
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
                    ..
                } => {
                    self.finals.insert((i, shard), (verdict, claim));
                }
                CheckerOutput::Banned { worker: w, .. } => {
                    self.banned.insert((i, w));
                }
                // The simulated workers make no canaries.
                CheckerOutput::Equivocation(_) | CheckerOutput::Forgiven { .. } => {}
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
                self.claimed_at.insert(claim.id(), self.now);
                self.claimed_by.insert(claim.id(), w);
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
                            // A lost heartbeat is not repaired: the next one comes.
                            if let Some(&delay) = self.deliveries(Some(i), Some(j), 1, 80).first() {
                                if delay < 1_000 {
                                    self.at(
                                        delay,
                                        Event::ToChecker(j, CheckerInput::CheckerSeen(me)),
                                    );
                                }
                            }
                        }
                    }
                }
                // Workers announce themselves with every tick.
                for w in self.workers.clone() {
                    for i in 0..self.checkers.len() {
                        if let Some(&delay) = self.deliveries(None, Some(i), 1, 80).first() {
                            if delay < 1_000 {
                                self.at(delay, Event::ToChecker(i, CheckerInput::WorkerSeen(w)));
                            }
                        }
                    }
                }
                self.at(250, Event::Tick);
            }
        }
        true
    }
}

mod runs;
