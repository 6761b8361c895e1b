//! Recording what a node reads from its peers, as seed inputs for the fuzz targets
//! (`fuzz/`): with `PICTOR_RECORD_INPUTS=DIR` in its environment, a node writes each
//! gossip message, point-to-point request and response, and Bitswap frame it reads to
//! `DIR/<kind>/<blake3 of the bytes>`, at most [`MAX_PER_KIND`] files of each kind. Without
//! the variable nothing is written and the check costs one load.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicUsize, Ordering},
        OnceLock,
    },
};

/// The environment variable naming the directory.
pub const VARIABLE: &str = "PICTOR_RECORD_INPUTS";
/// Files written per kind, at most.
pub const MAX_PER_KIND: usize = 512;

static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
static WRITTEN: AtomicUsize = AtomicUsize::new(0);

/// Whether inputs are being recorded.
pub fn enabled() -> bool {
    DIR.get_or_init(|| std::env::var_os(VARIABLE).map(PathBuf::from))
        .is_some()
}

/// Records `bytes` as an input of `kind` (a target's name), when recording.
pub fn input(kind: &str, bytes: &[u8]) {
    if !enabled() {
        return;
    }
    let Some(Some(dir)) = DIR.get() else {
        return;
    };
    // A bound over every kind; the per-kind bound is the files already there.
    if WRITTEN.fetch_add(1, Ordering::Relaxed) > 64 * MAX_PER_KIND {
        return;
    }
    let dir = dir.join(kind);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let full = std::fs::read_dir(&dir).map_or(true, |d| d.count() >= MAX_PER_KIND);
    if !full {
        let name = blake3::hash(bytes).to_hex();
        let _ = std::fs::write(dir.join(name.as_str()), bytes);
    }
}
