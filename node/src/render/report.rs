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
/// last bans to arrive (a ban by decision follows the certificate that exposed the fault).
pub(super) async fn report(peer: &JobPeer) -> Report {
    let faulty: Vec<&String> = peer
        .checkers
        .iter()
        .filter(|(_, b)| *b != "honest")
        .map(|(k, _)| k)
        .collect();
    let deadline = Instant::now() + BAN_GRACE;
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
        if caught || Instant::now() >= deadline {
            let canaries = snapshot
                .workers
                .iter()
                .filter(|(_, w)| w.canaries > 0)
                .map(|(_, w)| (short(&w.key), w.canaries))
                .collect();
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
