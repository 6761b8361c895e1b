//! Every seed input and every input a fuzzer once found a fault with, through the same
//! checks the fuzz targets make (on stable, in every test run).
//!
//! `fuzz/seeds/<target>/` holds the seed corpus (real inputs: the example scenes, the
//! shared glTF models, recorded network messages); `fuzz/regressions/<target>/` the inputs
//! that once failed a check, kept so that the fault stays fixed.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn run(kind: &str) -> usize {
    let mut count = 0;
    for (target, check) in pictor_fuzz::TARGETS {
        for path in inputs(kind, target) {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{target}: {} fails its check",
                path.display()
            );
            count += 1;
        }
    }
    count
}

#[test]
fn every_target_has_seeds_and_every_seed_passes() {
    for (target, _) in pictor_fuzz::TARGETS {
        assert!(
            !inputs("seeds", target).is_empty(),
            "fuzz/seeds/{target}/ has no seed inputs"
        );
    }
    let count = run("seeds");
    println!("{count} seed inputs checked");
}

#[test]
fn every_saved_regression_passes() {
    let count = run("regressions");
    println!("{count} regression inputs checked");
}
