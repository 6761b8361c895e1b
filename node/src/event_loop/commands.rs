//! What the node's [`crate::Client`] asks, and what finished tasks bring back.

use std::collections::BTreeSet;

use cid::Cid;
use pictor_protocol::{Message, MessageKind};
use tracing::{debug, warn};

use super::{EventLoop, Work};
use crate::{
    client::{Command, Facts, NetworkSnapshot, PeerInfo},
    metrics::Metrics,
    now_ms,
    roles::{checker::CheckerInput, creator::CreatorInput, worker::WorkerInput},
    tasks::Done,
    view::CheckerStatus,
    NodeError, NodeStatus, SledBlockstore,
};

/// Provider queries in flight at once.
const MAX_PROVIDER_QUERIES: usize = 256;

impl EventLoop {
    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::ListenAddrs(reply) => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Dial(addr, reply) => {
                let result = self.swarm.dial(addr.clone()).map_err(|e| NodeError::Dial {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                });
                let _ = reply.send(result);
            }
            Command::Submit {
                spec,
                scene,
                budget,
                reply,
            } => self.submit(*spec, scene, budget, reply),
            Command::Job(job, reply) => {
                let progress = self.creator.progress(&job).map(|p| self.with_escrow(p));
                let _ = reply.send(progress);
            }
            Command::Jobs(reply) => {
                let all = self.creator.list();
                let _ = reply.send(all.into_iter().map(|p| self.with_escrow(p)).collect());
            }
            Command::Cancel(job, reply) => {
                let result = match self.creator.progress(&job) {
                    None => Err(NodeError::UnknownJob(job)),
                    Some(p) if p.state.is_finished() => Err(NodeError::InvalidJob(format!(
                        "job {} has already ended ({})",
                        job.short(),
                        p.state
                    ))),
                    Some(_) => {
                        self.queue
                            .push_back(Work::Creator(CreatorInput::Cancel(job)));
                        self.close_escrow(job);
                        Ok(())
                    }
                };
                let _ = reply.send(result);
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::PeerScore(peer, reply) => {
                let _ = reply.send(self.swarm.behaviour().gossipsub.peer_score(&peer));
            }
            Command::AddFile { bytes, reply } => {
                let _ = reply.send(self.add_file(bytes));
            }
            Command::GetFile {
                root,
                peers,
                limit,
                reply,
            } => {
                let bitswap = self.bitswap.clone();
                tokio::spawn(async move {
                    let result = bitswap
                        .get_file(&root, &peers, limit)
                        .await
                        .map(|b| b.to_vec())
                        .map_err(|e| NodeError::Ipfs(e.to_string()));
                    let _ = reply.send(result);
                });
            }
            Command::FindProviders { cid, reply } => {
                if self.provider_queries.len() >= MAX_PROVIDER_QUERIES {
                    let _ = reply.send(Err(NodeError::Ipfs("too many provider queries".into())));
                    return;
                }
                let key = libp2p::kad::RecordKey::new(&cid.hash().to_bytes());
                let query = self.swarm.behaviour_mut().kad.get_providers(key);
                self.provider_queries
                    .insert(query, (BTreeSet::new(), reply));
            }
            Command::Network(reply) => {
                let _ = reply.send(self.network_snapshot());
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peers());
            }
            Command::Facts(reply) => {
                let _ = reply.send(self.facts());
            }
            Command::Credits(command) => self.on_credits_command(command),
            Command::Reach(reply) => {
                let _ = reply.send(self.reach_report());
            }
            Command::Connect {
                peer,
                timeout_ms,
                reply,
            } => self.connect(peer, timeout_ms, reply),
            Command::Shutdown(_) => {}
        }
    }

    /// Imports `bytes` as a UnixFS file into the block store, flushes, and announces the
    /// root in Kademlia.
    fn add_file(&mut self, bytes: Vec<u8>) -> Result<Cid, NodeError> {
        let (root, blocks) =
            pictor_ipfs::unixfs::import(bytes.into(), pictor_ipfs::unixfs::DEFAULT_CHUNK_SIZE)
                .map_err(|e| NodeError::Ipfs(e.to_string()))?;
        let store = SledBlockstore::new(self.store.clone());
        for block in &blocks {
            store.put_block(block)?;
        }
        self.store.flush()?;
        self.provide(&root);
        Ok(root)
    }

    fn status(&self) -> NodeStatus {
        let gossipsub = &self.swarm.behaviour().gossipsub;
        // Every node of the network reads its jobs topic.
        let jobs = self.topics.topic(MessageKind::Job).hash();
        let gossip_peers = gossipsub
            .all_peers()
            .filter(|(_, subscribed)| subscribed.iter().any(|h| **h == jobs))
            .count();
        NodeStatus {
            peer_id: *self.swarm.local_peer_id(),
            key: self.me,
            connected_peers: self.swarm.connected_peers().count(),
            gossip_peers,
            eligible_workers: self.checker.as_ref().map(|c| c.eligible_workers(now_ms())),
            jobs: self.jobs.len(),
            http: self.http,
            bitswap: self.bitswap.stats(),
        }
    }

    /// A task finished: its result goes to the role that asked for it.
    pub(super) fn on_done(&mut self, done: Done) {
        let work = match done {
            Done::SceneLoaded { id, result } => return self.scene_loaded(id, result),
            Done::ShardRendered { assignment, result } => {
                Work::Worker(WorkerInput::Rendered { assignment, result })
            }
            Done::ChallengeRendered { worker, result } => {
                Work::Checker(CheckerInput::ChallengeDigest {
                    worker,
                    ours: true,
                    digest: result,
                })
            }
            Done::ChallengeAnswered { channel, result } => {
                self.renders_answering = self.renders_answering.saturating_sub(1);
                let response = match result {
                    Ok(digest) => pictor_protocol::Response::Digest(digest.to_vec()),
                    Err(e) => pictor_protocol::Response::Error(e),
                };
                let fetch = &mut self.swarm.behaviour_mut().fetch;
                if fetch.send_response(channel, response).is_err() {
                    debug!("challenge answer not sent: the checker went away");
                }
                return;
            }
            Done::AdmissionRendered { applicant, result } => {
                Work::Checker(CheckerInput::AdmissionRendered {
                    applicant,
                    digest: result,
                })
            }
            Done::Rerendered { claim, result } => Work::Checker(CheckerInput::Rerendered {
                claim,
                pixels: result,
            }),
            Done::RerenderedRegions { claim, result } => {
                Work::Checker(CheckerInput::RerenderedRegions {
                    claim,
                    regions: result,
                })
            }
            Done::OutputRows { claim, result } => {
                if let Err(reason) = &result {
                    warn!(%claim, %reason, "output unavailable");
                }
                Work::Checker(CheckerInput::Rows {
                    claim,
                    rows: result,
                })
            }
            Done::OutputFetched {
                shard,
                worker,
                result,
            } => {
                if let Err(reason) = &result {
                    debug!(%shard, worker = %worker.short(), %reason, "certified output not fetched");
                }
                Work::Creator(CreatorInput::OutputFetched {
                    shard,
                    worker,
                    result,
                })
            }
            Done::CertificatesChecked {
                job,
                valid,
                rejected,
            } => {
                debug!(job = %job.short(), valid = valid.len(), rejected, "certificates from a peer");
                if rejected > 0 {
                    warn!(job = %job.short(), rejected, "a peer answered with certificates that do not verify");
                }
                for qc in valid {
                    self.ingest(Message::Certificate(qc));
                }
                return;
            }
            Done::FrameStored { job, frame, result } => {
                if let Ok(stored) = &result {
                    self.provide(&stored.root);
                }
                Work::Creator(CreatorInput::FrameStored {
                    job,
                    frame,
                    result: result.map(|stored| stored.root.to_string()),
                })
            }
        };
        self.queue.push_back(work);
    }
}

impl EventLoop {
    fn liveness_ms(&self) -> u64 {
        3 * self.params.heartbeat_interval.as_millis() as u64
    }

    fn network_snapshot(&self) -> NetworkSnapshot {
        let now = now_ms();
        let connected: BTreeSet<String> = self
            .swarm
            .connected_peers()
            .map(ToString::to_string)
            .collect();
        let mut checkers = self.view.checkers(now, self.liveness_ms());
        for (status, c) in &mut checkers {
            // Checkers send no heartbeats: one this node is connected to is up.
            if *status == CheckerStatus::Offline && connected.contains(&c.peer_id) {
                *status = CheckerStatus::Standby;
            }
        }
        NetworkSnapshot {
            workers: self.view.workers(now, self.liveness_ms()),
            checkers,
        }
    }

    fn peers(&self) -> Vec<PeerInfo> {
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let jobs = self.topics.topic(MessageKind::Job).hash();
        let set = self.ledger.lock().set().to_vec();
        let checkers: BTreeSet<libp2p::PeerId> =
            set.iter().filter_map(|k| self.peer_of(k)).collect();
        let workers: BTreeSet<String> = self
            .view
            .workers(now_ms(), u64::MAX)
            .into_iter()
            .map(|(_, w)| w.peer_id)
            .collect();
        let mut gossip = BTreeSet::new();
        for (peer, topics) in gossipsub.all_peers() {
            if topics.iter().any(|t| **t == jobs) {
                gossip.insert(*peer);
            }
        }
        self.swarm
            .connected_peers()
            .map(|peer| {
                let role = if checkers.contains(peer) {
                    "checker"
                } else if workers.contains(&peer.to_string()) {
                    "worker"
                } else {
                    "peer"
                };
                PeerInfo {
                    peer_id: peer.to_string(),
                    addresses: self.peer_addrs.get(peer).cloned().unwrap_or_default(),
                    role,
                    gossip: gossip.contains(peer),
                    score: gossipsub.peer_score(peer),
                }
            })
            .collect()
    }

    fn facts(&self) -> Facts {
        let connected: BTreeSet<libp2p::PeerId> = self.swarm.connected_peers().copied().collect();
        let checkers_connected = self
            .params
            .checkers
            .iter()
            .filter_map(|k| self.peer_of(k))
            .filter(|p| connected.contains(p))
            .count();
        let requirements = match &self.capability {
            Some(c) => c
                .check(&self.params.requirements)
                .map_err(|e| e.to_string()),
            None if self.params.requirements.is_empty() => Ok(()),
            None => Err("this worker has not measured its capabilities".into()),
        };
        let engines = self
            .capability
            .as_ref()
            .map(|c| {
                c.record(self.me, 0)
                    .engines
                    .iter()
                    .map(|e| format!("{} {}", e.engine, e.version))
                    .collect()
            })
            .unwrap_or_default();
        let public_address = self.swarm.external_addresses().any(|a| {
            a.iter().any(|p| match p {
                libp2p::multiaddr::Protocol::Ip4(ip) => {
                    !(ip.is_loopback() || ip.is_private() || ip.is_link_local())
                }
                libp2p::multiaddr::Protocol::Ip6(ip) => !ip.is_loopback(),
                _ => false,
            })
        });
        Facts {
            worker: self.worker.is_some(),
            checker: self.checker.is_some(),
            connected_peers: connected.len(),
            checkers_connected,
            checkers_total: self.ledger.lock().set().len(),
            me_as_worker: self.view.worker_entry(&self.me).cloned(),
            requirements,
            engines,
            open_jobs: self.jobs.open(),
            listen: self.swarm.listeners().cloned().collect(),
            public_address,
            inbound_connections: self.inbound,
            reach: self.reach_report(),
            finality: self.metrics.finality(),
        }
    }

    /// Sets the gauges that are read from state rather than counted.
    pub(super) fn update_gauges(&self) {
        let m = &self.metrics;
        let status = self.status();
        m.peers.set(status.connected_peers as i64);
        m.gossip_peers.set(status.gossip_peers as i64);
        if let Ok(bytes) = self.store.size_on_disk() {
            m.block_store_bytes.set(bytes as i64);
        }
        if let Some(free) = self.store.free_bytes() {
            m.disk_free_bytes
                .set(i64::try_from(free).unwrap_or(i64::MAX));
        }
        Metrics::set(&m.queue, "queue", "loop", self.queue.len() as i64);
        Metrics::set(&m.queue, "queue", "outbox", self.outbox.len() as i64);
        Metrics::set(&m.queue, "queue", "unsent", self.unsent.len() as i64);
        Metrics::set(
            &m.queue,
            "queue",
            "requests",
            self.requests.in_flight() as i64,
        );
        let mut by_state: std::collections::BTreeMap<String, i64> =
            ["submitted", "running", "complete", "failed", "cancelled"]
                .iter()
                .map(|s| ((*s).to_owned(), 0))
                .collect();
        for state in self.creator.states() {
            *by_state.entry(state.to_string()).or_default() += 1;
        }
        for (state, n) in by_state {
            Metrics::set(&m.jobs, "state", &state, n);
        }
    }
}
