//! Checkers that cheat, over real sockets: a local network of real libp2p nodes where one
//! checker of four attests without checking (lazy) or signs conflicting votes
//! (equivocating). The frames stay right, the faulty checker is banned with what was found
//! against it, and no honest checker is.

use std::time::Duration;

use pictor_gpu::decode_png;
use pictor_node::render::{render_direct, render_network, RenderRequest, RenderSummary};
use pictor_protocol::CheckerStatus;
use pictor_tests::example_scene;

fn request(
    out: &std::path::Path,
    faulty_workers: usize,
    lazy: usize,
    equivocating: usize,
) -> RenderRequest {
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
        lazy_checkers: lazy,
        equivocating_checkers: equivocating,
        canary_rate_ppm: 0,
        stall_timeout: Duration::from_secs(120),
        requirements: Default::default(),
        network: None,
        home: None,
        price_cap: 0,
        worker_prices: Vec::new(),
    }
}

fn same_frames(network: &RenderSummary, direct: &RenderSummary) {
    assert_eq!(network.frames.len(), direct.frames.len());
    for (n, d) in network.frames.iter().zip(&direct.frames) {
        let n = decode_png(&std::fs::read(n).expect("frame")).expect("decodes");
        let d = decode_png(&std::fs::read(d).expect("frame")).expect("decodes");
        assert_eq!(n, d, "a network frame differs from the direct render");
    }
}

fn assert_caught(summary: &RenderSummary, behaviour: &str, finding: &str) {
    assert_eq!(
        summary.checker_report.len(),
        4,
        "{:?}",
        summary.checker_report
    );
    assert!(summary.checker_report.iter().all(|c| c.on_committee));
    for c in &summary.checker_report {
        if c.behaviour == behaviour {
            assert_eq!(c.status, CheckerStatus::Banned, "{c:?}");
            assert!(
                c.findings.iter().any(|f| f.contains(finding)),
                "the {behaviour} checker's findings name {finding}: {c:?}"
            );
        } else {
            assert_eq!(c.behaviour, "honest");
            assert_ne!(
                c.status,
                CheckerStatus::Banned,
                "honest checker banned: {c:?}"
            );
            assert!(c.findings.is_empty(), "{c:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_checker_is_caught_when_a_cheating_worker_tests_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let direct =
        render_direct(&request(&dir.path().join("direct"), 0, 0, 0), |_| {}).expect("direct");
    let network = render_network(&request(&dir.path().join("network"), 1, 1, 0), |_| {})
        .await
        .expect("network render");
    same_frames(&network, &direct);
    assert!(
        network.claims_rejected >= 1,
        "the cheating worker was caught"
    );
    assert_caught(&network, "lazy", "false attestation");
}

/// Every worker honest: only canaries (forced errors the workers make on purpose and
/// reveal once rejected) give the lazy checker a wrong claim to vouch for. At a rate of
/// one half, a job of 12 shards has none with probability 1/4096.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_checker_is_caught_by_canaries_when_every_worker_is_honest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let direct =
        render_direct(&request(&dir.path().join("direct"), 0, 0, 0), |_| {}).expect("direct");
    let mut req = request(&dir.path().join("network"), 0, 1, 0);
    req.canary_rate_ppm = pictor_protocol::canary::PPM / 2;
    let network = render_network(&req, |_| {}).await.expect("network render");
    same_frames(&network, &direct);
    assert!(network.claims_rejected >= 1, "canaries were rejected");
    for (worker, tally) in &network.workers {
        assert_eq!(
            tally.rejected, tally.canaries,
            "every rejection of worker {worker} was its canary, revealed: {tally:?}"
        );
    }
    assert_caught(&network, "lazy", "false attestation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_checker_is_banned_by_its_own_evidence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let direct =
        render_direct(&request(&dir.path().join("direct"), 0, 0, 0), |_| {}).expect("direct");
    let network = render_network(&request(&dir.path().join("network"), 0, 0, 1), |_| {})
        .await
        .expect("network render");
    same_frames(&network, &direct);
    assert_eq!(network.claims_rejected, 0);
    assert_caught(&network, "equivocating", "equivocation");
}

/// Thirteen checkers, three workers and a creator: more peers on one address (loopback)
/// than gossipsub tolerates by default before it scores them down and ignores their
/// subscriptions. The network forms, and its frames are right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_network_of_thirteen_checkers_forms_and_renders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let direct =
        render_direct(&request(&dir.path().join("direct"), 0, 0, 0), |_| {}).expect("direct");
    let mut big = request(&dir.path().join("network"), 0, 0, 0);
    big.checkers = 13;
    big.stall_timeout = Duration::from_secs(60);
    let network = render_network(&big, |_| {})
        .await
        .expect("a network of 17 nodes on loopback forms and renders");
    same_frames(&network, &direct);
    assert_eq!(network.checker_report.len(), 13);
    // The report says which checkers the job's committee drew (the rest attested nothing).
    let on_committee = network
        .checker_report
        .iter()
        .filter(|c| c.on_committee)
        .count();
    assert_eq!(on_committee, network.committee_size, "{network:?}");
    assert!(network
        .checker_report
        .iter()
        .all(|c| c.status != CheckerStatus::Banned && c.findings.is_empty()));
}
