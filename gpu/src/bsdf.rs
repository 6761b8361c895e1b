//! The surface model: Lambert diffuse plus a GGX (Trowbridge–Reitz) specular lobe with
//! Schlick Fresnel, driven by glTF's metallic / roughness. Diffuse is weighted by
//! `1 - F`, so the sum stays energy-sane.

use core::f32::consts::PI;

use crate::material::SurfacePoint;
use crate::math::Vec3;

const MIN_ALPHA: f32 = 0.004;

/// An orthonormal frame around a unit normal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    t: Vec3,
    b: Vec3,
    n: Vec3,
}

impl Frame {
    /// Duff et al., "Building an Orthonormal Basis, Revisited".
    pub(crate) fn new(n: Vec3) -> Frame {
        let sign = libm::copysignf(1.0, n.z);
        let a = -1.0 / (sign + n.z);
        let b = n.x * n.y * a;
        Frame {
            t: Vec3::new(1.0 + sign * n.x * n.x * a, sign * b, -sign * n.x),
            b: Vec3::new(b, sign + n.y * n.y * a, -n.y),
            n,
        }
    }
    fn local(&self, v: Vec3) -> Vec3 {
        Vec3::new(v.dot(self.t), v.dot(self.b), v.dot(self.n))
    }
    fn world(&self, v: Vec3) -> Vec3 {
        self.t * v.x + self.b * v.y + self.n * v.z
    }
}

/// The BSDF at one shading point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bsdf {
    frame: Frame,
    diffuse: Vec3,
    f0: Vec3,
    alpha: f32,
}

/// A sampled direction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BsdfSample {
    pub(crate) wi: Vec3,
    pub(crate) f: Vec3,
    pub(crate) pdf: f32,
}

fn schlick(f0: Vec3, cos: f32) -> Vec3 {
    let m = (1.0 - cos).clamp(0.0, 1.0);
    let m5 = m * m * m * m * m;
    f0 + (Vec3::ONE - f0) * m5
}

impl Bsdf {
    pub(crate) fn new(n: Vec3, s: &SurfacePoint) -> Bsdf {
        let r = s.roughness;
        Bsdf {
            frame: Frame::new(n),
            diffuse: s.base_color * (1.0 - s.metallic),
            f0: Vec3::splat(0.04).lerp(s.base_color, s.metallic),
            alpha: (r * r).max(MIN_ALPHA),
        }
    }

    fn d(&self, cos_h: f32) -> f32 {
        let a2 = self.alpha * self.alpha;
        let k = cos_h * cos_h * (a2 - 1.0) + 1.0;
        a2 / (PI * k * k)
    }

    fn g1(&self, cos: f32) -> f32 {
        let a2 = self.alpha * self.alpha;
        2.0 * cos / (cos + libm::sqrtf(a2 + (1.0 - a2) * cos * cos))
    }

    /// Probability of sampling the specular lobe for outgoing `cos_o`.
    fn spec_prob(&self, cos_o: f32) -> f32 {
        let f = schlick(self.f0, cos_o).luminance();
        let d = self.diffuse.luminance() * (1.0 - f);
        let p = f / (f + d);
        if p.is_finite() {
            p.clamp(0.1, 0.9)
        } else {
            0.5
        }
    }

    /// Value (without the cosine) and pdf (solid angle) for world directions `wo`, `wi`.
    pub(crate) fn eval(&self, wo: Vec3, wi: Vec3) -> (Vec3, f32) {
        let (lo, li) = (self.frame.local(wo), self.frame.local(wi));
        if lo.z <= 0.0 || li.z <= 0.0 {
            return (Vec3::ZERO, 0.0);
        }
        let h = (lo + li).normalize();
        let (cos_h, o_dot_h) = (h.z, lo.dot(h));
        let f_o = schlick(self.f0, lo.z);
        let diffuse = self.diffuse.mul_elem(Vec3::ONE - f_o) * (1.0 / PI);
        let (spec, spec_pdf) = if o_dot_h > 0.0 {
            let d = self.d(cos_h);
            let f = schlick(self.f0, o_dot_h);
            let g = self.g1(lo.z) * self.g1(li.z);
            (
                f * (d * g / (4.0 * lo.z * li.z)),
                d * cos_h / (4.0 * o_dot_h),
            )
        } else {
            (Vec3::ZERO, 0.0)
        };
        let ps = self.spec_prob(lo.z);
        let pdf = ps * spec_pdf + (1.0 - ps) * li.z * (1.0 / PI);
        (diffuse + spec, pdf)
    }

    /// Samples an incoming direction with three uniform numbers.
    pub(crate) fn sample(&self, wo: Vec3, u: [f32; 3]) -> Option<BsdfSample> {
        let lo = self.frame.local(wo);
        if lo.z <= 0.0 {
            return None;
        }
        let li = if u[0] < self.spec_prob(lo.z) {
            let a2 = self.alpha * self.alpha;
            let cos2 = (1.0 - u[1]) / (1.0 + (a2 - 1.0) * u[1]);
            let cos_t = libm::sqrtf(cos2.clamp(0.0, 1.0));
            let sin_t = libm::sqrtf((1.0 - cos2).clamp(0.0, 1.0));
            let phi = 2.0 * PI * u[2];
            let h = Vec3::new(sin_t * libm::cosf(phi), sin_t * libm::sinf(phi), cos_t);
            h * (2.0 * lo.dot(h)) - lo
        } else {
            let r = libm::sqrtf(u[1]);
            let phi = 2.0 * PI * u[2];
            Vec3::new(
                r * libm::cosf(phi),
                r * libm::sinf(phi),
                libm::sqrtf((1.0 - u[1]).max(0.0)),
            )
        };
        if li.z <= 0.0 {
            return None;
        }
        let wi = self.frame.world(li).normalize();
        let (f, pdf) = self.eval(wo, wi);
        (pdf > 0.0 && pdf.is_finite()).then_some(BsdfSample { wi, f, pdf })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::SampleRng;

    /// White furnace: the estimated albedo stays at or below 1 for any parameters.
    #[test]
    fn energy_is_conserved() {
        for (metallic, roughness) in [(0.0, 1.0), (0.0, 0.3), (1.0, 0.2), (0.5, 0.6), (1.0, 1.0)] {
            let s = SurfacePoint {
                base_color: Vec3::ONE,
                metallic,
                roughness,
                emission: Vec3::ZERO,
            };
            let n = Vec3::new(0.0, 0.0, 1.0);
            let bsdf = Bsdf::new(n, &s);
            let wo = Vec3::new(0.3, 0.0, 1.0).normalize();
            let mut rng = SampleRng::new(1, 1, 0, 0, 0);
            let mut sum = 0.0f64;
            let n_samples = 20000;
            for _ in 0..n_samples {
                let u = [rng.next_f32(), rng.next_f32(), rng.next_f32()];
                if let Some(b) = bsdf.sample(wo, u) {
                    sum += f64::from((b.f * (b.wi.dot(n) / b.pdf)).luminance());
                }
            }
            let albedo = sum / f64::from(n_samples);
            // Single-scattering GGX loses energy at high roughness (rough metal ≈ 0.3).
            assert!(
                albedo < 1.03 && albedo > 0.25,
                "m={metallic} r={roughness}: {albedo}"
            );
        }
    }
}
