//! The loop's side of getting through NAT: AutoNAT verdicts, relay reservations, hole
//! punches and UPnP go into the reachability tracker (`network::reach`), whose answers
//! (reserve a slot on this relay) the loop carries out; and `pictor doctor --connect`,
//! a dial that reports how the peer was reached.

use std::collections::HashMap;

use libp2p::{
    core::transport::ListenerId,
    core::ConnectedPoint,
    swarm::{dial_opts::DialOpts, SwarmEvent},
    Multiaddr, PeerId,
};
use serde::Serialize;
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

use super::EventLoop;
use crate::network::{
    reach::{is_relayed, Reach, ReachOutput},
    BehaviourEvent,
};
use crate::NodeError;

/// Connection tests (`pictor doctor --connect`) in flight at once.
const MAX_CONNECTS: usize = 16;
/// The longest a connection test may wait.
pub(crate) const MAX_CONNECT_MS: u64 = 60_000;

/// How a connection test ended.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectReport {
    pub peer: String,
    /// `direct`, `hole-punched` (through a relay, then directly) or `relayed`.
    pub how: String,
    /// The remote address of the connection used.
    pub address: String,
    /// Whether a relay carried the first connection.
    pub relayed_first: bool,
    /// The hole punch's error, when it failed.
    pub hole_punch_error: Option<String>,
    /// From the dial to the answer.
    pub ms: u64,
}

struct Connect {
    peer: PeerId,
    started_ms: u64,
    deadline_ms: u64,
    /// A relayed connection came first: waiting for its hole punch.
    relayed: Option<String>,
    reply: oneshot::Sender<Result<ConnectReport, NodeError>>,
}

fn dial_error(peer: PeerId, reason: String) -> NodeError {
    NodeError::Dial {
        addr: peer.to_string(),
        reason,
    }
}

/// What the loop keeps for NAT traversal.
pub(crate) struct Nat {
    pub(crate) reach: Reach,
    /// The listeners that hold a relay reservation, by relay.
    relay_listeners: HashMap<ListenerId, PeerId>,
    connects: Vec<Connect>,
}

impl Nat {
    pub(crate) fn new(reach: Reach) -> Nat {
        Nat {
            reach,
            relay_listeners: HashMap::new(),
            connects: Vec::new(),
        }
    }
}

impl EventLoop {
    /// Takes the events of NAT traversal; hands back every other event (and those it only
    /// looks at: connections made, dials failed).
    pub(super) fn on_nat_event(
        &mut self,
        event: SwarmEvent<BehaviourEvent>,
    ) -> Option<SwarmEvent<BehaviourEvent>> {
        let now = crate::now_ms();
        let out = match event {
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(e)) => {
                let result = e.result.map_err(|e| e.to_string());
                debug!(address = %e.tested_addr, server = %e.server, ?result, "AutoNAT test");
                self.nat.reach.probed(now, &e.tested_addr, e.server, result)
            }
            SwarmEvent::Behaviour(BehaviourEvent::AutonatServer(e)) => {
                debug!(client = %e.client, address = %e.tested_addr, ok = e.result.is_ok(), "AutoNAT dial-back");
                Vec::new()
            }
            SwarmEvent::ExternalAddrConfirmed { address } => {
                info!(%address, "reachable at this address");
                self.nat.reach.external(now, &address, true)
            }
            SwarmEvent::ExternalAddrExpired { address } => {
                self.nat.reach.external(now, &address, false)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Upnp(e)) => self.on_upnp(now, e),
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(e)) => {
                if let libp2p::relay::client::Event::ReservationReqAccepted {
                    relay_peer_id,
                    renewal: false,
                    ..
                } = e
                {
                    info!(relay = %relay_peer_id, "reachable through relay");
                    self.nat.reach.reserved(now, relay_peer_id);
                }
                Vec::new()
            }
            SwarmEvent::Behaviour(BehaviourEvent::Relay(e)) => {
                debug!(?e, "relay");
                Vec::new()
            }
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(e)) => {
                let result = e.result.map(|_| ()).map_err(|e| e.to_string());
                debug!(peer = %e.remote_peer_id, ?result, "hole punch");
                self.hole_punched(now, e.remote_peer_id, &result);
                self.nat.reach.hole_punch(now, e.remote_peer_id, result);
                Vec::new()
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } if self.nat.relay_listeners.contains_key(&listener_id) => {
                let relay = self.nat.relay_listeners.remove(&listener_id);
                let why = match reason {
                    Ok(()) => "the relay closed the reservation".to_owned(),
                    Err(e) => e.to_string(),
                };
                warn!(?relay, %why, "relay reservation lost");
                relay.map_or_else(Vec::new, |r| self.nat.reach.reservation_lost(now, r, why))
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                ref endpoint,
                ..
            } => {
                self.connected(now, peer_id, endpoint);
                return Some(event);
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                ref error,
                ..
            } => {
                if !self.swarm.is_connected(&peer) {
                    let why = error.to_string();
                    self.answer_connects(peer, |_| Err(dial_error(peer, why.clone())));
                }
                return Some(event);
            }
            other => return Some(other),
        };
        self.on_reach_outputs(out);
        None
    }

    /// A peer said in identify what it serves: a relay is a candidate for a reservation.
    pub(super) fn nat_identified(&mut self, peer: PeerId, info: &libp2p::identify::Info) {
        if info.protocols.contains(&libp2p::relay::HOP_PROTOCOL_NAME) {
            let out = self
                .nat
                .reach
                .relay_seen(crate::now_ms(), peer, &info.listen_addrs);
            self.on_reach_outputs(out);
        }
    }

    /// Every tick of the reach timer: relays that failed are asked again; connection tests
    /// past their deadline are answered with what they have.
    pub(super) fn nat_tick(&mut self, now: u64) {
        let out = self.nat.reach.tick(now);
        self.on_reach_outputs(out);
        let (due, waiting): (Vec<Connect>, Vec<Connect>) = std::mem::take(&mut self.nat.connects)
            .into_iter()
            .partition(|c| now >= c.deadline_ms);
        self.nat.connects = waiting;
        for c in due {
            let answer = match c.relayed {
                Some(address) => Ok(ConnectReport {
                    peer: c.peer.to_string(),
                    how: "relayed".into(),
                    address,
                    relayed_first: true,
                    hole_punch_error: Some("no hole punch result before the deadline".into()),
                    ms: now.saturating_sub(c.started_ms),
                }),
                None => Err(dial_error(
                    c.peer,
                    format!(
                        "no connection within {} s",
                        now.saturating_sub(c.started_ms) / 1000
                    ),
                )),
            };
            let _ = c.reply.send(answer);
        }
    }

    fn on_reach_outputs(&mut self, outputs: Vec<ReachOutput>) {
        for output in outputs {
            match output {
                ReachOutput::Reserve { relay, address } => {
                    info!(%relay, "behind NAT: asking a relay for a reservation");
                    match self.swarm.listen_on(address.clone()) {
                        Ok(id) => {
                            self.nat.relay_listeners.insert(id, relay);
                        }
                        Err(e) => {
                            let out = self.nat.reach.reservation_lost(
                                crate::now_ms(),
                                relay,
                                e.to_string(),
                            );
                            // Bounded: a relay that failed is not asked again for a minute.
                            self.on_reach_outputs(out);
                        }
                    }
                }
            }
        }
    }

    fn on_upnp(&mut self, now: u64, event: libp2p::upnp::Event) -> Vec<ReachOutput> {
        use libp2p::upnp::Event;
        match event {
            Event::NewExternalAddr { external_addr, .. } => {
                info!(address = %external_addr, "UPnP: port mapped on the router");
                self.nat.reach.upnp(now, "mapped", Some(&external_addr))
            }
            Event::ExpiredExternalAddr { external_addr, .. } => {
                warn!(address = %external_addr, "UPnP: the mapping expired");
                self.nat.reach.external(now, &external_addr, false);
                self.nat.reach.upnp(now, "expired", None)
            }
            Event::GatewayNotFound => {
                info!("UPnP: no gateway found on the local network");
                self.nat.reach.upnp(now, "no gateway", None)
            }
            Event::NonRoutableGateway => {
                info!("UPnP: the gateway is not on the public internet (a NAT behind a NAT)");
                self.nat.reach.upnp(now, "gateway not public", None)
            }
        }
    }

    /// Starts a connection test to `peer` (`pictor doctor --connect`): a dial, at the
    /// addresses the node knows (a relayed one among them), answered once a direct
    /// connection is up or the hole punch after a relayed one has ended.
    pub(super) fn connect(
        &mut self,
        peer: PeerId,
        timeout_ms: u64,
        reply: oneshot::Sender<Result<ConnectReport, NodeError>>,
    ) {
        let now = crate::now_ms();
        if self.nat.connects.len() >= MAX_CONNECTS {
            let _ = reply.send(Err(dial_error(
                peer,
                "too many connection tests at once".into(),
            )));
            return;
        }
        if peer == *self.swarm.local_peer_id() {
            let _ = reply.send(Err(dial_error(peer, "that is this node".into())));
            return;
        }
        if self.swarm.is_connected(&peer) {
            // Already connected: say how.
            let addrs = self.peer_addrs.get(&peer).cloned().unwrap_or_default();
            let direct = addrs.iter().find(|a| !a.contains("/p2p-circuit"));
            let address = direct.or(addrs.first()).cloned().unwrap_or_default();
            let _ = reply.send(Ok(ConnectReport {
                peer: peer.to_string(),
                how: if direct.is_some() {
                    "direct"
                } else {
                    "relayed"
                }
                .into(),
                address,
                relayed_first: false,
                hole_punch_error: None,
                ms: 0,
            }));
            return;
        }
        // Besides the addresses Kademlia knows: through each relay this node knows, where
        // a peer behind NAT may hold a reservation.
        let through_relays: Vec<Multiaddr> = self
            .nat
            .reach
            .relays()
            .filter(|(relay, _)| *relay != peer)
            .map(|(relay, addr)| {
                crate::network::reach::circuit_address(addr, relay)
                    .with(libp2p::multiaddr::Protocol::P2p(peer))
            })
            .collect();
        // Another dial to it may be under way (Kademlia's, at addresses that do not
        // answer): this one goes too.
        let opts = DialOpts::peer_id(peer)
            .condition(libp2p::swarm::dial_opts::PeerCondition::Disconnected)
            .addresses(through_relays)
            .extend_addresses_through_behaviour()
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            let _ = reply.send(Err(dial_error(peer, e.to_string())));
            return;
        }
        self.nat.connects.push(Connect {
            peer,
            started_ms: now,
            deadline_ms: now.saturating_add(timeout_ms.min(MAX_CONNECT_MS)),
            relayed: None,
            reply,
        });
    }

    fn connected(&mut self, now: u64, peer: PeerId, endpoint: &ConnectedPoint) {
        if !self.nat.connects.iter().any(|c| c.peer == peer) {
            return;
        }
        let address = endpoint.get_remote_address().to_string();
        if endpoint.is_relayed() {
            for c in self.nat.connects.iter_mut().filter(|c| c.peer == peer) {
                c.relayed.get_or_insert_with(|| address.clone());
            }
            return;
        }
        self.answer_connects(peer, |c| {
            Ok(ConnectReport {
                peer: peer.to_string(),
                how: if c.relayed.is_some() {
                    "hole-punched"
                } else {
                    "direct"
                }
                .into(),
                address: address.clone(),
                relayed_first: c.relayed.is_some(),
                hole_punch_error: None,
                ms: now.saturating_sub(c.started_ms),
            })
        });
    }

    fn hole_punched(&mut self, now: u64, peer: PeerId, result: &Result<(), String>) {
        let Err(why) = result else {
            // The direct connection it made answers the test (`connected`).
            return;
        };
        self.answer_connects(peer, |c| {
            Ok(ConnectReport {
                peer: peer.to_string(),
                how: "relayed".into(),
                address: c.relayed.clone().unwrap_or_default(),
                relayed_first: true,
                hole_punch_error: Some(why.clone()),
                ms: now.saturating_sub(c.started_ms),
            })
        });
    }

    fn answer_connects(
        &mut self,
        peer: PeerId,
        answer: impl Fn(&Connect) -> Result<ConnectReport, NodeError>,
    ) {
        let (mine, rest): (Vec<Connect>, Vec<Connect>) = std::mem::take(&mut self.nat.connects)
            .into_iter()
            .partition(|c| c.peer == peer);
        self.nat.connects = rest;
        for c in mine {
            let a = answer(&c);
            let _ = c.reply.send(a);
        }
    }

    /// The reachability report (`pictor doctor`).
    pub(super) fn reach_report(&self) -> crate::network::reach::ReachReport {
        let listen: Vec<Multiaddr> = self
            .swarm
            .listeners()
            .filter(|a| !is_relayed(a))
            .cloned()
            .collect();
        let external: Vec<Multiaddr> = self.swarm.external_addresses().cloned().collect();
        self.nat.reach.report(&listen, &external)
    }
}
