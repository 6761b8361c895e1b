//! The gossip half of the event loop: validation verdicts, storing before acting, and
//! dispatching each accepted message to the roles this node plays.

use libp2p::{gossipsub, PeerId};
use pictor_protocol::{
    rules, JobId, Message, NodeRole, PublicKey, QuorumCertificate, SignedEnvelope, Verdict,
};
use tracing::{debug, info, warn};

use crate::{
    event_loop::{EventLoop, MAX_JOBS},
    now_ms,
    roles::checker::{CheckerInput, CheckerOutput},
    validation, NodeError, NodeEvent,
};

impl EventLoop {
    /// Queues a gossiped message for validation; nothing else happens to it before.
    pub(crate) fn on_gossip(&mut self, source: PeerId, id: gossipsub::MessageId, data: Vec<u8>) {
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
    /// of invalid ones) and acts on a valid message.
    pub(crate) fn on_validated(
        &mut self,
        source: PeerId,
        id: gossipsub::MessageId,
        result: Result<Box<Message>, String>,
    ) {
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        match result {
            Err(reason) => {
                warn!(peer = %source, %reason, "dropped invalid gossip; sender penalised");
                gossipsub.report_message_validation_result(
                    &id,
                    &source,
                    gossipsub::MessageAcceptance::Reject,
                );
            }
            Ok(message) => {
                gossipsub.report_message_validation_result(
                    &id,
                    &source,
                    gossipsub::MessageAcceptance::Accept,
                );
                self.ingest(*message);
            }
        }
    }

    pub(crate) fn committee(&self, job: &JobId) -> Vec<PublicKey> {
        rules::committee(job, &self.params.checkers, self.params.committee_size)
    }

    /// Stores a message, then acts on it; a message seen before is ignored.
    pub(crate) fn ingest(&mut self, message: Message) {
        match self.persist(&message) {
            Ok(true) => self.dispatch(message),
            Ok(false) => {}
            Err(e) => warn!(error = %e, "cannot store message; ignored"),
        }
    }

    /// Writes a message to the database and flushes it. Returns whether it was new.
    pub(crate) fn persist(&self, message: &Message) -> Result<bool, NodeError> {
        let new = match message {
            Message::Job(spec) => self.store.put_job(spec)?,
            Message::Assignment(a) => self.store.put_assignment(a)?,
            Message::Claim(c) => self.store.put_claim(c)?,
            Message::Attestation(a) => self.store.put_attestation(a)?,
            Message::Certificate(qc) => self.store.put_certificate(qc)?,
            // Ephemeral, like heartbeats: the newest record per node is kept in memory.
            Message::Heartbeat(_) | Message::Capability(_) => return Ok(true),
        };
        if new {
            self.store.flush()?;
        }
        Ok(new)
    }

    /// Stores, signs and gossips a message; `local` also acts on it here.
    pub(crate) fn publish(&mut self, message: Message, local: bool) {
        if let Err(e) = self.persist(&message) {
            warn!(error = %e, "cannot store own message; not published");
            return;
        }
        let envelope = SignedEnvelope::seal(&self.keypair, &self.params.id, now_ms(), &message);
        let topic = self.topics.topic(message.kind());
        if let Err(e) = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic, envelope.to_bytes())
        {
            if !matches!(e, gossipsub::PublishError::Duplicate) {
                debug!(error = %e, kind = ?message.kind(), "publish failed");
            }
        }
        if local {
            self.dispatch(message);
        }
    }

    pub(crate) fn emit(&mut self, job: &JobId, event: NodeEvent) {
        if !self.my_jobs.contains(job) {
            return;
        }
        if let Some(events) = &self.events {
            if events.try_send(event).is_err() {
                warn!("progress event dropped: the receiver is slow or gone");
            }
        }
    }

    /// Acts on a message that is stored (or ephemeral).
    pub(crate) fn dispatch(&mut self, message: Message) {
        match message {
            Message::Job(spec) => {
                let id = spec.id();
                if self.jobs.len() >= MAX_JOBS && !self.jobs.contains_key(&id) {
                    warn!(job = %id.short(), "job ignored: this node holds too many jobs");
                    return;
                }
                self.jobs.insert(id, spec.clone());
                self.run_checker(CheckerInput::Job(spec));
                // Assignments that arrived before their job can be rendered now.
                if let Some(worker) = &mut self.worker {
                    let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut worker.early)
                        .into_iter()
                        .partition(|a| a.shard.job == id);
                    worker.early = waiting;
                    worker.queue.extend(ready);
                    self.start_next_shard();
                }
            }
            Message::Heartbeat(h) => {
                if h.role == NodeRole::Worker {
                    self.run_checker(CheckerInput::WorkerSeen(h.node));
                }
            }
            Message::Capability(c) => {
                debug!(node = %c.node.short(), devices = c.devices.len(), "capability record");
                self.run_checker(CheckerInput::Capability(c));
            }
            Message::Assignment(a) => {
                let job = a.shard.job;
                self.emit(
                    &job,
                    NodeEvent::Assigned {
                        shard: a.shard,
                        worker: a.worker,
                        attempt: a.attempt,
                    },
                );
                if a.worker == self.me && self.committee(&job).contains(&a.assigned_by) {
                    if let Some(worker) = &mut self.worker {
                        worker.queue.push_back(a.clone());
                    }
                    self.start_next_shard();
                }
                self.run_checker(CheckerInput::Assignment(a));
            }
            Message::Claim(claim) => {
                self.emit(
                    &claim.shard.job,
                    NodeEvent::Rendered {
                        shard: claim.shard,
                        worker: claim.worker,
                        render_ms: claim.render_ms,
                    },
                );
                self.run_checker(CheckerInput::Claim(claim));
            }
            Message::Attestation(a) => {
                self.emit(
                    &a.vote.shard.job,
                    NodeEvent::Attested {
                        shard: a.vote.shard,
                        checker: a.checker,
                        verdict: a.vote.verdict,
                        samples: a.samples.len()
                            + a.regions
                                .iter()
                                .map(|r| (r.w * r.h) as usize)
                                .sum::<usize>(),
                    },
                );
                self.run_checker(CheckerInput::Attestation(a));
            }
            Message::Certificate(qc) => {
                self.on_certificate(&qc);
                self.run_checker(CheckerInput::Certificate(qc));
            }
        }
    }

    /// The creator's side of a certificate: fetch a verified output, or note a rejection.
    pub(crate) fn on_certificate(&mut self, qc: &QuorumCertificate) {
        let job = qc.vote.shard.job;
        if !self.my_jobs.contains(&job) || self.delivered.contains(&qc.vote.shard) {
            return;
        }
        // The validator (or, on replay, the first ingest) has verified the certificate.
        let worker = match self.store.claim(&qc.vote.claim) {
            Ok(Some(claim)) => Some(claim.worker),
            _ => None,
        };
        match qc.vote.verdict {
            Verdict::Valid => {
                self.delivered.insert(qc.vote.shard);
                self.fetch_output(qc, worker);
            }
            Verdict::Invalid => {
                if let Some(worker) = worker {
                    self.emit(
                        &job,
                        NodeEvent::Rejected {
                            shard: qc.vote.shard,
                            worker,
                        },
                    );
                }
            }
        }
    }

    pub(crate) fn run_checker(&mut self, input: CheckerInput) {
        let Some(checker) = &mut self.checker else {
            return;
        };
        let outputs = checker.handle(now_ms(), input);
        for output in outputs {
            match output {
                CheckerOutput::Publish(message) => self.publish(message, false),
                CheckerOutput::FetchRows {
                    claim,
                    worker,
                    output,
                    width,
                    height,
                    rows,
                    whole_output,
                } => self.fetch_rows(claim, worker, output, width, height, rows, whole_output),
                CheckerOutput::Rerender {
                    claim,
                    job,
                    frame,
                    pixels,
                } => self.rerender(claim, job, frame, pixels),
                CheckerOutput::RerenderRegions {
                    claim,
                    job,
                    frame,
                    regions,
                } => self.rerender_regions(claim, job, frame, regions),
                CheckerOutput::Finalized {
                    shard,
                    claim,
                    verdict,
                } => info!(%shard, claim = %claim, ?verdict, "shard decided by quorum"),
                CheckerOutput::Banned(worker) => {
                    info!(worker = %worker.short(), "worker banned: its claim was rejected by quorum")
                }
                CheckerOutput::Equivocation(evidence) => warn!(
                    checker = %evidence.checker.short(),
                    claim = %evidence.first.0.claim,
                    "checker signed two different votes on one claim; its second vote is not counted"
                ),
            }
        }
    }
}
