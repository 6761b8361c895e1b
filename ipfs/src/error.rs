//! The crate's block and DAG error.

use cid::Cid;

use crate::store::StoreError;

/// Why a block or a UnixFS DAG was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IpfsError {
    /// The CID names a hash function we do not verify (only blake3 and sha2-256 are).
    #[error(
        "{cid} uses multihash code {code:#x}; only blake3 (0x1e) and sha2-256 (0x12) are supported"
    )]
    UnsupportedHash {
        /// The CID that was asked for.
        cid: Box<Cid>,
        /// Its multihash code.
        code: u64,
    },
    /// The CID's digest has a length its hash function does not produce.
    #[error("{cid} has a {len}-byte digest; its hash function gives 32 bytes")]
    DigestLength {
        /// The CID that was asked for.
        cid: Box<Cid>,
        /// The digest length the CID declares.
        len: usize,
    },
    /// The data does not hash to the CID.
    #[error("block data does not match {expected}: it hashes to {actual}")]
    HashMismatch {
        /// The CID the block was announced as.
        expected: Box<Cid>,
        /// The CID the data really has (same version, codec and hash function).
        actual: Box<Cid>,
    },
    /// A block is larger than [`MAX_BLOCK_SIZE`](crate::MAX_BLOCK_SIZE).
    #[error("block of {size} bytes exceeds the {max}-byte block limit")]
    BlockTooLarge {
        /// Size of the block.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A chunk size outside `1..=MAX_BLOCK_SIZE` was given to the importer.
    #[error("chunk size {0} is outside 1..={max}", max = crate::MAX_BLOCK_SIZE)]
    InvalidChunkSize(usize),
    /// The DAG names a codec this reader does not walk (only raw and dag-pb are).
    #[error(
        "{cid} has codec {codec:#x}; a UnixFS file is made of raw (0x55) and dag-pb (0x70) blocks"
    )]
    UnsupportedCodec {
        /// The block.
        cid: Box<Cid>,
        /// Its codec.
        codec: u64,
    },
    /// A dag-pb node is not a valid UnixFS file node.
    #[error("malformed UnixFS node {cid}: {reason}")]
    Malformed {
        /// The offending block.
        cid: Box<Cid>,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is larger than the caller's limit.
    #[error("file of {size} bytes exceeds the limit of {limit} bytes")]
    FileTooLarge {
        /// The size the file declares.
        size: u64,
        /// The caller's limit.
        limit: u64,
    },
    /// A block the DAG links to is not in the store.
    #[error("block {0} is not in the store")]
    MissingBlock(Box<Cid>),
    /// The block store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
