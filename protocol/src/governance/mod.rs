//! How the checkers govern themselves: decisions that more than two thirds of the checker
//! set sign (`decision.rs`), the faults held against a checker (`fault.rs`), the
//! admission of new checkers at epoch boundaries (`admission.rs`), and the ledger
//! every node derives from the certificates it has verified (`ledger.rs`): which checkers
//! are banned, which committee holds each job, and the statuses of checkers and workers.
//!
//! Everything here is pure: time is passed in, nothing is read from a clock, and every
//! node that verified the same certificates holds the same ledger.

use serde::{Deserialize, Serialize};

use crate::certificate::CertificateError;
use crate::identity::{PublicKey, SignatureError};

mod admission;
mod decision;
mod fault;
mod ledger;

pub use admission::{epoch_at, AdmissionRender, Application, SignedApplication, JOIN_DELAY_EPOCHS};
pub use decision::{Action, ActionId, DecisionCertificate, DecisionCollector, DecisionVote};
pub use fault::{Fault, Recomputed, MAX_RECOMPUTED};
pub use ledger::{ban_cooldown_ms, Applied, Ledger, MAX_GENERATIONS};

/// Most checkers a network's set may hold (bounds certificates and committees).
pub const MAX_CHECKERS: usize = 1024;

/// Why a decision, a vote or a fault was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GovernanceError {
    /// A signer is not in the checker set (or is banned).
    #[error("signer {0:?} is not an active checker")]
    NotChecker(PublicKey),
    /// Signatures must be sorted by key with no key twice.
    #[error("signatures are not sorted by key or a signer appears twice ({0:?})")]
    DuplicateOrUnsorted(PublicKey),
    /// Fewer signatures than more than two thirds of the set.
    #[error("{got} signatures, a decision needs {needed} of {set}")]
    NoQuorum {
        /// Valid signers present.
        got: usize,
        /// Threshold.
        needed: usize,
        /// Size of the checker set.
        set: usize,
    },
    /// A signature does not verify.
    #[error("signature by {signer:?}: {error}")]
    BadSignature {
        /// The signer.
        signer: PublicKey,
        /// Why.
        error: SignatureError,
    },
    /// A new committee that is empty, too large, has a key twice or names a non-checker.
    #[error("bad committee: {0}")]
    BadCommittee(&'static str),
    /// A job moved more often than [`MAX_GENERATIONS`], or to a generation already held.
    #[error("committee generation {generation} of this job is stale or out of bounds")]
    BadGeneration {
        /// The generation named.
        generation: u32,
    },
    /// A fault that does not hold up on its own.
    #[error("fault: {0}")]
    Fault(String),
    /// An application that does not hold up on its own.
    #[error("application: {0}")]
    Application(String),
    /// An admission of a checker already in the set, or of an epoch to come.
    #[error("admission: {0}")]
    Admission(&'static str),
    /// Equivocation evidence that does not verify.
    #[error("evidence: {0}")]
    Evidence(#[from] CertificateError),
}

/// A checker's status, derived the same way on every node (the seed's five statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckerStatus {
    /// Applied, awaiting admission.
    Pending,
    /// Admitted and heard from, on no committee with open work.
    Standby,
    /// On a committee with open work.
    Checking,
    /// Its heartbeats stopped; it comes back when they resume.
    Offline,
    /// Evidence or a certified decision against it.
    Banned,
}

/// A worker's status, derived the same way on every checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerStatus {
    /// Heard from, but not (yet) shown to meet the network's requirements.
    Pending,
    /// Admitted, holding no shard.
    Idle,
    /// Holding shards.
    Rendering,
    /// Not heard from recently.
    Offline,
    /// Serving a ban's cool-down.
    Banned,
}

impl CheckerStatus {
    /// The lowercase name (`standby`, `checking`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CheckerStatus::Pending => "pending",
            CheckerStatus::Standby => "standby",
            CheckerStatus::Checking => "checking",
            CheckerStatus::Offline => "offline",
            CheckerStatus::Banned => "banned",
        }
    }
}

impl WorkerStatus {
    /// The lowercase name (`idle`, `rendering`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerStatus::Pending => "pending",
            WorkerStatus::Idle => "idle",
            WorkerStatus::Rendering => "rendering",
            WorkerStatus::Offline => "offline",
            WorkerStatus::Banned => "banned",
        }
    }
}

#[cfg(test)]
mod admission_tests;
#[cfg(test)]
mod tests;
