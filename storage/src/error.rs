use std::path::PathBuf;

/// What can go wrong reading or writing the node's database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database could not be opened (missing permissions, a lock held by another
    /// process, a corrupt file).
    #[error("cannot open the database at {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    /// The disk holding the database is full, so it cannot be opened (sled writes when
    /// it opens). Nothing stored in it is lost: it opens once there is room.
    #[error(
        "cannot open the database at {path}: the disk is full ({free} bytes free); free \
         some space and start the node again (what it stored is kept)"
    )]
    NoRoomToOpen { path: PathBuf, free: u64 },
    /// Another process (another pictor node on the same home?) holds the database.
    #[error("the database at {path} is in use by another process")]
    Locked { path: PathBuf },
    /// A read or write failed. Nothing was changed.
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    /// The disk holding the database is full: a write that would leave less than
    /// [`crate::MIN_FREE_BYTES`] free was refused before it was made. Nothing was
    /// written; writes succeed again once there is room.
    #[error(
        "the disk is full: {free} bytes free on the disk of {path}, and a write of {len} \
         bytes must leave {reserve} free; nothing was written (free some space and the \
         node goes on)"
    )]
    DiskFull {
        path: PathBuf,
        free: u64,
        len: u64,
        reserve: u64,
    },
    /// A write or flush failed inside the database (the disk filled up under it, an I/O
    /// error). sled takes no more writes in this process; what was stored before is kept.
    #[error(
        "the database at {path} failed a write ({reason}) and takes no more writes until \
         the node restarts; what was stored before it is kept"
    )]
    WriteFailed { path: PathBuf, reason: String },
    /// A stored record did not decode: the database is corrupt or from another version.
    #[error("corrupt {what} record in the database: {reason}")]
    Corrupt { what: &'static str, reason: String },
    /// A block's bytes do not hash to the id they were stored under.
    #[error("block {id} in the database does not match its content id")]
    BlockMismatch { id: String },
    /// A block stored as a tile block (a shard output) is not one.
    #[error("not a tile block: {reason}")]
    NotATile { reason: String },
    /// A block is larger than the store accepts.
    #[error("block of {len} bytes exceeds the limit of {max} bytes")]
    BlockTooLarge { len: usize, max: usize },
}
