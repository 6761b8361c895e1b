//! `pictor node`: run a node on its home until SIGINT or SIGTERM.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use pictor_node::home::{parse_http, Home, Overrides, Role};
use pictor_node::LocalCapability;
use tokio::signal::unix::{signal, SignalKind};
use tracing::info;

use crate::logging::{pictor_at, Logging};

/// Flags of `pictor node`.
#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// The node's home, made by `pictor init` (default: $PICTOR_HOME, else ~/.pictor).
    #[arg(long, value_name = "DIR")]
    pub(crate) home: Option<PathBuf>,
    /// What the node does: `checker`, `worker`, `creator`, `all` (checker and worker) or
    /// `relay` (a bootnode that relays for nodes behind NAT); default: the home's
    /// config.toml.
    #[arg(long)]
    pub(crate) role: Option<Role>,
    /// Run on this network spec instead of the home's network.toml: `testnet` (the
    /// public testnet, shipped in this binary) or a spec file.
    #[arg(long, value_name = "FILE")]
    pub(crate) network: Option<PathBuf>,
    /// Listen on this address instead of config.toml's (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    pub(crate) listen: Vec<String>,
    /// Dial this peer at start, besides the spec's and config.toml's bootnodes
    /// (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    pub(crate) bootnode: Vec<String>,
    /// Where the HTTP port (the IPFS gateway) listens, or `off`; default: config.toml's.
    #[arg(long, value_name = "ADDR")]
    pub(crate) http: Option<String>,
    /// Ask the router for a port mapping over UPnP (as config.toml's `upnp = true`).
    #[arg(long)]
    pub(crate) upnp: bool,
}

fn multiaddrs<T: std::str::FromStr>(flag: &str, texts: &[String]) -> Result<Vec<T>>
where
    T::Err: std::fmt::Display,
{
    texts
        .iter()
        .map(|t| {
            t.parse()
                .map_err(|e| anyhow::anyhow!("--{flag} {t:?} is not a multiaddr: {e}"))
        })
        .collect()
}

pub(crate) fn run(args: NodeArgs, logging: &Logging) -> Result<()> {
    let dir = match args.home {
        Some(dir) => dir,
        None => Home::default_dir()?,
    };
    let home = Home::new(dir);
    let http = match &args.http {
        None => None,
        Some(text) => Some(parse_http(text).map_err(|e| anyhow::anyhow!("--http: {e}"))?),
    };
    let overrides = Overrides {
        role: args.role,
        network: args.network,
        listen: multiaddrs("listen", &args.listen)?,
        bootnodes: multiaddrs("bootnode", &args.bootnode)?,
        http,
        upnp: args.upnp,
    };
    let mut config = home.node_config(&overrides)?;
    let home_config = home.config()?;
    logging.init(&pictor_at(&home_config.log));
    let price = home_config.price;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Handlers first: a signal during start-up still stops the node cleanly.
        let mut terminate = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        if let Some(worker) = &mut config.roles.worker {
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let capability = tokio::task::spawn_blocking(move || LocalCapability::probe(threads))
                .await
                .context("capability probe")??;
            worker.capability = Some(capability.with_price(price));
        }
        let outside_genesis = config
            .keypair
            .as_ref()
            .is_some_and(|k| !config.network.checkers.contains(&k.public()));
        if config.roles.checker && config.roles.worker.is_none() && outside_genesis {
            // A checker outside the genesis set applies to join it with its record.
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let capability = tokio::task::spawn_blocking(move || LocalCapability::probe(threads))
                .await
                .context("capability probe")??;
            config.roles.checker_capability = Some(capability);
        }
        let stop = async move {
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            info!(signal = name, "stopping");
        };
        home.run(config, stop).await?;
        Ok(())
    })
}
