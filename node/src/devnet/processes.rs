//! A local network of OS processes: one `pictor node` per home under one directory, each
//! detached from the program that started it (`pictor devnet up|status|down`).
//!
//! ```text
//! DIR/network.toml   the network's spec: genesis checkers, bootnodes, parameters, credits
//! DIR/checker-1/     a node's home (key, config.toml, network.toml, db/, node.json, node.log)
//! DIR/worker-1/
//! DIR/creator/
//! ```
//!
//! [`up`] makes the homes (loopback ports picked once, kept in each `config.toml`), starts
//! every node that is not running, one after the other so that each dials the ones before
//! it, and waits until every node has a gossip link to every other (in its `node.json`).
//! [`status`] reads the homes; [`down`] stops the nodes with SIGTERM, then SIGKILL. The
//! first checker runs the network's faucet (its home holds `faucet.key`).

use std::{
    fs::File,
    io::{Read, Seek, SeekFrom},
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use libp2p::{multiaddr::Protocol, Multiaddr};
use nix::{sys::signal, unistd::Pid};
use serde::Serialize;
use tracing::{info, warn};

use super::ports::free_ports;
use crate::home::{Home, HomeConfig, Role, LOG_FILE};
use crate::{identity, spec::CreditsSpec, NetworkParams, NetworkSpec, NodeError};

/// The spec of the network, beside its homes.
pub const SPEC_FILE: &str = "network.toml";
/// How many of the first checkers the spec names as bootnodes.
const BOOTNODES: usize = 2;
/// How often files and processes are polled.
const POLL: Duration = Duration::from_millis(100);

/// How `up` makes and starts a network.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The directory of the network.
    pub dir: PathBuf,
    /// Checkers (default 4); an existing network must have this many.
    pub checkers: Option<usize>,
    /// Workers (default 3); an existing network must have this many.
    pub workers: Option<usize>,
    /// The price of each worker of a new network, credits per benchmark-normalised
    /// render-second (written to its `config.toml`; 0: free).
    pub worker_price: u64,
    /// The `pictor` program that runs each node (`pictor node --home …`).
    pub program: PathBuf,
    /// How long the network may take to form.
    pub timeout: Duration,
}

/// One node of the network, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeReport {
    /// `checker-1`, `worker-1`, `creator`.
    pub name: String,
    /// `checker`, `worker` or `creator`.
    pub role: String,
    /// Its home.
    pub home: PathBuf,
    /// Its peer id.
    pub peer_id: String,
    /// Where it listens (with its peer id).
    pub listen: Vec<String>,
    /// Its HTTP address.
    pub http: Option<String>,
    /// Whether its process runs.
    pub running: bool,
    /// Its process id, while it runs.
    pub pid: Option<u32>,
}

/// What `up` did.
#[derive(Debug, Clone)]
pub struct UpOutcome {
    /// The nodes it started.
    pub started: Vec<String>,
    /// Every node, once the network formed.
    pub nodes: Vec<NodeReport>,
}

/// What `down` did.
#[derive(Debug, Clone, Default)]
pub struct DownOutcome {
    /// Nodes that stopped on SIGTERM.
    pub stopped: Vec<String>,
    /// Nodes that had to be killed.
    pub killed: Vec<String>,
}

/// One member: its name, role and home.
#[derive(Debug, Clone)]
struct Member {
    name: String,
    role: Role,
    home: Home,
}

fn members(dir: &Path, checkers: usize, workers: usize) -> Vec<Member> {
    let named = |name: String, role| Member {
        home: Home::new(dir.join(&name)),
        name,
        role,
    };
    (1..=checkers)
        .map(|i| named(format!("checker-{i}"), Role::Checker))
        .chain((1..=workers).map(|i| named(format!("worker-{i}"), Role::Worker)))
        .chain([named("creator".to_owned(), Role::Creator)])
        .collect()
}

/// The members of the network in `dir`, in start order.
fn existing(dir: &Path) -> Result<Vec<Member>, NodeError> {
    if !dir.join(SPEC_FILE).exists() {
        return Err(NodeError::Config(format!(
            "{} holds no local network: start one with `pictor devnet up --dir {}`",
            dir.display(),
            dir.display()
        )));
    }
    let count = |prefix: &str| {
        (1..)
            .take_while(|i| {
                dir.join(format!("{prefix}-{i}"))
                    .join("config.toml")
                    .exists()
            })
            .count()
    };
    Ok(members(dir, count("checker"), count("worker")))
}

/// Whether `pid` is a live (not zombie) `pictor` process.
pub fn is_pictor_process(pid: u32) -> bool {
    // Never 0 or 1 (the process group, init) nor this process: only a node's own pid.
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 1 || pid == std::process::id() {
        return false;
    }
    if signal::kill(Pid::from_raw(raw), None).is_err() {
        return false;
    }
    let proc = PathBuf::from(format!("/proc/{pid}"));
    if !proc.exists() {
        // No /proc (not Linux): the process exists, which is all that can be told.
        return true;
    }
    let stat = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|s| s.trim().chars().next());
    let comm = std::fs::read_to_string(proc.join("comm")).unwrap_or_default();
    !matches!(state, Some('Z' | 'X')) && comm.trim().starts_with("pictor")
}

impl Member {
    fn runtime_pid(&self) -> Option<u32> {
        self.home
            .runtime()
            .map(|r| r.pid)
            .filter(|&pid| is_pictor_process(pid))
    }

    fn report(&self) -> NodeReport {
        let runtime = self.home.runtime().filter(|r| is_pictor_process(r.pid));
        let peer = self
            .home
            .public_key()
            .ok()
            .and_then(|k| identity::peer_id(&k));
        let config = self.home.config().ok();
        let (listen, http) = match (&runtime, &config) {
            (Some(r), _) => (r.listen.clone(), r.http.clone()),
            (None, Some(c)) => (
                c.listen
                    .iter()
                    .map(|a| match peer {
                        Some(p) => a.clone().with(Protocol::P2p(p)).to_string(),
                        None => a.to_string(),
                    })
                    .collect(),
                c.http.map(|a| a.to_string()),
            ),
            (None, None) => (Vec::new(), None),
        };
        NodeReport {
            name: self.name.clone(),
            role: self.role.to_string(),
            home: self.home.dir().to_path_buf(),
            peer_id: peer.map(|p| p.to_string()).unwrap_or_default(),
            listen,
            http,
            running: runtime.is_some(),
            pid: runtime.map(|r| r.pid),
        }
    }
}

/// The last `lines` lines of a node's log, joined into one line.
fn log_tail(home: &Home, lines: usize) -> String {
    let path = home.path(LOG_FILE);
    let mut text = String::new();
    if let Ok(mut file) = File::open(&path) {
        let len = file.metadata().map_or(0, |m| m.len());
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(8192)));
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let tail: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &tail[tail.len().saturating_sub(lines)..];
    if tail.is_empty() {
        format!("{} is empty", path.display())
    } else {
        format!("{}: {}", path.display(), tail.join(" / "))
    }
}

/// Makes the homes and the spec of a new network of `checkers` and `workers`.
fn create(
    dir: &Path,
    checkers: usize,
    workers: usize,
    worker_price: u64,
) -> Result<Vec<Member>, NodeError> {
    if checkers == 0 {
        return Err(NodeError::Config(
            "a local network needs at least one checker".into(),
        ));
    }
    let members = members(dir, checkers, workers);
    let mut keys = Vec::new();
    for m in &members {
        if m.home.is_initialised() {
            return Err(NodeError::Config(format!(
                "{} is already a home, but {} has no {SPEC_FILE}: remove the directory or use another --dir",
                m.home.dir().display(),
                dir.display()
            )));
        }
        std::fs::create_dir_all(m.home.dir()).map_err(|e| NodeError::Io {
            path: m.home.dir().display().to_string(),
            reason: e.to_string(),
        })?;
        keys.push(identity::load_or_create(m.home.dir())?.public());
    }
    let ports = free_ports(2 * members.len())?;
    let mut addrs = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let peer = identity::peer_id(key)
            .ok_or_else(|| NodeError::Config("a node key is not a valid peer id".into()))?;
        let addr = Multiaddr::empty()
            .with(Protocol::Ip4(Ipv4Addr::LOCALHOST))
            .with(Protocol::Tcp(ports[2 * i]));
        addrs.push((addr.clone(), addr.with(Protocol::P2p(peer))));
    }
    let mut params = NetworkParams::devnet(keys[..checkers].to_vec());
    let faucet = identity::create_faucet(members[0].home.dir())?;
    params.credits = Some(CreditsSpec::devnet(faucet));
    let bootnodes = addrs[..checkers.min(BOOTNODES)]
        .iter()
        .map(|(_, full)| full.clone())
        .collect();
    let spec = NetworkSpec::from_params(&params, bootnodes).to_toml()?;
    crate::home::write_atomically(&dir.join(SPEC_FILE), &spec)?;
    for (i, m) in members.iter().enumerate() {
        let config = HomeConfig {
            listen: vec![addrs[i].0.clone()],
            http: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, ports[2 * i + 1]))),
            role: m.role,
            // Each node dials every other: the ones started before it answer.
            bootnodes: addrs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (_, full))| full.clone())
                .collect(),
            price: if m.role == Role::Worker {
                worker_price
            } else {
                0
            },
            ..HomeConfig::default()
        };
        m.home.write_files(&spec, &config)?;
    }
    info!(checkers, workers, dir = %dir.display(), "local network created");
    Ok(members)
}

/// Starts `member` as a detached `pictor node` and waits until it listens.
fn start(member: &Member, spec: &Path, program: &Path, deadline: Instant) -> Result<(), NodeError> {
    member.home.remove_runtime()?;
    let log_path = member.home.path(LOG_FILE);
    let io = |e: std::io::Error| NodeError::Io {
        path: log_path.display().to_string(),
        reason: e.to_string(),
    };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io)?;
    let mut command = Command::new(program);
    command
        .arg("node")
        .arg("--home")
        .arg(member.home.dir())
        .arg("--network")
        .arg(spec)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io)?)
        .stderr(log);
    // Its own process group: a Ctrl-C meant for `devnet up` does not stop the network.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|e| NodeError::Config(format!("cannot start {}: {e}", program.display())))?;
    let pid = child.id();
    loop {
        if member.home.runtime().is_some_and(|r| r.pid == pid) {
            info!(node = %member.name, pid, "node started");
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(NodeError::Config(format!(
                "{} exited ({status}) before it listened; {}",
                member.name,
                log_tail(&member.home, 3)
            )));
        }
        if Instant::now() > deadline {
            return Err(NodeError::Config(format!(
                "{} did not start listening in time; {}",
                member.name,
                log_tail(&member.home, 3)
            )));
        }
        std::thread::sleep(POLL);
    }
}

/// Makes the network in `options.dir` if there is none, starts each of its nodes that is
/// not running, and waits until every node has a gossip link to every other.
pub fn up(options: &UpOptions) -> Result<UpOutcome, NodeError> {
    let dir = &options.dir;
    let deadline = Instant::now() + options.timeout;
    let members = if dir.join(SPEC_FILE).exists() {
        let members = existing(dir)?;
        let have = |role| members.iter().filter(|m| m.role == role).count();
        let (checkers, workers) = (have(Role::Checker), have(Role::Worker));
        if options.checkers.is_some_and(|n| n != checkers)
            || options.workers.is_some_and(|n| n != workers)
        {
            return Err(NodeError::Config(format!(
                "{} holds a network of {checkers} checkers and {workers} workers; run `pictor devnet down` and use another --dir for another size",
                dir.display()
            )));
        }
        members
    } else {
        create(
            dir,
            options.checkers.unwrap_or(4),
            options.workers.unwrap_or(3),
            options.worker_price,
        )?
    };
    let spec = dir.join(SPEC_FILE);
    let mut started = Vec::new();
    for m in &members {
        if m.runtime_pid().is_none() {
            start(m, &spec, &options.program, deadline)?;
            started.push(m.name.clone());
        }
    }
    let peers = members.len() - 1;
    loop {
        let waiting: Vec<&Member> = members
            .iter()
            .filter(|m| {
                m.home
                    .runtime()
                    .is_none_or(|r| !is_pictor_process(r.pid) || r.gossip_peers < peers)
            })
            .collect();
        if waiting.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let named: Vec<String> = waiting
                .iter()
                .map(|m| {
                    let state = match m.home.runtime() {
                        Some(r) if is_pictor_process(r.pid) => {
                            format!("{} of {peers} gossip peers", r.gossip_peers)
                        }
                        _ => "not running".to_owned(),
                    };
                    format!("{} ({state}; {})", m.name, log_tail(&m.home, 3))
                })
                .collect();
            return Err(NodeError::Config(format!(
                "the local network in {} did not form within {} s: {}",
                dir.display(),
                options.timeout.as_secs(),
                named.join("; ")
            )));
        }
        std::thread::sleep(POLL);
    }
    info!(
        nodes = members.len(),
        started = started.len(),
        "local network formed"
    );
    Ok(UpOutcome {
        started,
        nodes: members.iter().map(Member::report).collect(),
    })
}

/// Every node of the network in `dir`.
pub fn status(dir: &Path) -> Result<Vec<NodeReport>, NodeError> {
    Ok(existing(dir)?.iter().map(Member::report).collect())
}

/// Stops every running node of the network in `dir`: SIGTERM, then SIGKILL (with a
/// warning) for a node still running after `grace`. Stopping a stopped network does
/// nothing.
pub fn down(dir: &Path, grace: Duration) -> Result<DownOutcome, NodeError> {
    let members = existing(dir)?;
    let mut running = Vec::new();
    for m in &members {
        match m.runtime_pid() {
            Some(pid) => {
                let _ = signal::kill(pid_of(pid), signal::Signal::SIGTERM);
                running.push((m, pid));
            }
            // A node that was killed leaves its runtime file.
            None => m.home.remove_runtime()?,
        }
    }
    let deadline = Instant::now() + grace;
    while running.iter().any(|(_, pid)| is_pictor_process(*pid)) && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
    let mut outcome = DownOutcome::default();
    for (m, pid) in running {
        if is_pictor_process(pid) {
            warn!(node = %m.name, pid, grace_s = grace.as_secs(), "still running after SIGTERM: killed");
            let _ = signal::kill(pid_of(pid), signal::Signal::SIGKILL);
            let killed_by = Instant::now() + Duration::from_secs(5);
            while is_pictor_process(pid) && Instant::now() < killed_by {
                std::thread::sleep(POLL);
            }
            m.home.remove_runtime()?;
            outcome.killed.push(m.name.clone());
        } else {
            outcome.stopped.push(m.name.clone());
        }
    }
    Ok(outcome)
}

fn pid_of(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX))
}
