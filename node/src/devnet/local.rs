//! A whole Pictor network in one process, on loopback: checkers, workers and a creator,
//! each its own libp2p swarm on its own port with its own key and its own database.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use libp2p::{multiaddr::Protocol, Multiaddr};
use pictor_protocol::{Keypair, PublicKey};
use tokio::sync::mpsc;
use tracing::info;

use crate::{
    identity,
    roles::{checker::Behaviour, worker::Tamper},
    spawn, Client, LocalCapability, NetworkParams, NodeConfig, NodeError, NodeEvent, Roles,
    WorkerConfig,
};

/// How the local network is made.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// Number of checkers.
    pub checkers: usize,
    /// Number of workers.
    pub workers: usize,
    /// How many of the workers falsify some of their outputs.
    pub faulty_workers: usize,
    /// How many of the checkers attest without checking.
    pub lazy_checkers: usize,
    /// How many of the checkers sign two conflicting votes on each claim.
    pub equivocating_checkers: usize,
    /// The directory under which every node gets its home.
    pub root: PathBuf,
    /// How long the network may take to form.
    pub form_timeout: Duration,
    /// The device the workers' Blender renders on (checkers re-render on the CPU).
    pub blender_device: pictor_gpu::BlenderDevice,
    /// What the network asks of its workers (a network spec's `[requirements]`); a local
    /// worker that falls short stops the network's start with the reason, in one line.
    pub requirements: pictor_gpu::HardwareRequirements,
    /// How long finished jobs are kept before they are pruned.
    pub job_retention: Duration,
    /// Whether the workers look for Blender (the network will render Blender jobs); the
    /// built-in engine is always there.
    pub blender: bool,
    /// Whether the nodes' databases sync to disk ([`NodeConfig::durable`]); a network in
    /// a temporary directory made for one command does without.
    pub durable: bool,
    /// Checkers on each job's committee (`None`: up to 4, the local default).
    pub committee: Option<usize>,
    /// Shard attempts the workers turn into canaries, parts per million (0: none).
    pub canary_rate_ppm: u32,
    /// A worker's first ban (`None`: the local default, a minute).
    pub ban_cooldown: Option<Duration>,
    /// The price of worker `i`, credits per benchmark-normalised render-second (a worker
    /// past the end of the list: 0, free).
    pub worker_prices: Vec<u64>,
    /// Whether the network keeps credits: the devnet's `[credits]`, with the first checker
    /// running the faucet (its key written to that checker's home).
    pub credits: bool,
}

impl DevnetConfig {
    /// A plain network in `root` for measurements: `checkers` and `workers`, all honest,
    /// built-in engine only, no requirements, nothing synced to disk.
    pub fn plain(root: &Path, checkers: usize, workers: usize) -> DevnetConfig {
        DevnetConfig {
            checkers,
            workers,
            faulty_workers: 0,
            lazy_checkers: 0,
            equivocating_checkers: 0,
            root: root.to_path_buf(),
            form_timeout: Duration::from_secs(60),
            blender_device: pictor_gpu::BlenderDevice::Cpu,
            requirements: Default::default(),
            job_retention: Duration::from_secs(600),
            blender: false,
            durable: false,
            committee: None,
            canary_rate_ppm: 0,
            ban_cooldown: None,
            worker_prices: Vec::new(),
            credits: false,
        }
    }
}

/// One running node of the local network.
#[derive(Debug)]
pub struct DevnetNode {
    /// What it does.
    pub role: &'static str,
    /// Its protocol key.
    pub key: PublicKey,
    /// Its handle.
    pub client: Client,
    /// Where it keeps its state.
    pub home: PathBuf,
}

/// A running local network.
#[derive(Debug)]
pub struct Devnet {
    /// The checkers and workers.
    pub nodes: Vec<DevnetNode>,
    /// The creator's node, through which jobs are submitted.
    pub creator: Client,
    /// The creator's key (jobs name it).
    pub creator_key: Keypair,
    /// Progress of the creator's jobs.
    pub events: mpsc::Receiver<NodeEvent>,
    /// The network's parameters.
    pub params: NetworkParams,
}

fn loopback() -> Multiaddr {
    Multiaddr::empty()
        .with(Protocol::Ip4([127, 0, 0, 1].into()))
        .with(Protocol::Tcp(0))
}

async fn address_of(client: &Client, key: &PublicKey) -> Result<Multiaddr, NodeError> {
    for _ in 0..200 {
        if let Some(addr) = client.listen_addrs().await?.into_iter().next() {
            let peer = identity::peer_id(key)
                .ok_or_else(|| NodeError::Config("node key is not a valid peer id".into()))?;
            return Ok(addr.with(Protocol::P2p(peer)));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(NodeError::Config("node did not start listening".into()))
}

impl Devnet {
    /// Starts the network and waits until every node hears every other and every checker
    /// knows every worker.
    pub async fn start(config: &DevnetConfig) -> Result<Devnet, NodeError> {
        if config.checkers == 0 || config.workers == 0 {
            return Err(NodeError::Config(
                "a local network needs at least one checker and one worker".into(),
            ));
        }
        if config.faulty_workers >= config.workers {
            return Err(NodeError::Config(format!(
                "--faulty-workers {} leaves no honest worker out of {}",
                config.faulty_workers, config.workers
            )));
        }
        let checker_keys: Vec<Keypair> =
            (0..config.checkers).map(|_| identity::generate()).collect();
        let mut params = NetworkParams::devnet(checker_keys.iter().map(Keypair::public).collect());
        params.requirements = config.requirements.clone();
        if let Some(n) = config.committee {
            params.committee_size = n.clamp(1, config.checkers);
        }
        params.canary_rate_ppm = config.canary_rate_ppm;
        if let Some(cooldown) = config.ban_cooldown {
            params.ban_cooldown = cooldown;
        }
        if config.credits {
            let home = config.root.join("checker-0");
            std::fs::create_dir_all(&home).map_err(|e| NodeError::Io {
                path: home.display().to_string(),
                reason: e.to_string(),
            })?;
            let faucet = identity::create_faucet(&home)?;
            params.credits = Some(crate::spec::CreditsSpec::devnet(faucet));
        }

        // The local nodes share the machine's cores, and so its Blender processes.
        let blender_pool = Arc::new(pictor_gpu::BlenderPool::per_core());
        let make = |home: &Path, keypair: Keypair, roles: Roles, events: bool| NodeConfig {
            home: home.to_path_buf(),
            network: params.clone(),
            roles,
            listen: vec![loopback()],
            bootnodes: Vec::new(),
            keypair: Some(keypair),
            events,
            // The creator answers IPFS gateway requests for the frames it holds.
            http: events.then(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            http_limits: crate::http::HttpLimits::default(),
            blender_pool: Some(blender_pool.clone()),
            job_retention: config.job_retention,
            durable: config.durable,
            // Every node of this network is on loopback in this process: no NAT to cross.
            swarm: crate::network::SwarmOptions::default(),
        };
        // The local workers share one machine: measure it once, while the checkers start.
        // A network that asks for no benchmark score gets none measured.
        let threads = rayon_threads();
        let benchmark = config.requirements.min_benchmark_score.is_some();
        let blender = config.blender;
        let capability = tokio::task::spawn_blocking(move || {
            LocalCapability::probe_with(threads, benchmark, blender)
        });
        let mut nodes = Vec::new();
        for (i, keypair) in checker_keys.into_iter().enumerate() {
            let home = config.root.join(format!("checker-{i}"));
            let key = keypair.public();
            // The last checkers misbehave when asked (demonstrations of the defences).
            let behaviour = if i + config.equivocating_checkers >= config.checkers {
                Behaviour::Equivocating
            } else if i + config.equivocating_checkers + config.lazy_checkers >= config.checkers {
                Behaviour::Lazy
            } else {
                Behaviour::Honest
            };
            let roles = Roles {
                checker: true,
                worker: None,
                checker_behaviour: behaviour,
                ..Roles::default()
            };
            let (client, _) = spawn(make(&home, keypair, roles, false))?;
            nodes.push(DevnetNode {
                role: match behaviour {
                    Behaviour::Honest => "checker",
                    Behaviour::Lazy => "checker (lazy)",
                    Behaviour::Equivocating => "checker (equivocating)",
                },
                key,
                client,
                home,
            });
        }
        let capability = capability
            .await
            .map_err(|e| NodeError::Config(format!("capability probe: {e}")))??;
        for i in 0..config.workers {
            let home = config.root.join(format!("worker-{i}"));
            let keypair = identity::generate();
            let key = keypair.public();
            let faulty = i >= config.workers - config.faulty_workers;
            let roles = Roles {
                checker: false,
                worker: Some(WorkerConfig {
                    device: format!("cpu ({} threads)", rayon_threads()),
                    tamper: faulty.then_some(Tamper::Mixed),
                    blender_device: Some(config.blender_device),
                    capability: Some(
                        capability
                            .clone()
                            .with_price(config.worker_prices.get(i).copied().unwrap_or(0)),
                    ),
                }),
                ..Roles::default()
            };
            let (client, _) = spawn(make(&home, keypair, roles, false))?;
            nodes.push(DevnetNode {
                role: if faulty { "worker (faulty)" } else { "worker" },
                key,
                client,
                home,
            });
        }
        let creator_key = identity::generate();
        let creator_home = config.root.join("creator");
        let (creator, events) = spawn(make(
            &creator_home,
            creator_key.clone(),
            Roles::default(),
            true,
        ))?;
        let events = events.ok_or_else(|| NodeError::Config("no event stream".into()))?;

        // Full mesh on loopback: every node dials every node started before it.
        let mut clients: Vec<(Client, PublicKey)> =
            nodes.iter().map(|n| (n.client.clone(), n.key)).collect();
        clients.push((creator.clone(), creator_key.public()));
        let mut addrs = Vec::new();
        for (client, key) in &clients {
            addrs.push(address_of(client, key).await?);
        }
        for (i, (client, _)) in clients.iter().enumerate() {
            for addr in &addrs[..i] {
                client.dial(addr.clone()).await?;
            }
        }
        let devnet = Devnet {
            nodes,
            creator,
            creator_key,
            events,
            params,
        };
        devnet
            .wait_formed(config.workers, config.form_timeout)
            .await?;
        info!(
            checkers = config.checkers,
            workers = config.workers,
            "local network formed"
        );
        Ok(devnet)
    }

    async fn wait_formed(&self, workers: usize, timeout: Duration) -> Result<(), NodeError> {
        let peers = self.nodes.len();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut formed = self.creator.status().await?.gossip_peers >= peers;
            for node in &self.nodes {
                let status = node.client.status().await?;
                formed &= status.gossip_peers >= peers
                    && status.eligible_workers.is_none_or(|n| n >= workers);
            }
            if formed {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(NodeError::Config(format!(
                    "the local network did not form within {} s",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops every node, flushing their databases.
    pub async fn shutdown(self) {
        // The nodes are independent: stop them all at once, each flushing its own database.
        let stops = self
            .nodes
            .iter()
            .map(|node| &node.client)
            .chain(std::iter::once(&self.creator))
            .map(|client| client.shutdown());
        futures::future::join_all(stops).await;
    }
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
