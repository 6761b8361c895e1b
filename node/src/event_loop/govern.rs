//! The checker set's decisions and evidence: applied to the node's shared ledger (which the
//! validator reads), handed to the worker (a moved job's new members may assign) and to the
//! checker role.

use pictor_protocol::{Applied, DecisionCertificate, Evidence};
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
}
