//! One frame of a scene in world space: animation applied, triangles flattened into one
//! BVH, lights and camera placed, emissive triangles collected for light sampling.

use crate::animation::Trs;
use crate::bvh::{Bvh, Triangle};
use crate::camera::CameraPose;
use crate::error::SceneError;
use crate::light::Light;
use crate::load::{LocalTransform, SceneData};
use crate::math::{Mat4, Vec3};

/// Largest number of triangles a scene may instance.
pub const MAX_TRIANGLES: usize = 4 * 1024 * 1024;
/// Largest number of punctual lights a scene may instance.
pub const MAX_LIGHTS: usize = 1024;

/// Per-triangle data used for shading (in BVH order, like the triangles).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TriShading {
    /// Vertex normals in world space (unit), or zero when the mesh has none.
    pub(crate) normals: [Vec3; 3],
    pub(crate) uvs: [[f32; 2]; 3],
    pub(crate) material: u32,
    /// Probability of picking this triangle when sampling emitters (0 if not emissive).
    pub(crate) emit_pdf: f32,
    pub(crate) area: f32,
}

/// A scene at one point in time.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) tris: Vec<Triangle>,
    pub(crate) shading: Vec<TriShading>,
    pub(crate) bvh: Bvh,
    /// Emissive triangle indices and the cumulative distribution to pick one by power.
    pub(crate) emitters: Vec<u32>,
    pub(crate) emitter_cdf: Vec<f32>,
    pub(crate) lights: Vec<Light>,
    pub(crate) camera: Option<CameraPose>,
    pub(crate) min: Vec3,
    pub(crate) max: Vec3,
    /// Triangles instanced by the scene graph (before dropping non-finite ones).
    pub(crate) instanced: usize,
}

/// Local transforms of every node at time `t` (seconds).
fn local_transforms(data: &SceneData, t: f32) -> Vec<Mat4> {
    let mut trs: Vec<Option<Trs>> = data
        .nodes
        .iter()
        .map(|n| match n.local {
            LocalTransform::Trs(trs) => Some(trs),
            LocalTransform::Matrix(_) => None,
        })
        .collect();
    for ch in &data.channels {
        if let Some(Some(trs)) = trs.get_mut(ch.node) {
            ch.apply(t, trs);
        }
    }
    data.nodes
        .iter()
        .zip(trs)
        .map(|(n, trs)| match (n.local, trs) {
            (LocalTransform::Matrix(m), _) => m,
            (_, Some(trs)) => Mat4::from_trs(trs.t, trs.r, trs.s),
            (_, None) => Mat4::IDENTITY,
        })
        .collect()
}

/// Visits the scene graph depth-first (pre-order, children in order) from the roots;
/// each node at most once, so cycles and shared subtrees cannot blow up.
pub(crate) fn walk(data: &SceneData, locals: Option<&[Mat4]>, mut visit: impl FnMut(usize, &Mat4)) {
    let mut seen = vec![false; data.nodes.len()];
    let mut stack: Vec<(usize, Mat4)> = data
        .roots
        .iter()
        .rev()
        .map(|&r| (r, Mat4::IDENTITY))
        .collect();
    while let Some((i, parent)) = stack.pop() {
        let Some(node) = data.nodes.get(i) else {
            continue;
        };
        if std::mem::replace(&mut seen[i], true) {
            tracing::warn!("node {i} is reachable more than once; later instances are ignored");
            continue;
        }
        let local = locals
            .and_then(|l| l.get(i))
            .copied()
            .unwrap_or(Mat4::IDENTITY);
        let world = parent.mul(&local);
        visit(i, &world);
        stack.extend(node.children.iter().rev().map(|&c| (c, world)));
    }
}

/// Builds the frame at time `t`; `default_sun` adds the default directional light.
pub(crate) fn build(data: &SceneData, t: f32, default_sun: bool) -> Result<Frame, SceneError> {
    let locals = local_transforms(data, t);
    let mut tris = Vec::new();
    let mut shading = Vec::new();
    let mut lights = Vec::new();
    let mut camera = None;
    let mut instanced = 0usize;
    let mut error = None;
    walk(data, Some(&locals), |i, world| {
        let node = &data.nodes[i];
        if let (None, Some(Some(p))) = (camera, node.camera.and_then(|c| data.cameras.get(c))) {
            camera = Some(CameraPose {
                world: *world,
                projection: *p,
            });
        }
        if let Some(Some(def)) = node.light.and_then(|l| data.lights.get(l)) {
            let light = Light::place(def, world);
            if light.is_finite() {
                lights.push(light);
            }
        }
        let Some(prims) = node.mesh.and_then(|m| data.meshes.get(m)) else {
            return;
        };
        // A mirroring transform reverses the winding (glTF 3.7.4).
        let flip = world.c[0][0] * (world.c[1][1] * world.c[2][2] - world.c[2][1] * world.c[1][2])
            - world.c[1][0] * (world.c[0][1] * world.c[2][2] - world.c[2][1] * world.c[0][2])
            + world.c[2][0] * (world.c[0][1] * world.c[1][2] - world.c[1][1] * world.c[0][2])
            < 0.0;
        for p in prims {
            instanced += p.triangles.len();
            if instanced > MAX_TRIANGLES {
                error.get_or_insert(SceneError::TooLarge {
                    what: "triangle count",
                    actual: instanced as u64,
                    limit: MAX_TRIANGLES as u64,
                });
                return;
            }
            let pos: Vec<Vec3> = p
                .positions
                .iter()
                .map(|&v| world.transform_point(v))
                .collect();
            let nrm: Option<Vec<Vec3>> = p.normals.as_ref().map(|ns| {
                ns.iter()
                    .map(|&n| world.transform_normal(n).normalize())
                    .collect()
            });
            for tri in &p.triangles {
                let [a, mut b, mut c] = tri.map(|i| i as usize);
                if flip {
                    std::mem::swap(&mut b, &mut c);
                }
                let (va, vb, vc) = (pos[a], pos[b], pos[c]);
                if !(va.is_finite() && vb.is_finite() && vc.is_finite()) {
                    continue;
                }
                let triangle = Triangle::new(va, vb, vc);
                let area = 0.5 * triangle.e1.cross(triangle.e2).length();
                if !area.is_finite() {
                    continue;
                }
                let normals = match &nrm {
                    Some(n) => [n[a], n[b], n[c]],
                    None => [Vec3::ZERO; 3],
                };
                let uvs = match &p.uvs {
                    Some(uv) => [uv[a], uv[b], uv[c]],
                    None => [[0.0; 2]; 3],
                };
                tris.push(triangle);
                shading.push(TriShading {
                    normals,
                    uvs,
                    material: p.material,
                    emit_pdf: 0.0,
                    area,
                });
            }
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    if lights.len() > MAX_LIGHTS {
        return Err(SceneError::TooLarge {
            what: "light count",
            actual: lights.len() as u64,
            limit: MAX_LIGHTS as u64,
        });
    }
    if default_sun {
        lights.push(Light::default_sun());
    }
    let (bvh, order) = Bvh::build(&tris);
    let tris: Vec<Triangle> = order.iter().map(|&i| tris[i as usize]).collect();
    let mut shading: Vec<TriShading> = order.iter().map(|&i| shading[i as usize]).collect();
    let (mut min, mut max) = (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY));
    for t in &tris {
        for v in [t.v0, t.v0 + t.e1, t.v0 + t.e2] {
            min = min.min(v);
            max = max.max(v);
        }
    }
    let (emitters, emitter_cdf) = emitter_distribution(data, &mut shading);
    Ok(Frame {
        tris,
        shading,
        bvh,
        emitters,
        emitter_cdf,
        lights,
        camera,
        min,
        max,
        instanced,
    })
}

/// Picks emissive triangles with probability proportional to area × emitted luminance.
fn emitter_distribution(data: &SceneData, shading: &mut [TriShading]) -> (Vec<u32>, Vec<f32>) {
    let mut emitters = Vec::new();
    let mut weights = Vec::new();
    for (i, s) in shading.iter().enumerate() {
        let m = &data.materials;
        if m.is_emissive(s.material) && s.area > 0.0 {
            let w = s.area
                * m.materials
                    .get(s.material as usize)
                    .map_or(0.0, |m| m.emissive.luminance());
            if w > 0.0 && w.is_finite() {
                emitters.push(i as u32);
                weights.push(w);
            }
        }
    }
    let total: f32 = weights.iter().fold(0.0, |a, w| a + w);
    if !crate::math::positive_finite(total) {
        return (Vec::new(), Vec::new());
    }
    let mut cdf = Vec::with_capacity(weights.len());
    let mut acc = 0.0f32;
    for (&e, &w) in emitters.iter().zip(&weights) {
        acc += w;
        cdf.push(acc / total);
        shading[e as usize].emit_pdf = w / total;
    }
    (emitters, cdf)
}

impl Frame {
    /// Picks an emissive triangle for `u` in [0, 1).
    pub(crate) fn pick_emitter(&self, u: f32) -> Option<u32> {
        if self.emitters.is_empty() {
            return None;
        }
        let k = self
            .emitter_cdf
            .partition_point(|&c| c <= u)
            .min(self.emitters.len() - 1);
        self.emitters.get(k).copied()
    }
}
