//! Many small jobs, one after another and several at once, through one local network: how
//! many jobs a second it serves, and whether its memory stays bounded while it does
//! (`pictor bench --jobs N`).

use std::{path::Path, time::Duration};

use pictor_gpu::SceneBundle;
use serde::Serialize;

use crate::{
    devnet::{Devnet, DevnetConfig},
    NodeError,
};

/// What a run of many jobs measured.
/// How long the bench waits for the next job to finish before it gives up: longer than
/// a local network's shard timeout and claim timeout together, so that a job whose
/// messages an overloaded peer dropped is finished by the timeouts (which reassign its
/// shards) before the bench calls it stuck.
const STALL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// Jobs completed.
    pub jobs: usize,
    /// Wall time of all of them.
    pub seconds: f64,
    pub jobs_per_second: f64,
    /// Resident memory of this process (all the network's nodes) once the network formed,
    /// after the first tenth of the jobs, and at the end, in KiB.
    pub rss_formed_kib: u64,
    pub rss_tenth_kib: u64,
    pub rss_end_kib: u64,
    /// Nodes in the network (the process holds them all).
    pub nodes: usize,
    /// Jobs the creator node still held at the end (finished jobs are pruned after the
    /// retention period).
    pub creator_jobs_held: usize,
}

/// Resident memory of this process in KiB (Linux; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs `jobs` jobs of one 16×16 frame of `scene` through a local network of `checkers`
/// and `workers`, `in_flight` at a time, with finished jobs kept for `retention`.
pub async fn soak(
    scene: &Path,
    jobs: usize,
    in_flight: usize,
    checkers: usize,
    workers: usize,
    retention: Duration,
) -> Result<SoakReport, NodeError> {
    let bundle = SceneBundle::from_path(scene)?.to_bytes();
    let root = tempfile::Builder::new()
        .prefix("pictor-soak-")
        .tempdir()
        .map_err(|e| NodeError::Config(format!("cannot make a temporary home: {e}")))?;
    let mut devnet = Devnet::start(&DevnetConfig {
        job_retention: retention,
        ..DevnetConfig::plain(root.path(), checkers, workers)
    })
    .await?;
    let result = run(&mut devnet, &bundle, jobs, in_flight.max(1)).await;
    devnet.shutdown().await;
    result
}

async fn run(
    devnet: &mut Devnet,
    bundle: &[u8],
    jobs: usize,
    in_flight: usize,
) -> Result<SoakReport, NodeError> {
    let rss_formed_kib = rss_kib();
    let mut rss_tenth_kib = rss_formed_kib;
    let started = std::time::Instant::now();
    let stream = super::stream::TileJobs {
        name: "soak",
        side: 16,
        count: jobs,
        in_flight,
        stall: STALL,
    };
    super::stream::run(devnet, bundle, &stream, |done| {
        if done == jobs / 10 {
            rss_tenth_kib = rss_kib();
        }
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(SoakReport {
        jobs,
        seconds,
        jobs_per_second: jobs as f64 / seconds,
        rss_formed_kib,
        rss_tenth_kib,
        rss_end_kib: rss_kib(),
        nodes: devnet.nodes.len() + 1,
        creator_jobs_held: devnet.creator.jobs().await?.len(),
    })
}
