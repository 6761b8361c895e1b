//! Worker-determined pricing: a worker sets its price in credits per benchmark-normalised
//! render-second; a creator sets a price cap per job.
//!
//! A normalised second is a second of a machine with the reference benchmark score
//! ([`REFERENCE_KSAMPLES_PER_S`], 1 Msample/s): a worker twice as fast renders a shard in
//! half the time but did the same normalised work, so it is paid the same for it.

use super::CreditError;

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
