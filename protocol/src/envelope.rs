//! Signed envelopes: every gossiped message is wrapped, size-bounded, network-bound,
//! time-bounded and signed by its author.

use crate::capability::{CapabilityError, CapabilityRecord};
use crate::heartbeat::Heartbeat;
use serde::{Deserialize, Serialize};

use crate::attestation::Attestation;
use crate::certificate::Evidence;
use crate::certificate::QuorumCertificate;
use crate::claim::{Assignment, ResultClaim, MAX_DEVICE_LEN};
use crate::codec::{self, CodecError, MAX_GOSSIP_SIZE};
use crate::governance::{
    self, Action, DecisionCertificate, DecisionVote, Fault, SignedApplication,
};
use crate::identity::msm::{Candidate, Equation};
use crate::identity::{validate_network_id, Keypair, MessageKind, PublicKey, Signature};
use crate::job::{JobError, JobSpec};
use crate::rules;

/// How far in the future an envelope may be dated (clock skew allowance).
pub const MAX_FUTURE_SKEW_MS: u64 = 60_000;

/// Why an envelope was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Not a canonical envelope, or too large.
    #[error("envelope: {0}")]
    Codec(#[from] CodecError),
    /// The body is not a canonical message.
    #[error("body: {0}")]
    Body(CodecError),
    /// For another network.
    #[error("envelope for network {got:?}, this node is on {expected:?}")]
    WrongNetwork {
        /// Our network.
        expected: String,
        /// The envelope's.
        got: String,
    },
    /// Older than the allowed age.
    #[error("stale envelope issued at {issued_ms} ms, now {now_ms} ms, max age {max_age_ms} ms")]
    Stale {
        /// When issued.
        issued_ms: u64,
        /// Now.
        now_ms: u64,
        /// Allowed age.
        max_age_ms: u64,
    },
    /// Dated too far ahead.
    #[error("envelope issued at {issued_ms} ms is in the future (now {now_ms} ms)")]
    FromFuture {
        /// When issued.
        issued_ms: u64,
        /// Now.
        now_ms: u64,
    },
    /// The signature does not verify.
    #[error("bad envelope signature by {0:?}")]
    BadSignature(PublicKey),
    /// The body's kind differs from the envelope's.
    #[error("envelope kind {envelope:?} but body is {body:?}")]
    KindMismatch {
        /// Stated kind.
        envelope: MessageKind,
        /// The body's kind.
        body: MessageKind,
    },
    /// The message's author is not the signer.
    #[error("message author {author:?} is not the signer {signer:?}")]
    SignerMismatch {
        /// Who signed.
        signer: PublicKey,
        /// Who the message says wrote it.
        author: PublicKey,
    },
    /// A text or list field over its bound.
    #[error("{field} is {len} long, more than {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A number over its bound (an attempt past [`rules::MAX_ATTEMPT`]).
    #[error("{field} is {value}, more than {max}")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The bound.
        max: u64,
    },
    /// A job that fails validation.
    #[error("invalid job: {0}")]
    InvalidJob(#[from] JobError),
    /// A capability record over its bounds.
    #[error("invalid capability record: {0}")]
    InvalidCapability(#[from] CapabilityError),
}

/// A gossiped protocol message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A creator's job.
    Job(JobSpec),
    /// A shard assignment.
    Assignment(Assignment),
    /// A worker's claim.
    Claim(ResultClaim),
    /// A checker's attestation.
    Attestation(Attestation),
    /// A quorum certificate (relayed by anyone).
    Certificate(QuorumCertificate),
    /// A node announcing itself and its role.
    Heartbeat(Heartbeat),
    /// A worker's hardware, engines and benchmark score.
    Capability(CapabilityRecord),
    /// A checker's vote on a governance action.
    DecisionVote(DecisionVote),
    /// A decision of the checker set (relayed by anyone).
    Decision(DecisionCertificate),
    /// Proof that a checker equivocated (relayed by anyone).
    Evidence(Evidence),
    /// A node's application to join the checker set.
    Application(SignedApplication),
    /// Credits: a transfer or mint, a vote on one, its certificate, a faucet request.
    Credits(crate::credits::CreditMessage),
}

impl Message {
    /// The kind an envelope of this message carries.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Job(_) => MessageKind::Job,
            Message::Assignment(_) => MessageKind::Assignment,
            Message::Claim(_) => MessageKind::Claim,
            Message::Attestation(_) => MessageKind::Attestation,
            Message::Certificate(_) => MessageKind::Certificate,
            Message::Heartbeat(_) => MessageKind::Heartbeat,
            Message::Capability(_) => MessageKind::Capability,
            Message::DecisionVote(_) => MessageKind::DecisionVote,
            Message::Decision(_) => MessageKind::DecisionCertificate,
            Message::Evidence(_) => MessageKind::Evidence,
            Message::Application(_) => MessageKind::Application,
            Message::Credits(_) => MessageKind::Credits,
        }
    }

    /// The bounds every message of its kind must keep (lengths of its lists and strings,
    /// a job's and a capability record's own rules). Signatures are checked elsewhere.
    pub fn validate(&self) -> Result<(), EnvelopeError> {
        let too_long = |field: &'static str, len: usize, max: usize| {
            if len > max {
                Err(EnvelopeError::TooLong { field, len, max })
            } else {
                Ok(())
            }
        };
        let attempt = |field: &'static str, value: u32| {
            if value > rules::MAX_ATTEMPT {
                Err(EnvelopeError::TooLarge {
                    field,
                    value: value.into(),
                    max: rules::MAX_ATTEMPT.into(),
                })
            } else {
                Ok(())
            }
        };
        match self {
            Message::Job(job) => job.validate()?,
            Message::Assignment(a) => attempt("assignment.attempt", a.attempt)?,
            Message::Claim(c) => {
                attempt("claim.attempt", c.attempt)?;
                too_long("claim.device", c.device.len(), MAX_DEVICE_LEN)?
            }
            Message::Heartbeat(h) => {
                too_long(
                    "heartbeat.device",
                    h.device.len(),
                    Heartbeat::MAX_DEVICE_LEN,
                )?;
                too_long(
                    "heartbeat.canaries",
                    h.canaries.len(),
                    crate::canary::MAX_REVEALS,
                )?;
                for reveal in &h.canaries {
                    attempt("canary.attempt", reveal.attempt)?;
                }
            }
            Message::Attestation(a) => {
                attempt("attestation.attempt", a.vote.attempt)?;
                too_long("attestation.samples", a.samples.len(), rules::MAX_SAMPLES)?;
                too_long("attestation.regions", a.regions.len(), rules::MAX_REGIONS)?
            }
            Message::Capability(c) => c.validate()?,
            Message::Application(a) => a.application.capability.validate()?,
            Message::DecisionVote(v) => check_action(&v.action)?,
            Message::Decision(d) => {
                too_long(
                    "decision.signatures",
                    d.signatures.len(),
                    governance::MAX_CHECKERS,
                )?;
                check_action(&d.action)?
            }
            Message::Certificate(qc) => attempt("certificate.attempt", qc.vote.attempt)?,
            Message::Evidence(_) => {}
            Message::Credits(c) => too_long(
                "credits.signatures",
                c.signature_count(),
                governance::MAX_CHECKERS,
            )?,
        }
        Ok(())
    }

    /// The key that must sign this message, or None if anyone may relay it.
    pub fn author(&self) -> Option<PublicKey> {
        match self {
            Message::Job(j) => Some(j.creator),
            Message::Assignment(a) => Some(a.assigned_by),
            Message::Claim(c) => Some(c.worker),
            Message::Attestation(a) => Some(a.checker),
            Message::Certificate(_) => None,
            Message::Heartbeat(h) => Some(h.node),
            Message::Capability(c) => Some(c.node),
            Message::DecisionVote(v) => Some(v.checker),
            Message::Application(a) => Some(a.checker()),
            Message::Decision(_) | Message::Evidence(_) => None,
            Message::Credits(c) => c.author(),
        }
    }
}

/// The bounds of an action's lists (its signatures are the ledger's to check).
fn check_action(action: &Action) -> Result<(), EnvelopeError> {
    let (field, len, max) = match action {
        Action::Recommittee { committee, .. } => (
            "action.committee",
            committee.len(),
            governance::MAX_CHECKERS,
        ),
        Action::BanChecker {
            fault:
                Fault::FalseAttestation {
                    attestation,
                    recomputed,
                    ..
                },
            ..
        } => {
            if attestation.samples.len() > rules::MAX_SAMPLES {
                (
                    "fault.samples",
                    attestation.samples.len(),
                    rules::MAX_SAMPLES,
                )
            } else if attestation.regions.len() > rules::MAX_REGIONS {
                (
                    "fault.regions",
                    attestation.regions.len(),
                    rules::MAX_REGIONS,
                )
            } else {
                (
                    "fault.recomputed",
                    recomputed.len(),
                    governance::MAX_RECOMPUTED,
                )
            }
        }
        Action::AdmitChecker { application, .. } => {
            return Ok(application.application.capability.validate()?)
        }
        Action::BanChecker { .. } => return Ok(()),
    };
    if len > max {
        return Err(EnvelopeError::TooLong { field, len, max });
    }
    Ok(())
}

/// A signed, network-bound, dated message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedEnvelope {
    /// The network id.
    pub network: String,
    /// The body's kind.
    pub kind: MessageKind,
    /// Who signed.
    pub signer: PublicKey,
    /// When the signer issued it (ms since the Unix epoch).
    pub issued_ms: u64,
    /// The canonical CBOR of a [`Message`].
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// The signer's signature over `issued_ms (u64 LE) || body`, domain `(kind, network)`.
    pub signature: Signature,
}

fn signed_body(issued_ms: u64, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + body.len());
    v.extend_from_slice(&issued_ms.to_le_bytes());
    v.extend_from_slice(body);
    v
}

impl SignedEnvelope {
    /// Wraps and signs a message.
    pub fn seal(
        keypair: &Keypair,
        network: &str,
        issued_ms: u64,
        message: &Message,
    ) -> SignedEnvelope {
        let kind = message.kind();
        let body = codec::encode(message);
        let signature = keypair.sign(kind, network, &signed_body(issued_ms, &body));
        SignedEnvelope {
            network: network.to_owned(),
            kind,
            signer: keypair.public(),
            issued_ms,
            body,
            signature,
        }
    }

    /// The envelope's date and signature, to keep beside its message as proof that its
    /// signer sent that message exactly so.
    pub fn proof(&self) -> EnvelopeProof {
        EnvelopeProof {
            issued_ms: self.issued_ms,
            signature: self.signature,
        }
    }

    /// The canonical CBOR of the envelope.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes an envelope (size-bounded, canonical) without checking it.
    pub fn decode(bytes: &[u8]) -> Result<SignedEnvelope, EnvelopeError> {
        Ok(codec::decode(bytes, MAX_GOSSIP_SIZE)?)
    }

    /// Every check that does not need the signature: network, time window.
    fn check_context(
        &self,
        network: &str,
        now_ms: u64,
        max_age_ms: u64,
    ) -> Result<(), EnvelopeError> {
        if self.network != network || validate_network_id(network).is_err() {
            return Err(EnvelopeError::WrongNetwork {
                expected: network.to_owned(),
                got: self.network.clone(),
            });
        }
        if self.issued_ms.saturating_add(max_age_ms) < now_ms {
            return Err(EnvelopeError::Stale {
                issued_ms: self.issued_ms,
                now_ms,
                max_age_ms,
            });
        }
        if self.issued_ms > now_ms.saturating_add(MAX_FUTURE_SKEW_MS) {
            return Err(EnvelopeError::FromFuture {
                issued_ms: self.issued_ms,
                now_ms,
            });
        }
        Ok(())
    }

    /// The exact bytes the signature covers (domain-separated).
    pub fn signing_message(&self) -> Vec<u8> {
        crate::identity::signing_message(
            self.kind,
            &self.network,
            &signed_body(self.issued_ms, &self.body),
        )
    }

    fn verify_signature(&self) -> Result<(), EnvelopeError> {
        self.signer
            .verify(
                self.kind,
                &self.network,
                &signed_body(self.issued_ms, &self.body),
                &self.signature,
            )
            .map_err(|_| EnvelopeError::BadSignature(self.signer))
    }

    /// Decodes the body and checks kind, author and job validity (after the signature).
    fn open_body(&self) -> Result<(PublicKey, Message), EnvelopeError> {
        let message: Message =
            codec::decode(&self.body, MAX_GOSSIP_SIZE).map_err(EnvelopeError::Body)?;
        if message.kind() != self.kind {
            return Err(EnvelopeError::KindMismatch {
                envelope: self.kind,
                body: message.kind(),
            });
        }
        if let Some(author) = message.author() {
            if author != self.signer {
                return Err(EnvelopeError::SignerMismatch {
                    signer: self.signer,
                    author,
                });
            }
        }
        message.validate()?;
        Ok((self.signer, message))
    }

    /// Decodes and checks an envelope: size, canonical encoding, network, age, signature
    /// (strict), body kind and author. Returns the signer and the message.
    pub fn open(
        bytes: &[u8],
        network: &str,
        now_ms: u64,
        max_age_ms: u64,
    ) -> Result<(PublicKey, Message), EnvelopeError> {
        let env = SignedEnvelope::decode(bytes)?;
        env.check_context(network, now_ms, max_age_ms)?;
        env.verify_signature()?;
        env.open_body()
    }
}

/// Opens many envelopes, checking signatures with one ed25519 batch verification and
/// falling back to one-by-one strict verification to find the bad ones when the batch
/// fails. Results are in input order, and the same as [`SignedEnvelope::open`] one by one:
/// signatures that strict verification refuses outright (weak keys, small-order `R`),
/// which a batch would not notice, never enter the batch and are checked on their own.
pub fn open_batch(
    items: &[&[u8]],
    network: &str,
    now_ms: u64,
    max_age_ms: u64,
) -> Vec<Result<(PublicKey, Message), EnvelopeError>> {
    open_batch_proved(items, network, now_ms, max_age_ms)
        .into_iter()
        .map(|r| r.map(|(signer, message, _)| (signer, message)))
        .collect()
}

/// [`open_batch`], with each envelope's [`EnvelopeProof`] kept beside its message (the
/// evidence that its signer sent it so).
pub fn open_batch_proved(
    items: &[&[u8]],
    network: &str,
    now_ms: u64,
    max_age_ms: u64,
) -> Vec<Result<(PublicKey, Message, EnvelopeProof), EnvelopeError>> {
    let mut results: Vec<Result<SignedEnvelope, EnvelopeError>> = items
        .iter()
        .map(|b| {
            let env = SignedEnvelope::decode(b)?;
            env.check_context(network, now_ms, max_age_ms)?;
            Ok(env)
        })
        .collect();
    let mut batched = vec![false; results.len()];
    let mut equation = Equation::with_capacity(results.len());
    for (i, r) in results.iter().enumerate() {
        let Ok(env) = r else { continue };
        // Signatures the rule refuses before any arithmetic are checked one by one.
        let (Some(key), Some(signature)) =
            (equation.key(&env.signer), Candidate::parse(&env.signature))
        else {
            continue;
        };
        batched[i] = true;
        equation.push(key, &signature, &[&env.signing_message()]);
    }
    let batch_ok = !equation.is_empty() && equation.holds();
    for (i, r) in results.iter_mut().enumerate() {
        if let Ok(env) = r {
            if !(batched[i] && batch_ok) {
                if let Err(e) = env.verify_signature() {
                    *r = Err(e);
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.and_then(|env| {
                let (signer, message) = env.open_body()?;
                Ok((signer, message, env.proof()))
            })
        })
        .collect()
}

mod proof;
pub use proof::EnvelopeProof;

#[cfg(test)]
mod tests;
