//! The protocol's timings on a local network over real sockets on loopback:
//! `pictor bench finality` (a claim to its quorum certificate at several sizes of checker
//! set, every checker on the committee) and `pictor bench bans` (a cheat to its ban on
//! every node).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use pictor_node::render::finality::{finality, FinalityReport};

/// Flags of `pictor bench finality`.
#[derive(Debug, Args)]
pub(crate) struct FinalityArgs {
    /// Sizes of the checker set to measure, each a network of its own.
    #[arg(long, value_delimiter = ',', default_value = "4,16,64")]
    checkers: Vec<usize>,
    /// Workers in each network.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Claims to time: jobs of one shard each.
    #[arg(long, default_value_t = 64)]
    claims: u32,
    /// Jobs in flight at once (1: each claim alone on the network; more: claims queue at
    /// the checkers, as on a busy network).
    #[arg(long, default_value_t = 1)]
    in_flight: u32,
    /// The scene the shards render (small tiles at one sample: the time is the
    /// protocol's, not the renderer's).
    #[arg(long, default_value = crate::bench::DEFAULT_SCENE)]
    scene: PathBuf,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(mut args: FinalityArgs) -> Result<()> {
    if args.checkers.is_empty() || args.checkers.contains(&0) {
        anyhow::bail!("--checkers wants a list of set sizes of at least 1, such as 4,16,64");
    }
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    args.scene = crate::bench::bench_scene(&args.scene, &dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut reports: Vec<FinalityReport> = Vec::new();
    for &n in &args.checkers {
        eprintln!(
            "bench finality: {n} checkers (all on the committee), {} workers, {} claims, {} at a time...",
            args.workers, args.claims, args.in_flight
        );
        let report = runtime.block_on(finality(
            &args.scene,
            n,
            args.workers,
            args.claims,
            args.in_flight,
        ))?;
        if !args.json {
            eprintln!(
                "bench finality: {n} checkers: median {:.1} ms, p95 {:.1} ms",
                report.median_ms, report.p95_ms
            );
        }
        reports.push(report);
    }
    if args.json {
        println!("{}", serde_json::json!({ "finality": reports }));
    } else {
        println!("claim to quorum certificate, as the worker that claimed saw it:");
        println!(
            "{:>9} {:>10} {:>7} {:>10} {:>10} {:>8} {:>8} {:>7}",
            "checkers",
            "committee",
            "claims",
            "in flight",
            "median ms",
            "p95 ms",
            "max ms",
            "all s"
        );
        for r in &reports {
            println!(
                "{:>9} {:>10} {:>7} {:>10} {:>10.1} {:>8.1} {:>8.1} {:>7.2}",
                r.checkers,
                r.committee,
                r.claims,
                r.in_flight,
                r.median_ms,
                r.p95_ms,
                r.max_ms,
                r.job_seconds
            );
        }
    }
    Ok(())
}

/// Flags of `pictor bench bans`.
#[derive(Debug, Args)]
pub(crate) struct BansArgs {
    /// Checkers in the network (one of them lazy).
    #[arg(long, default_value_t = 4)]
    checkers: usize,
    /// Runs (each a network of its own); the medians are printed.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The scene the job renders.
    #[arg(long, default_value = crate::bench::DEFAULT_SCENE)]
    scene: PathBuf,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub(crate) fn run_bans(mut args: BansArgs) -> Result<()> {
    if args.checkers < 4 {
        anyhow::bail!("--checkers must be at least 4: one lazy checker needs three honest ones");
    }
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    args.scene = crate::bench::bench_scene(&args.scene, &dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut runs = Vec::new();
    for run in 1..=args.runs.max(1) {
        eprintln!(
            "bench bans: run {run}: {} checkers (one lazy), 3 workers (one cheating)...",
            args.checkers
        );
        runs.push(runtime.block_on(pictor_node::render::bans::bans(&args.scene, args.checkers))?);
    }
    let mut worker: Vec<f64> = runs.iter().map(|r| r.worker_ban_ms).collect();
    let mut checker: Vec<f64> = runs.iter().map(|r| r.checker_ban_ms).collect();
    let (w, c) = (median(&mut worker), median(&mut checker));
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "checkers": args.checkers,
                "worker_ban_ms_median": w,
                "checker_ban_ms_median": c,
                "runs": runs,
            })
        );
    } else {
        println!(
            "time to a ban known to every node ({} nodes), median of {}:",
            runs.first().map_or(0, |r| r.nodes),
            runs.len()
        );
        println!("  cheating worker, from its first falsified claim    {w:.1} ms");
        println!("  lazy checker, from its first false attestation     {c:.1} ms");
    }
    Ok(())
}

/// Flags of `pictor bench credits`.
#[derive(Debug, Args)]
pub(crate) struct CreditsArgs {
    /// Sizes of the checker set to measure, each a network of its own.
    #[arg(long, value_delimiter = ',', default_value = "4,16")]
    checkers: Vec<usize>,
    /// Accounts that pay at once in the throughput part (the creator and workers).
    #[arg(long, default_value_t = 4)]
    payers: usize,
    /// Payments of 1 credit timed one at a time, and made by each payer at once.
    #[arg(long, default_value_t = 100)]
    transfers: u32,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run_credits(args: CreditsArgs) -> Result<()> {
    if args.checkers.is_empty() || args.checkers.contains(&0) {
        anyhow::bail!("--checkers wants a list of set sizes of at least 1, such as 4,16");
    }
    if args.payers < 2 {
        anyhow::bail!("--payers must be at least 2: every payer pays the next");
    }
    let most = pictor_node::render::credits::MAX_TRANSFERS;
    if args.transfers == 0 || args.transfers > most {
        anyhow::bail!(
            "--transfers must be 1 to {most} (the faucet gives each payer 1 000 credits)"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut reports = Vec::new();
    for &n in &args.checkers {
        eprintln!(
            "bench credits: {n} checkers, {} payers, {} payments each part...",
            args.payers, args.transfers
        );
        reports.push(runtime.block_on(pictor_node::render::credits::transfers(
            n,
            args.payers,
            args.transfers,
        ))?);
    }
    if args.json {
        println!("{}", serde_json::json!({ "credits": reports }));
        return Ok(());
    }
    println!("a payment to its certificate, as its payer saw it; payments certified per second:");
    println!(
        "{:>9} {:>10} {:>10} {:>8} {:>8} {:>7} {:>10} {:>10}",
        "checkers",
        "payments",
        "median ms",
        "p95 ms",
        "max ms",
        "payers",
        "per second",
        "conserved"
    );
    for r in &reports {
        println!(
            "{:>9} {:>10} {:>10.1} {:>8.1} {:>8.1} {:>7} {:>10.1} {:>10}",
            r.checkers,
            r.transfers,
            r.median_ms,
            r.p95_ms,
            r.max_ms,
            r.payers,
            r.per_second,
            if r.conserved { "yes" } else { "NO" }
        );
    }
    Ok(())
}
