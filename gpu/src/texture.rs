//! Decoded textures and their sampling (bilinear, REPEAT / CLAMP / MIRRORED wrapping).

use crate::error::SceneError;
use crate::math::Vec3;

/// Largest accepted texture side, in pixels.
pub const MAX_TEXTURE_SIZE: u32 = 8192;
/// Largest number of images in a scene.
pub const MAX_TEXTURES: usize = 64;

/// Largest total number of texels over all images of a scene (64 Mi, 192 MiB decoded).
pub const MAX_TOTAL_TEXELS: u64 = 64 * 1024 * 1024;

/// A wrap mode for one texture axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wrap {
    Repeat,
    Clamp,
    Mirror,
}

impl From<gltf::texture::WrappingMode> for Wrap {
    fn from(m: gltf::texture::WrappingMode) -> Wrap {
        match m {
            gltf::texture::WrappingMode::ClampToEdge => Wrap::Clamp,
            gltf::texture::WrappingMode::MirroredRepeat => Wrap::Mirror,
            gltf::texture::WrappingMode::Repeat => Wrap::Repeat,
        }
    }
}

/// An image decoded to 8-bit RGB; texels are converted to linear light when sampled.
pub(crate) struct Image {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Image({}x{})", self.width, self.height)
    }
}

impl Image {
    /// Width and height.
    pub(crate) fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Reads only the header: width and height.
    pub(crate) fn dimensions(name: &str, bytes: &[u8]) -> Result<(u32, u32), SceneError> {
        let err = |reason: String| SceneError::Image {
            name: name.to_owned(),
            reason,
        };
        let (w, h) = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| err(e.to_string()))?
            .into_dimensions()
            .map_err(|e| err(e.to_string()))?;
        if w > MAX_TEXTURE_SIZE || h > MAX_TEXTURE_SIZE {
            return Err(err(format!(
                "{w}x{h} is larger than {MAX_TEXTURE_SIZE}x{MAX_TEXTURE_SIZE}"
            )));
        }
        Ok((w, h))
    }

    /// Decodes PNG or JPEG bytes, enforcing [`MAX_TEXTURE_SIZE`].
    pub(crate) fn decode(name: &str, bytes: &[u8]) -> Result<Image, SceneError> {
        let err = |reason: String| SceneError::Image {
            name: name.to_owned(),
            reason,
        };
        let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| err(e.to_string()))?;
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_TEXTURE_SIZE);
        limits.max_image_height = Some(MAX_TEXTURE_SIZE);
        limits.max_alloc = Some(u64::from(MAX_TEXTURE_SIZE) * u64::from(MAX_TEXTURE_SIZE) * 8);
        reader.limits(limits);
        let img = reader.decode().map_err(|e| err(e.to_string()))?.to_rgb8();
        let (width, height) = img.dimensions();
        if width == 0 || height == 0 {
            return Err(err("image is empty".to_owned()));
        }
        Ok(Image {
            width,
            height,
            rgb: img.into_raw(),
        })
    }
}

/// A texture: an image index plus sampler state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Texture {
    pub(crate) image: usize,
    pub(crate) wrap_s: Wrap,
    pub(crate) wrap_t: Wrap,
    pub(crate) nearest: bool,
}

/// sRGB-encoded byte → linear, and byte → [0, 1] tables (built with `libm`).
#[derive(Debug)]
pub(crate) struct TexelTables {
    srgb: [f32; 256],
    linear: [f32; 256],
}

impl TexelTables {
    pub(crate) fn new() -> TexelTables {
        let mut srgb = [0.0f32; 256];
        let mut linear = [0.0f32; 256];
        for i in 0..256 {
            let c = i as f32 / 255.0;
            linear[i] = c;
            srgb[i] = if c <= 0.04045 {
                c / 12.92
            } else {
                libm::powf((c + 0.055) / 1.055, 2.4)
            };
        }
        TexelTables { srgb, linear }
    }
}

fn wrap(i: i64, n: u32, mode: Wrap) -> usize {
    let n = i64::from(n);
    let r = match mode {
        Wrap::Clamp => i.clamp(0, n - 1),
        Wrap::Repeat => i.rem_euclid(n),
        Wrap::Mirror => {
            let p = i.rem_euclid(2 * n);
            if p < n {
                p
            } else {
                2 * n - 1 - p
            }
        }
    };
    r as usize
}

impl Texture {
    /// Samples at `uv` and returns linear RGB. `srgb` selects the colour decoding.
    pub(crate) fn sample(
        &self,
        images: &[Image],
        tables: &TexelTables,
        uv: [f32; 2],
        srgb: bool,
    ) -> Vec3 {
        let Some(img) = images.get(self.image) else {
            return Vec3::ONE;
        };
        let table = if srgb { &tables.srgb } else { &tables.linear };
        let texel = |x: i64, y: i64| -> Vec3 {
            let xi = wrap(x, img.width, self.wrap_s);
            let yi = wrap(y, img.height, self.wrap_t);
            let o = (yi * img.width as usize + xi) * 3;
            match img.rgb.get(o..o + 3) {
                Some(p) => Vec3::new(
                    table[p[0] as usize],
                    table[p[1] as usize],
                    table[p[2] as usize],
                ),
                None => Vec3::ONE,
            }
        };
        // Keep coordinates in a range where the f32 -> i64 conversion is exact and safe.
        let u = if uv[0].is_finite() {
            uv[0].clamp(-1.0e6, 1.0e6)
        } else {
            0.0
        };
        let v = if uv[1].is_finite() {
            uv[1].clamp(-1.0e6, 1.0e6)
        } else {
            0.0
        };
        let fx = u * img.width as f32 - 0.5;
        let fy = v * img.height as f32 - 0.5;
        if self.nearest {
            return texel(libm::floorf(fx + 0.5) as i64, libm::floorf(fy + 0.5) as i64);
        }
        let (x0, y0) = (libm::floorf(fx), libm::floorf(fy));
        let (tx, ty) = (fx - x0, fy - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        let top = texel(x0, y0).lerp(texel(x0 + 1, y0), tx);
        let bottom = texel(x0, y0 + 1).lerp(texel(x0 + 1, y0 + 1), tx);
        top.lerp(bottom, ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_modes() {
        assert_eq!(wrap(-1, 4, Wrap::Repeat), 3);
        assert_eq!(wrap(5, 4, Wrap::Clamp), 3);
        assert_eq!(wrap(4, 4, Wrap::Mirror), 3);
        assert_eq!(wrap(-1, 4, Wrap::Mirror), 0);
    }

    #[test]
    fn srgb_table_endpoints() {
        let t = TexelTables::new();
        assert_eq!(t.srgb[0], 0.0);
        assert!((t.srgb[255] - 1.0).abs() < 1e-6);
        assert!((t.srgb[128] - 0.2158605).abs() < 1e-4);
    }
}
