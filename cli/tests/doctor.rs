//! `pictor node --role relay` and `pictor doctor` as an operator runs them: real processes
//! on loopback. (Nodes behind NAT, relayed and hole-punched, are tested on the namespace
//! testnet: tests/tests/testnet_local.rs.)

mod common;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use common::{pictor, running::Running};

fn init(home: &Path) -> String {
    let (code, out, err) = pictor(&["init", "--home", home.to_str().expect("a UTF-8 path")]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .find_map(|l| l.trim().strip_prefix("peer id"))
        .map(|p| p.trim().to_owned())
        .expect("init prints the peer id")
}

fn start(home: &Path, role: &str, listen: &str, bootnode: Option<&str>) -> Running {
    let mut args = vec![
        "node",
        "--home",
        home.to_str().expect("a UTF-8 path"),
        "--role",
        role,
        "--listen",
        listen,
        "--http",
        "127.0.0.1:0",
    ];
    if let Some(b) = bootnode {
        args.extend(["--bootnode", b]);
    }
    Running::start_quiet(&args)
}

/// `pictor doctor --home HOME --json [more]`, once the node answers.
fn doctor(home: &Path, more: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "doctor",
        "--home",
        home.to_str().expect("a UTF-8 path"),
        "--json",
    ];
    args.extend(more);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, out, err) = pictor(&args);
        if code == 0 {
            return serde_json::from_str(&out).expect("doctor prints JSON");
        }
        assert!(Instant::now() < deadline, "doctor failed: {err}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn doctor_reports_autonat_verdicts_and_how_a_peer_is_reached() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (relay_home, node_home) = (dir.path().join("relay"), dir.path().join("node"));
    let relay_peer = init(&relay_home);
    init(&node_home);
    let port = free_port();
    let _relay = start(
        &relay_home,
        "relay",
        &format!("/ip4/127.0.0.1/tcp/{port}"),
        None,
    );
    let boot = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{relay_peer}");
    let _node = start(&node_home, "creator", "/ip4/127.0.0.1/tcp/0", Some(&boot));

    // The relay says what it is; the node is tested by AutoNAT (the relay dials its address
    // back) and found public: on loopback every listen address is reachable.
    let relay = doctor(&relay_home, &[]);
    assert_eq!(relay["reach"]["relay_server"], true, "{relay}");
    assert_eq!(
        relay["node"]["roles"],
        serde_json::json!(["relay"]),
        "{relay}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = loop {
        let report = doctor(&node_home, &[]);
        if report["reach"]["reachability"] == "public" {
            break report;
        }
        assert!(
            Instant::now() < deadline,
            "no AutoNAT verdict in 60 s: {report}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let reach = &report["reach"];
    assert!(
        reach["autonat"].as_array().is_some_and(|p| p
            .iter()
            .any(|p| p["reachable"] == true && p["server"] == relay_peer.as_str())),
        "the relay tested the node: {report}"
    );
    assert!(
        reach["external"].as_array().is_some_and(|a| !a.is_empty()),
        "a confirmed address: {report}"
    );
    // A public node asks no relay for a reservation.
    assert_eq!(reach["relays"], serde_json::json!([]), "{report}");
    assert_eq!(reach["advice"], serde_json::Value::Null, "{report}");

    let connect = doctor(&node_home, &["--connect", &relay_peer]);
    assert_eq!(connect["connect"]["how"], "direct", "{connect}");
    assert_eq!(connect["connect"]["peer"], relay_peer.as_str(), "{connect}");

    // A peer id that is not one: one line, a non-zero exit, nothing else.
    let (code, _, err) = pictor(&[
        "doctor",
        "--home",
        node_home.to_str().expect("a UTF-8 path"),
        "--connect",
        "not-a-peer",
    ]);
    assert_ne!(code, 0);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("not a peer id"), "{err}");

    // The text report names the verdict and the node's addresses.
    let (code, out, err) = pictor(&[
        "doctor",
        "--home",
        node_home.to_str().expect("a UTF-8 path"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("reachability  public"), "{out}");
    assert!(out.contains("autonat"), "{out}");
}
