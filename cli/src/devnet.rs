//! `pictor devnet up|status|down`: a local network of `pictor node` processes.

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use pictor_node::devnet::processes::{self, NodeReport, UpOptions};

/// Flags of `pictor devnet`.
#[derive(Debug, Args)]
pub(crate) struct DevnetArgs {
    #[command(subcommand)]
    pub(crate) command: DevnetCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DevnetCommand {
    /// Make the network (one home per node under DIR) if there is none, start every node
    /// that is not running, and wait until each is connected to every other.
    Up {
        /// The network's directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Checkers of a new network (default 4).
        #[arg(long)]
        checkers: Option<usize>,
        /// Workers of a new network (default 3).
        #[arg(long)]
        workers: Option<usize>,
        /// The workers' price of a new network, in credits per benchmark-normalised
        /// render-second (0: they render for nothing).
        #[arg(long, default_value_t = 0)]
        worker_price: u64,
        /// Seconds the network may take to form.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// List the nodes: name, role, home, peer id, addresses, running or not.
    Status {
        /// The network's directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Print `{"nodes": [...]}` for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Stop every node (SIGTERM, then SIGKILL after a grace period).
    Down {
        /// The network's directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Seconds a node may take to stop before it is killed.
        #[arg(long, default_value_t = 10)]
        grace: u64,
    },
}

fn print_table(nodes: &[NodeReport]) {
    let row = |cells: [&str; 8]| {
        let [name, role, state, pid, peer, http, listen, home] = cells;
        println!(
            "{name:<11} {role:<8} {state:<8} {pid:>7}  {peer:<52}  {http:<21}  {listen}  {home}"
        );
    };
    row([
        "NAME", "ROLE", "STATE", "PID", "PEER ID", "HTTP", "LISTEN", "HOME",
    ]);
    for n in nodes {
        let pid = n.pid.map_or_else(|| "-".to_owned(), |p| p.to_string());
        let listen = n.listen.join(" ");
        let home = n.home.display().to_string();
        row([
            &n.name,
            &n.role,
            if n.running { "running" } else { "stopped" },
            &pid,
            &n.peer_id,
            n.http.as_deref().unwrap_or("-"),
            &listen,
            &home,
        ]);
    }
}

pub(crate) fn run(args: DevnetArgs) -> Result<()> {
    match args.command {
        DevnetCommand::Up {
            dir,
            checkers,
            workers,
            worker_price,
            timeout,
        } => {
            let program = std::env::current_exe().context("cannot find this program")?;
            let outcome = processes::up(&UpOptions {
                dir: dir.clone(),
                checkers,
                workers,
                worker_price,
                program,
                timeout: Duration::from_secs(timeout),
            })?;
            let started = if outcome.started.is_empty() {
                "none (all were running)".to_owned()
            } else {
                outcome.started.join(", ")
            };
            println!(
                "local network in {} is up: {} nodes; started: {started}",
                dir.display(),
                outcome.nodes.len()
            );
            print_table(&outcome.nodes);
        }
        DevnetCommand::Status { dir, json } => {
            let nodes = processes::status(&dir)?;
            if json {
                // A struct, so the keys keep their documented order.
                #[derive(serde::Serialize)]
                struct Nodes<'a> {
                    nodes: &'a [NodeReport],
                }
                println!("{}", serde_json::to_string(&Nodes { nodes: &nodes })?);
            } else {
                print_table(&nodes);
            }
        }
        DevnetCommand::Down { dir, grace } => {
            let outcome = processes::down(&dir, Duration::from_secs(grace))?;
            if outcome.stopped.is_empty() && outcome.killed.is_empty() {
                println!("no node of {} was running", dir.display());
            }
            if !outcome.stopped.is_empty() {
                println!("stopped: {}", outcome.stopped.join(", "));
            }
            if !outcome.killed.is_empty() {
                println!(
                    "killed after SIGTERM did not stop them: {}",
                    outcome.killed.join(", ")
                );
            }
        }
    }
    Ok(())
}
