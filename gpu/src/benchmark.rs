//! The start-up benchmark: a fixed frame of the project's Cornell box rendered by the
//! built-in engine on all the threads given, scored in megasamples (camera paths) per
//! second.
//!
//! The scene is compiled into the binary, so every node measures exactly the same work.
//! Scene preparation and a small warm-up tile are not timed; the frame is rendered
//! [`BENCHMARK_PASSES`] times and the fastest pass scores, so that a moment of load from
//! another process does not sink the score. Because the built-in engine
//! is bit-exact, the benchmark image's blake3 is the same on every honest machine:
//! [`BenchmarkScore::image_blake3`] shows that the engine here renders correctly.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use crate::{
    render_tile, samples_traced, Rect, RenderError, RenderSettings, Scene, SceneBundle, SceneError,
};

/// The benchmark scene: `examples/scenes/cornell-box.gltf` (buffers embedded).
pub const BENCHMARK_SCENE_GLTF: &[u8] = include_bytes!("../../examples/scenes/cornell-box.gltf");

/// The benchmark scene's file name inside its bundle.
pub const BENCHMARK_SCENE_NAME: &str = "cornell-box.gltf";

/// The benchmark frame: 256×192 at 8 samples per pixel (393 216 samples; about 0.25 s on
/// two cores of a 2020s server CPU).
pub const BENCHMARK_SETTINGS: RenderSettings = RenderSettings {
    width: 256,
    height: 192,
    samples: 8,
    frame: 1,
};

/// Timed renders of the benchmark frame; the fastest one scores.
pub const BENCHMARK_PASSES: usize = 3;

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchmarkError {
    /// The embedded scene did not load (a build problem, never the machine's).
    #[error("benchmark scene: {0}")]
    Scene(#[from] SceneError),
    /// Rendering failed.
    #[error("benchmark render: {0}")]
    Render(#[from] RenderError),
    /// No thread pool of the requested size could be started.
    #[error("cannot start {threads} render threads: {reason}")]
    ThreadPool {
        /// Threads asked for.
        threads: usize,
        /// The pool builder's message.
        reason: String,
    },
}

/// What the benchmark measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchmarkScore {
    /// The score: million camera samples per second, all threads together.
    pub msamples_per_s: f64,
    /// Wall time of the fastest timed pass, seconds.
    pub seconds: f64,
    /// The benchmark scene's content id (blake3 of its bundle, hex).
    pub scene_id: String,
    /// Render threads used.
    pub threads: usize,
    /// Camera samples traced in one pass.
    pub samples: u64,
    /// blake3 of the rendered RGB8 pixels (hex): the same on every correct machine.
    pub image_blake3: String,
}

/// The benchmark scene, prepared for rendering.
pub fn benchmark_scene() -> Result<Scene, SceneError> {
    let mut files = BTreeMap::new();
    files.insert(
        BENCHMARK_SCENE_NAME.to_owned(),
        BENCHMARK_SCENE_GLTF.to_vec(),
    );
    let bundle = SceneBundle {
        main: BENCHMARK_SCENE_NAME.to_owned(),
        files,
    };
    Scene::from_bundle_bytes(&bundle.to_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Renders the benchmark frame on `threads` threads (0 means 1) and scores it.
///
/// Takes under a second on two idle cores, a few seconds on a busy machine; run it off
/// any async task.
pub fn run(threads: usize) -> Result<BenchmarkScore, BenchmarkError> {
    let threads = threads.max(1);
    let scene = benchmark_scene()?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("pictor-bench-{i}"))
        .build()
        .map_err(|e| BenchmarkError::ThreadPool {
            threads,
            reason: e.to_string(),
        })?;
    let settings = BENCHMARK_SETTINGS;
    let full = Rect {
        x: 0,
        y: 0,
        w: settings.width,
        h: settings.height,
    };
    let (pixels, seconds) = pool.install(|| {
        // Warm-up: page in the scene and start every thread.
        let warm = Rect {
            x: settings.width / 2,
            y: settings.height / 2,
            w: 16,
            h: 16,
        };
        render_tile(&scene, &settings, warm)?;
        let mut best = f64::INFINITY;
        let mut pixels = Vec::new();
        for _ in 0..BENCHMARK_PASSES {
            let start = Instant::now();
            pixels = render_tile(&scene, &settings, full)?;
            best = best.min(start.elapsed().as_secs_f64());
        }
        Ok::<_, RenderError>((pixels, best))
    })?;
    let samples = samples_traced(&settings, full);
    let seconds = seconds.max(1e-9);
    Ok(BenchmarkScore {
        msamples_per_s: samples as f64 / seconds / 1e6,
        seconds,
        scene_id: hex(&scene.id()),
        threads,
        samples,
        image_blake3: blake3::hash(&pixels).to_hex().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benchmark_scores_and_is_the_same_image_on_any_thread_count() {
        let two = run(2).unwrap();
        assert!(two.msamples_per_s > 0.0 && two.msamples_per_s.is_finite());
        assert_eq!(two.threads, 2);
        assert_eq!(two.samples, 256 * 192 * 8);
        assert_eq!(two.scene_id.len(), 64);
        let one = run(0).unwrap();
        assert_eq!(one.threads, 1);
        assert_eq!(one.image_blake3, two.image_blake3);
        assert_eq!(one.scene_id, two.scene_id);
    }

    #[test]
    fn embedded_scene_is_the_example_file() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/scenes")
            .join(BENCHMARK_SCENE_NAME);
        let from_disk = Scene::load(&path).unwrap();
        assert_eq!(from_disk.id(), benchmark_scene().unwrap().id());
    }
}
