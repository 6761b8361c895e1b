//! Worker-determined pricing: a worker sets its price in credits per benchmark-normalised
//! render-second; a creator sets a price cap per job.
//!
//! A normalised second is a second of a machine with the reference benchmark score
//! ([`REFERENCE_KSAMPLES_PER_S`], 1 Msample/s): a worker twice as fast renders a shard in
//! half the time but did the same normalised work, so it is paid the same for it.

use super::CreditError;
use crate::job::{JobSpec, ShardId};

/// The benchmark score of the reference machine, in ksamples/s (the unit of
/// [`CapabilityRecord::benchmark_ksamples_per_s`](crate::capability::CapabilityRecord)).
pub const REFERENCE_KSAMPLES_PER_S: u64 = 1000;

/// Milliseconds per second.
const MS_PER_S: u128 = 1000;

/// The price of a render of `render_ms` milliseconds on a worker whose benchmark score is
/// `benchmark_score` ksamples/s, at `price_per_normalised_second` credits:
///
/// `ceil(render_ms * benchmark_score * price_per_normalised_second / (1000 * 1000))`
///
/// that is, the render's normalised seconds (`render_ms / 1000 * benchmark_score /`
/// [`REFERENCE_KSAMPLES_PER_S`]) times the price, rounded up to a whole credit so that any
/// work at a non-zero price earns at least one. Computed in 128 bits;
/// [`CreditError::Overflow`] when the product or the price does not fit.
pub fn price_for(
    render_ms: u64,
    benchmark_score: u32,
    price_per_normalised_second: u64,
) -> Result<u64, CreditError> {
    let overflow = CreditError::Overflow("price");
    let work = u128::from(render_ms)
        .checked_mul(u128::from(benchmark_score))
        .and_then(|w| w.checked_mul(u128::from(price_per_normalised_second)))
        .ok_or(overflow.clone())?;
    let divisor = MS_PER_S.saturating_mul(u128::from(REFERENCE_KSAMPLES_PER_S));
    let price = work.div_ceil(divisor);
    u64::try_from(price).map_err(|_| overflow)
}

/// Whether a worker's price (credits per benchmark-normalised render-second, its
/// capability record's `price`) is within a job's cap (its spec's `price_cap`, in the same
/// unit; 0: no cap). Only workers within a job's cap get its shards.
pub fn worker_within_cap(price: u64, cap: u64) -> bool {
    cap == 0 || price <= cap
}

/// The rate `spec`'s escrow pays a worker whose price is `price`: that price, never more
/// than the job's cap (0: none). A worker is given shards only within the cap, but may
/// raise its price before its shard is paid; it is paid at most the cap its creator
/// accepted, and every member of the committee computes the same amount whether or not
/// it has seen the worker's new price yet. [`max_job_cost`] is then a true bound.
pub fn pay_rate(price: u64, spec: &JobSpec) -> u64 {
    if spec.price_cap == 0 {
        price
    } else {
        price.min(spec.price_cap)
    }
}

/// The price of `shard` of `spec` for a worker at `price_per_normalised_second`: the
/// shard's normalised render time is its samples (pixels × samples per pixel) at the
/// reference rate, so the price depends on the work, not on how long the worker says it
/// took (which no checker can confirm). That is [`price_for`] of `samples / 1000` ms (rounded
/// up) at the reference score. [`CreditError::WrongJob`] for a shard not of `spec`.
pub fn shard_price(
    spec: &JobSpec,
    shard: &ShardId,
    price_per_normalised_second: u64,
) -> Result<u64, CreditError> {
    let rect = (shard.job == spec.id() && spec.frames.contains(shard.frame))
        .then(|| spec.tile_rect(shard.tile))
        .flatten()
        .ok_or(CreditError::WrongJob {
            shard: *shard,
            job: spec.id(),
        })?;
    let samples = u64::from(rect.w) * u64::from(rect.h) * u64::from(spec.samples);
    // Reference rate: REFERENCE_KSAMPLES_PER_S ksamples/s, that is one sample per µs.
    let reference_ms = samples.div_ceil(REFERENCE_KSAMPLES_PER_S);
    price_for(
        reference_ms,
        REFERENCE_KSAMPLES_PER_S as u32,
        price_per_normalised_second,
    )
}

/// What `spec` can cost at most, at its price cap (`None` without a cap: any price may
/// render it), with `checker_fee` per shard: a budget that never runs out.
pub fn max_job_cost(spec: &JobSpec, checker_fee: u64) -> Result<Option<u64>, CreditError> {
    if spec.price_cap == 0 {
        return Ok(None);
    }
    let mut total: u64 = 0;
    for shard in spec.shards() {
        let cost = shard_price(spec, &shard, spec.price_cap)?
            .checked_add(checker_fee)
            .ok_or(CreditError::Overflow("job cost"))?;
        total = total
            .checked_add(cost)
            .ok_or(CreditError::Overflow("job cost"))?;
    }
    Ok(Some(total))
}
