//! Moves a 64 MiB UnixFS file between two swarms (TCP + noise + yamux on loopback, one
//! process) with `Bitswap::get_file`. Two processes: `examples/bitswap_transfer.rs`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::{random_bytes, Node};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pictor_ipfs::{
    unixfs::{self, DEFAULT_CHUNK_SIZE},
    BitswapConfig, Blockstore, MemoryBlockstore,
};

const SIZE: usize = 64 * 1024 * 1024;

fn transfer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let data = random_bytes(SIZE, b"bench");
    let (root, blocks) = unixfs::import(data, DEFAULT_CHUNK_SIZE).expect("import");

    let mut group = c.benchmark_group("bitswap");
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("get_file_64MiB_loopback", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // Fresh nodes each time, so the client's store starts empty.
                    let mut server = Node::start().await;
                    let mut client = Node::start().await;
                    client.connect(&mut server).await;
                    let server_store = Arc::new(MemoryBlockstore::new());
                    for block in &blocks {
                        server_store.put(block).expect("memory store");
                    }
                    let _server = server.bitswap(server_store, BitswapConfig::default());
                    let fetcher =
                        client.bitswap(Arc::new(MemoryBlockstore::new()), BitswapConfig::default());
                    let start = Instant::now();
                    let file = fetcher
                        .get_file(&root, &[server.peer_id], SIZE as u64)
                        .await
                        .expect("file fetched");
                    let elapsed = start.elapsed();
                    assert_eq!(file.len(), SIZE);
                    println!(
                        "64 MiB in {elapsed:.2?}: {:.0} MB/s",
                        SIZE as f64 / elapsed.as_secs_f64() / 1e6
                    );
                    total += elapsed;
                }
                total
            })
        })
    });
    group.finish();
}

criterion_group!(benches, transfer);
criterion_main!(benches);
