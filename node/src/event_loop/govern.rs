//! The checker set's decisions and evidence: applied to the node's shared ledger (which the
//! validator reads), handed to the worker (a moved job's new members may assign) and to the
//! checker role; the ledger's epochs, this node's application to join the set, and the
//! challenge renders of workers returning after a ban (asked as a checker, answered as a
//! worker).

use libp2p::{request_response::ResponseChannel, PeerId};
use pictor_protocol::{
    rules, AdmissionRender, Applied, DecisionCertificate, Evidence, JobSpec, Message, PublicKey,
    Request, Response,
};
use tracing::{debug, info, warn};

use super::{EventLoop, Work};
use crate::requests::Pending;
use crate::roles::{checker::CheckerInput, credits::CreditsInput, worker::WorkerInput};

/// Challenge renders a worker answers at once (each a few milliseconds).
const MAX_RENDERS_ANSWERING: usize = 4;
/// Peers asked for the checker set's decisions when this node starts.
const DECISION_SYNC_PEERS: usize = 3;

impl EventLoop {
    pub(super) fn on_decision(
        &mut self,
        cert: DecisionCertificate,
        to_checker: bool,
        work: &mut Vec<Work>,
    ) {
        let applied = self.ledger.lock().apply(&cert);
        match applied {
            Ok(Applied::Moved { job, generation }) => {
                let committee = self.ledger.lock().committee(&job);
                info!(job = %job.short(), generation, "job moved to a new committee");
                // Its escrow is paid by the new committee's payer from now on.
                if let (Some(spec), Some(_), Some(_)) =
                    (self.jobs.get(&job), &self.credits, &self.checker)
                {
                    work.push(Work::Credits(CreditsInput::Track {
                        spec: Box::new(spec.clone()),
                        committee: committee.clone(),
                    }));
                }
                work.push(Work::Worker(WorkerInput::Moved { job, committee }));
            }
            Ok(Applied::Admitted {
                checker,
                from_epoch,
            }) => {
                info!(checker = %checker.short(), from_epoch, "checker admitted to the set");
                if self.worker.is_some() {
                    // Learnt after jobs drawn from a set that holds it: the worker takes
                    // its assignments on them from now on.
                    for id in self.jobs.ids() {
                        let moved = self
                            .jobs
                            .get(&id)
                            .cloned()
                            .and_then(|spec| self.note_job_epoch(&spec));
                        if let Some(committee) = moved {
                            work.push(Work::Worker(WorkerInput::Moved { job: id, committee }));
                        }
                    }
                }
            }
            Ok(Applied::Banned(checker)) => {
                warn!(checker = %checker.short(), decision = %cert.action.describe(), "checker banned by the checker set");
            }
            Ok(_) => {}
            Err(e) => debug!(error = %e, "decision not applied"),
        }
        if to_checker {
            work.push(Work::Checker(CheckerInput::Decision(cert)));
        }
    }

    pub(super) fn on_evidence(
        &mut self,
        evidence: Evidence,
        to_checker: bool,
        work: &mut Vec<Work>,
    ) {
        if let Ok(Applied::Banned(checker)) = self.ledger.lock().apply_evidence(&evidence) {
            warn!(checker = %checker.short(), "checker banned: it signed two conflicting votes");
        }
        if to_checker {
            work.push(Work::Checker(CheckerInput::Evidence(evidence)));
        }
    }

    /// Whether `key` is a checker of the set, or admitted to it.
    pub(super) fn is_checker(&self, key: &PublicKey) -> bool {
        let ledger = self.ledger.lock();
        ledger.set().contains(key) || ledger.is_admitted(key)
    }

    /// Records the epoch a job names; returns its first committee when that differs from
    /// the genesis set's (admitted checkers sit on it), for the worker to accept its
    /// assignments.
    pub(super) fn note_job_epoch(&mut self, spec: &JobSpec) -> Option<Vec<PublicKey>> {
        let id = spec.id();
        let mut ledger = self.ledger.lock();
        ledger.note_job(id, spec.epoch);
        let committee = ledger.committee(&id);
        let genesis = rules::committee(&id, ledger.genesis(), self.params.committee_size);
        (committee != genesis).then_some(committee)
    }

    /// Each tick: the ledger's clock moves on; a node applying to join the set repeats
    /// its application with its heartbeat until a certificate admits it.
    pub(super) fn govern(&mut self, now: u64, heartbeat: bool) {
        let admitted = {
            let mut ledger = self.ledger.lock();
            if ledger.advance(now) {
                info!(
                    epoch = ledger.epoch(),
                    checkers = ledger.set().len(),
                    "a new epoch: the checker set changed"
                );
            }
            ledger.is_admitted(&self.me) || ledger.set().contains(&self.me)
        };
        if admitted {
            if self.application.take().is_some() {
                info!("this node is admitted to the checker set");
            }
            return;
        }
        if let (true, Some(application)) = (heartbeat, &self.application) {
            self.publish(Message::Application(application.clone()), false);
        }
    }

    /// A returning worker's challenge: rendered here, and asked of the worker.
    pub(super) fn challenge(&mut self, worker: PublicKey, render: AdmissionRender) {
        self.tasks.render_challenge(worker, render, None);
        let asked = match self.peer_of(&worker) {
            Some(peer) if self.requests.has_room() => {
                self.send_request(
                    &peer,
                    Request::Render { render },
                    Pending::Challenge { worker },
                );
                Ok(())
            }
            Some(_) => Err("too many requests in flight"),
            None => Err("worker key is not a peer id"),
        };
        if let Err(reason) = asked {
            self.queue
                .push_back(Work::Checker(CheckerInput::ChallengeDigest {
                    worker,
                    ours: false,
                    digest: Err(reason.into()),
                }));
        }
    }

    /// A checker's challenge to this worker: rendered off the loop and answered then. Only
    /// workers answer, only checkers of the set are answered, and only a few at a time.
    pub(super) fn answer_render(
        &mut self,
        peer: PeerId,
        channel: ResponseChannel<Response>,
        render: AdmissionRender,
    ) {
        let from_checker = {
            let ledger = self.ledger.lock();
            ledger
                .set()
                .iter()
                .any(|k| crate::identity::peer_id(k) == Some(peer))
        };
        let refusal = if self.worker.is_none() || !from_checker {
            Some("only a worker answers a checker's challenge".to_owned())
        } else if let Err(e) = render.check() {
            Some(e.to_string())
        } else if self.renders_answering >= MAX_RENDERS_ANSWERING {
            Some("busy: too many challenges at once".to_owned())
        } else {
            None
        };
        match refusal {
            Some(reason) => {
                let fetch = &mut self.swarm.behaviour_mut().fetch;
                let _ = fetch.send_response(channel, Response::Error(reason));
            }
            None => {
                self.renders_answering += 1;
                self.tasks.render_challenge(self.me, render, Some(channel));
            }
        }
    }

    /// The first peers this node connects to are asked for the checker set's decisions,
    /// then (once they have answered) for their equivocation evidence: a node that starts
    /// late learns who was admitted and banned before it came.
    pub(super) fn sync_decisions(&mut self, peer: PeerId) {
        if self.decision_syncs >= DECISION_SYNC_PEERS || !self.requests.has_room() {
            return;
        }
        self.decision_syncs += 1;
        self.send_request(&peer, Request::GetDecisions, Pending::Decisions);
    }

    /// A peer's decision certificates: each that holds up on a copy of the ledger, in
    /// order (admissions by epoch), is taken in like one that came by gossip.
    pub(super) fn on_decisions(&mut self, peer: PeerId, mut decisions: Vec<DecisionCertificate>) {
        decisions.truncate(pictor_protocol::wire::MAX_DECISIONS_PER_RESPONSE);
        decisions.sort_by_key(|d| d.action.apply_order());
        let mut trial = self.ledger.lock().clone();
        let mut taken = 0usize;
        for cert in decisions {
            match trial.apply(&cert) {
                Ok(Applied::Nothing) => continue,
                // A signature that does not verify is forged: nothing more from this peer.
                Err(e @ pictor_protocol::GovernanceError::BadSignature { .. }) => {
                    return self.distrust(peer, &format!("a decision certificate: {e}"));
                }
                Err(_) => continue,
                Ok(_) => {}
            }
            taken += 1;
            self.ingest(Message::Decision(cert));
        }
        if taken > 0 {
            info!(%peer, decisions = taken, "caught up on the checker set's decisions");
        }
    }

    /// Asks a peer that answered its decisions for its equivocation evidence (after the
    /// decisions, so that evidence against an admitted checker finds it admitted here).
    pub(super) fn sync_evidence(&mut self, peer: PeerId) {
        if !self.requests.has_room() {
            return;
        }
        self.send_request(&peer, Request::GetEvidence, Pending::Evidence);
    }

    /// A peer's equivocation evidence: each piece that passes the checks of gossiped
    /// evidence is taken in like it; the others are dropped.
    pub(super) fn on_evidence_answer(&mut self, peer: PeerId, mut evidence: Vec<Evidence>) {
        evidence.truncate(pictor_protocol::wire::MAX_EVIDENCE_PER_RESPONSE);
        let mut taken = 0usize;
        for piece in evidence {
            if let Err(refusal) =
                crate::validation::check_evidence(&self.params.id, &self.ledger, &piece)
            {
                if refusal.penalise {
                    // Evidence that does not verify on its own is forged.
                    return self.distrust(peer, &format!("evidence: {}", refusal.reason));
                }
                debug!(%peer, reason = %refusal.reason, "evidence from a peer dropped");
                continue;
            }
            taken += 1;
            self.ingest(Message::Evidence(piece));
        }
        if taken > 0 {
            info!(%peer, evidence = taken, "caught up on equivocation evidence");
        }
    }
}
