//! Pure decision rules: quorum sizes, committees, leaders, worker assignment and sampling.
//! Deterministic functions of their inputs; every node computes the same answers.

use std::collections::BTreeSet;

use crate::identity::{PublicKey, Signature};
use crate::job::{JobId, ShardId};

/// The fraction of a falsified tile's pixels assumed wrong when sizing samples.
pub const FRAUD_FRACTION: f64 = 0.10;
/// The probability with which a falsified claim must be rejected.
pub const DETECTION_TARGET: f64 = 0.999;
/// Most pixels one checker samples (bounds [`sample_pixels`] and attestations).
pub const MAX_SAMPLES: usize = 4096;

/// Signatures needed out of `n`: more than two thirds, `floor(2n/3) + 1` (1 for `n = 0`,
/// which no empty committee can reach).
pub fn quorum_threshold(n: usize) -> usize {
    n.saturating_mul(2) / 3 + 1
}

/// Why the signers of a certificate are not a quorum of a set ([`check_signers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignersFault {
    /// Fewer signers than [`quorum_threshold`] of the set.
    NoQuorum {
        /// Signers present.
        got: usize,
        /// The threshold.
        needed: usize,
        /// Size of the set.
        set: usize,
    },
    /// Signers must be sorted by key with no key twice.
    DuplicateOrUnsorted(PublicKey),
    /// A signer outside the set.
    NotMember(PublicKey),
}

/// The signer rule of every quorum certificate: at least [`quorum_threshold`] of
/// `members` sign, sorted by key with none twice, each a member. Signatures are the
/// caller's to check.
pub fn check_signers<'a>(
    signers: impl ExactSizeIterator<Item = &'a PublicKey>,
    members: &BTreeSet<&PublicKey>,
) -> Result<(), SignersFault> {
    let needed = quorum_threshold(members.len());
    if signers.len() < needed {
        return Err(SignersFault::NoQuorum {
            got: signers.len(),
            needed,
            set: members.len(),
        });
    }
    let mut prev: Option<&PublicKey> = None;
    for signer in signers {
        if prev.is_some_and(|p| p >= signer) {
            return Err(SignersFault::DuplicateOrUnsorted(*signer));
        }
        if !members.contains(signer) {
            return Err(SignersFault::NotMember(*signer));
        }
        prev = Some(signer);
    }
    Ok(())
}

/// Faulty members tolerated out of `n`: `(n - 1) / 3` (0 for `n = 0`).
pub fn max_faulty(n: usize) -> usize {
    n.saturating_sub(1) / 3
}

fn score(tag: &[u8], subject: &[u8], key: &PublicKey) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(tag);
    h.update(subject);
    h.update(key.as_bytes());
    *h.finalize().as_bytes()
}

/// Keys ordered by descending rendezvous score (ties broken by key), deduplicated.
fn ranked(tag: &[u8], subject: &[u8], keys: &[PublicKey]) -> Vec<PublicKey> {
    let unique: BTreeSet<PublicKey> = keys.iter().copied().collect();
    let mut scored: Vec<([u8; 32], PublicKey)> = unique
        .into_iter()
        .map(|k| (score(tag, subject, &k), k))
        .collect();
    scored.sort_unstable_by(|a, b| b.cmp(a));
    scored.into_iter().map(|(_, k)| k).collect()
}

/// The committee of a job: the `size` checkers with the highest
/// `blake3("committee" || job || key)`, in score order. Independent of input order and
/// duplicates.
pub fn committee(job: &JobId, checkers: &[PublicKey], size: usize) -> Vec<PublicKey> {
    let mut c = ranked(b"committee", &job.0, checkers);
    c.truncate(size);
    c
}

/// The committee member that leads a job at leadership `epoch`: it makes the job's
/// assignments and publishes its certificates at once. Epoch 0 is the first member in
/// committee order (see [`committee`]); each take-over after a silent leader moves to the
/// next member, wrapping around. `None` for an empty committee.
pub fn job_leader(committee: &[PublicKey], epoch: usize) -> Option<PublicKey> {
    committee.get(epoch % committee.len().max(1)).copied()
}

/// Attempt numbers each committee generation of a job has to itself: generation `g`
/// assigns from [`first_attempt`]`(g)` on. An assignment of a committee that has since
/// moved can then never be mistaken for one of the new committee, whatever order nodes
/// learn of the move and the assignments in: the new committee's attempts are higher, and
/// a higher attempt replaces a lower one everywhere.
pub const ATTEMPTS_PER_GENERATION: u32 = 1 << 16;

/// The first attempt a job's committee of `generation` assigns (see
/// [`ATTEMPTS_PER_GENERATION`]).
pub fn first_attempt(generation: u32) -> u32 {
    generation.saturating_mul(ATTEMPTS_PER_GENERATION)
}

/// The highest attempt a message may name: the last of the last generation a job can
/// reach ([`crate::governance::MAX_GENERATIONS`]). A shard's attempts stop counting there
/// (it is still assigned again, at that attempt), so `attempt + 1` never overflows.
pub const MAX_ATTEMPT: u32 = ATTEMPTS_PER_GENERATION * (crate::governance::MAX_GENERATIONS + 1) - 1;

/// The attempt after `attempt`, at most [`MAX_ATTEMPT`].
pub fn next_attempt(attempt: u32) -> u32 {
    attempt.saturating_add(1).min(MAX_ATTEMPT)
}

/// The worker for `shard` at `attempt`: rendezvous over `shard || attempt`, skipping
/// `excluded` (workers that failed or are banned).
pub fn assign_worker(
    shard: &ShardId,
    attempt: u32,
    eligible: &[PublicKey],
    excluded: &BTreeSet<PublicKey>,
) -> Option<PublicKey> {
    let mut subject = shard.to_key().to_vec();
    subject.extend_from_slice(&attempt.to_le_bytes());
    eligible
        .iter()
        .filter(|k| !excluded.contains(k))
        .map(|k| (score(b"assign", &subject, k), *k))
        .max()
        .map(|(_, k)| k)
}

/// The sample seed a checker's seed signature commits to: blake3 of the signature bytes.
pub fn sample_seed(seed_signature: &Signature) -> [u8; 32] {
    *blake3::hash(seed_signature.as_bytes()).as_bytes()
}

/// `k` distinct tile-local pixel positions `(x, y)` in a `w × h` tile, drawn from the
/// blake3 XOF of `seed` by rejection sampling (no modulo bias), sorted ascending by
/// `(x, y)`. All pixels if `k >= w * h`. `k` is capped at [`MAX_SAMPLES`].
pub fn sample_pixels(seed: &[u8; 32], w: u32, h: u32, k: usize) -> Vec<(u32, u32)> {
    let n = u64::from(w) * u64::from(h);
    let k = k.min(MAX_SAMPLES) as u64;
    if n == 0 || k == 0 {
        return Vec::new();
    }
    let mut picked = BTreeSet::new();
    if k >= n {
        picked.extend(0..n);
    } else {
        let bits = 64 - (n - 1).leading_zeros();
        let mask = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let mut xof = blake3::Hasher::new().update(seed).finalize_xof();
        let mut buf = [0u8; 8];
        while (picked.len() as u64) < k {
            xof.fill(&mut buf);
            let v = u64::from_le_bytes(buf) & mask;
            if v < n {
                picked.insert(v);
            }
        }
    }
    let w = u64::from(w);
    let mut out: Vec<(u32, u32)> = picked
        .into_iter()
        .map(|i| ((i % w) as u32, (i / w) as u32))
        .collect();
    out.sort_unstable();
    out
}

/// Most regions one perceptual attestation may carry.
pub const MAX_REGIONS: usize = 256;

/// Edge of the square regions that checkers re-render for engines verified perceptually.
pub const REGION_SIDE: u32 = 4;

/// `k` distinct regions of a `w`×`h` tile, chosen from `seed`: the tile is cut into a grid
/// of `side`×`side` cells (the last row and column clamped to the tile) and `k` cells are
/// picked as [`sample_pixels`] picks pixels. Each region is `(x, y, w, h)`, tile-local,
/// sorted. All cells if `k` is at least their number; `k` is capped at [`MAX_REGIONS`].
pub fn sample_regions(
    seed: &[u8; 32],
    w: u32,
    h: u32,
    k: usize,
    side: u32,
) -> Vec<(u32, u32, u32, u32)> {
    if side == 0 || w == 0 || h == 0 {
        return Vec::new();
    }
    let cols = w.div_ceil(side);
    let rows = h.div_ceil(side);
    let mut out: Vec<(u32, u32, u32, u32)> = sample_pixels(seed, cols, rows, k.min(MAX_REGIONS))
        .into_iter()
        .map(|(cx, cy)| {
            let (x, y) = (cx * side, cy * side);
            (x, y, side.min(w - x), side.min(h - y))
        })
        .collect();
    out.sort_unstable_by_key(|&(x, y, _, _)| (y, x));
    out
}

/// The distinct rows that some regions cover, ascending (a region reaching past the last
/// row of `u32` stops there).
pub fn region_rows(regions: &[(u32, u32, u32, u32)]) -> Vec<u32> {
    let rows: BTreeSet<u32> = regions
        .iter()
        .flat_map(|&(_, y, _, h)| y..y.saturating_add(h))
        .collect();
    rows.into_iter().collect()
}

/// The distinct rows of some pixel positions, ascending (what a checker fetches).
pub fn sample_rows(positions: &[(u32, u32)]) -> Vec<u32> {
    let rows: BTreeSet<u32> = positions.iter().map(|&(_, y)| y).collect();
    rows.into_iter().collect()
}

fn binomial(n: usize, i: usize) -> f64 {
    let i = i.min(n - i);
    let mut c = 1.0f64;
    for j in 0..i {
        c = c * (n - j) as f64 / (j + 1) as f64;
    }
    c
}

/// Probability that a falsified claim still gathers a quorum of Valid votes: at least
/// `quorum_threshold(n)` of `n` checkers each miss the fraud with `k` samples, each sample
/// catching it independently with probability `fraud_fraction`.
pub fn acceptance_probability(n: usize, k: usize, fraud_fraction: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let q = quorum_threshold(n);
    let miss = (1.0 - fraud_fraction.clamp(0.0, 1.0)).powi(k.min(i32::MAX as usize) as i32);
    let mut p = 0.0;
    for i in q..=n {
        p += binomial(n, i) * miss.powi(i as i32) * (1.0 - miss).powi((n - i) as i32);
    }
    p
}

/// The smallest `k >= 1` such that a falsified claim is accepted with probability at most
/// `1 - detection_target` (see [`acceptance_probability`]); [`MAX_SAMPLES`] if none is.
pub fn samples_per_checker(
    committee_size: usize,
    fraud_fraction: f64,
    detection_target: f64,
) -> usize {
    let allowed = 1.0 - detection_target;
    (1..=MAX_SAMPLES)
        .find(|&k| acceptance_probability(committee_size, k, fraud_fraction) <= allowed)
        .unwrap_or(MAX_SAMPLES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;
    use proptest::prelude::*;

    fn keys(n: u8) -> Vec<PublicKey> {
        (0..n)
            .map(|i| Keypair::from_seed([i; 32]).public())
            .collect()
    }

    #[test]
    fn threshold_table() {
        let table = [
            (0, 1),
            (1, 1),
            (2, 2),
            (3, 3),
            (4, 3),
            (5, 4),
            (6, 5),
            (7, 5),
            (10, 7),
        ];
        for (n, q) in table {
            assert_eq!(quorum_threshold(n), q, "n={n}");
        }
        assert_eq!(max_faulty(4), 1);
        assert_eq!(max_faulty(7), 2);
        assert_eq!(max_faulty(1), 0);
    }

    #[test]
    fn regions_cover_the_tile_grid() {
        let seed = [3u8; 32];
        // 100x70 with side 8: a 13x9 grid, the last column 4 wide and the last row 6 high.
        let all = sample_regions(&seed, 100, 70, 1000, 8);
        assert_eq!(all.len(), 13 * 9);
        let area: u32 = all.iter().map(|&(_, _, w, h)| w * h).sum();
        assert_eq!(area, 100 * 70);
        assert!(all
            .iter()
            .all(|&(x, y, w, h)| x + w <= 100 && y + h <= 70 && w > 0 && h > 0));
        let some = sample_regions(&seed, 100, 70, 5, 8);
        assert_eq!(some.len(), 5);
        assert_eq!(some, sample_regions(&seed, 100, 70, 5, 8));
        assert_ne!(some, sample_regions(&[4u8; 32], 100, 70, 5, 8));
        let rows = region_rows(&some);
        assert!(rows.windows(2).all(|w| w[0] < w[1]));
        assert!(sample_regions(&seed, 0, 70, 5, 8).is_empty());
        assert!(sample_regions(&seed, 10, 70, 5, 0).is_empty());
    }

    #[test]
    fn rules_take_the_largest_numbers_without_overflow() {
        let seed = [5u8; 32];
        let regions = sample_regions(&seed, u32::MAX, u32::MAX, MAX_REGIONS, REGION_SIDE);
        assert_eq!(regions.len(), MAX_REGIONS);
        assert!(regions.iter().all(|&(x, y, w, h)| {
            u64::from(x) + u64::from(w) <= u64::from(u32::MAX)
                && u64::from(y) + u64::from(h) <= u64::from(u32::MAX)
        }));
        assert_eq!(
            sample_pixels(&seed, u32::MAX, u32::MAX, MAX_SAMPLES).len(),
            MAX_SAMPLES
        );
        // A region reaching past the last row stops there.
        assert_eq!(region_rows(&[(0, u32::MAX - 1, 4, 4)]), [u32::MAX - 1]);
        assert_eq!(
            MAX_ATTEMPT,
            first_attempt(crate::governance::MAX_GENERATIONS + 1) - 1
        );
        assert_eq!(next_attempt(0), 1);
        assert_eq!(next_attempt(MAX_ATTEMPT), MAX_ATTEMPT);
        assert_eq!(next_attempt(u32::MAX), MAX_ATTEMPT);
        assert_eq!(first_attempt(u32::MAX), u32::MAX);
    }

    #[test]
    fn samples_per_checker_examples() {
        assert_eq!(samples_per_checker(4, FRAUD_FRACTION, DETECTION_TARGET), 27);
        assert_eq!(samples_per_checker(1, FRAUD_FRACTION, DETECTION_TARGET), 66);
        for n in 1..=10 {
            let k = samples_per_checker(n, FRAUD_FRACTION, DETECTION_TARGET);
            let allowed = 1.0 - DETECTION_TARGET;
            assert!(
                acceptance_probability(n, k, FRAUD_FRACTION) <= allowed,
                "n={n}"
            );
            if k > 1 {
                assert!(
                    acceptance_probability(n, k - 1, FRAUD_FRACTION) > allowed,
                    "n={n}"
                );
            }
        }
    }

    #[test]
    fn sample_pixels_basics() {
        let s = sample_pixels(&[1; 32], 64, 64, 27);
        assert_eq!(s.len(), 27);
        assert_eq!(s, sample_pixels(&[1; 32], 64, 64, 27));
        assert_ne!(s, sample_pixels(&[2; 32], 64, 64, 27));
        assert_eq!(sample_pixels(&[1; 32], 3, 2, 10).len(), 6);
        assert!(sample_pixels(&[1; 32], 0, 2, 10).is_empty());
        assert_eq!(
            sample_pixels(&[1; 32], 16384, 16384, 1_000_000).len(),
            MAX_SAMPLES
        );
        assert_eq!(sample_rows(&[(1, 5), (2, 3), (0, 5)]), vec![3, 5]);
    }

    #[test]
    fn job_leader_takes_turns_in_committee_order() {
        let ks = keys(4);
        let c = committee(&JobId([3; 32]), &ks, 4);
        assert_eq!(job_leader(&c, 0), Some(c[0]));
        assert_eq!(job_leader(&c, 1), Some(c[1]));
        assert_eq!(job_leader(&c, 3), Some(c[3]));
        assert_eq!(job_leader(&c, 4), Some(c[0]), "take-overs wrap around");
        assert_eq!(job_leader(&c, usize::MAX), Some(c[usize::MAX % 4]));
        assert_eq!(job_leader(&[], 0), None);
        assert_eq!(job_leader(&[], 7), None);
    }

    #[test]
    fn exclusion() {
        let ks = keys(6);
        let shard = ShardId {
            job: JobId([3; 32]),
            frame: 1,
            tile: 0,
        };
        let first = assign_worker(&shard, 0, &ks, &BTreeSet::new());
        let excluded: BTreeSet<_> = first.into_iter().collect();
        let second = assign_worker(&shard, 0, &ks, &excluded);
        assert!(second.is_some() && second != first);
        let all: BTreeSet<_> = ks.iter().copied().collect();
        assert_eq!(assign_worker(&shard, 0, &ks, &all), None);
    }

    proptest! {
        #[test]
        fn committee_is_order_independent(n in 0u8..20, size in 0usize..25, seed in any::<u64>(), job in any::<[u8; 32]>()) {
            let ks = keys(n);
            let mut shuffled = ks.clone();
            // Deterministic shuffle from the seed, plus a duplicate.
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            if let Some(&k) = ks.first() { shuffled.push(k); }
            let job = JobId(job);
            let a = committee(&job, &ks, size);
            prop_assert_eq!(&a, &committee(&job, &shuffled, size));
            prop_assert_eq!(a.len(), size.min(n as usize));
            let unique: BTreeSet<_> = a.iter().collect();
            prop_assert_eq!(unique.len(), a.len());
            let shard = ShardId { job, frame: 1, tile: 0 };
            let epoch = seed as usize;
            prop_assert_eq!(
                job_leader(&a, epoch),
                job_leader(&committee(&job, &shuffled, size), epoch)
            );
            prop_assert_eq!(
                assign_worker(&shard, 2, &ks, &BTreeSet::new()),
                assign_worker(&shard, 2, &shuffled, &BTreeSet::new())
            );
        }

        #[test]
        fn excluded_never_chosen(n in 1u8..12, excl in proptest::collection::vec(any::<u8>(), 0..12), attempt in any::<u32>()) {
            let ks = keys(n);
            let excluded: BTreeSet<_> = excl.iter().filter_map(|i| ks.get(*i as usize % ks.len()).copied()).collect();
            let shard = ShardId { job: JobId([9; 32]), frame: 2, tile: 3 };
            match assign_worker(&shard, attempt, &ks, &excluded) {
                Some(w) => prop_assert!(!excluded.contains(&w) && ks.contains(&w)),
                None => prop_assert_eq!(excluded.len(), ks.len()),
            }
        }

        #[test]
        fn samples_distinct_in_bounds(seed in any::<[u8; 32]>(), w in 1u32..300, h in 1u32..300, k in 0usize..200) {
            let s = sample_pixels(&seed, w, h, k);
            prop_assert_eq!(s.len(), k.min((w * h) as usize));
            prop_assert!(s.windows(2).all(|p| p[0] < p[1]));
            prop_assert!(s.iter().all(|&(x, y)| x < w && y < h));
            prop_assert_eq!(&s, &sample_pixels(&seed, w, h, k));
        }
    }
}
