//! `pictor`: the command line of a Pictor render-network node.

mod bench;
mod gpu;
mod render;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A node of the Pictor decentralized render network.
#[derive(Debug, Parser)]
#[command(name = "pictor", version, about, long_about = None)]
struct Cli {
    /// Log filter (for example `info` or `pictor_node=debug`); also read from RUST_LOG.
    /// Kademlia's warning that it has no peer to bootstrap from yet is left out by default:
    /// a local network's nodes meet each other directly.
    #[arg(long, global = true, default_value = "warn,libp2p_kad=error")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render a scene on a local network of checkers and workers (or directly).
    Render(render::RenderArgs),
    /// Measure the network against a direct render, verification cost and engine speed.
    Bench(bench::BenchArgs),
    /// Show this machine's GPUs, CPU and render engines (and benchmark it with `--bench`).
    Gpu(gpu::GpuArgs),
}

fn init_logging(filter: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_owned());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line naming the problem; `--help` has the rest.
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("{first} (see `pictor --help`)");
            return ExitCode::from(2);
        }
    };
    init_logging(&cli.log);
    let result = match cli.command {
        Command::Render(args) => render::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Gpu(args) => gpu::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
