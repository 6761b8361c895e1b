//! What answering a checker's row request costs a worker (read the output block from the
//! store, prove the sampled rows): with the bao outboard stored beside the block (read
//! it), against computing it from the block on every request (hash the whole block), at
//! the tile edges a job may use (128, 256 and the largest, 832) and the 27 rows a checker
//! of a committee of four samples.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pictor_protocol::{proof, ContentId, TileImage};
use pictor_storage::Store;

fn tile(edge: u32) -> Vec<u8> {
    let pixels = (0..edge * edge * 3).map(|i| (i * 7 % 251) as u8).collect();
    TileImage {
        width: edge,
        height: edge,
        pixels,
    }
    .to_block()
}

fn answer(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open_unsynced(dir.path()).expect("a store");
    let mut group = c.benchmark_group("answer_rows");
    for edge in [128u32, 256, 832] {
        let id: ContentId = store.put_tile_block(&tile(edge)).expect("stored");
        let rows: Vec<u32> = (0..27).map(|i| i * (edge - 1) / 26).collect();
        group.bench_with_input(BenchmarkId::new("computed", edge), &rows, |b, rows| {
            b.iter(|| {
                let block = store.get_block(&id).expect("read").expect("held");
                proof::prove_rows(&block, edge, rows).expect("proof")
            })
        });
        group.bench_with_input(BenchmarkId::new("stored", edge), &rows, |b, rows| {
            b.iter(|| {
                let tile = store.tile_block(&id).expect("read").expect("held");
                proof::prove_rows_with(&tile.bytes, &tile.outboard, edge, rows).expect("proof")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, answer);
criterion_main!(benches);
