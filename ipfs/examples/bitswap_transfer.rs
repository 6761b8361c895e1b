//! Moves a UnixFS file between two processes over Bitswap on loopback and prints MB/s.
//!
//! `cargo run --release -p pictor-ipfs --example bitswap_transfer [MiB]` (default 64): this
//! process imports random bytes and serves them; a child process (this binary again)
//! dials it, fetches the file with `Bitswap::get_file`, checks its blake3 and reports.

#[path = "../tests/common/mod.rs"]
mod common;

use std::{sync::Arc, time::Instant};

use common::{random_bytes, Node};
use pictor_ipfs::{
    unixfs::{self, DEFAULT_CHUNK_SIZE},
    BitswapConfig, Blockstore, Cid, MemoryBlockstore,
};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("fetch") {
        fetch(&args[2..]).await;
    } else {
        let mib: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);
        serve(mib).await;
    }
}

async fn serve(mib: usize) {
    let data = random_bytes(mib * 1024 * 1024, b"two processes");
    let (root, blocks) = unixfs::import(data.clone(), DEFAULT_CHUNK_SIZE).expect("import");
    let store = Arc::new(MemoryBlockstore::new());
    for block in &blocks {
        store.put(block).expect("memory store");
    }
    let mut node = Node::start().await;
    let _bitswap = node.bitswap(store, BitswapConfig::default());
    let exe = std::env::current_exe().expect("own path");
    let status = tokio::process::Command::new(exe)
        .args([
            "fetch".to_owned(),
            node.addr.to_string(),
            root.to_string(),
            data.len().to_string(),
            blake3::hash(&data).to_hex().to_string(),
        ])
        .status()
        .await
        .expect("child process");
    assert!(status.success(), "fetcher failed: {status}");
}

async fn fetch(args: &[String]) {
    let [addr, root, size, hash] = args else {
        panic!("usage: fetch ADDR ROOT SIZE BLAKE3");
    };
    let addr: libp2p::Multiaddr = addr.parse().expect("multiaddr");
    let root: Cid = root.parse().expect("root CID");
    let size: u64 = size.parse().expect("size");
    let Some(libp2p::multiaddr::Protocol::P2p(server)) = addr.iter().last() else {
        panic!("address without /p2p");
    };
    let mut node = Node::start().await;
    node.connect_to(addr.clone()).await;
    let bitswap = node.bitswap(Arc::new(MemoryBlockstore::new()), BitswapConfig::default());
    let start = Instant::now();
    let file = bitswap
        .get_file(&root, &[server], size)
        .await
        .expect("file fetched");
    let elapsed = start.elapsed();
    assert_eq!(
        blake3::hash(&file).to_hex().as_str(),
        hash,
        "content differs"
    );
    println!(
        "fetched {} MiB in {elapsed:.2?} between two processes: {:.0} MB/s",
        file.len() / (1024 * 1024),
        file.len() as f64 / elapsed.as_secs_f64() / 1e6
    );
}
