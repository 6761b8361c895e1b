//! IPFS interop against helia (a real IPFS implementation from npm, run by Node 22 from
//! `tests/interop/helia/peer.mjs`) over TCP + noise + yamux on loopback:
//!
//! - helia fetches a rendered frame from a running Pictor node by CID through Bitswap
//!   and gets identical bytes (one raw block, and a chunked UnixFS file);
//! - a Pictor node fetches what helia holds (helia's default sha2-256 raw block, and a
//!   blake3 UnixFS file built by helia's side);
//! - the node's trustless gateway answers for the same CID.
//!
//! Skipped, with the reason printed, until `scripts/setup-interop.sh` has installed
//! Node 22 and the npm packages.

use std::{
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    time::Duration,
};

use libp2p::{Multiaddr, PeerId};
use pictor_gpu::{encode_png, render_frame, RenderSettings, Scene, SceneBundle};
use pictor_node::{spawn, NetworkParams, NodeConfig, Roles};
use pictor_protocol::Keypair;
use pictor_tests::{example_scene, repo_root, tcp_dial_addr};

fn harness() -> Option<(PathBuf, PathBuf)> {
    let dir = repo_root().join("tests").join("interop").join("helia");
    let node = match std::fs::read_to_string(dir.join(".node-path")) {
        Ok(path) => PathBuf::from(path.trim()),
        Err(_) => {
            pictor_tests::skip_unless_ci(
                "the helia interop test",
                "the harness is not installed (run scripts/setup-interop.sh)",
            );
            return None;
        }
    };
    if !node.is_file() || !dir.join("node_modules").is_dir() {
        pictor_tests::skip_unless_ci(
            "the helia interop test",
            &format!(
                "{} or node_modules is missing (run scripts/setup-interop.sh)",
                node.display()
            ),
        );
        return None;
    }
    Some((node, dir.join("peer.mjs")))
}

/// A rendered frame as PNG bytes, `w`×`h`, from the example Cornell box.
fn rendered_frame(w: u32, h: u32) -> Vec<u8> {
    let bundle = SceneBundle::from_path(&example_scene("cornell-box.gltf"))
        .expect("scene")
        .to_bytes();
    let scene = Scene::from_bundle_bytes(&bundle).expect("scene parses");
    let rgb = render_frame(
        &scene,
        &RenderSettings {
            width: w,
            height: h,
            samples: 2,
            frame: 1,
        },
    )
    .expect("render");
    encode_png(w, h, &rgb).expect("png")
}

fn node_config(home: &Path) -> NodeConfig {
    NodeConfig {
        home: home.to_path_buf(),
        network: NetworkParams::new("interop", vec![Keypair::from_seed([1; 32]).public()]),
        roles: Roles::default(),
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
        bootnodes: Vec::new(),
        keypair: Some(Keypair::from_seed([7; 32])),
        events: false,
        http: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        http_limits: Default::default(),
        blender_pool: None,
        job_retention: pictor_node::DEFAULT_JOB_RETENTION,
        durable: true,
        swarm: Default::default(),
    }
}

fn json_field(line: &str, key: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    match &v[key] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) => a.first().and_then(|x| x.as_str()).map(str::to_owned),
        _ => None,
    }
}

/// helia fetches `cid` from the Pictor node at `peer` into a file; returns its bytes.
async fn helia_fetch(node: &Path, script: &Path, peer: &str, cid: &str, dir: &Path) -> Vec<u8> {
    let out = dir.join(format!("fetched-{cid}"));
    let mut cmd = tokio::process::Command::new(node);
    cmd.arg(script)
        .args([
            "fetch",
            "--peer",
            peer,
            "--cid",
            cid,
            "--timeout-ms",
            "30000",
            "--out",
        ])
        .arg(&out)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("helia fetch finishes")
        .expect("node runs");
    assert!(
        output.status.success(),
        "helia fetch failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(&out).expect("helia wrote the file")
}

/// helia serving `bytes`; lives until dropped.
struct HeliaServer {
    child: Child,
    _stdin: ChildStdin,
    cid: String,
    addr: Multiaddr,
    peer: PeerId,
}

impl Drop for HeliaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn helia_serve(node: &Path, script: &Path, file: &Path, args: &[&str]) -> HeliaServer {
    let mut child = Command::new(node)
        .arg(script)
        .arg("serve")
        .arg("--bytes")
        .arg(file)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("\"ready\"") {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("helia serve is ready");
    let cid = json_field(&line, "cid").expect("cid");
    let addr: Multiaddr = json_field(&line, "multiaddrs")
        .expect("multiaddr")
        .parse()
        .expect("multiaddr parses");
    let peer: PeerId = json_field(&line, "peer_id")
        .expect("peer id")
        .parse()
        .expect("peer id parses");
    HeliaServer {
        child,
        _stdin: stdin,
        cid,
        addr,
        peer,
    }
}

/// A raw GET of the gateway, returning (status line, headers, body).
fn http_get(addr: std::net::SocketAddr, path: &str, accept: &str) -> (String, String, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect gateway");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .expect("write request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, head, raw[split + 4..].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helia_and_pictor_exchange_blocks_and_files_over_bitswap() {
    let Some((node, script)) = harness() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (client, _) = spawn(node_config(&dir.path().join("pictor"))).expect("node starts");
    let peer = tcp_dial_addr(&client).await.to_string();

    // A rendered frame, small enough for one block: CIDv1 raw blake3.
    let small = rendered_frame(160, 120);
    let small_cid = client.add_file(small.clone()).await.expect("add frame");
    assert_eq!(small_cid.codec(), 0x55, "one raw block");
    let got = helia_fetch(&node, &script, &peer, &small_cid.to_string(), dir.path()).await;
    assert!(got == small, "helia got the frame's exact bytes");

    // A larger file (a frame followed by 3 MiB of pseudo-random bytes): chunked UnixFS.
    let mut big = rendered_frame(320, 240);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    big.extend((0..3 * 1024 * 1024).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 24) as u8
    }));
    let big_cid = client.add_file(big.clone()).await.expect("add file");
    assert_eq!(big_cid.codec(), 0x70, "a dag-pb UnixFS root");
    let got = helia_fetch(&node, &script, &peer, &big_cid.to_string(), dir.path()).await;
    assert!(got == big, "helia got the whole UnixFS file");

    // The trustless gateway serves the frame's block for the same CID.
    let http = client
        .status()
        .await
        .expect("status")
        .http
        .expect("gateway");
    let (status, head, body) = http_get(
        http,
        &format!("/ipfs/{small_cid}"),
        "application/vnd.ipld.raw",
    );
    assert!(status.contains("200"), "{status}");
    assert!(head
        .to_ascii_lowercase()
        .contains("application/vnd.ipld.raw"));
    assert!(body == small);

    // Pictor fetches from helia: helia's default (sha2-256) raw block...
    let file = dir.path().join("helia-block");
    let block: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 253) as u8).collect();
    std::fs::write(&file, &block).expect("write");
    let server = helia_serve(&node, &script, &file, &["--raw", "--hash", "sha256"]);
    client.dial(server.addr.clone()).await.expect("dial helia");
    let cid: cid::Cid = server.cid.parse().expect("cid");
    assert_eq!(cid.hash().code(), 0x12, "sha2-256");
    let got = client
        .get_file(cid, vec![server.peer], 1 << 30)
        .await
        .expect("pictor fetches helia's block");
    assert!(got == block);
    drop(server);

    // ...and a blake3 UnixFS file of several chunks.
    std::fs::write(&file, &big).expect("write");
    let server = helia_serve(
        &node,
        &script,
        &file,
        &["--hash", "blake3", "--max-links", "174"],
    );
    client.dial(server.addr.clone()).await.expect("dial helia");
    let cid: cid::Cid = server.cid.parse().expect("cid");
    assert_eq!(cid.codec(), 0x70, "a dag-pb UnixFS root");
    // A fresh node, so that nothing comes from its own store.
    let (other, _) = spawn(NodeConfig {
        keypair: Some(Keypair::from_seed([8; 32])),
        ..node_config(&dir.path().join("pictor-2"))
    })
    .expect("second node starts");
    other.dial(server.addr.clone()).await.expect("dial helia");
    let got = match other.get_file(cid, vec![server.peer], 1 << 30).await {
        Ok(got) => got,
        Err(e) => panic!(
            "pictor fetches helia's file: {e}; bitswap {:?}",
            other.status().await.map(|s| s.bitswap)
        ),
    };
    assert!(got == big);
    drop(server);
    other.shutdown().await.expect("stop");
    client.shutdown().await.expect("stop");
}
