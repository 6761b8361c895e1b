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
    /// Invert every channel of every pixel: a canary (see `pictor_protocol::canary`),
    /// which every honest checker's sample catches, whatever pixels it draws.
    Canary,
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

/// Renders one shard of `spec` with the built-in engine, falsified as `mode` says
/// (`None`: honestly).
pub fn render_shard(
    scene: &Scene,
    spec: &JobSpec,
    shard: &ShardId,
    mode: Option<Tamper>,
) -> Result<TileImage, RenderError> {
    let mut render = |rect: Rect, samples: u32| {
        let settings = RenderSettings {
            width: spec.width,
            height: spec.height,
            samples,
            frame: shard.frame,
        };
        render_tile(scene, &settings, rect).map_err(ShardError::Render)
    };
    render_shard_with(spec, shard, mode, &mut render).map_err(|e| match e {
        ShardError::Render(e) => e,
        ShardError::Other(reason) => RenderError::InvalidSettings(reason),
    })
}

/// Why a shard could not be rendered: the engine's error, or the job's.
#[derive(Debug)]
pub enum ShardError<E> {
    /// The engine failed.
    Render(E),
    /// The shard does not fit the job.
    Other(String),
}

impl<E> From<String> for ShardError<E> {
    fn from(reason: String) -> Self {
        ShardError::Other(reason)
    }
}

impl<E: std::fmt::Display> std::fmt::Display for ShardError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShardError::Render(e) => e.fmt(f),
            ShardError::Other(reason) => f.write_str(reason),
        }
    }
}

/// Renders one shard of `spec` through `render(rect, samples)` (any engine: it returns the
/// rect's RGB8 rows), falsified as `mode` says (`None`: honestly).
pub fn render_shard_with<E: From<String>>(
    spec: &JobSpec,
    shard: &ShardId,
    mode: Option<Tamper>,
    render: &mut dyn FnMut(Rect, u32) -> Result<Vec<u8>, E>,
) -> Result<TileImage, E> {
    let rect = spec
        .tile_rect(shard.tile)
        .ok_or_else(|| E::from(format!("no tile {} in job", shard.tile)))?;
    let rect = Rect {
        x: rect.x,
        y: rect.y,
        w: rect.w,
        h: rect.h,
    };
    let samples = spec.samples;
    let pixels = match mode {
        None | Some(Tamper::Mixed) => render(rect, samples)?,
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
            let mut pixels = render(other, samples)?;
            if other == rect {
                pixels.reverse();
            }
            pixels
        }
        Some(Tamper::QuarterOfPixels) => {
            let mut pixels = render(rect, samples)?;
            for (i, px) in pixels.chunks_exact_mut(3).enumerate() {
                if i % 4 == 0 {
                    px[0] = px[0].wrapping_add(97);
                    px[1] = px[1].wrapping_add(31);
                }
            }
            pixels
        }
        Some(Tamper::TenthOfPixels) => {
            let mut pixels = render(rect, samples)?;
            for (i, px) in pixels.chunks_exact_mut(3).enumerate() {
                if i % 10 == 3 {
                    px[2] = px[2].wrapping_add(61);
                }
            }
            pixels
        }
        Some(Tamper::Canary) => {
            let mut pixels = render(rect, samples)?;
            pixels.iter_mut().for_each(|v| *v = 255 - *v);
            pixels
        }
        Some(Tamper::FewerSamples) => {
            let fewer = (samples / 8).max(1);
            let mut pixels = render(rect, fewer)?;
            if fewer == samples {
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
