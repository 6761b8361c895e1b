//! Room on the disk: every write to the database first checks that the disk keeps
//! [`MIN_FREE_BYTES`] free, so the database never runs into a full disk.
//!
//! sled 0.34 does not survive one: after a write fails with "no space left on device"
//! its reads fail while the disk stays full, and the next flush waits forever (a node
//! would stall). A write that would leave less than the reserve free is refused here
//! before sled sees it ([`StorageError::DiskFull`]); nothing is written, and writes go on
//! by themselves once there is room again. Removals are not checked: they are how room is
//! made. If the disk fills up under sled anyway (another program took the reserve between
//! the check and the write), the first failed write or flush marks the database failed:
//! later writes and flushes answer [`StorageError::WriteFailed`] at once instead of
//! hanging, and the node takes writes again after a restart.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::StorageError;

/// The least free space a write must leave on the database's disk. sled writes its log
/// in segments of 512 KiB and large values as files of their own; the reserve leaves
/// room for what it writes besides the values (segments, snapshots, a flush).
pub const MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

/// The database's disk as every tree sees it: where it is, and whether a write failed.
#[derive(Debug, Clone)]
pub(crate) struct Disk {
    inner: Arc<DiskState>,
}

#[derive(Debug)]
struct DiskState {
    path: PathBuf,
    /// Why a write failed in sled, once one has (it takes no more writes after).
    failed: OnceLock<String>,
}

impl Disk {
    pub(crate) fn new(path: &Path) -> Disk {
        Disk {
            inner: Arc::new(DiskState {
                path: path.to_path_buf(),
                failed: OnceLock::new(),
            }),
        }
    }

    /// Bytes free for this process on the database's disk (`None` when the file system
    /// cannot say: then the write is not held back).
    // The field types are the platform's (u32 on some 32-bit targets).
    #[allow(clippy::useless_conversion)]
    pub(crate) fn free_bytes(&self) -> Option<u64> {
        let stat = nix::sys::statvfs::statvfs(&self.inner.path).ok()?;
        let blocks = u64::try_from(stat.blocks_available()).ok()?;
        let size = u64::try_from(stat.fragment_size()).ok()?;
        Some(blocks.saturating_mul(size))
    }

    /// Whether a write of `len` bytes may go ahead: sled has not failed, and it leaves
    /// [`MIN_FREE_BYTES`] free.
    pub(crate) fn check_write(&self, len: usize) -> Result<(), StorageError> {
        self.check_failed()?;
        let len = u64::try_from(len).unwrap_or(u64::MAX);
        match self.free_bytes() {
            Some(free) if free < len.saturating_add(MIN_FREE_BYTES) => {
                Err(StorageError::DiskFull {
                    path: self.inner.path.clone(),
                    free,
                    len,
                    reserve: MIN_FREE_BYTES,
                })
            }
            _ => Ok(()),
        }
    }

    /// [`StorageError::WriteFailed`] once a write has failed in sled.
    pub(crate) fn check_failed(&self) -> Result<(), StorageError> {
        match self.inner.failed.get() {
            Some(reason) => Err(StorageError::WriteFailed {
                path: self.inner.path.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Turns sled's error on a write or a flush into ours; an I/O error marks the
    /// database failed (sled takes no more writes after one).
    pub(crate) fn write_error(&self, error: sled::Error) -> StorageError {
        let sled::Error::Io(io) = &error else {
            return StorageError::Sled(error);
        };
        let reason = if io.kind() == std::io::ErrorKind::StorageFull {
            format!("the disk is full: {io}")
        } else {
            io.to_string()
        };
        let reason = self.inner.failed.get_or_init(|| reason).clone();
        tracing::error!(path = %self.inner.path.display(), %reason, "a database write failed; the node takes no more writes until it restarts");
        StorageError::WriteFailed {
            path: self.inner.path.clone(),
            reason,
        }
    }
}

/// A sled tree whose writes check the disk first ([`Disk::check_write`]); reads go
/// straight to sled.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    tree: sled::Tree,
    disk: Disk,
}

impl Tree {
    pub(crate) fn new(tree: sled::Tree, disk: Disk) -> Tree {
        Tree { tree, disk }
    }

    /// Inserts `value` under `key` if the disk has room for it; returns the value it
    /// replaced.
    pub(crate) fn insert(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<Option<sled::IVec>, StorageError> {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.disk
            .check_write(key.len().saturating_add(value.len()))?;
        self.tree
            .insert(key, value)
            .map_err(|e| self.disk.write_error(e))
    }

    /// Removes `key` (whatever the free space: removing is how room is made); returns
    /// the value it held.
    pub(crate) fn remove(&self, key: impl AsRef<[u8]>) -> Result<Option<sled::IVec>, StorageError> {
        self.disk.check_failed()?;
        self.tree
            .remove(key.as_ref())
            .map_err(|e| self.disk.write_error(e))
    }
}

impl Deref for Tree {
    type Target = sled::Tree;

    fn deref(&self) -> &sled::Tree {
        &self.tree
    }
}
