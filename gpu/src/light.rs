//! KHR_lights_punctual lights (point, spot, directional) and the default sun.

use crate::math::{Mat4, Vec3};

/// The kind of a punctual light.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LightKind {
    Point,
    Spot { cos_inner: f32, cos_outer: f32 },
    Directional,
}

/// A light as the scene defines it (colour × intensity, used as radiometric units).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LightDef {
    pub(crate) kind: LightKind,
    pub(crate) intensity: Vec3,
    pub(crate) range: Option<f32>,
}

/// A light placed in the world.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Light {
    kind: LightKind,
    intensity: Vec3,
    range: Option<f32>,
    position: Vec3,
    /// Direction the light travels (the node's local -Z).
    direction: Vec3,
}

/// Incident light at a point from one light.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LightSample {
    /// Unit direction from the point toward the light.
    pub(crate) wi: Vec3,
    /// Distance to the light (infinite for directional lights).
    pub(crate) dist: f32,
    /// Irradiance arriving perpendicular to `wi`.
    pub(crate) li: Vec3,
}

/// The default sun (used with the default sky when a scene has no lights): irradiance.
pub(crate) const SUN_IRRADIANCE: f32 = 2.0;
/// Direction toward the default sun (before normalization): up, right and toward +Z.
pub(crate) const SUN_TOWARD: Vec3 = Vec3::new(0.4, 1.0, 0.6);

impl Light {
    pub(crate) fn place(def: &LightDef, world: &Mat4) -> Light {
        let mut direction = world
            .transform_vector(Vec3::new(0.0, 0.0, -1.0))
            .normalize();
        if direction == Vec3::ZERO {
            direction = Vec3::new(0.0, 0.0, -1.0);
        }
        Light {
            kind: def.kind,
            intensity: def.intensity,
            range: def.range,
            position: world.translation(),
            direction,
        }
    }

    pub(crate) fn default_sun() -> Light {
        Light {
            kind: LightKind::Directional,
            intensity: Vec3::splat(SUN_IRRADIANCE),
            range: None,
            position: Vec3::ZERO,
            direction: -SUN_TOWARD.normalize(),
        }
    }

    pub(crate) fn is_finite(&self) -> bool {
        self.position.is_finite() && self.direction.is_finite() && self.intensity.is_finite()
    }

    /// Light arriving at `p`, or `None` if it contributes nothing.
    pub(crate) fn sample(&self, p: Vec3) -> Option<LightSample> {
        let (wi, dist, mut li) = match self.kind {
            LightKind::Directional => (-self.direction, f32::INFINITY, self.intensity),
            LightKind::Point | LightKind::Spot { .. } => {
                let d = self.position - p;
                let d2 = d.dot(d);
                if !crate::math::positive_finite(d2) {
                    return None;
                }
                let dist = libm::sqrtf(d2);
                let mut li = self.intensity * (1.0 / d2);
                if let Some(r) = self.range.filter(|r| *r > 0.0) {
                    let q = dist / r;
                    let w = (1.0 - q * q * q * q).clamp(0.0, 1.0);
                    li = li * (w * w);
                }
                (d * (1.0 / dist), dist, li)
            }
        };
        if let LightKind::Spot {
            cos_inner,
            cos_outer,
        } = self.kind
        {
            let cd = self.direction.dot(-wi);
            let scale = 1.0 / (cos_inner - cos_outer).max(0.001);
            let a = ((cd - cos_outer) * scale).clamp(0.0, 1.0);
            li = li * (a * a);
        }
        (li.max_component() > 0.0).then_some(LightSample { wi, dist, li })
    }
}
