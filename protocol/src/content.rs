//! Content ids: the blake3 digest of a block, which is also a CIDv1 (raw codec, blake3
//! multihash), so any IPFS peer can fetch a block by it.

use std::fmt;
use std::str::FromStr;

use cid::multihash::Multihash;
use cid::{Cid, Version};
use serde::{Deserialize, Serialize};

/// Multicodec of raw blocks.
pub const RAW_CODEC: u64 = 0x55;
/// Multihash code of blake3 (256-bit output).
pub const BLAKE3_CODE: u64 = 0x1e;

/// Why a content id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// The bytes do not hash to the id.
    #[error("content mismatch: expected {expected}, got {actual}")]
    Mismatch {
        /// The id that was asked for.
        expected: ContentId,
        /// The id of the bytes that came.
        actual: ContentId,
    },
    /// Only CIDv1 is used.
    #[error("CID version {0:?} is not supported (only CIDv1)")]
    WrongVersion(Version),
    /// Only raw blocks are used.
    #[error("CID codec {0:#x} is not supported (only raw 0x55)")]
    WrongCodec(u64),
    /// Only blake3 is used.
    #[error("multihash code {0:#x} is not supported (only blake3 0x1e)")]
    WrongHash(u64),
    /// A blake3 digest is 32 bytes.
    #[error("blake3 digest must be 32 bytes, got {0}")]
    WrongDigestLength(usize),
    /// Not a CID string.
    #[error("invalid CID: {0}")]
    Parse(String),
}

/// The blake3 digest of a block; as a CID it is CIDv1, raw codec, blake3 multihash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContentId(#[serde(with = "serde_bytes")] [u8; 32]);

impl ContentId {
    /// The id of `bytes`.
    pub fn of(bytes: &[u8]) -> ContentId {
        ContentId(*blake3::hash(bytes).as_bytes())
    }

    /// Wraps a blake3 digest.
    pub fn from_digest(digest: [u8; 32]) -> ContentId {
        ContentId(digest)
    }

    /// The blake3 digest (also the bao root).
    pub fn digest(&self) -> [u8; 32] {
        self.0
    }

    /// The id as a CID.
    pub fn to_cid(&self) -> Cid {
        match Multihash::<64>::wrap(BLAKE3_CODE, &self.0) {
            Ok(mh) => Cid::new_v1(RAW_CODEC, mh),
            // 32 bytes always fit a 64-byte multihash.
            Err(_) => Cid::default(),
        }
    }

    /// Accepts only CIDv1 / raw / blake3 / 32-byte digests.
    pub fn from_cid(cid: &Cid) -> Result<ContentId, ContentError> {
        if cid.version() != Version::V1 {
            return Err(ContentError::WrongVersion(cid.version()));
        }
        if cid.codec() != RAW_CODEC {
            return Err(ContentError::WrongCodec(cid.codec()));
        }
        let mh = cid.hash();
        if mh.code() != BLAKE3_CODE {
            return Err(ContentError::WrongHash(mh.code()));
        }
        let digest: [u8; 32] = mh
            .digest()
            .try_into()
            .map_err(|_| ContentError::WrongDigestLength(mh.digest().len()))?;
        Ok(ContentId(digest))
    }

    /// The CID's binary form.
    pub fn to_cid_bytes(&self) -> Vec<u8> {
        self.to_cid().to_bytes()
    }

    /// Parses a CID's binary form.
    pub fn from_cid_bytes(bytes: &[u8]) -> Result<ContentId, ContentError> {
        let cid = Cid::try_from(bytes).map_err(|e| ContentError::Parse(e.to_string()))?;
        ContentId::from_cid(&cid)
    }

    /// Checks that `bytes` hash to this id.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), ContentError> {
        let actual = ContentId::of(bytes);
        if actual == *self {
            Ok(())
        } else {
            Err(ContentError::Mismatch {
                expected: *self,
                actual,
            })
        }
    }

    /// The first 8 hex characters of the digest.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_cid())
    }
}

impl fmt::Debug for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentId({self})")
    }
}

impl FromStr for ContentId {
    type Err = ContentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > 200 {
            return Err(ContentError::Parse("too long".into()));
        }
        let cid = Cid::from_str(s).map_err(|e| ContentError::Parse(e.to_string()))?;
        ContentId::from_cid(&cid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cid_round_trip() {
        let id = ContentId::of(b"hello");
        let s = id.to_string();
        assert!(s.starts_with("bafk"), "{s}");
        assert_eq!(s.parse::<ContentId>(), Ok(id));
        assert_eq!(ContentId::from_cid(&id.to_cid()), Ok(id));
        assert_eq!(ContentId::from_cid_bytes(&id.to_cid_bytes()), Ok(id));
        assert_eq!(id.digest(), *blake3::hash(b"hello").as_bytes());
    }

    #[test]
    fn foreign_cids_rejected() {
        let id = ContentId::of(b"x");
        let mh = Multihash::<64>::wrap(BLAKE3_CODE, &id.digest()).unwrap_or_default();
        let dag = Cid::new_v1(0x71, mh);
        assert_eq!(
            ContentId::from_cid(&dag),
            Err(ContentError::WrongCodec(0x71))
        );
        let sha = Multihash::<64>::wrap(0x12, &id.digest()).unwrap_or_default();
        assert_eq!(
            ContentId::from_cid(&Cid::new_v1(RAW_CODEC, sha)),
            Err(ContentError::WrongHash(0x12))
        );
        let short = Multihash::<64>::wrap(BLAKE3_CODE, &[1; 16]).unwrap_or_default();
        assert_eq!(
            ContentId::from_cid(&Cid::new_v1(RAW_CODEC, short)),
            Err(ContentError::WrongDigestLength(16))
        );
        // CIDv0 (sha2-256, dag-pb)
        assert!("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
            .parse::<ContentId>()
            .is_err());
        assert!("not a cid".parse::<ContentId>().is_err());
    }

    #[test]
    fn verify_bytes() {
        let id = ContentId::of(b"abc");
        assert!(id.verify(b"abc").is_ok());
        assert!(matches!(
            id.verify(b"abd"),
            Err(ContentError::Mismatch { .. })
        ));
    }
}
