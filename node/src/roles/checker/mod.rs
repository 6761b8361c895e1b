//! The checker: Job Manager, Node Manager and Quality Assurance as one deterministic state
//! machine. The node loop feeds it verified messages, fetched rows, re-render results and
//! ticks; it answers with what to publish, fetch and re-render. No I/O happens here, so
//! tests drive it directly.
//!
//! Per job the checkers form a committee (rendezvous hashing over the checker set). One
//! committee member leads the job's assignments; any member takes over when the leader
//! falls silent. Every committee member verifies every claim of the job: it derives its
//! sample from its own signature over the claim id (unknown to the worker when it
//! rendered), fetches only the sampled rows with bao proofs, re-renders those pixels and
//! signs an attestation. More than two thirds of the committee on the same vote make a
//! quorum certificate, which is final.

use std::collections::{BTreeMap, BTreeSet};

mod assign;
mod forget;

use pictor_protocol::{
    rules, verdict_of, verdict_of_regions, Assignment, Attestation, ClaimId, ContentId, JobId,
    JobSpec, Keypair, Message, MessageKind, PixelSample, PublicKey, QuorumCertificate, RegionScore,
    ResultClaim, ShardId, Signature, Verdict, Vote,
};

use pictor_gpu::{CapabilityView, DeviceClass, DeviceInfo, HardwareRequirements};
use pictor_protocol::{CapabilityRecord, DeviceKind, Engine};

use super::perceptual;

/// A capability record as the requirements check reads it.
pub fn capability_view(record: &CapabilityRecord) -> CapabilityView {
    CapabilityView {
        devices: record
            .devices
            .iter()
            .map(|d| DeviceInfo {
                kind: match d.kind {
                    DeviceKind::Gpu => DeviceClass::Gpu,
                    _ => DeviceClass::Cpu,
                },
                name: d.name.clone(),
                memory_bytes: d.memory_bytes,
                compute_capability: d.compute_capability.clone(),
            })
            .collect(),
        engines: record
            .engines
            .iter()
            .map(|e| e.engine.to_string())
            .collect(),
        benchmark_msamples_per_s: Some(record.benchmark_msamples_per_s()),
    }
}

/// The rules' parameters for one network.
#[derive(Debug, Clone)]
pub struct CheckerParams {
    /// The network id (domain of every signature).
    pub network: String,
    /// How many checkers sit on a job's committee.
    pub committee_size: usize,
    /// How many shards a worker may hold unclaimed at once.
    pub max_outstanding: usize,
    /// A shard assigned this long ago without a claim is assigned again elsewhere.
    pub shard_timeout_ms: u64,
    /// A claim not certified this long after it arrived is given up.
    pub claim_timeout_ms: u64,
    /// A worker not heard from for this long is not given new shards.
    pub worker_liveness_ms: u64,
    /// A leader silent this long while shards wait is replaced by the next member.
    pub leader_timeout_ms: u64,
    /// What a worker must bring (from the network spec); empty: anything.
    pub requirements: HardwareRequirements,
}

/// What the node loop tells the checker.
#[derive(Debug)]
pub enum CheckerInput {
    /// A job, validated and signed by its creator.
    Job(JobSpec),
    /// A worker announced itself (heartbeat).
    WorkerSeen(PublicKey),
    /// A worker's signed capability record (its signature already checked).
    Capability(CapabilityRecord),
    /// An assignment made by a committee member.
    Assignment(Assignment),
    /// A worker's result claim.
    Claim(ResultClaim),
    /// The sampled rows of a claim's output, verified against its content id.
    Rows {
        claim: ClaimId,
        rows: Result<Vec<(u32, Vec<u8>)>, String>,
    },
    /// The re-rendered sample of a claim, in the order of [`CheckerOutput::Rerender`].
    Rerendered {
        claim: ClaimId,
        pixels: Result<Vec<[u8; 3]>, String>,
    },
    /// The re-rendered regions of a claim (engines verified perceptually), RGB8 rows, in
    /// the order of [`CheckerOutput::RerenderRegions`].
    RerenderedRegions {
        claim: ClaimId,
        regions: Result<Vec<Vec<u8>>, String>,
    },
    /// An attestation (its signatures already checked).
    Attestation(Attestation),
    /// A quorum certificate (already checked against the job's committee: the node's
    /// validator verifies every certificate before it is forwarded or acted on).
    Certificate(QuorumCertificate),
    /// Time passes.
    Tick,
    /// A job is finished and pruned: forget everything about it.
    Forget(JobId),
}

/// What the checker asks the node loop to do.
// Outputs live for one loop iteration and are moved once; boxing the message would only
// add an allocation per publish.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum CheckerOutput {
    /// Sign and gossip a message (after storing it).
    Publish(Message),
    /// Fetch these rows of a claim's output from its worker: with proofs, or (when
    /// `whole_output`, for region checks that cover most rows) the whole output by CID.
    FetchRows {
        claim: ClaimId,
        worker: PublicKey,
        output: ContentId,
        width: u32,
        height: u32,
        rows: Vec<u32>,
        whole_output: bool,
    },
    /// Re-render these pixels (image coordinates) of a job's frame.
    Rerender {
        claim: ClaimId,
        job: JobId,
        frame: u32,
        pixels: Vec<(u32, u32)>,
    },
    /// Re-render these regions `(x, y, w, h)` (image coordinates) of a job's frame.
    RerenderRegions {
        claim: ClaimId,
        job: JobId,
        frame: u32,
        regions: Vec<(u32, u32, u32, u32)>,
    },
    /// A shard's outcome became final.
    Finalized {
        shard: ShardId,
        claim: ClaimId,
        verdict: Verdict,
    },
    /// A worker is banned: its claim was rejected by quorum.
    Banned(PublicKey),
}

#[derive(Debug, Default)]
struct WorkerRecord {
    last_seen_ms: u64,
    banned: bool,
    /// The engines its capability record names (`None`: no record yet).
    engines: Option<Vec<Engine>>,
    /// Whether its capability record meets the network's hardware requirements.
    meets_requirements: bool,
}

#[derive(Debug, Default)]
struct ShardState {
    attempt: u32,
    assignment: Option<Assignment>,
    assigned_ms: u64,
    claim: Option<(ClaimId, u64)>,
    failed: BTreeSet<PublicKey>,
    done: bool,
}

#[derive(Debug)]
struct JobState {
    spec: JobSpec,
    committee: Vec<PublicKey>,
    samples: usize,
    shards: BTreeMap<ShardId, ShardState>,
    last_progress_ms: u64,
    leader_epoch: usize,
}

#[derive(Debug)]
struct ClaimState {
    claim: ResultClaim,
    seed_signature: Signature,
    positions: Vec<(u32, u32)>,
    claimed: Vec<[u8; 3]>,
    /// Tile-local regions, for engines verified perceptually (then `positions` is empty).
    regions: Vec<(u32, u32, u32, u32)>,
    claimed_regions: Vec<Vec<u8>>,
    attested: bool,
}

/// The checker's state.
#[derive(Debug)]
pub struct Checker {
    keypair: Keypair,
    me: PublicKey,
    checkers: Vec<PublicKey>,
    params: CheckerParams,
    jobs: BTreeMap<JobId, JobState>,
    workers: BTreeMap<PublicKey, WorkerRecord>,
    claims: BTreeMap<ClaimId, ClaimState>,
    /// Attestations by claim, then by checker (one each).
    votes: BTreeMap<ClaimId, BTreeMap<PublicKey, Attestation>>,
    /// Certified claims, with their jobs (forgotten with the job).
    certified: BTreeMap<ClaimId, JobId>,
    /// Claims that arrived before their assignment (or job).
    early_claims: BTreeMap<ShardId, Vec<ResultClaim>>,
    /// Assignments that arrived before their job.
    early_assignments: BTreeMap<JobId, Vec<Assignment>>,
    /// Certificates this checker assembled and holds back while the leader publishes.
    unpublished: BTreeMap<ClaimId, (QuorumCertificate, u64)>,
}

/// Bounds on what a flood of messages can make a checker hold.
const MAX_JOBS: usize = 10_000;
const MAX_WORKERS: usize = 100_000;
const MAX_PENDING_VOTES: usize = 100_000;
/// Claims and assignments held until their job or assignment arrives.
const MAX_EARLY: usize = 10_000;
/// How long a committee member waits for the leader's certificate before publishing its own.
const CERTIFICATE_GRACE_MS: u64 = 1_000;

impl Checker {
    /// A checker with key `keypair` in a network whose active checkers are `checkers`.
    pub fn new(keypair: Keypair, checkers: Vec<PublicKey>, params: CheckerParams) -> Checker {
        let me = keypair.public();
        Checker {
            keypair,
            me,
            checkers,
            params,
            jobs: BTreeMap::new(),
            workers: BTreeMap::new(),
            claims: BTreeMap::new(),
            votes: BTreeMap::new(),
            certified: BTreeMap::new(),
            early_claims: BTreeMap::new(),
            early_assignments: BTreeMap::new(),
            unpublished: BTreeMap::new(),
        }
    }

    /// This checker's key.
    pub fn key(&self) -> PublicKey {
        self.me
    }

    /// The committee of a known job.
    pub fn committee(&self, job: &JobId) -> Option<&[PublicKey]> {
        self.jobs.get(job).map(|j| j.committee.as_slice())
    }

    /// Whether the worker is banned.
    pub fn is_banned(&self, worker: &PublicKey) -> bool {
        self.workers.get(worker).is_some_and(|w| w.banned)
    }

    /// The number of workers that may receive shards now.
    pub fn eligible_workers(&self, now_ms: u64) -> usize {
        self.eligible(now_ms).len()
    }

    /// Shards of `job` not yet final.
    pub fn open_shards(&self, job: &JobId) -> Option<usize> {
        self.jobs
            .get(job)
            .map(|j| j.shards.values().filter(|s| !s.done).count())
    }

    fn early_len(&self) -> usize {
        self.early_claims.values().map(Vec::len).sum::<usize>()
            + self.early_assignments.values().map(Vec::len).sum::<usize>()
    }

    /// Feeds one input; returns what to do.
    pub fn handle(&mut self, now_ms: u64, input: CheckerInput) -> Vec<CheckerOutput> {
        let mut out = Vec::new();
        match input {
            CheckerInput::Job(spec) => self.on_job(now_ms, spec, &mut out),
            CheckerInput::WorkerSeen(worker) => {
                self.workers.entry(worker).or_default().last_seen_ms = now_ms;
                self.assign_all(now_ms, &mut out);
            }
            CheckerInput::Capability(record) => self.on_capability(now_ms, record, &mut out),
            CheckerInput::Assignment(a) => self.on_assignment(now_ms, a, &mut out),
            CheckerInput::Claim(claim) => self.on_claim(now_ms, claim, &mut out),
            CheckerInput::Rows { claim, rows } => self.on_rows(claim, rows, &mut out),
            CheckerInput::Rerendered { claim, pixels } => {
                self.on_rerendered(now_ms, claim, pixels, &mut out)
            }
            CheckerInput::RerenderedRegions { claim, regions } => {
                self.on_rerendered_regions(now_ms, claim, regions, &mut out)
            }
            CheckerInput::Attestation(a) => self.on_attestation(now_ms, a, &mut out),
            CheckerInput::Certificate(qc) => self.on_certificate(now_ms, qc, &mut out),
            CheckerInput::Forget(job) => self.forget(&job),
            CheckerInput::Tick => {
                self.publish_overdue_certificates(now_ms, &mut out);
                self.on_tick(now_ms, &mut out)
            }
        }
        out
    }

    fn on_capability(
        &mut self,
        now_ms: u64,
        record: CapabilityRecord,
        out: &mut Vec<CheckerOutput>,
    ) {
        if !self.workers.contains_key(&record.node) && self.workers.len() >= MAX_WORKERS {
            return;
        }
        let meets = self
            .params
            .requirements
            .check(&capability_view(&record))
            .is_ok();
        let worker = self.workers.entry(record.node).or_default();
        worker.engines = Some(record.engines.iter().map(|e| e.engine).collect());
        worker.meets_requirements = meets;
        self.assign_all(now_ms, out);
    }

    fn on_job(&mut self, now_ms: u64, spec: JobSpec, out: &mut Vec<CheckerOutput>) {
        let id = spec.id();
        if self.jobs.contains_key(&id) || self.jobs.len() >= MAX_JOBS {
            return;
        }
        let committee = rules::committee(&id, &self.checkers, self.params.committee_size);
        let samples = rules::samples_per_checker(
            committee.len(),
            rules::FRAUD_FRACTION,
            rules::DETECTION_TARGET,
        );
        let shards = spec
            .shards()
            .into_iter()
            .map(|s| (s, ShardState::default()))
            .collect();
        self.jobs.insert(
            id,
            JobState {
                spec,
                committee,
                samples,
                shards,
                last_progress_ms: now_ms,
                leader_epoch: 0,
            },
        );
        // Assignments (and through them, claims) and votes that arrived before the job
        // are examined now: gossip on different topics arrives in any order.
        for a in self.early_assignments.remove(&id).unwrap_or_default() {
            self.on_assignment(now_ms, a, out);
        }
        let pending: Vec<ClaimId> = self
            .votes
            .iter()
            .filter(|(_, v)| v.values().next().is_some_and(|a| a.vote.shard.job == id))
            .map(|(c, _)| *c)
            .collect();
        for claim in pending {
            self.try_certify(now_ms, claim, out);
        }
        self.assign_all(now_ms, out);
    }

    fn on_assignment(&mut self, now_ms: u64, a: Assignment, out: &mut Vec<CheckerOutput>) {
        let Some(job) = self.jobs.get_mut(&a.shard.job) else {
            // The job may still be on its way.
            if self.early_len() < MAX_EARLY {
                self.early_assignments
                    .entry(a.shard.job)
                    .or_default()
                    .push(a);
            }
            return;
        };
        if !job.committee.contains(&a.assigned_by) {
            return;
        }
        let Some(shard) = job.shards.get_mut(&a.shard) else {
            return;
        };
        if shard.done || a.attempt < shard.attempt {
            return;
        }
        if a.attempt == shard.attempt && shard.assignment.is_some() {
            return; // the first assignment of an attempt stands
        }
        shard.attempt = a.attempt;
        shard.assigned_ms = now_ms;
        shard.claim = None;
        let id = a.shard;
        shard.assignment = Some(a);
        job.last_progress_ms = now_ms;
        if let Some(early) = self.early_claims.remove(&id) {
            for claim in early {
                self.on_claim(now_ms, claim, out);
            }
        }
    }

    fn on_claim(&mut self, now_ms: u64, claim: ResultClaim, out: &mut Vec<CheckerOutput>) {
        let id = claim.id();
        if self.is_banned(&claim.worker) {
            return;
        }
        let Some(job) = self.jobs.get_mut(&claim.shard.job) else {
            // Its job (and assignment) may still be on their way.
            if self.early_len() < MAX_EARLY {
                self.early_claims
                    .entry(claim.shard)
                    .or_default()
                    .push(claim);
            }
            return;
        };
        let Some(rect) = job.spec.tile_rect(claim.shard.tile) else {
            return;
        };
        let Some(shard) = job.shards.get_mut(&claim.shard) else {
            return;
        };
        let matches = shard
            .assignment
            .as_ref()
            .is_some_and(|a| a.worker == claim.worker && a.attempt == claim.attempt);
        if shard.done || claim.width != rect.w || claim.height != rect.h {
            return;
        }
        if !matches {
            // Its assignment may still be on its way; look again when one arrives.
            if claim.attempt >= shard.attempt && self.early_len() < MAX_EARLY {
                self.early_claims
                    .entry(claim.shard)
                    .or_default()
                    .push(claim);
            }
            return;
        }
        let freed_a_slot = shard.claim.is_none();
        if freed_a_slot {
            shard.claim = Some((id, now_ms));
            job.last_progress_ms = now_ms;
        }
        let verify = job.committee.contains(&self.me) && !self.claims.contains_key(&id);
        let samples = job.samples;
        let bit_exact = job.spec.engine.is_bit_exact();
        if freed_a_slot {
            // The worker has room for another shard: refill its queue now, not at the
            // next tick, so that it never waits with shards left to render.
            self.assign_all(now_ms, out);
        }
        if !verify {
            return;
        }
        let seed_signature =
            self.keypair
                .sign(MessageKind::SampleSeed, &self.params.network, &id.0);
        let seed = rules::sample_seed(&seed_signature);
        let (positions, regions, rows) = if bit_exact {
            let positions = rules::sample_pixels(&seed, rect.w, rect.h, samples);
            let rows = rules::sample_rows(&positions);
            (positions, Vec::new(), rows)
        } else {
            let regions = rules::sample_regions(&seed, rect.w, rect.h, samples, rules::REGION_SIDE);
            let rows = rules::region_rows(&regions);
            (Vec::new(), regions, rows)
        };
        out.push(CheckerOutput::FetchRows {
            claim: id,
            worker: claim.worker,
            output: claim.output,
            width: rect.w,
            height: rect.h,
            rows,
            whole_output: !bit_exact,
        });
        self.claims.insert(
            id,
            ClaimState {
                claim,
                seed_signature,
                positions,
                claimed: Vec::new(),
                regions,
                claimed_regions: Vec::new(),
                attested: false,
            },
        );
    }

    fn on_rows(
        &mut self,
        id: ClaimId,
        rows: Result<Vec<(u32, Vec<u8>)>, String>,
        out: &mut Vec<CheckerOutput>,
    ) {
        let Some(state) = self.claims.get_mut(&id) else {
            return;
        };
        // A worker that cannot show its rows is left to the claim timeout.
        let Ok(rows) = rows else {
            return;
        };
        let rows: BTreeMap<u32, Vec<u8>> = rows.into_iter().collect();
        let Some(job) = self.jobs.get(&state.claim.shard.job) else {
            return;
        };
        let Some(rect) = job.spec.tile_rect(state.claim.shard.tile) else {
            return;
        };
        if !state.regions.is_empty() {
            let mut claimed = Vec::with_capacity(state.regions.len());
            for &(x, y, w, h) in &state.regions {
                let mut pixels = Vec::with_capacity((w * h * 3) as usize);
                for row in y..y + h {
                    let span = x as usize * 3..(x + w) as usize * 3;
                    match rows.get(&row).and_then(|r| r.get(span)) {
                        Some(p) => pixels.extend_from_slice(p),
                        None => return,
                    }
                }
                claimed.push(pixels);
            }
            state.claimed_regions = claimed;
            out.push(CheckerOutput::RerenderRegions {
                claim: id,
                job: state.claim.shard.job,
                frame: state.claim.shard.frame,
                regions: state
                    .regions
                    .iter()
                    .map(|&(x, y, w, h)| (rect.x + x, rect.y + y, w, h))
                    .collect(),
            });
            return;
        }
        let mut claimed = Vec::with_capacity(state.positions.len());
        for &(x, y) in &state.positions {
            let at = x as usize * 3;
            match rows.get(&y).and_then(|r| r.get(at..at + 3)) {
                Some(p) => claimed.push([p[0], p[1], p[2]]),
                None => return,
            }
        }
        state.claimed = claimed;
        out.push(CheckerOutput::Rerender {
            claim: id,
            job: state.claim.shard.job,
            frame: state.claim.shard.frame,
            pixels: state
                .positions
                .iter()
                .map(|&(x, y)| (rect.x + x, rect.y + y))
                .collect(),
        });
    }

    fn on_rerendered_regions(
        &mut self,
        now_ms: u64,
        id: ClaimId,
        regions: Result<Vec<Vec<u8>>, String>,
        out: &mut Vec<CheckerOutput>,
    ) {
        let Some(state) = self.claims.get_mut(&id) else {
            return;
        };
        let Ok(expected) = regions else {
            return;
        };
        if state.attested
            || expected.len() != state.regions.len()
            || state.claimed_regions.len() != state.regions.len()
        {
            return;
        }
        let engine = self
            .jobs
            .get(&state.claim.shard.job)
            .map_or(pictor_protocol::Engine::Blender, |j| j.spec.engine);
        let scores: Vec<RegionScore> = perceptual::score_regions(
            &state.regions,
            &expected,
            &state.claimed_regions,
            &state.claim.device,
            engine,
        );
        let verdict = verdict_of_regions(&scores);
        self.attest(now_ms, id, verdict, Vec::new(), scores, out);
    }

    /// Signs, publishes and counts this checker's attestation on claim `id`, once.
    fn attest(
        &mut self,
        now_ms: u64,
        id: ClaimId,
        verdict: Verdict,
        samples: Vec<PixelSample>,
        regions: Vec<RegionScore>,
        out: &mut Vec<CheckerOutput>,
    ) {
        let Some(state) = self.claims.get_mut(&id) else {
            return;
        };
        let vote = Vote::on(&state.claim, verdict);
        let vote_signature = self.keypair.sign(
            MessageKind::Vote,
            &self.params.network,
            &vote.signing_bytes(),
        );
        let attestation = Attestation {
            vote,
            checker: self.me,
            vote_signature,
            seed_signature: state.seed_signature,
            samples,
            regions,
        };
        state.attested = true;
        out.push(CheckerOutput::Publish(Message::Attestation(
            attestation.clone(),
        )));
        self.on_attestation(now_ms, attestation, out);
    }

    fn on_rerendered(
        &mut self,
        now_ms: u64,
        id: ClaimId,
        pixels: Result<Vec<[u8; 3]>, String>,
        out: &mut Vec<CheckerOutput>,
    ) {
        let Some(state) = self.claims.get_mut(&id) else {
            return;
        };
        let Ok(expected) = pixels else {
            return;
        };
        if state.attested || expected.len() != state.positions.len() {
            return;
        }
        let samples: Vec<PixelSample> = state
            .positions
            .iter()
            .zip(expected.iter().zip(&state.claimed))
            .map(|(&(x, y), (&expected, &claimed))| PixelSample {
                x,
                y,
                expected,
                claimed,
            })
            .collect();
        let verdict = verdict_of(&samples);
        self.attest(now_ms, id, verdict, samples, Vec::new(), out);
    }

    fn on_attestation(&mut self, now_ms: u64, a: Attestation, out: &mut Vec<CheckerOutput>) {
        let claim = a.vote.claim;
        if self.certified.contains_key(&claim) {
            return;
        }
        if let Some(job) = self.jobs.get(&a.vote.shard.job) {
            if !job.committee.contains(&a.checker) {
                return;
            }
            if let Some(rect) = job.spec.tile_rect(a.vote.shard.tile) {
                let positions = if job.spec.engine.is_bit_exact() {
                    a.check_samples(rect.w, rect.h, job.samples)
                } else {
                    a.check_regions(rect.w, rect.h, job.samples, rules::REGION_SIDE)
                };
                if positions.is_err() {
                    return;
                }
            }
        }
        let pending: usize = self.votes.values().map(BTreeMap::len).sum();
        if pending >= MAX_PENDING_VOTES {
            return;
        }
        self.votes
            .entry(claim)
            .or_default()
            .entry(a.checker)
            .or_insert(a);
        self.try_certify(now_ms, claim, out);
    }

    /// Publishes the certificates whose leader stayed silent past the grace period.
    fn publish_overdue_certificates(&mut self, now_ms: u64, out: &mut Vec<CheckerOutput>) {
        let overdue: Vec<ClaimId> = self
            .unpublished
            .iter()
            .filter(|(_, (_, due))| now_ms >= *due)
            .map(|(claim, _)| *claim)
            .collect();
        for claim in overdue {
            if let Some((qc, _)) = self.unpublished.remove(&claim) {
                out.push(CheckerOutput::Publish(Message::Certificate(qc)));
            }
        }
    }

    /// Assembles a certificate when more than two thirds of the committee signed one vote.
    fn try_certify(&mut self, now_ms: u64, claim: ClaimId, out: &mut Vec<CheckerOutput>) {
        let Some(votes) = self.votes.get(&claim) else {
            return;
        };
        let Some(first) = votes.values().next() else {
            return;
        };
        let Some(job) = self.jobs.get(&first.vote.shard.job) else {
            return;
        };
        let threshold = rules::quorum_threshold(job.committee.len());
        for verdict in [Verdict::Valid, Verdict::Invalid] {
            let agreeing: Vec<&Attestation> = votes
                .values()
                .filter(|a| a.vote.verdict == verdict && job.committee.contains(&a.checker))
                .collect();
            if agreeing.len() < threshold {
                continue;
            }
            let vote = agreeing[0].vote;
            let mut signatures: Vec<(PublicKey, Signature)> = agreeing
                .iter()
                .filter(|a| a.vote == vote)
                .map(|a| (a.checker, a.vote_signature))
                .collect();
            signatures.sort_by_key(|(k, _)| *k);
            if signatures.len() < threshold {
                continue;
            }
            let qc = QuorumCertificate { vote, signatures };
            // Every member reaches the quorum from the same attestations; one certificate
            // on the wire is enough. The job's leader publishes it at once, the others
            // only if none has been seen after a grace period (the leader may be gone).
            let leader = job
                .committee
                .get(job.leader_epoch % job.committee.len().max(1));
            let publish_now = leader == Some(&self.me);
            if publish_now {
                out.push(CheckerOutput::Publish(Message::Certificate(qc.clone())));
            }
            self.on_certificate(now_ms, qc.clone(), out);
            if !publish_now {
                self.unpublished
                    .insert(claim, (qc, now_ms + CERTIFICATE_GRACE_MS));
            }
            return;
        }
    }

    fn on_certificate(&mut self, now_ms: u64, qc: QuorumCertificate, out: &mut Vec<CheckerOutput>) {
        let claim = qc.vote.claim;
        // A certificate for this claim is on the wire: ours need not be.
        self.unpublished.remove(&claim);
        if self.certified.contains_key(&claim) {
            return;
        }
        let Some(job) = self.jobs.get_mut(&qc.vote.shard.job) else {
            return;
        };
        self.certified.insert(claim, qc.vote.shard.job);
        self.votes.remove(&claim);
        let Some(shard) = job.shards.get_mut(&qc.vote.shard) else {
            return;
        };
        job.last_progress_ms = now_ms;
        // The certificate names the claim's worker and attempt: never guess them from the
        // shard's current assignment, which may already belong to the next worker.
        let rejected = Some((qc.vote.worker, qc.vote.attempt));
        self.claims.remove(&claim);
        if shard.done {
            return;
        }
        match qc.vote.verdict {
            Verdict::Valid => {
                shard.done = true;
                out.push(CheckerOutput::Finalized {
                    shard: qc.vote.shard,
                    claim,
                    verdict: Verdict::Valid,
                });
            }
            Verdict::Invalid => {
                out.push(CheckerOutput::Finalized {
                    shard: qc.vote.shard,
                    claim,
                    verdict: Verdict::Invalid,
                });
                let (worker, attempt) = match rejected {
                    Some((w, a)) => (Some(w), a),
                    None => (None, shard.attempt),
                };
                // The assignment that replaces the rejected one may have arrived first:
                // only a rejection of the current attempt moves the shard on.
                if shard.attempt <= attempt {
                    shard.attempt = attempt + 1;
                    shard.assignment = None;
                    shard.claim = None;
                }
                if let Some(worker) = worker {
                    shard.failed.insert(worker);
                    let record = self.workers.entry(worker).or_default();
                    if !record.banned {
                        record.banned = true;
                        out.push(CheckerOutput::Banned(worker));
                    }
                }
                self.assign_all(now_ms, out);
            }
        }
    }
}
