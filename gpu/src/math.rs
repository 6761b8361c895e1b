//! Small vector, quaternion and matrix types.
//!
//! Only IEEE basic operations (`+ - * / sqrt`) and `libm` are used, so results are the
//! same on every machine.

use std::ops::{Add, AddAssign, Div, Index, Mul, Neg, Sub};

/// `x > 0` and finite (false for NaN).
pub(crate) fn positive_finite(x: f32) -> bool {
    x > 0.0 && x.is_finite()
}

/// A 3-component f32 vector (also used for RGB).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Vec3 {
    pub(crate) x: f32,
    pub(crate) y: f32,
    pub(crate) z: f32,
}

impl Vec3 {
    pub(crate) const ZERO: Vec3 = Vec3::new(0.0, 0.0, 0.0);
    pub(crate) const ONE: Vec3 = Vec3::new(1.0, 1.0, 1.0);

    pub(crate) const fn new(x: f32, y: f32, z: f32) -> Vec3 {
        Vec3 { x, y, z }
    }
    pub(crate) const fn splat(v: f32) -> Vec3 {
        Vec3::new(v, v, v)
    }
    pub(crate) fn from_array(a: [f32; 3]) -> Vec3 {
        Vec3::new(a[0], a[1], a[2])
    }
    pub(crate) fn dot(self, o: Vec3) -> f32 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }
    pub(crate) fn cross(self, o: Vec3) -> Vec3 {
        Vec3::new(
            self.y * o.z - self.z * o.y,
            self.z * o.x - self.x * o.z,
            self.x * o.y - self.y * o.x,
        )
    }
    pub(crate) fn length(self) -> f32 {
        libm::sqrtf(self.dot(self))
    }
    /// Unit vector, or zero for a zero-length (or non-finite) input.
    pub(crate) fn normalize(self) -> Vec3 {
        let l = self.length();
        if l > 0.0 && l.is_finite() {
            self * (1.0 / l)
        } else {
            Vec3::ZERO
        }
    }
    pub(crate) fn min(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x.min(o.x), self.y.min(o.y), self.z.min(o.z))
    }
    pub(crate) fn max(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x.max(o.x), self.y.max(o.y), self.z.max(o.z))
    }
    pub(crate) fn max_component(self) -> f32 {
        self.x.max(self.y).max(self.z)
    }
    pub(crate) fn mul_elem(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x * o.x, self.y * o.y, self.z * o.z)
    }
    pub(crate) fn luminance(self) -> f32 {
        0.2126 * self.x + 0.7152 * self.y + 0.0722 * self.z
    }
    pub(crate) fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite() && self.z.is_finite()
    }
    pub(crate) fn lerp(self, o: Vec3, t: f32) -> Vec3 {
        self + (o - self) * t
    }
    pub(crate) fn max_abs(self) -> f32 {
        self.x.abs().max(self.y.abs()).max(self.z.abs())
    }
}

impl Add for Vec3 {
    type Output = Vec3;
    fn add(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}
impl AddAssign for Vec3 {
    fn add_assign(&mut self, o: Vec3) {
        *self = *self + o;
    }
}
impl Sub for Vec3 {
    type Output = Vec3;
    fn sub(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}
impl Mul<f32> for Vec3 {
    type Output = Vec3;
    fn mul(self, s: f32) -> Vec3 {
        Vec3::new(self.x * s, self.y * s, self.z * s)
    }
}
impl Div<f32> for Vec3 {
    type Output = Vec3;
    fn div(self, s: f32) -> Vec3 {
        Vec3::new(self.x / s, self.y / s, self.z / s)
    }
}
impl Neg for Vec3 {
    type Output = Vec3;
    fn neg(self) -> Vec3 {
        Vec3::new(-self.x, -self.y, -self.z)
    }
}
impl Index<usize> for Vec3 {
    type Output = f32;
    fn index(&self, i: usize) -> &f32 {
        match i {
            0 => &self.x,
            1 => &self.y,
            _ => &self.z,
        }
    }
}

/// A rotation quaternion (x, y, z, w), as glTF stores it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Quat {
    pub(crate) x: f32,
    pub(crate) y: f32,
    pub(crate) z: f32,
    pub(crate) w: f32,
}

impl Quat {
    pub(crate) const IDENTITY: Quat = Quat {
        x: 0.0,
        y: 0.0,
        z: 0.0,
        w: 1.0,
    };

    pub(crate) fn from_array(a: [f32; 4]) -> Quat {
        Quat {
            x: a[0],
            y: a[1],
            z: a[2],
            w: a[3],
        }
    }
    fn dot(self, o: Quat) -> f32 {
        self.x * o.x + self.y * o.y + self.z * o.z + self.w * o.w
    }
    fn scale(self, s: f32) -> Quat {
        Quat {
            x: self.x * s,
            y: self.y * s,
            z: self.z * s,
            w: self.w * s,
        }
    }
    fn add(self, o: Quat) -> Quat {
        Quat {
            x: self.x + o.x,
            y: self.y + o.y,
            z: self.z + o.z,
            w: self.w + o.w,
        }
    }
    pub(crate) fn normalize(self) -> Quat {
        let l = libm::sqrtf(self.dot(self));
        if l > 0.0 && l.is_finite() {
            self.scale(1.0 / l)
        } else {
            Quat::IDENTITY
        }
    }
    /// Spherical linear interpolation along the shorter arc.
    pub(crate) fn slerp(self, o: Quat, t: f32) -> Quat {
        let mut d = self.dot(o);
        let mut o = o;
        if d < 0.0 {
            d = -d;
            o = o.scale(-1.0);
        }
        if d > 0.9995 {
            return self.scale(1.0 - t).add(o.scale(t)).normalize();
        }
        let theta = libm::acosf(d.min(1.0));
        let s = libm::sinf(theta);
        let a = libm::sinf((1.0 - t) * theta) / s;
        let b = libm::sinf(t * theta) / s;
        self.scale(a).add(o.scale(b)).normalize()
    }
}

/// A 4x4 matrix, column-major like glTF: `c[col][row]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Mat4 {
    pub(crate) c: [[f32; 4]; 4],
}

impl Mat4 {
    pub(crate) const IDENTITY: Mat4 = Mat4 {
        c: [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ],
    };

    /// `T * R * S`, as glTF composes a node's local transform.
    pub(crate) fn from_trs(t: Vec3, r: Quat, s: Vec3) -> Mat4 {
        let r = r.normalize();
        let (x, y, z, w) = (r.x, r.y, r.z, r.w);
        let (x2, y2, z2) = (x + x, y + y, z + z);
        let (xx, xy, xz) = (x * x2, x * y2, x * z2);
        let (yy, yz, zz) = (y * y2, y * z2, z * z2);
        let (wx, wy, wz) = (w * x2, w * y2, w * z2);
        Mat4 {
            c: [
                [
                    (1.0 - (yy + zz)) * s.x,
                    (xy + wz) * s.x,
                    (xz - wy) * s.x,
                    0.0,
                ],
                [
                    (xy - wz) * s.y,
                    (1.0 - (xx + zz)) * s.y,
                    (yz + wx) * s.y,
                    0.0,
                ],
                [
                    (xz + wy) * s.z,
                    (yz - wx) * s.z,
                    (1.0 - (xx + yy)) * s.z,
                    0.0,
                ],
                [t.x, t.y, t.z, 1.0],
            ],
        }
    }

    pub(crate) fn mul(&self, o: &Mat4) -> Mat4 {
        let mut r = [[0.0f32; 4]; 4];
        for (col, out) in r.iter_mut().enumerate() {
            for (row, v) in out.iter_mut().enumerate() {
                *v = self.c[0][row] * o.c[col][0]
                    + self.c[1][row] * o.c[col][1]
                    + self.c[2][row] * o.c[col][2]
                    + self.c[3][row] * o.c[col][3];
            }
        }
        Mat4 { c: r }
    }

    pub(crate) fn transform_point(&self, p: Vec3) -> Vec3 {
        let c = &self.c;
        Vec3::new(
            c[0][0] * p.x + c[1][0] * p.y + c[2][0] * p.z + c[3][0],
            c[0][1] * p.x + c[1][1] * p.y + c[2][1] * p.z + c[3][1],
            c[0][2] * p.x + c[1][2] * p.y + c[2][2] * p.z + c[3][2],
        )
    }

    pub(crate) fn transform_vector(&self, v: Vec3) -> Vec3 {
        let c = &self.c;
        Vec3::new(
            c[0][0] * v.x + c[1][0] * v.y + c[2][0] * v.z,
            c[0][1] * v.x + c[1][1] * v.y + c[2][1] * v.z,
            c[0][2] * v.x + c[1][2] * v.y + c[2][2] * v.z,
        )
    }

    /// Transforms a normal by the inverse transpose of the upper 3x3 (up to a positive
    /// scale factor), without dividing by the determinant. The result is not normalized.
    pub(crate) fn transform_normal(&self, n: Vec3) -> Vec3 {
        let a = Vec3::new(self.c[0][0], self.c[0][1], self.c[0][2]);
        let b = Vec3::new(self.c[1][0], self.c[1][1], self.c[1][2]);
        let c = Vec3::new(self.c[2][0], self.c[2][1], self.c[2][2]);
        // Columns of the cofactor matrix are the cross products of the other columns.
        let (bc, ca, ab) = (b.cross(c), c.cross(a), a.cross(b));
        let det = a.dot(bc);
        let v = bc * n.x + ca * n.y + ab * n.z;
        if det < 0.0 {
            -v
        } else {
            v
        }
    }

    pub(crate) fn translation(&self) -> Vec3 {
        Vec3::new(self.c[3][0], self.c[3][1], self.c[3][2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trs_rotates_about_y() {
        // 90 degrees about +Y maps +X to -Z.
        let h = libm::sqrtf(0.5);
        let m = Mat4::from_trs(
            Vec3::ZERO,
            Quat {
                x: 0.0,
                y: h,
                z: 0.0,
                w: h,
            },
            Vec3::ONE,
        );
        let p = m.transform_point(Vec3::new(1.0, 0.0, 0.0));
        assert!((p - Vec3::new(0.0, 0.0, -1.0)).length() < 1e-6);
    }

    #[test]
    fn normal_matrix_handles_scale() {
        let m = Mat4::from_trs(Vec3::ZERO, Quat::IDENTITY, Vec3::new(2.0, 1.0, 1.0));
        let n = m.transform_normal(Vec3::new(1.0, 1.0, 0.0)).normalize();
        // Inverse transpose of diag(2,1,1) is diag(0.5,1,1).
        let e = Vec3::new(0.5, 1.0, 0.0).normalize();
        assert!((n - e).length() < 1e-6);
    }

    #[test]
    fn slerp_halfway() {
        let h = libm::sqrtf(0.5);
        let q = Quat::IDENTITY.slerp(
            Quat {
                x: 0.0,
                y: h,
                z: 0.0,
                w: h,
            },
            0.5,
        );
        let e = libm::sinf(core::f32::consts::FRAC_PI_8);
        assert!((q.y - e).abs() < 1e-6);
    }
}
