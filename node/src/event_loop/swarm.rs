//! Swarm events: gossip, point-to-point requests and answers, Kademlia, connections.

use std::collections::BTreeSet;

use libp2p::{gossipsub, request_response, swarm::SwarmEvent, PeerId};
use pictor_protocol::{MessageKind, PublicKey, Request, Response};
use tracing::{debug, warn};

use super::{EventLoop, Work};
use crate::{
    network::BehaviourEvent,
    requests::{answer, checked_block, checked_rows, Pending},
    roles::checker::CheckerInput,
};

/// The most addresses of one peer that go into the Kademlia routing table.
const MAX_PEER_ADDRS: usize = 8;
/// How long gossip to a peer may fail without a break before its connection is renewed.
const STUCK_MS: u64 = 60_000;
/// How long a slow peer must go without a failure to count as recovered.
const RECOVERED_MS: u64 = 15_000;
/// Creators looked up in the DHT at once for their scenes.
const MAX_SCENE_LOOKUPS: usize = 256;

/// How long a worker waits for a job it asked a peer for before it asks again.
const JOB_ASK_MS: u64 = 5_000;
/// Jobs asked for at once.
const MAX_JOBS_ASKED: usize = 256;
/// How often a node dials the checkers it is not connected to.
const REACH_INTERVAL_MS: u64 = 10_000;
/// How often a node refreshes its Kademlia routing table (a bootstrap: a lookup of its own
/// id), finding peers that joined since and dropping ones that left.
const REBOOTSTRAP_MS: u64 = 5 * 60_000;
/// The largest checker set a node keeps a connection to every member of.
const MAX_REACHED: usize = 64;

impl EventLoop {
    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.record(&event);
        let Some(event) = self.on_nat_event(event) else {
            return;
        };
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_gossip(propagation_source, message_id, message.data),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed {
                topic,
                ..
            })) => {
                // A new peer listens for heartbeats: tell it about this worker at once
                // (once per subscribing peer, so this is bounded by the peers we have).
                let heartbeats = self.topics.topic(MessageKind::Heartbeat).hash();
                if self.worker.is_some() && topic == heartbeats {
                    self.capability_wanted = true;
                    self.send_heartbeat(crate::now_ms());
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::SlowPeer {
                peer_id,
                ..
            })) => {
                let now = crate::now_ms();
                let seen = self.slow_peers.entry(peer_id).or_insert((now, now));
                seen.1 = now;
            }
            SwarmEvent::Behaviour(BehaviourEvent::Fetch(event)) => self.on_fetch_event(event),
            // Peers that speak the DHT join the routing table under the addresses they
            // listen on.
            SwarmEvent::Behaviour(BehaviourEvent::Identify(
                libp2p::identify::Event::Received { peer_id, info, .. },
            )) => {
                if let Some(why) =
                    crate::network::foreign_peer(&self.params.id, &info.protocol_version)
                {
                    return self.on_foreign_peer(peer_id, &why);
                }
                self.nat_identified(peer_id, &info);
                if info.protocols.contains(&crate::network::KAD_PROTOCOL) {
                    for addr in info.listen_addrs.into_iter().take(MAX_PEER_ADDRS) {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad_event(event),
            SwarmEvent::NewListenAddr { address, .. } => debug!(%address, "listening"),
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                debug!(%peer_id, "connected");
                if endpoint.is_listener() {
                    self.inbound = self.inbound.saturating_add(1);
                }
                if self.is_distrusted(&peer_id) {
                    debug!(%peer_id, "a distrusted peer: connection refused");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                let addrs = self.peer_addrs.entry(peer_id).or_default();
                if addrs.len() < MAX_PEER_ADDRS {
                    addrs.push(endpoint.get_remote_address().to_string());
                }
                self.sync_decisions(peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                cause,
                num_established,
                endpoint,
                ..
            } => {
                debug!(%peer_id, ?cause, "disconnected");
                if endpoint.is_listener() {
                    self.inbound = self.inbound.saturating_sub(1);
                }
                if num_established == 0 {
                    self.peer_addrs.remove(&peer_id);
                } else if let Some(addrs) = self.peer_addrs.get_mut(&peer_id) {
                    let gone = endpoint.get_remote_address().to_string();
                    addrs.retain(|a| *a != gone);
                }
            }
            _ => {}
        }
    }

    /// Closes the connections of a peer whose gossip has failed for [`STUCK_MS`] without a
    /// break, and dials it again. gossipsub gives up on a connection for good after a few
    /// failed substreams (its handler is disabled, its send queue never drains again) while
    /// the connection itself stays up; a new connection starts afresh.
    pub(super) fn unstick_gossip(&mut self, now: u64) {
        // A peer with no failure for a while has recovered (a stuck queue fails only
        // when something is sent to the peer, which may be seconds apart when idle).
        self.slow_peers
            .retain(|_, (_, last)| now.saturating_sub(*last) <= RECOVERED_MS);
        let stuck: Vec<PeerId> = self
            .slow_peers
            .iter()
            .filter(|(_, (first, _))| now.saturating_sub(*first) >= STUCK_MS)
            .map(|(p, _)| *p)
            .collect();
        for peer in stuck {
            self.slow_peers.remove(&peer);
            warn!(%peer, seconds = STUCK_MS / 1000, "gossip to this peer has failed without a break: reconnecting");
            let _ = self.swarm.disconnect_peer_id(peer);
            if let Err(e) = self.swarm.dial(peer) {
                debug!(%peer, error = %e, "cannot dial the peer again");
            }
        }
    }

    /// Keeps this node in reach: every [`REACH_INTERVAL_MS`] it dials the checkers of the
    /// set it is not connected to, at addresses Kademlia knows, and every
    /// [`REBOOTSTRAP_MS`] it bootstraps Kademlia. A node that nobody can dial (a worker
    /// behind a NAT) is otherwise cut off from a checker that restarted after it connected:
    /// only it can open the connection. Sets larger than [`MAX_REACHED`] are left to gossip
    /// and Kademlia.
    pub(super) fn reach_checkers(&mut self, now: u64) {
        if now < self.last_reach_ms + REACH_INTERVAL_MS {
            return;
        }
        self.last_reach_ms = now;
        if now >= self.last_bootstrap_ms + REBOOTSTRAP_MS {
            // Kademlia's own periodic bootstrap warns while the table is empty (the first
            // node of a network): this one runs only with peers to ask.
            self.last_bootstrap_ms = now;
            let kad = &mut self.swarm.behaviour_mut().kad;
            if kad.kbuckets().any(|b| b.num_entries() > 0) {
                if let Err(e) = kad.bootstrap() {
                    debug!(error = %e, "Kademlia bootstrap not started");
                }
            }
        }
        self.redial_bootnodes();
        let set: Vec<PublicKey> = self.ledger.lock().set().to_vec();
        if set.len() > MAX_REACHED {
            return;
        }
        for key in set {
            let Some(peer) = self.peer_of(&key) else {
                continue;
            };
            if peer == *self.swarm.local_peer_id()
                || self.swarm.is_connected(&peer)
                || self.is_distrusted(&peer)
            {
                continue;
            }
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .condition(libp2p::swarm::dial_opts::PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                debug!(%peer, error = %e, "cannot dial the checker");
            }
        }
    }

    /// Dials again the bootnodes this node is not connected to (one may have been down
    /// when the node started, or restarted since), except those of another network and
    /// distrusted ones. A bootnode address without a peer id is dialled only while the
    /// node has no peer at all.
    fn redial_bootnodes(&mut self) {
        let alone = self.swarm.connected_peers().next().is_none();
        for addr in self.bootnodes.clone() {
            let peer = addr.iter().find_map(|p| match p {
                libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
                _ => None,
            });
            let skip = match peer {
                Some(peer) => {
                    self.swarm.is_connected(&peer)
                        || self.foreign_peers.contains(&peer)
                        || self.is_distrusted(&peer)
                }
                None => !alone,
            };
            if skip {
                continue;
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                debug!(%addr, error = %e, "cannot dial the bootnode again");
            }
        }
    }

    /// Asks a peer (`first`, the checker that assigned a shard, else any connected peer)
    /// for the spec of `job`, at most once per [`JOB_ASK_MS`] per job.
    pub(super) fn ask_job(&mut self, job: pictor_protocol::JobId, first: &PublicKey) {
        let now = crate::now_ms();
        self.jobs_asked
            .retain(|_, at| now.saturating_sub(*at) < JOB_ASK_MS);
        if self.jobs_asked.contains_key(&job)
            || self.jobs_asked.len() >= MAX_JOBS_ASKED
            || !self.requests.has_room()
        {
            return;
        }
        let peer = self
            .peer_of(first)
            .filter(|p| self.swarm.is_connected(p))
            .or_else(|| self.swarm.connected_peers().next().copied());
        if let Some(peer) = peer {
            self.jobs_asked.insert(job, now);
            self.send_request(&peer, Request::GetJob { job }, Pending::Job { job });
        }
    }

    /// Feeds libp2p's metrics.
    fn record(&self, event: &SwarmEvent<BehaviourEvent>) {
        use libp2p::metrics::Recorder as _;
        let metrics = &self.metrics.libp2p;
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => metrics.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => metrics.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => metrics.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => metrics.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Relay(e)) => metrics.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(e)) => metrics.record(e),
            _ => {}
        }
        metrics.record(event);
    }

    /// Sends a point-to-point request to `peer`, remembering what it is for (the caller
    /// has checked `requests.has_room()`).
    pub(super) fn send_request(&mut self, peer: &PeerId, request: Request, pending: Pending) {
        let id = self.swarm.behaviour_mut().fetch.send_request(peer, request);
        self.requests.sent(id, pending);
    }

    fn on_fetch_event(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    if !self.request_quota.allow(peer, crate::now_ms()) {
                        debug!(%peer, "request refused: over its rate limit");
                        let refusal = Response::Error("too many requests: slow down".into());
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .fetch
                            .send_response(channel, refusal);
                        return;
                    }
                    match request {
                        Request::Render { render } => {
                            return self.answer_render(peer, channel, render)
                        }
                        Request::CreditVote(vote) => return self.on_credit_vote(channel, vote),
                        _ => {}
                    }
                    let response = answer(&self.store, request);
                    let fetch = &mut self.swarm.behaviour_mut().fetch;
                    if fetch.send_response(channel, response).is_err() {
                        debug!(%peer, "response not sent: the peer went away");
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(pending) = self.requests.answered(&request_id) {
                        self.on_response(peer, pending, Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(pending) = self.requests.answered(&request_id) {
                    self.on_response(peer, pending, Err(error.to_string()));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_response(&mut self, peer: PeerId, pending: Pending, response: Result<Response, String>) {
        match pending {
            Pending::Rows {
                claim,
                output,
                width,
                height,
                rows,
            } => {
                let rows = checked_rows(&peer, &output, width, height, &rows, response);
                if let Err(reason) = &rows {
                    tracing::warn!(%claim, %reason, "sampled rows unavailable");
                }
                self.queue
                    .push_back(Work::Checker(CheckerInput::Rows { claim, rows }));
            }
            Pending::Decisions => {
                match response {
                    Ok(Response::Decisions(decisions)) => self.on_decisions(peer, decisions),
                    Ok(other) => debug!(%peer, ?other, "unexpected answer to a decisions request"),
                    Err(reason) => debug!(%peer, %reason, "decisions request failed"),
                }
                self.sync_evidence(peer);
            }
            Pending::Job { job } => match response {
                Ok(Response::Job(spec)) if spec.id() == job => match spec.validate() {
                    Ok(()) => {
                        debug!(job = %job.short(), %peer, "job learnt from a peer");
                        self.ingest(pictor_protocol::Message::Job(spec));
                    }
                    Err(e) => {
                        debug!(job = %job.short(), error = %e, "a job spec that does not validate")
                    }
                },
                // Its id is the hash of its spec: a peer that answers another spec lies.
                Ok(Response::Job(_)) => {
                    self.distrust(peer, "a job spec that is not the job asked for")
                }
                Ok(other) => debug!(%peer, ?other, "unexpected answer to a job request"),
                Err(reason) => debug!(%peer, %reason, "job request failed"),
            },
            Pending::CreditVote(vote) => self.credit_vote_answered(peer, *vote, response),
            Pending::Evidence => {
                match response {
                    Ok(Response::Evidence(evidence)) => self.on_evidence_answer(peer, evidence),
                    Ok(other) => debug!(%peer, ?other, "unexpected answer to an evidence request"),
                    Err(reason) => debug!(%peer, %reason, "evidence request failed"),
                }
                self.sync_credits(peer);
            }
            Pending::Credits { skip } => self.on_credits_answer(peer, skip, response),
            Pending::Challenge { worker } => {
                let digest = match response {
                    Ok(Response::Digest(bytes)) => <[u8; 32]>::try_from(bytes.as_slice())
                        .map_err(|_| "a digest that is not 32 bytes".to_owned()),
                    Ok(other) => Err(format!("unexpected answer {other:?}")),
                    Err(reason) => Err(reason),
                };
                if let Err(reason) = &digest {
                    debug!(%peer, %reason, "challenge not answered");
                }
                self.queue
                    .push_back(Work::Checker(CheckerInput::ChallengeDigest {
                        worker,
                        ours: false,
                        digest,
                    }));
            }
            Pending::Certificates { job } => match response {
                Ok(Response::Certificates(qcs)) => {
                    let committees = self.ledger.lock().committees(&job);
                    self.tasks
                        .check_certificates(job, qcs, self.params.id.clone(), committees);
                }
                Ok(other) => debug!(%peer, ?other, "unexpected answer to a certificate request"),
                Err(reason) => debug!(%peer, %reason, "certificate request failed"),
            },
            Pending::Scene {
                id,
                engine,
                others,
                look_up,
            } => match checked_block(&id, response) {
                Ok(bytes) => match self.store.put_block(&bytes) {
                    Ok(_) => self.tasks.load_scene(id, engine, bytes),
                    Err(e) => self.scene_loaded(id, Err(e.to_string())),
                },
                Err(reason) if look_up && self.scene_lookups.len() < MAX_SCENE_LOOKUPS => {
                    debug!(%peer, %reason, "scene fetch failed; looking the creator up");
                    let query = self.swarm.behaviour_mut().kad.get_closest_peers(peer);
                    self.scene_lookups.insert(query, (id, engine, peer, others));
                }
                Err(reason) => {
                    debug!(%peer, %reason, "scene fetch failed; trying the next peer");
                    self.request_scene(id, engine, others, false);
                }
            },
        }
    }

    fn on_kad_event(&mut self, event: libp2p::kad::Event) {
        use libp2p::kad::{Event, GetProvidersOk, QueryResult};
        let Event::OutboundQueryProgressed {
            id, result, step, ..
        } = event
        else {
            return debug!(?event, "kademlia");
        };
        if let QueryResult::GetClosestPeers(result) = result {
            return self.on_closest_peers(id, result, step.last);
        }
        let QueryResult::GetProviders(result) = result else {
            return;
        };
        if let Some((found, _)) = self.provider_queries.get_mut(&id) {
            match result {
                Ok(GetProvidersOk::FoundProviders { providers, .. }) => found.extend(providers),
                Ok(GetProvidersOk::FinishedWithNoAdditionalRecord { .. }) => {}
                Err(e) => debug!(error = %e, "provider query"),
            }
        }
        if step.last {
            if let Some((found, reply)) = self.provider_queries.remove(&id) {
                let found: BTreeSet<PeerId> = found;
                let _ = reply.send(Ok(found.into_iter().collect()));
            }
        }
    }

    /// A creator looked up for its scene: dial it at the addresses found, and ask again
    /// (then the other peers).
    fn on_closest_peers(
        &mut self,
        query: libp2p::kad::QueryId,
        result: libp2p::kad::GetClosestPeersResult,
        last: bool,
    ) {
        let Some((id, engine, creator, others)) = self.scene_lookups.remove(&query) else {
            return;
        };
        let peers = match result {
            Ok(ok) => ok.peers,
            Err(libp2p::kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
        };
        if let Some(info) = peers.into_iter().find(|p| p.peer_id == creator) {
            let addrs: Vec<_> = info.addrs.into_iter().take(MAX_PEER_ADDRS).collect();
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(creator)
                .addresses(addrs)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                debug!(peer = %creator, error = %e, "cannot dial the creator");
            }
        } else if !last {
            // Not found yet: wait for the query's next step.
            self.scene_lookups
                .insert(query, (id, engine, creator, others));
            return;
        }
        let mut peers = vec![creator];
        peers.extend(others);
        self.request_scene(id, engine, peers, false);
    }
}
