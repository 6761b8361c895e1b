//! Decisions of the checker set: an [`Action`], the votes checkers sign on it, and the
//! certificate that more than two thirds of the set make final.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Fault, GovernanceError, SignedApplication, MAX_CHECKERS};
use crate::codec;
use crate::identity::{Keypair, MessageKind, PublicKey, Signature};
use crate::job::JobId;
use crate::rules;

/// What the checker set decides.
// Decisions are rare and moved once; boxing the fault would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// The job moves to a new committee (members of the old one are lost). `generation`
    /// counts the moves: the committee of [`rules::committee`] is generation 0.
    Recommittee {
        /// The job.
        job: JobId,
        /// The new committee's generation (at least 1).
        generation: u32,
        /// The new committee, in the order that names its leaders.
        committee: Vec<PublicKey>,
    },
    /// A checker is banned for a fault that anyone can check.
    BanChecker {
        /// The accused.
        checker: PublicKey,
        /// What it did.
        fault: Fault,
    },
    /// An applicant joins the set, [`JOIN_DELAY_EPOCHS`](super::JOIN_DELAY_EPOCHS) epochs
    /// after `epoch`. The certificate is signed by more than two thirds of the set of
    /// `epoch`.
    AdmitChecker {
        /// The epoch the decision is made in.
        epoch: u64,
        /// The signed application.
        application: SignedApplication,
    },
}

/// The id of an action: blake3 of its canonical CBOR. Checkers sign the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ActionId(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl ActionId {
    /// The first 8 hex characters.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl Action {
    /// Its id.
    pub fn id(&self) -> ActionId {
        ActionId(*blake3::hash(&codec::encode(self)).as_bytes())
    }

    /// Checks what the action states on its own: a committee of distinct checkers of
    /// `set`, of at most `max_committee` members, a generation of at least 1; a fault
    /// that holds up without re-rendering.
    pub fn check(
        &self,
        network: &str,
        set: &[PublicKey],
        max_committee: usize,
    ) -> Result<(), GovernanceError> {
        match self {
            Action::Recommittee {
                generation,
                committee,
                ..
            } => {
                if *generation == 0 {
                    return Err(GovernanceError::BadGeneration { generation: 0 });
                }
                if committee.is_empty() || committee.len() > max_committee.min(MAX_CHECKERS) {
                    return Err(GovernanceError::BadCommittee("empty or too large"));
                }
                let mut seen = std::collections::BTreeSet::new();
                for k in committee {
                    if !set.contains(k) {
                        return Err(GovernanceError::BadCommittee("names a non-checker"));
                    }
                    if !seen.insert(*k) {
                        return Err(GovernanceError::BadCommittee("a member appears twice"));
                    }
                }
                Ok(())
            }
            Action::BanChecker { checker, fault } => {
                if fault.accused() != *checker {
                    return Err(GovernanceError::Fault(
                        "the fault is held against another checker".into(),
                    ));
                }
                if !set.contains(checker) {
                    return Err(GovernanceError::NotChecker(*checker));
                }
                fault.check(network)
            }
            Action::AdmitChecker { application, .. } => {
                if set.contains(&application.checker()) {
                    return Err(GovernanceError::Admission("already a checker"));
                }
                if set.len() >= MAX_CHECKERS {
                    return Err(GovernanceError::Admission("the set is full"));
                }
                application.verify(network)
            }
        }
    }

    /// The order certificates are applied in when many come at once (a restart, a peer's
    /// answer): admissions by epoch, each after those whose checkers may sign it, then
    /// everything else, which the set of the current epoch signs.
    pub fn apply_order(&self) -> u64 {
        self.epoch().unwrap_or(u64::MAX)
    }

    /// The epoch whose set signs this action's certificate, for actions that name one.
    pub fn epoch(&self) -> Option<u64> {
        match self {
            Action::AdmitChecker { epoch, .. } => Some(*epoch),
            _ => None,
        }
    }

    /// One line for logs and summaries.
    pub fn describe(&self) -> String {
        match self {
            Action::Recommittee {
                job,
                generation,
                committee,
            } => format!(
                "job {} moves to committee generation {generation} ({} members)",
                job.short(),
                committee.len()
            ),
            Action::BanChecker { checker, fault } => {
                format!(
                    "checker {} is banned: {}",
                    checker.short(),
                    fault.describe()
                )
            }
            Action::AdmitChecker { epoch, application } => format!(
                "checker {} is admitted in epoch {epoch}",
                application.checker().short()
            ),
        }
    }
}

/// One checker's signed vote for an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionVote {
    /// What it votes for.
    pub action: Action,
    /// The voter.
    pub checker: PublicKey,
    /// Its signature over the action's id ([`MessageKind::Decision`]).
    pub signature: Signature,
}

impl DecisionVote {
    /// `keypair`'s vote for `action`.
    pub fn new(keypair: &Keypair, network: &str, action: Action) -> DecisionVote {
        let signature = keypair.sign(MessageKind::Decision, network, &action.id().0);
        DecisionVote {
            action,
            checker: keypair.public(),
            signature,
        }
    }

    /// Checks the signature.
    pub fn verify(&self, network: &str) -> Result<(), GovernanceError> {
        verify_one(network, &self.action.id(), &self.checker, &self.signature)
    }
}

fn verify_one(
    network: &str,
    id: &ActionId,
    signer: &PublicKey,
    signature: &Signature,
) -> Result<(), GovernanceError> {
    signer
        .verify(MessageKind::Decision, network, &id.0, signature)
        .map_err(|error| GovernanceError::BadSignature {
            signer: *signer,
            error,
        })
}

/// An action signed by more than two thirds of the checker set: final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionCertificate {
    /// The decided action.
    pub action: Action,
    /// `(signer, signature)`, sorted by signer, unique.
    pub signatures: Vec<(PublicKey, Signature)>,
}

impl DecisionCertificate {
    /// Verifies the certificate against the checker `set`: sorted, unique signers, every
    /// one a member that `counts` (not banned), every signature valid, and more than two
    /// thirds of the whole set among them. The action's own checks are the caller's
    /// ([`Action::check`]).
    pub fn verify(
        &self,
        network: &str,
        set: &[PublicKey],
        counts: impl Fn(&PublicKey) -> bool,
    ) -> Result<(), GovernanceError> {
        if self.signatures.len() > set.len() {
            return Err(GovernanceError::NoQuorum {
                got: self.signatures.len(),
                needed: rules::quorum_threshold(set.len()),
                set: set.len(),
            });
        }
        let id = self.action.id();
        let mut last: Option<PublicKey> = None;
        for (signer, signature) in &self.signatures {
            if last.is_some_and(|l| l >= *signer) {
                return Err(GovernanceError::DuplicateOrUnsorted(*signer));
            }
            last = Some(*signer);
            if !set.contains(signer) || !counts(signer) {
                return Err(GovernanceError::NotChecker(*signer));
            }
            verify_one(network, &id, signer, signature)?;
        }
        let needed = rules::quorum_threshold(set.len());
        if self.signatures.len() < needed {
            return Err(GovernanceError::NoQuorum {
                got: self.signatures.len(),
                needed,
                set: set.len(),
            });
        }
        Ok(())
    }
}

/// Collects verified votes on actions and yields a certificate once more than two thirds
/// of the set voted for the same action. Holds at most `max_actions` open actions.
#[derive(Debug, Clone)]
pub struct DecisionCollector {
    set_size: usize,
    max_actions: usize,
    open: BTreeMap<ActionId, (Action, BTreeMap<PublicKey, Signature>)>,
    decided: std::collections::BTreeSet<ActionId>,
}

impl DecisionCollector {
    /// A collector for a set of `set_size` checkers.
    pub fn new(set_size: usize, max_actions: usize) -> DecisionCollector {
        DecisionCollector {
            set_size,
            max_actions,
            open: BTreeMap::new(),
            decided: Default::default(),
        }
    }

    /// Adds a vote whose signature and voter the caller has verified. Returns the
    /// certificate when this vote completes a quorum (once per action).
    pub fn add_verified(&mut self, vote: DecisionVote) -> Option<DecisionCertificate> {
        let id = vote.action.id();
        if self.decided.contains(&id) {
            return None;
        }
        if !self.open.contains_key(&id) && self.open.len() >= self.max_actions {
            return None;
        }
        let entry = self
            .open
            .entry(id)
            .or_insert_with(|| (vote.action.clone(), BTreeMap::new()));
        entry.1.insert(vote.checker, vote.signature);
        if entry.1.len() < rules::quorum_threshold(self.set_size) {
            return None;
        }
        let (action, signatures) = self.open.remove(&id)?;
        self.remember(id);
        Some(DecisionCertificate {
            action,
            signatures: signatures.into_iter().collect(),
        })
    }

    /// The set changed size (a new epoch): quorums are of the new size from now on.
    pub fn resize(&mut self, set_size: usize) {
        self.set_size = set_size;
    }

    /// Marks an action decided (its certificate arrived): its votes are dropped.
    pub fn decided(&mut self, id: ActionId) {
        self.open.remove(&id);
        self.remember(id);
    }

    /// Remembers a decided action; the memory is bounded (a certificate made twice is
    /// harmless: applying one is idempotent).
    fn remember(&mut self, id: ActionId) {
        if self.decided.len() >= self.max_actions.saturating_mul(4).max(16) {
            self.decided.clear();
        }
        self.decided.insert(id);
    }

    /// Drops every open action `keep` says no to (a forgotten job's moves).
    pub fn retain(&mut self, keep: impl Fn(&Action) -> bool) {
        self.open.retain(|_, (action, _)| keep(action));
    }

    /// Open actions.
    pub fn open(&self) -> usize {
        self.open.len()
    }
}
