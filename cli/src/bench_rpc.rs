//! `pictor bench --rpc`: the RPC's speed against a devnet of processes: `job_status`
//! calls per second over HTTP while the network renders a job, the latency of a
//! WebSocket subscription's events, and the start-up time and idle memory of
//! `pictor node`.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use pictor_node::{devnet::processes, home::InitNetwork, Home};
use serde::Serialize;
use serde_json::json;

use crate::rpc_client::Connect;

/// What the RPC bench measured.
#[derive(Debug, Serialize)]
struct RpcReport {
    status_calls: u64,
    status_seconds: f64,
    status_calls_per_second: f64,
    connections: usize,
    events: usize,
    event_latency_ms_median: f64,
    event_latency_ms_p99: f64,
    startup_ms_median: f64,
    startup_ms_runs: Vec<f64>,
    idle_rss_mib: f64,
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Starts `pictor node` on a fresh home: (milliseconds until `node_info` answers, the
/// process).
async fn start_node(dir: &Path) -> Result<(f64, std::process::Child)> {
    Home::init(dir, &InitNetwork::Devnet)?;
    let exe = std::env::current_exe().context("this program's path")?;
    let started = Instant::now();
    let child = std::process::Command::new(exe)
        .args(["node", "--home"])
        .arg(dir)
        .args([
            "--role",
            "creator",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--http",
            "127.0.0.1:0",
            "-q",
        ])
        .stdin(std::process::Stdio::null())
        .spawn()
        .context("cannot start pictor node")?;
    let connect = Connect {
        home: Some(dir.to_owned()),
        rpc: None,
        token_file: None,
        json: true,
    };
    let deadline = started + Duration::from_secs(30);
    loop {
        if let Ok(node) = connect.node() {
            if node.call("node_info", json!({})).await.is_ok() {
                return Ok((started.elapsed().as_secs_f64() * 1000.0, child));
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("pictor node did not answer within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

pub(crate) fn run(scene: &Path, connections: usize, seconds: u64, json_out: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let tmp = tempfile::tempdir().context("a temporary directory")?;
    let report = runtime.block_on(async {
        // Start-up and idle memory of a lone node.
        let mut startup = Vec::new();
        let mut idle_rss = 0;
        for i in 0..5 {
            let (ms, mut child) = start_node(&tmp.path().join(format!("lone-{i}"))).await?;
            startup.push(ms);
            if i == 0 {
                tokio::time::sleep(Duration::from_secs(5)).await;
                idle_rss = rss_kib(child.id()).unwrap_or(0);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let startup_runs = startup.clone();
        // A devnet rendering a long job.
        let dir = tmp.path().join("net");
        eprintln!("bench: a devnet of processes in {}...", dir.display());
        processes::up(&processes::UpOptions {
            dir: dir.clone(),
            checkers: None,
            workers: None,
            worker_price: 0,
            program: std::env::current_exe()?,
            timeout: Duration::from_secs(60),
        })?;
        let outcome = measure(&dir, scene, connections, seconds).await;
        let _ = processes::down(&dir, Duration::from_secs(10));
        let (calls, took, latencies) = outcome?;
        let mut lat = latencies.clone();
        lat.sort_by(f64::total_cmp);
        let p99 = lat.get(lat.len() * 99 / 100).copied().unwrap_or(0.0);
        Ok::<_, anyhow::Error>(RpcReport {
            status_calls: calls,
            status_seconds: took,
            status_calls_per_second: calls as f64 / took,
            connections,
            events: latencies.len(),
            event_latency_ms_median: median(&mut latencies.clone()),
            event_latency_ms_p99: p99,
            startup_ms_median: median(&mut startup),
            startup_ms_runs: startup_runs,
            idle_rss_mib: idle_rss as f64 / 1024.0,
        })
    })?;
    if json_out {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "job_status     {:.0} calls/s over HTTP ({} calls in {:.1} s, {} connections, while the network renders)",
            report.status_calls_per_second, report.status_calls, report.status_seconds, report.connections
        );
        println!(
            "subscription   {} events, latency median {:.2} ms, p99 {:.2} ms",
            report.events, report.event_latency_ms_median, report.event_latency_ms_p99
        );
        println!(
            "start-up       {:.0} ms median until node_info answers (5 runs)",
            report.startup_ms_median
        );
        println!(
            "idle memory    {:.1} MiB (a lone creator node, 5 s after start)",
            report.idle_rss_mib
        );
    }
    Ok(())
}

/// Submits a long job to the devnet's creator, follows it over WebSocket and calls
/// `job_status` from `connections` tasks for `seconds`.
async fn measure(
    dir: &Path,
    scene: &Path,
    connections: usize,
    seconds: u64,
) -> Result<(u64, f64, Vec<f64>)> {
    let connect = Connect {
        home: Some(dir.join("creator")),
        rpc: None,
        token_file: None,
        json: true,
    };
    let node = connect.node()?;
    let scene =
        std::fs::canonicalize(scene).with_context(|| format!("scene {}", scene.display()))?;
    let job = node
        .call(
            "job_submit",
            json!({"scene_path": scene, "frames": "1-200", "samples": 8}),
        )
        .await?;
    let job = job["job_id"].as_str().unwrap_or_default().to_owned();
    let mut watch = node
        .subscribe("job_subscribe", json!({ "job_id": job }), "job_unsubscribe")
        .await?;
    let follower = tokio::spawn(async move {
        let mut latencies = Vec::new();
        while let Some(event) = watch.events.next().await {
            let Ok(event) = event else { continue };
            if event["kind"] == "finished" {
                break;
            }
            if let Some(at) = event["at_ms"].as_u64() {
                latencies.push(pictor_node::now_ms().saturating_sub(at) as f64);
            }
        }
        latencies
    });
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let node = connect.node()?;
        let job = job.clone();
        tasks.push(tokio::spawn(async move {
            let mut calls = 0u64;
            while Instant::now() < end {
                if node
                    .call("job_status", json!({ "job_id": job }))
                    .await
                    .is_ok()
                {
                    calls += 1;
                }
            }
            calls
        }));
    }
    let mut calls = 0;
    for t in tasks {
        calls += t.await.unwrap_or(0);
    }
    let took = started.elapsed().as_secs_f64();
    let _ = node.call("job_cancel", json!({ "job_id": job })).await;
    let latencies = tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    Ok((calls, took, latencies))
}
