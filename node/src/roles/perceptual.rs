//! Perceptual comparison of re-rendered regions, for engines whose output is not bit-exact
//! across machines (Blender).

use pictor_gpu::{compare_region, BlenderEngine, DeviceClass, Thresholds};
use pictor_protocol::{Engine, RegionScore};

/// The device class a claim's device string names: GPUs render with CUDA or OptiX.
pub(crate) fn device_class(device: &str) -> DeviceClass {
    let d = device.to_ascii_lowercase();
    if ["cuda", "optix", "gpu", "hip", "metal", "oneapi"]
        .iter()
        .any(|k| d.contains(k))
    {
        DeviceClass::Gpu
    } else {
        DeviceClass::Cpu
    }
}

/// Blender's render engine for a job's engine.
pub(crate) fn blender_engine(engine: Engine) -> BlenderEngine {
    match engine {
        Engine::BlenderEevee => BlenderEngine::Eevee,
        _ => BlenderEngine::Cycles,
    }
}

/// Scores one region: PSNR and SSIM of the checker's re-render (`expected`) against the
/// worker's verified rows (`claimed`), and whether they meet the thresholds of the engine
/// for the worker's device class (checkers re-render on the CPU; a GPU worker's output is
/// held to the looser cross-device thresholds).
pub(crate) fn score_region(
    (x, y, w, h): (u32, u32, u32, u32),
    expected: &[u8],
    claimed: &[u8],
    worker_device: &str,
    engine: Engine,
) -> RegionScore {
    let thresholds = Thresholds::for_blender(blender_engine(engine), device_class(worker_device));
    let (psnr_cdb, ssim_ppm, pass) =
        if expected.len() != claimed.len() || expected.len() != (w as usize) * (h as usize) * 3 {
            (0, 0, false)
        } else {
            let c = compare_region(expected, claimed, w, h, thresholds);
            let psnr_cdb = if c.psnr.is_finite() {
                (c.psnr * 100.0).clamp(0.0, f64::from(u32::MAX - 1)) as u32
            } else {
                u32::MAX
            };
            let ssim_ppm = (c.ssim * 1e6).clamp(0.0, 1e6) as u32;
            (psnr_cdb, ssim_ppm, c.pass)
        };
    RegionScore {
        x,
        y,
        w,
        h,
        psnr_cdb,
        ssim_ppm,
        pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_regions_pass_and_garbage_fails() {
        let a: Vec<u8> = (0..8 * 8 * 3).map(|i| (i * 7 % 251) as u8).collect();
        let same = score_region((0, 0, 8, 8), &a, &a, "cpu", Engine::Blender);
        assert!(same.pass);
        assert_eq!(same.psnr_cdb, u32::MAX);
        assert_eq!(same.ssim_ppm, 1_000_000);
        let b: Vec<u8> = a.iter().map(|v| v.wrapping_add(97)).collect();
        let other = score_region((0, 0, 8, 8), &a, &b, "cpu", Engine::Blender);
        assert!(!other.pass);
        let short = score_region((0, 0, 8, 8), &a, &a[..10], "cpu", Engine::Blender);
        assert!(!short.pass);
        assert_eq!(device_class("CUDA:0 NVIDIA H100"), DeviceClass::Gpu);
        assert_eq!(device_class("cpu (2 threads)"), DeviceClass::Cpu);
    }
}
