//! The namespace testnet (`scripts/testnet-local.sh`): a relay (`--role relay`) and 4
//! checkers (the relay and checker-1 the bootnodes), a public worker, a creator and two
//! workers each behind a masquerading NAT router of its own, each node a real `pictor node`
//! process in a Linux network namespace of its own. A job from the creator completes, the
//! NATed workers render some of its shards, and the frames are written; AutoNAT tells the
//! NATed workers they are behind NAT, they take a reservation on the relay, and one NATed
//! worker reaches the other through the relay and then directly by a hole punch.
//!
//! The script needs root and `ip`, `nft`, `tc` and `jq` (scripts/setup-testnet.sh installs
//! them): outside CI the test skips without them; in CI (which runs it as root) it fails
//! instead. The namespaces are named `ptn-*`: a testnet already up on this machine is taken
//! down first. The program is `$PICTOR_BIN`, else the `pictor` built beside this test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pictor_tests::{repo_root, skip_unless_ci};

const TEST: &str = "the namespace testnet test";

fn script() -> PathBuf {
    repo_root().join("scripts").join("testnet-local.sh")
}

/// Why the script cannot run here, if it cannot: not root, or a tool missing.
fn missing() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("it needs root (network namespaces, veths, nftables)".into());
    }
    for tool in ["ip", "nft", "tc", "jq"] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("PATH=\"$PATH:/usr/sbin:/sbin\" command -v {tool}"))
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!(
                "`{tool}` is missing (scripts/setup-testnet.sh installs it)"
            ));
        }
    }
    None
}

/// `$PICTOR_BIN`, else the `pictor` of this test's own target directory
/// (`target/debug/deps/testnet_local-…` → `target/debug/pictor`), else the release build.
fn pictor_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("PICTOR_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("this test's path");
    let beside = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("pictor"));
    if let Some(bin) = beside.filter(|b| b.is_file()) {
        return bin;
    }
    let release = repo_root().join("target").join("release").join("pictor");
    assert!(
        release.is_file(),
        "no pictor program: build it (cargo build -p pictor-cli) or set PICTOR_BIN"
    );
    release
}

/// Runs the script with `args` and `--dir dir`.
fn run(bin: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(script())
        .args(args)
        .arg("--dir")
        .arg(dir)
        .env("PICTOR_BIN", bin)
        .output()
        .expect("run scripts/testnet-local.sh")
}

/// The script's output and the last lines of every node's log, for a failure message.
fn explain(output: &Output, dir: &Path) -> String {
    let mut text = format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut homes: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    homes.sort();
    for home in homes {
        let log = std::fs::read_to_string(home.join("node.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(8)..].join("\n");
        if !tail.is_empty() {
            text.push_str(&format!("\n--- {}:\n{tail}", home.display()));
        }
    }
    text
}

/// Takes the testnet down when dropped: every node stopped, every namespace deleted, a
/// failed test too.
struct Down {
    bin: PathBuf,
    dir: PathBuf,
}

impl Drop for Down {
    fn drop(&mut self) {
        let output = run(&self.bin, &self.dir, &["down"]);
        if !output.status.success() {
            eprintln!("testnet-local.sh down: {}", explain(&output, &self.dir));
        }
    }
}

/// The namespaces named `ptn-*` (what `ip netns list` lists, from /run/netns).
fn our_namespaces() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("ptn-"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `pictor doctor` of a NATed worker: AutoNAT found it unreachable and it holds a
/// reservation on the relay; the other NATed worker dials it by peer id and gets through
/// the relay, then directly by a hole punch through both NATs.
fn check_nat_traversal(bin: &Path, dir: &Path) {
    let doctor = |args: &[&str]| -> serde_json::Value {
        let out = run(bin, dir, args);
        assert!(
            out.status.success(),
            "doctor failed: {}",
            explain(&out, dir)
        );
        serde_json::from_slice(&out.stdout).expect("doctor JSON")
    };
    // Both NATed workers hold a reservation (AutoNAT's first probe is 5 s after a node has
    // peers; on a loaded machine it takes longer).
    let mut report = serde_json::Value::Null;
    for name in ["worker-nat-2", "worker-nat-1"] {
        for _ in 0..90 {
            report = doctor(&["doctor", name, "--json"]);
            let reserved = report["reach"]["relays"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["state"] == "reserved"));
            if reserved {
                break;
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
    let reach = &report["reach"];
    assert!(
        ["relayed", "hole_punched"].contains(&reach["reachability"].as_str().unwrap_or("")),
        "worker-nat-1 should know it is behind NAT and reached through the relay: {report}"
    );
    assert!(
        reach["autonat"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["reachable"] == false)),
        "AutoNAT tested worker-nat-1 and could not dial it back: {report}"
    );
    assert!(
        reach["external"].as_array().is_some_and(|a| a
            .iter()
            .any(|a| a.as_str().is_some_and(|a| a.contains("/p2p-circuit")))),
        "its relayed address is among its external addresses: {report}"
    );
    let connect = doctor(&[
        "doctor",
        "worker-nat-2",
        "--connect",
        "worker-nat-1",
        "--json",
    ]);
    let how = &connect["connect"];
    assert_eq!(
        how["how"], "hole-punched",
        "worker-nat-2 reaches worker-nat-1 through the relay and then directly: {connect}"
    );
    // The direct connection goes to worker-nat-1's router, the only public address it has.
    assert!(
        how["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("/ip4/10.77.0.") && !a.contains("p2p-circuit")),
        "{connect}"
    );
}

#[test]
fn a_worker_behind_nat_renders_on_the_namespace_testnet() {
    if let Some(reason) = missing() {
        return skip_unless_ci(TEST, &reason);
    }
    let bin = pictor_bin();
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("testnet");
    let _down = Down {
        bin: bin.clone(),
        dir: dir.clone(),
    };

    let up = run(&bin, &dir, &["up"]);
    if up.status.code() == Some(2) {
        // The script's own check: not root, or a tool missing.
        return skip_unless_ci(TEST, String::from_utf8_lossy(&up.stderr).trim());
    }
    assert!(up.status.success(), "up failed: {}", explain(&up, &dir));

    check_nat_traversal(&bin, &dir);

    let job = run(&bin, &dir, &["job", "--json", "--timeout", "120"]);
    let summary: serde_json::Value = serde_json::from_slice(&job.stdout)
        .unwrap_or_else(|e| panic!("job printed no JSON ({e}): {}", explain(&job, &dir)));
    assert_eq!(
        summary["state"],
        "complete",
        "the job did not complete: {}",
        explain(&job, &dir)
    );
    let workers = summary["workers"].as_array().expect("workers");
    let nat: Vec<&serde_json::Value> = workers.iter().filter(|w| w["reach"] == "nat").collect();
    assert!(!nat.is_empty(), "no NATed worker in {summary}");
    for worker in &nat {
        assert!(
            worker["accepted"].as_u64().unwrap_or(0) >= 1,
            "{} (behind NAT) accepted no shard: {}",
            worker["name"],
            explain(&job, &dir)
        );
    }
    // The job was paid for: every worker that rendered was paid, from the job's escrow,
    // and what was left went back to the creator.
    let escrow = &summary["escrow"];
    assert_eq!(
        escrow["closed"], true,
        "the job's escrow is refunded: {summary}"
    );
    let paid: u64 = workers
        .iter()
        .map(|w| w["paid"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        escrow["paid_workers"].as_u64(),
        Some(paid),
        "the workers' balances grew by what the escrow paid them: {summary}"
    );
    for worker in workers {
        if worker["accepted"].as_u64().unwrap_or(0) >= 1 {
            assert!(
                worker["paid"].as_u64().unwrap_or(0) >= 1,
                "{} rendered and was not paid: {summary}",
                worker["name"]
            );
        }
    }
    for worker in workers {
        let reached = worker["reached"].as_str().unwrap_or("");
        let expected: &[&str] = if worker["reach"] == "nat" {
            &["relayed", "hole-punched"]
        } else {
            &["public"]
        };
        assert!(
            expected.contains(&reached),
            "{} says it is reached as {reached:?}, not one of {expected:?}: {summary}",
            worker["name"]
        );
    }
    let frames = summary["frames_written"]
        .as_array()
        .expect("frames_written");
    assert_eq!(frames.len(), 2, "two frames written: {summary}");
    for frame in frames {
        let path = PathBuf::from(frame.as_str().expect("a frame's path"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{} is not a PNG",
            path.display()
        );
    }
    assert!(job.status.success(), "job failed: {}", explain(&job, &dir));

    let status = run(&bin, &dir, &["status", "--json"]);
    assert!(
        status.status.success(),
        "status failed: {}",
        explain(&status, &dir)
    );
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    let nodes = status["nodes"].as_array().expect("nodes");
    assert_eq!(
        nodes.len(),
        9,
        "a relay, 4 checkers, 3 workers, a creator: {status}"
    );
    for node in nodes {
        assert_eq!(
            node["running"], true,
            "{} is not running: {status}",
            node["name"]
        );
        assert!(
            node["pid"].as_u64().is_some(),
            "{} has no pid",
            node["name"]
        );
    }
    let nat_nodes: Vec<&serde_json::Value> = nodes.iter().filter(|n| n["reach"] == "nat").collect();
    assert_eq!(nat_nodes.len(), 2, "two NATed workers: {status}");
    for nat_node in nat_nodes {
        assert_eq!(nat_node["role"], "worker");
        assert!(
            nat_node["address"]
                .as_str()
                .is_some_and(|a| a.starts_with("10.7") && !a.starts_with("10.77.")),
            "a NATed worker has only a private address: {nat_node}"
        );
    }

    // A new worker in the place of worker-1 and of worker-nat-1 joins while a job runs
    // (the bench's run): each receives shards of a job gossiped before it was there.
    let bench = run(&bin, &dir, &["bench", "--runs", "1", "--json"]);
    assert!(
        bench.status.success(),
        "bench failed: {}",
        explain(&bench, &dir)
    );
    let bench: serde_json::Value = serde_json::from_slice(&bench.stdout).expect("bench JSON");
    for key in ["join_public_median_ms", "join_nat_median_ms"] {
        assert!(
            bench[key].as_f64().is_some_and(|ms| ms > 0.0),
            "{key}: {bench}"
        );
    }
    // Its hole punch is a figure, not a check (the strict one is check_nat_traversal's):
    // on a loaded machine the new worker may not hold its reservation yet.
    assert!(bench["each"][0]["connect"].is_string(), "{bench}");

    // Two checkers restart: only the NATed worker can open a connection to them again, and
    // it does (it dials the set's checkers it is not connected to every 10 s). Without that
    // the committee lost two of its four members for this worker and none of its claims
    // was certified.
    let restart = run(&bin, &dir, &["restart", "checker-2", "checker-3"]);
    assert!(
        restart.status.success(),
        "restart failed: {}",
        explain(&restart, &dir)
    );
    std::thread::sleep(std::time::Duration::from_secs(12));
    let again = run(&bin, &dir, &["job", "--json", "--timeout", "120"]);
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout)
        .unwrap_or_else(|e| panic!("job printed no JSON ({e}): {}", explain(&again, &dir)));
    assert_eq!(summary["state"], "complete", "{}", explain(&again, &dir));
    for worker in summary["workers"].as_array().expect("workers") {
        if worker["reach"] == "nat" {
            assert!(
                worker["accepted"].as_u64().unwrap_or(0) >= 1,
                "after the checkers restarted, {} (behind NAT) accepted no shard: {}",
                worker["name"],
                explain(&again, &dir)
            );
        }
    }

    let down = run(&bin, &dir, &["down"]);
    assert!(
        down.status.success(),
        "down failed: {}",
        explain(&down, &dir)
    );
    assert_eq!(
        our_namespaces(),
        Vec::<String>::new(),
        "down leaves no namespace"
    );
    // Every node stopped (a zombie left for init to reap counts as stopped).
    let after = run(&bin, &dir, &["status", "--json"]);
    let after: serde_json::Value = serde_json::from_slice(&after.stdout).expect("status JSON");
    for node in after["nodes"].as_array().expect("nodes") {
        assert_eq!(
            node["running"], false,
            "{} still runs after down",
            node["name"]
        );
    }
}
