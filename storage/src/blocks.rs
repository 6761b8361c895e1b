//! The content-addressed block store: scene bundles and shard outputs by [`ContentId`].

use pictor_protocol::ContentId;

use crate::{StorageError, Store};

/// The largest block the store accepts (a scene bundle may be large).
pub const MAX_BLOCK_SIZE: usize = 256 * 1024 * 1024;

impl Store {
    /// Stores `bytes` under their content id and returns it. Idempotent; flushed.
    pub fn put_block(&self, bytes: &[u8]) -> Result<ContentId, StorageError> {
        if bytes.len() > MAX_BLOCK_SIZE {
            return Err(StorageError::BlockTooLarge {
                len: bytes.len(),
                max: MAX_BLOCK_SIZE,
            });
        }
        let id = ContentId::of(bytes);
        if !self.blocks.contains_key(id.digest())? {
            self.blocks.insert(id.digest(), bytes)?;
            self.flush()?;
        }
        Ok(id)
    }

    /// Reads a block, checking that its bytes still hash to `id`.
    pub fn get_block(&self, id: &ContentId) -> Result<Option<Vec<u8>>, StorageError> {
        let Some(bytes) = self.blocks.get(id.digest())? else {
            return Ok(None);
        };
        if ContentId::of(&bytes) != *id {
            return Err(StorageError::BlockMismatch { id: id.to_string() });
        }
        Ok(Some(bytes.to_vec()))
    }

    /// Whether the store holds the block `id`.
    pub fn has_block(&self, id: &ContentId) -> Result<bool, StorageError> {
        Ok(self.blocks.contains_key(id.digest())?)
    }

    /// The number of blocks held.
    pub fn block_count(&self) -> usize {
        self.blocks.len() + self.cid_blocks.len()
    }

    /// Stores an IPFS block under its CID bytes (blocks that are not raw blake3 blocks:
    /// UnixFS nodes, blocks fetched from other IPFS peers). The caller has checked the
    /// bytes against the CID. Not flushed: call [`Store::flush`] at the commit point.
    pub fn put_cid_block(&self, cid: &[u8], bytes: &[u8]) -> Result<(), StorageError> {
        if bytes.len() > MAX_BLOCK_SIZE {
            return Err(StorageError::BlockTooLarge {
                len: bytes.len(),
                max: MAX_BLOCK_SIZE,
            });
        }
        if !self.cid_blocks.contains_key(cid)? {
            self.cid_blocks.insert(cid, bytes)?;
        }
        Ok(())
    }

    /// Reads an IPFS block by its CID bytes; the caller checks it against the CID.
    pub fn get_cid_block(&self, cid: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.cid_blocks.get(cid)?.map(|b| b.to_vec()))
    }

    /// Removes a block (pruning a finished job). Not flushed.
    pub fn remove_block(&self, id: &ContentId) -> Result<(), StorageError> {
        self.blocks.remove(id.digest())?;
        Ok(())
    }

    /// Removes an IPFS block by its CID bytes. Not flushed.
    pub fn remove_cid_block(&self, cid: &[u8]) -> Result<(), StorageError> {
        self.cid_blocks.remove(cid)?;
        Ok(())
    }

    /// Whether the store holds an IPFS block with these CID bytes.
    pub fn has_cid_block(&self, cid: &[u8]) -> Result<bool, StorageError> {
        Ok(self.cid_blocks.contains_key(cid)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_addressed_by_content_and_survive_reopen() -> Result<(), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| StorageError::Corrupt {
            what: "test",
            reason: e.to_string(),
        })?;
        let id = {
            let store = Store::open(dir.path())?;
            let id = store.put_block(b"frame rows")?;
            assert_eq!(store.put_block(b"frame rows")?, id, "idempotent");
            assert_eq!(id, ContentId::of(b"frame rows"));
            id
        };
        let store = Store::open(dir.path())?;
        assert_eq!(store.get_block(&id)?.as_deref(), Some(&b"frame rows"[..]));
        assert!(store.get_block(&ContentId::of(b"other"))?.is_none());
        store.put_cid_block(b"cid-bytes", b"a unixfs node")?;
        store.flush()?;
        drop(store);
        let store = Store::open(dir.path())?;
        assert_eq!(
            store.get_cid_block(b"cid-bytes")?.as_deref(),
            Some(&b"a unixfs node"[..])
        );
        assert!(store.has_cid_block(b"cid-bytes")?);
        assert!(!store.has_cid_block(b"other")?);
        assert_eq!(store.block_count(), 2);
        Ok(())
    }
}
