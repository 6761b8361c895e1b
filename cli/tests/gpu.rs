//! `pictor gpu` as a user runs it: the machine's GPUs (or why there is no GPU telemetry),
//! its CPU and engines, in text or as one JSON object; exit 0 either way.

mod common;

use std::path::Path;

use common::pictor;

const NO_BLENDER: &str = "/nonexistent/pictor-test/blender";

fn has_nvml() -> bool {
    ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"]
        .iter()
        .any(|d| Path::new(d).join("libnvidia-ml.so.1").exists())
}

#[test]
fn human_output_names_the_cpu_and_the_gpus_or_why_not() {
    let (code, out, err) = pictor(&["gpu", "--blender", NO_BLENDER]);
    assert_eq!(code, 0, "stderr: {err}");
    let cpu = out
        .lines()
        .find(|l| l.starts_with("CPU "))
        .unwrap_or_else(|| panic!("a CPU line in {out:?}"));
    assert!(cpu.contains("logical cores"), "{cpu}");
    assert!(cpu.contains(std::env::consts::ARCH), "{cpu}");
    if let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") {
        let model = info
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
            .map(|(_, m)| m.trim().to_owned());
        if let Some(model) = model.filter(|m| !m.is_empty()) {
            assert!(cpu.contains(&model), "{cpu} names {model}");
        }
    }
    let no_gpu = out
        .lines()
        .any(|l| l.starts_with("No NVIDIA GPU telemetry: "));
    let gpu = out.lines().any(|l| l.starts_with("GPU 0 "));
    assert!(no_gpu != gpu, "either GPUs or the reason: {out}");
    if !has_nvml() {
        assert!(
            out.contains(
                "No NVIDIA GPU telemetry: NVIDIA driver library (libnvidia-ml.so.1) not found"
            ),
            "{out}"
        );
    }
    assert!(out.contains("builtin:"), "{out}");
    assert!(out.contains("blender:     not installed"), "{out}");
}

#[test]
fn json_output_is_one_object_with_the_fields() {
    let (code, out, err) = pictor(&["gpu", "--json", "--blender", NO_BLENDER]);
    assert_eq!(code, 0, "stderr: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert!(v["cpu"]["model"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(v["cpu"]["logical_cores"].as_u64().is_some_and(|n| n >= 1));
    assert!(v["cpu"]["os"].is_string() && v["cpu"]["arch"].is_string());
    let gpus = v["gpus"].as_array().expect("gpus array");
    assert_eq!(gpus.is_empty(), v["no_gpu_reason"].is_string(), "{v}");
    for field in ["driver_version", "cuda_driver_version", "benchmark"] {
        assert!(v.get(field).is_some(), "{field} in {v}");
    }
    assert!(v["benchmark"].is_null());
    let engines = v["engines"].as_array().expect("engines array");
    assert_eq!(engines[0]["engine"], "builtin");
    assert!(engines[0]["version"].is_string());
    assert_eq!(engines[1]["engine"], "blender");
    assert_eq!(engines[1]["unavailable"], "not installed");
}

#[test]
fn bench_reports_a_score() {
    let (code, out, err) = pictor(&[
        "gpu",
        "--json",
        "--bench",
        "--threads",
        "2",
        "--blender",
        NO_BLENDER,
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    let b = &v["benchmark"];
    assert!(b["msamples_per_s"].as_f64().is_some_and(|s| s > 0.0), "{b}");
    assert_eq!(b["threads"], 2);
    assert_eq!(b["samples"], 256 * 192 * 8);
    assert_eq!(b["scene_id"].as_str().map(str::len), Some(64));
}

/// Writes a network spec with `requirements` (TOML lines) into `dir`.
fn spec(dir: &Path, requirements: &str) -> String {
    let path = dir.join("network.toml");
    std::fs::write(
        &path,
        format!("[network]\nid = \"test\"\n[requirements]\n{requirements}\n"),
    )
    .expect("write spec");
    path.to_string_lossy().into_owned()
}

#[test]
fn a_machine_is_checked_against_a_network_spec() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Modest requirements: any machine that runs the tests meets them.
    let easy = spec(
        dir.path(),
        "engines = [\"builtin\"]\nmin_memory_bytes = 1024",
    );
    let (code, out, err) = pictor(&["gpu", "--blender", NO_BLENDER, "--network-spec", &easy]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.contains("meets the requirements"), "{out}");
    assert!(
        out.contains("Benchmark"),
        "the check runs the benchmark: {out}"
    );

    // Requirements no machine here meets: refused in one line that names each shortfall.
    let hard = spec(
        dir.path(),
        "engines = [\"blender\"]\nmin_benchmark_score = 1000000.0\nmin_memory_bytes = 1125899906842624",
    );
    let (code, out, err) = pictor(&["gpu", "--blender", NO_BLENDER, "--network-spec", &hard]);
    assert_eq!(code, 1, "stdout: {out}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {err:?}");
    for word in ["does not meet", "blender", "benchmark score", "memory"] {
        assert!(lines[0].contains(word), "{:?} should name {word}", lines[0]);
    }
    // The JSON report says the same for scripts.
    let (code, out, _) = pictor(&[
        "gpu",
        "--json",
        "--blender",
        NO_BLENDER,
        "--network-spec",
        &hard,
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["requirements"]["met"], false);
    assert!(v["requirements"]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("blender")));

    // A typo in the spec is named with its line, and nothing is benchmarked.
    let typo = spec(dir.path(), "min_memory = 8");
    let (code, out, err) = pictor(&["gpu", "--blender", NO_BLENDER, "--network-spec", &typo]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("line 4") && err.contains("requirements.min_memory"),
        "{err}"
    );
}
