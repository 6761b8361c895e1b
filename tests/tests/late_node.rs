//! A node that starts after a checker was caught equivocating, over real sockets: the
//! evidence was gossiped once, before the node was there, and the node learns of it from
//! the first peer it connects to (`GetEvidence`), stores it, and sees the checker banned
//! for it. (The equivocating checker of a local network may also be banned by a decision
//! for a false attestation, which `GetDecisions` brings; the finding of equivocation in the
//! view and the stored evidence come only from `GetEvidence`.)

use std::time::Duration;

use pictor_node::{
    devnet::{Devnet, DevnetConfig},
    spawn, NetworkSnapshot, NodeConfig,
};
use pictor_protocol::CheckerStatus;
use pictor_tests::{cornell_job, tcp_dial_addr};

/// What `snapshot` says of the checker with `key`: its status and findings.
fn checker(snapshot: &NetworkSnapshot, key: &str) -> Option<(CheckerStatus, Vec<String>)> {
    snapshot
        .checkers
        .iter()
        .find(|(_, c)| c.key == key)
        .map(|(s, c)| (*s, c.findings.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_starts_late_learns_that_an_equivocating_checker_is_banned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = Devnet::start(&DevnetConfig {
        equivocating_checkers: 1,
        ..DevnetConfig::plain(dir.path(), 4, 2)
    })
    .await
    .expect("local network");
    let equivocating = devnet
        .nodes
        .iter()
        .find(|n| n.role == "checker (equivocating)")
        .map(|n| n.key.to_string())
        .expect("an equivocating checker");
    let honest = devnet
        .nodes
        .iter()
        .find(|n| n.role == "checker")
        .expect("an honest checker");

    // A job: every checker of four sits on its committee, so the equivocating one votes
    // twice on its claims and is caught.
    let epoch_ms = devnet.params.epoch.as_millis() as u64;
    let (spec, bundle) = cornell_job(devnet.creator_key.public(), epoch_ms, 1);
    let job = devnet.creator.submit(spec, bundle).await.expect("submit");

    // The evidence has gone round and the job is over (no more claims to equivocate on).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let progress = devnet.creator.job(job).await.expect("job").expect("known");
        let snapshot = honest.client.network().await.expect("view");
        let banned = checker(&snapshot, &equivocating).map(|(s, _)| s);
        if progress.state.is_finished() && banned == Some(CheckerStatus::Banned) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the equivocating checker was not banned: {banned:?}, {progress:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A node that starts now knows nothing of it, until it connects to a peer.
    let mut config = NodeConfig::new(dir.path().join("late"), devnet.params.clone());
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")];
    config.durable = false;
    let (late, _) = spawn(config).expect("a late node starts");
    let before = late.network().await.expect("view");
    assert_ne!(
        checker(&before, &equivocating).map(|(s, _)| s),
        Some(CheckerStatus::Banned)
    );
    late.dial(tcp_dial_addr(&honest.client).await)
        .await
        .expect("dial");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let findings = loop {
        let snapshot = late.network().await.expect("view");
        // Banned, and for the equivocation: a ban decision (`GetDecisions`) may come
        // first, the evidence (`GetEvidence`) a moment later.
        if let Some((CheckerStatus::Banned, findings)) = checker(&snapshot, &equivocating) {
            if findings.iter().any(|f| f.contains("equivocation")) {
                break findings;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the late node did not learn of the ban for equivocation: {:?}",
            checker(&snapshot, &equivocating)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        findings.iter().any(|f| f.contains("equivocation")),
        "{findings:?}"
    );
    let snapshot = late.network().await.expect("view");
    for node in devnet.nodes.iter().filter(|n| n.role == "checker") {
        let status = checker(&snapshot, &node.key.to_string()).map(|(s, _)| s);
        assert_ne!(status, Some(CheckerStatus::Banned), "honest checker banned");
    }
    late.shutdown().await.expect("stop");

    // Stored, so that a restart replays it.
    let store = pictor_storage::Store::open(&dir.path().join("late").join("db")).expect("db");
    let evidence = store.evidence().expect("evidence");
    assert!(!evidence.is_empty(), "the late node stored no evidence");
    assert!(evidence
        .iter()
        .all(|e| e.checker.to_string() == equivocating));
    drop(store);
    devnet.shutdown().await;
}

/// A node that starts after credits moved rebuilds the ledger from the first peer it
/// connects to (`GetCredits`), verifying every certificate: the same balances, the same
/// total, nothing created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_starts_late_catches_up_on_the_credits_ledger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = Devnet::start(&DevnetConfig {
        credits: true,
        ..DevnetConfig::plain(dir.path(), 4, 1)
    })
    .await
    .expect("local network");
    let got = devnet.creator.faucet(700).await.expect("faucet");
    assert_eq!(got.amount, 700);
    let worker = devnet
        .nodes
        .iter()
        .find(|n| n.role == "worker")
        .expect("a worker")
        .key;
    devnet.creator.pay(worker, 250).await.expect("pay");
    let creator = devnet.creator_key.public();
    // Past gossipsub's window of recent messages: only a request brings them now.
    tokio::time::sleep(Duration::from_secs(8)).await;

    let mut config = NodeConfig::new(dir.path().join("late"), devnet.params.clone());
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")];
    config.durable = false;
    let (late, _) = spawn(config).expect("a late node starts");
    assert_eq!(
        late.balance(Some(creator)).await.expect("balance").balance,
        0
    );
    let honest = devnet
        .nodes
        .iter()
        .find(|n| n.role == "checker")
        .expect("a checker");
    late.dial(tcp_dial_addr(&honest.client).await)
        .await
        .expect("dial");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let c = late.balance(Some(creator)).await.expect("balance");
        let w = late.balance(Some(worker)).await.expect("balance");
        if c.balance == 450 && w.balance == 250 {
            assert_eq!(c.total_minted, 700);
            assert_eq!(c.circulating, 700);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the late node's ledger: creator {c:?}, worker {w:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    late.shutdown().await.expect("stop");
    devnet.shutdown().await;
}
