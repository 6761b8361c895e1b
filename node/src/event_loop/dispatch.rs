//! Feeding the roles and carrying out what they answer: each accepted message goes to the
//! roles this node plays; each output becomes I/O (a task, a request, a publication) or
//! new work on the queue.

use pictor_protocol::{codec, EnvelopeProof, JobId, Message, NodeRole, Request, Verdict};
use tracing::{debug, info, warn};

use super::{EventLoop, Work};
use crate::{
    requests::Pending,
    roles::{
        checker::{CheckerInput, CheckerOutput},
        creator::{CreatorInput, CreatorOutput},
        worker::{WorkerInput, WorkerOutput},
    },
    scenes::SceneWaiter,
    NodeEvent,
};

/// Peers asked at once for a job's certificates.
const SYNC_PEERS: usize = 3;

impl EventLoop {
    /// Acts on a message that is stored (or ephemeral): every role of this node sees it,
    /// but a checker's own messages do not go back to it.
    pub(super) fn dispatch(
        &mut self,
        message: Message,
        from_checker: bool,
        proof: Option<EnvelopeProof>,
    ) {
        let now = crate::now_ms();
        self.view.observe(&message, now);
        self.metrics.observe(&message, &self.me, now);
        let to_checker = !from_checker && self.checker.is_some();
        let mut work = Vec::new();
        match message {
            Message::Job(spec) => {
                let id = spec.id();
                match self.jobs.insert(spec.clone(), now) {
                    Err(full) => return warn!(job = %id.short(), "job ignored: {full}"),
                    Ok((_, Some(evicted))) => self.prune(vec![evicted]),
                    Ok(_) => {}
                }
                if spec.creator == self.me && !self.creator.owns(&id) {
                    self.read_as_creator();
                    let record = self.restored.remove(&id);
                    work.push(Work::Creator(CreatorInput::Restored(spec.clone(), record)));
                }
                work.push(Work::Worker(WorkerInput::Job {
                    id,
                    engine: spec.engine,
                }));
                if let Some(committee) = self.note_job_epoch(&spec) {
                    // Drawn from a set that admitted checkers: its members assign too.
                    work.push(Work::Worker(WorkerInput::Moved { job: id, committee }));
                }
                if to_checker {
                    work.push(Work::Checker(CheckerInput::Job(spec)));
                    // How its escrow stands, right behind it.
                    self.funding_told.remove(&id);
                    work.extend(self.funding_work(id));
                }
            }
            Message::Heartbeat(h) => {
                if h.role == NodeRole::Worker && to_checker {
                    work.push(Work::Checker(CheckerInput::WorkerSeen(h.node)));
                    // Verified by the validator: each is the worker's own canary.
                    for reveal in h.canaries {
                        work.push(Work::Checker(CheckerInput::Canary {
                            worker: h.node,
                            reveal,
                        }));
                    }
                }
                // A checker that also renders announces itself as a worker.
                if to_checker && self.is_checker(&h.node) {
                    work.push(Work::Checker(CheckerInput::CheckerSeen(h.node)));
                }
            }
            Message::DecisionVote(v) => {
                if to_checker {
                    work.push(Work::Checker(CheckerInput::DecisionVote(v)));
                }
            }
            Message::Application(application) => {
                if to_checker {
                    work.push(Work::Checker(CheckerInput::Application(application)));
                }
            }
            Message::Decision(cert) => self.on_decision(cert, to_checker, &mut work),
            Message::Credits(m) => work.extend(self.credits_work(m)),
            Message::Evidence(evidence) => self.on_evidence(evidence, to_checker, &mut work),
            Message::Capability(c) => {
                debug!(node = %c.node.short(), devices = c.devices.len(), "capability record");
                if self.credits.is_some() {
                    work.push(Work::Credits(crate::roles::credits::CreditsInput::Price {
                        worker: c.node,
                        price: c.price,
                        issued_ms: c.issued_ms,
                    }));
                }
                if to_checker {
                    work.push(Work::Checker(CheckerInput::Capability(c)));
                }
            }
            Message::Assignment(a) => {
                self.jobs.touch(&a.shard.job, now);
                if self.is_mine(&a.shard.job) {
                    work.push(Work::Creator(CreatorInput::Assignment(a.clone())));
                }
                if to_checker {
                    work.push(Work::Checker(CheckerInput::Assignment(a.clone())));
                }
                if a.worker == self.me
                    && self.worker.is_some()
                    && self.jobs.get(&a.shard.job).is_none()
                {
                    // A job gossiped before this worker joined: ask the checker that
                    // assigned the shard for it.
                    self.ask_job(a.shard.job, &a.assigned_by);
                }
                work.push(Work::Worker(WorkerInput::Assignment(a)));
            }
            Message::Claim(claim) => {
                self.jobs.touch(&claim.shard.job, now);
                if self.is_mine(&claim.shard.job) {
                    work.push(Work::Creator(CreatorInput::Claim(claim.clone())));
                }
                if to_checker {
                    work.push(Work::Checker(CheckerInput::Claim(claim)));
                }
            }
            Message::Attestation(a) => {
                self.jobs.touch(&a.vote.shard.job, now);
                if self.is_mine(&a.vote.shard.job) {
                    work.push(Work::Creator(CreatorInput::Attestation(a.clone())));
                }
                if to_checker {
                    work.push(Work::Checker(CheckerInput::Attestation(a, proof)));
                }
            }
            Message::Certificate(qc) => {
                if qc.vote.verdict == Verdict::Valid {
                    self.jobs.certified(&qc.vote.shard, now);
                    work.push(Work::Worker(WorkerInput::ShardDone(qc.vote.shard)));
                } else {
                    work.push(Work::Worker(WorkerInput::Rejected {
                        shard: qc.vote.shard,
                        attempt: qc.vote.attempt,
                        worker: qc.vote.worker,
                    }));
                }
                if self.is_mine(&qc.vote.shard.job) {
                    if qc.vote.verdict == Verdict::Valid {
                        // The creator follows what its escrow owes (its job's pause).
                        self.shard_accepted(qc.vote.shard, qc.vote.worker);
                    }
                    work.push(Work::Creator(CreatorInput::Certificate(qc.clone())));
                }
                if to_checker {
                    work.push(Work::Checker(CheckerInput::Certificate(qc)));
                }
            }
        }
        self.queue.extend(work);
    }

    /// Whether this node created `job` (its creator role hears about it). Decided by the
    /// job table, not the creator, which may not have taken the job from the queue yet.
    fn is_mine(&self, job: &JobId) -> bool {
        self.jobs
            .get(job)
            .is_some_and(|spec| spec.creator == self.me)
    }

    pub(super) fn on_checker_output(&mut self, output: CheckerOutput) {
        match output {
            CheckerOutput::Publish(message) => self.publish(message, true),
            CheckerOutput::FetchRows {
                claim,
                worker,
                output,
                width,
                height,
                rows,
                whole_output,
            } => {
                let Some(peer) = self.peer_of(&worker) else {
                    return self.queue.push_back(Work::Checker(CheckerInput::Rows {
                        claim,
                        rows: Err("worker key is not a peer id".into()),
                    }));
                };
                if whole_output {
                    return self
                        .tasks
                        .fetch_output_rows(claim, output, peer, width, rows);
                }
                if !self.requests.has_room() {
                    return self.queue.push_back(Work::Checker(CheckerInput::Rows {
                        claim,
                        rows: Err("too many requests in flight".into()),
                    }));
                }
                let request = Request::GetRows {
                    output,
                    width,
                    height,
                    rows: rows.clone(),
                };
                self.send_request(
                    &peer,
                    request,
                    Pending::Rows {
                        claim,
                        output,
                        width,
                        height,
                        rows,
                    },
                );
            }
            CheckerOutput::Rerender {
                claim,
                job,
                frame,
                pixels,
            } => self.with_scene(
                job,
                SceneWaiter::Rerender {
                    claim,
                    job,
                    frame,
                    pixels,
                },
            ),
            CheckerOutput::RerenderRegions {
                claim,
                job,
                frame,
                regions,
            } => self.with_scene(
                job,
                SceneWaiter::RerenderRegions {
                    claim,
                    job,
                    frame,
                    regions,
                },
            ),
            CheckerOutput::Finalized {
                shard,
                claim,
                worker,
                verdict,
            } => {
                info!(%shard, claim = %claim, ?verdict, "shard decided by quorum");
                if verdict == Verdict::Valid {
                    self.shard_accepted(shard, worker);
                }
            }
            CheckerOutput::Banned {
                worker,
                until_ms,
                offences,
            } => info!(
                worker = %worker.short(),
                offences,
                cooldown_s = until_ms.saturating_sub(crate::now_ms()) / 1000,
                "worker banned: its claim was rejected by quorum"
            ),
            CheckerOutput::Forgiven {
                worker,
                shard,
                offences,
            } => info!(
                worker = %worker.short(),
                %shard,
                offences,
                "the rejected claim was the worker's canary: no offence"
            ),
            CheckerOutput::CheckerBanned { checker, fault } => warn!(
                checker = %checker.short(),
                fault = %fault.describe(),
                "checker banned"
            ),
            // The loop logs the move when the certificate reaches it (`govern.rs`).
            CheckerOutput::Moved { .. } => {}
            CheckerOutput::RenderAdmission { applicant, render } => {
                self.tasks.render_admission(applicant, render)
            }
            CheckerOutput::Challenge { worker, render } => self.challenge(worker, render),
            CheckerOutput::Admitted {
                checker,
                from_epoch,
            } => info!(checker = %checker.short(), from_epoch, "checker admitted to the set"),
            CheckerOutput::Equivocation(evidence) => warn!(
                checker = %evidence.checker.short(),
                claim = %evidence.first.0.claim,
                "a checker signed two conflicting votes on one claim"
            ),
        }
    }

    pub(super) fn on_worker_output(&mut self, output: WorkerOutput) {
        match output {
            WorkerOutput::Render { assignment, tamper } => {
                if !self.rendered_any {
                    // When work first reached this worker since it started (the time to
                    // join of docs/performance.md).
                    self.rendered_any = true;
                    info!(shard = %assignment.shard, "first shard received");
                }
                let job = assignment.shard.job;
                self.with_scene(job, SceneWaiter::Render { assignment, tamper });
            }
            WorkerOutput::Claim(claim) => {
                debug!(shard = %claim.shard, output = %claim.output, render_ms = claim.render_ms, "claiming");
                // The output is served to whoever asks (its claim names this worker), but
                // not announced in Kademlia: only roots are (the creator's frames, files a
                // node adds), not every intermediate block.
                self.publish(Message::Claim(claim), false);
            }
            WorkerOutput::Failed { shard, reason } => {
                warn!(%shard, %reason, "cannot render shard")
            }
            WorkerOutput::Reveal(reveal) => {
                info!(shard = %reveal.shard, attempt = reveal.attempt, "revealing a canary");
                self.send_heartbeat(crate::now_ms());
            }
        }
    }

    pub(super) fn on_creator_output(&mut self, output: CreatorOutput) {
        match output {
            CreatorOutput::FetchOutput {
                shard,
                output,
                worker,
            } => {
                if self.swarm.connected_peers().next().is_none() {
                    // Just started, or cut off: nobody to ask yet; the creator tries again.
                    return self
                        .queue
                        .push_back(Work::Creator(CreatorInput::OutputFetched {
                            shard,
                            worker,
                            result: Err("not connected to any peer yet".into()),
                        }));
                }
                debug!(%shard, %output, worker = %worker.short(), "fetching a certified output");
                let peers = self.candidates(self.peer_of(&worker));
                self.tasks.fetch_output(shard, worker, output, peers);
            }
            CreatorOutput::StoreFrame {
                job,
                frame,
                width,
                height,
                rgb,
            } => self.tasks.store_frame(job, frame, width, height, rgb),
            CreatorOutput::Persist(record) => {
                if let Some(at) = record.finished_ms {
                    self.jobs.finished(&record.id, at);
                }
                if let Err(e) = self
                    .store
                    .put_job_record(&record.id, &codec::encode(&record))
                {
                    warn!(job = %record.id.short(), error = %e, "cannot store the job's record");
                }
            }
            CreatorOutput::SyncCertificates(job) => self.sync_certificates(job),
            CreatorOutput::Announce(job) => {
                if let Some(spec) = self.jobs.get(&job).cloned() {
                    debug!(job = %job.short(), "no shard assigned yet: job gossiped again");
                    self.send(Message::Job(spec), 0);
                }
            }
            CreatorOutput::Event(event) => {
                match &event {
                    NodeEvent::Problem { job, message } => {
                        debug!(job = %job.short(), %message, "job problem")
                    }
                    NodeEvent::Finished { job, state, reason } => {
                        info!(job = %job.short(), %state, reason = reason.as_deref().unwrap_or(""), "job finished")
                    }
                    _ => {}
                }
                // Nobody listening is not an error.
                let _ = self.broadcast.send(event.clone());
                if let Some(events) = &self.events {
                    if events.try_send(event).is_err() {
                        warn!("progress event dropped: the receiver is slow or gone");
                    }
                }
            }
        }
    }

    /// Asks a few connected peers (the job's committee first) for the job's certificates.
    pub(super) fn sync_certificates(&mut self, job: JobId) {
        let committee: Vec<libp2p::PeerId> = self
            .ledger
            .lock()
            .committee(&job)
            .iter()
            .filter_map(|k| self.peer_of(k))
            .collect();
        let connected: Vec<libp2p::PeerId> = self.swarm.connected_peers().copied().collect();
        let mut peers: Vec<libp2p::PeerId> = committee
            .into_iter()
            .filter(|p| connected.contains(p))
            .collect();
        for p in connected {
            if !peers.contains(&p) {
                peers.push(p);
            }
        }
        debug!(job = %job.short(), peers = peers.len(), "asking peers for the job's certificates");
        for peer in peers.into_iter().take(SYNC_PEERS) {
            if !self.requests.has_room() {
                return;
            }
            self.send_request(
                &peer,
                Request::GetCertificates { job },
                Pending::Certificates { job },
            );
        }
    }
}
