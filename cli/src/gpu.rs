//! `pictor gpu`: what this machine offers the network — NVIDIA GPUs (through NVML), the
//! CPU, the render engines, and with `--bench` the start-up benchmark score.

use std::ffi::OsString;

use anyhow::{Context, Result};
use clap::Args;
use pictor_gpu::device::human_bytes;
use pictor_gpu::{benchmark, BenchmarkScore, EngineInfo, GpuInfo, Inventory};
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
    /// Threads for the benchmark (default: every logical core).
    #[arg(long, requires = "bench")]
    threads: Option<usize>,
    /// The Blender program whose version is reported (default: `$PICTOR_BLENDER`, else
    /// `blender` on `PATH`).
    #[arg(long)]
    blender: Option<OsString>,
}

#[derive(Debug, Serialize)]
struct GpuReport {
    #[serde(flatten)]
    inventory: Inventory,
    engines: Vec<EngineInfo>,
    benchmark: Option<BenchmarkScore>,
}

pub(crate) fn run(args: GpuArgs) -> Result<()> {
    let inventory = Inventory::probe();
    let blender = args
        .blender
        .or_else(|| std::env::var_os("PICTOR_BLENDER").filter(|p| !p.is_empty()))
        .unwrap_or_else(|| OsString::from("blender"));
    let engines = EngineInfo::probe_all(&blender);
    let benchmark = if args.bench {
        let threads = args.threads.unwrap_or(inventory.cpu.logical_cores);
        Some(benchmark::run(threads).context("benchmark")?)
    } else {
        None
    };
    let report = GpuReport {
        inventory,
        engines,
        benchmark,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", human(&report));
    }
    Ok(())
}

fn or_na<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| v.to_string())
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
            "gpu {}%, memory {}%",
            or_na(g.utilization_gpu_percent),
            or_na(g.utilization_memory_percent)
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
        s.push_str(&format!(
            "Benchmark {:.2} Msamples/s ({} threads, {} samples in {:.2} s, cornell-box)\n",
            b.msamples_per_s, b.threads, b.samples, b.seconds
        ));
    }
    s
}
