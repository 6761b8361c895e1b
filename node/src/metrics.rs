//! The node's Prometheus metrics: libp2p's own and Pictor's, served at `/metrics`.
//!
//! The registry is built once at start; every metric is atomic, so the loop updates them
//! and the HTTP side encodes them without a lock on the loop.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

use pictor_protocol::{Message, PublicKey, ShardId, Verdict};
use prometheus_client::{
    encoding::text::encode,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};

/// Claims remembered for the claim-to-certificate latency.
const MAX_CLAIMS_TIMED: usize = 20_000;
/// A worker's most recent own claim-to-certificate times kept for `finality()`.
const MAX_FINALITY_SAMPLES: usize = 4_096;

type Labels = Vec<(String, String)>;
type ClaimKey = (ShardId, u32, PublicKey);

/// Every metric of one node.
pub(crate) struct Metrics {
    registry: Registry,
    /// libp2p's metrics (swarm, gossipsub, Kademlia, identify, ping).
    pub(crate) libp2p: libp2p::metrics::Metrics,
    shards_assigned: Counter,
    shards_rendered: Counter,
    shards_verified: Counter,
    shards_rejected: Counter,
    attestations: Counter,
    own_renders: Counter,
    claim_to_certificate: Histogram,
    render_seconds: Histogram,
    pub(crate) queue: Family<Labels, Gauge>,
    pub(crate) peers: Gauge,
    pub(crate) gossip_peers: Gauge,
    pub(crate) block_store_bytes: Gauge,
    pub(crate) disk_free_bytes: Gauge,
    pub(crate) jobs: Family<Labels, Gauge>,
    /// When each claim still waiting for its certificate was seen, by shard, attempt and
    /// worker (what a certificate's vote names too, with no hashing).
    claims_seen: Mutex<HashMap<ClaimKey, u64>>,
    /// This worker's own claims: when each waiting one was made, and the latest times
    /// from a claim to its certificate.
    own: Mutex<OwnClaims>,
}

#[derive(Default)]
struct OwnClaims {
    waiting: HashMap<ClaimKey, Instant>,
    finality: VecDeque<Duration>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        let libp2p = libp2p::metrics::Metrics::new(&mut registry);
        let pictor = registry.sub_registry_with_prefix("pictor");
        let counter = |r: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            r.register(name, help, c.clone());
            c
        };
        let gauge = |r: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            r.register(name, help, g.clone());
            g
        };
        let shards_assigned = counter(pictor, "shards_assigned", "Shard assignments seen");
        let shards_rendered = counter(pictor, "shards_rendered", "Result claims seen");
        let shards_verified = counter(
            pictor,
            "shards_verified",
            "Claims certified valid by a quorum",
        );
        let shards_rejected = counter(
            pictor,
            "shards_rejected",
            "Claims certified invalid by a quorum",
        );
        let attestations = counter(pictor, "attestations", "Checker attestations seen");
        let own_renders = counter(pictor, "own_renders", "Shards this worker rendered");
        let claim_to_certificate = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        pictor.register(
            "claim_to_certificate_seconds",
            "Time from a claim to its quorum certificate, as this node saw them",
            claim_to_certificate.clone(),
        );
        let render_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 16));
        pictor.register(
            "render_seconds",
            "Render time of the shards this worker claimed",
            render_seconds.clone(),
        );
        let queue = Family::<Labels, Gauge>::default();
        pictor.register(
            "queue_depth",
            "Work waiting in the node, by queue",
            queue.clone(),
        );
        let peers = gauge(pictor, "peers", "Peers with an open connection");
        let gossip_peers = gauge(pictor, "gossip_peers", "Peers on this network's gossip");
        let block_store_bytes = gauge(
            pictor,
            "store_bytes",
            "Size of the node's database on disk (blocks and records)",
        );
        let disk_free_bytes = gauge(
            pictor,
            "disk_free_bytes",
            "Free space on the disk of the node's database (writes stop 64 MiB before it is full)",
        );
        let jobs = Family::<Labels, Gauge>::default();
        pictor.register("jobs", "Jobs this node submitted, by state", jobs.clone());
        Metrics {
            registry,
            libp2p,
            shards_assigned,
            shards_rendered,
            shards_verified,
            shards_rejected,
            attestations,
            own_renders,
            claim_to_certificate,
            render_seconds,
            queue,
            peers,
            gossip_peers,
            block_store_bytes,
            disk_free_bytes,
            jobs,
            claims_seen: Mutex::new(HashMap::new()),
            own: Mutex::new(OwnClaims::default()),
        }
    }

    /// Counts one accepted message; `me` is this node's key (its own renders are timed).
    pub(crate) fn observe(&self, message: &Message, me: &PublicKey, now_ms: u64) {
        match message {
            Message::Assignment(_) => {
                self.shards_assigned.inc();
            }
            Message::Claim(claim) => {
                self.shards_rendered.inc();
                if claim.worker == *me {
                    self.own_renders.inc();
                    self.render_seconds.observe(claim.render_ms as f64 / 1000.0);
                    let mut own = self.own();
                    if own.waiting.len() >= MAX_CLAIMS_TIMED {
                        own.waiting.clear();
                    }
                    own.waiting
                        .insert((claim.shard, claim.attempt, claim.worker), Instant::now());
                }
                let mut seen = self.claims();
                if seen.len() >= MAX_CLAIMS_TIMED {
                    seen.clear();
                }
                seen.insert((claim.shard, claim.attempt, claim.worker), now_ms);
            }
            Message::Attestation(_) => {
                self.attestations.inc();
            }
            Message::Certificate(qc) => {
                match qc.vote.verdict {
                    Verdict::Valid => self.shards_verified.inc(),
                    Verdict::Invalid => self.shards_rejected.inc(),
                };
                let v = &qc.vote;
                let key = (v.shard, v.attempt, v.worker);
                let mut own = self.own();
                if let Some(at) = own.waiting.remove(&key) {
                    if own.finality.len() >= MAX_FINALITY_SAMPLES {
                        own.finality.pop_front();
                    }
                    own.finality.push_back(at.elapsed());
                }
                drop(own);
                if let Some(at) = self.claims().remove(&key) {
                    self.claim_to_certificate
                        .observe(now_ms.saturating_sub(at) as f64 / 1000.0);
                }
            }
            Message::Job(_)
            | Message::Heartbeat(_)
            | Message::Capability(_)
            | Message::DecisionVote(_)
            | Message::Decision(_)
            | Message::Evidence(_)
            | Message::Application(_)
            | Message::Credits(_) => {}
        }
    }

    fn claims(&self) -> std::sync::MutexGuard<'_, HashMap<ClaimKey, u64>> {
        // A panic elsewhere cannot leave the map inconsistent: take it as it is.
        self.claims_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn own(&self) -> std::sync::MutexGuard<'_, OwnClaims> {
        self.own
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The latest times from one of this worker's claims to its quorum certificate, as
    /// it saw them (oldest first).
    pub(crate) fn finality(&self) -> Vec<Duration> {
        self.own().finality.iter().copied().collect()
    }

    /// Sets a labelled gauge.
    pub(crate) fn set(family: &Family<Labels, Gauge>, label: &str, value: &str, to: i64) {
        family
            .get_or_create(&vec![(label.to_owned(), value.to_owned())])
            .set(to);
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_pictor_and_libp2p_metrics() {
        let metrics = Metrics::new();
        Metrics::set(&metrics.jobs, "state", "running", 2);
        let text = metrics.encode();
        assert!(text.contains("pictor_shards_verified_total 0"), "{text}");
        assert!(text.contains("pictor_jobs{state=\"running\"} 2"), "{text}");
        assert!(text.contains("pictor_claim_to_certificate_seconds_bucket"));
        assert!(text.contains("libp2p_"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
