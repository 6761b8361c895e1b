//! Faults held against a checker. Equivocation proves itself (two conflicting signed
//! votes). A false attestation names values the checker said it computed and what they
//! really are; whoever checks it re-renders those pixels (the built-in engine is bit-exact,
//! so every honest checker gets the same values). The sampled values are covered by no
//! signature of the attestation itself (its vote is what a certificate aggregates): the
//! fault carries the proof of the gossip envelope the checker sent them in, so that no one
//! can alter an honest attestation's values and accuse its checker of them.

use serde::{Deserialize, Serialize};

use super::GovernanceError;
use crate::attestation::Attestation;
use crate::certificate::Evidence;
use crate::envelope::{EnvelopeProof, Message};
use crate::identity::PublicKey;

/// Most re-rendered values a false-attestation fault names.
pub const MAX_RECOMPUTED: usize = 16;

/// A pixel of an attestation's sample, re-rendered by the accuser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recomputed {
    /// Tile-local x (one of the attestation's sampled positions).
    pub x: u32,
    /// Tile-local y.
    pub y: u32,
    /// The value the accuser rendered there.
    pub value: [u8; 3],
}

/// What a checker did wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// Two conflicting signed votes on one claim.
    Equivocation(Evidence),
    /// An attestation whose computed values are not what the scene renders at these
    /// positions: a checker that did not check (copied the claimed values) or lied.
    FalseAttestation {
        /// The signed attestation.
        attestation: Attestation,
        /// The proof of the envelope the checker gossiped it in: it covers the sampled
        /// values.
        proof: EnvelopeProof,
        /// Sampled positions where its `expected` value is wrong, with the right value.
        recomputed: Vec<Recomputed>,
    },
}

impl Fault {
    /// The checker the fault is held against.
    pub fn accused(&self) -> PublicKey {
        match self {
            Fault::Equivocation(e) => e.checker,
            Fault::FalseAttestation { attestation, .. } => attestation.checker,
        }
    }

    /// A short name: `equivocation` or `false attestation`.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Equivocation(_) => "equivocation",
            Fault::FalseAttestation { .. } => "false attestation",
        }
    }

    /// One line for logs and summaries.
    pub fn describe(&self) -> String {
        match self {
            Fault::Equivocation(e) => format!(
                "equivocation: two different votes on claim {}",
                e.first.0.claim.short()
            ),
            Fault::FalseAttestation {
                attestation,
                recomputed,
                ..
            } => format!(
                "false attestation on claim {}: {} sampled value(s) it says it rendered are not what the scene renders",
                attestation.vote.claim.short(),
                recomputed.len()
            ),
        }
    }

    /// Checks everything that holds without rendering: equivocation evidence verifies; a
    /// false attestation's signatures verify and every recomputed value is at one of its
    /// sampled positions and differs from the value it states there.
    pub fn check(&self, network: &str) -> Result<(), GovernanceError> {
        match self {
            Fault::Equivocation(e) => Ok(e.verify(network)?),
            Fault::FalseAttestation {
                attestation,
                proof,
                recomputed,
            } => {
                if recomputed.is_empty() || recomputed.len() > MAX_RECOMPUTED {
                    return Err(GovernanceError::Fault(format!(
                        "names {} values (1 to {MAX_RECOMPUTED})",
                        recomputed.len()
                    )));
                }
                attestation
                    .verify(network)
                    .map_err(|e| GovernanceError::Fault(e.to_string()))?;
                proof
                    .verify(
                        network,
                        &attestation.checker,
                        &Message::Attestation(attestation.clone()),
                    )
                    .map_err(|_| {
                        GovernanceError::Fault(
                            "the attestation is not what its checker sent: its envelope's signature does not cover it"
                                .into(),
                        )
                    })?;
                for r in recomputed {
                    let stated = attestation
                        .samples
                        .iter()
                        .find(|s| (s.x, s.y) == (r.x, r.y))
                        .ok_or_else(|| {
                            GovernanceError::Fault(format!(
                                "({}, {}) is not one of the attestation's samples",
                                r.x, r.y
                            ))
                        })?;
                    if stated.expected == r.value {
                        return Err(GovernanceError::Fault(format!(
                            "the value at ({}, {}) is the one the attestation states",
                            r.x, r.y
                        )));
                    }
                }
                Ok(())
            }
        }
    }
}
