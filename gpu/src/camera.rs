//! Cameras: glTF perspective / orthographic projections, and the default camera.

use crate::bvh::Ray;
use crate::math::{Mat4, Vec3};

/// A camera's projection as the scene defines it (aspect ratio comes from the render size).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Projection {
    Perspective { yfov: f32 },
    Orthographic { ymag: f32 },
}

/// A camera placed in the world at one frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CameraPose {
    pub(crate) world: Mat4,
    pub(crate) projection: Projection,
}

/// Vertical field of view of the default camera (45°).
pub(crate) const DEFAULT_YFOV: f32 = core::f32::consts::FRAC_PI_4;

/// A camera ready to generate rays for an image of a given size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Camera {
    origin: Vec3,
    right: Vec3,
    up: Vec3,
    forward: Vec3,
    /// Half-extent of the image plane at distance 1 (perspective) or in world units
    /// (orthographic), vertically; horizontally it is scaled by the aspect ratio.
    half_h: f32,
    orthographic: bool,
    aspect: f32,
}

impl Camera {
    /// The camera of a scene node; aspect ratio from the render size.
    pub(crate) fn from_pose(pose: &CameraPose, width: u32, height: u32) -> Camera {
        let origin = pose.world.translation();
        let mut forward = pose
            .world
            .transform_vector(Vec3::new(0.0, 0.0, -1.0))
            .normalize();
        let up0 = pose.world.transform_vector(Vec3::new(0.0, 1.0, 0.0));
        let mut right = forward.cross(up0).normalize();
        if forward == Vec3::ZERO || right == Vec3::ZERO {
            forward = Vec3::new(0.0, 0.0, -1.0);
            right = Vec3::new(1.0, 0.0, 0.0);
        }
        let up = right.cross(forward);
        let (half_h, orthographic) = match pose.projection {
            Projection::Perspective { yfov } => {
                let yfov = if yfov.is_finite() {
                    yfov.clamp(1.0e-3, 3.1)
                } else {
                    DEFAULT_YFOV
                };
                (libm::tanf(yfov * 0.5), false)
            }
            Projection::Orthographic { ymag } => {
                let ymag = if ymag.is_finite() && ymag.abs() > 0.0 {
                    ymag.abs()
                } else {
                    1.0
                };
                (ymag, true)
            }
        };
        Camera {
            origin,
            right,
            up,
            forward,
            half_h,
            orthographic,
            aspect: aspect(width, height),
        }
    }

    /// The default camera: on +Z of the bounding box centre, looking down -Z, 45° vertical
    /// field of view, far enough that the bounding sphere fits in the image.
    pub(crate) fn default_for(min: Vec3, max: Vec3, width: u32, height: u32) -> Camera {
        let aspect = aspect(width, height);
        let centre = (min + max) * 0.5;
        let mut radius = (max - min).length() * 0.5;
        if !crate::math::positive_finite(radius) {
            radius = 1.0;
        }
        let half_h = libm::tanf(DEFAULT_YFOV * 0.5);
        let half_fov = if aspect >= 1.0 {
            DEFAULT_YFOV * 0.5
        } else {
            libm::atanf(half_h * aspect)
        };
        let dist = radius / libm::sinf(half_fov);
        Camera {
            origin: centre + Vec3::new(0.0, 0.0, dist),
            right: Vec3::new(1.0, 0.0, 0.0),
            up: Vec3::new(0.0, 1.0, 0.0),
            forward: Vec3::new(0.0, 0.0, -1.0),
            half_h,
            orthographic: false,
            aspect,
        }
    }

    /// The ray through image position (`px`, `py`) in pixels (top-left origin).
    pub(crate) fn ray(&self, px: f32, py: f32, width: u32, height: u32) -> Ray {
        let sx = (2.0 * px / width as f32 - 1.0) * self.half_h * self.aspect;
        let sy = (1.0 - 2.0 * py / height as f32) * self.half_h;
        if self.orthographic {
            Ray::new(self.origin + self.right * sx + self.up * sy, self.forward)
        } else {
            Ray::new(
                self.origin,
                (self.forward + self.right * sx + self.up * sy).normalize(),
            )
        }
    }
}

fn aspect(width: u32, height: u32) -> f32 {
    width.max(1) as f32 / height.max(1) as f32
}
