use pictor_protocol::{ContentId, JobId};

/// What can go wrong running a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The node's configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The database failed; the operation changed nothing.
    #[error(transparent)]
    Storage(#[from] pictor_storage::StorageError),
    /// A key file could not be read or written.
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    /// Listening on an address failed.
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    /// Dialling a peer failed.
    #[error("cannot dial {addr}: {reason}")]
    Dial { addr: String, reason: String },
    /// The scene file does not exist.
    #[error("scene {0} not found")]
    SceneNotFound(String),
    /// The job is not acceptable.
    #[error("invalid job: {0}")]
    InvalidJob(String),
    /// A job that the node does not know.
    #[error("unknown job {0}")]
    UnknownJob(JobId),
    /// A block that no peer could provide.
    #[error("block {0} is not available")]
    MissingBlock(ContentId),
    /// The node's event loop has stopped.
    #[error("the node has shut down")]
    Shutdown,
    /// The scene cannot be used.
    #[error(transparent)]
    Scene(#[from] pictor_gpu::SceneError),
    /// Rendering failed.
    #[error(transparent)]
    Render(#[from] pictor_gpu::RenderError),
    /// A file could not be written.
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    /// An engine (Blender) is missing or failed; the text is the engine's own.
    #[error("{0}")]
    Engine(String),
    /// The scene file is not one the engine can read.
    #[error("invalid scene: {0}")]
    InvalidScene(String),
    /// This worker does not meet the network's hardware requirements (one line: why).
    #[error("{0}")]
    Requirements(String),
    /// An IPFS operation (Bitswap, UnixFS) failed.
    #[error("ipfs: {0}")]
    Ipfs(String),
    /// Publishing to the network failed.
    #[error("publish failed: {0}")]
    Publish(String),
    /// A credits request was refused or did not finish (the reason says which).
    #[error("credits: {0}")]
    Credits(String),
}
