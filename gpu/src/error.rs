//! Error types of the built-in engine.

use std::path::PathBuf;

/// Why a scene could not be read, bundled or prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SceneError {
    /// Reading a file failed.
    // The reason is in the message and not a `source`: a report that prints the chain
    // would say it twice.
    #[error("cannot read {}: {reason}", path.display())]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying error.
        reason: std::io::Error,
    },
    /// A file the scene references is not there (on disk or in the bundle).
    #[error("missing file {path} (referenced by the scene)")]
    MissingFile {
        /// The path, as the scene names it.
        path: String,
    },
    /// The file is neither `.gltf` nor `.glb`.
    #[error("unsupported scene format {path}: expected a .gltf or .glb file")]
    UnsupportedFormat {
        /// The offending path.
        path: String,
    },
    /// The glTF could not be parsed or is invalid.
    #[error("{0}")]
    Gltf(String),
    /// A URI inside the scene points outside the scene's folder or is not a file.
    #[error("unsafe uri {uri:?} in the scene: {reason}")]
    UnsafeUri {
        /// The URI as written in the scene.
        uri: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An image referenced by the scene could not be decoded.
    #[error("cannot decode image {name}: {reason}")]
    Image {
        /// Which image (its uri or index).
        name: String,
        /// The decoder's message.
        reason: String,
    },
    /// The scene exceeds one of the engine's limits.
    #[error("scene too large: {what} is {actual}, the limit is {limit}")]
    TooLarge {
        /// What was counted.
        what: &'static str,
        /// The value found.
        actual: u64,
        /// The limit.
        limit: u64,
    },
    /// The scene bundle bytes are malformed.
    #[error("invalid scene bundle: {0}")]
    Bundle(String),
    /// The frame is not part of the scene's animation.
    #[error("frame {frame} is out of range: this scene has frames {first} to {last}")]
    FrameOutOfRange {
        /// The requested frame.
        frame: u32,
        /// First valid frame (always 1).
        first: u32,
        /// Last valid frame (`u32::MAX` for static scenes).
        last: u32,
    },
    /// The scene has no triangles to render.
    #[error("the scene has no triangle geometry to render")]
    NoGeometry,
}

/// Why a render request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// Width, height or samples are out of range.
    #[error("invalid render settings: {0}")]
    InvalidSettings(String),
    /// The requested rectangle does not lie inside the image.
    #[error("tile {x},{y} {w}x{h} is outside the {width}x{height} image")]
    RectOutOfBounds {
        /// Left edge of the rectangle.
        x: u32,
        /// Top edge of the rectangle.
        y: u32,
        /// Width of the rectangle.
        w: u32,
        /// Height of the rectangle.
        h: u32,
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
    },
    /// The scene cannot be rendered for these settings (e.g. frame out of range).
    #[error(transparent)]
    Scene(#[from] SceneError),
    /// PNG encoding or decoding failed.
    #[error("png: {0}")]
    Png(String),
}
