//! How fast a cheat is punished everywhere (`pictor bench bans`): a local network with one
//! worker that falsifies outputs and one checker that attests without checking, both
//! timed from their first misdeed to the moment every node of the network lists them as
//! banned.

use std::{
    collections::BTreeMap,
    path::Path,
    time::{Duration, Instant},
};

use pictor_gpu::SceneBundle;
use pictor_protocol::{CheckerStatus, ContentId, Engine, FrameRange, JobSpec, PublicKey, Verdict};
use serde::Serialize;

use crate::{
    devnet::{Devnet, DevnetConfig},
    NodeError, NodeEvent,
};

/// How long the bench waits for both bans before it gives up.
const LIMIT: Duration = Duration::from_secs(120);

/// What one run measured, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct BanReport {
    /// Nodes whose view was polled.
    pub nodes: usize,
    /// From the cheating worker's first falsified claim (the first a quorum rejected, as
    /// the creator saw it arrive) to its ban on every node.
    pub worker_ban_ms: f64,
    /// From the lazy checker's first false attestation (a valid vote on a claim a quorum
    /// rejected, as the creator saw it) to its ban on every node.
    pub checker_ban_ms: f64,
}

/// Runs one job of `scene` through a local network of `checkers` checkers (one lazy), all
/// on the job's committee, and 3 workers (one cheating) and times both bans.
pub async fn bans(scene: &Path, checkers: usize) -> Result<BanReport, NodeError> {
    let bundle = SceneBundle::from_path(scene)?.to_bytes();
    let root = tempfile::Builder::new()
        .prefix("pictor-bans-")
        .tempdir()
        .map_err(|e| NodeError::Config(format!("cannot make a temporary home: {e}")))?;
    let mut devnet = Devnet::start(&DevnetConfig {
        faulty_workers: 1,
        lazy_checkers: 1,
        form_timeout: Duration::from_secs(120),
        // Every checker on the committee, so the lazy one votes on every claim.
        committee: Some(checkers),
        ..DevnetConfig::plain(root.path(), checkers, 3)
    })
    .await?;
    let result = run(&mut devnet, &bundle).await;
    devnet.shutdown().await;
    result
}

async fn run(devnet: &mut Devnet, bundle: &[u8]) -> Result<BanReport, NodeError> {
    let key_of = |role: &str| {
        devnet
            .nodes
            .iter()
            .find(|n| n.role == role)
            .map(|n| n.key)
            .ok_or_else(|| NodeError::Config(format!("no {role} in the local network")))
    };
    let (cheat, lazy) = (key_of("worker (faulty)")?, key_of("checker (lazy)")?);
    let spec = JobSpec {
        creator: devnet.creator_key.public(),
        scene: ContentId::of(bundle),
        scene_name: "bans".into(),
        engine: Engine::Builtin,
        frames: FrameRange { first: 1, last: 2 },
        width: 128,
        height: 64,
        samples: 2,
        tile: 32,
        price_cap: 0,
        nonce: 0,
        epoch: 0,
    };
    devnet.creator.submit(spec, bundle.to_vec()).await?;
    let started = Instant::now();
    let mut cheat_claims: BTreeMap<pictor_protocol::ShardId, Instant> = BTreeMap::new();
    let mut first_claim: Option<Instant> = None;
    let mut lazy_votes: BTreeMap<pictor_protocol::ShardId, Instant> = BTreeMap::new();
    let mut first_false: Option<Instant> = None;
    let mut rejected: std::collections::BTreeSet<pictor_protocol::ShardId> = Default::default();
    let earliest =
        |first: Option<Instant>, at: Instant| Some(first.map_or(at, |f: Instant| f.min(at)));
    let (mut worker_ban, mut checker_ban): (Option<Duration>, Option<Duration>) = (None, None);
    while worker_ban.is_none() || checker_ban.is_none() {
        if started.elapsed() > LIMIT {
            return Err(NodeError::Config(format!(
                "the bans did not reach every node within {} s (worker banned: {}, checker \
                 banned: {}, a false attestation seen: {})",
                LIMIT.as_secs(),
                worker_ban.is_some(),
                checker_ban.is_some(),
                first_false.is_some()
            )));
        }
        while let Ok(event) = devnet.events.try_recv() {
            match event {
                NodeEvent::Rendered { shard, worker, .. } if worker == cheat => {
                    cheat_claims.entry(shard).or_insert_with(Instant::now);
                }
                NodeEvent::Attested {
                    shard,
                    checker,
                    verdict: Verdict::Valid,
                    ..
                } if checker == lazy => {
                    let at = *lazy_votes.entry(shard).or_insert_with(Instant::now);
                    // A vote that arrives after the quorum rejected the claim is as false.
                    if rejected.contains(&shard) {
                        first_false = earliest(first_false, at);
                    }
                }
                NodeEvent::Rejected { shard, worker } => {
                    rejected.insert(shard);
                    if let Some(&at) = lazy_votes.get(&shard) {
                        first_false = earliest(first_false, at);
                    }
                    if let Some(&at) = cheat_claims.get(&shard).filter(|_| worker == cheat) {
                        first_claim = earliest(first_claim, at);
                    }
                }
                _ => {}
            }
        }
        if worker_ban.is_none() {
            if let Some(t0) = first_claim {
                if banned_everywhere(devnet, &cheat, false).await? {
                    worker_ban = Some(t0.elapsed());
                }
            }
        }
        if checker_ban.is_none() {
            if let Some(t0) = first_false {
                if banned_everywhere(devnet, &lazy, true).await? {
                    checker_ban = Some(t0.elapsed());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    Ok(BanReport {
        nodes: devnet.nodes.len() + 1,
        worker_ban_ms: ms(worker_ban),
        checker_ban_ms: ms(checker_ban),
    })
}

/// Whether every node of the network (the creator too) lists `key` as banned.
async fn banned_everywhere(
    devnet: &Devnet,
    key: &PublicKey,
    checker: bool,
) -> Result<bool, NodeError> {
    let hex = key.to_string();
    let clients = devnet
        .nodes
        .iter()
        .map(|n| &n.client)
        .chain(std::iter::once(&devnet.creator));
    for client in clients {
        let snapshot = client.network().await?;
        let banned = if checker {
            snapshot
                .checkers
                .iter()
                .any(|(s, c)| c.key == hex && *s == CheckerStatus::Banned)
        } else {
            snapshot
                .workers
                .iter()
                .any(|(_, w)| w.key == hex && w.banned)
        };
        if !banned {
            return Ok(false);
        }
    }
    Ok(true)
}
