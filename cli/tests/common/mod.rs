//! Running the `pictor` binary from the tests, as a user would from the repository root.

use std::{path::Path, process::Command};

/// Runs `pictor args…` in the repository root: (exit code, stdout, stderr).
pub(crate) fn pictor(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pictor"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("pictor runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

// Each test binary uses a part of these helpers.
#[allow(dead_code)]
pub(crate) mod devnet;
#[allow(dead_code)]
pub(crate) mod http;
#[allow(dead_code)]
pub(crate) mod running;
