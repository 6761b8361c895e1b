//! Shared helpers of Pictor's multi-node integration tests.

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// An example scene shipped in `examples/scenes/`.
pub fn example_scene(name: &str) -> PathBuf {
    repo_root().join("examples").join("scenes").join(name)
}
