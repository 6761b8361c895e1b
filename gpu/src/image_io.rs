//! PNG encoding and decoding of RGB8 images.

use crate::error::RenderError;

/// Encodes an 8-bit RGB image (`rgb.len() == width * height * 3`) as PNG.
pub fn encode_png(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, RenderError> {
    let expected = u64::from(width) * u64::from(height) * 3;
    if width == 0 || height == 0 || rgb.len() as u64 != expected {
        return Err(RenderError::Png(format!(
            "{} bytes do not form a {width}x{height} RGB image ({expected} bytes expected)",
            rgb.len()
        )));
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc
        .write_header()
        .map_err(|e| RenderError::Png(e.to_string()))?;
    writer
        .write_image_data(rgb)
        .map_err(|e| RenderError::Png(e.to_string()))?;
    writer
        .finish()
        .map_err(|e| RenderError::Png(e.to_string()))?;
    Ok(out)
}

/// Decodes a PNG (any colour type / depth) to 8-bit RGB: `(width, height, rgb)`.
pub fn decode_png(bytes: &[u8]) -> Result<(u32, u32, Vec<u8>), RenderError> {
    let err = |e: image::ImageError| RenderError::Png(e.to_string());
    let mut reader =
        image::ImageReader::with_format(std::io::Cursor::new(bytes), image::ImageFormat::Png);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(65_536);
    limits.max_image_height = Some(65_536);
    reader.limits(limits);
    let img = reader.decode().map_err(err)?.to_rgb8();
    let (w, h) = img.dimensions();
    Ok((w, h, img.into_raw()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip() {
        let rgb: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7) as u8).collect();
        let png = encode_png(4, 3, &rgb).ok();
        let back = png.as_deref().map(decode_png).and_then(Result::ok);
        assert_eq!(back, Some((4, 3, rgb)));
        assert!(matches!(
            encode_png(4, 3, &[0; 5]),
            Err(RenderError::Png(_))
        ));
        assert!(decode_png(b"not a png").is_err());
    }
}
