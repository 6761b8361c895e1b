//! Rate limits per key: a token bucket per peer or client, so that one peer's flood of
//! requests (each a read of the block store on the node's loop) or one HTTP client's flood
//! of calls cannot take the node's time from the others. The point-to-point limits are
//! far above what an honest peer asks over that protocol: a checker fetches a claim's rows
//! once, a worker a job's scene once (outputs and frames go over Bitswap, which has limits
//! of its own). The HTTP port's limits are in [`crate::http::HttpLimits`].

use std::collections::HashMap;
use std::hash::Hash;

/// Requests a peer may make per second, sustained.
pub(crate) const REQUESTS_PER_SECOND: f64 = 200.0;
/// Requests a peer may make at once after a quiet spell.
pub(crate) const REQUEST_BURST: f64 = 2_000.0;
/// Keys (peers, HTTP clients) tracked at once (the oldest is forgotten past it: a
/// forgotten key starts with a full bucket, which a flood of new identities cannot use to
/// starve anyone).
pub(crate) const MAX_TRACKED: usize = 4_096;

/// A token bucket per key; time is passed in (milliseconds), nothing reads a clock.
#[derive(Debug)]
pub(crate) struct Quota<K> {
    rate_per_ms: f64,
    burst: f64,
    buckets: HashMap<K, (f64, u64)>,
}

impl<K: Eq + Hash + Copy> Quota<K> {
    /// `per_second` sustained, `burst` at once.
    pub(crate) fn new(per_second: f64, burst: f64) -> Quota<K> {
        Quota {
            rate_per_ms: per_second / 1_000.0,
            burst,
            buckets: HashMap::new(),
        }
    }

    /// Whether `key` may make one more request at `now_ms` (and counts it if so).
    pub(crate) fn allow(&mut self, key: K, now_ms: u64) -> bool {
        self.take(key, now_ms).is_ok()
    }

    /// Counts one more request of `key` at `now_ms` if its bucket allows it; if not, the
    /// milliseconds until it would (at least 1).
    pub(crate) fn take(&mut self, key: K, now_ms: u64) -> Result<(), u64> {
        if !self.buckets.contains_key(&key) && self.buckets.len() >= MAX_TRACKED {
            if let Some(oldest) = self
                .buckets
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| *k)
            {
                self.buckets.remove(&oldest);
            }
        }
        let (tokens, at) = self.buckets.entry(key).or_insert((self.burst, now_ms));
        let elapsed = now_ms.saturating_sub(*at) as f64;
        *tokens = (*tokens + elapsed * self.rate_per_ms).min(self.burst);
        *at = now_ms.max(*at);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - *tokens) / self.rate_per_ms).ceil();
            Err(if wait.is_finite() {
                (wait as u64).max(1)
            } else {
                u64::MAX
            })
        }
    }
}

impl<K: Eq + Hash + Copy> Default for Quota<K> {
    fn default() -> Quota<K> {
        Quota::new(REQUESTS_PER_SECOND, REQUEST_BURST)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate_and_each_peer_on_its_own() {
        let mut q: Quota<u32> = Quota::new(100.0, 10.0);
        assert_eq!((0..15).filter(|_| q.allow(1, 0)).count(), 10, "the burst");
        assert!(!q.allow(1, 5), "nothing refilled in 5 ms at 100/s");
        assert_eq!(q.take(1, 5), Err(5), "a token in 5 ms more");
        assert!(q.allow(1, 10), "one refilled in 10 ms");
        assert!(q.allow(2, 10), "another peer has its own bucket");
        // A quiet second refills the bucket to the burst, no more.
        assert_eq!((0..50).filter(|_| q.allow(1, 2_000)).count(), 10);
    }

    #[test]
    fn the_tracked_peers_are_bounded() {
        let mut q: Quota<u32> = Quota::new(1.0, 1.0);
        for peer in 0..(MAX_TRACKED as u32 + 100) {
            assert!(q.allow(peer, u64::from(peer)));
        }
        assert!(q.buckets.len() <= MAX_TRACKED);
    }
}
