//! The worker's rendering of a shard, and the deliberate faults of `--faulty-workers`.
//!
//! A faulty worker renders honestly and then falsifies some of its outputs in one of the
//! ways a cheater would: noise instead of the image, a copy of another tile, a quarter of
//! the pixels changed, or fewer samples than the job asked for. The checkers must catch
//! each of them.

use pictor_gpu::{render_tile, Rect, RenderError, RenderSettings, Scene};
use pictor_protocol::{JobSpec, ShardId, TileImage};

/// How a faulty worker falsifies its outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// Falsify every other shard, cycling through all the ways below.
    Mixed,
    /// Replace the tile with noise.
    Noise,
    /// Return the pixels of another tile.
    CopyOtherTile,
    /// Change a quarter of the pixels.
    QuarterOfPixels,
    /// Change a tenth of the pixels (the fraction the sample size is designed for).
    TenthOfPixels,
    /// Render with an eighth of the samples.
    FewerSamples,
}

impl Tamper {
    /// Which falsification (if any) applies to the worker's `nth` output (from 0).
    /// A mixed faulty worker falsifies its first output and every other one after it.
    pub fn for_output(self, nth: u64) -> Option<Tamper> {
        match self {
            Tamper::Mixed => {
                if nth % 2 == 1 {
                    return None;
                }
                let modes = [
                    Tamper::QuarterOfPixels,
                    Tamper::CopyOtherTile,
                    Tamper::FewerSamples,
                    Tamper::Noise,
                ];
                Some(modes[((nth / 2) % 4) as usize])
            }
            other => Some(other),
        }
    }
}

/// Renders one shard of `spec`, falsified as `mode` says (`None`: honestly).
pub fn render_shard(
    scene: &Scene,
    spec: &JobSpec,
    shard: &ShardId,
    mode: Option<Tamper>,
) -> Result<TileImage, RenderError> {
    let rect = spec
        .tile_rect(shard.tile)
        .ok_or_else(|| RenderError::InvalidSettings(format!("no tile {} in job", shard.tile)))?;
    let rect = Rect {
        x: rect.x,
        y: rect.y,
        w: rect.w,
        h: rect.h,
    };
    let settings = RenderSettings {
        width: spec.width,
        height: spec.height,
        samples: spec.samples,
        frame: shard.frame,
    };
    let pixels = match mode {
        None | Some(Tamper::Mixed) => render_tile(scene, &settings, rect)?,
        Some(Tamper::Noise) => {
            let len = rect.w as usize * rect.h as usize * 3;
            let mut state = u64::from(shard.tile)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .wrapping_add(1);
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 32) as u8
                })
                .collect()
        }
        Some(Tamper::CopyOtherTile) => {
            // The same-sized tile diagonally opposite: plausible pixels, wrong place.
            let other = Rect {
                x: spec.width - rect.w - rect.x,
                y: spec.height - rect.h - rect.y,
                ..rect
            };
            let other = if other == rect {
                Rect {
                    x: (rect.x + rect.w) % (spec.width - rect.w + 1),
                    ..rect
                }
            } else {
                other
            };
            let mut pixels = render_tile(scene, &settings, other)?;
            if other == rect {
                pixels.reverse();
            }
            pixels
        }
        Some(Tamper::QuarterOfPixels) => {
            let mut pixels = render_tile(scene, &settings, rect)?;
            for (i, px) in pixels.chunks_exact_mut(3).enumerate() {
                if i % 4 == 0 {
                    px[0] = px[0].wrapping_add(97);
                    px[1] = px[1].wrapping_add(31);
                }
            }
            pixels
        }
        Some(Tamper::TenthOfPixels) => {
            let mut pixels = render_tile(scene, &settings, rect)?;
            for (i, px) in pixels.chunks_exact_mut(3).enumerate() {
                if i % 10 == 3 {
                    px[2] = px[2].wrapping_add(61);
                }
            }
            pixels
        }
        Some(Tamper::FewerSamples) => {
            let fewer = RenderSettings {
                samples: (spec.samples / 8).max(1),
                ..settings
            };
            let mut pixels = render_tile(scene, &fewer, rect)?;
            if fewer.samples == spec.samples {
                // Cannot render with fewer than one sample: darken instead.
                pixels.iter_mut().for_each(|v| *v /= 2);
            }
            pixels
        }
    };
    Ok(TileImage {
        width: rect.w,
        height: rect.h,
        pixels,
    })
}
