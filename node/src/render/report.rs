//! The end of a render's summary: every checker of the network with its status and what
//! was found against it.

use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use super::{peer::JobPeer, CheckerReport};

/// The end of the summary.
pub(super) struct Report {
    /// Every checker's status and findings.
    pub(super) checkers: Vec<CheckerReport>,
    /// Each worker's (shortened key) rejected claims it revealed as canaries.
    pub(super) canaries: BTreeMap<String, u64>,
}

/// Every checker's status and findings, and the workers' revealed canaries, from the
/// creator's view. A local network with faulty checkers is given a short while for the
/// last bans to arrive (a ban by decision follows the certificate that exposed the fault),
/// and, where canaries are on, for the workers' reveals of their last rejected claims
/// (`rejected`, by worker), which come with their next heartbeat: until every rejection
/// is revealed, or two heartbeats have passed (a faulty worker's are never revealed).
///
/// Only a faulty checker on the job's committee (drawn from the genesis set) can be caught:
/// one off it had nothing to attest.
pub(super) async fn report(
    peer: &JobPeer,
    job: &pictor_protocol::JobId,
    rejected: &BTreeMap<String, u64>,
) -> Report {
    let committee: Vec<String> =
        pictor_protocol::rules::committee(job, &peer.params.checkers, peer.params.committee_size)
            .iter()
            .map(|k| short(&k.to_string()))
            .collect();
    let faulty: Vec<&String> = peer
        .checkers
        .iter()
        .filter(|(k, b)| *b != "honest" && committee.contains(k))
        .map(|(k, _)| k)
        .collect();
    let start = Instant::now();
    let deadline = start + BAN_GRACE;
    let reveals_due = start + 2 * peer.params.heartbeat_interval;
    loop {
        let Ok(snapshot) = peer.client.network().await else {
            return Report {
                checkers: Vec::new(),
                canaries: BTreeMap::new(),
            };
        };
        let caught = faulty.iter().all(|k| {
            snapshot.checkers.iter().any(|(s, c)| {
                c.key.starts_with(k.as_str()) && *s == pictor_protocol::CheckerStatus::Banned
            })
        });
        let canaries: BTreeMap<String, u64> = snapshot
            .workers
            .iter()
            .filter(|(_, w)| w.canaries > 0)
            .map(|(_, w)| (short(&w.key), w.canaries))
            .collect();
        let revealed = peer.params.canary_rate_ppm == 0
            || Instant::now() >= reveals_due
            || rejected
                .iter()
                .all(|(k, n)| canaries.get(k).copied().unwrap_or(0) >= *n);
        if (caught && revealed) || Instant::now() >= deadline {
            let checkers = snapshot
                .checkers
                .into_iter()
                .filter(|(_, c)| c.genesis)
                .map(|(status, c)| {
                    let short = short(&c.key);
                    let behaviour = peer
                        .checkers
                        .iter()
                        .find(|(k, _)| *k == short)
                        .map_or("unknown", |(_, b)| b);
                    CheckerReport {
                        on_committee: committee.contains(&short),
                        key: short,
                        behaviour,
                        status,
                        findings: c.findings,
                    }
                })
                .collect();
            return Report { checkers, canaries };
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A key as the summary shows it: its first 8 characters.
fn short(key: &str) -> String {
    key.chars().take(8).collect()
}

/// How long a render waits after its last frame for the bans of faulty checkers.
const BAN_GRACE: Duration = Duration::from_secs(15);
