//! The checker set's decisions and evidence: applied to the node's shared ledger (which the
//! validator reads), handed to the worker (a moved job's new members may assign) and to the
//! checker role; the ledger's epochs, and this node's application to join the set.

use pictor_protocol::{rules, Applied, DecisionCertificate, Evidence, JobSpec, Message, PublicKey};
use tracing::{debug, info, warn};

use super::{EventLoop, Work};
use crate::roles::{checker::CheckerInput, worker::WorkerInput};

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
                work.push(Work::Worker(WorkerInput::Moved { job, committee }));
            }
            Ok(Applied::Admitted {
                checker,
                from_epoch,
            }) => {
                info!(checker = %checker.short(), from_epoch, "checker admitted to the set");
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
}
