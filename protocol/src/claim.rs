//! Claims and assignments: a worker says "this is my output for that shard"; a checker says
//! "this worker renders that shard".

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::content::ContentId;
use crate::identity::PublicKey;
use crate::job::ShardId;

/// Longest device description in a claim, in bytes.
pub const MAX_DEVICE_LEN: usize = 128;

/// The id of a claim: blake3 of its canonical CBOR.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClaimId(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl ClaimId {
    /// The first 8 hex characters.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for ClaimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ClaimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimId({})", self.short())
    }
}

/// A worker's claim that `output` is its render of `shard`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultClaim {
    /// The shard.
    pub shard: ShardId,
    /// Who rendered it; signs the claim.
    pub worker: PublicKey,
    /// Which assignment attempt this answers.
    pub attempt: u32,
    /// The tile block (see [`crate::proof::TileImage`]); its digest is the bao root.
    pub output: ContentId,
    /// Tile width.
    pub width: u32,
    /// Tile height.
    pub height: u32,
    /// Render time reported by the worker.
    pub render_ms: u64,
    /// Device description (e.g. `cpu` or a GPU name), at most [`MAX_DEVICE_LEN`] bytes.
    pub device: String,
}

impl ResultClaim {
    /// blake3 of the canonical CBOR.
    pub fn id(&self) -> ClaimId {
        ClaimId(*blake3::hash(&codec::encode(self)).as_bytes())
    }
}

/// A checker's assignment of a shard to a worker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// The shard.
    pub shard: ShardId,
    /// The chosen worker.
    pub worker: PublicKey,
    /// 0 for the first assignment, +1 for each reassignment.
    pub attempt: u32,
    /// The checker that assigned it; signs it.
    pub assigned_by: PublicKey,
    /// When the worker's claim is due (ms since the Unix epoch).
    pub deadline_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;
    use crate::job::JobId;

    #[test]
    fn claim_id_is_stable_and_sensitive() {
        let c = ResultClaim {
            shard: ShardId {
                job: JobId([1; 32]),
                frame: 1,
                tile: 2,
            },
            worker: Keypair::from_seed([2; 32]).public(),
            attempt: 0,
            output: ContentId::of(b"out"),
            width: 64,
            height: 64,
            render_ms: 10,
            device: "cpu".into(),
        };
        assert_eq!(c.id(), c.clone().id());
        let mut d = c.clone();
        d.render_ms = 11;
        assert_ne!(c.id(), d.id());
        assert_eq!(c.id().to_string().len(), 64);
    }
}
