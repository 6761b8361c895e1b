//! How fast credits move (`pictor bench credits`): payments between the accounts of a
//! local network whose checkers certify them, over real libp2p sockets on loopback. Each
//! payment is timed by its payer from the call to the certificate it assembles (the
//! transfer is final then); the throughput is every payer paying at once.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde::Serialize;

use super::finality::quantile;
use crate::{
    devnet::{Devnet, DevnetConfig},
    Client, NodeError,
};

/// The most payments a payer makes in each part: the faucet gives each payer 1 000
/// credits, and every payment is 1 credit.
pub const MAX_TRANSFERS: u32 = 400;

/// The figures of one size of checker set.
#[derive(Debug, Clone, Serialize)]
pub struct CreditsReport {
    pub checkers: usize,
    /// Accounts paying in the throughput part (the workers and the creator).
    pub payers: usize,
    /// Payments timed one at a time.
    pub transfers: usize,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    /// Payments certified per second with every payer paying at once.
    pub per_second: f64,
    /// Whether every node's ledger ended with as many credits held as the faucet issued,
    /// and agreed on that number.
    pub conserved: bool,
}

/// Runs the bench on a local network of `checkers` checkers and `payers` paying accounts
/// (`payers - 1` workers and the creator), `transfers` payments each part.
pub async fn transfers(
    checkers: usize,
    payers: usize,
    transfers: u32,
) -> Result<CreditsReport, NodeError> {
    if transfers == 0 || transfers > MAX_TRANSFERS {
        return Err(NodeError::Config(format!(
            "--transfers must be 1 to {MAX_TRANSFERS} (each payer has 1 000 credits)"
        )));
    }
    let root = tempfile::Builder::new()
        .prefix("pictor-credits-")
        .tempdir()
        .map_err(|e| NodeError::Config(format!("cannot make a temporary home: {e}")))?;
    let devnet = Devnet::start(&DevnetConfig {
        form_timeout: Duration::from_secs(300),
        credits: true,
        ..DevnetConfig::plain(root.path(), checkers, payers.saturating_sub(1).max(1))
    })
    .await?;
    let result = run(&devnet, payers, transfers).await;
    devnet.shutdown().await;
    let (mut times, per_second, conserved) = result?;
    times.sort();
    Ok(CreditsReport {
        checkers,
        payers,
        transfers: times.len(),
        median_ms: quantile(&times, 0.5),
        p95_ms: quantile(&times, 0.95),
        max_ms: times.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        per_second,
        conserved,
    })
}

async fn run(
    devnet: &Devnet,
    payers: usize,
    transfers: u32,
) -> Result<(Vec<Duration>, f64, bool), NodeError> {
    let mut accounts: Vec<(Client, pictor_protocol::PublicKey)> = devnet
        .nodes
        .iter()
        .filter(|n| n.role.starts_with("worker"))
        .map(|n| (n.client.clone(), n.key))
        .collect();
    accounts.push((devnet.creator.clone(), devnet.creator_key.public()));
    accounts.truncate(payers.max(2));
    for (client, _) in &accounts {
        client.faucet(1_000).await?;
    }
    // Finality: one payer, one payment at a time.
    let (first, _) = &accounts[0];
    let to = accounts[1].1;
    let mut times = Vec::new();
    for _ in 0..transfers {
        let started = Instant::now();
        first.pay(to, 1).await?;
        times.push(started.elapsed());
    }
    // Throughput: every payer at once, each paying the next.
    let started = Instant::now();
    let payments = accounts.iter().enumerate().map(|(i, (client, _))| {
        let to = accounts[(i + 1) % accounts.len()].1;
        async move {
            for _ in 0..transfers {
                client.pay(to, 1).await?;
            }
            Ok::<(), NodeError>(())
        }
    });
    for result in join_all(payments).await {
        result?;
    }
    let total = accounts.len() as f64 * f64::from(transfers);
    let per_second = total / started.elapsed().as_secs_f64();
    Ok((times, per_second, conserved(devnet).await))
}

/// Waits (up to 10 s, while the last certificates spread) for every node's ledger to hold
/// what the faucet issued, the same amount on every node.
async fn conserved(devnet: &Devnet) -> bool {
    let clients: Vec<&Client> = devnet
        .nodes
        .iter()
        .map(|n| &n.client)
        .chain([&devnet.creator])
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut totals = Vec::new();
        for client in &clients {
            match client.balance(None).await {
                Ok(b) if b.total_minted == b.circulating => totals.push(b.total_minted),
                _ => totals.push(0),
            }
        }
        let agreed = totals.windows(2).all(|w| w[0] == w[1]) && totals[0] > 0;
        if agreed || Instant::now() > deadline {
            return agreed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
