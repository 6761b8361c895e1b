//! The render entry points: whole frames, tiles and single pixels, all bit-identical.

use rayon::prelude::*;

use crate::camera::Camera;
use crate::error::RenderError;
use crate::frame::Frame;
use crate::integrator::Tracer;
use crate::math::Vec3;
use crate::sampler::SampleRng;
use crate::scene::Scene;

/// Largest image side, in pixels.
pub const MAX_IMAGE_SIZE: u32 = 16_384;
/// Largest sample count per pixel.
pub const MAX_SAMPLES: u32 = 65_536;

/// What to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderSettings {
    /// Image width in pixels (1..=16384).
    pub width: u32,
    /// Image height in pixels (1..=16384).
    pub height: u32,
    /// Samples per pixel (1..=65536).
    pub samples: u32,
    /// Frame number, 1-based.
    pub frame: u32,
}

/// A rectangle of pixels: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// Number of camera samples (paths) that rendering `rect` at `settings` traces; divide by
/// the render time (and the number of cores) to get a throughput.
pub fn samples_traced(settings: &RenderSettings, rect: Rect) -> u64 {
    u64::from(rect.w) * u64::from(rect.h) * u64::from(settings.samples)
}

struct Prepared<'a> {
    scene: &'a Scene,
    frame: std::sync::Arc<Frame>,
    camera: Camera,
    settings: RenderSettings,
    /// The frame number that seeds the random streams: 1 for static scenes, whose frames
    /// are all the same image.
    seed_frame: u32,
}

fn prepare<'a>(scene: &'a Scene, settings: &RenderSettings) -> Result<Prepared<'a>, RenderError> {
    let s = settings;
    if s.width == 0 || s.height == 0 || s.width > MAX_IMAGE_SIZE || s.height > MAX_IMAGE_SIZE {
        return Err(RenderError::InvalidSettings(format!(
            "image size {}x{} must be between 1x1 and {MAX_IMAGE_SIZE}x{MAX_IMAGE_SIZE}",
            s.width, s.height
        )));
    }
    if s.samples == 0 || s.samples > MAX_SAMPLES {
        return Err(RenderError::InvalidSettings(format!(
            "samples per pixel {} must be between 1 and {MAX_SAMPLES}",
            s.samples
        )));
    }
    scene.check_frame(s.frame)?;
    let frame = scene.frame(s.frame)?;
    let camera = match &frame.camera {
        Some(pose) => Camera::from_pose(pose, s.width, s.height),
        None => {
            let (min, max) = scene.rest_bounds();
            Camera::default_for(min, max, s.width, s.height)
        }
    };
    let seed_frame = if scene.frame_range().is_some() {
        s.frame
    } else {
        1
    };
    Ok(Prepared {
        scene,
        frame,
        camera,
        settings: *s,
        seed_frame,
    })
}

/// Linear → sRGB, then 8-bit quantisation (values are clamped to [0, 1] first).
fn encode(c: f32) -> u8 {
    let c = if c.is_finite() {
        c.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let s = if c <= 0.003_130_8 {
        12.92 * c
    } else {
        1.055 * libm::powf(c, 1.0 / 2.4) - 0.055
    };
    (s * 255.0 + 0.5) as u8
}

impl Prepared<'_> {
    /// The one place a pixel's value is computed; its samples are summed in order.
    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let s = &self.settings;
        let tracer = Tracer {
            frame: &self.frame,
            materials: &self.scene.data.materials,
            env: self.scene.env,
        };
        let mut sum = Vec3::ZERO;
        for i in 0..s.samples {
            let mut rng = SampleRng::new(self.scene.seed(), self.seed_frame, x, y, i);
            let (jx, jy) = (rng.next_f32(), rng.next_f32());
            let ray = self
                .camera
                .ray(x as f32 + jx, y as f32 + jy, s.width, s.height);
            sum += tracer.radiance(ray, &mut rng);
        }
        let n = s.samples as f32;
        [encode(sum.x / n), encode(sum.y / n), encode(sum.z / n)]
    }
}

/// Renders `rect` of the image: RGB8, row-major, `w * h * 3` bytes. Rows are rendered in
/// parallel on the current rayon pool; the bytes do not depend on the pool.
pub fn render_tile(
    scene: &Scene,
    settings: &RenderSettings,
    rect: Rect,
) -> Result<Vec<u8>, RenderError> {
    let p = prepare(scene, settings)?;
    let inside = rect.w > 0
        && rect.h > 0
        && rect
            .x
            .checked_add(rect.w)
            .is_some_and(|r| r <= settings.width)
        && rect
            .y
            .checked_add(rect.h)
            .is_some_and(|b| b <= settings.height);
    if !inside {
        return Err(RenderError::RectOutOfBounds {
            x: rect.x,
            y: rect.y,
            w: rect.w,
            h: rect.h,
            width: settings.width,
            height: settings.height,
        });
    }
    let row_bytes = rect.w as usize * 3;
    let mut out = vec![0u8; row_bytes * rect.h as usize];
    out.par_chunks_mut(row_bytes)
        .enumerate()
        .for_each(|(row, line)| {
            let y = rect.y + row as u32;
            for (col, px) in line.chunks_exact_mut(3).enumerate() {
                px.copy_from_slice(&p.pixel(rect.x + col as u32, y));
            }
        });
    Ok(out)
}

/// Renders one pixel; the same bytes as that pixel in [`render_tile`] / [`render_frame`].
pub fn render_pixel(
    scene: &Scene,
    settings: &RenderSettings,
    x: u32,
    y: u32,
) -> Result<[u8; 3], RenderError> {
    let p = prepare(scene, settings)?;
    if x >= settings.width || y >= settings.height {
        return Err(RenderError::RectOutOfBounds {
            x,
            y,
            w: 1,
            h: 1,
            width: settings.width,
            height: settings.height,
        });
    }
    Ok(p.pixel(x, y))
}

/// Renders the whole image: RGB8, row-major.
pub fn render_frame(scene: &Scene, settings: &RenderSettings) -> Result<Vec<u8>, RenderError> {
    render_tile(
        scene,
        settings,
        Rect {
            x: 0,
            y: 0,
            w: settings.width,
            h: settings.height,
        },
    )
}
