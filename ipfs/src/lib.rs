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
//!
//! # Wiring it into a node
//!
//! The node's `NetworkBehaviour` holds a `libp2p_stream::Behaviour`; Bitswap gets a
//! `Control` from it and runs as a task of its own, beside the swarm's event loop:
//!
//! ```no_run
//! # async fn node(
//! #     stream: &libp2p_stream::Behaviour,
//! #     store: std::sync::Arc<dyn pictor_ipfs::Blockstore>,
//! #     root: pictor_ipfs::Cid,
//! #     peer: libp2p::PeerId,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use pictor_ipfs::{Bitswap, BitswapConfig};
//!
//! let (bitswap, service) = Bitswap::new(stream.new_control(), store.clone(), BitswapConfig::default())?;
//! tokio::spawn(service); // dropping or aborting it stops Bitswap
//! let file = bitswap.get_file(&root, &[peer], 1 << 30).await?;
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! tokio::spawn(pictor_ipfs::gateway::serve(listener, store));
//! # let _ = file;
//! # Ok(())
//! # }
//! ```

pub mod bitswap;
mod block;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
#[doc(hidden)]
pub mod record;
mod store;
pub mod unixfs;

pub use bitswap::{Bitswap, BitswapConfig, BitswapError, BitswapStats, PeerStats};
pub use block::{
    blake3_cid, raw_cid, Block, BLAKE3_CODE, DAG_PB_CODEC, MAX_BLOCK_SIZE, RAW_CODEC, SHA2_256_CODE,
};
pub use cid::Cid;
pub use error::IpfsError;
pub use store::{Blockstore, MemoryBlockstore, StoreError};
