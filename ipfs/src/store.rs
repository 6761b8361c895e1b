//! Where blocks live: the [`Blockstore`] trait and an in-memory implementation.

use std::{
    collections::HashMap,
    fmt,
    sync::{PoisonError, RwLock},
};

use bytes::Bytes;
use cid::Cid;

use crate::Block;

/// A block store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend (a database) reported an error.
    #[error("block store backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend's error.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(error))
    }
}

/// A content-addressed block store, synchronous (the node's is a sled database).
///
/// Implementations trust what they hold: blocks are verified before [`Blockstore::put`]
/// (a [`Block`] can only be built verified) and are served as they are read back.
pub trait Blockstore: Send + Sync + 'static {
    /// The block's bytes, if the store has it.
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, StoreError>;
    /// Whether the store has the block.
    fn has(&self, cid: &Cid) -> Result<bool, StoreError>;
    /// Stores a block; storing one that is already there is not an error.
    fn put(&self, block: &Block) -> Result<(), StoreError>;
}

/// A block store in memory, unbounded: for tests and interop harnesses, not for a node.
#[derive(Default)]
pub struct MemoryBlockstore {
    blocks: RwLock<HashMap<Cid, Bytes>>,
}

impl MemoryBlockstore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of blocks held.
    pub fn len(&self) -> usize {
        self.blocks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the store holds no block.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for MemoryBlockstore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBlockstore")
            .field("blocks", &self.len())
            .finish()
    }
}

impl Blockstore for MemoryBlockstore {
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, StoreError> {
        let blocks = self.blocks.read().unwrap_or_else(PoisonError::into_inner);
        Ok(blocks.get(cid).cloned())
    }

    fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        let blocks = self.blocks.read().unwrap_or_else(PoisonError::into_inner);
        Ok(blocks.contains_key(cid))
    }

    fn put(&self, block: &Block) -> Result<(), StoreError> {
        let mut blocks = self.blocks.write().unwrap_or_else(PoisonError::into_inner);
        blocks.insert(*block.cid(), block.data().clone());
        Ok(())
    }
}
