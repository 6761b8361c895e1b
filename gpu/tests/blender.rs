//! The Blender engine against real Blender. Every test prints why it skips and passes
//! when Blender is not installed.
//!
//! Scenes come from `examples/scenes/make_blend.py`, built in a temporary folder per test
//! and rendered small (160x120, 16 samples) so that each test takes a few seconds on two
//! cores. The calibration behind `Thresholds::for_blender` is the ignored test
//! `calibrate`:
//! `cargo test -p pictor-gpu --test blender -- --ignored calibrate --nocapture`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pictor_gpu::blender::{
    render_frame_direct, Blender, BlenderDevice, BlenderEngine, BlenderError, BlenderPool,
    BlenderSession, RegionRequest, RgbImage, SessionOptions,
};
use pictor_gpu::compare::{compare_region, Comparison, Thresholds};
use pictor_gpu::{DeviceClass, Rect};

const W: u32 = 160;
const H: u32 = 120;
const SAMPLES: u32 = 16;
const LIMIT: Duration = Duration::from_secs(120);

fn blender() -> Option<Blender> {
    match Blender::locate() {
        Ok(b) => Some(b),
        Err(e) => {
            // In CI (`CI` set) a missing Blender fails the test: .ci/run installs it.
            assert!(
                std::env::var_os("CI").is_none(),
                "{e}, and CI must run the Blender tests (scripts/setup-blender.sh)"
            );
            eprintln!("skipping: {e}");
            None
        }
    }
}

/// Builds `make_blend.py`'s scene (`variant`: "default" or "moved") in `dir`.
fn make_scene(blender: &Blender, dir: &Path, variant: &str) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scenes/make_blend.py");
    let out = dir.join(format!("{variant}.blend"));
    let run = Command::new(blender.path())
        .args(["-b", "--factory-startup", "-noaudio", "--python"])
        .arg(&script)
        .arg("--")
        .arg(&out)
        .args(["--variant", variant])
        .output()
        .expect("run make_blend.py");
    assert!(
        run.status.success() && out.is_file(),
        "make_blend.py failed: {}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

fn rect(x: u32, y: u32, w: u32, h: u32) -> Rect {
    Rect { x, y, w, h }
}

fn small_frame(frame: u32) -> RegionRequest {
    RegionRequest {
        threads: Some(2),
        ..RegionRequest::full_frame(frame, W, H, SAMPLES)
    }
}

fn cpu() -> Thresholds {
    Thresholds::for_blender(BlenderEngine::Cycles, DeviceClass::Cpu)
}

fn compare(a: &RgbImage, b: &RgbImage) -> Comparison {
    assert_eq!((a.width, a.height), (b.width, b.height));
    compare_region(&a.pixels, &b.pixels, a.width, a.height, cpu())
}

fn start(blender: &Blender, scene: &Path) -> BlenderSession {
    BlenderSession::start(blender, scene, SessionOptions::default()).expect("start Blender")
}

#[test]
fn a_region_matches_the_same_region_of_the_full_frame() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let mut session = start(&blender, &scene);
    let full = session.render_region(&small_frame(1), LIMIT).unwrap();
    assert_eq!((full.width, full.height), (W, H));
    assert_eq!(full.pixels.len(), (W * H * 3) as usize);
    // A region touching no edge, one in the bottom-right corner, one spanning the width.
    for r in [
        rect(37, 21, 50, 40),
        rect(120, 90, 40, 30),
        rect(0, 57, W, 13),
    ] {
        let region = session
            .render_region(&small_frame(1).with_region(r), LIMIT)
            .unwrap();
        let cut = full.crop(r).unwrap();
        let c = compare(&region, &cut);
        assert!(c.pass, "{r:?}: {c:?}");
    }
    // The image is a real render: not flat.
    let (lo, hi) = full
        .pixels
        .iter()
        .fold((255u8, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!(hi - lo > 100, "flat image {lo}..{hi}");
}

#[test]
fn renders_with_the_same_seed_compare_as_honest_and_the_session_is_reused() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let request = small_frame(5).with_region(rect(20, 30, 96, 64));
    let mut one = start(&blender, &scene);
    let first = one.render_region(&request, LIMIT).unwrap();
    let again = one.render_region(&request, LIMIT).unwrap();
    let other = one
        .render_region(&request.with_region(rect(0, 0, 32, 32)), LIMIT)
        .unwrap();
    assert_eq!(other.pixels.len(), 32 * 32 * 3);
    // Three renders, one Blender process.
    assert_eq!(one.process_starts(), 1);
    assert!(one.is_running());
    let mut two = start(&blender, &scene);
    let elsewhere = two.render_region(&request, LIMIT).unwrap();
    assert!(compare(&first, &again).pass);
    assert!(compare(&first, &elsewhere).pass);
}

#[test]
fn a_batch_of_regions_comes_back_in_order_equal_to_the_frame() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let mut session = start(&blender, &scene);
    let full = session.render_region(&small_frame(2), LIMIT).unwrap();
    // More regions than the session keeps in flight, of different sizes, so that an answer
    // matched to the wrong region would show.
    let rects: Vec<Rect> = (0..20u32)
        .map(|i| {
            rect(
                (i * 37) % (W - 12),
                (i * 23) % (H - 9),
                4 + i % 9,
                3 + i % 7,
            )
        })
        .collect();
    let requests: Vec<RegionRequest> = rects
        .iter()
        .map(|&r| small_frame(2).with_region(r))
        .collect();
    let images = session.render_regions(&requests, LIMIT).unwrap();
    assert_eq!(images.len(), rects.len());
    for (image, &r) in images.iter().zip(&rects) {
        assert_eq!((image.width, image.height), (r.w, r.h));
        // Cycles on the CPU renders a region exactly as the same pixels of the whole frame.
        assert_eq!(image.pixels, full.crop(r).unwrap().pixels, "{r:?}");
    }
    assert_eq!(session.process_starts(), 1);
    // One bad request fails the whole batch before Blender sees any of it.
    let mut bad = requests.clone();
    bad[3].region = rect(W - 2, 0, 4, 4);
    let err = session.render_regions(&bad, LIMIT).unwrap_err();
    assert!(matches!(err, BlenderError::InvalidRequest(_)), "{err}");
    assert!(session.render_regions(&[], LIMIT).unwrap().is_empty());
    assert_eq!(session.process_starts(), 1);
}

#[test]
fn a_pool_reuses_its_processes_and_never_runs_more_than_its_limit() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let moved = make_scene(&blender, dir.path(), "moved");
    let pool = BlenderPool::new(2, SessionOptions::default());
    let request = small_frame(1);
    // Four threads render one scene through a pool of two processes.
    let images: Vec<RgbImage> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut session = pool.take(&blender, "default", &scene).unwrap();
                    assert!(pool.live() <= 2);
                    session.render_region(&request, LIMIT).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(pool.live() <= 2, "{} processes", pool.live());
    for image in &images[1..] {
        assert_eq!(image.pixels, images[0].pixels);
    }
    // The same scene again: an idle process is reused, none started.
    let live = pool.live();
    {
        let mut again = pool.take(&blender, "default", &scene).unwrap();
        assert_eq!(again.process_starts(), 1);
        assert_eq!(again.render_region(&request, LIMIT).unwrap(), images[0]);
    }
    assert_eq!(pool.live(), live);
    // Another scene while both slots are held by idle sessions of the first: one of them
    // is ended to make room, and the other scene's pixels come back.
    let a = pool.take(&blender, "default", &scene).unwrap();
    let b = pool.take(&blender, "default", &scene).unwrap();
    drop((a, b));
    assert_eq!(pool.live(), 2);
    let mut other = pool.take(&blender, "moved", &moved).unwrap();
    let moved_image = other.render_region(&request, LIMIT).unwrap();
    assert_ne!(
        moved_image.pixels, images[0].pixels,
        "the other scene rendered"
    );
    assert_eq!(pool.live(), 2);
    // A scene that cannot start leaves its slot free.
    drop(other);
    let missing = dir.path().join("missing.blend");
    assert!(matches!(
        pool.take(&blender, "missing", &missing),
        Err(BlenderError::SceneNotFound { .. })
    ));
    assert_eq!(
        pool.live(),
        1,
        "the failed start gave its slot back after ending an idle one"
    );
}

#[test]
fn plain_blender_renders_the_same_frame() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let request = small_frame(12);
    let direct = render_frame_direct(&blender, &scene, &request, LIMIT).unwrap();
    let mut session = start(&blender, &scene);
    let served = session.render_region(&request, LIMIT).unwrap();
    let c = compare(&direct, &served);
    assert!(c.pass, "{c:?}");
}

#[test]
fn cheats_fail_the_thresholds() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let moved = make_scene(&blender, dir.path(), "moved");
    let r = rect(24, 24, 96, 72);
    let request = small_frame(1).with_region(r);
    let mut session = start(&blender, &scene);
    let honest = session.render_region(&request, LIMIT).unwrap();

    // A tampered tile: one 12x12 block painted flat with its own mean colour.
    let mut tampered = honest.clone();
    let mut mean = [0u32; 3];
    for y in 30..42 {
        for x in 40..52 {
            for (c, m) in mean.iter_mut().enumerate() {
                *m += u32::from(honest.pixels[((y * r.w + x) * 3) as usize + c]);
            }
        }
    }
    for y in 30..42 {
        for x in 40..52 {
            for (c, m) in mean.iter().enumerate() {
                tampered.pixels[((y * r.w + x) * 3) as usize + c] = (m / 144) as u8;
            }
        }
    }
    let c = compare(&honest, &tampered);
    assert!(!c.pass, "tampered tile passed: {c:?}");

    // Fewer samples than asked for.
    let quarter = RegionRequest {
        samples: SAMPLES / 4,
        ..request.clone()
    };
    let cheap = session.render_region(&quarter, LIMIT).unwrap();
    let c = compare(&honest, &cheap);
    assert!(!c.pass, "a quarter of the samples passed: {c:?}");

    // Another scene.
    let mut other = start(&blender, &moved);
    let wrong = other.render_region(&request, LIMIT).unwrap();
    let c = compare(&honest, &wrong);
    assert!(!c.pass, "another scene passed: {c:?}");
}

#[test]
fn a_bad_blend_reports_blenders_error() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.blend");
    std::fs::write(&junk, b"this is not a blend file, just junk bytes\n").unwrap();
    let e = BlenderSession::start(&blender, &junk, SessionOptions::default()).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, BlenderError::StartFailed { .. }), "{e:?}");
    assert!(text.contains("File format is not supported"), "{text}");
    assert!(!text.contains('\n'), "{text}");
    let e = render_frame_direct(&blender, &junk, &small_frame(1), LIMIT).unwrap_err();
    assert!(
        e.to_string().contains("File format is not supported"),
        "{e}"
    );
    let missing =
        BlenderSession::start(&blender, &dir.path().join("nope.blend"), Default::default());
    assert!(matches!(missing, Err(BlenderError::SceneNotFound { .. })));
}

#[test]
fn a_timeout_kills_blender_and_the_next_call_restarts_it() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let mut session = start(&blender, &scene);
    let slow = RegionRequest::full_frame(1, 640, 480, 4096);
    let began = Instant::now();
    let e = session
        .render_region(&slow, Duration::from_millis(1500))
        .unwrap_err();
    assert!(matches!(e, BlenderError::Timeout { .. }), "{e:?}");
    assert!(began.elapsed() < Duration::from_secs(20));
    assert!(!session.is_running());
    let tile = session
        .render_region(&small_frame(1).with_region(rect(0, 0, 16, 16)), LIMIT)
        .unwrap();
    assert_eq!(tile.pixels.len(), 16 * 16 * 3);
    assert_eq!(session.process_starts(), 2);
}

#[test]
fn invalid_requests_are_rejected_before_blender_runs() {
    // `/bin/sh` stands in for Blender: it must never be run.
    let fake = Blender::at("/bin/sh");
    let Ok(fake) = fake else {
        eprintln!("skipping: no /bin/sh");
        return;
    };
    let outside = small_frame(1).with_region(rect(150, 0, 20, 10));
    let e = render_frame_direct(&fake, Path::new("/nonexistent.blend"), &outside, LIMIT);
    assert!(matches!(e, Err(BlenderError::InvalidRequest(_))), "{e:?}");

    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let mut session = start(&blender, &scene);
    session.stop();
    for r in [rect(150, 0, 20, 10), rect(0, 0, 0, 5), rect(0, 119, 5, 2)] {
        let e = session.render_region(&small_frame(1).with_region(r), LIMIT);
        assert!(matches!(e, Err(BlenderError::InvalidRequest(_))), "{e:?}");
    }
    // Rejected without starting Blender again.
    assert!(!session.is_running());
    assert_eq!(session.process_starts(), 1);
}

#[test]
fn an_unavailable_gpu_is_named() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let mut session = start(&blender, &scene);
    let region = rect(40, 30, 64, 48);
    let cpu_render = session
        .render_region(&small_frame(1).with_region(region), LIMIT)
        .unwrap();
    for device in [BlenderDevice::Cuda, BlenderDevice::Optix] {
        let request = RegionRequest {
            device,
            ..small_frame(1).with_region(region)
        };
        match session.render_region(&request, LIMIT) {
            Err(e @ BlenderError::DeviceUnavailable { .. }) => {
                assert!(e.to_string().contains(device.blender_name()), "{e}");
            }
            Err(e) => panic!("{device}: unexpected error {e}"),
            // This machine has the GPU: its result must pass the GPU thresholds.
            Ok(gpu) => {
                let t = Thresholds::for_blender(BlenderEngine::Cycles, DeviceClass::Gpu);
                let c = compare_region(&cpu_render.pixels, &gpu.pixels, 64, 48, t);
                assert!(c.pass, "{device} vs CPU: {c:?}");
            }
        }
    }
    // The session still works after the device errors.
    assert!(session
        .render_region(&small_frame(1).with_region(region), LIMIT)
        .is_ok());
    assert_eq!(session.process_starts(), 1);
}

/// Measures the figures behind `Thresholds::for_blender` (512x384, 32 samples, the
/// example scene): honest re-renders and cheats, over several regions of frames 1 and 12.
#[test]
#[ignore = "calibration: slow; run with --ignored --nocapture"]
fn calibrate() {
    let Some(blender) = blender() else { return };
    calibration::run(&blender);
}

// `cfg(test)` (always true here) marks the module as test code for clippy.
#[cfg(test)]
mod calibration {
    use super::*;
    use pictor_gpu::compare::{compare_regions, psnr, ssim, RegionPair};

    const CW: u32 = 512;
    const CH: u32 = 384;
    const CS: u32 = 32;

    const REGIONS: [Rect; 4] = [
        rect(96, 176, 128, 96),  // the sphere
        rect(288, 144, 128, 96), // the cube
        rect(208, 112, 96, 96),  // the cylinder
        rect(0, 288, 128, 96),   // the ground
    ];

    const fn rect(x: u32, y: u32, w: u32, h: u32) -> Rect {
        Rect { x, y, w, h }
    }

    /// PSNR and SSIM of every sample of one case: whole regions, every 8x8 block of them,
    /// and groups of 16 scattered 8x8 blocks compared together.
    #[derive(Default)]
    struct Stats {
        figures: Vec<(f64, f64)>,
        blocks: Vec<(f64, f64)>,
        pooled: Vec<(f64, f64)>,
    }

    /// Edge of the small regions checkers sample, and how many make one sample.
    const BLOCK: u32 = 8;
    const POOL: usize = 16;

    impl Stats {
        fn add(&mut self, a: &RgbImage, b: &RgbImage) {
            assert_eq!((a.width, a.height), (b.width, b.height));
            self.figures.push((
                psnr(&a.pixels, &b.pixels),
                ssim(&a.pixels, &b.pixels, a.width, a.height),
            ));
            let mut pairs = Vec::new();
            for y in (0..a.height / BLOCK).map(|i| i * BLOCK) {
                for x in (0..a.width / BLOCK).map(|i| i * BLOCK) {
                    let r = rect(x, y, BLOCK, BLOCK);
                    pairs.push((a.crop(r).unwrap(), b.crop(r).unwrap()));
                }
            }
            for (ea, eb) in &pairs {
                self.blocks.push((
                    psnr(&ea.pixels, &eb.pixels),
                    ssim(&ea.pixels, &eb.pixels, BLOCK, BLOCK),
                ));
            }
            // Scatter the blocks (a stride coprime with their count), then group them.
            let n = pairs.len();
            let stride = (1..n)
                .rev()
                .find(|s| gcd(*s, n) == 1 && *s < n / 3)
                .unwrap_or(1);
            let order: Vec<usize> = (0..n).map(|i| i * stride % n).collect();
            let any = Thresholds::for_blender(BlenderEngine::Cycles, DeviceClass::Cpu);
            for group in order.chunks_exact(POOL) {
                let sample: Vec<RegionPair<'_>> = group
                    .iter()
                    .map(|&i| RegionPair {
                        expected: &pairs[i].0.pixels,
                        actual: &pairs[i].1.pixels,
                        width: BLOCK,
                        height: BLOCK,
                    })
                    .collect();
                let c = compare_regions(&sample, any);
                self.pooled.push((c.psnr, c.ssim));
            }
        }

        fn summary(figures: &[(f64, f64)], engine: BlenderEngine) -> String {
            let n = figures.len();
            let mut p: Vec<f64> = figures.iter().map(|f| f.0).collect();
            let mut s: Vec<f64> = figures.iter().map(|f| f.1).collect();
            p.sort_by(f64::total_cmp);
            s.sort_by(f64::total_cmp);
            let pct = |v: &[f64], q: usize| v[(n - 1) * q / 100];
            let passes = |class| {
                let t = Thresholds::for_blender(engine, class);
                let k = figures.iter().filter(|(p, s)| t.passes(*p, *s)).count();
                if n > 20 {
                    format!("{:.1}%", 100.0 * k as f64 / n as f64)
                } else {
                    format!("{k}/{n}")
                }
            };
            format!(
                "{:.2} / {:.2} / {:.2} | {:.4} / {:.4} / {:.4} | {} | {}",
                p[0],
                pct(&p, 1),
                pct(&p, 50),
                s[0],
                pct(&s, 1),
                pct(&s, 50),
                passes(DeviceClass::Cpu),
                passes(DeviceClass::Gpu),
            )
        }
    }

    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }

    fn print_table(title: &str, engine: BlenderEngine, names: &[String], stats: &[Stats]) {
        for (what, pick) in [
            ("whole regions", 0),
            ("single 8x8 regions", 1),
            (
                "16 scattered 8x8 regions compared together (`compare_regions`)",
                2,
            ),
        ] {
            println!("\n{title}: {what}\n");
            println!(
                "| case | PSNR dB min / 1% / median | SSIM min / 1% / median | \
                 passes CPU thresholds | passes GPU thresholds |"
            );
            println!("|---|---|---|---|---|");
            for (name, s) in names.iter().zip(stats) {
                let figures = [&s.figures, &s.blocks, &s.pooled][pick];
                println!("| {name} | {} |", Stats::summary(figures, engine));
            }
        }
    }

    fn request(engine: BlenderEngine, frame: u32, r: Rect) -> RegionRequest {
        RegionRequest {
            threads: Some(2),
            engine,
            ..RegionRequest::full_frame(frame, CW, CH, CS).with_region(r)
        }
    }

    /// `r` grown by 32 pixels on every side (clipped to the frame), and where `r` lies
    /// inside it.
    fn grown(r: Rect) -> (Rect, Rect) {
        let x0 = r.x.saturating_sub(32);
        let y0 = r.y.saturating_sub(32);
        let x1 = (r.x + r.w + 32).min(CW);
        let y1 = (r.y + r.h + 32).min(CH);
        (
            rect(x0, y0, x1 - x0, y1 - y0),
            rect(r.x - x0, r.y - y0, r.w, r.h),
        )
    }

    /// Replaces the `n` x `n` block at the middle of `img`: with its mean colour (`copy`
    /// false) or with the block `n` pixels to its left (`copy` true).
    fn tamper(img: &RgbImage, n: u32, copy: bool) -> RgbImage {
        let mut out = img.clone();
        let (x0, y0) = ((img.width - n) / 2, (img.height - n) / 2);
        let at = |x: u32, y: u32, c: usize| ((y * img.width + x) * 3) as usize + c;
        let mut mean = [0u32; 3];
        for y in y0..y0 + n {
            for x in x0..x0 + n {
                for (c, m) in mean.iter_mut().enumerate() {
                    *m += u32::from(img.pixels[at(x, y, c)]);
                }
            }
        }
        for y in y0..y0 + n {
            for x in x0..x0 + n {
                for (c, m) in mean.iter().enumerate() {
                    out.pixels[at(x, y, c)] = if copy {
                        img.pixels[at(x - n, y, c)]
                    } else {
                        (m / (n * n)) as u8
                    };
                }
            }
        }
        out
    }

    /// A model of an honest render on another device: `per_mille` ‰ of the pixels take
    /// their value from `independent` (a render with independent noise: paths that went
    /// another way), and 1% of the other channel values are off by one (rounding).
    fn diverged(honest: &RgbImage, independent: &RgbImage, per_mille: u32) -> RgbImage {
        let mut out = honest.clone();
        let mut s: u32 = 0x9e37_79b9 ^ per_mille;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s
        };
        for (o, i) in out
            .pixels
            .chunks_exact_mut(3)
            .zip(independent.pixels.chunks_exact(3))
        {
            if next() % 1000 < per_mille {
                o.copy_from_slice(i);
                continue;
            }
            for v in o.iter_mut() {
                match next() % 200 {
                    0 => *v = v.saturating_add(1),
                    1 => *v = v.saturating_sub(1),
                    _ => {}
                }
            }
        }
        out
    }

    /// A whole frame rendered by plain Blender with the session's settings, with Cycles'
    /// developer options made effective and set by `python` (run with `c` =
    /// `scene.cycles`): a CPU kernel or BVH other than the default. (A .blend cannot do
    /// this: Cycles reads these options only when the user's preferences enable them.)
    fn developer_render(blender: &Blender, scene: &Path, frame: u32, python: &str) -> RgbImage {
        let dir = tempfile::tempdir().unwrap();
        let server = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/blender/server.py");
        let settings = serde_json::json!({
            "id": 0, "cmd": "render", "frame": frame, "width": CW, "height": CH,
            "region": [0, 0, CW, CH], "samples": CS, "seed": 0, "engine": "CYCLES",
            "device": "CPU", "threads": 2,
            "output": dir.path().join("frame_").to_str().unwrap(),
        });
        let expr = format!(
            "import bpy\np = bpy.context.preferences\np.experimental.use_cycles_debug = True\n\
             p.view.show_developer_ui = True\nc = bpy.context.scene.cycles\n{python}"
        );
        let run = Command::new(blender.path())
            .args(["-b", "--factory-startup", "-noaudio", "--disable-autoexec"])
            .arg(scene)
            .args(["--debug-cycles", "--python-expr", &expr, "--python"])
            .arg(&server)
            .args([
                "-f",
                &frame.to_string(),
                "--",
                "--apply",
                &settings.to_string(),
            ])
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&run.stderr).into_owned()
            + &String::from_utf8_lossy(&run.stdout);
        let used: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("CPU kernels") || l.contains("layout"))
            .collect();
        eprintln!("developer render {python:?}: {used:?}");
        let png = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "png"))
            .unwrap_or_else(|| panic!("no image: {log}"));
        let (width, height, pixels) = pictor_gpu::decode_png(&std::fs::read(png).unwrap()).unwrap();
        RgbImage {
            width,
            height,
            pixels,
        }
    }

    pub(super) fn run(blender: &Blender) {
        let dir = tempfile::tempdir().unwrap();
        let scene = make_scene(blender, dir.path(), "default");
        let moved = make_scene(blender, dir.path(), "moved");
        println!("Blender {}", blender.version().unwrap());
        cycles(blender, &scene, &moved);
        eevee(blender, &scene, &moved);
    }

    const MODEL_PER_MILLE: [u32; 5] = [1, 5, 10, 20, 50];

    fn cycles(blender: &Blender, scene: &Path, moved: &Path) {
        let cyc = BlenderEngine::Cycles;
        let req = |frame, r| request(cyc, frame, r);
        let t = Instant::now();
        let mut a = start(blender, scene);
        let started = t.elapsed();
        let mut b = start(blender, scene);
        let mut no_persist = BlenderSession::start(
            blender,
            scene,
            SessionOptions {
                persistent_data: false,
                ..SessionOptions::default()
            },
        )
        .unwrap();
        let mut other = start(blender, moved);
        let mut names: Vec<String> = [
            "(a) same region twice, same process",
            "(b) two processes",
            "(c) cut from the full frame",
            "(c) cut from a larger border render",
            "(d) 1 thread vs 2 threads",
            "(e) persistent data off vs on",
            "(f) plain `blender -f` frame, cut",
            "(g) SSE4.1 kernel vs AVX2 kernel",
            "(h) Cycles BVH2 (as CUDA uses) vs Embree",
            "(i) BVH2 + SSE4.1 vs Embree + AVX2",
            "another seed (independent noise)",
            "cheat: 1/2 the samples",
            "cheat: 1/4 the samples",
            "cheat: 8x8 block painted flat",
            "cheat: 16x16 block painted flat",
            "cheat: 16x16 block copied from its left",
            "cheat: another scene (sphere moved, cube recoloured)",
            "cheat: the next frame",
        ]
        .map(str::to_owned)
        .to_vec();
        for pm in MODEL_PER_MILLE {
            names.push(format!(
                "model: {:.1}% of pixels diverged + 1% of values off by one",
                f64::from(pm) / 10.0
            ));
        }
        let mut stats: Vec<Stats> = names.iter().map(|_| Stats::default()).collect();
        for frame in [1u32, 12] {
            let t = Instant::now();
            let full = a
                .render_region(&req(frame, rect(0, 0, CW, CH)), LIMIT)
                .unwrap();
            let in_session = t.elapsed();
            let t = Instant::now();
            let direct =
                render_frame_direct(blender, scene, &req(frame, rect(0, 0, CW, CH)), LIMIT)
                    .unwrap();
            eprintln!(
                "frame {frame}: session start {started:?}, full frame in session {in_session:?}, \
                 plain blender -f {:?}",
                t.elapsed()
            );
            let no_avx = "c.debug_use_cpu_avx2 = False\nc.debug_use_cpu_avx = False";
            let bvh2 = "c.debug_bvh_layout = 'BVH2'";
            let variants = [
                developer_render(blender, scene, frame, no_avx),
                developer_render(blender, scene, frame, bvh2),
                developer_render(blender, scene, frame, &format!("{no_avx}\n{bvh2}")),
            ];
            for r in REGIONS {
                let t = Instant::now();
                let reference = a.render_region(&req(frame, r), LIMIT).unwrap();
                eprintln!("frame {frame} region {r:?}: {:?}", t.elapsed());
                let mut with = |case: usize, img: &RgbImage| stats[case].add(&reference, img);
                with(0, &a.render_region(&req(frame, r), LIMIT).unwrap());
                with(1, &b.render_region(&req(frame, r), LIMIT).unwrap());
                with(2, &full.crop(r).unwrap());
                let (big, inner) = grown(r);
                let bigger = a.render_region(&req(frame, big), LIMIT).unwrap();
                with(3, &bigger.crop(inner).unwrap());
                let one_thread = RegionRequest {
                    threads: Some(1),
                    ..req(frame, r)
                };
                with(4, &a.render_region(&one_thread, LIMIT).unwrap());
                with(5, &no_persist.render_region(&req(frame, r), LIMIT).unwrap());
                with(6, &direct.crop(r).unwrap());
                for (i, v) in variants.iter().enumerate() {
                    with(7 + i, &v.crop(r).unwrap());
                }
                let seeded = RegionRequest {
                    seed: 1,
                    ..req(frame, r)
                };
                let independent = a.render_region(&seeded, LIMIT).unwrap();
                with(10, &independent);
                for (case, samples) in [(11, CS / 2), (12, CS / 4)] {
                    let cheap = RegionRequest {
                        samples,
                        ..req(frame, r)
                    };
                    with(case, &a.render_region(&cheap, LIMIT).unwrap());
                }
                with(13, &tamper(&reference, 8, false));
                with(14, &tamper(&reference, 16, false));
                with(15, &tamper(&reference, 16, true));
                with(16, &other.render_region(&req(frame, r), LIMIT).unwrap());
                with(17, &a.render_region(&req(frame + 1, r), LIMIT).unwrap());
                for (i, pm) in MODEL_PER_MILLE.into_iter().enumerate() {
                    with(18 + i, &diverged(&reference, &independent, pm));
                }
            }
        }
        print_table(
            &format!("Cycles CPU, {CW}x{CH}, {CS} samples, frames 1 and 12, regions {REGIONS:?}"),
            cyc,
            &names,
            &stats,
        );
        assert_eq!(a.process_starts(), 1);
    }

    fn eevee(blender: &Blender, scene: &Path, moved: &Path) {
        let ee = BlenderEngine::Eevee;
        let req = |frame, r| request(ee, frame, r);
        let mut a = start(blender, scene);
        let mut b = start(blender, scene);
        let mut other = start(blender, moved);
        let names = [
            "(a) same region twice, same process",
            "(b) two processes",
            "(c) cut from the full frame",
            "cheat: 1/4 the samples",
            "cheat: 16x16 block painted flat",
            "cheat: another scene",
            "cheat: the next frame",
        ]
        .map(str::to_owned);
        let mut stats: Vec<Stats> = names.iter().map(|_| Stats::default()).collect();
        let frame = 12;
        let t = Instant::now();
        let full = a
            .render_region(&req(frame, rect(0, 0, CW, CH)), LIMIT)
            .unwrap();
        eprintln!("eevee full frame {:?}", t.elapsed());
        for r in REGIONS {
            let reference = a.render_region(&req(frame, r), LIMIT).unwrap();
            let mut with = |case: usize, img: &RgbImage| stats[case].add(&reference, img);
            with(0, &a.render_region(&req(frame, r), LIMIT).unwrap());
            with(1, &b.render_region(&req(frame, r), LIMIT).unwrap());
            with(2, &full.crop(r).unwrap());
            let cheap = RegionRequest {
                samples: CS / 4,
                ..req(frame, r)
            };
            with(3, &a.render_region(&cheap, LIMIT).unwrap());
            with(4, &tamper(&reference, 16, false));
            with(5, &other.render_region(&req(frame, r), LIMIT).unwrap());
            with(6, &a.render_region(&req(frame + 1, r), LIMIT).unwrap());
        }
        print_table(
            &format!("EEVEE (Mesa, software OpenGL), {CW}x{CH}, {CS} samples, frame 12"),
            ee,
            &names,
            &stats,
        );
    }
}
