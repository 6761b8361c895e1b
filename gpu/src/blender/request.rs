//! What to render: frame, size, region and settings.

use std::fmt;
use std::path::Path;

use crate::blender::BlenderError;
use crate::{DeviceClass, Rect};

/// Largest image side Blender is asked to render.
pub const MAX_BLENDER_SIZE: u32 = 65_536;
/// Most samples per pixel a request may ask for.
pub const MAX_BLENDER_SAMPLES: u32 = 1 << 24;
/// Highest frame number Blender accepts.
pub const MAX_BLENDER_FRAME: u32 = 1_048_574;
/// Most render threads a request may ask for.
pub const MAX_BLENDER_THREADS: u32 = 1024;

/// Blender's render engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlenderEngine {
    /// Cycles, the path tracer.
    Cycles,
    /// EEVEE, the rasteriser (always runs on the GPU through OpenGL; the device setting
    /// does not apply).
    Eevee,
}

impl BlenderEngine {
    /// Blender's identifier (`scene.render.engine`).
    pub fn blender_name(self) -> &'static str {
        match self {
            BlenderEngine::Cycles => "CYCLES",
            BlenderEngine::Eevee => "BLENDER_EEVEE",
        }
    }
}

impl fmt::Display for BlenderEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlenderEngine::Cycles => "cycles",
            BlenderEngine::Eevee => "eevee",
        })
    }
}

/// The device Cycles renders on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlenderDevice {
    /// The CPU.
    Cpu,
    /// NVIDIA GPUs through CUDA.
    Cuda,
    /// NVIDIA RTX GPUs through OptiX.
    Optix,
}

impl BlenderDevice {
    /// Blender's identifier (`compute_device_type`, or `"CPU"`).
    pub fn blender_name(self) -> &'static str {
        match self {
            BlenderDevice::Cpu => "CPU",
            BlenderDevice::Cuda => "CUDA",
            BlenderDevice::Optix => "OPTIX",
        }
    }

    /// CPU or GPU: which comparison thresholds apply.
    pub fn class(self) -> DeviceClass {
        match self {
            BlenderDevice::Cpu => DeviceClass::Cpu,
            BlenderDevice::Cuda | BlenderDevice::Optix => DeviceClass::Gpu,
        }
    }
}

impl fmt::Display for BlenderDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.blender_name())
    }
}

/// One render: a region of a frame at given settings.
///
/// Everything that decides the pixels is here and is set explicitly on every render, so
/// two nodes that send the same request render the same image (up to the engine's own
/// nondeterminism, see [`crate::compare`]): resolution percentage 100, a fixed seed that
/// is not animated, no adaptive sampling, no denoising, the "Standard" view transform,
/// no dither, no compositor or sequencer, no stamp, 8-bit RGB PNG output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionRequest {
    /// Frame number (0..=[`MAX_BLENDER_FRAME`]).
    pub frame: u32,
    /// Full frame width in pixels.
    pub width: u32,
    /// Full frame height in pixels.
    pub height: u32,
    /// The pixels to render, top-left origin; must lie inside the frame.
    pub region: Rect,
    /// Samples per pixel (Cycles) or TAA samples (EEVEE).
    pub samples: u32,
    /// Cycles' seed.
    pub seed: u32,
    /// Render engine.
    pub engine: BlenderEngine,
    /// Compute device (Cycles only).
    pub device: BlenderDevice,
    /// A fixed number of render threads, or `None` for Blender's automatic choice.
    pub threads: Option<u32>,
}

impl RegionRequest {
    /// A whole frame with Cycles on the CPU, seed 0 and automatic threads.
    pub fn full_frame(frame: u32, width: u32, height: u32, samples: u32) -> RegionRequest {
        RegionRequest {
            frame,
            width,
            height,
            region: Rect {
                x: 0,
                y: 0,
                w: width,
                h: height,
            },
            samples,
            seed: 0,
            engine: BlenderEngine::Cycles,
            device: BlenderDevice::Cpu,
            threads: None,
        }
    }

    /// The same request for another region of the frame.
    pub fn with_region(&self, region: Rect) -> RegionRequest {
        RegionRequest {
            region,
            ..self.clone()
        }
    }

    /// Checks the request without running Blender.
    pub fn validate(&self) -> Result<(), BlenderError> {
        let bad = |m: String| Err(BlenderError::InvalidRequest(m));
        if self.width == 0
            || self.height == 0
            || self.width > MAX_BLENDER_SIZE
            || self.height > MAX_BLENDER_SIZE
        {
            return bad(format!(
                "frame size {}x{} is outside 1..={MAX_BLENDER_SIZE}",
                self.width, self.height
            ));
        }
        let r = self.region;
        let inside = r.w > 0
            && r.h > 0
            && u64::from(r.x) + u64::from(r.w) <= u64::from(self.width)
            && u64::from(r.y) + u64::from(r.h) <= u64::from(self.height);
        if !inside {
            return bad(format!(
                "region {}x{} at ({}, {}) is empty or not inside the {}x{} frame",
                r.w, r.h, r.x, r.y, self.width, self.height
            ));
        }
        if self.samples == 0 || self.samples > MAX_BLENDER_SAMPLES {
            return bad(format!(
                "{} samples is outside 1..={MAX_BLENDER_SAMPLES}",
                self.samples
            ));
        }
        if self.frame > MAX_BLENDER_FRAME {
            return bad(format!(
                "frame {} is above Blender's last frame {MAX_BLENDER_FRAME}",
                self.frame
            ));
        }
        if self.seed > i32::MAX as u32 {
            return bad(format!("seed {} is above {}", self.seed, i32::MAX));
        }
        if let Some(t) = self.threads {
            if t == 0 || t > MAX_BLENDER_THREADS {
                return bad(format!("{t} threads is outside 1..={MAX_BLENDER_THREADS}"));
            }
        }
        Ok(())
    }

    /// The request as one line for the render server.
    pub(crate) fn to_wire(&self, id: u64, output: &Path, persistent_data: bool) -> String {
        let r = self.region;
        serde_json::json!({
            "id": id,
            "cmd": "render",
            "frame": self.frame,
            "width": self.width,
            "height": self.height,
            "region": [r.x, r.y, r.w, r.h],
            "samples": self.samples,
            "seed": self.seed,
            "engine": self.engine.blender_name(),
            "device": self.device.blender_name(),
            "threads": self.threads.unwrap_or(0),
            "persistent_data": persistent_data,
            "output": output.to_string_lossy(),
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> RegionRequest {
        RegionRequest::full_frame(1, 64, 48, 8)
    }

    #[test]
    fn regions_must_lie_inside_the_frame() {
        assert!(req().validate().is_ok());
        let rect = |x, y, w, h| Rect { x, y, w, h };
        for r in [
            rect(0, 0, 0, 4),
            rect(60, 0, 5, 4),
            rect(0, 45, 4, 4),
            rect(u32::MAX, 0, 2, 2),
            rect(0, u32::MAX, 2, 2),
        ] {
            let e = req().with_region(r).validate();
            assert!(matches!(e, Err(BlenderError::InvalidRequest(_))), "{r:?}");
        }
        assert!(req().with_region(rect(60, 44, 4, 4)).validate().is_ok());
    }

    #[test]
    fn settings_are_bounded() {
        let mut r = req();
        r.samples = 0;
        assert!(r.validate().is_err());
        let mut r = req();
        r.threads = Some(0);
        assert!(r.validate().is_err());
        let mut r = req();
        r.seed = u32::MAX;
        assert!(r.validate().is_err());
        let mut r = req();
        r.frame = MAX_BLENDER_FRAME + 1;
        assert!(r.validate().is_err());
    }

    #[test]
    fn wire_format_names_everything() {
        let line = req().to_wire(3, Path::new("/tmp/x.png"), true);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(v["id"], 3);
        assert_eq!(v["region"], serde_json::json!([0, 0, 64, 48]));
        assert_eq!(v["engine"], "CYCLES");
        assert_eq!(v["device"], "CPU");
        assert_eq!(v["threads"], 0);
        assert_eq!(v["output"], "/tmp/x.png");
        assert!(!line.contains('\n'));
    }
}
