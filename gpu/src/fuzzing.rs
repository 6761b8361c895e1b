//! Entry points for the fuzz targets in `fuzz/`: the decoders this crate keeps private,
//! public only for them (hidden from the docs).

use crate::{blender::RgbImage, texture::Image, SceneError};

/// Width and height.
pub type Size = (u32, u32);

/// A texture's size as read from its header, then its decoded size (PNG or JPEG, as a
/// scene's image would be).
pub fn texture(bytes: &[u8]) -> Result<(Size, Size), SceneError> {
    let header = Image::dimensions("fuzz", bytes)?;
    let image = Image::decode("fuzz", bytes)?;
    Ok((header, image.size()))
}

/// A Blender result image that must be `width` x `height`.
pub fn blender_png(bytes: &[u8], width: u32, height: u32) -> Result<RgbImage, String> {
    RgbImage::from_png(bytes, width, height)
}
