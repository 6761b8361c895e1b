//! Quorum certificates (more than two thirds of a committee signed the same vote), the
//! collector that builds them, and equivocation evidence.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::attestation::{Attestation, AttestationError, Vote};
use crate::claim::ClaimId;
use crate::identity::{MessageKind, PublicKey, Signature, SignatureError};
use crate::job::JobId;
use crate::rules;

mod checked;

pub use checked::CheckedVotes;

impl From<rules::SignersFault> for CertificateError {
    fn from(fault: rules::SignersFault) -> CertificateError {
        match fault {
            rules::SignersFault::NoQuorum { got, needed, set } => CertificateError::NoQuorum {
                got,
                needed,
                committee: set,
            },
            rules::SignersFault::DuplicateOrUnsorted(k) => CertificateError::DuplicateOrUnsorted(k),
            rules::SignersFault::NotMember(k) => CertificateError::NotMember(k),
        }
    }
}

/// Why a certificate or evidence was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// A signer is not in the committee.
    #[error("signer {0:?} is not a committee member")]
    NotMember(PublicKey),
    /// Signatures must be sorted by key with no key twice.
    #[error("signatures are not sorted by key or a signer appears twice ({0:?})")]
    DuplicateOrUnsorted(PublicKey),
    /// Fewer signatures than the quorum threshold.
    #[error("{got} signatures, quorum is {needed} of {committee}")]
    NoQuorum {
        /// Valid signers present.
        got: usize,
        /// Threshold.
        needed: usize,
        /// Committee size.
        committee: usize,
    },
    /// A signature does not verify.
    #[error("signature by {signer:?}: {error}")]
    BadSignature {
        /// The signer.
        signer: PublicKey,
        /// Why.
        error: SignatureError,
    },
    /// An attestation is about another claim than the collector's.
    #[error("attestation is for claim {got:?}, collecting {expected:?}")]
    WrongClaim {
        /// The collector's claim.
        expected: ClaimId,
        /// The attestation's claim.
        got: ClaimId,
    },
    /// An attestation did not verify.
    #[error("invalid attestation: {0}")]
    Attestation(#[from] AttestationError),
    /// Evidence whose two votes are not a conflict (different claims or the same vote).
    #[error("the two votes do not conflict")]
    NotConflicting,
}

/// Signatures of more than two thirds of a committee on one vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuorumCertificate {
    /// The certified vote.
    pub vote: Vote,
    /// `(signer, signature)`, sorted by signer, unique.
    pub signatures: Vec<(PublicKey, Signature)>,
}

impl QuorumCertificate {
    /// The signers, in order.
    pub fn signers(&self) -> impl Iterator<Item = &PublicKey> {
        self.signatures.iter().map(|(k, _)| k)
    }

    /// Verifies the certificate against `committee` (duplicates in `committee` count once).
    pub fn verify(&self, network: &str, committee: &[PublicKey]) -> Result<(), CertificateError> {
        self.verify_checked(network, committee, &mut CheckedVotes::new(0))
    }

    /// [`QuorumCertificate::verify`], without checking again the signatures in `checked`
    /// (votes this node already verified, as attestations); those it checks are added.
    pub fn verify_checked(
        &self,
        network: &str,
        committee: &[PublicKey],
        checked: &mut CheckedVotes,
    ) -> Result<(), CertificateError> {
        let members: BTreeSet<&PublicKey> = committee.iter().collect();
        // Sorted, unique and members, so never more signatures than members.
        rules::check_signers(self.signatures.iter().map(|(s, _)| s), &members)?;
        let bytes = self.vote.signing_bytes();
        for (signer, sig) in &self.signatures {
            if checked.contains_signed(network, &bytes, signer, sig) {
                continue;
            }
            signer
                .verify(MessageKind::Vote, network, &bytes, sig)
                .map_err(|error| CertificateError::BadSignature {
                    signer: *signer,
                    error,
                })?;
            checked.insert_signed(network, &bytes, signer, sig);
        }
        Ok(())
    }
}

/// What adding an attestation to a [`VoteCollector`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Collected {
    /// Recorded; no quorum yet (or already certified).
    Pending,
    /// This checker already cast this vote.
    Duplicate,
    /// This attestation completed a quorum (returned once per collector).
    Certified(QuorumCertificate),
    /// The checker signed a conflicting vote on the same claim.
    Equivocation(Box<Evidence>),
}

/// Collects attestations on one claim from one committee and yields a certificate when a
/// quorum agrees on the same vote. Memory is bounded by the committee size.
#[derive(Debug, Clone)]
pub struct VoteCollector {
    network: String,
    claim: ClaimId,
    committee: BTreeSet<PublicKey>,
    votes: BTreeMap<PublicKey, (Vote, Signature)>,
    certified: Option<QuorumCertificate>,
}

impl VoteCollector {
    /// A collector for `claim`.
    pub fn new(network: &str, claim: ClaimId, committee: &[PublicKey]) -> VoteCollector {
        VoteCollector {
            network: network.to_owned(),
            claim,
            committee: committee.iter().copied().collect(),
            votes: BTreeMap::new(),
            certified: None,
        }
    }

    /// The certificate, once reached.
    pub fn certificate(&self) -> Option<&QuorumCertificate> {
        self.certified.as_ref()
    }

    /// The job of the claim, once a vote is in (a vote names its shard).
    pub fn job(&self) -> Option<JobId> {
        self.votes.values().next().map(|(vote, _)| vote.shard.job)
    }

    /// A collector for the same claim under a new committee (the job moved): the votes of
    /// members that sit on both stay; a certificate the old committee reached does not.
    pub fn regroup(&self, committee: &[PublicKey]) -> VoteCollector {
        let committee: BTreeSet<PublicKey> = committee.iter().copied().collect();
        VoteCollector {
            network: self.network.clone(),
            claim: self.claim,
            votes: self
                .votes
                .iter()
                .filter(|(k, _)| committee.contains(k))
                .map(|(k, v)| (*k, *v))
                .collect(),
            committee,
            certified: None,
        }
    }

    /// The certificate the votes already held make, if they make one and none was made
    /// yet (after [`VoteCollector::regroup`], the members that stay may already agree).
    pub fn quorum(&mut self) -> Option<QuorumCertificate> {
        if self.certified.is_some() {
            return None;
        }
        let needed = rules::quorum_threshold(self.committee.len());
        let votes: BTreeSet<Vote> = self.votes.values().map(|(v, _)| *v).collect();
        for vote in votes {
            let signatures: Vec<(PublicKey, Signature)> = self
                .votes
                .iter()
                .filter(|(_, (v, _))| *v == vote)
                .map(|(k, (_, s))| (*k, *s))
                .collect();
            if signatures.len() >= needed {
                let qc = QuorumCertificate { vote, signatures };
                self.certified = Some(qc.clone());
                return Some(qc);
            }
        }
        None
    }

    /// Drops `checker`'s vote (it was banned). The quorum stays more than two thirds of
    /// the whole committee; the caller no longer feeds that checker's votes.
    pub fn drop_vote(&mut self, checker: &PublicKey) {
        self.votes.remove(checker);
    }

    /// Number of checkers that voted.
    pub fn votes(&self) -> usize {
        self.votes.len()
    }

    /// Adds an attestation, verifying its signatures and verdict first.
    pub fn add(&mut self, att: &Attestation) -> Result<Collected, CertificateError> {
        // The cheap checks first: no signature work for a foreign claim or an outsider.
        self.admit(att)?;
        att.verify(&self.network)?;
        self.add_verified(att)
    }

    /// Adds an attestation whose signatures and verdict the caller has already verified
    /// ([`Attestation::verify`] for this collector's network); only the claim and the
    /// committee membership are checked here. For a node whose gossip validator verifies
    /// every attestation once before handing it on.
    pub fn add_verified(&mut self, att: &Attestation) -> Result<Collected, CertificateError> {
        self.admit(att)?;
        if let Some((vote, sig)) = self.votes.get(&att.checker) {
            if *vote == att.vote {
                return Ok(Collected::Duplicate);
            }
            return Ok(Collected::Equivocation(Box::new(Evidence::new(
                att.checker,
                (*vote, *sig),
                (att.vote, att.vote_signature),
            ))));
        }
        self.votes
            .insert(att.checker, (att.vote, att.vote_signature));
        if self.certified.is_some() {
            return Ok(Collected::Pending);
        }
        let signatures: Vec<(PublicKey, Signature)> = self
            .votes
            .iter()
            .filter(|(_, (v, _))| *v == att.vote)
            .map(|(k, (_, s))| (*k, *s))
            .collect();
        if signatures.len() >= rules::quorum_threshold(self.committee.len()) {
            let qc = QuorumCertificate {
                vote: att.vote,
                signatures,
            };
            self.certified = Some(qc.clone());
            return Ok(Collected::Certified(qc));
        }
        Ok(Collected::Pending)
    }

    /// Whether `att` is about this collector's claim and by a committee member.
    fn admit(&self, att: &Attestation) -> Result<(), CertificateError> {
        if att.vote.claim != self.claim {
            return Err(CertificateError::WrongClaim {
                expected: self.claim,
                got: att.vote.claim,
            });
        }
        if !self.committee.contains(&att.checker) {
            return Err(CertificateError::NotMember(att.checker));
        }
        Ok(())
    }
}

/// Proof that a checker signed two different votes on the same claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The equivocating checker.
    pub checker: PublicKey,
    /// One vote and its signature (the smaller of the two votes).
    pub first: (Vote, Signature),
    /// The other vote and its signature.
    pub second: (Vote, Signature),
}

impl Evidence {
    /// Evidence in canonical order (smaller vote first), so equal evidence is equal bytes.
    pub fn new(checker: PublicKey, a: (Vote, Signature), b: (Vote, Signature)) -> Evidence {
        let (first, second) = if a.0 <= b.0 { (a, b) } else { (b, a) };
        Evidence {
            checker,
            first,
            second,
        }
    }

    /// Checks the votes conflict (same claim, different votes) and both signatures verify.
    pub fn verify(&self, network: &str) -> Result<(), CertificateError> {
        let (a, b) = (&self.first, &self.second);
        if a.0.claim != b.0.claim || a.0 == b.0 {
            return Err(CertificateError::NotConflicting);
        }
        for (vote, sig) in [a, b] {
            vote.verify(network, &self.checker, sig).map_err(|error| {
                CertificateError::BadSignature {
                    signer: self.checker,
                    error,
                }
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
