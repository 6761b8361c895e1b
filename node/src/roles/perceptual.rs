//! Perceptual comparison of re-rendered regions, for engines whose output is not bit-exact
//! across machines (Blender).

use pictor_gpu::{
    compare_region, compare_regions, BlenderEngine, DeviceClass, RegionPair, Thresholds,
};
use pictor_protocol::{Engine, RegionScore};

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
/// held to the looser cross-device thresholds). The class comes from the worker's signed
/// capability record, never from a field of its claim.
pub(crate) fn score_region(
    (x, y, w, h): (u32, u32, u32, u32),
    expected: &[u8],
    claimed: &[u8],
    class: DeviceClass,
    engine: Engine,
) -> RegionScore {
    let thresholds = Thresholds::for_blender(blender_engine(engine), class);
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

/// Judges a claim's sampled regions: each is scored on its own (PSNR, SSIM), and the
/// sample is also judged as a whole (PSNR over all its pixels, SSIM averaged). A CPU
/// worker's regions must each pass and pass together (honest Cycles CPU output is
/// identical, so one changed region is enough to reject); a GPU worker's are judged
/// together only, since a single small region of honest GPU output may fall under the
/// cross-device thresholds on its own (`docs/blender.md`). Each region's `pass` is the
/// judgement that applies to it, so the attestation's verdict follows from the flags.
pub(crate) fn score_regions(
    regions: &[(u32, u32, u32, u32)],
    expected: &[Vec<u8>],
    claimed: &[Vec<u8>],
    class: DeviceClass,
    engine: Engine,
) -> Vec<RegionScore> {
    let mut scores: Vec<RegionScore> = regions
        .iter()
        .zip(expected.iter().zip(claimed))
        .map(|(&rect, (e, c))| score_region(rect, e, c, class, engine))
        .collect();
    let well_formed = regions.len() == expected.len()
        && regions.len() == claimed.len()
        && regions
            .iter()
            .zip(expected.iter().zip(claimed))
            .all(|(&(_, _, w, h), (e, c))| {
                e.len() == (w as usize) * (h as usize) * 3 && c.len() == e.len()
            });
    let pooled_pass = well_formed && {
        let pairs: Vec<RegionPair<'_>> = regions
            .iter()
            .zip(expected.iter().zip(claimed))
            .map(|(&(_, _, w, h), (e, c))| RegionPair {
                expected: e,
                actual: c,
                width: w,
                height: h,
            })
            .collect();
        compare_regions(
            &pairs,
            Thresholds::for_blender(blender_engine(engine), class),
        )
        .pass
    };
    for score in &mut scores {
        score.pass = match class {
            DeviceClass::Gpu => pooled_pass,
            _ => score.pass && pooled_pass,
        };
    }
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_regions_pass_and_garbage_fails() {
        let a: Vec<u8> = (0..8 * 8 * 3).map(|i| (i * 7 % 251) as u8).collect();
        let same = score_region((0, 0, 8, 8), &a, &a, DeviceClass::Cpu, Engine::Blender);
        assert!(same.pass);
        assert_eq!(same.psnr_cdb, u32::MAX);
        assert_eq!(same.ssim_ppm, 1_000_000);
        let b: Vec<u8> = a.iter().map(|v| v.wrapping_add(97)).collect();
        let other = score_region((0, 0, 8, 8), &a, &b, DeviceClass::Cpu, Engine::Blender);
        assert!(!other.pass);
        let short = score_region(
            (0, 0, 8, 8),
            &a,
            &a[..10],
            DeviceClass::Cpu,
            Engine::Blender,
        );
        assert!(!short.pass);
        // Judged as a sample: one bad region fails a CPU worker's whole claim.
        let regions = [(0, 0, 8, 8), (8, 0, 8, 8)];
        let honest = score_regions(
            &regions,
            &[a.clone(), a.clone()],
            &[a.clone(), a.clone()],
            DeviceClass::Cpu,
            Engine::Blender,
        );
        assert!(honest.iter().all(|r| r.pass));
        let one_bad = score_regions(
            &regions,
            &[a.clone(), a.clone()],
            &[a.clone(), b.clone()],
            DeviceClass::Cpu,
            Engine::Blender,
        );
        assert!(one_bad.iter().all(|r| !r.pass));
        let gpu_bad = score_regions(
            &regions,
            &[a.clone(), a.clone()],
            &[b.clone(), b],
            DeviceClass::Gpu,
            Engine::Blender,
        );
        assert!(gpu_bad.iter().all(|r| !r.pass));
    }
}
