//! Renders a glTF scene to a PNG with the built-in engine.
//!
//! `cargo run -p pictor-gpu --example render -- SCENE OUT.png [WIDTH HEIGHT SAMPLES FRAME]`

use std::path::PathBuf;
use std::time::Instant;

use pictor_gpu::{encode_png, render_frame, samples_traced, Rect, RenderSettings, Scene};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: render SCENE OUT.png [WIDTH HEIGHT SAMPLES FRAME]");
        std::process::exit(2);
    }
    let num = |i: usize, default: u32| -> Result<u32, std::num::ParseIntError> {
        args.get(i).map_or(Ok(default), |s| s.parse())
    };
    let settings = RenderSettings {
        width: num(2, 256)?,
        height: num(3, 256)?,
        samples: num(4, 16)?,
        frame: num(5, 1)?,
    };
    let t = Instant::now();
    let scene = Scene::load(&PathBuf::from(&args[0]))?;
    eprintln!("loaded {scene:?} in {:.2?}", t.elapsed());
    let t = Instant::now();
    let rgb = render_frame(&scene, &settings)?;
    let secs = t.elapsed().as_secs_f64();
    let samples = samples_traced(
        &settings,
        Rect {
            x: 0,
            y: 0,
            w: settings.width,
            h: settings.height,
        },
    );
    let threads = rayon::current_num_threads();
    eprintln!(
        "rendered {}x{} at {} spp in {secs:.2} s: {:.3} Msamples/s, {:.3} Msamples/s/core ({threads} threads)",
        settings.width,
        settings.height,
        settings.samples,
        samples as f64 / secs / 1e6,
        samples as f64 / secs / 1e6 / threads as f64
    );
    std::fs::write(&args[1], encode_png(settings.width, settings.height, &rgb)?)?;
    Ok(())
}
