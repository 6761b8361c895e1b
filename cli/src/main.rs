//! `pictor`: the command line of a Pictor render-network node.

mod bench;
mod bench_finality;
mod bench_rpc;
mod credits;
mod devnet;
mod doctor;
mod gpu;
mod init;
mod job;
mod logging;
mod netcmds;
mod node;
mod render;
mod rpc_client;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A node of the Pictor decentralized render network.
#[derive(Debug, Parser)]
#[command(name = "pictor", version, about, long_about = None)]
struct Cli {
    /// Log filter (for example `info` or `pictor_node=debug`); also read from RUST_LOG.
    /// By default commands log warnings, and `pictor node` logs Pictor's own events at
    /// `info` (its home's `config.toml` names the level).
    #[arg(long, global = true, value_name = "FILTER")]
    log: Option<String>,
    /// More log output from Pictor's own crates: -v info, -vv debug, -vvv trace.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log errors only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// How log lines are written: `text`, or `json` (one object per line).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: logging::LogFormat,
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
    /// Make a node's home: its key, config.toml, network.toml and database.
    Init(init::InitArgs),
    /// Run a node on its home until SIGINT or SIGTERM.
    Node(node::NodeArgs),
    /// A local network of `pictor node` processes: `up`, `status`, `down`.
    Devnet(devnet::DevnetArgs),
    /// Jobs on a running node: `submit`, `status`, `watch`, `fetch`, `list`, `cancel`.
    Job(job::JobArgs),
    /// A running node: its peers, roles, and why it may not be getting work.
    Status(netcmds::ReadArgs),
    /// The workers a running node has heard of.
    Workers(netcmds::ReadArgs),
    /// The checkers a running node has heard of.
    Checkers(netcmds::ReadArgs),
    /// How a running node is reached: AutoNAT verdicts, relays, hole punches, what to do.
    Doctor(doctor::DoctorArgs),
    /// Call any RPC method of a running node (`pictor rpc rpc.discover` lists them).
    Rpc(netcmds::RpcArgs),
    /// A running node's credits: its balance and what it holds in escrow.
    Balance(credits::BalanceArgs),
    /// Pay credits from a running node's account to another account.
    Pay(credits::PayArgs),
    /// Ask the network's faucet for test credits.
    Faucet(credits::FaucetArgs),
    /// Add credits to the escrow of a job of a running node (a job whose budget ran out
    /// goes on).
    Fund(credits::FundArgs),
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
    let logging = logging::Logging {
        filter: cli.log,
        verbose: cli.verbose,
        quiet: cli.quiet,
        format: cli.log_format,
    };
    // A node's default log level is in its home's config; other commands log warnings.
    let init = || logging.init(logging::DEFAULT_FILTER);
    let result = match cli.command {
        Command::Node(args) => node::run(args, &logging),
        Command::Render(args) => {
            init();
            render::run(args)
        }
        Command::Bench(args) => {
            init();
            bench::run(args)
        }
        Command::Gpu(args) => {
            init();
            gpu::run(args)
        }
        Command::Init(args) => {
            init();
            init::run(args)
        }
        Command::Devnet(args) => {
            init();
            devnet::run(args)
        }
        Command::Job(args) => {
            init();
            job::run(args)
        }
        Command::Status(args) => {
            init();
            netcmds::status(args)
        }
        Command::Workers(args) => {
            init();
            netcmds::workers(args)
        }
        Command::Checkers(args) => {
            init();
            netcmds::checkers(args)
        }
        Command::Rpc(args) => {
            init();
            netcmds::rpc(args)
        }
        Command::Doctor(args) => {
            init();
            doctor::run(args)
        }
        Command::Balance(args) => {
            init();
            credits::balance(args)
        }
        Command::Pay(args) => {
            init();
            credits::pay(args)
        }
        Command::Faucet(args) => {
            init();
            credits::faucet(args)
        }
        Command::Fund(args) => {
            init();
            credits::fund(args)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            match e.downcast_ref::<rpc_client::Exit>() {
                Some(exit) => ExitCode::from(exit.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}
