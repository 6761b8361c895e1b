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
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pictor_node::{spawn, NetworkParams, NodeConfig};
use pictor_protocol::Keypair;
use pictor_tests::skip_unless_ci;

/// The size of each upload: several fit before the disk is full.
const UPLOAD_BYTES: usize = 4 * 1024 * 1024;

/// A tmpfs mounted on a fresh directory, unmounted when dropped (a failed test too).
struct Tmpfs {
    _dir: Option<tempfile::TempDir>,
    mount: PathBuf,
}

impl Tmpfs {
    fn mount(size_mib: u64) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut disk = Tmpfs::mount_on(&dir.path().join("disk"), size_mib)?;
        disk._dir = Some(dir);
        Ok(disk)
    }

    /// A tmpfs on a new directory `mount`.
    fn mount_on(mount: &Path, size_mib: u64) -> Result<Tmpfs, String> {
        let mount = mount.to_path_buf();
        std::fs::create_dir(&mount).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(&mount)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { _dir: None, mount })
    }

    /// Grows (or shrinks) the file system in place: what it holds stays.
    fn resize(&self, size_mib: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size_mib}m")])
            .arg(&self.mount)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount to {size_mib} MiB failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.mount)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a node that did not stop): detach it now, free it when unused.
            let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
        }
    }
}

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

/// Writes a file on `dir` until the file system has no byte left.
fn fill_up(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0xa5u8; 1024 * 1024];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    let _ = file.sync_all();
    path
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

/// Fills `dir`'s file system up, then gives `leave` bytes back: the disk has exactly that
/// much room left.
fn fill_leaving(dir: &Path, leave: u64) -> PathBuf {
    let path = fill_up(dir);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("the filler");
    let len = file.metadata().expect("its size").len();
    file.set_len(len.saturating_sub(leave)).expect("shrink it");
    path
}

/// A creator whose disk has room for the job's messages but not for its frames: every
/// shard is verified, the job waits (it does not fail), and once there is room the same
/// running node stores the frames it kept and the job completes with all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_without_room_for_its_frames_keeps_them_and_stores_them_once_there_is_room() {
    use pictor_node::devnet::{Devnet, DevnetConfig};
    use pictor_protocol::{ContentId, Engine, JobSpec};

    let test =
        "a_creator_without_room_for_its_frames_keeps_them_and_stores_them_once_there_is_room";
    let root = tempfile::tempdir().expect("tempdir");
    let reserve = pictor_storage::MIN_FREE_BYTES;
    let disk = match Tmpfs::mount_on(&root.path().join("creator"), reserve / (1024 * 1024) + 48) {
        Ok(disk) => disk,
        Err(reason) => return skip_unless_ci(test, &reason),
    };
    let devnet = Devnet::start(&DevnetConfig {
        checkers: 4,
        workers: 2,
        faulty_workers: 0,
        lazy_checkers: 0,
        equivocating_checkers: 0,
        root: root.path().to_path_buf(),
        form_timeout: Duration::from_secs(60),
        blender_device: pictor_gpu::BlenderDevice::Cpu,
        requirements: Default::default(),
        job_retention: Duration::from_secs(3600),
        blender: false,
        durable: true,
        committee: None,
        canary_rate_ppm: 0,
        ban_cooldown: None,
    })
    .await
    .expect("devnet");
    let bundle =
        pictor_gpu::SceneBundle::from_path(&pictor_tests::example_scene("cornell-box.gltf"))
            .expect("scene")
            .to_bytes();
    // A noisy frame of 1664×832 (1 sample a pixel) is a PNG of about 4 MB, made of 2
    // tiles of the largest size (832×832, 2 MB each).
    let (width, height) = (1664, 832);
    let spec = JobSpec {
        creator: devnet.creator_key.public(),
        scene: ContentId::of(&bundle),
        scene_name: "cornell-box.gltf".into(),
        engine: Engine::Builtin,
        frames: "1".parse().expect("frames"),
        width,
        height,
        samples: 1,
        tile: pictor_protocol::job::limits::MAX_TILE,
        price_cap: 0,
        nonce: 1,
        epoch: 0,
    };
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
    let done = loop {
        let now = progress().await;
        if now.state.is_finished() {
            break now;
        }
        assert!(tokio::time::Instant::now() < deadline, "{now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
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
