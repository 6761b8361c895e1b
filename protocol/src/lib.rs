//! `pictor-protocol`: the types and rules of the Pictor render network.
//!
//! Identities and domain-separated signatures, the canonical CBOR codec, signed envelopes,
//! jobs and shards, claims, attestations, quorum certificates and equivocation evidence,
//! tile blocks with bao row proofs, and the pure decision rules (quorum, committees,
//! assignment, sampling).
//!
//! This crate does no I/O, spawns nothing, reads no clock (time is passed in as `now_ms`)
//! and no OS randomness (keys come from 32-byte seeds). Every decoder of network input is
//! bounded and strict, and none panics on input bytes.

pub mod attestation;
pub mod canary;
pub mod capability;
pub mod certificate;
pub mod claim;
pub mod codec;
pub mod content;
pub mod credits;
pub mod envelope;
pub mod governance;
pub mod heartbeat;
pub mod identity;
pub mod job;
pub mod proof;
pub mod rules;
pub mod wire;

pub use attestation::{
    seed_signature, verdict_of, verdict_of_regions, Attestation, AttestationError, PixelSample,
    RegionScore, Verdict, Vote,
};
pub use canary::{CanaryError, CanaryReveal};
pub use capability::{
    ksamples_from_msamples, CapabilityError, CapabilityRecord, Device, DeviceKind, EngineVersion,
};
pub use certificate::{
    CertificateError, CheckedVotes, Collected, Evidence, QuorumCertificate, VoteCollector,
};
pub use claim::{Assignment, ClaimId, ResultClaim};
pub use codec::{decode, encode, CodecError, MAX_GOSSIP_SIZE, MAX_RESPONSE_SIZE};
pub use content::{ContentError, ContentId};
pub use envelope::{
    open_batch, open_batch_proved, EnvelopeError, EnvelopeProof, Message, SignedEnvelope,
};
pub use governance::{
    Action, ActionId, AdmissionRender, Application, Applied, CheckerStatus, DecisionCertificate,
    DecisionCollector, DecisionVote, Fault, GovernanceError, Ledger, Recomputed, SignedApplication,
    WorkerStatus,
};
pub use heartbeat::{Heartbeat, NodeRole};
pub use identity::{
    validate_network_id, IdentityError, Keypair, MessageKind, PublicKey, Signature, SignatureError,
};
pub use job::{Engine, FrameRange, JobError, JobId, JobSpec, ShardId, TileRect};
pub use proof::{
    prove_rows, prove_rows_with, row_range, tile_outboard, verify_rows, ProofError, RowProof,
    RowsProof, TileImage,
};
pub use rules::{DETECTION_TARGET, FRAUD_FRACTION};
pub use wire::{Request, Response};
