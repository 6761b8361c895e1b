//! Gossip in and out: validation verdicts, storing before acting, signing and publishing,
//! and the node's own announcements (heartbeats, capability records, Kademlia records).

use cid::Cid;
use libp2p::gossipsub;
use pictor_protocol::job::limits::MAX_TILE;
use pictor_protocol::{EnvelopeProof, Heartbeat, Message, NodeRole, SignedEnvelope};
use tracing::{debug, info, warn};

use super::{EventLoop, Work};
use crate::{network::CREATOR_READS, validation, NodeError};

/// How often a worker gossips its capability record.
const CAPABILITY_INTERVAL_MS: u64 = 60_000;
/// Messages published in one turn of the loop, at most (a turn publishes a handful); also
/// the most messages waiting to be sent again.
const MAX_OUTBOX: usize = 4096;
/// Ticks (250 ms) a message that could not be published is tried again, at most.
const MAX_SEND_TRIES: u32 = 40;

impl EventLoop {
    /// Queues a gossiped message for validation; nothing else happens to it before.
    pub(super) fn on_gossip(
        &mut self,
        source: libp2p::PeerId,
        id: gossipsub::MessageId,
        data: Vec<u8>,
    ) {
        if pictor_ipfs::record::enabled() {
            record(&data);
        }
        let unchecked = validation::Unchecked {
            source,
            id: id.clone(),
            data,
        };
        if self.validate_tx.try_send(unchecked).is_err() {
            debug!(peer = %source, "validation queue full; message ignored");
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(
                    &id,
                    &source,
                    gossipsub::MessageAcceptance::Ignore,
                );
        }
    }

    /// Reports a verdict to gossipsub (forwarding valid messages, penalising the sender
    /// of invalid ones, ignoring outdated ones) and takes a valid message in.
    pub(super) fn on_validated(&mut self, verdict: validation::Validated) {
        let validation::Validated {
            source,
            id,
            result,
            proof,
        } = verdict;
        let (acceptance, message) = match result {
            Ok(message) => (gossipsub::MessageAcceptance::Accept, Some(message)),
            Err(refusal) if refusal.penalise => {
                let reason = refusal.reason;
                warn!(peer = %source, %reason, "dropped invalid gossip; sender penalised");
                (gossipsub::MessageAcceptance::Reject, None)
            }
            // Refused for what this node knows now, not for what the message is: dropped,
            // and its forwarder keeps its standing.
            Err(refusal) => {
                let reason = refusal.reason;
                debug!(peer = %source, %reason, "dropped outdated gossip");
                (gossipsub::MessageAcceptance::Ignore, None)
            }
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&id, &source, acceptance);
        if let Some(message) = message {
            self.take_in(*message, proof);
        }
    }

    /// Stores a message, then hands it to the roles; a message seen before is ignored.
    pub(super) fn ingest(&mut self, message: Message) {
        self.take_in(message, None);
    }

    /// [`EventLoop::ingest`], with the proof of the envelope its author gossiped it in.
    fn take_in(&mut self, message: Message, proof: Option<EnvelopeProof>) {
        match self.persist(&message) {
            Ok(true) => self.queue.push_back(Work::Message {
                message,
                from_checker: false,
                proof,
            }),
            Ok(false) => {}
            Err(e) => warn!(error = %e, "cannot store message; ignored"),
        }
    }

    /// Writes a message to the database (made durable by the next [`EventLoop::commit`],
    /// before anything this node publishes next). Returns whether it was new.
    pub(super) fn persist(&mut self, message: &Message) -> Result<bool, NodeError> {
        let new = match message {
            Message::Job(spec) => self.store.put_job(spec)?,
            Message::Assignment(a) => self.store.put_assignment(a)?,
            Message::Claim(c) => self.store.put_claim(c)?,
            Message::Attestation(a) => self.store.put_attestation(a)?,
            Message::Certificate(qc) => self.store.put_certificate(qc)?,
            // Ephemeral: the newest record per node is kept in memory.
            Message::Decision(cert) => self.store.put_decision(cert)?,
            Message::Evidence(evidence) => self.store.put_evidence(evidence)?,
            Message::Credits(m) if super::credits::kept(self.credits.as_ref(), &self.me, m) => {
                self.store.put_credit(m)?
            }
            // Others' orders and votes matter only until their certificate exists.
            Message::Credits(_) => return Ok(true),
            // Ephemeral: the newest record per node is kept in memory; a vote on a
            // decision matters only until its certificate exists.
            Message::Heartbeat(_)
            | Message::Capability(_)
            | Message::DecisionVote(_)
            | Message::Application(_) => return Ok(true),
        };
        self.dirty |= new;
        Ok(new)
    }

    /// Stores and signs a message, queues it for gossip at the next commit, and hands it
    /// to this node's own roles (`from_checker`: all but the checker, which made it).
    pub(super) fn publish(&mut self, message: Message, from_checker: bool) {
        if let Err(e) = self.persist(&message) {
            warn!(error = %e, "cannot store own message; not published");
            return;
        }
        match &message {
            Message::Attestation(a) => {
                debug!(shard = %a.vote.shard, claim = %a.vote.claim, verdict = ?a.vote.verdict, "attesting");
                // Its own vote, in a certificate, needs no check.
                self.checked
                    .lock()
                    .insert(&self.params.id, &a.vote, &a.checker, &a.vote_signature);
            }
            Message::Assignment(a) => debug!(
                shard = %a.shard,
                worker = %a.worker.short(),
                attempt = a.attempt,
                "assigning"
            ),
            _ => {}
        }
        self.send(message.clone(), 0);
        self.queue.push_back(Work::Message {
            message,
            from_checker,
            proof: None,
        });
    }

    /// Makes what was stored since the last commit durable (one flush for all of it), then
    /// gossips what this node published meanwhile: nothing leaves the node before what it
    /// depends on is on disk. If the flush fails, nothing is gossiped.
    pub(super) fn commit(&mut self) {
        if self.dirty {
            if let Err(e) = self.store.flush() {
                warn!(error = %e, dropped = self.outbox.len(), "cannot flush the database; nothing published");
                self.outbox.clear();
                return;
            }
            self.dirty = false;
        }
        for (message, bytes, tries) in std::mem::take(&mut self.outbox) {
            let kind = message.kind();
            let topic = self.topics.topic(kind);
            match self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
                Ok(_) | Err(gossipsub::PublishError::Duplicate) => {}
                // Every peer's queue was full (a burst), or no peer reads the topic yet:
                // the message is sent again, sealed anew (gossipsub remembers the bytes
                // it could not send as sent), unless peers hear of it anyway (heartbeats
                // and capability records come again by themselves).
                Err(
                    e @ (gossipsub::PublishError::AllQueuesFull(_)
                    | gossipsub::PublishError::NoPeersSubscribedToTopic),
                ) if !matches!(message, Message::Heartbeat(_) | Message::Capability(_)) => {
                    if tries < MAX_SEND_TRIES && self.unsent.len() < MAX_OUTBOX {
                        debug!(error = %e, ?kind, tries, "publish failed; sending again");
                        self.unsent.push((message, tries + 1));
                    } else {
                        warn!(error = %e, ?kind, tries, "publish failed; message not gossiped");
                    }
                }
                Err(e) => debug!(error = %e, ?kind, "publish failed"),
            }
        }
    }

    /// Signs `message` (stored already) and queues it for the next commit.
    pub(super) fn send(&mut self, message: Message, tries: u32) {
        if self.outbox.len() >= MAX_OUTBOX {
            return warn!(kind = ?message.kind(), "outbox full; message not gossiped");
        }
        let envelope =
            SignedEnvelope::seal(&self.keypair, &self.params.id, crate::now_ms(), &message);
        self.outbox.push((message, envelope.to_bytes(), tries));
    }

    /// Queues again what could not be published (called every tick of the loop).
    pub(super) fn send_unsent(&mut self) {
        for (message, tries) in std::mem::take(&mut self.unsent) {
            self.send(message, tries);
        }
    }

    /// Subscribes to what a creator reads (a worker does once it has a job of its own;
    /// every other node already has).
    pub(super) fn read_as_creator(&mut self) {
        for topic in self.topics.of(&CREATOR_READS) {
            if let Err(e) = self.swarm.behaviour_mut().gossipsub.subscribe(&topic) {
                warn!(error = %e, %topic, "cannot subscribe; this node's jobs show less progress");
            }
        }
    }

    pub(super) fn send_heartbeat(&mut self, now: u64) {
        if now == self.last_heartbeat_ms {
            return; // the same bytes again: one heartbeat per millisecond is plenty
        }
        self.last_heartbeat_ms = now;
        let role = if self.worker.is_some() {
            NodeRole::Worker
        } else if self.checker.is_some() {
            NodeRole::Checker
        } else {
            NodeRole::Creator
        };
        let heartbeat = Heartbeat {
            node: self.me,
            role,
            device: self
                .worker
                .as_ref()
                .map(|w| w.device().to_owned())
                .unwrap_or_default(),
            canaries: self
                .worker
                .as_ref()
                .map(|w| w.reveals())
                .unwrap_or_default(),
        };
        self.publish(Message::Heartbeat(heartbeat), false);
        self.send_capability(now);
    }

    /// Whether this node has room to work: a worker needs room for the output of the
    /// largest shard. A worker without it goes quiet (no heartbeats) and says so once; it
    /// comes back by itself once there is room.
    pub(super) fn has_room(&mut self) -> bool {
        if self.worker.is_none() {
            return true;
        }
        let largest = pictor_protocol::proof::block_len(MAX_TILE, MAX_TILE);
        let room = self
            .store
            .check_room(usize::try_from(largest).unwrap_or(usize::MAX));
        match (&room, self.no_room) {
            (Err(e), false) => {
                warn!(error = %e, "no room for a shard's output: this worker takes no shards (no heartbeats) until there is room");
            }
            (Ok(()), true) => info!("room on the disk again: this worker takes shards again"),
            _ => {}
        }
        self.no_room = room.is_err();
        !self.no_room
    }

    /// Gossips the worker's capability record, when it has one, at most once a minute
    /// (and at once when a peer subscribes), well within the gossip age limit.
    fn send_capability(&mut self, now: u64) {
        let Some(capability) = &self.capability else {
            return;
        };
        if now < self.last_capability_ms + CAPABILITY_INTERVAL_MS && !self.capability_wanted {
            return;
        }
        let record = capability.record(self.me, now);
        self.capability_wanted = false;
        self.last_capability_ms = now;
        self.publish(Message::Capability(record), false);
    }

    /// Announces in Kademlia that this node holds `cid`, unless it does already: Kademlia
    /// publishes its own provider records again on its own schedule, and every
    /// announcement is a query that each of the closest peers answers (a creator adds the
    /// same scene, and often the same frame, job after job).
    pub(super) fn provide(&mut self, cid: &Cid) {
        use libp2p::kad::store::RecordStore;
        let key = libp2p::kad::RecordKey::new(&cid.hash().to_bytes());
        let me = *self.swarm.local_peer_id();
        let kad = &mut self.swarm.behaviour_mut().kad;
        if kad
            .store_mut()
            .providers(&key)
            .iter()
            .any(|p| p.provider == me)
        {
            return;
        }
        if let Err(e) = kad.start_providing(key) {
            debug!(%cid, error = %e, "not announced in Kademlia");
        }
    }
}

/// Records a gossip message for the fuzzer's seeds: the envelope, its body, and a
/// capability record on its own.
fn record(data: &[u8]) {
    use pictor_protocol::{Message, SignedEnvelope};
    pictor_ipfs::record::input("envelope", data);
    let Ok(envelope) = SignedEnvelope::decode(data) else {
        return;
    };
    pictor_ipfs::record::input("message", &envelope.body);
    if let Ok(Message::Capability(c)) =
        pictor_protocol::decode::<Message>(&envelope.body, pictor_protocol::MAX_GOSSIP_SIZE)
    {
        pictor_ipfs::record::input("capability", &c.to_bytes());
    }
}
