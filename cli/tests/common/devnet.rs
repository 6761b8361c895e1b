//! A local network of `pictor node` processes (`pictor devnet`), stopped when the test
//! ends however it ends, and what the process tests do to its nodes.

use std::{
    path::{Path, PathBuf},
    process::Child,
};

use nix::{sys::signal, unistd::Pid};

use super::pictor;

/// A path as an argument.
pub(crate) fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// The devnet in `dir` and the children a test started beside it: all stopped on drop.
pub(crate) struct Network {
    pub(crate) dir: PathBuf,
    pub(crate) children: Vec<Child>,
}

impl Network {
    pub(crate) fn new(dir: PathBuf) -> Network {
        Network {
            dir,
            children: Vec::new(),
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = pictor(&["devnet", "down", "--dir", path(&self.dir), "--grace", "5"]);
    }
}

/// SIGKILL: the process gets no chance to clean up.
pub(crate) fn kill(pid: i32) {
    signal::kill(Pid::from_raw(pid), signal::Signal::SIGKILL).expect("SIGKILL");
}

/// `pictor devnet up` in `dir` with `checkers` checkers and `workers` workers; the test
/// fails if it does.
pub(crate) fn up(dir: &Path, checkers: usize, workers: usize) {
    up_with(dir, checkers, workers, &[]);
}

/// [`up`] with more of `devnet up`'s flags (`--worker-price N`).
pub(crate) fn up_with(dir: &Path, checkers: usize, workers: usize, flags: &[&str]) {
    let (checkers, workers) = (checkers.to_string(), workers.to_string());
    let mut args = vec![
        "devnet",
        "up",
        "--dir",
        path(dir),
        "--checkers",
        &checkers,
        "--workers",
        &workers,
    ];
    args.extend(flags);
    let (code, _, err) = pictor(&args);
    assert_eq!(code, 0, "devnet up: {err}");
}

/// A running node's runtime file (`node.json`: pid, public key, addresses).
pub(crate) fn runtime(home: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(home.join("node.json")).expect("node.json");
    serde_json::from_str(&text).expect("node.json is JSON")
}
