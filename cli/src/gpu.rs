//! `pictor gpu`: what this machine offers the network — NVIDIA GPUs (through NVML), the
//! CPU, the render engines, and with `--bench` the start-up benchmark score.

use std::ffi::OsString;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use pictor_gpu::device::human_bytes;
use pictor_gpu::{
    benchmark, BenchmarkScore, Blender, CapabilityView, EngineInfo, GpuInfo, Inventory,
};
use pictor_node::NetworkSpec;
use serde::Serialize;

/// Flags of `pictor gpu`.
#[derive(Debug, Args)]
pub(crate) struct GpuArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Also run the start-up benchmark (about a second) and print its score.
    #[arg(long)]
    bench: bool,
    /// Threads for the benchmark (implies `--bench`; default: every logical core).
    #[arg(long)]
    threads: Option<usize>,
    /// The Blender program whose version is reported (default: `$PICTOR_BLENDER`, else
    /// `blender` on `PATH`).
    #[arg(long)]
    blender: Option<OsString>,
    /// Check this machine against a network spec's `[requirements]` (TOML; runs the
    /// benchmark): prints whether it may work on that network, and fails when it may not.
    #[arg(long, value_name = "FILE")]
    network_spec: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct GpuReport {
    #[serde(flatten)]
    inventory: Inventory,
    engines: Vec<EngineInfo>,
    benchmark: Option<BenchmarkScore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requirements: Option<RequirementsReport>,
}

/// The outcome of `--network-spec`.
#[derive(Debug, Serialize)]
struct RequirementsReport {
    spec: PathBuf,
    met: bool,
    /// Why not, in one line (absent when met).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

pub(crate) fn run(args: GpuArgs) -> Result<()> {
    let inventory = Inventory::probe();
    let blender = args.blender.unwrap_or_else(Blender::program);
    let engines = EngineInfo::probe_all(&blender);
    let spec = args
        .network_spec
        .as_deref()
        .map(NetworkSpec::load)
        .transpose()?;
    let benchmark = if args.bench || args.threads.is_some() || spec.is_some() {
        let threads = args.threads.unwrap_or(inventory.cpu.logical_cores);
        Some(benchmark::run(threads).context("benchmark")?)
    } else {
        None
    };
    let requirements = spec.zip(args.network_spec).map(|(spec, path)| {
        let view = CapabilityView::local(
            &inventory,
            &engines,
            benchmark.as_ref().map(|b| b.msamples_per_s),
        );
        let reason = spec.requirements.check(&view).err().map(|u| u.to_string());
        RequirementsReport {
            spec: path,
            met: reason.is_none(),
            reason,
        }
    });
    let report = GpuReport {
        inventory,
        engines,
        benchmark,
        requirements,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", human(&report));
    }
    match &report.requirements {
        Some(RequirementsReport {
            reason: Some(reason),
            ..
        }) => bail!("{reason}"),
        _ => Ok(()),
    }
}

fn or_na<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| v.to_string())
}

fn percent(v: Option<u32>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v}%"))
}

fn gpu_lines(g: &GpuInfo, inv: &Inventory) -> String {
    let memory = match (g.memory_total_bytes, g.memory_free_bytes) {
        (Some(t), Some(f)) => format!("{} ({} free)", human_bytes(t), human_bytes(f)),
        (Some(t), None) => human_bytes(t),
        _ => "n/a".to_owned(),
    };
    let power = match (g.power_draw_w, g.power_limit_w) {
        (Some(d), Some(l)) => format!("{d:.0} W of {l:.0} W"),
        (Some(d), None) => format!("{d:.0} W"),
        (None, Some(l)) => format!("n/a of {l:.0} W"),
        (None, None) => "n/a".to_owned(),
    };
    let mut s = format!("GPU {}     {}\n", g.index, g.name);
    let mut line = |k: &str, v: String| s.push_str(&format!("  {k:<12} {v}\n"));
    line("memory", memory);
    line(
        "driver",
        format!(
            "{} (CUDA {})",
            or_na(inv.driver_version.as_deref()),
            or_na(inv.cuda_driver_version.as_deref())
        ),
    );
    line("compute", or_na(g.compute_capability.as_deref()));
    line(
        "utilisation",
        format!(
            "gpu {}, memory {}",
            percent(g.utilization_gpu_percent),
            percent(g.utilization_memory_percent)
        ),
    );
    line(
        "temperature",
        g.temperature_c
            .map_or_else(|| "n/a".to_owned(), |t| format!("{t} °C")),
    );
    line("power", power);
    if let Some(uuid) = &g.uuid {
        line("uuid", uuid.clone());
    }
    s
}

fn human(r: &GpuReport) -> String {
    let inv = &r.inventory;
    let mut s = String::new();
    for g in &inv.gpus {
        s.push_str(&gpu_lines(g, inv));
    }
    if let Some(reason) = &inv.no_gpu_reason {
        s.push_str(&format!("No NVIDIA GPU telemetry: {reason}\n"));
    }
    let cpu = &inv.cpu;
    s.push_str(&format!(
        "CPU       {}, {} logical cores, {} memory, {}/{}\n",
        cpu.model,
        cpu.logical_cores,
        cpu.memory_total_bytes
            .map_or_else(|| "unknown".to_owned(), human_bytes),
        cpu.os,
        cpu.arch
    ));
    s.push_str("Engines\n");
    for e in &r.engines {
        let state = match (&e.version, &e.unavailable) {
            (Some(v), _) => v.clone(),
            (None, Some(why)) => why.clone(),
            (None, None) => "not available".to_owned(),
        };
        s.push_str(&format!("  {:<12} {state}\n", format!("{}:", e.engine)));
    }
    if let Some(b) = &r.benchmark {
        let threads = if b.threads == 1 { "thread" } else { "threads" };
        s.push_str(&format!(
            "Benchmark {:.2} Msamples/s ({} {threads}, {} samples in {:.2} s, cornell-box)\n",
            b.msamples_per_s, b.threads, b.samples, b.seconds
        ));
    }
    if let Some(RequirementsReport {
        spec, met: true, ..
    }) = &r.requirements
    {
        s.push_str(&format!(
            "Network   this machine meets the requirements of {}\n",
            spec.display()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use pictor_gpu::CpuInfo;

    use super::*;

    fn report(gpus: Vec<GpuInfo>) -> GpuReport {
        GpuReport {
            inventory: Inventory {
                cpu: CpuInfo {
                    model: "AMD EPYC 7B13".into(),
                    logical_cores: 2,
                    memory_total_bytes: Some(24 << 30),
                    os: "linux".into(),
                    arch: "x86_64".into(),
                },
                no_gpu_reason: gpus.is_empty().then(|| "no driver".to_owned()),
                gpus,
                driver_version: Some("550.54.14".into()),
                cuda_driver_version: Some("12.4".into()),
            },
            engines: vec![EngineInfo::builtin()],
            benchmark: None,
            requirements: None,
        }
    }

    #[test]
    fn a_gpu_block_has_every_reading_or_n_a() {
        let gpu = GpuInfo {
            index: 0,
            name: "NVIDIA GeForce RTX 4090".into(),
            uuid: None,
            memory_total_bytes: Some(24 << 30),
            memory_free_bytes: Some(23 << 30),
            compute_capability: Some("8.9".into()),
            utilization_gpu_percent: Some(3),
            utilization_memory_percent: None,
            temperature_c: Some(41),
            power_draw_w: Some(28.4),
            power_limit_w: Some(450.0),
        };
        let text = human(&report(vec![gpu]));
        for line in [
            "GPU 0     NVIDIA GeForce RTX 4090",
            "  memory       24.0 GiB (23.0 GiB free)",
            "  driver       550.54.14 (CUDA 12.4)",
            "  compute      8.9",
            "  utilisation  gpu 3%, memory n/a",
            "  temperature  41 °C",
            "  power        28 W of 450 W",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
        assert!(!text.contains("No NVIDIA GPU telemetry"));
        assert!(text.contains("CPU       AMD EPYC 7B13, 2 logical cores, 24.0 GiB memory"));
    }

    #[test]
    fn no_gpu_says_why() {
        let text = human(&report(Vec::new()));
        assert!(text.starts_with("No NVIDIA GPU telemetry: no driver\nCPU "));
    }
}
