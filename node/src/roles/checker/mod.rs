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
//!
//! The files: this one holds the types and feeds each input to its part; `assign.rs` is
//! the Job Manager (assignments, timeouts, take-over), `verify.rs` Quality Assurance
//! (claims, rows, re-renders, this checker's attestations), `votes.rs` the votes and
//! certificates.

use std::collections::{BTreeMap, BTreeSet};

mod admit;
mod assign;
mod canary;
mod early;
mod forget;
mod govern;
mod intake;
mod peers;
mod queries;
mod verify;
mod votes;

use pictor_protocol::{
    AdmissionRender, Assignment, Attestation, CanaryReveal, ClaimId, ContentId,
    DecisionCertificate, DecisionCollector, DecisionVote, EnvelopeProof, Evidence, Fault, JobId,
    JobSpec, Keypair, Ledger, Message, PublicKey, QuorumCertificate, ResultClaim, ShardId,
    SignedApplication, Verdict, VoteCollector,
};

use pictor_gpu::{CapabilityView, DeviceClass, DeviceInfo, HardwareRequirements};
use pictor_protocol::{CapabilityRecord, DeviceKind};

use super::perceptual;
use assign::WorkerRecord;

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
    /// A checker not heard from for this long is Offline: its committees move.
    pub checker_liveness_ms: u64,
    /// A worker's first ban lasts this long; each further offence doubles it.
    pub ban_cooldown_ms: u64,
    /// How this checker behaves: honestly, or (for demonstrations and tests of the
    /// network's defences) as a faulty checker.
    pub behaviour: Behaviour,
    /// Length of an epoch: the checker set changes only at epoch boundaries (0: never).
    pub epoch_ms: u64,
}

/// How a checker behaves. Only `Honest` is a checker anyone should run; the others show
/// that the network catches them (`pictor render --lazy-checkers`, `--equivocating-checkers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// Checks every claim it attests.
    #[default]
    Honest,
    /// Attests without re-rendering: states the claimed values as its own.
    Lazy,
    /// Signs two conflicting votes on every claim it checks.
    Equivocating,
}

/// What the node loop tells the checker.
#[derive(Debug)]
pub enum CheckerInput {
    /// A job, validated and signed by its creator.
    Job(JobSpec),
    /// A worker announced itself (heartbeat).
    WorkerSeen(PublicKey),
    /// A worker revealed a canary (its heartbeat; the reveal already verified).
    Canary {
        worker: PublicKey,
        reveal: CanaryReveal,
    },
    /// A checker announced itself (heartbeat).
    CheckerSeen(PublicKey),
    /// A checker's vote on a governance action (its signature already checked).
    DecisionVote(DecisionVote),
    /// A decision certificate (checked by the node's validator; the ledger checks again).
    Decision(DecisionCertificate),
    /// Equivocation evidence (verified again by the ledger).
    Evidence(Evidence),
    /// A worker's signed capability record (its signature already checked).
    Capability(CapabilityRecord),
    /// A node's application to join the checker set (its signature already checked).
    Application(SignedApplication),
    /// This checker's render of an applicant's admission window: blake3 of its pixels.
    AdmissionRendered {
        applicant: PublicKey,
        digest: Result<[u8; 32], String>,
    },
    /// A digest of a returning worker's challenge window: this checker's own render
    /// (`ours`) or the worker's answer.
    ChallengeDigest {
        worker: PublicKey,
        ours: bool,
        digest: Result<[u8; 32], String>,
    },
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
    /// An attestation (its signatures already checked), with the proof of the envelope
    /// its checker gossiped it in where it came so: only such an attestation can be the
    /// evidence of a fault (the proof covers its sampled values).
    Attestation(Attestation, Option<EnvelopeProof>),
    /// A quorum certificate (already checked against the job's committee: the node's
    /// validator verifies every certificate before it is forwarded or acted on).
    Certificate(QuorumCertificate),
    /// Time passes.
    Tick,
    /// A job is finished and pruned: forget everything about it.
    Forget(JobId),
    /// How a job's escrow stands now (the node's credits tell it, on a network with
    /// credits): its leader gives out its shards by it. `payments_due`: its escrow still
    /// has payments or a refund to certify, so the job is not done with its committee (a
    /// committee that lost members moves it even with every shard decided: its payer may be
    /// gone for good).
    Funding {
        job: JobId,
        funding: JobFunding,
        payments_due: bool,
    },
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
    /// A shard's outcome became final: `worker`'s claim was accepted or rejected.
    Finalized {
        shard: ShardId,
        claim: ClaimId,
        worker: PublicKey,
        verdict: Verdict,
    },
    /// A worker is banned until `until_ms`: its claim was rejected by quorum (its
    /// `offences`-th).
    Banned {
        worker: PublicKey,
        until_ms: u64,
        offences: u32,
    },
    /// A worker's rejected claim was its canary: the offence is struck off (it has
    /// `offences` left) and its ban lifted where that offence set it.
    Forgiven {
        worker: PublicKey,
        shard: ShardId,
        offences: u32,
    },
    /// A committee member signed two different votes on one claim (its second vote is not
    /// counted). The evidence verifies on its own; it is published with this.
    Equivocation(Box<Evidence>),
    /// A checker is banned network-wide, for this fault.
    CheckerBanned {
        checker: PublicKey,
        fault: Box<Fault>,
    },
    /// A job moved to a new committee.
    Moved {
        job: JobId,
        generation: u32,
        committee: Vec<PublicKey>,
    },
    /// Render an applicant's admission window ([`AdmissionRender`]) of the benchmark
    /// scene, and answer with [`CheckerInput::AdmissionRendered`].
    RenderAdmission {
        applicant: PublicKey,
        render: AdmissionRender,
    },
    /// A worker's ban is over: render this window here and ask the worker to render it
    /// too; answer each with [`CheckerInput::ChallengeDigest`].
    Challenge {
        worker: PublicKey,
        render: AdmissionRender,
    },
    /// An applicant is admitted: it joins the set at epoch `from_epoch`.
    Admitted { checker: PublicKey, from_epoch: u64 },
}

#[derive(Debug, Default)]
struct ShardState {
    attempt: u32,
    assignment: Option<Assignment>,
    assigned_ms: u64,
    claim: Option<(ClaimId, u64)>,
    /// The current claim itself (a member that joins the committee late checks it).
    claim_msg: Option<ResultClaim>,
    failed: BTreeSet<PublicKey>,
    done: bool,
    /// Who held the shard before the job's committee moved (it may hold the output).
    previous: Option<PublicKey>,
}

#[derive(Debug)]
struct JobState {
    spec: JobSpec,
    committee: Vec<PublicKey>,
    samples: usize,
    shards: BTreeMap<ShardId, ShardState>,
    last_progress_ms: u64,
    leader_epoch: usize,
    /// Workers that failed a shard of this job by quorum: kept off it.
    excluded: BTreeSet<PublicKey>,
    /// How its escrow stands (on a network with credits).
    funding: JobFunding,
    /// Its escrow still has payments or a refund to certify.
    payments_due: bool,
}

/// How a job's escrow stands, as the node's credits tell the checker (a network without
/// credits: every job is funded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFunding {
    /// No escrow: only workers that ask nothing get its shards.
    Free,
    /// Its escrow pays what is accepted.
    Funded,
    /// Its budget is out: no new shard is given out.
    Paused,
}

/// The checker's state.
#[derive(Debug)]
pub struct Checker {
    keypair: Keypair,
    me: PublicKey,
    /// The checker set and what it decided (bans, moved committees).
    ledger: Ledger,
    /// When each checker was last heard from.
    checkers_seen: BTreeMap<PublicKey, u64>,
    /// When this checker first ran (every checker counts as live for one liveness period).
    started_ms: Option<u64>,
    /// Votes on governance actions, until a quorum.
    decisions: DecisionCollector,
    /// Actions this checker voted for.
    voted: BTreeSet<pictor_protocol::ActionId>,
    /// Re-renders of peers' attestations and of faults to confirm.
    peer_checks: BTreeMap<ClaimId, peers::PeerCheck>,
    /// Attestations of uncertified claims of bit-exact jobs, for the peer checks that a
    /// certificate starts.
    held_attestations: BTreeMap<ClaimId, Vec<(Attestation, EnvelopeProof)>>,
    params: CheckerParams,
    jobs: BTreeMap<JobId, JobState>,
    workers: BTreeMap<PublicKey, WorkerRecord>,
    claims: BTreeMap<ClaimId, verify::ClaimState>,
    /// One collector per claim with votes and no certificate yet.
    collectors: BTreeMap<ClaimId, VoteCollector>,
    /// Attestations that arrived before their job (whose committee they need).
    early_votes: BTreeMap<JobId, Vec<(Attestation, Option<EnvelopeProof>)>>,
    /// The collectors of recently certified claims, for late votes.
    closed: votes::Closed,
    /// Certified claims, with their jobs (forgotten with the job).
    certified: BTreeMap<ClaimId, (JobId, Verdict)>,
    /// Claims that arrived before their assignment (or job), or while their worker was
    /// banned (a canary's reveal may follow in a moment).
    early_claims: BTreeMap<ShardId, Vec<ResultClaim>>,
    /// Canary reveals that came before the rejection they answer.
    revealed: canary::Revealed,
    /// Assignments that arrived before their job.
    early_assignments: BTreeMap<JobId, Vec<Assignment>>,
    /// Certificates this checker assembled and holds back while the leader publishes.
    unpublished: BTreeMap<ClaimId, (QuorumCertificate, u64)>,
    /// Nodes applying to join the set.
    applicants: admit::Applicants,
}

/// Bounds on what a flood of messages can make a checker hold.
const MAX_JOBS: usize = 10_000;
const MAX_WORKERS: usize = 100_000;

impl Checker {
    /// A checker with key `keypair` in a network whose active checkers are `checkers`.
    pub fn new(keypair: Keypair, checkers: Vec<PublicKey>, params: CheckerParams) -> Checker {
        let me = keypair.public();
        let decisions = DecisionCollector::new(checkers.len(), govern::MAX_OPEN_DECISIONS);
        Checker {
            keypair,
            me,
            ledger: Ledger::new(&params.network, checkers, params.committee_size)
                .with_epochs(params.epoch_ms),
            checkers_seen: BTreeMap::new(),
            started_ms: None,
            decisions,
            voted: BTreeSet::new(),
            peer_checks: BTreeMap::new(),
            held_attestations: BTreeMap::new(),
            params,
            jobs: BTreeMap::new(),
            workers: BTreeMap::new(),
            claims: BTreeMap::new(),
            collectors: BTreeMap::new(),
            closed: votes::Closed::default(),
            early_votes: BTreeMap::new(),
            certified: BTreeMap::new(),
            early_claims: BTreeMap::new(),
            revealed: Default::default(),
            early_assignments: BTreeMap::new(),
            unpublished: BTreeMap::new(),
            applicants: BTreeMap::new(),
        }
    }

    /// Feeds one input; returns what to do.
    pub fn handle(&mut self, now_ms: u64, input: CheckerInput) -> Vec<CheckerOutput> {
        let mut out = Vec::new();
        self.started_ms.get_or_insert(now_ms);
        // The ledger's clock first: every input is judged in the epoch it arrives in.
        self.next_epoch(now_ms, &mut out);
        match input {
            CheckerInput::Job(spec) => self.on_job(now_ms, spec, &mut out),
            CheckerInput::CheckerSeen(checker) => {
                self.checkers_seen.insert(checker, now_ms);
            }
            CheckerInput::DecisionVote(vote) => self.on_decision_vote(now_ms, vote, &mut out),
            CheckerInput::Decision(cert) => self.on_decision(now_ms, cert, &mut out),
            CheckerInput::Evidence(evidence) => self.on_evidence(now_ms, evidence, &mut out),
            CheckerInput::WorkerSeen(worker) => {
                let liveness = self.params.worker_liveness_ms;
                let was_live = assign::live(&self.workers, &worker, now_ms, liveness);
                self.workers.entry(worker).or_default().last_seen_ms = now_ms;
                // A worker already live changes nothing for assignments (ticks take
                // care of timeouts and expired bans); one that comes up may get work.
                if !was_live {
                    self.assign_all(now_ms, &mut out);
                }
            }
            CheckerInput::Canary { worker, reveal } => {
                self.on_canary(now_ms, worker, reveal, &mut out)
            }
            CheckerInput::Capability(record) => self.on_capability(now_ms, record, &mut out),
            CheckerInput::Application(a) => self.on_application(now_ms, a, &mut out),
            CheckerInput::AdmissionRendered { applicant, digest } => {
                self.on_admission_rendered(now_ms, applicant, digest, &mut out)
            }
            CheckerInput::ChallengeDigest {
                worker,
                ours,
                digest,
            } => self.on_challenge_digest(now_ms, worker, ours, digest, &mut out),
            CheckerInput::Assignment(a) => self.on_assignment(now_ms, a, &mut out),
            CheckerInput::Claim(claim) => self.on_claim(now_ms, claim, &mut out),
            CheckerInput::Rows { claim, rows } => self.on_rows(now_ms, claim, rows, &mut out),
            CheckerInput::Rerendered { claim, pixels } => {
                self.on_rerendered(now_ms, claim, pixels, &mut out)
            }
            CheckerInput::RerenderedRegions { claim, regions } => {
                self.on_rerendered_regions(now_ms, claim, regions, &mut out)
            }
            CheckerInput::Attestation(a, proof) => self.on_attestation(now_ms, a, proof, &mut out),
            CheckerInput::Certificate(qc) => self.on_certificate(now_ms, qc, &mut out),
            CheckerInput::Forget(job) => self.forget(&job),
            CheckerInput::Funding {
                job,
                funding,
                payments_due,
            } => {
                if let Some(state) = self.jobs.get_mut(&job) {
                    let resumed = state.funding != funding;
                    state.funding = funding;
                    state.payments_due = payments_due;
                    if resumed {
                        self.assign_all(now_ms, &mut out);
                    }
                }
            }
            CheckerInput::Tick => {
                self.publish_overdue_certificates(now_ms, &mut out);
                self.on_tick(now_ms, &mut out);
                self.govern(now_ms, &mut out);
            }
        }
        out
    }
}
