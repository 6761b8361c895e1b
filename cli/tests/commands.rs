//! The node's commands and access rules over real sockets: a port bound off loopback
//! needs the token, a lone worker is told why it gets no work, and the job commands
//! (submit, wait, watch, fetch, list, cancel) against a devnet of processes.

mod common;

use common::http::{call, request, Devnet};
use serde_json::{json, Value};

fn error_code(answer: &common::http::Answer) -> i64 {
    answer.json()["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("an error: {}", answer.json()))
}

#[test]
fn a_port_bound_off_loopback_needs_the_token_for_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let h = home.to_str().unwrap();
    let (code, _, err) = common::pictor(&["init", "--home", h]);
    assert_eq!(code, 0, "{err}");
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let http = format!("0.0.0.0:{port}");
    let _node = common::http::NodeProcess::start(
        &home,
        &[
            "--home",
            h,
            "--role",
            "creator",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--http",
            &http,
            "-q",
        ],
    );
    let addr = format!("127.0.0.1:{port}");
    let token = std::fs::read_to_string(home.join("rpc.token"))
        .unwrap()
        .trim()
        .to_owned();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(home.join("rpc.token"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let open = call(&addr, None, "node_info", json!({}));
    assert_eq!((open.status, error_code(&open)), (401, -32001));
    for path in [
        "/",
        "/metrics",
        "/explorer/app.js",
        "/ipfs/bafkqaaa?format=raw",
    ] {
        assert_eq!(request(&addr, "GET", path, &[], &[]).status, 401, "{path}");
    }
    assert_eq!(
        call(&addr, Some(&token), "node_info", json!({})).status,
        200
    );
    let bearer = format!("Bearer {token}");
    assert_eq!(
        request(&addr, "GET", "/metrics", &[("Authorization", &bearer)], &[]).status,
        200
    );
    let handover = request(&addr, "GET", &format!("/?token={token}"), &[], &[]);
    assert_eq!(handover.status, 303);
    let cookie = handover
        .header("set-cookie")
        .expect("a cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("pictor_token="));
    assert_eq!(
        request(&addr, "GET", "/", &[("Cookie", &cookie)], &[]).status,
        200,
        "the page with the cookie"
    );
    assert_eq!(request(&addr, "GET", "/?token=wrong", &[], &[]).status, 401);
}

#[test]
fn a_lone_worker_is_told_why_it_gets_no_work_and_the_commands_exit_as_documented() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("worker");
    let h = home.to_str().unwrap();
    // No node yet: exit 3, one line that says what to do.
    let (code, _, err) = common::pictor(&["status", "--home", h]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no node is running"), "{err}");
    let (code, _, err) = common::pictor(&["init", "--home", h]);
    assert_eq!(code, 0, "{err}");
    let _node = common::http::NodeProcess::start(
        &home,
        &[
            "--home",
            h,
            "--role",
            "worker",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--http",
            "127.0.0.1:0",
            "-q",
        ],
    );
    let (code, out, err) = common::pictor(&["status", "--home", h, "--json"]);
    assert_eq!(code, 0, "{err}");
    let status: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(status["node"]["roles"], json!(["worker"]));
    assert_eq!(status["diagnosis"]["ok"], false, "{status}");
    let findings = status["diagnosis"]["findings"].as_array().unwrap();
    let connection = findings
        .iter()
        .find(|f| f["topic"] == "connection")
        .expect("a connection finding");
    assert_eq!(connection["level"], "problem");
    assert!(
        connection["message"]
            .as_str()
            .unwrap()
            .contains("not connected"),
        "{connection}"
    );
    assert!(
        connection["fix"].as_str().unwrap().contains("bootnode"),
        "{connection}"
    );
    assert!(
        findings.iter().any(|f| f["topic"] == "reachability"),
        "{findings:?}"
    );
    let (code, text, _) = common::pictor(&["status", "--home", h]);
    assert_eq!(code, 0);
    assert!(text.contains("[FAIL]") && text.contains("fix:"), "{text}");
    // The node refuses: exit 4; bad arguments: exit 2.
    let (code, _, err) = common::pictor(&["job", "status", "00", "--home", h]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("not a job id"), "{err}");
    let (code, _, _) = common::pictor(&["rpc", "node_info", "{not json", "--home", h]);
    assert_eq!(code, 2);
    let (code, out, _) = common::pictor(&["rpc", "node_info", "--home", h]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["roles"],
        json!(["worker"])
    );
}

#[test]
fn the_job_commands_submit_wait_watch_fetch_list_and_cancel() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Devnet::up(&tmp.path().join("net"), 2, 2);
    let home = net.dir.join("creator");
    let h = home.to_str().unwrap();
    let scene = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/scenes/cornell-box.gltf");
    let scene = scene.to_str().unwrap();
    let out = tmp.path().join("frames");
    let o = out.to_str().unwrap();
    let (code, stdout, err) = common::pictor(&[
        "job",
        "submit",
        scene,
        "--frames",
        "1-2",
        "--samples",
        "8",
        "--wait",
        "--out",
        o,
        "--home",
        h,
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let summary: Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(
        (summary["state"].as_str(), summary["verified"].as_u64()),
        (Some("complete"), Some(24))
    );
    assert_eq!(summary["frames_written"].as_array().unwrap().len(), 2);
    for f in ["frame-0001.png", "frame-0002.png"] {
        assert!(
            std::fs::read(out.join(f)).unwrap().starts_with(b"\x89PNG"),
            "{f}"
        );
    }
    let job = summary["job_id"].as_str().unwrap().to_owned();
    // The same node found through --rpc and a token file.
    let (addr, _) = net.creator();
    let url = format!("http://{addr}");
    let (code, stdout, err) = common::pictor(&["job", "list", "--rpc", &url, "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()[0]["job_id"],
        job.as_str()
    );
    let again = tmp.path().join("again");
    let (code, text, err) = common::pictor(&[
        "job",
        "fetch",
        &job,
        "--out",
        again.to_str().unwrap(),
        "--home",
        h,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("2 frame(s) of 2 verified against their CIDs"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(again.join("frame-0002.png")).unwrap(),
        std::fs::read(out.join("frame-0002.png")).unwrap()
    );
    let (code, text, _) = common::pictor(&["job", "watch", &job, "--home", h]);
    assert_eq!(code, 0);
    assert!(
        text.contains("complete: 24 of 24 shards verified"),
        "{text}"
    );
    // A write through --rpc without the token is refused: exit 4, nothing submitted.
    let (code, _, err) = common::pictor(&["job", "submit", scene, "--rpc", &url]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("token"), "{err}");
    let (code, _, err) = common::pictor(&["job", "submit", "/nonexistent.gltf", "--home", h]);
    assert_eq!(code, 2, "{err}");
    // A long job, cancelled: watch and fetch say so with exit 5.
    let (code, stdout, err) = common::pictor(&[
        "job",
        "submit",
        scene,
        "--frames",
        "1-50",
        "--samples",
        "64",
        "--home",
        h,
    ]);
    assert_eq!(code, 0, "{err}");
    let long = stdout.trim().to_owned();
    let token = home.join("rpc.token");
    let (code, _, err) = common::pictor(&[
        "job",
        "cancel",
        &long,
        "--rpc",
        &url,
        "--token-file",
        token.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, text, _) = common::pictor(&["job", "watch", &long, "--home", h]);
    assert_eq!(code, 5, "{text}");
    assert!(text.contains("cancelled"), "{text}");
    let (code, stdout, _) = common::pictor(&["job", "status", &long, "--home", h, "--json"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["state"],
        "cancelled"
    );
}
