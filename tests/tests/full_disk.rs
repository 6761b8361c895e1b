//! A full disk: a node whose database sits on a small tmpfs is driven to fill it with
//! uploads over its HTTP port. The upload that does not fit is refused with an error that
//! says the disk is full; the node answers RPC all along, every file it accepted stays
//! readable (while the disk is completely full, and after a restart on the same home),
//! and once there is room again it takes uploads without a restart.
//!
//! Mounting a tmpfs needs root: outside CI the test skips when the mount fails; in CI
//! (which runs it as root) it fails instead.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use pictor_node::devnet::{Devnet, DevnetConfig};
use pictor_node::{spawn, NetworkParams, NodeConfig};
use pictor_protocol::Keypair;
use pictor_protocol::{ContentId, Engine, JobSpec, WorkerStatus};
use pictor_tests::disk::{fill_leaving, fill_up, Tmpfs};
use pictor_tests::skip_unless_ci;

/// The size of each upload: several fit before the disk is full.
const UPLOAD_BYTES: usize = 4 * 1024 * 1024;

/// One HTTP/1.1 request on a fresh connection: (status code, body).
fn http(addr: SocketAddr, method: &str, path: &str, token: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "a whole body: {head}"
    );
    (status, raw[split + 4..].to_vec())
}

/// A running node on `home` and what a user needs to reach it: its HTTP port and token.
struct Node {
    client: pictor_node::Client,
    http: SocketAddr,
    token: String,
}

impl Node {
    async fn start(home: &Path) -> Node {
        match Node::try_start(home).await {
            Ok(node) => node,
            Err(e) => panic!("the node starts: {e}"),
        }
    }

    async fn try_start(home: &Path) -> Result<Node, String> {
        let mut config = NodeConfig::new(
            home,
            NetworkParams::new("full-disk", vec![Keypair::from_seed([1; 32]).public()]),
        );
        config.keypair = Some(Keypair::from_seed([9; 32]));
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")];
        config.http = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        let (client, _) = spawn(config).map_err(|e| e.to_string())?;
        let http = client
            .status()
            .await
            .expect("status")
            .http
            .expect("HTTP port");
        let token = std::fs::read_to_string(home.join("rpc.token")).expect("token");
        Ok(Node {
            client,
            http,
            token: token.trim().to_owned(),
        })
    }

    /// `POST /upload`: the CID, or the status code and message of the refusal.
    fn upload(&self, bytes: &[u8]) -> Result<String, (u16, String)> {
        let (status, body) = http(self.http, "POST", "/upload", &self.token, bytes);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        match json["cid"].as_str() {
            Some(cid) if status == 200 => Ok(cid.to_owned()),
            _ => Err((status, String::from_utf8_lossy(&body).into_owned())),
        }
    }

    /// `GET /file/{cid}`: the whole file.
    fn file(&self, cid: &str) -> Vec<u8> {
        let (status, body) = http(self.http, "GET", &format!("/file/{cid}"), "", &[]);
        assert_eq!(
            status,
            200,
            "file {cid}: {}",
            String::from_utf8_lossy(&body)
        );
        body
    }

    /// The node answers JSON-RPC (`node_info`) with its network.
    fn answers_rpc(&self) {
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"node_info","params":{}}"#;
        let (status, body) = http(self.http, "POST", "/", &self.token, call);
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(status, 200, "{json}");
        assert_eq!(json["result"]["network"], "full-disk", "{json}");
    }

    async fn stop(self) {
        self.client.shutdown().await.expect("stop");
    }
}

/// `UPLOAD_BYTES` of pseudo-random bytes (incompressible, distinct per `seed`).
fn file_bytes(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..UPLOAD_BYTES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn assert_disk_full(refusal: &(u16, String)) {
    let (status, message) = refusal;
    assert_eq!(*status, 500, "{message}");
    assert!(message.contains("the disk is full"), "{message}");
    assert!(message.contains("nothing was written"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_uploads_clearly_and_loses_nothing() {
    let test = "a_full_disk_refuses_uploads_clearly_and_loses_nothing";
    // Room for some uploads above the database's reserve of free space.
    let reserve_mib = pictor_storage::MIN_FREE_BYTES / (1024 * 1024);
    let disk = match Tmpfs::mount(reserve_mib + 40) {
        Ok(disk) => disk,
        Err(reason) => return skip_unless_ci(test, &reason),
    };
    let home = disk.mount.join("home");
    let node = Node::start(&home).await;

    // Uploads until one is refused.
    let mut accepted: Vec<(String, Vec<u8>)> = Vec::new();
    let refusal = loop {
        let bytes = file_bytes(accepted.len() as u64 + 1);
        match node.upload(&bytes) {
            Ok(cid) => accepted.push((cid, bytes)),
            Err(refusal) => break refusal,
        }
        assert!(accepted.len() < 40, "the disk never filled up");
    };
    assert!(accepted.len() >= 2, "{} uploads fit", accepted.len());
    assert_disk_full(&refusal);
    node.answers_rpc();
    for (cid, bytes) in &accepted {
        assert!(node.file(cid) == *bytes, "file {cid} reads back whole");
    }

    // Another program takes every byte left: the node still answers, reads and refuses.
    let filler = fill_up(&disk.mount);
    assert_disk_full(&node.upload(&file_bytes(1000)).expect_err("no room"));
    node.answers_rpc();
    for (cid, bytes) in &accepted {
        assert!(node.file(cid) == *bytes, "file {cid} reads back whole");
    }

    // Stopped while the disk is completely full, the node cannot start again (its
    // database writes when it opens): it says so in one line, and loses nothing.
    node.stop().await;
    let refused = Node::try_start(&home)
        .await
        .err()
        .expect("no room to start");
    assert!(
        refused.contains("the disk is full") && refused.contains("free some space"),
        "{refused}"
    );
    assert!(!refused.contains('\n'), "one line: {refused}");

    // A restart on the same home (the filler gone, the disk still under the reserve).
    std::fs::remove_file(&filler).expect("remove the filler");
    let node = Node::start(&home).await;
    node.answers_rpc();
    for (cid, bytes) in &accepted {
        assert!(
            node.file(cid) == *bytes,
            "file {cid} reads back whole after the restart"
        );
    }
    assert_disk_full(&node.upload(&file_bytes(1001)).expect_err("still no room"));

    // Room again: the same running node takes the upload it refused.
    disk.resize(reserve_mib + 80);
    let bytes = file_bytes(1001);
    let cid = node.upload(&bytes).expect("an upload once there is room");
    assert!(node.file(&cid) == bytes);
    node.answers_rpc();
    node.stop().await;
}

/// A local network of real nodes (in this process) under `root`, durable databases.
fn devnet_config(root: &Path) -> DevnetConfig {
    DevnetConfig {
        job_retention: Duration::from_secs(3600),
        durable: true,
        ..DevnetConfig::plain(root, 4, 2)
    }
}

fn cornell_box() -> Vec<u8> {
    pictor_gpu::SceneBundle::from_path(&pictor_tests::example_scene("cornell-box.gltf"))
        .expect("scene")
        .to_bytes()
}

/// A built-in job of the devnet's creator on `bundle`: `frames` at `size`, `samples` per
/// pixel, tiles of `tile`.
fn cornell_job(
    devnet: &Devnet,
    bundle: &[u8],
    frames: &str,
    size: (u32, u32),
    samples: u32,
    tile: u32,
    nonce: u64,
) -> JobSpec {
    JobSpec {
        creator: devnet.creator_key.public(),
        scene: ContentId::of(bundle),
        scene_name: "cornell-box.gltf".into(),
        engine: Engine::Builtin,
        frames: frames.parse().expect("frames"),
        width: size.0,
        height: size.1,
        samples,
        tile,
        price_cap: 0,
        nonce,
        epoch: 0,
    }
}

/// A creator whose disk has room for the job's messages but not for its frames: every
/// shard is verified, the job waits (it does not fail), and once there is room the same
/// running node stores the frames it kept and the job completes with all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_without_room_for_its_frames_keeps_them_and_stores_them_once_there_is_room() {
    let test =
        "a_creator_without_room_for_its_frames_keeps_them_and_stores_them_once_there_is_room";
    let root = tempfile::tempdir().expect("tempdir");
    let reserve = pictor_storage::MIN_FREE_BYTES;
    let disk = match Tmpfs::mount_on(&root.path().join("creator"), reserve / (1024 * 1024) + 48) {
        Ok(disk) => disk,
        Err(reason) => return skip_unless_ci(test, &reason),
    };
    let devnet = Devnet::start(&devnet_config(root.path()))
        .await
        .expect("devnet");
    let bundle = cornell_box();
    // A noisy frame of 1664×832 (1 sample a pixel) is a PNG of about 4 MB, made of 2
    // tiles of the largest size (832×832, 2 MB each).
    let (width, height) = (1664, 832);
    let tile = pictor_protocol::job::limits::MAX_TILE;
    let spec = cornell_job(&devnet, &bundle, "1", (width, height), 1, tile, 1);
    let job = devnet.creator.submit(spec, bundle).await.expect("submit");
    // Another program leaves the creator 1.9 MiB above its database's reserve: room for
    // the job's messages and records, not for a tile (the creator keeps the tiles it
    // fetches where it can, and goes on without where it cannot) nor for the frame.
    let room = 19 * 1024 * 1024 / 10;
    let filler = fill_leaving(&disk.mount, reserve + room);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let progress = || async { devnet.creator.job(job).await.expect("job").expect("known") };
    loop {
        let now = progress().await;
        assert!(!now.state.is_finished(), "{now:?}");
        if now.verified == now.shards {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every shard verified, the frame not stored, and the job goes on waiting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let waiting = progress().await;
    assert!(!waiting.state.is_finished(), "{waiting:?}");
    assert!(waiting.frame_cids.is_empty(), "{waiting:?}");

    // Room again: the same node stores the frames it kept; the job completes.
    std::fs::remove_file(&filler).expect("remove the filler");
    let done = pictor_tests::finished(&devnet.creator, job, deadline).await;
    assert_eq!(done.state, pictor_node::JobState::Complete, "{done:?}");
    assert_eq!(done.frame_cids.len(), 1, "{done:?}");
    for cid in done.frame_cids.values() {
        let png = devnet
            .creator
            .get_file(cid.parse().expect("cid"), Vec::new(), 1 << 26)
            .await
            .expect("the creator holds the frame");
        assert!(png.len() as u64 > room, "a frame of {} bytes", png.len());
        let (w, h, _) = pictor_gpu::decode_png(&png).expect("a PNG");
        assert_eq!((w, h), (width, height));
    }
    devnet.shutdown().await;
}

/// A worker whose disk has no room for a shard's output goes quiet: the checkers see it
/// Offline and a job is rendered by the other worker; once there is room it is Idle again
/// by itself and takes shards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_room_goes_offline_and_comes_back_once_there_is_room() {
    let test = "a_worker_without_room_goes_offline_and_comes_back_once_there_is_room";
    let root = tempfile::tempdir().expect("tempdir");
    let reserve = pictor_storage::MIN_FREE_BYTES;
    let disk = match Tmpfs::mount_on(&root.path().join("worker-1"), reserve / (1024 * 1024) + 24) {
        Ok(disk) => disk,
        Err(reason) => return skip_unless_ci(test, &reason),
    };
    let devnet = Devnet::start(&devnet_config(root.path()))
        .await
        .expect("devnet");
    let worker = devnet
        .nodes
        .iter()
        .find(|n| n.home == disk.mount)
        .map(|n| n.key.to_string())
        .expect("the worker on the small disk");
    let checker = devnet.nodes[0].client.clone();
    let status_of = |key: String| {
        let checker = checker.clone();
        async move {
            let network = checker.network().await.expect("the checker's view");
            network
                .workers
                .iter()
                .find(|(_, view)| view.key == key)
                .map(|(status, view)| (*status, view.claimed))
        }
    };
    let wait_for = |want: WorkerStatus| {
        let (status_of, worker) = (&status_of, worker.clone());
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                let now = status_of(worker.clone()).await;
                if now.is_some_and(|(status, _)| status == want) {
                    return now.map_or(0, |(_, claimed)| claimed);
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{now:?}, waiting for {want:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_for(WorkerStatus::Idle).await;

    // Another program takes the worker's room: it goes quiet, and is seen Offline.
    let filler = fill_up(&disk.mount);
    let claimed_before = wait_for(WorkerStatus::Offline).await;
    let bundle = cornell_box();
    let spec = |nonce| cornell_job(&devnet, &bundle, "1-2", (64, 48), 2, 16, nonce);
    let net = &devnet;
    let complete = |job| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let done = pictor_tests::finished(&net.creator, job, deadline).await;
        assert_eq!(done.state, pictor_node::JobState::Complete, "{done:?}");
    };
    let job = devnet
        .creator
        .submit(spec(1), bundle.clone())
        .await
        .expect("submit");
    complete(job).await;
    let quiet = status_of(worker.clone()).await;
    assert_eq!(
        quiet.map(|(_, claimed)| claimed),
        Some(claimed_before),
        "no claims while it has no room"
    );

    // Room again: it comes back by itself and renders.
    std::fs::remove_file(&filler).expect("remove the filler");
    wait_for(WorkerStatus::Idle).await;
    let job = devnet
        .creator
        .submit(spec(2), bundle)
        .await
        .expect("submit");
    complete(job).await;
    devnet.shutdown().await;
}
