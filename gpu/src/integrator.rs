//! Unidirectional path tracing with next-event estimation: shadow rays to every punctual
//! light, and one emissive triangle per bounce picked by power, combined with BSDF
//! sampling by multiple importance sampling (power heuristic).

use crate::bsdf::Bsdf;
use crate::bvh::Ray;
use crate::frame::Frame;
use crate::material::Materials;
use crate::math::Vec3;
use crate::sampler::SampleRng;

/// Longest path, in segments from the camera.
pub(crate) const MAX_DEPTH: u32 = 5;
/// Russian roulette starts after this many bounces.
const RR_DEPTH: u32 = 3;
/// Fraction of a surface's roughness that every later surface on the path gets at least.
const REGULARIZATION: f32 = 0.5;
/// Per-sample radiance clamp (suppresses fireflies; keeps the estimator bounded).
pub(crate) const MAX_SAMPLE_RADIANCE: f32 = 16.0;

/// Everything a path needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tracer<'a> {
    pub(crate) frame: &'a Frame,
    pub(crate) materials: &'a Materials,
    /// Radiance of the uniform environment seen by rays that escape.
    pub(crate) env: Vec3,
}

fn power_heuristic(a: f32, b: f32) -> f32 {
    let (a2, b2) = (a * a, b * b);
    if a2 + b2 > 0.0 && (a2 + b2).is_finite() {
        a2 / (a2 + b2)
    } else if a.is_infinite() {
        1.0
    } else {
        0.0
    }
}

/// Origin offset along the facing geometric normal, relative to the scene's scale.
fn offset(p: Vec3, n: Vec3) -> Vec3 {
    p + n * (1.0e-4 * (1.0 + p.max_abs()))
}

impl Tracer<'_> {
    /// Radiance arriving along `ray` (unit direction), clamped per component.
    pub(crate) fn radiance(&self, mut ray: Ray, rng: &mut SampleRng) -> Vec3 {
        let frame = self.frame;
        let mats = self.materials;
        let mut l = Vec3::ZERO;
        let mut beta = Vec3::ONE;
        let mut prev_pdf = 0.0f32; // pdf of the BSDF sample that produced `ray`; 0 = camera ray
                                   // Path regularization: after a rough bounce, later surfaces are treated as at least
                                   // half as rough, which removes most caustic fireflies (diffuse → glossy → light).
        let mut min_roughness = 0.0f32;
        for depth in 0..MAX_DEPTH {
            let Some(hit) = frame.bvh.intersect(&frame.tris, &ray, f32::INFINITY) else {
                l += beta.mul_elem(self.env);
                break;
            };
            let (Some(tri), Some(sh)) = (
                frame.tris.get(hit.tri as usize),
                frame.shading.get(hit.tri as usize),
            ) else {
                break;
            };
            let (u, v) = (hit.u, hit.v);
            let w = 1.0 - u - v;
            let p = tri.v0 + tri.e1 * u + tri.e2 * v;
            let ng = tri.e1.cross(tri.e2).normalize();
            let front = ng.dot(ray.d) < 0.0;
            let ng_f = if front { ng } else { -ng };
            let uv = [
                sh.uvs[0][0] * w + sh.uvs[1][0] * u + sh.uvs[2][0] * v,
                sh.uvs[0][1] * w + sh.uvs[1][1] * u + sh.uvs[2][1] * v,
            ];
            let wo = -ray.d;
            let mut ns = (sh.normals[0] * w + sh.normals[1] * u + sh.normals[2] * v).normalize();
            if ns == Vec3::ZERO {
                ns = ng_f;
            } else if ns.dot(ng_f) < 0.0 {
                ns = -ns;
            }
            if ns.dot(wo) <= 0.0 {
                ns = ng_f;
            }
            let mut surf = mats.eval(sh.material, uv);
            surf.roughness = surf.roughness.max(min_roughness);
            min_roughness = min_roughness.max(surf.roughness * REGULARIZATION);

            // Emission hit by this ray.
            if surf.emission.max_component() > 0.0 && (front || mats.double_sided(sh.material)) {
                let weight = if prev_pdf == 0.0 || sh.emit_pdf == 0.0 {
                    1.0
                } else {
                    let cos_l = ng.dot(ray.d).abs();
                    let light_pdf = sh.emit_pdf / sh.area * hit.t * hit.t / cos_l;
                    power_heuristic(prev_pdf, light_pdf)
                };
                l += beta.mul_elem(surf.emission) * weight;
            }

            let bsdf = Bsdf::new(ns, &surf);
            let origin = offset(p, ng_f);

            // Next-event estimation: punctual lights.
            for light in &frame.lights {
                let Some(ls) = light.sample(origin) else {
                    continue;
                };
                let cos_i = ls.wi.dot(ns);
                if cos_i <= 0.0 || ls.wi.dot(ng_f) <= 0.0 {
                    continue;
                }
                let (f, _) = bsdf.eval(wo, ls.wi);
                if f.max_component() <= 0.0 {
                    continue;
                }
                let t_max = if ls.dist.is_finite() {
                    ls.dist * (1.0 - 1.0e-4)
                } else {
                    f32::INFINITY
                };
                if !frame
                    .bvh
                    .occluded(&frame.tris, &Ray::new(origin, ls.wi), t_max)
                {
                    l += beta.mul_elem(f).mul_elem(ls.li) * cos_i;
                }
            }

            // Next-event estimation: one emissive triangle.
            if !frame.emitters.is_empty() {
                let (u0, u1, u2) = (rng.next_f32(), rng.next_f32(), rng.next_f32());
                l += beta.mul_elem(self.sample_emitter(&bsdf, origin, ns, ng_f, wo, [u0, u1, u2]));
            }

            if depth + 1 >= MAX_DEPTH {
                break;
            }
            let u = [rng.next_f32(), rng.next_f32(), rng.next_f32()];
            let Some(s) = bsdf.sample(wo, u) else { break };
            let cos_i = s.wi.dot(ns);
            if cos_i <= 0.0 || s.wi.dot(ng_f) <= 0.0 {
                break;
            }
            beta = beta.mul_elem(s.f) * (cos_i / s.pdf);
            if depth + 1 >= RR_DEPTH {
                let q = (1.0 - beta.max_component()).max(0.05);
                if rng.next_f32() < q {
                    break;
                }
                beta = beta * (1.0 / (1.0 - q));
            }
            if !beta.is_finite() || beta.max_component() <= 0.0 {
                break;
            }
            prev_pdf = s.pdf;
            ray = Ray::new(origin, s.wi);
        }
        let c = |x: f32| {
            if x.is_finite() {
                x.clamp(0.0, MAX_SAMPLE_RADIANCE)
            } else {
                0.0
            }
        };
        Vec3::new(c(l.x), c(l.y), c(l.z))
    }

    /// Light from one emissive triangle picked by power, MIS-weighted against the BSDF.
    fn sample_emitter(
        &self,
        bsdf: &Bsdf,
        origin: Vec3,
        ns: Vec3,
        ng_f: Vec3,
        wo: Vec3,
        u: [f32; 3],
    ) -> Vec3 {
        let frame = self.frame;
        let Some(e) = frame.pick_emitter(u[0]) else {
            return Vec3::ZERO;
        };
        let (Some(tri), Some(sh)) = (frame.tris.get(e as usize), frame.shading.get(e as usize))
        else {
            return Vec3::ZERO;
        };
        let su = libm::sqrtf(u[1]);
        let (b1, b2) = (su * (1.0 - u[2]), su * u[2]);
        let b0 = 1.0 - b1 - b2;
        let pl = tri.v0 + tri.e1 * b1 + tri.e2 * b2;
        let d = pl - origin;
        let dist2 = d.dot(d);
        if !crate::math::positive_finite(dist2) {
            return Vec3::ZERO;
        }
        let dist = libm::sqrtf(dist2);
        let wi = d * (1.0 / dist);
        let nl = tri.e1.cross(tri.e2).normalize();
        let mut cos_l = -wi.dot(nl);
        if cos_l < 0.0 && self.materials.double_sided(sh.material) {
            cos_l = -cos_l;
        }
        let cos_i = wi.dot(ns);
        if cos_l <= 0.0 || cos_i <= 0.0 || wi.dot(ng_f) <= 0.0 {
            return Vec3::ZERO;
        }
        let light_pdf = sh.emit_pdf / sh.area * dist2 / cos_l;
        if !crate::math::positive_finite(light_pdf) {
            return Vec3::ZERO;
        }
        let (f, bsdf_pdf) = bsdf.eval(wo, wi);
        if f.max_component() <= 0.0 {
            return Vec3::ZERO;
        }
        let uv = [
            sh.uvs[0][0] * b0 + sh.uvs[1][0] * b1 + sh.uvs[2][0] * b2,
            sh.uvs[0][1] * b0 + sh.uvs[1][1] * b1 + sh.uvs[2][1] * b2,
        ];
        let le = self.materials.emission(sh.material, uv);
        if le.max_component() <= 0.0 {
            return Vec3::ZERO;
        }
        if frame
            .bvh
            .occluded(&frame.tris, &Ray::new(origin, wi), dist * (1.0 - 1.0e-4))
        {
            return Vec3::ZERO;
        }
        f.mul_elem(le) * (cos_i * power_heuristic(light_pdf, bsdf_pdf) / light_pdf)
    }
}
