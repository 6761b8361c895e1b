//! Why a Blender render failed.

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong with the Blender engine. Errors that come from Blender itself carry the
/// last lines it printed (`tail`), so that the cause reaches the user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlenderError {
    /// No Blender binary was found.
    #[error(
        "Blender is not installed (looked for `blender` on PATH and $PICTOR_BLENDER); \
         install it with `apt-get install blender`"
    )]
    NotFound,
    /// `$PICTOR_BLENDER` (or an explicit path) names something that is not an executable.
    #[error("{} is not an executable file ({origin}); point it at the Blender binary", path.display())]
    NotExecutable {
        /// The path that was given.
        path: PathBuf,
        /// Where the path came from (`"$PICTOR_BLENDER"`, `"given path"`).
        origin: &'static str,
    },
    /// The Blender process could not be started.
    #[error("cannot start Blender ({}): {source}", path.display())]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `blender --version` printed no version.
    #[error("cannot read Blender's version from `blender --version`: {output}")]
    Version {
        /// What it printed (the last lines).
        output: String,
    },
    /// The scene file does not exist or is not a file.
    #[error("scene file {} does not exist or is not a file", path.display())]
    SceneNotFound {
        /// The path that was given.
        path: PathBuf,
    },
    /// The request is invalid (checked before Blender runs, or by the render server).
    #[error("invalid Blender render request: {0}")]
    InvalidRequest(String),
    /// Blender exited before its render server was ready: usually the .blend could not be
    /// loaded.
    #[error("Blender could not open {} ({status}): {tail}", scene.display())]
    StartFailed {
        /// The scene file.
        scene: PathBuf,
        /// How the process ended.
        status: String,
        /// Blender's last lines.
        tail: String,
    },
    /// Blender exited while rendering (a crash, or it was killed from outside).
    #[error("Blender exited unexpectedly ({status}): {tail}")]
    Exited {
        /// How the process ended.
        status: String,
        /// Blender's last lines.
        tail: String,
    },
    /// Blender answered that the render failed.
    #[error("Blender failed to render: {message} (Blender's last lines: {tail})")]
    Render {
        /// The error Blender reported.
        message: String,
        /// Blender's last lines.
        tail: String,
    },
    /// The requested compute device is not available.
    #[error("{device} is not available to Blender: {message}")]
    DeviceUnavailable {
        /// The device asked for (`"CUDA"`, `"OPTIX"`).
        device: &'static str,
        /// Blender's explanation.
        message: String,
    },
    /// Blender did not finish in time; the process was killed (a session restarts it on the
    /// next call).
    #[error("Blender did not {during} within {limit:?}; the process was killed")]
    Timeout {
        /// What it was doing (`"start"`, `"render"`).
        during: &'static str,
        /// The time limit.
        limit: Duration,
    },
    /// The image Blender wrote is missing or unreadable.
    #[error("cannot read Blender's output {}: {message}", path.display())]
    Output {
        /// The image file.
        path: PathBuf,
        /// What was wrong with it.
        message: String,
    },
    /// Blender's render server answered something unexpected.
    #[error("unexpected answer from Blender's render server: {0}")]
    Protocol(String),
    /// A local file operation failed (the session's work folder).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl BlenderError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> BlenderError {
        BlenderError::Io {
            context: context.into(),
            source,
        }
    }
}
