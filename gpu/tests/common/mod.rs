//! Shared helpers for the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use pictor_gpu::{render_frame, RenderSettings, Scene};

/// A shared public model, or `None` (with a note) when the shared folder is absent.
pub fn shared_model(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/assets/gltf")
        .join(name);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipping: shared model {} is not available", p.display());
        None
    }
}

/// One of the project's example scenes.
pub fn example_scene(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/scenes")
        .join(name)
}

pub fn settings(width: u32, height: u32, samples: u32, frame: u32) -> RenderSettings {
    RenderSettings {
        width,
        height,
        samples,
        frame,
    }
}

/// Renders the whole image, panicking with the error message on failure (tests only).
pub fn render(scene: &Scene, s: RenderSettings) -> Vec<u8> {
    match render_frame(scene, &s) {
        Ok(v) => v,
        Err(e) => panic!("render failed: {e}"),
    }
}

pub fn load(path: &std::path::Path) -> Scene {
    match Scene::load(path) {
        Ok(s) => s,
        Err(e) => panic!("cannot load {}: {e}", path.display()),
    }
}

/// Difference between the brightest and darkest pixel (sum of RGB).
pub fn contrast(rgb: &[u8]) -> u32 {
    let sums: Vec<u32> = rgb
        .chunks_exact(3)
        .map(|p| p.iter().map(|&c| u32::from(c)).sum())
        .collect();
    sums.iter().max().copied().unwrap_or(0) - sums.iter().min().copied().unwrap_or(0)
}

pub fn mean(rgb: &[u8]) -> [f64; 3] {
    let n = (rgb.len() / 3).max(1) as f64;
    let mut m = [0.0; 3];
    for p in rgb.chunks_exact(3) {
        for c in 0..3 {
            m[c] += f64::from(p[c]) / n;
        }
    }
    m
}
