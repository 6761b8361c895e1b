//! Gossip validation off the network task.
//!
//! The event loop hands every gossiped message to a bounded queue; a validator task takes
//! up to [`BATCH`] at a time and checks them (size, strict decoding, network id,
//! freshness, signatures with the answers of one-by-one checks but verified in batches,
//! author, and the signatures inside attestations and certificates): a batch of at most
//! [`INLINE`] messages on the validator task itself, a larger one on the blocking pool.
//! Verdicts come back to the loop, which reports them to
//! gossipsub (so only valid messages are forwarded) and acts on the valid ones. When the
//! queue is full a message is ignored, not penalised: a burst is not an offence.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use libp2p::{gossipsub::MessageId, PeerId};
#[cfg(test)]
use pictor_protocol::SignedEnvelope;
use pictor_protocol::{
    attestation::verify_batch,
    credits::{CreditError, CreditMessage, EscrowOrder},
    open_batch_proved, Attestation, AttestationError, CheckedVotes, EnvelopeError, EnvelopeProof,
    Evidence, Ledger, Message,
};
use tokio::sync::mpsc;

use crate::now_ms;

/// Messages checked together.
pub(crate) const BATCH: usize = 64;
/// Batches of at most this many messages (a few signature checks, well under a
/// millisecond) are checked on the validator task: handing them to the blocking pool and
/// back would cost two thread wake-ups, about as much as the checks themselves.
pub(crate) const INLINE: usize = 4;
/// Messages waiting for validation before new ones are ignored.
pub(crate) const QUEUE: usize = 1024;
/// Vote signatures remembered as checked (about four a shard), so that a certificate
/// whose votes came as attestations costs one signature check.
pub(crate) const CHECKED_VOTES: usize = 8192;

/// The vote signatures this node has checked (or made), shared by the validator and the
/// loop.
#[derive(Debug, Clone)]
pub(crate) struct Checked(Arc<Mutex<CheckedVotes>>);

impl Checked {
    /// An empty set.
    pub(crate) fn new() -> Checked {
        Checked(Arc::new(Mutex::new(CheckedVotes::new(CHECKED_VOTES))))
    }

    /// The set (a poisoned lock is still a valid set).
    pub(crate) fn lock(&self) -> MutexGuard<'_, CheckedVotes> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The checker set's ledger as this node knows it, shared by the validator (a shard
/// certificate verifies against any certified committee of its job) and the loop (which
/// applies every decision and piece of evidence it accepts).
#[derive(Debug, Clone)]
pub(crate) struct SharedLedger(Arc<Mutex<Ledger>>);

impl SharedLedger {
    /// The genesis ledger.
    pub(crate) fn new(ledger: Ledger) -> SharedLedger {
        SharedLedger(Arc::new(Mutex::new(ledger)))
    }

    /// The ledger (a poisoned lock still holds a valid ledger: every change is one insert).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Ledger> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One gossiped message waiting for its verdict.
#[derive(Debug)]
pub(crate) struct Unchecked {
    pub(crate) source: PeerId,
    pub(crate) id: MessageId,
    pub(crate) data: Vec<u8>,
}

/// A message's verdict: the message, or why it was refused.
#[derive(Debug)]
pub(crate) struct Validated {
    pub(crate) source: PeerId,
    pub(crate) id: MessageId,
    pub(crate) result: Result<Box<Message>, Refusal>,
    /// For an attestation: the proof of its envelope (its checker's signature over its
    /// sampled values, the evidence a peer check may need).
    pub(crate) proof: Option<EnvelopeProof>,
}

/// What the validator needs to know of the network.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) network: String,
    pub(crate) ledger: SharedLedger,
    pub(crate) max_age_ms: u64,
    pub(crate) checked: Checked,
    /// The network's canary rate: a heartbeat's canary reveals must hold at it.
    pub(crate) canary_rate_ppm: u32,
    /// The network's faucet key; None on a network without credits.
    pub(crate) faucet: Option<pictor_protocol::PublicKey>,
}

/// Why a gossiped message was not taken in, and whether its forwarder is to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) reason: String,
    /// True when the message is wrong in itself (malformed, a bad signature, a forged
    /// quorum): whoever forwarded it did not check it. False when it is refused only for
    /// what this node knows now (a signer banned since, a committee moved, an envelope aged
    /// in transit): an honest peer that forwarded it a moment earlier checked it right.
    pub(crate) penalise: bool,
}

impl Refusal {
    fn invalid(reason: impl ToString) -> Refusal {
        Refusal {
            reason: reason.to_string(),
            penalise: true,
        }
    }

    fn outdated(reason: impl ToString) -> Refusal {
        Refusal {
            reason: reason.to_string(),
            penalise: false,
        }
    }
}

/// An envelope's error, as a refusal: age depends on the clock and the path, not on what
/// the envelope says.
fn envelope_refusal(e: EnvelopeError) -> Refusal {
    match e {
        EnvelopeError::Stale { .. } | EnvelopeError::FromFuture { .. } => Refusal::outdated(e),
        other => Refusal::invalid(other),
    }
}

/// A certificate's error, as a refusal: membership and quorum depend on the committee this
/// node knows, signatures do not.
fn certificate_refusal(e: pictor_protocol::CertificateError) -> Refusal {
    use pictor_protocol::CertificateError as E;
    match e {
        E::NotMember(_) | E::NoQuorum { .. } => Refusal::outdated(e),
        other => Refusal::invalid(other),
    }
}

/// A decision's error, as a refusal: a signer banned here since it signed is not its
/// forwarder's fault.
fn governance_refusal(e: pictor_protocol::GovernanceError) -> Refusal {
    use pictor_protocol::GovernanceError as E;
    match e {
        E::NotChecker(_) | E::NoQuorum { .. } | E::BadGeneration { .. } | E::Admission(_) => {
            Refusal::outdated(e)
        }
        other => Refusal::invalid(other),
    }
}

impl Rules {
    /// Every check that needs only the message itself (and the ledger this node holds).
    #[cfg(test)]
    pub(crate) fn check(&self, data: &[u8], now_ms: u64) -> Result<Message, Refusal> {
        let (_, message) = SignedEnvelope::open(data, &self.network, now_ms, self.max_age_ms)
            .map_err(envelope_refusal)?;
        self.check_opened(message, None)
    }

    /// The checks of [`Rules::check`] for many messages at once, with the same answers:
    /// the envelopes' signatures are verified in one batch, and both signatures of every
    /// attestation among them in another. An attestation comes with its envelope's proof
    /// (the evidence a peer check may need).
    pub(crate) fn check_batch(
        &self,
        items: &[&[u8]],
        now_ms: u64,
    ) -> Vec<(Result<Message, Refusal>, Option<EnvelopeProof>)> {
        let opened = open_batch_proved(items, &self.network, now_ms, self.max_age_ms);
        let attestations: Vec<&Attestation> = opened
            .iter()
            .filter_map(|r| match r {
                Ok((_, Message::Attestation(a), _)) => Some(a),
                _ => None,
            })
            .collect();
        let mut verdicts = verify_batch(&attestations, &self.network).into_iter();
        opened
            .into_iter()
            .map(|r| {
                let (_, message, proof) = match r {
                    Ok(opened) => opened,
                    Err(e) => return (Err(envelope_refusal(e)), None),
                };
                let (verdict, proof) = match &message {
                    Message::Attestation(_) => (verdicts.next(), Some(proof)),
                    _ => (None, None),
                };
                (self.check_opened(message, verdict), proof)
            })
            .collect()
    }

    /// The checks after the envelope's; `verdict` is an attestation's signature check,
    /// when it was made in a batch.
    fn check_opened(
        &self,
        message: Message,
        verdict: Option<Result<(), AttestationError>>,
    ) -> Result<Message, Refusal> {
        match &message {
            Message::Heartbeat(h) => {
                for reveal in &h.canaries {
                    reveal
                        .verify(&self.network, &h.node, self.canary_rate_ppm)
                        .map_err(Refusal::invalid)?;
                }
            }
            Message::Attestation(a) => {
                verdict
                    .unwrap_or_else(|| a.verify(&self.network))
                    .map_err(Refusal::invalid)?;
                self.checked
                    .lock()
                    .insert(&self.network, &a.vote, &a.checker, &a.vote_signature);
            }
            Message::Certificate(qc) => {
                let committees = self.ledger.lock().committees(&qc.vote.shard.job);
                // Any committee the job has had may certify it (the set moved it); held
                // while the certificate's unknown votes are checked: as a rule none.
                let mut result = Err(Refusal::outdated("no committee known for its job"));
                for committee in &committees {
                    result = qc
                        .verify_checked(&self.network, committee, &mut self.checked.lock())
                        .map_err(certificate_refusal);
                    if result.is_ok() {
                        break;
                    }
                }
                result?
            }
            Message::DecisionVote(v) => {
                let ledger = self.ledger.lock();
                let set = ledger.signers_for(&v.action);
                if !set.contains(&v.checker) {
                    return Err(Refusal::outdated(format!(
                        "decision vote by {}, not a checker of its epoch",
                        v.checker.short()
                    )));
                }
                v.action
                    .check(&self.network, &set, set.len())
                    .map_err(governance_refusal)?;
                drop(set);
                drop(ledger);
                v.verify(&self.network).map_err(governance_refusal)?
            }
            Message::Decision(cert) => {
                let ledger = self.ledger.lock().clone();
                if cert
                    .action
                    .epoch()
                    .is_some_and(|e| e > ledger.epoch().saturating_add(1))
                {
                    return Err(Refusal::outdated("a decision of an epoch to come"));
                }
                if ledger.settled(&cert.action) {
                    // Applied already (on another member's certificate): nothing to check
                    // or to pass on.
                    return Err(Refusal::outdated("a decision applied already"));
                }
                let set = ledger.signers_for(&cert.action);
                cert.verify(&self.network, &set, |k| !ledger.is_banned(k))
                    .map_err(governance_refusal)?;
                cert.action
                    .check(&self.network, &set, set.len())
                    .map_err(governance_refusal)?
            }
            Message::Application(application) => application
                .verify(&self.network)
                .map_err(governance_refusal)?,
            Message::Evidence(evidence) => check_evidence(&self.network, &self.ledger, evidence)?,
            Message::Credits(c) => self.check_credits(c)?,
            _ => {}
        }
        Ok(message)
    }
}

impl Rules {
    /// The signatures of a credits message: an order's owner's (or the faucet's), a vote's
    /// checker's (a checker of the set), a certificate's quorum of the set.
    fn check_credits(&self, message: &CreditMessage) -> Result<(), Refusal> {
        let Some(faucet) = &self.faucet else {
            return Err(Refusal::outdated("this network has no credits"));
        };
        let set = self.ledger.lock().set().to_vec();
        let network = &self.network;
        match message {
            CreditMessage::Transfer(t) => t.verify(network).map_err(Refusal::invalid),
            CreditMessage::TransferVote(v) => check_transfer_vote(network, &set, v),
            CreditMessage::TransferCertificate(_)
            | CreditMessage::MintCertificate(_)
            | CreditMessage::EscrowCertificate(_) => {
                check_credit_certificate(network, &self.ledger, faucet, message)
            }
            CreditMessage::Mint(m) => m.verify(network, faucet).map_err(Refusal::invalid),
            CreditMessage::MintVote(v) => {
                member(&set, &v.checker)?;
                v.verify(network).map_err(Refusal::invalid)
            }
            CreditMessage::EscrowVote(v) => {
                escrow_committee(&self.ledger, &v.order)?;
                member(&v.order.committee, &v.checker)?;
                v.verify(network).map_err(Refusal::invalid)
            }
            // Its author, the job's creator, signed the envelope.
            CreditMessage::EscrowClose(_) => Ok(()),
            CreditMessage::FaucetRequest { amount, .. } => {
                if *amount == 0 {
                    Err(Refusal::invalid("a faucet request for 0 credits"))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// The checks on a credits certificate, gossiped or from a peer a node catches up from:
/// a transfer's or a mint's against the checker set (and a mint the faucet's), an escrow
/// order's against a committee its job has had.
pub(crate) fn check_credit_certificate(
    network: &str,
    ledger: &SharedLedger,
    faucet: &pictor_protocol::PublicKey,
    message: &CreditMessage,
) -> Result<(), Refusal> {
    match message {
        // Signed by a quorum of the set now, or of a set the network had before (a node
        // catching up on certificates made before an admission).
        CreditMessage::TransferCertificate(c) => {
            let sets = ledger.lock().sets();
            let ok = sets.iter().find_map(|s| c.verify(network, s).ok());
            ok.map_or_else(|| c.verify(network, &sets[0]).map_err(credits_refusal), Ok)
        }
        CreditMessage::MintCertificate(c) => {
            let sets = ledger.lock().sets();
            let ok = sets.iter().find_map(|s| c.verify(network, faucet, s).ok());
            ok.map_or_else(
                || c.verify(network, faucet, &sets[0]).map_err(credits_refusal),
                Ok,
            )
        }
        CreditMessage::EscrowCertificate(c) => {
            escrow_committee(ledger, &c.order)?;
            c.verify(network, &c.order.committee)
                .map_err(credits_refusal)
        }
        _ => Err(Refusal::invalid("not a credits certificate")),
    }
}

/// An escrow order names a committee its job has had (by this node's governance ledger):
/// only that committee pays the job's workers and earns its fees.
fn escrow_committee(ledger: &SharedLedger, order: &EscrowOrder) -> Result<(), Refusal> {
    order.check().map_err(Refusal::invalid)?;
    let committees = ledger.lock().committees(&order.escrow.job);
    let named = committees.into_iter().any(|mut c| {
        c.sort_unstable();
        c.dedup();
        c == order.committee
    });
    if named {
        Ok(())
    } else {
        Err(Refusal::outdated(format!(
            "an escrow order of job {} names a committee the job has not had",
            order.escrow.job.short()
        )))
    }
}

/// The checks on a checker's vote on a transfer, gossiped or sent to the owner: by a
/// checker of `set`, its signature good.
pub(crate) fn check_transfer_vote(
    network: &str,
    set: &[pictor_protocol::PublicKey],
    vote: &pictor_protocol::credits::TransferVote,
) -> Result<(), Refusal> {
    member(set, &vote.checker)?;
    vote.verify(network).map_err(Refusal::invalid)
}

fn member(
    set: &[pictor_protocol::PublicKey],
    checker: &pictor_protocol::PublicKey,
) -> Result<(), Refusal> {
    if set.contains(checker) {
        Ok(())
    } else {
        Err(Refusal::outdated(format!(
            "a credits vote by {}, not a checker of the set",
            checker.short()
        )))
    }
}

/// A credits certificate's error, as a refusal: signers outside the set as this node knows
/// it may be a set it has not caught up with.
fn credits_refusal(e: CreditError) -> Refusal {
    match e {
        CreditError::NotMember(_) | CreditError::NoQuorum { .. } => Refusal::outdated(e),
        other => Refusal::invalid(other),
    }
}

/// The checks on a piece of equivocation evidence, gossiped or in a peer's answer: its
/// two votes conflict and carry the signatures of the checker it names, a checker of the
/// set or admitted to it.
pub(crate) fn check_evidence(
    network: &str,
    ledger: &SharedLedger,
    evidence: &Evidence,
) -> Result<(), Refusal> {
    evidence.verify(network).map_err(Refusal::invalid)?;
    let ledger = ledger.lock();
    if !ledger.set().contains(&evidence.checker) && !ledger.is_admitted(&evidence.checker) {
        return Err(Refusal::outdated(
            "evidence against a key outside the checker set",
        ));
    }
    Ok(())
}

/// The verdicts on `batch`, in its order.
fn check(rules: &Rules, batch: Vec<Unchecked>) -> Vec<Validated> {
    let items: Vec<&[u8]> = batch.iter().map(|m| m.data.as_slice()).collect();
    let results = rules.check_batch(&items, now_ms());
    batch
        .into_iter()
        .zip(results)
        .map(|(m, (result, proof))| Validated {
            source: m.source,
            id: m.id,
            proof: proof.filter(|_| result.is_ok()),
            result: result.map(Box::new),
        })
        .collect()
}

/// Starts the validator; returns the queue to feed it.
pub(crate) fn spawn(rules: Rules, verdicts: mpsc::Sender<Validated>) -> mpsc::Sender<Unchecked> {
    let (tx, mut rx) = mpsc::channel::<Unchecked>(QUEUE);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let checked = if batch.len() <= INLINE {
                check(&rules, batch)
            } else {
                let rules = rules.clone();
                match tokio::task::spawn_blocking(move || check(&rules, batch)).await {
                    Ok(checked) => checked,
                    Err(_) => continue,
                }
            };
            for verdict in checked {
                if verdicts.send(verdict).await.is_err() {
                    return;
                }
            }
        }
    });
    tx
}

#[cfg(test)]
#[path = "validation_tests.rs"]
mod tests;
