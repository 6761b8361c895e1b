//! Perceptual image comparison: PSNR and SSIM, and the thresholds that decide whether a
//! Blender render matches a re-render.
//!
//! The built-in engine is verified bit for bit. Blender is not bit-exact everywhere (GPU
//! versus CPU Cycles, other CPUs or Blender builds), so a checker re-renders a sampled
//! region and accepts the worker's pixels when they are close enough: PSNR at least
//! [`Thresholds::min_psnr_db`] **and** SSIM at least [`Thresholds::min_ssim`].
//!
//! Both measures use only IEEE basic operations and the pure-Rust `libm` in a fixed order,
//! so every checker computes the same figures for the same pixels and a peer can re-check
//! a verdict exactly.

use crate::blender::BlenderEngine;
use crate::DeviceClass;

/// Side of SSIM's Gaussian window (pixels).
const SSIM_WINDOW: usize = 11;
/// Standard deviation of SSIM's Gaussian window (pixels).
const SSIM_SIGMA: f64 = 1.5;
/// SSIM's stabilising constants for 8-bit data: (0.01 · 255)² and (0.03 · 255)².
const SSIM_C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
const SSIM_C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);

/// Peak signal-to-noise ratio of two RGB8 images of the same size, in dB over all channel
/// bytes: `10 · log10(255² / MSE)`. Identical images give `f64::INFINITY`; images of
/// different sizes (or empty ones) give 0, which fails every threshold.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = u64::from(x.abs_diff(y));
            d * d
        })
        .sum();
    if sum == 0 {
        return f64::INFINITY;
    }
    let mse = sum as f64 / a.len() as f64;
    10.0 * libm::log10(255.0 * 255.0 / mse)
}

/// Mean structural similarity of two `width` x `height` RGB8 images, computed on luma
/// (BT.601: 0.299 R + 0.587 G + 0.114 B) with the standard 11x11 Gaussian window (σ = 1.5)
/// at every position where it fits, and the standard constants C1 = (0.01 · 255)²,
/// C2 = (0.03 · 255)². An image smaller than 11 pixels on a side uses a window as large
/// as the image. 1 means identical; images whose size does not match give 0.
pub fn ssim(a: &[u8], b: &[u8], width: u32, height: u32) -> f64 {
    let (w, h) = (width as usize, height as usize);
    let n = w.checked_mul(h).and_then(|n| n.checked_mul(3));
    if w == 0 || h == 0 || n != Some(a.len()) || a.len() != b.len() {
        return 0.0;
    }
    let k = SSIM_WINDOW.min(w).min(h);
    let weights = gaussian(k);
    let luma = |img: &[u8], y: usize| -> Vec<f64> {
        img[y * w * 3..(y + 1) * w * 3]
            .chunks_exact(3)
            .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
            .collect()
    };
    let out_w = w - k + 1;
    // Horizontally filtered rows of (a, b, a², b², ab), the last `k` of them, by y % k.
    let mut ring: Vec<[Vec<f64>; 5]> = Vec::with_capacity(k);
    let mut total = 0.0;
    for y in 0..h {
        let (la, lb) = (luma(a, y), luma(b, y));
        let mut rows: [Vec<f64>; 5] = std::array::from_fn(|_| vec![0.0; out_w]);
        for x in 0..out_w {
            let mut s = [0.0; 5];
            for (i, &wt) in weights.iter().enumerate() {
                let (va, vb) = (la[x + i], lb[x + i]);
                s[0] += wt * va;
                s[1] += wt * vb;
                s[2] += wt * (va * va);
                s[3] += wt * (vb * vb);
                s[4] += wt * (va * vb);
            }
            for (row, v) in rows.iter_mut().zip(s) {
                row[x] = v;
            }
        }
        if ring.len() < k {
            ring.push(rows);
        } else {
            ring[y % k] = rows;
        }
        if y + 1 < k {
            continue;
        }
        let top = y + 1 - k;
        for x in 0..out_w {
            let mut s = [0.0; 5];
            for (i, &wt) in weights.iter().enumerate() {
                let rows = &ring[(top + i) % k];
                for (acc, row) in s.iter_mut().zip(rows) {
                    *acc += wt * row[x];
                }
            }
            let [mu_a, mu_b, aa, bb, ab] = s;
            let var_a = aa - mu_a * mu_a;
            let var_b = bb - mu_b * mu_b;
            let cov = ab - mu_a * mu_b;
            total += ((2.0 * mu_a * mu_b + SSIM_C1) * (2.0 * cov + SSIM_C2))
                / ((mu_a * mu_a + mu_b * mu_b + SSIM_C1) * (var_a + var_b + SSIM_C2));
        }
    }
    total / (out_w * (h - k + 1)) as f64
}

/// Normalised 1-D Gaussian weights of length `k` (σ = [`SSIM_SIGMA`]).
fn gaussian(k: usize) -> Vec<f64> {
    let centre = (k as f64 - 1.0) / 2.0;
    let raw: Vec<f64> = (0..k)
        .map(|i| {
            let d = i as f64 - centre;
            libm::exp(-(d * d) / (2.0 * SSIM_SIGMA * SSIM_SIGMA))
        })
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.into_iter().map(|v| v / sum).collect()
}

/// The least similarity at which a re-render accepts a result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Least PSNR, in dB.
    pub min_psnr_db: f64,
    /// Least SSIM.
    pub min_ssim: f64,
}

impl Thresholds {
    /// The thresholds for Blender results rendered with `engine` on a device of `class`.
    ///
    /// TODO: calibrated figures.
    pub const fn for_blender(engine: BlenderEngine, class: DeviceClass) -> Thresholds {
        match (engine, class) {
            (BlenderEngine::Cycles, DeviceClass::Cpu) => Thresholds {
                min_psnr_db: 40.0,
                min_ssim: 0.98,
            },
            (BlenderEngine::Cycles, DeviceClass::Gpu) => Thresholds {
                min_psnr_db: 30.0,
                min_ssim: 0.9,
            },
            (BlenderEngine::Eevee, _) => Thresholds {
                min_psnr_db: 35.0,
                min_ssim: 0.95,
            },
        }
    }

    /// Whether figures `psnr` and `ssim` meet these thresholds.
    pub fn passes(&self, psnr: f64, ssim: f64) -> bool {
        psnr >= self.min_psnr_db && ssim >= self.min_ssim
    }
}

/// The result of comparing a region with its re-render.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// PSNR in dB (`f64::INFINITY` when identical).
    pub psnr: f64,
    /// Mean SSIM.
    pub ssim: f64,
    /// Whether both meet the thresholds.
    pub pass: bool,
}

/// Compares a `width` x `height` RGB8 region (`actual`, the worker's) with the checker's
/// re-render (`expected`) under `thresholds`.
pub fn compare_region(
    expected: &[u8],
    actual: &[u8],
    width: u32,
    height: u32,
    thresholds: Thresholds,
) -> Comparison {
    let psnr = psnr(expected, actual);
    let ssim = ssim(expected, actual, width, height);
    Comparison {
        psnr,
        ssim,
        pass: thresholds.passes(psnr, ssim),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(len: usize, seed: u32) -> Vec<u8> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn identical_images_are_perfect() {
        let img = noise(40 * 30 * 3, 1);
        assert_eq!(psnr(&img, &img), f64::INFINITY);
        assert!((ssim(&img, &img, 40, 30) - 1.0).abs() < 1e-12);
        let c = compare_region(
            &img,
            &img,
            40,
            30,
            Thresholds::for_blender(BlenderEngine::Cycles, DeviceClass::Cpu),
        );
        assert!(c.pass);
    }

    #[test]
    fn psnr_matches_the_formula() {
        let a = vec![100u8; 300];
        let mut b = a.clone();
        b[0] = 110; // MSE = 100 / 300
        let expected = 10.0 * (255.0f64 * 255.0 / (100.0 / 300.0)).log10();
        assert!((psnr(&a, &b) - expected).abs() < 1e-9);
        assert_eq!(psnr(&a, &b[..299]), 0.0);
        assert_eq!(psnr(&[], &[]), 0.0);
    }

    #[test]
    fn ssim_drops_with_structure_not_with_tiny_noise() {
        let (w, h) = (48u32, 32u32);
        let base: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let v = (((i % w) * 5 + (i / w) * 3) % 256) as u8;
                [v, v / 2, 255 - v]
            })
            .collect();
        let mut nudged = base.clone();
        for (i, v) in nudged.iter_mut().enumerate() {
            if i % 7 == 0 {
                *v = v.saturating_add(1);
            }
        }
        let scrambled = noise(base.len(), 9);
        let near = ssim(&base, &nudged, w, h);
        let far = ssim(&base, &scrambled, w, h);
        assert!(near > 0.99, "{near}");
        assert!(far < 0.2, "{far}");
        assert_eq!(ssim(&base, &nudged, w, h + 1), 0.0);
    }

    #[test]
    fn small_images_use_a_smaller_window() {
        let a = noise(4 * 3 * 3, 2);
        let b = noise(4 * 3 * 3, 3);
        assert!((ssim(&a, &a, 4, 3) - 1.0).abs() < 1e-12);
        assert!(ssim(&a, &b, 4, 3) < 0.9);
        assert!((ssim(&a[..3], &a[..3], 1, 1) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn gaussian_weights_sum_to_one_and_peak_in_the_middle() {
        let g = gaussian(SSIM_WINDOW);
        assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(g[5] > g[4] && g[4] > g[0] && (g[0] - g[10]).abs() < 1e-15);
    }
}
