//! `pictor bench finality`: the time from a claim to its quorum certificate at several
//! sizes of checker set, every checker on the committee, real sockets on loopback.

use std::path::PathBuf;

use anyhow::Result;
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
    #[arg(long, default_value = "examples/scenes/cornell-box.gltf")]
    scene: PathBuf,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: FinalityArgs) -> Result<()> {
    if args.checkers.is_empty() || args.checkers.contains(&0) {
        anyhow::bail!("--checkers wants a list of set sizes of at least 1, such as 4,16,64");
    }
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
