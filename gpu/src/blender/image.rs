//! The pixels Blender rendered.

use std::path::Path;

use crate::blender::BlenderError;
use crate::Rect;

/// Largest PNG read back from Blender (bytes).
const MAX_PNG_BYTES: u64 = 1 << 30;

/// An 8-bit RGB image: `pixels` holds `width * height * 3` bytes, rows top first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// RGB bytes, row by row from the top.
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// The pixels of `rect` (which must lie inside the image), or `None`.
    pub fn crop(&self, rect: Rect) -> Option<RgbImage> {
        let inside = rect.w > 0
            && rect.h > 0
            && u64::from(rect.x) + u64::from(rect.w) <= u64::from(self.width)
            && u64::from(rect.y) + u64::from(rect.h) <= u64::from(self.height);
        if !inside || self.pixels.len() != self.width as usize * self.height as usize * 3 {
            return None;
        }
        let row = self.width as usize * 3;
        let mut pixels = Vec::with_capacity(rect.w as usize * rect.h as usize * 3);
        for y in rect.y..rect.y + rect.h {
            let start = y as usize * row + rect.x as usize * 3;
            pixels.extend_from_slice(self.pixels.get(start..start + rect.w as usize * 3)?);
        }
        Some(RgbImage {
            width: rect.w,
            height: rect.h,
            pixels,
        })
    }

    /// Reads a PNG that must be `width` x `height`.
    pub(crate) fn read_png(path: &Path, width: u32, height: u32) -> Result<RgbImage, BlenderError> {
        let fail = |message: String| BlenderError::Output {
            path: path.to_path_buf(),
            message,
        };
        let len = std::fs::metadata(path)
            .map_err(|e| fail(e.to_string()))?
            .len();
        if len > MAX_PNG_BYTES {
            return Err(fail(format!("{len} bytes is more than a render can be")));
        }
        let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        RgbImage::from_png(&bytes, width, height).map_err(fail)
    }

    /// Decodes a PNG that must be `width` x `height` (what Blender wrote).
    pub(crate) fn from_png(bytes: &[u8], width: u32, height: u32) -> Result<RgbImage, String> {
        let (w, h, pixels) = crate::decode_png(bytes).map_err(|e| e.to_string())?;
        if (w, h) != (width, height) {
            return Err(format!("the image is {w}x{h}, not {width}x{height}"));
        }
        Ok(RgbImage {
            width: w,
            height: h,
            pixels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_cuts_rows() {
        let img = RgbImage {
            width: 3,
            height: 2,
            pixels: (0..18).collect(),
        };
        let rect = |x, y, w, h| Rect { x, y, w, h };
        let c = img.crop(rect(1, 1, 2, 1));
        assert_eq!(c.map(|c| c.pixels), Some(vec![12, 13, 14, 15, 16, 17]));
        assert_eq!(img.crop(rect(0, 0, 3, 2)), Some(img.clone()));
        assert!(img.crop(rect(2, 0, 2, 1)).is_none());
        assert!(img.crop(rect(0, 0, 0, 1)).is_none());
    }

    #[test]
    fn png_size_is_checked() {
        let dir = std::env::temp_dir().join(format!("pictor-rgb-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("a.png");
        let png = crate::encode_png(2, 2, &[7; 12]).unwrap_or_default();
        assert!(std::fs::write(&path, png).is_ok());
        assert!(RgbImage::read_png(&path, 2, 2).is_ok_and(|i| i.pixels == vec![7; 12]));
        assert!(matches!(
            RgbImage::read_png(&path, 2, 3),
            Err(BlenderError::Output { .. })
        ));
        assert!(RgbImage::read_png(&dir.join("missing.png"), 2, 2).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
