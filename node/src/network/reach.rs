//! How this node can be reached, from what the network tells it: AutoNAT (v2) verdicts on
//! its address candidates, relay reservations, hole punches (DCUtR) and UPnP mappings. A
//! sans-I/O part of the loop: it is fed events and answers which relays to reserve a slot
//! on; `pictor doctor`, `pictor status` and the diagnosis read its [`ReachReport`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};
use serde::Serialize;

/// Relays a node behind NAT keeps a reservation on (one to fall back on).
pub const MAX_RELAYS: usize = 2;
/// How long a relay that refused or lost a reservation is left alone.
const RELAY_RETRY_MS: u64 = 60_000;
/// AutoNAT verdicts and hole punches kept for the report.
const MAX_HISTORY: usize = 32;
/// Relay candidates remembered (peers that serve the hop protocol).
const MAX_CANDIDATES: usize = 64;

/// How this node can be reached, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reachability {
    /// No verdict yet: no AutoNAT server has tested an address of this node.
    Unknown,
    /// AutoNAT servers dialled one of its addresses back: peers can dial it directly.
    Public,
    /// Behind NAT or a firewall, but hole punches through it succeed: peers reach it
    /// through a relay first, then directly.
    HolePunched,
    /// Behind NAT, reached through a relay only (no hole punch has succeeded yet).
    Relayed,
    /// Behind NAT with no relay: it dials out, nobody can dial it.
    Private,
}

/// One AutoNAT test of one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    pub address: String,
    pub server: String,
    pub reachable: bool,
    pub error: Option<String>,
    pub at_ms: u64,
}

/// One hole punch, with a peer that reached this node through a relay (or the other way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HolePunch {
    pub peer: String,
    pub ok: bool,
    pub error: Option<String>,
    pub at_ms: u64,
}

/// A relay this node asked for a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelaySlot {
    pub relay: String,
    pub state: SlotState,
    /// The relayed address peers dial (`…/p2p-circuit`).
    pub address: String,
    pub error: Option<String>,
    pub since_ms: u64,
}

/// Where a reservation on a relay stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// Asked for, no answer yet.
    Requested,
    /// Accepted: peers reach this node through the relay.
    Reserved,
    /// Refused or lost (asked again after a minute).
    Failed,
}

/// What `pictor doctor` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ReachReport {
    pub reachability: Reachability,
    /// The verdict in a sentence.
    pub summary: String,
    /// What the operator can do, when anything.
    pub advice: Option<String>,
    /// Whether this node serves as a relay for others.
    pub relay_server: bool,
    pub listen: Vec<String>,
    /// Addresses confirmed reachable (AutoNAT, UPnP) or reserved on a relay.
    pub external: Vec<String>,
    pub autonat: Vec<Probe>,
    pub relays: Vec<RelaySlot>,
    pub hole_punches: Vec<HolePunch>,
    /// UPnP: `off`, `searching`, `mapped`, `no gateway`, `gateway not public`.
    pub upnp: String,
}

/// What the loop is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReachOutput {
    /// Listen on `address` (a relay's `…/p2p/RELAY/p2p-circuit`): ask it for a reservation.
    Reserve { relay: PeerId, address: Multiaddr },
}

#[derive(Debug, Clone)]
struct Slot {
    address: Multiaddr,
    state: SlotState,
    error: Option<String>,
    since_ms: u64,
}

/// The reachability tracker.
#[derive(Debug)]
pub struct Reach {
    relay_server: bool,
    upnp: String,
    /// Addresses confirmed by AutoNAT or mapped by UPnP (never relayed ones).
    confirmed: BTreeSet<Multiaddr>,
    /// An AutoNAT test failed since the last confirmed address (kept apart from the
    /// bounded history, which later tests of relayed addresses may fill).
    behind_nat: bool,
    probes: VecDeque<Probe>,
    punches: VecDeque<HolePunch>,
    /// Peers that serve the relay hop protocol, with a direct address each.
    candidates: BTreeMap<PeerId, Multiaddr>,
    slots: BTreeMap<PeerId, Slot>,
}

/// Whether `addr` goes through a relay.
pub fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

impl Reach {
    /// A tracker for a node that serves as a relay (`relay_server`) and maps its port with
    /// UPnP (`upnp`) or not.
    pub fn new(relay_server: bool, upnp: bool) -> Reach {
        Reach {
            relay_server,
            upnp: if upnp { "searching" } else { "off" }.to_owned(),
            confirmed: BTreeSet::new(),
            behind_nat: false,
            probes: VecDeque::new(),
            punches: VecDeque::new(),
            candidates: BTreeMap::new(),
            slots: BTreeMap::new(),
        }
    }

    /// An AutoNAT server tested `address`: `Ok` if it dialled it back.
    pub fn probed(
        &mut self,
        now_ms: u64,
        address: &Multiaddr,
        server: PeerId,
        result: Result<(), String>,
    ) -> Vec<ReachOutput> {
        if result.is_err() && !is_relayed(address) {
            self.behind_nat = true;
        }
        push_bounded(
            &mut self.probes,
            Probe {
                address: address.to_string(),
                server: server.to_string(),
                reachable: result.is_ok(),
                error: result.err(),
                at_ms: now_ms,
            },
        );
        self.wanted(now_ms)
    }

    /// The swarm confirmed (`true`) or expired an external address.
    pub fn external(
        &mut self,
        now_ms: u64,
        address: &Multiaddr,
        confirmed: bool,
    ) -> Vec<ReachOutput> {
        if is_relayed(address) {
            return Vec::new();
        }
        if confirmed {
            self.confirmed.insert(address.clone());
        } else {
            self.confirmed.remove(address);
        }
        self.wanted(now_ms)
    }

    /// UPnP's word on the gateway: `mapped` with the external address, or why not.
    pub fn upnp(
        &mut self,
        now_ms: u64,
        state: &str,
        mapped: Option<&Multiaddr>,
    ) -> Vec<ReachOutput> {
        state.clone_into(&mut self.upnp);
        if let Some(addr) = mapped {
            self.confirmed.insert(addr.clone());
        }
        self.wanted(now_ms)
    }

    /// `peer` serves the relay hop protocol and listens on `addrs` (from identify).
    pub fn relay_seen(
        &mut self,
        now_ms: u64,
        peer: PeerId,
        addrs: &[Multiaddr],
    ) -> Vec<ReachOutput> {
        let Some(addr) = addrs
            .iter()
            .find(|a| !is_relayed(a) && !is_loopback(a))
            .or(addrs.first())
        else {
            return Vec::new();
        };
        if self.candidates.len() >= MAX_CANDIDATES && !self.candidates.contains_key(&peer) {
            return Vec::new();
        }
        self.candidates.insert(peer, addr.clone());
        self.wanted(now_ms)
    }

    /// A relay accepted this node's reservation.
    pub fn reserved(&mut self, now_ms: u64, relay: PeerId) {
        if let Some(slot) = self.slots.get_mut(&relay) {
            slot.state = SlotState::Reserved;
            slot.error = None;
            slot.since_ms = now_ms;
        }
    }

    /// The reservation on `relay` failed or was lost (its listener closed).
    pub fn reservation_lost(
        &mut self,
        now_ms: u64,
        relay: PeerId,
        why: String,
    ) -> Vec<ReachOutput> {
        if let Some(slot) = self.slots.get_mut(&relay) {
            slot.state = SlotState::Failed;
            slot.error = Some(why);
            slot.since_ms = now_ms;
        }
        self.wanted(now_ms)
    }

    /// A hole punch with `peer` ended.
    pub fn hole_punch(&mut self, now_ms: u64, peer: PeerId, result: Result<(), String>) {
        push_bounded(
            &mut self.punches,
            HolePunch {
                peer: peer.to_string(),
                ok: result.is_ok(),
                error: result.err(),
                at_ms: now_ms,
            },
        );
    }

    /// A timer: relays that failed may be asked again.
    pub fn tick(&mut self, now_ms: u64) -> Vec<ReachOutput> {
        self.wanted(now_ms)
    }

    /// The verdict: public once an address is confirmed; otherwise behind NAT once an
    /// AutoNAT test failed (and no later one succeeded).
    pub fn reachability(&self) -> Reachability {
        if !self.confirmed.is_empty() {
            return Reachability::Public;
        }
        let tested_private = self.behind_nat;
        let reserved = self.slots.values().any(|s| s.state == SlotState::Reserved);
        if !tested_private && !reserved {
            return Reachability::Unknown;
        }
        if self.punches.iter().any(|p| p.ok) {
            Reachability::HolePunched
        } else if reserved {
            Reachability::Relayed
        } else {
            Reachability::Private
        }
    }

    /// Relays to reserve a slot on: while the node is behind NAT, up to [`MAX_RELAYS`].
    fn wanted(&mut self, now_ms: u64) -> Vec<ReachOutput> {
        let behind_nat = self.confirmed.is_empty() && self.behind_nat;
        if self.relay_server || !behind_nat {
            return Vec::new();
        }
        let live = self
            .slots
            .values()
            .filter(|s| s.state != SlotState::Failed)
            .count();
        let mut out = Vec::new();
        let mut room = MAX_RELAYS.saturating_sub(live);
        for (relay, addr) in &self.candidates {
            if room == 0 {
                break;
            }
            let retry = self.slots.get(relay).is_none_or(|s| {
                s.state == SlotState::Failed && now_ms.saturating_sub(s.since_ms) >= RELAY_RETRY_MS
            });
            if !retry {
                continue;
            }
            let address = circuit_address(addr, *relay);
            self.slots.insert(
                *relay,
                Slot {
                    address: address.clone(),
                    state: SlotState::Requested,
                    error: None,
                    since_ms: now_ms,
                },
            );
            out.push(ReachOutput::Reserve {
                relay: *relay,
                address,
            });
            room -= 1;
        }
        out
    }

    /// The relays this node knows, each at a direct address.
    pub fn relays(&self) -> impl Iterator<Item = (PeerId, &Multiaddr)> + '_ {
        self.candidates.iter().map(|(p, a)| (*p, a))
    }

    /// The relay whose reservation `address` (a circuit address) is.
    pub fn relay_of(&self, address: &Multiaddr) -> Option<PeerId> {
        self.slots
            .iter()
            .find(|(_, s)| &s.address == address)
            .map(|(relay, _)| *relay)
    }

    /// The report, with the node's listen addresses and its first TCP port for advice.
    pub fn report(&self, listen: &[Multiaddr], external: &[Multiaddr]) -> ReachReport {
        let reachability = self.reachability();
        let port = listen.iter().find_map(|a| {
            a.iter().find_map(|p| match p {
                Protocol::Tcp(port) => Some(port),
                _ => None,
            })
        });
        let forward = port.map_or_else(
            || "forward this node's TCP and UDP port on the router to this machine".to_owned(),
            |p| format!("forward TCP and UDP port {p} on the router to this machine"),
        );
        let reserved: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, s)| s.state == SlotState::Reserved)
            .map(|(r, _)| r.to_string())
            .collect();
        let (summary, advice) = match reachability {
            Reachability::Unknown => (
                "Not known yet: no AutoNAT server has tested this node's addresses (it needs peers that serve AutoNAT; a verdict comes within a minute of joining).".to_owned(),
                None,
            ),
            Reachability::Public => (
                format!(
                    "Public: peers dialled this node back at {}.",
                    self.confirmed.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                ),
                None,
            ),
            Reachability::HolePunched => (
                format!(
                    "Behind NAT, hole-punched: peers reach it through relay {} and then directly ({} of the last {} hole punches succeeded).",
                    reserved.join(", "),
                    self.punches.iter().filter(|p| p.ok).count(),
                    self.punches.len()
                ),
                Some(format!("{forward} to be reached directly without a relay")),
            ),
            Reachability::Relayed => (
                format!(
                    "Behind NAT, relayed only: peers reach it through relay {}; bulk data goes over the relay's limits until a hole punch succeeds.",
                    reserved.join(", ")
                ),
                Some(forward),
            ),
            Reachability::Private => (
                "Behind NAT and not reachable: AutoNAT servers could not dial it back, and it holds no relay reservation (no peer serving as relay is known). It still dials out, so work reaches it.".to_owned(),
                Some(format!("{forward}, or add a bootnode that runs `pictor node --role relay`")),
            ),
        };
        let mut all_external: Vec<String> =
            self.confirmed.iter().map(ToString::to_string).collect();
        for a in external {
            let a = a.to_string();
            if !all_external.contains(&a) {
                all_external.push(a);
            }
        }
        ReachReport {
            reachability,
            summary,
            advice,
            relay_server: self.relay_server,
            listen: listen.iter().map(ToString::to_string).collect(),
            external: all_external,
            autonat: self.probes.iter().cloned().collect(),
            relays: self
                .slots
                .iter()
                .map(|(relay, s)| RelaySlot {
                    relay: relay.to_string(),
                    state: s.state,
                    address: s.address.to_string(),
                    error: s.error.clone(),
                    since_ms: s.since_ms,
                })
                .collect(),
            hole_punches: self.punches.iter().cloned().collect(),
            upnp: self.upnp.clone(),
        }
    }
}

/// `addr/p2p/RELAY/p2p-circuit`: where a node reserves a slot on `relay`.
pub fn circuit_address(addr: &Multiaddr, relay: PeerId) -> Multiaddr {
    let mut base: Multiaddr = addr
        .iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect();
    base.push(Protocol::P2p(relay));
    base.push(Protocol::P2pCircuit);
    base
}

fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.len() >= MAX_HISTORY {
        queue.pop_front();
    }
    queue.push_back(item);
}

#[cfg(test)]
#[path = "reach_tests.rs"]
mod tests;
