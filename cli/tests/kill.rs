//! Nodes killed with SIGKILL in the middle of a job, on a network of real `pictor node`
//! processes: a worker and a checker, then the creator. Each comes back on its home and
//! the job finishes with the right frames.

mod common;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{
    devnet::{kill, path, up, Network},
    pictor,
};
use nix::{sys::signal, unistd::Pid};

fn pid_of(dir: &Path, name: &str) -> i32 {
    let (code, out, err) = pictor(&["devnet", "status", "--dir", path(dir), "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let node = v["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name}: {out}"))
        .clone();
    assert_eq!(node["running"], true, "{node}");
    node["pid"].as_i64().expect("pid") as i32
}

/// Waits until `file` exists.
fn wait_for(file: &Path, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !file.exists() {
        assert!(
            Instant::now() < deadline,
            "{} did not appear",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const RENDER: &[&str] = &[
    "render",
    "examples/scenes/cornell-box.gltf",
    "--frames",
    "1-4",
    "--width",
    "256",
    "--height",
    "192",
    "--samples",
    "24",
    "--tile",
    "32",
];

fn render_child(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pictor"))
        .args(RENDER)
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pictor render starts")
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not finish within {} s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn killed_workers_checkers_and_creators_come_back_and_the_jobs_finish() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("net");
    let mut network = Network::new(dir.clone());
    up(&dir, 4, 2);
    let spec = dir.join("network.toml");
    let direct = tmp.path().join("direct");
    let mut args = RENDER.to_vec();
    args.extend(["--direct", "--out", path(&direct)]);
    let (code, _, err) = pictor(&args);
    assert_eq!(code, 0, "{err}");

    // A worker and a checker die while the job runs, and come back.
    let out = tmp.path().join("out");
    network.children.push(render_child(&[
        "--network",
        path(&spec),
        "--out",
        path(&out),
        "--json",
    ]));
    wait_for(&out.join("frame-0001.png"), Duration::from_secs(120));
    kill(pid_of(&dir, "worker-1"));
    kill(pid_of(&dir, "checker-3"));
    // Past the checkers' liveness window, so that the dead worker's shards move on.
    std::thread::sleep(Duration::from_secs(7));
    up(&dir, 4, 2);
    let mut render = network.children.pop().expect("the render");
    let status = wait_exit(&mut render, Duration::from_secs(300));
    let mut stderr = String::new();
    if let Some(mut e) = render.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(status.success(), "pictor render --network: {stderr}");
    let mut stdout = String::new();
    if let Some(mut o) = render.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut o, &mut stdout);
    }
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON summary");
    assert_eq!(
        summary["job_id"].as_str().map(str::len),
        Some(64),
        "{summary}"
    );
    for frame in 1..=4 {
        let name = format!("frame-{frame:04}.png");
        let a = std::fs::read(out.join(&name)).expect("network frame");
        let b = std::fs::read(direct.join(&name)).expect("direct frame");
        assert!(a == b, "{name} differs from the direct render");
    }

    // The creator dies while the job runs; its node, started on the same home, finishes
    // assembling the job.
    let home = tmp.path().join("creator");
    let (code, _, err) = pictor(&["init", "--home", path(&home), "--network", path(&spec)]);
    assert_eq!(code, 0, "{err}");
    let out2 = tmp.path().join("out2");
    let mut render = render_child(&[
        "--network",
        path(&spec),
        "--home",
        path(&home),
        "--out",
        path(&out2),
    ]);
    wait_for(&out2.join("frame-0001.png"), Duration::from_secs(120));
    render.kill().expect("SIGKILL");
    let _ = render.wait();
    let node = Command::new(env!("CARGO_BIN_EXE_pictor"))
        .args([
            "node",
            "--home",
            path(&home),
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--http",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pictor node starts");
    network.children.push(node);
    let deadline = Instant::now() + Duration::from_secs(120);
    let job = loop {
        let runtime = std::fs::read_to_string(home.join("node.json")).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&runtime).unwrap_or_default();
        let job = v["jobs"].as_array().and_then(|j| j.first()).cloned();
        if let Some(job) = job.filter(|j| j["state"] == "complete") {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "the job did not complete: {runtime}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(job["frames"].as_object().map(|f| f.len()), Some(4), "{job}");
    assert_eq!(job["verified"], job["shards"], "{job}");
    let mut node = network.children.pop().expect("the node");
    signal::kill(Pid::from_raw(node.id() as i32), signal::Signal::SIGTERM).expect("SIGTERM");
    assert!(wait_exit(&mut node, Duration::from_secs(30)).success());
}
