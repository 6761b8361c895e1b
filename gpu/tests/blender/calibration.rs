//! The measurements behind `Thresholds::for_blender` (the ignored test `calibrate`).

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
    let log =
        String::from_utf8_lossy(&run.stderr).into_owned() + &String::from_utf8_lossy(&run.stdout);
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
            render_frame_direct(blender, scene, &req(frame, rect(0, 0, CW, CH)), LIMIT).unwrap();
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
