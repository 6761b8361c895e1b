//! End to end: a local network of real libp2p nodes (loopback TCP, noise, yamux,
//! gossipsub, request-response), each with its own sled database, renders a real scene;
//! the verified frames equal a direct render pixel for pixel.

use std::time::Duration;

use pictor_gpu::decode_png;
use pictor_node::render::{render_direct, render_network, RenderRequest, RenderSummary};
use pictor_tests::example_scene;

fn request(out: &std::path::Path, faulty_workers: usize) -> RenderRequest {
    RenderRequest {
        scene: example_scene("cornell-box.gltf"),
        engine: pictor_protocol::Engine::Builtin,
        blender_device: pictor_gpu::BlenderDevice::Cpu,
        frames: "1-2".parse().expect("frame range"),
        width: 96,
        height: 64,
        samples: 4,
        tile: 32,
        out: out.to_path_buf(),
        checkers: 4,
        workers: 3,
        faulty_workers,
        lazy_checkers: 0,
        equivocating_checkers: 0,
        canary_rate_ppm: 0,
        stall_timeout: Duration::from_secs(120),
        requirements: Default::default(),
        network: None,
        home: None,
        price_cap: 0,
        worker_prices: Vec::new(),
    }
}

fn pixels(path: &std::path::Path) -> (u32, u32, Vec<u8>) {
    let bytes = std::fs::read(path).expect("frame written");
    decode_png(&bytes).expect("frame decodes")
}

fn assert_same_frames(network: &RenderSummary, direct: &RenderSummary) {
    assert_eq!(network.frames.len(), 2, "both frames written");
    assert_eq!(direct.frames.len(), 2);
    for (n, d) in network.frames.iter().zip(&direct.frames) {
        assert_eq!(n.file_name(), d.file_name());
        let (nw, nh, np) = pixels(n);
        let (dw, dh, dp) = pixels(d);
        assert_eq!((nw, nh), (96, 64));
        assert_eq!((nw, nh), (dw, dh));
        let differing = np.iter().zip(&dp).filter(|(a, b)| a != b).count();
        assert_eq!(
            differing,
            0,
            "{} differs from the direct render",
            n.display()
        );
    }
    // The two frames differ: the box moves.
    assert_ne!(pixels(&network.frames[0]).2, pixels(&network.frames[1]).2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_render_is_pixel_identical_to_direct() {
    let dir = tempfile::tempdir().expect("tempdir");
    let direct = render_direct(&request(&dir.path().join("direct"), 0), |_| {}).expect("direct");
    let network = render_network(&request(&dir.path().join("network"), 0), |_| {})
        .await
        .expect("network render");
    assert_same_frames(&network, &direct);
    assert_eq!(network.shards, 2 * 3 * 2, "frames x tiles");
    assert_eq!(network.claims_rejected, 0);
    let accepted: u64 = network.workers.values().map(|w| w.accepted).sum();
    assert_eq!(accepted, network.shards);
    assert_eq!(network.committee_size, 4);
    // Every claim was attested by a quorum of the committee (3 of 4) at least.
    assert!(network.attestations >= 3 * network.shards);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_worker_is_caught_and_frames_stay_right() {
    let dir = tempfile::tempdir().expect("tempdir");
    let direct = render_direct(&request(&dir.path().join("direct"), 0), |_| {}).expect("direct");
    let network = render_network(&request(&dir.path().join("network"), 1), |_| {})
        .await
        .expect("network render");
    assert_same_frames(&network, &direct);
    assert!(
        network.claims_rejected >= 1,
        "the falsified claim is rejected: {network:?}"
    );
    let rejected: u64 = network.workers.values().map(|w| w.rejected).sum();
    assert_eq!(rejected, network.claims_rejected);
    let offenders = network.workers.values().filter(|w| w.rejected > 0).count();
    assert_eq!(offenders, 1, "only the faulty worker had claims rejected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_workers_within_the_price_cap_render() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Three workers, the second asking 100 credits per normalised render-second; the job
    // accepts at most 10.
    let mut req = request(dir.path(), 0);
    req.worker_prices = vec![1, 100, 1];
    req.price_cap = 10;
    let network = render_network(&req, |_| {}).await.expect("network render");
    assert_eq!(network.frames.len(), 2, "both frames written");
    let accepted: u64 = network.workers.values().map(|w| w.accepted).sum();
    assert_eq!(accepted, network.shards, "{:?}", network.workers);
    let busy = network.workers.values().filter(|w| w.accepted > 0).count();
    assert_eq!(
        busy, 2,
        "the dear worker got no shard: {:?}",
        network.workers
    );
}
