//! `pictor-storage`: the node's durable state on disk.
//!
//! One [sled] database per node holds the jobs it knows, the shard assignments, result
//! claims, attestations and quorum certificates it has seen, and the content-addressed
//! block store (scene bundles and shard outputs, keyed by their blake3 [`ContentId`]),
//! with the bao outboard of each shard output, from which row proofs are cut.
//!
//! Every write that a peer may rely on is flushed before the caller acts on it: the
//! node stores a claim, an attestation or a certificate, calls [`Store::flush`], and only
//! then publishes. On restart the node replays what is stored here.
//!
//! This crate knows nothing about the swarm; it stores protocol types as canonical CBOR.

mod blocks;
mod error;
mod records;
mod space;

use std::path::{Path, PathBuf};

pub use blocks::{TileBlock, MAX_BLOCK_SIZE};
pub use error::StorageError;
pub use space::MIN_FREE_BYTES;

use space::{Disk, Tree};

/// The names of the sled trees, one per kind of record.
const TREE_JOBS: &str = "jobs";
const TREE_ASSIGNMENTS: &str = "assignments";
const TREE_CLAIMS: &str = "claims";
const TREE_ATTESTATIONS: &str = "attestations";
const TREE_CERTIFICATES: &str = "certificates";
const TREE_BLOCKS: &str = "blocks";
const TREE_CID_BLOCKS: &str = "cid_blocks";
/// The bao outboards of tile blocks (shard outputs), by the block's content id.
const TREE_OUTBOARDS: &str = "outboards";
const TREE_META: &str = "meta";
const TREE_JOB_RECORDS: &str = "job_records";
const TREE_GOVERNANCE: &str = "governance";

/// The most memory sled's page cache may take (its default is 1 GiB, for every database
/// of the process: a local network holds eight).
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// A node's database. Cheap to clone; all clones share one sled database.
#[derive(Clone, Debug)]
pub struct Store {
    path: PathBuf,
    /// Whether [`Store::flush`] syncs (see [`Store::open_unsynced`]).
    synced: bool,
    db: sled::Db,
    /// The disk under the database: room checked before writes, a failed write noted.
    disk: Disk,
    jobs: Tree,
    assignments: Tree,
    claims: Tree,
    attestations: Tree,
    certificates: Tree,
    blocks: Tree,
    cid_blocks: Tree,
    /// The bao outboard of each tile block in `blocks` that has one (row proofs are cut
    /// from it; it goes when its block goes).
    outboards: Tree,
    meta: Tree,
    job_records: Tree,
    /// Decision certificates and equivocation evidence (never pruned: the checker set's
    /// history).
    governance: Tree,
}

impl Store {
    /// Opens (or creates) the database in `path`.
    ///
    /// The database is flushed explicitly at every commit point (see [`Store::flush`]), so
    /// sled's background flusher is off: with it, a dropped database keeps its file lock
    /// until the flusher wakes up. If another process holds the lock, opening retries for
    /// up to two seconds and then fails with [`StorageError::Locked`].
    pub fn open(path: &Path) -> Result<Store, StorageError> {
        Store::open_as(path, true)
    }

    /// Opens (or creates) a database that never syncs to disk: [`Store::flush`] does
    /// nothing. For a node that lives no longer than its program, in a temporary home
    /// removed when the program ends (an in-process network made for one command): it
    /// has nothing to recover after a crash, so the syncs would protect nothing.
    pub fn open_unsynced(path: &Path) -> Result<Store, StorageError> {
        Store::open_as(path, false)
    }

    fn open_as(path: &Path, synced: bool) -> Result<Store, StorageError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let db = loop {
            let opened = sled::Config::new()
                .path(path)
                .mode(sled::Mode::HighThroughput)
                .flush_every_ms(None)
                .cache_capacity(CACHE_BYTES)
                .open();
            match opened {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                    return Err(StorageError::Locked {
                        path: path.to_path_buf(),
                    })
                }
                Err(sled::Error::Io(e)) if e.kind() == std::io::ErrorKind::StorageFull => {
                    return Err(StorageError::NoRoomToOpen {
                        path: path.to_path_buf(),
                        free: Disk::new(path).free_bytes().unwrap_or(0),
                    })
                }
                Err(source) => {
                    return Err(StorageError::Open {
                        path: path.to_path_buf(),
                        source,
                    })
                }
            }
        };
        let disk = Disk::new(path);
        let tree = |name: &str| {
            db.open_tree(name)
                .map(|t| Tree::new(t, disk.clone()))
                .map_err(StorageError::from)
        };
        Store {
            path: path.to_path_buf(),
            synced,
            jobs: tree(TREE_JOBS)?,
            assignments: tree(TREE_ASSIGNMENTS)?,
            claims: tree(TREE_CLAIMS)?,
            attestations: tree(TREE_ATTESTATIONS)?,
            certificates: tree(TREE_CERTIFICATES)?,
            blocks: tree(TREE_BLOCKS)?,
            cid_blocks: tree(TREE_CID_BLOCKS)?,
            outboards: tree(TREE_OUTBOARDS)?,
            meta: tree(TREE_META)?,
            job_records: tree(TREE_JOB_RECORDS)?,
            governance: tree(TREE_GOVERNANCE)?,
            db,
            disk,
        }
        .migrated()
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database's size on disk, in bytes (blocks and records together).
    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Makes every write so far durable. Call before acting on stored state. (Does
    /// nothing on a database opened with [`Store::open_unsynced`].)
    ///
    /// After a write has failed in sled this answers [`StorageError::WriteFailed`] at once:
    /// sled's flush would wait forever.
    pub fn flush(&self) -> Result<(), StorageError> {
        self.disk.check_failed()?;
        if self.synced {
            self.db.flush().map_err(|e| self.disk.write_error(e))?;
        }
        Ok(())
    }

    /// Whether writes of `len` bytes in all would fit now ([`StorageError::DiskFull`] if
    /// not): checked before a write made of several parts (a file's blocks), so that none
    /// of it is written when the whole does not fit.
    pub fn check_room(&self, len: usize) -> Result<(), StorageError> {
        self.disk.check_write(len)
    }

    /// Bytes free on the database's disk (`None` when the file system cannot say).
    pub fn free_bytes(&self) -> Option<u64> {
        self.disk.free_bytes()
    }

    /// Reads a small metadata value.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.meta.get(key.as_bytes())?.map(|v| v.to_vec()))
    }

    /// Writes a small metadata value and flushes it.
    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.meta.insert(key.as_bytes(), value)?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_in_use_is_a_clear_error_and_free_once_dropped() -> Result<(), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| StorageError::Corrupt {
            what: "test",
            reason: e.to_string(),
        })?;
        let first = Store::open(dir.path())?;
        let second = Store::open(dir.path());
        assert!(
            matches!(second, Err(StorageError::Locked { .. })),
            "second open: {second:?}"
        );
        drop(first);
        Store::open(dir.path()).map(|_| ())
    }
}
