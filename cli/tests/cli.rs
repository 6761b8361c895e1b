//! The `pictor` binary as a user runs it: bad input gets one line naming the problem, a
//! non-zero exit code, and nothing written; good input writes frames and a summary.

mod common;

use common::pictor;

fn assert_one_line_error(code: i32, stderr: &str, mentions: &str) {
    assert_ne!(code, 0, "non-zero exit");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr:?}");
    assert!(
        lines[0].to_lowercase().contains(&mentions.to_lowercase()),
        "{:?} should mention {mentions:?}",
        lines[0]
    );
}

#[test]
fn missing_scene_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let out_s = out.to_string_lossy().into_owned();
    let (code, _, err) = pictor(&["render", "no/such/scene.gltf", "--out", &out_s]);
    assert_one_line_error(code, &err, "not found");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn unreadable_gltf_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scene = dir.path().join("broken.gltf");
    std::fs::write(&scene, b"{ this is not glTF").expect("write");
    let out = dir.path().join("out");
    let (code, _, err) = pictor(&[
        "render",
        &scene.to_string_lossy(),
        "--out",
        &out.to_string_lossy(),
        "--direct",
    ]);
    assert_one_line_error(code, &err, "broken.gltf");
    assert!(!out.exists());
}

#[test]
fn frame_outside_the_animation_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let (code, _, err) = pictor(&[
        "render",
        "examples/scenes/cornell-box.gltf",
        "--frames",
        "1-999",
        "--out",
        &out.to_string_lossy(),
    ]);
    assert_one_line_error(code, &err, "frame");
    assert!(!out.exists());
}

#[test]
fn bad_flags_are_one_line() {
    let (code, _, err) = pictor(&[
        "render",
        "examples/scenes/cornell-box.gltf",
        "--samples",
        "many",
    ]);
    assert_one_line_error(code, &err, "samples");
    let (code, _, err) = pictor(&["render", "examples/scenes/cornell-box.gltf", "--frobnicate"]);
    assert_one_line_error(code, &err, "frobnicate");
    let (code, _, err) = pictor(&[
        "render",
        "examples/scenes/cornell-box.gltf",
        "--frames",
        "4-1",
    ]);
    assert_one_line_error(code, &err, "frames");
    let (code, _, err) = pictor(&[
        "render",
        "examples/scenes/cornell-box.gltf",
        "--workers",
        "2",
        "--faulty-workers",
        "2",
    ]);
    assert_one_line_error(code, &err, "faulty-workers");
    let (code, _, err) = pictor(&["render", "examples/scenes/cornell-box.gltf", "--width", "0"]);
    assert_one_line_error(code, &err, "width");
}

#[test]
fn direct_render_writes_frames_and_a_json_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("frames");
    let (code, stdout, err) = pictor(&[
        "render",
        "examples/scenes/cornell-box.gltf",
        "--frames",
        "1-2",
        "--width",
        "48",
        "--height",
        "32",
        "--samples",
        "2",
        "--tile",
        "16",
        "--out",
        &out.to_string_lossy(),
        "--direct",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(summary["mode"], "direct");
    assert_eq!(summary["frames"].as_array().map(Vec::len), Some(2));
    assert!(out.join("frame-0001.png").exists());
    assert!(out.join("frame-0002.png").exists());
}

#[test]
fn workers_below_the_network_spec_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("network.toml");
    std::fs::write(
        &spec,
        "[requirements]\nengines = [\"no-such-engine\"]\nmin_benchmark_score = 1000000.0\n",
    )
    .unwrap();
    let out = dir.path().join("frames");
    let (code, _, stderr) = pictor(&[
        "render",
        "examples/scenes/cornell-box.gltf",
        "--network-spec",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_one_line_error(code, &stderr, "does not meet the network's requirements");
    assert!(stderr.contains("no-such-engine") && stderr.contains("benchmark score"));
    assert!(!out.exists(), "nothing written");

    let (code, _, stderr) = pictor(&[
        "render",
        "examples/scenes/cornell-box.gltf",
        "--network-spec",
        dir.path().join("missing.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_one_line_error(code, &stderr, "missing.toml");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn bench_finality_times_claims_to_certificates_per_checker_set() {
    let (code, out, err) = pictor(&[
        "bench",
        "finality",
        "--checkers",
        "1,4",
        "--claims",
        "4",
        "--json",
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    let sizes = v["finality"].as_array().expect("one report per set size");
    assert_eq!(sizes.len(), 2, "{v}");
    for (report, n) in sizes.iter().zip([1u64, 4]) {
        assert_eq!(report["checkers"], n, "{report}");
        assert_eq!(report["committee"], n, "every checker votes: {report}");
        // Every claim is timed by the worker that made it (rarely one is missed).
        assert!(report["claims"].as_u64() >= Some(3), "{report}");
        let (median, p95, max) = (
            report["median_ms"].as_f64().expect("median"),
            report["p95_ms"].as_f64().expect("p95"),
            report["max_ms"].as_f64().expect("max"),
        );
        assert!(median > 0.0 && median <= p95 && p95 <= max, "{report}");
    }
    let (code, _, err) = pictor(&["bench", "finality", "--checkers", "4,0"]);
    assert_one_line_error(code, &err, "--checkers");
}

#[test]
fn bench_credits_times_payments_and_checks_conservation() {
    let (code, out, err) = pictor(&[
        "bench",
        "credits",
        "--checkers",
        "4",
        "--payers",
        "3",
        "--transfers",
        "5",
        "--json",
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    let report = &v["credits"][0];
    assert_eq!(report["checkers"], 4, "{v}");
    assert_eq!(report["payers"], 3, "{v}");
    assert_eq!(report["transfers"], 5, "{v}");
    assert_eq!(report["conserved"], true, "{v}");
    let (median, p95) = (
        report["median_ms"].as_f64().expect("median"),
        report["p95_ms"].as_f64().expect("p95"),
    );
    assert!(median > 0.0 && median <= p95, "{report}");
    assert!(report["per_second"].as_f64() > Some(0.0), "{report}");
    let (code, _, err) = pictor(&["bench", "credits", "--transfers", "5000"]);
    assert_one_line_error(code, &err, "--transfers");
}
