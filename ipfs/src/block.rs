//! Content-addressed blocks and the hashes that name them.

use bytes::Bytes;
use cid::{Cid, Version};
use multihash::Multihash;
use sha2::Digest as _;

use crate::IpfsError;

/// The largest block this crate creates, stores from the network or serves (2 MiB, the
/// ecosystem-wide Bitswap limit).
pub const MAX_BLOCK_SIZE: usize = 2 * 1024 * 1024;

/// Multicodec of raw binary blocks.
pub const RAW_CODEC: u64 = 0x55;
/// Multicodec of dag-pb (UnixFS) nodes.
pub const DAG_PB_CODEC: u64 = 0x70;
/// Multihash code of blake3 (32-byte digests), Pictor's hash.
pub const BLAKE3_CODE: u64 = 0x1e;
/// Multihash code of sha2-256, the default of other IPFS implementations.
pub const SHA2_256_CODE: u64 = 0x12;
/// Multihash code of the identity "hash" (the digest is the data).
pub(crate) const IDENTITY_CODE: u64 = 0x00;

const DIGEST_LEN: usize = 32;

/// A block: bytes and the CID they hash to.
///
/// The fields are private so that a `Block` always holds data that matches its CID: build
/// one with [`Block::new_verified`] (data from elsewhere) or [`Block::raw`] (our own data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    cid: Cid,
    data: Bytes,
}

impl Block {
    /// Checks that `data` hashes to `cid` (blake3 or sha2-256) and is at most
    /// [`MAX_BLOCK_SIZE`] bytes.
    pub fn new_verified(cid: Cid, data: Bytes) -> Result<Self, IpfsError> {
        check_size(data.len())?;
        let actual = multihash_of(&cid, &data)?;
        if actual.digest() != cid.hash().digest() {
            let actual = Cid::new(cid.version(), cid.codec(), actual).unwrap_or(cid);
            return Err(IpfsError::HashMismatch {
                expected: Box::new(cid),
                actual: Box::new(actual),
            });
        }
        Ok(Self { cid, data })
    }

    /// A raw block of our own data, named by its blake3 CID.
    pub fn raw(data: Bytes) -> Result<Self, IpfsError> {
        Self::blake3(RAW_CODEC, data)
    }

    /// A block of the given codec, named by its blake3 CIDv1.
    pub(crate) fn blake3(codec: u64, data: Bytes) -> Result<Self, IpfsError> {
        check_size(data.len())?;
        Ok(Self {
            cid: blake3_cid(codec, &data),
            data,
        })
    }

    /// A block that hashes to `cid` by construction: computed here from `data` or read
    /// back from our own store.
    pub(crate) fn trusted(cid: Cid, data: Bytes) -> Self {
        Self { cid, data }
    }

    /// The block's CID.
    pub fn cid(&self) -> &Cid {
        &self.cid
    }

    /// The block's bytes.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// The block's bytes, without copying.
    pub fn into_data(self) -> Bytes {
        self.data
    }
}

/// The CIDv1 (raw codec, blake3) of `data`: the id of a Pictor raw block.
pub fn raw_cid(data: &[u8]) -> Cid {
    blake3_cid(RAW_CODEC, data)
}

/// The CIDv1 of `data` under `codec`, hashed with blake3.
pub fn blake3_cid(codec: u64, data: &[u8]) -> Cid {
    Cid::new_v1(codec, blake3_multihash(data))
}

fn blake3_multihash(data: &[u8]) -> Multihash<64> {
    let digest = blake3::hash(data);
    // A 32-byte digest always fits the 64-byte multihash.
    Multihash::wrap(BLAKE3_CODE, digest.as_bytes()).unwrap_or_default()
}

fn check_size(size: usize) -> Result<(), IpfsError> {
    if size > MAX_BLOCK_SIZE {
        return Err(IpfsError::BlockTooLarge {
            size,
            max: MAX_BLOCK_SIZE,
        });
    }
    Ok(())
}

/// Hashes `data` with the hash function `cid` names.
fn multihash_of(cid: &Cid, data: &[u8]) -> Result<Multihash<64>, IpfsError> {
    let code = cid.hash().code();
    multihash_with(code, usize::from(cid.hash().size()), data).map_err(|e| match e {
        HashRefusal::Unsupported => IpfsError::UnsupportedHash {
            cid: Box::new(*cid),
            code,
        },
        HashRefusal::Length(len) => IpfsError::DigestLength {
            cid: Box::new(*cid),
            len,
        },
    })
}

/// Why [`multihash_with`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashRefusal {
    /// Not blake3 nor sha2-256.
    Unsupported,
    /// A digest length other than 32.
    Length(usize),
}

/// Hashes `data` with multihash `code`, which must be blake3 or sha2-256 with a 32-byte
/// digest.
pub(crate) fn multihash_with(
    code: u64,
    digest_len: usize,
    data: &[u8],
) -> Result<Multihash<64>, HashRefusal> {
    if code != BLAKE3_CODE && code != SHA2_256_CODE {
        return Err(HashRefusal::Unsupported);
    }
    if digest_len != DIGEST_LEN {
        return Err(HashRefusal::Length(digest_len));
    }
    if code == BLAKE3_CODE {
        Ok(blake3_multihash(data))
    } else {
        let digest = sha2::Sha256::digest(data);
        Multihash::wrap(SHA2_256_CODE, &digest).map_err(|_| HashRefusal::Unsupported)
    }
}

/// The CID a bitswap payload announces: its prefix (version, codec, multihash code and
/// length) with the digest of its data.
pub(crate) fn cid_from_prefix(prefix: &[u8], data: &[u8]) -> Result<Cid, String> {
    let (version, rest) = unsigned_varint::decode::u64(prefix).map_err(|e| e.to_string())?;
    let (codec, rest) = unsigned_varint::decode::u64(rest).map_err(|e| e.to_string())?;
    let (code, rest) = unsigned_varint::decode::u64(rest).map_err(|e| e.to_string())?;
    let (len, rest) = unsigned_varint::decode::u64(rest).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err("trailing bytes after the CID prefix".into());
    }
    let version = Version::try_from(version).map_err(|e| e.to_string())?;
    let len = usize::try_from(len).map_err(|e| e.to_string())?;
    let hash = multihash_with(code, len, data).map_err(|e| match e {
        HashRefusal::Unsupported => format!("unsupported multihash code {code:#x}"),
        HashRefusal::Length(len) => format!("unsupported digest length {len}"),
    })?;
    Cid::new(version, codec, hash).map_err(|e| e.to_string())
}

/// The bitswap prefix of a CID: version, codec, multihash code and digest length.
pub(crate) fn cid_prefix(cid: &Cid) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    let mut buf = unsigned_varint::encode::u64_buffer();
    for n in [
        u64::from(cid.version()),
        cid.codec(),
        cid.hash().code(),
        u64::from(cid.hash().size()),
    ] {
        out.extend_from_slice(unsigned_varint::encode::u64(n, &mut buf));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_blocks_verify_and_roundtrip() {
        let block = Block::raw(Bytes::from_static(b"pictor")).expect("small block");
        assert_eq!(block.cid().codec(), RAW_CODEC);
        assert_eq!(block.cid().hash().code(), BLAKE3_CODE);
        let again = Block::new_verified(*block.cid(), block.data().clone()).expect("verifies");
        assert_eq!(again, block);
    }

    #[test]
    fn a_known_sha256_cid_verifies() {
        // "hello world\n" from the UnixFS spec's fixtures (raw codec, sha2-256).
        let cid: Cid = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
            .parse()
            .expect("valid CID");
        Block::new_verified(cid, Bytes::from_static(b"hello world\n")).expect("verifies");
    }

    #[test]
    fn a_mismatch_names_both_cids() {
        let cid = raw_cid(b"one");
        let err = Block::new_verified(cid, Bytes::from_static(b"two")).expect_err("mismatch");
        let text = err.to_string();
        assert!(text.contains(&cid.to_string()), "{text}");
        assert!(text.contains(&raw_cid(b"two").to_string()), "{text}");
    }

    #[test]
    fn other_hashes_and_big_blocks_are_refused() {
        let identity = Cid::new_v1(RAW_CODEC, Multihash::wrap(0, b"x").expect("fits"));
        let err = Block::new_verified(identity, Bytes::from_static(b"x")).expect_err("refused");
        assert!(matches!(err, IpfsError::UnsupportedHash { code: 0, .. }));
        let big = Bytes::from(vec![0u8; MAX_BLOCK_SIZE + 1]);
        assert!(matches!(
            Block::raw(big),
            Err(IpfsError::BlockTooLarge { .. })
        ));
    }

    #[test]
    fn prefixes_rebuild_the_cid() {
        let data = b"some bytes";
        for cid in [
            raw_cid(data),
            Cid::new_v0(multihash_with(SHA2_256_CODE, 32, data).expect("sha256")).expect("v0"),
        ] {
            let prefix = cid_prefix(&cid);
            assert_eq!(cid_from_prefix(&prefix, data), Ok(cid));
        }
        assert!(cid_from_prefix(&[1, 0x55, 0x13, 64], data).is_err());
        assert!(cid_from_prefix(&[0xff], data).is_err());
        assert!(cid_from_prefix(&[], data).is_err());
    }
}
