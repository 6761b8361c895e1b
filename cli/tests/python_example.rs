//! `examples/python/submit_and_wait.py` (standard-library Python) against a real devnet:
//! it submits a job over JSON-RPC, follows it, and downloads every frame block by block
//! from the trustless gateway, checking each block's BLAKE3 hash against its CID.
//!
//! Needs `python3`; without it the tests say why they skip (and fail where `CI` is set).

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use common::pictor;

const SCRIPT: &str = "examples/python/submit_and_wait.py";
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether `python3` runs here; where it does not, the test is skipped, except in CI.
fn have_python() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 is not installed, and CI must run the Python example's test"
        );
        eprintln!("skipped: python3 is not installed (the Python example needs it)");
    }
    ok
}

/// Runs `python3 args…` in the repository root: (exit code, stdout, stderr).
fn python(args: &[&str]) -> (i32, String, String) {
    let output = Command::new("python3")
        .args(args)
        .current_dir(repo())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// Stops the network when the test ends, however it ends.
struct Network<'a>(&'a Path);

impl Drop for Network<'_> {
    fn drop(&mut self) {
        let _ = pictor(&["devnet", "down", "--dir", path_str(self.0), "--grace", "5"]);
    }
}

/// The width and height in a PNG's IHDR chunk, after checking the signature, that IHDR
/// comes first and that the file ends with IEND.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(
        bytes.len() > 64,
        "{} bytes is too short for a frame",
        bytes.len()
    );
    assert_eq!(&bytes[..8], PNG_SIGNATURE, "the PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "IHDR first");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(
        &bytes[bytes.len() - 8..bytes.len() - 4],
        b"IEND",
        "IEND last"
    );
    (be(16), be(20))
}

/// The CID the script printed for a frame (`frame N: … cid C verified …`).
fn frame_cid(stdout: &str, frame: u32) -> String {
    let prefix = format!("frame {frame}: ");
    stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .and_then(|l| l.split(" cid ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no line for frame {frame} in {stdout}"))
        .to_owned()
}

#[test]
fn the_pure_python_blake3_matches_the_official_test_vectors() {
    if !have_python() {
        return;
    }
    let (code, out, err) = python(&["examples/python/test_blake3_pure.py", "-v"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("test_official_vectors") && err.contains("OK"),
        "{err}"
    );
}

#[test]
fn the_script_refuses_clearly_without_a_node() {
    if !have_python() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = python(&[SCRIPT, "--home", path_str(tmp.path())]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no node is running on"), "{err}");
    let token = tmp.path().join("token");
    std::fs::write(&token, "x\n").unwrap();
    let (code, _, err) = python(&[
        SCRIPT,
        "--rpc",
        "http://127.0.0.1:1",
        "--token-file",
        path_str(&token),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot reach the node at http://127.0.0.1:1"),
        "{err}"
    );
}

#[test]
fn the_python_example_renders_on_a_devnet_and_verifies_every_frame() {
    if !have_python() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let out = tmp.path().join("frames");
    let _network = Network(&dir);
    let started = Instant::now();
    let (code, _, err) = pictor(&[
        "devnet",
        "up",
        "--dir",
        path_str(&dir),
        "--checkers",
        "2",
        "--workers",
        "1",
    ]);
    assert_eq!(code, 0, "devnet up: {err}");
    eprintln!("devnet up in {:.1} s", started.elapsed().as_secs_f64());
    let creator = dir.join("creator");

    // The job, by scene_path; every frame fetched and checked.
    let started = Instant::now();
    let (code, stdout, stderr) = python(&[
        SCRIPT,
        "--home",
        path_str(&creator),
        "--frames",
        "1-2",
        "--samples",
        "8",
        "--timeout",
        "300",
        "--out",
        path_str(&out),
    ]);
    eprintln!(
        "the script ran {:.1} s:\n{stdout}{stderr}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("every frame verified"), "{stdout}");
    assert!(stdout.contains("complete: "), "a progress line: {stdout}");
    for frame in [1, 2] {
        let png = std::fs::read(out.join(format!("frame-{frame:04}.png")))
            .unwrap_or_else(|e| panic!("frame {frame}: {e}"));
        assert_eq!(png_size(&png), (512, 384), "frame {frame}");
    }
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["frame-0001.png", "frame-0002.png"]);

    // The CID check: the frame's bytes import to its CID; one flipped byte does not.
    let cid = frame_cid(&stdout, 1);
    let frame = out.join("frame-0001.png");
    let (code, verified, err) = python(&[SCRIPT, "--verify-only", &cid, path_str(&frame)]);
    assert_eq!(code, 0, "{verified}{err}");
    let mut bytes = std::fs::read(&frame).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let tampered = tmp.path().join("tampered.png");
    std::fs::write(&tampered, &bytes).unwrap();
    let (code, _, err) = python(&[SCRIPT, "--verify-only", &cid, path_str(&tampered)]);
    assert_eq!(code, 1, "a tampered frame must fail: {err}");
    assert!(err.contains("FAILED") && err.contains(&cid), "{err}");

    // The download's own check, on bytes that are not the block's, and a file of more than
    // one chunk (a dag-pb root over raw leaves): uploaded, its CID recomputed by the
    // script, and fetched back through the gateway block by block.
    let check = r#"
import os, sys
sys.path.insert(0, "examples/python")
import submit_and_wait as s
home, cid = sys.argv[1], sys.argv[2]
node = s.find_node(s.parse_args(["--home", home]))
good = node.block(s.Cid.parse(cid))
try:
    s.verify_block(s.Cid.parse(cid), good[:-1] + bytes([good[-1] ^ 1]))
    sys.exit("a wrong block verified")
except s.CidMismatch as e:
    print("mismatch caught:", e)
data = os.urandom(s.CHUNK_SIZE + 4097)
answer = node.upload(data)
root = s.Cid.parse(answer["cid"])
assert root.codec == s.DAG_PB_CODEC, answer
assert str(s.import_cid(data)) == answer["cid"], (str(s.import_cid(data)), answer)
assert s.fetch_file(node, root) == data
print("dag-pb ok", answer["cid"])
"#;
    let (code, checked, err) = python(&["-c", check, path_str(&creator), &cid]);
    assert_eq!(code, 0, "{checked}{err}");
    assert!(
        checked.contains("mismatch caught") && checked.contains("dag-pb ok"),
        "{checked}"
    );

    // --upload: the scene as a one-file bundle, submitted by its CID.
    let uploaded = tmp.path().join("uploaded");
    let (code, stdout, stderr) = python(&[
        SCRIPT,
        "--home",
        path_str(&creator),
        "--upload",
        "--frames",
        "3",
        "--samples",
        "2",
        "--width",
        "128",
        "--height",
        "96",
        "--timeout",
        "300",
        "--out",
        path_str(&uploaded),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("uploaded cornell-box.gltf"), "{stdout}");
    let png = std::fs::read(uploaded.join("frame-0003.png")).unwrap();
    assert_eq!(png_size(&png), (128, 96));

    // A job with a bad parameter: the node refuses it (-32602) and the script exits 2
    // with the node's reason.
    let (code, _, err) = python(&[
        SCRIPT,
        "--home",
        path_str(&creator),
        "--frames",
        "1",
        "--samples",
        "0",
        "--out",
        path_str(&tmp.path().join("refused")),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("samples") && err.contains("out of range"),
        "{err}"
    );
}
