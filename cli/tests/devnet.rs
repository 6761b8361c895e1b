//! `pictor devnet up|status|down`: a network of real `pictor node` processes on loopback.

mod common;

use std::{collections::HashSet, path::Path};

use common::pictor;
use nix::{sys::signal, unistd::Pid};

/// Stops the network when the test ends, however it ends.
struct Network<'a>(&'a Path);

impl Drop for Network<'_> {
    fn drop(&mut self) {
        let _ = pictor(&[
            "devnet",
            "down",
            "--dir",
            self.0.to_str().expect("a UTF-8 path"),
            "--grace",
            "5",
        ]);
    }
}

fn status(dir: &Path) -> Vec<serde_json::Value> {
    let (code, out, err) = pictor(&[
        "devnet",
        "status",
        "--dir",
        dir.to_str().expect("a UTF-8 path"),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    v["nodes"].as_array().expect("nodes").clone()
}

fn up(dir: &Path) -> String {
    let (code, out, err) = pictor(&[
        "devnet",
        "up",
        "--dir",
        dir.to_str().expect("a UTF-8 path"),
        "--checkers",
        "2",
        "--workers",
        "1",
    ]);
    assert_eq!(code, 0, "devnet up: {err}");
    out
}

#[test]
fn a_devnet_of_processes_forms_restarts_one_node_and_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let _network = Network(&dir);
    up(&dir);

    let nodes = status(&dir);
    let names: Vec<&str> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["checker-1", "checker-2", "worker-1", "creator"]);
    let peers: HashSet<&str> = nodes
        .iter()
        .map(|n| n["peer_id"].as_str().unwrap())
        .collect();
    assert_eq!(peers.len(), 4, "distinct peer ids");
    for n in &nodes {
        assert_eq!(n["running"], true, "{n}");
        let keys: HashSet<&str> = n.as_object().unwrap().keys().map(String::as_str).collect();
        let expected: HashSet<&str> = [
            "name", "role", "home", "peer_id", "listen", "http", "running", "pid",
        ]
        .into();
        assert_eq!(keys, expected);
    }
    let spec = std::fs::read_to_string(dir.join("network.toml")).unwrap();
    assert!(
        spec.contains("committee_size = 2") && spec.contains("/p2p/"),
        "{spec}"
    );

    // Kill one node: `up` again starts only that one.
    let pid_of = |nodes: &[serde_json::Value], name: &str| {
        nodes.iter().find(|n| n["name"] == name).unwrap()["pid"]
            .as_i64()
            .unwrap()
    };
    let worker = pid_of(&nodes, "worker-1");
    signal::kill(Pid::from_raw(worker as i32), signal::Signal::SIGKILL).unwrap();
    // A signal is delivered when the process next runs: wait until it is dead (gone or a
    // zombie) before asking `up` to notice.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pictor_node::devnet::processes::is_pictor_process(worker as u32) {
        assert!(std::time::Instant::now() < deadline, "SIGKILL took effect");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = up(&dir);
    assert!(out.contains("started: worker-1\n"), "{out}");
    let after = status(&dir);
    assert!(after.iter().all(|n| n["running"] == true), "{after:?}");
    assert_ne!(pid_of(&after, "worker-1"), worker);
    for name in ["checker-1", "checker-2", "creator"] {
        assert_eq!(
            pid_of(&after, name),
            pid_of(&nodes, name),
            "{name} kept running"
        );
    }

    let (code, out, err) = pictor(&[
        "devnet",
        "down",
        "--dir",
        dir.to_str().expect("a UTF-8 path"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("stopped:"), "{out}");
    assert!(status(&dir)
        .iter()
        .all(|n| n["running"] == false && n["pid"].is_null()));
    let (code, out, _) = pictor(&[
        "devnet",
        "down",
        "--dir",
        dir.to_str().expect("a UTF-8 path"),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("no node"), "idempotent: {out}");
}
