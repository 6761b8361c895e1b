//! How long a claim waits for its quorum certificate (`pictor bench finality`): small jobs
//! through a local network whose committee is every checker, timed by the workers from the
//! moment each publishes a claim to the moment the certificate on it arrives, over real
//! libp2p sockets on loopback.

use std::{path::Path, time::Duration};

use pictor_gpu::SceneBundle;
use serde::Serialize;

use crate::{
    devnet::{Devnet, DevnetConfig},
    NodeError,
};

/// How long the bench waits for the job before it gives up.
const STALL: Duration = Duration::from_secs(600);

/// The finality one network size measured.
#[derive(Debug, Clone, Serialize)]
pub struct FinalityReport {
    pub checkers: usize,
    /// Checkers on the job's committee (every one of them votes on every claim).
    pub committee: usize,
    pub workers: usize,
    /// Claims timed (one per job, more where a shard was retried).
    pub claims: usize,
    /// Jobs (claims) in flight at once.
    pub in_flight: u32,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    /// Wall time of all the jobs, once the network had formed.
    pub job_seconds: f64,
}

/// The `q`-quantile of sorted values (nearest rank).
pub(super) fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// Runs `claims` jobs of one tile of `scene` each (32×32 pixels, one sample: rendering
/// takes next to nothing, so the time is the protocol's), `in_flight` at a time, through a
/// local network of `checkers` checkers, all on the committee, and `workers` workers.
pub async fn finality(
    scene: &Path,
    checkers: usize,
    workers: usize,
    claims: u32,
    in_flight: u32,
) -> Result<FinalityReport, NodeError> {
    let bundle = SceneBundle::from_path(scene)?.to_bytes();
    let root = tempfile::Builder::new()
        .prefix("pictor-finality-")
        .tempdir()
        .map_err(|e| NodeError::Config(format!("cannot make a temporary home: {e}")))?;
    let mut devnet = Devnet::start(&DevnetConfig {
        form_timeout: Duration::from_secs(300),
        committee: Some(checkers),
        ..DevnetConfig::plain(root.path(), checkers, workers)
    })
    .await?;
    let committee = devnet.params.committee_size;
    let result = run(&mut devnet, &bundle, claims.max(1), in_flight.max(1)).await;
    devnet.shutdown().await;
    let (claims, job_seconds) = result?;
    let mut sorted = claims;
    sorted.sort();
    Ok(FinalityReport {
        checkers,
        committee,
        workers,
        claims: sorted.len(),
        in_flight: in_flight.max(1),
        median_ms: quantile(&sorted, 0.5),
        p95_ms: quantile(&sorted, 0.95),
        max_ms: sorted.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        job_seconds,
    })
}

async fn run(
    devnet: &mut Devnet,
    bundle: &[u8],
    claims: u32,
    in_flight: u32,
) -> Result<(Vec<Duration>, f64), NodeError> {
    // Jobs of one 32×32 tile each: a claim per job.
    let jobs = super::stream::TileJobs {
        name: "finality",
        side: 32,
        count: claims as usize,
        in_flight: in_flight as usize,
        stall: STALL,
    };
    let started = std::time::Instant::now();
    super::stream::run(devnet, bundle, &jobs, |_| {}).await?;
    let job_seconds = started.elapsed().as_secs_f64();
    let mut times = Vec::new();
    for node in devnet.nodes.iter().filter(|n| n.role.starts_with("worker")) {
        times.extend(node.client.facts().await?.finality);
    }
    Ok((times, job_seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        let v = ms(&[10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.95), 100.0);
        assert_eq!(quantile(&ms(&[7]), 0.95), 7.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
