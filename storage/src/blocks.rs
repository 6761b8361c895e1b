//! The content-addressed block store: scene bundles and shard outputs by [`ContentId`],
//! and the bao outboard of each shard output (a tile block), computed once when it is
//! stored, so that answering a checker's row request hashes nothing.

use pictor_protocol::{proof, ContentId};

use crate::{StorageError, Store};

/// A stored tile block (a shard output) with its bao outboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileBlock {
    /// The block's bytes.
    pub bytes: Vec<u8>,
    /// Its bao outboard ([`proof::tile_outboard`]).
    pub outboard: Vec<u8>,
}

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

    /// Stores a tile block (a shard output) and its bao outboard, and returns its id.
    /// Idempotent (a block stored earlier without its outboard gets it); flushed. The
    /// outboard is computed here: call it off the node's loop.
    pub fn put_tile_block(&self, bytes: &[u8]) -> Result<ContentId, StorageError> {
        if bytes.len() > MAX_BLOCK_SIZE {
            return Err(StorageError::BlockTooLarge {
                len: bytes.len(),
                max: MAX_BLOCK_SIZE,
            });
        }
        let id = ContentId::of(bytes);
        let has_block = self.blocks.contains_key(id.digest())?;
        if has_block && self.outboards.contains_key(id.digest())? {
            return Ok(id);
        }
        let outboard = proof::tile_outboard(bytes).map_err(|e| StorageError::NotATile {
            reason: e.to_string(),
        })?;
        // The block first: a crash between the two leaves a block without its outboard,
        // which `outboard_of` fills in, never an outboard without its block.
        if !has_block {
            self.blocks.insert(id.digest(), bytes)?;
        }
        self.outboards.insert(id.digest(), outboard)?;
        self.flush()?;
        Ok(id)
    }

    /// The stored bao outboard of the tile block `id`, if it has one.
    pub fn outboard(&self, id: &ContentId) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.outboards.get(id.digest())?.map(|o| o.to_vec()))
    }

    /// The tile block `id` and its bao outboard, to cut row proofs from. With a stored
    /// outboard the block is read as stored, not hashed again: every slice of a proof is
    /// verified against `id` by whoever asked, so damaged bytes fail there as they would
    /// here. A block stored without an outboard (before outboards were kept, or fetched
    /// as a plain block) is checked against `id`, and its outboard is computed now and
    /// stored for the next time (not flushed: it can be computed again).
    pub fn tile_block(&self, id: &ContentId) -> Result<Option<TileBlock>, StorageError> {
        if let Some(outboard) = self.outboard(id)? {
            if let Some(bytes) = self.blocks.get(id.digest())? {
                return Ok(Some(TileBlock {
                    bytes: bytes.to_vec(),
                    outboard,
                }));
            }
        }
        let Some(block) = self.get_block(id)? else {
            return Ok(None);
        };
        let outboard = proof::tile_outboard(&block).map_err(|e| StorageError::NotATile {
            reason: e.to_string(),
        })?;
        self.outboards.insert(id.digest(), outboard.as_slice())?;
        Ok(Some(TileBlock {
            bytes: block,
            outboard,
        }))
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

    /// Removes a block and its outboard (pruning a finished job). Not flushed.
    pub fn remove_block(&self, id: &ContentId) -> Result<(), StorageError> {
        self.blocks.remove(id.digest())?;
        self.outboards.remove(id.digest())?;
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

    fn tile_block(width: u32, height: u32) -> Vec<u8> {
        let pixels = (0..width * height * 3).map(|i| (i % 251) as u8).collect();
        pictor_protocol::TileImage {
            width,
            height,
            pixels,
        }
        .to_block()
    }

    #[test]
    fn a_tile_block_keeps_its_outboard_until_it_is_removed() -> Result<(), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| StorageError::Corrupt {
            what: "test",
            reason: e.to_string(),
        })?;
        let block = tile_block(64, 32);
        let expected = proof::tile_outboard(&block).map_err(|e| StorageError::NotATile {
            reason: e.to_string(),
        })?;
        let id = {
            let store = Store::open(dir.path())?;
            let id = store.put_tile_block(&block)?;
            assert_eq!(store.put_tile_block(&block)?, id, "idempotent");
            id
        };
        // Stored with the block, and still there after a restart.
        let store = Store::open(dir.path())?;
        assert_eq!(store.get_block(&id)?.as_deref(), Some(block.as_slice()));
        assert_eq!(store.outboard(&id)?, Some(expected.clone()));
        assert_eq!(
            store.tile_block(&id)?,
            Some(TileBlock {
                bytes: block.clone(),
                outboard: expected.clone()
            })
        );
        // Removing the block removes its outboard.
        store.remove_block(&id)?;
        assert_eq!(store.get_block(&id)?, None);
        assert_eq!(store.outboard(&id)?, None);
        // Not a tile block: refused, nothing stored.
        assert!(matches!(
            store.put_tile_block(b"a scene bundle"),
            Err(StorageError::NotATile { .. })
        ));
        assert!(!store.has_block(&ContentId::of(b"a scene bundle"))?);
        Ok(())
    }

    #[test]
    fn a_block_stored_without_its_outboard_gets_it_on_first_use() -> Result<(), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| StorageError::Corrupt {
            what: "test",
            reason: e.to_string(),
        })?;
        let store = Store::open(dir.path())?;
        let block = tile_block(16, 16);
        // As a node before outboards were kept stored its outputs.
        let id = store.put_block(&block)?;
        assert_eq!(store.outboard(&id)?, None);
        let read = store.tile_block(&id)?.ok_or(StorageError::Corrupt {
            what: "test",
            reason: "the block is gone".into(),
        })?;
        assert_eq!(read.bytes, block);
        assert_eq!(
            store.outboard(&id)?,
            Some(read.outboard),
            "kept for the next time"
        );
        // Not a tile block: no outboard, nothing stored beside it.
        let scene = store.put_block(b"a scene bundle")?;
        assert!(matches!(
            store.tile_block(&scene),
            Err(StorageError::NotATile { .. })
        ));
        assert_eq!(store.outboard(&scene)?, None);
        assert_eq!(store.tile_block(&ContentId::of(b"absent"))?, None);
        Ok(())
    }
}
