//! Throughput of the built-in engine on the project's Cornell box.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pictor_gpu::{render_tile, samples_traced, Rect, RenderSettings, Scene};

fn cornell(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scenes/cornell-box.gltf");
    let scene = match Scene::load(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipping: cannot load {}: {e}", path.display());
            return;
        }
    };
    let settings = RenderSettings {
        width: 256,
        height: 256,
        samples: 4,
        frame: 1,
    };
    let rect = Rect {
        x: 64,
        y: 64,
        w: 64,
        h: 64,
    };
    let mut group = c.benchmark_group("cornell-box");
    group.sample_size(10);
    group.throughput(Throughput::Elements(samples_traced(&settings, rect)));
    group.bench_function("tile 64x64, 4 spp (elements = samples)", |b| {
        b.iter(|| render_tile(&scene, &settings, rect))
    });
    group.finish();
}

criterion_group!(benches, cornell);
criterion_main!(benches);
