//! Node animation: translation / rotation / scale channels, LINEAR and STEP interpolation
//! (CUBICSPLINE is sampled linearly on its value part).

use crate::math::{Quat, Vec3};

/// Frames per second: frame `f` (1-based) is sampled at `(f - 1) / FPS` seconds.
pub const FPS: u32 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Property {
    Translation,
    Rotation,
    Scale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interpolation {
    Linear,
    Step,
    CubicSpline,
}

/// One animated property of one node.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub(crate) node: usize,
    pub(crate) property: Property,
    pub(crate) interpolation: Interpolation,
    /// Key times, finite and non-decreasing (checked by the loader).
    pub(crate) times: Vec<f32>,
    /// Output values, `comps()` per key (three times that for CUBICSPLINE).
    pub(crate) values: Vec<f32>,
}

/// A node's local transform, as animation overrides it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Trs {
    pub(crate) t: Vec3,
    pub(crate) r: Quat,
    pub(crate) s: Vec3,
}

impl Channel {
    pub(crate) fn comps(&self) -> usize {
        if self.property == Property::Rotation {
            4
        } else {
            3
        }
    }

    /// Whether the key and value counts agree (checked by the loader).
    pub(crate) fn is_consistent(&self) -> bool {
        let per_key = self.comps()
            * if self.interpolation == Interpolation::CubicSpline {
                3
            } else {
                1
            };
        !self.times.is_empty()
            && self.values.len() == self.times.len() * per_key
            && self.times.iter().all(|t| t.is_finite())
            && self.times.windows(2).all(|w| w[0] <= w[1])
    }

    pub(crate) fn duration(&self) -> f32 {
        self.times.last().copied().unwrap_or(0.0)
    }

    fn key(&self, k: usize) -> [f32; 4] {
        let c = self.comps();
        let (stride, off) = if self.interpolation == Interpolation::CubicSpline {
            (3 * c, c)
        } else {
            (c, 0)
        };
        let mut out = [0.0; 4];
        if let Some(v) = self.values.get(k * stride + off..k * stride + off + c) {
            out[..c].copy_from_slice(v);
        }
        out
    }

    /// Applies this channel, sampled at time `t` seconds, to `trs`.
    pub(crate) fn apply(&self, t: f32, trs: &mut Trs) {
        let n = self.times.len();
        if n == 0 {
            return;
        }
        let after = self.times.partition_point(|&k| k <= t);
        let (k0, k1, s) = if after == 0 {
            (0, 0, 0.0)
        } else if after >= n {
            (n - 1, n - 1, 0.0)
        } else {
            let (t0, t1) = (self.times[after - 1], self.times[after]);
            let s = if t1 > t0 { (t - t0) / (t1 - t0) } else { 0.0 };
            (after - 1, after, s)
        };
        let s = if self.interpolation == Interpolation::Step {
            0.0
        } else {
            s
        };
        let (a, b) = (self.key(k0), self.key(k1));
        match self.property {
            Property::Rotation => {
                let (qa, qb) = (Quat::from_array(a), Quat::from_array(b));
                trs.r = if s == 0.0 {
                    qa.normalize()
                } else {
                    qa.normalize().slerp(qb.normalize(), s)
                };
            }
            p => {
                let v = Vec3::new(a[0], a[1], a[2]).lerp(Vec3::new(b[0], b[1], b[2]), s);
                if p == Property::Translation {
                    trs.t = v;
                } else {
                    trs.s = v;
                }
            }
        }
    }
}

/// The last frame of an animation lasting `duration` seconds: `floor(duration × FPS) + 1`.
pub(crate) fn last_frame(duration: f32) -> u32 {
    let f = libm::floorf(duration * FPS as f32);
    (f as u32).saturating_add(1)
}

/// The time in seconds at which frame `frame` (1-based) is sampled.
pub(crate) fn frame_time(frame: u32) -> f32 {
    frame.saturating_sub(1) as f32 / FPS as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_and_step() {
        let mut c = Channel {
            node: 0,
            property: Property::Translation,
            interpolation: Interpolation::Linear,
            times: vec![0.0, 1.0],
            values: vec![0.0, 0.0, 0.0, 2.0, 4.0, 6.0],
        };
        assert!(c.is_consistent());
        let mut trs = Trs {
            t: Vec3::ZERO,
            r: Quat::IDENTITY,
            s: Vec3::ONE,
        };
        c.apply(0.5, &mut trs);
        assert_eq!(trs.t, Vec3::new(1.0, 2.0, 3.0));
        c.apply(7.0, &mut trs);
        assert_eq!(trs.t, Vec3::new(2.0, 4.0, 6.0));
        c.interpolation = Interpolation::Step;
        c.apply(0.5, &mut trs);
        assert_eq!(trs.t, Vec3::ZERO);
        assert_eq!(last_frame(1.0), 25);
        assert_eq!(last_frame(0.0), 1);
        assert_eq!(frame_time(25), 1.0);
    }
}
