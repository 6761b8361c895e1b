//! Heartbeats: a node's periodic, signed announcement of itself and its role. Checkers
//! learn which workers are online from them; a worker not heard from recently gets no
//! new shards.

use serde::{Deserialize, Serialize};

use crate::{CanaryReveal, PublicKey};

/// The role a node announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// Verifies, assigns, certifies.
    Checker,
    /// Renders shards.
    Worker,
    /// Submits jobs.
    Creator,
}

/// A node's announcement of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The announcing node (must be the envelope's signer).
    pub node: PublicKey,
    /// Its role.
    pub role: NodeRole,
    /// Its device, as the node describes it (at most 256 bytes).
    pub device: String,
    /// A worker's canaries whose rejection has been certified, revealed (at most
    /// [`crate::canary::MAX_REVEALS`]; the key is absent when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canaries: Vec<CanaryReveal>,
}

impl Heartbeat {
    /// The longest device description accepted.
    pub const MAX_DEVICE_LEN: usize = 256;
}
