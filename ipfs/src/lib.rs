//! IPFS interop for Pictor: every node is an IPFS peer.
//!
//! - [`Block`]: bytes checked against their CID (blake3 for Pictor's own blocks, sha2-256
//!   for blocks from other IPFS implementations).
//! - [`Blockstore`]: where blocks live (the node's is a sled database;
//!   [`MemoryBlockstore`] is for tests).
//! - [`unixfs`]: files as DAGs of blocks, importer and checked reader.
//! - [`bitswap`]: Bitswap 1.2.0 over `libp2p-stream`, serving and fetching blocks.
//! - [`gateway`]: the trustless HTTP gateway (`/ipfs/{cid}` raw blocks).
//!
//! This crate knows nothing of jobs, shards or the node's swarm: it gets a
//! `libp2p_stream::Control` and a block store, and must not depend on other Pictor crates.

pub mod bitswap;
mod block;
mod error;
pub mod gateway;
mod store;
pub mod unixfs;

pub use bitswap::{Bitswap, BitswapConfig, BitswapError, BitswapStats, PeerStats};
pub use block::{
    blake3_cid, raw_cid, Block, BLAKE3_CODE, DAG_PB_CODEC, MAX_BLOCK_SIZE, RAW_CODEC, SHA2_256_CODE,
};
pub use cid::Cid;
pub use error::IpfsError;
pub use store::{Blockstore, MemoryBlockstore, StoreError};
