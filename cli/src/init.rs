//! `pictor init`: make a node's home.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use pictor_node::home::{Home, InitNetwork};

/// Flags of `pictor init`.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The home to make (default: $PICTOR_HOME, else ~/.pictor).
    #[arg(long, value_name = "DIR")]
    pub(crate) home: Option<PathBuf>,
    /// The network: `devnet` (a new network of one, this node its only checker),
    /// `testnet` (the public testnet, whose spec ships in this binary) or a network spec
    /// file, which is checked and copied into the home.
    #[arg(long, value_name = "devnet|testnet|FILE", default_value = "devnet")]
    pub(crate) network: InitNetwork,
    /// Also make a faucet key (`faucet.key`, mode 0600) for a new network's `[credits]`:
    /// the node whose home holds it mints the network's credits. Its public half is
    /// printed, for the spec's `faucet`.
    #[arg(long)]
    pub(crate) faucet: bool,
}

pub(crate) fn run(args: InitArgs) -> Result<()> {
    let dir = match args.home {
        Some(dir) => dir,
        None => Home::default_dir()?,
    };
    let outcome = Home::init(&dir, &args.network)?;
    if outcome.already_initialised {
        println!(
            "{} is already a Pictor home: nothing changed",
            outcome.home.display()
        );
    } else {
        println!("initialised the Pictor home {}", outcome.home.display());
    }
    if let Some(peer) = outcome.peer_id {
        println!("  peer id      {peer}");
    }
    if let Some(key) = outcome.public_key {
        println!("  public key   {key}");
    }
    if args.faucet && !outcome.already_initialised {
        let key = pictor_node::identity::create_faucet(&outcome.home)?;
        println!("  faucet key   {key}");
    } else if args.faucet {
        match pictor_node::identity::load_faucet(&outcome.home)? {
            Some(k) => println!("  faucet key   {}", k.public()),
            None => println!("  faucet key   none: an existing home gets no new key"),
        }
    }
    if !outcome.already_initialised {
        let network = match &args.network {
            InitNetwork::Devnet => "devnet: a network of one, this node its only checker".into(),
            InitNetwork::Shipped(name) => {
                format!("{name}: the spec shipped in this binary (UPnP on in config.toml)")
            }
            InitNetwork::File(path) => format!("the spec {}", path.display()),
        };
        println!("  network      {network}");
        for (i, path) in outcome.created.iter().enumerate() {
            let label = if i == 0 { "created" } else { "" };
            println!("  {label:<12} {}", path.display());
        }
        println!(
            "Start the node with `pictor node --home {}`.",
            outcome.home.display()
        );
    }
    Ok(())
}
