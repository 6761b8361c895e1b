//! The node's IPFS block store: the sled database seen through [`pictor_ipfs::Blockstore`].
//!
//! Raw blake3 blocks (shard outputs, scene bundles: everything named by a
//! [`ContentId`]) live in the store's content-addressed tree, so Bitswap and the gateway
//! serve them under their CIDs as they are; every other block (UnixFS nodes, blocks from
//! other IPFS peers) lives under its CID bytes. Reads are checked against the CID again, so
//! a damaged database never serves wrong bytes.

use bytes::Bytes;
use cid::Cid;
use pictor_ipfs::{Block, Blockstore, StoreError};
use pictor_protocol::ContentId;
use pictor_storage::Store;

/// The node's sled database as an IPFS block store.
#[derive(Debug, Clone)]
pub struct SledBlockstore {
    store: Store,
}

impl SledBlockstore {
    /// Wraps the node's database.
    pub fn new(store: Store) -> SledBlockstore {
        SledBlockstore { store }
    }
}

impl SledBlockstore {
    /// Stores a block: a raw blake3 block under its content id, any other under its CID
    /// bytes (not flushed). [`Blockstore::put`] with the store's own error (a full disk
    /// says so).
    pub fn put_block(&self, block: &Block) -> Result<(), pictor_storage::StorageError> {
        match ContentId::from_cid(block.cid()) {
            Ok(_) => self.store.put_block(block.data()).map(|_| ()),
            Err(_) => self
                .store
                .put_cid_block(&block.cid().to_bytes(), block.data()),
        }
    }

    /// Removes a block (not flushed).
    pub fn remove(&self, cid: &Cid) -> Result<(), pictor_storage::StorageError> {
        match ContentId::from_cid(cid) {
            Ok(id) => self.store.remove_block(&id),
            Err(_) => self.store.remove_cid_block(&cid.to_bytes()),
        }
    }
}

impl Blockstore for SledBlockstore {
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, StoreError> {
        let bytes = match ContentId::from_cid(cid) {
            Ok(id) => self.store.get_block(&id).map_err(StoreError::backend)?,
            Err(_) => self
                .store
                .get_cid_block(&cid.to_bytes())
                .map_err(StoreError::backend)?,
        };
        match bytes {
            None => Ok(None),
            Some(bytes) => {
                let block =
                    Block::new_verified(*cid, Bytes::from(bytes)).map_err(StoreError::backend)?;
                Ok(Some(block.into_data()))
            }
        }
    }

    fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        match ContentId::from_cid(cid) {
            Ok(id) => self.store.has_block(&id).map_err(StoreError::backend),
            Err(_) => self
                .store
                .has_cid_block(&cid.to_bytes())
                .map_err(StoreError::backend),
        }
    }

    fn put(&self, block: &Block) -> Result<(), StoreError> {
        self.put_block(block).map_err(StoreError::backend)
    }
}

/// Reads a whole UnixFS file from the local block store (on the blocking pool: the
/// store's reads are synchronous).
pub(crate) async fn export_local(
    store: std::sync::Arc<dyn Blockstore>,
    root: cid::Cid,
    limit: u64,
) -> Result<Bytes, pictor_ipfs::IpfsError> {
    tokio::task::spawn_blocking(move || {
        futures::executor::block_on(pictor_ipfs::unixfs::export(store.as_ref(), root, limit))
    })
    .await
    .unwrap_or_else(|e| {
        Err(pictor_ipfs::IpfsError::Malformed {
            cid: Box::new(root),
            reason: format!("reading it failed: {e}"),
        })
    })
}
