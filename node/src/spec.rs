//! Network spec files (TOML): a network's id, protocol version, genesis checkers,
//! bootnodes, parameters and hardware requirements. `docs/network-spec.md` documents every
//! key.
//!
//! ```toml
//! [network]
//! id = "pictor-testnet"
//! protocol_version = 1
//! genesis_checkers = ["9f6a…"]   # ed25519 public keys, hex
//! bootnodes = ["/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW…"]
//!
//! [params]
//! committee_size = 4
//! shard_timeout = "5m"
//!
//! [requirements]
//! min_memory_bytes = 8589934592
//! engines = ["blender"]
//! ```
//!
//! Every table is optional when a spec is read, so a file that holds only
//! `[requirements]` serves `pictor gpu` and `pictor render`; [`NetworkSpec::params`], which
//! a node needs to start, insists on the id and the checkers. Every mistake is one line
//! naming its place: file, line, column and key.

mod credits;
#[cfg(test)]
mod credits_tests;
mod duration;
pub(crate) mod place;
#[cfg(test)]
mod tests;

use std::{path::Path, time::Duration};

use libp2p::{multiaddr::Protocol, Multiaddr};
use pictor_gpu::{HardwareRequirements, RequirementsError};
use pictor_protocol::PublicKey;
use serde::{Deserialize, Serialize};

pub use credits::CreditsSpec;
pub(crate) use duration::{format_duration, parse_duration};
pub(crate) use place::TomlText;

use crate::{NetworkParams, NodeError};

/// Largest spec file read (a spec is a few kilobytes).
pub const MAX_SPEC_BYTES: u64 = 1 << 20;

/// The protocol version this node speaks: version 1 of the wire messages, the signing
/// domain (`pictor/v1`) and the gossip topics (`/pictor/{network}/{topic}/1`).
pub const PROTOCOL_VERSION: u32 = 1;

/// A network spec.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSpec {
    /// The network id (`[network] id`): the domain of every signature. `None` in a spec
    /// that holds only requirements.
    pub id: Option<String>,
    /// The protocol version the network speaks ([`PROTOCOL_VERSION`] when absent).
    pub protocol_version: u32,
    /// The genesis checkers' public keys.
    pub genesis_checkers: Vec<PublicKey>,
    /// Peers to dial at start; each names its peer id (`/p2p/…`).
    pub bootnodes: Vec<Multiaddr>,
    /// The network's parameters (`[params]`).
    pub params: SpecParams,
    /// What a worker must bring (`[requirements]`); absent means no requirement.
    pub requirements: HardwareRequirements,
    /// The faucet and the checkers' fee (`[credits]`); absent on a network without credits.
    pub credits: Option<CreditsSpec>,
}

/// The networks whose specs ship in the binary, by name (`--network testnet`).
pub const SHIPPED: &[(&str, &str)] = &[("testnet", include_str!("spec/testnet.toml"))];

/// The text of the spec shipped under `name`.
pub fn shipped(name: &str) -> Option<&'static str> {
    SHIPPED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// The `[params]` table: every node of a network must agree on these.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecParams {
    /// Checkers on each job's committee.
    pub committee_size: usize,
    /// Shards a worker may hold unclaimed at once.
    pub max_outstanding: usize,
    /// A shard assigned this long without a claim is assigned elsewhere.
    pub shard_timeout: Duration,
    /// A claim not certified within this time is given up.
    pub claim_timeout: Duration,
    /// A leader silent this long while shards wait is replaced.
    pub leader_timeout: Duration,
    /// How often workers announce themselves.
    pub heartbeat_interval: Duration,
    /// Gossip older than this is dropped as stale.
    pub max_message_age: Duration,
    /// The gossipsub heartbeat.
    pub gossip_heartbeat: Duration,
    /// Canary shard attempts, in parts per million.
    pub canary_rate_ppm: u32,
    /// Length of an epoch (the checker set changes at its boundaries).
    pub epoch: Duration,
}

impl SpecParams {
    /// The parameters of `params`.
    pub fn of(params: &NetworkParams) -> SpecParams {
        SpecParams {
            committee_size: params.committee_size,
            max_outstanding: params.max_outstanding,
            shard_timeout: params.shard_timeout,
            claim_timeout: params.claim_timeout,
            leader_timeout: params.leader_timeout,
            heartbeat_interval: params.heartbeat_interval,
            max_message_age: params.max_message_age,
            gossip_heartbeat: params.gossip_heartbeat,
            canary_rate_ppm: params.canary_rate_ppm,
            epoch: params.epoch,
        }
    }
}

impl Default for SpecParams {
    /// [`NetworkParams::new`]'s defaults.
    fn default() -> SpecParams {
        SpecParams::of(&NetworkParams::new("default", Vec::new()))
    }
}

impl Default for NetworkSpec {
    fn default() -> NetworkSpec {
        NetworkSpec {
            id: None,
            protocol_version: PROTOCOL_VERSION,
            genesis_checkers: Vec::new(),
            bootnodes: Vec::new(),
            params: SpecParams::default(),
            requirements: HardwareRequirements::default(),
            credits: None,
        }
    }
}

/// The file as written: strings and numbers, checked into a [`NetworkSpec`].
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<RawNetwork>,
    params: RawParams,
    requirements: HardwareRequirements,
    #[serde(skip_serializing_if = "Option::is_none")]
    credits: Option<credits::RawCredits>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawNetwork {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol_version: Option<i64>,
    genesis_checkers: Vec<String>,
    bootnodes: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    committee_size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_outstanding: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    claim_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    leader_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    heartbeat_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_message_age: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gossip_heartbeat: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    canary_rate_ppm: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    epoch: Option<String>,
}

/// A whole number of at least 1 at `[params] key`, or `default`.
fn count(
    doc: &TomlText<'_>,
    key: &str,
    value: Option<i64>,
    default: usize,
) -> Result<usize, NodeError> {
    match value {
        None => Ok(default),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| doc.error(&["params", key], format!("must be at least 1, got {n}"))),
    }
}

/// Parts per million (0 to 1 000 000) at `[params] key`, or `default`.
fn ppm(doc: &TomlText<'_>, key: &str, value: Option<i64>, default: u32) -> Result<u32, NodeError> {
    match value {
        None => Ok(default),
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|&n| n <= pictor_protocol::canary::PPM)
            .ok_or_else(|| {
                doc.error(
                    &["params", key],
                    format!("must be parts per million, 0 to 1000000, got {n}"),
                )
            }),
    }
}

/// A duration above zero at `[params] key`, or `default`.
fn period(
    doc: &TomlText<'_>,
    key: &str,
    value: Option<&String>,
    default: Duration,
) -> Result<Duration, NodeError> {
    let Some(text) = value else {
        return Ok(default);
    };
    let d = parse_duration(text).map_err(|e| doc.error(&["params", key], e))?;
    if d.is_zero() {
        return Err(doc.error(&["params", key], "must be longer than zero"));
    }
    Ok(d)
}

impl RawSpec {
    fn check(self, doc: &TomlText<'_>) -> Result<NetworkSpec, NodeError> {
        let network = self.network.unwrap_or_default();
        if let Some(id) = &network.id {
            pictor_protocol::validate_network_id(id)
                .map_err(|e| doc.error(&["network", "id"], e))?;
        }
        let protocol_version = match network.protocol_version {
            None => PROTOCOL_VERSION,
            Some(v) if v == i64::from(PROTOCOL_VERSION) => PROTOCOL_VERSION,
            Some(v) => {
                return Err(doc.error(
                    &["network", "protocol_version"],
                    format!(
                        "protocol version {v} is not one this node speaks (it speaks version {PROTOCOL_VERSION})"
                    ),
                ))
            }
        };
        let mut genesis_checkers: Vec<PublicKey> = Vec::new();
        for (i, text) in network.genesis_checkers.iter().enumerate() {
            let at = i.to_string();
            let key: PublicKey = text.trim().parse().map_err(|e| {
                doc.error(
                    &["network", "genesis_checkers", &at],
                    format!("{text:?} is not an ed25519 public key in hex: {e}"),
                )
            })?;
            if genesis_checkers.contains(&key) {
                return Err(doc.error(&["network", "genesis_checkers", &at], "listed twice"));
            }
            genesis_checkers.push(key);
        }
        let mut bootnodes = Vec::new();
        for (i, text) in network.bootnodes.iter().enumerate() {
            bootnodes.push(
                bootnode(text)
                    .map_err(|e| doc.error(&["network", "bootnodes", &i.to_string()], e))?,
            );
        }
        let d = SpecParams::default();
        let p = &self.params;
        let params = SpecParams {
            committee_size: count(doc, "committee_size", p.committee_size, d.committee_size)?,
            max_outstanding: count(doc, "max_outstanding", p.max_outstanding, d.max_outstanding)?,
            shard_timeout: period(
                doc,
                "shard_timeout",
                p.shard_timeout.as_ref(),
                d.shard_timeout,
            )?,
            claim_timeout: period(
                doc,
                "claim_timeout",
                p.claim_timeout.as_ref(),
                d.claim_timeout,
            )?,
            leader_timeout: period(
                doc,
                "leader_timeout",
                p.leader_timeout.as_ref(),
                d.leader_timeout,
            )?,
            heartbeat_interval: period(
                doc,
                "heartbeat_interval",
                p.heartbeat_interval.as_ref(),
                d.heartbeat_interval,
            )?,
            max_message_age: period(
                doc,
                "max_message_age",
                p.max_message_age.as_ref(),
                d.max_message_age,
            )?,
            gossip_heartbeat: period(
                doc,
                "gossip_heartbeat",
                p.gossip_heartbeat.as_ref(),
                d.gossip_heartbeat,
            )?,
            canary_rate_ppm: ppm(doc, "canary_rate_ppm", p.canary_rate_ppm, d.canary_rate_ppm)?,
            epoch: period(doc, "epoch", p.epoch.as_ref(), d.epoch)?,
        };
        self.requirements.validate().map_err(|e| {
            let key = match e {
                RequirementsError::BadScore(_) => "min_benchmark_score",
                RequirementsError::EmptyEngine => "engines",
                _ => "",
            };
            let path: Vec<&str> = ["requirements", key]
                .into_iter()
                .filter(|k| !k.is_empty())
                .collect();
            doc.error(&path, e)
        })?;
        let credits = self.credits.map(|c| c.check(doc)).transpose()?;
        Ok(NetworkSpec {
            id: network.id,
            protocol_version,
            genesis_checkers,
            bootnodes,
            params,
            requirements: self.requirements,
            credits,
        })
    }
}

/// A bootnode's address: a multiaddr that ends in its peer id.
pub(crate) fn bootnode(text: &str) -> Result<Multiaddr, String> {
    let addr: Multiaddr = text
        .trim()
        .parse()
        .map_err(|e| format!("{text:?} is not a multiaddr: {e}"))?;
    if !addr.iter().any(|p| matches!(p, Protocol::P2p(_))) {
        return Err(format!(
            "{text:?} names no peer id: a bootnode ends in /p2p/<peer id>"
        ));
    }
    Ok(addr)
}

impl NetworkSpec {
    /// Parses a spec from TOML text and checks it. Errors are one line with the line,
    /// column and key of the problem.
    pub fn from_toml(text: &str) -> Result<NetworkSpec, NodeError> {
        NetworkSpec::parse(text, "network spec")
    }

    fn parse(text: &str, origin: &str) -> Result<NetworkSpec, NodeError> {
        let doc = TomlText::new(origin, text);
        doc.parse::<RawSpec>()?.check(&doc)
    }

    /// The spec `network` names: a network shipped in the binary (`testnet`), else the
    /// file at that path (`./testnet` for a file of that name).
    pub fn load_named(network: &Path) -> Result<NetworkSpec, NodeError> {
        match network.to_str().and_then(shipped) {
            Some(text) => NetworkSpec::parse(
                text,
                &format!("the {} spec shipped in this binary", network.display()),
            ),
            None => NetworkSpec::load(network),
        }
    }

    /// Reads and parses the spec file at `path`; errors name the file.
    pub fn load(path: &Path) -> Result<NetworkSpec, NodeError> {
        let shown = path.display().to_string();
        let size = std::fs::metadata(path)
            .map_err(|e| NodeError::Config(format!("cannot read network spec {shown}: {e}")))?
            .len();
        if size > MAX_SPEC_BYTES {
            return Err(NodeError::Config(format!(
                "network spec {shown} is {size} bytes; a spec is at most {MAX_SPEC_BYTES}"
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| NodeError::Config(format!("cannot read network spec {shown}: {e}")))?;
        NetworkSpec::parse(&text, &format!("network spec {shown}"))
    }

    /// The spec as TOML that [`NetworkSpec::from_toml`] reads back as the same spec; every
    /// parameter is written out.
    pub fn to_toml(&self) -> Result<String, NodeError> {
        let has_network =
            self.id.is_some() || !self.genesis_checkers.is_empty() || !self.bootnodes.is_empty();
        let p = &self.params;
        let raw = RawSpec {
            network: has_network.then(|| RawNetwork {
                id: self.id.clone(),
                protocol_version: Some(i64::from(self.protocol_version)),
                genesis_checkers: self
                    .genesis_checkers
                    .iter()
                    .map(|k| k.to_string())
                    .collect(),
                bootnodes: self.bootnodes.iter().map(|a| a.to_string()).collect(),
            }),
            params: RawParams {
                committee_size: i64::try_from(p.committee_size).ok(),
                max_outstanding: i64::try_from(p.max_outstanding).ok(),
                shard_timeout: Some(format_duration(p.shard_timeout)),
                claim_timeout: Some(format_duration(p.claim_timeout)),
                leader_timeout: Some(format_duration(p.leader_timeout)),
                heartbeat_interval: Some(format_duration(p.heartbeat_interval)),
                max_message_age: Some(format_duration(p.max_message_age)),
                gossip_heartbeat: Some(format_duration(p.gossip_heartbeat)),
                canary_rate_ppm: Some(i64::from(p.canary_rate_ppm)),
                epoch: Some(format_duration(p.epoch)),
            },
            requirements: self.requirements.clone(),
            credits: self.credits.as_ref().map(credits::RawCredits::of),
        };
        let body = toml::to_string_pretty(&raw)
            .map_err(|e| NodeError::Config(format!("network spec: cannot write TOML: {e}")))?;
        Ok(format!(
            "# A Pictor network spec: keys are described in docs/network-spec.md.\n\n{body}"
        ))
    }

    /// The spec of a network whose parameters are `params` and whose bootnodes are
    /// `bootnodes`.
    pub fn from_params(params: &NetworkParams, bootnodes: Vec<Multiaddr>) -> NetworkSpec {
        NetworkSpec {
            id: Some(params.id.clone()),
            protocol_version: PROTOCOL_VERSION,
            genesis_checkers: params.checkers.clone(),
            bootnodes,
            params: SpecParams::of(params),
            requirements: params.requirements.clone(),
            credits: params.credits.clone(),
        }
    }

    /// The parameters a node runs with on this network. A spec without a network id or
    /// without genesis checkers cannot start a node: the error says which is missing.
    pub fn params(&self) -> Result<NetworkParams, NodeError> {
        let id = self.id.as_deref().ok_or_else(|| {
            NodeError::Config(
                "the network spec names no network: its [network] table needs an id".into(),
            )
        })?;
        if self.genesis_checkers.is_empty() {
            return Err(NodeError::Config(format!(
                "the network spec of {id:?} lists no checkers: its [network] table needs genesis_checkers"
            )));
        }
        let p = &self.params;
        let mut params = NetworkParams::new(id, self.genesis_checkers.clone());
        params.committee_size = p.committee_size;
        params.max_outstanding = p.max_outstanding;
        params.shard_timeout = p.shard_timeout;
        params.claim_timeout = p.claim_timeout;
        params.leader_timeout = p.leader_timeout;
        params.heartbeat_interval = p.heartbeat_interval;
        params.max_message_age = p.max_message_age;
        params.gossip_heartbeat = p.gossip_heartbeat;
        params.canary_rate_ppm = p.canary_rate_ppm;
        params.epoch = p.epoch;
        params.requirements = self.requirements.clone();
        params.credits = self.credits.clone();
        Ok(params)
    }
}
