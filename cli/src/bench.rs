//! `pictor bench`: the same job rendered directly and through a local network on the same
//! cores; prints the wall-time ratio, what verification cost and caught, and the engine's
//! speed.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use pictor_node::render::{render_direct, render_network, RenderSummary};
use pictor_protocol::{rules, FrameRange};
use serde::Serialize;

use crate::render::RenderArgs;

/// Flags of `pictor bench`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct BenchArgs {
    /// Another measurement instead of the network against direct.
    #[command(subcommand)]
    what: Option<BenchWhat>,
    /// The scene to render.
    #[arg(default_value = DEFAULT_SCENE)]
    scene: PathBuf,
    /// Frames to render.
    #[arg(long, default_value = "1-4")]
    frames: FrameRange,
    /// Image width.
    #[arg(long, default_value_t = 512)]
    width: u32,
    /// Image height.
    #[arg(long, default_value_t = 384)]
    height: u32,
    /// Samples per pixel (the default makes the direct render take tens of seconds on
    /// two cores).
    #[arg(long, default_value_t = 128)]
    samples: u32,
    /// Tile size (default: 128 for the built-in engine, 256 for Blender).
    #[arg(long)]
    tile: Option<u32>,
    /// The engine (default: from the scene's file type, as for `pictor render`).
    #[arg(long)]
    engine: Option<pictor_protocol::Engine>,
    /// Checkers in the local network.
    #[arg(long, default_value_t = 4)]
    checkers: usize,
    /// Workers in the local network.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Where the frames of both runs go (`direct/` and `network/` below it).
    #[arg(long, default_value = "out/bench")]
    out: PathBuf,
    /// Render direct and network this many times, alternating, and report the median
    /// ratio (machines are noisy).
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
    /// Render the network runs on a running network (for example `pictor devnet up`'s
    /// `DIR/network.toml`, a network of processes) instead of a local network in this
    /// process.
    #[arg(long, value_name = "FILE")]
    network: Option<PathBuf>,
    /// Instead: run this many small jobs (one 16x16 frame each) through one local network,
    /// `--in-flight` at a time, and report jobs per second and the process's memory.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// With `--jobs`: jobs submitted and not yet finished at once.
    #[arg(long, default_value_t = 16)]
    in_flight: usize,
    /// With `--jobs`: how long finished jobs are kept before they are pruned, in seconds.
    #[arg(long, default_value_t = 10)]
    retention: u64,
    /// Instead: measure the RPC against a devnet of processes (`job_status` calls per
    /// second while it renders, subscription latency, start-up time, idle memory).
    #[arg(long)]
    rpc: bool,
    /// With `--rpc`: HTTP connections calling at once.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// With `--rpc`: how long to call `job_status`, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// Measurements of `pictor bench` other than the network against direct.
#[derive(Debug, clap::Subcommand)]
enum BenchWhat {
    /// Time from a claim to its quorum certificate at several checker-set sizes.
    Finality(crate::bench_finality::FinalityArgs),
    /// Time from a cheating claim, and from a lazy checker's false attestation, to a ban
    /// known to every node.
    Bans(crate::bench_finality::BansArgs),
    /// Time from a payment to its certificate, and payments certified per second, at
    /// several checker-set sizes.
    Credits(crate::bench_finality::CreditsArgs),
}

#[derive(Debug, Serialize)]
struct BenchReport {
    runs: usize,
    ratios: Vec<f64>,
    median_ratio: f64,
    direct_seconds: f64,
    network_seconds: f64,
    ratio_network_over_direct: f64,
    frames_identical: bool,
    cores: usize,
    msamples_per_second_per_core: f64,
    committee_size: usize,
    samples_per_checker: usize,
    max_shard_fraction_rerendered: f64,
    detection_probability_10pct: f64,
    direct: RenderSummary,
    network: RenderSummary,
}

fn args_for(b: &BenchArgs, out: PathBuf, direct: bool) -> RenderArgs {
    RenderArgs {
        scene: b.scene.clone(),
        engine: b.engine,
        blender_device: pictor_gpu::BlenderDevice::Cpu,
        frames: b.frames,
        out,
        width: b.width,
        height: b.height,
        samples: b.samples,
        tile: b.tile,
        checkers: b.checkers,
        workers: b.workers,
        faulty_workers: 0,
        lazy_checkers: 0,
        equivocating_checkers: 0,
        canary_rate: 0.0,
        price_cap: 0,
        worker_prices: Vec::new(),
        direct,
        json: true,
        stall_timeout: 600,
        network_spec: None,
        network: (!direct).then(|| b.network.clone()).flatten(),
        home: None,
    }
}

fn run_jobs(b: &BenchArgs, jobs: usize) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    eprintln!(
        "bench: {jobs} jobs, {} at a time, on {} checkers and {} workers...",
        b.in_flight, b.checkers, b.workers
    );
    let report = runtime.block_on(pictor_node::render::soak::soak(
        &b.scene,
        jobs,
        b.in_flight,
        b.checkers,
        b.workers,
        std::time::Duration::from_secs(b.retention),
    ))?;
    if b.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "jobs         {} in {:.1} s ({:.1} jobs/s)",
            report.jobs, report.seconds, report.jobs_per_second
        );
        println!(
            "memory       {} nodes in this process: {:.1} MiB formed, {:.1} MiB after a tenth of the jobs, {:.1} MiB at the end",
            report.nodes,
            report.rss_formed_kib as f64 / 1024.0,
            report.rss_tenth_kib as f64 / 1024.0,
            report.rss_end_kib as f64 / 1024.0
        );
        println!(
            "jobs held    {} by the creator at the end (finished jobs are pruned after {} s)",
            report.creator_jobs_held, b.retention
        );
    }
    Ok(())
}

/// The default scene of the benches, a path inside the repository.
pub(crate) const DEFAULT_SCENE: &str = "examples/scenes/cornell-box.gltf";

/// The scene a bench renders: `path`; or, when `path` is the default and is not there (a
/// bench run outside the repository), the same scene as compiled into the binary, written
/// into `dir`.
pub(crate) fn bench_scene(path: &std::path::Path, dir: &tempfile::TempDir) -> Result<PathBuf> {
    if path.exists() || path != std::path::Path::new(DEFAULT_SCENE) {
        return Ok(path.to_path_buf());
    }
    let builtin = dir.path().join(pictor_gpu::benchmark::BENCHMARK_SCENE_NAME);
    std::fs::write(&builtin, pictor_gpu::benchmark::BENCHMARK_SCENE_GLTF)
        .with_context(|| format!("cannot write {}", builtin.display()))?;
    Ok(builtin)
}

pub(crate) fn run(mut b: BenchArgs) -> Result<()> {
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    b.scene = bench_scene(&b.scene, &dir)?;
    match b.what {
        Some(BenchWhat::Finality(args)) => return crate::bench_finality::run(args),
        Some(BenchWhat::Bans(args)) => return crate::bench_finality::run_bans(args),
        Some(BenchWhat::Credits(args)) => return crate::bench_finality::run_credits(args),
        None => {}
    }
    if let Some(jobs) = b.jobs {
        return run_jobs(&b, jobs);
    }
    if b.rpc {
        return crate::bench_rpc::run(&b.scene, b.connections.max(1), b.seconds, b.json);
    }
    let direct_req = args_for(&b, b.out.join("direct"), true).request()?;
    let network_req = args_for(&b, b.out.join("network"), false).request()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let runs = b.runs.max(1);
    let mut ratios = Vec::with_capacity(runs);
    let mut last = None;
    for run in 1..=runs {
        eprintln!("bench: run {run}/{runs}: direct render...");
        let direct = render_direct(&direct_req, |_| {})?;
        match &b.network {
            Some(spec) => eprintln!(
                "bench: run {run}/{runs}: network render on {}...",
                spec.display()
            ),
            None => eprintln!(
                "bench: run {run}/{runs}: network render ({} checkers, {} workers)...",
                b.checkers, b.workers
            ),
        }
        let network = runtime.block_on(render_network(&network_req, |_| {}))?;
        let ratio = network.wall_seconds / direct.wall_seconds;
        eprintln!("bench: run {run}/{runs}: ratio {ratio:.3}");
        ratios.push(ratio);
        last = Some((direct, network));
    }
    let Some((direct, network)) = last else {
        anyhow::bail!("no run completed");
    };
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    let median_ratio = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    let mut identical = direct.frames.len() == network.frames.len();
    for (a, n) in direct.frames.iter().zip(&network.frames) {
        identical &= std::fs::read(a)? == std::fs::read(n)?;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let samples =
        f64::from(b.width) * f64::from(b.height) * f64::from(b.samples) * b.frames.len() as f64;
    let committee = network.committee_size;
    let k = network.samples_per_checker;
    let report = BenchReport {
        runs,
        ratios,
        median_ratio,
        direct_seconds: direct.wall_seconds,
        network_seconds: network.wall_seconds,
        ratio_network_over_direct: network.wall_seconds / direct.wall_seconds,
        frames_identical: identical,
        cores,
        msamples_per_second_per_core: samples / direct.wall_seconds / 1e6 / cores as f64,
        committee_size: committee,
        samples_per_checker: k,
        max_shard_fraction_rerendered: network.max_shard_fraction_rerendered,
        detection_probability_10pct: 1.0
            - rules::acceptance_probability(committee, k, rules::FRAUD_FRACTION),
        direct,
        network,
    };
    if b.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "pictor bench: {} engine, {} frames {}x{} at {} samples/pixel, tiles of {}",
            network_req.engine,
            b.frames.len(),
            b.width,
            b.height,
            b.samples,
            network_req.tile
        );
        println!("  direct render            {:.2} s", report.direct_seconds);
        println!(
            "  network render           {:.2} s ({} checkers, {} workers, same {} cores)",
            report.network_seconds, b.checkers, b.workers, cores
        );
        println!(
            "  ratio network/direct     {:.3}{}",
            report.ratio_network_over_direct,
            if runs > 1 { " (last run)" } else { "" }
        );
        if runs > 1 {
            let all: Vec<String> = report.ratios.iter().map(|r| format!("{r:.3}")).collect();
            println!(
                "  median over {runs} runs      {:.3} ({})",
                report.median_ratio,
                all.join(", ")
            );
        }
        println!("  frames pixel-identical   {}", report.frames_identical);
        println!(
            "  engine speed             {:.3} Msamples/s per core",
            report.msamples_per_second_per_core
        );
        let unit = if network_req.engine.is_bit_exact() {
            "pixels"
        } else {
            "regions of 4x4"
        };
        println!("  verification             committee of {committee}, {k} {unit} per checker, at most {:.3} % of a shard re-rendered", 100.0 * report.max_shard_fraction_rerendered);
        println!(
            "  detection (10 % falsified) {:.6}",
            report.detection_probability_10pct
        );
    }
    Ok(())
}
