//! The Node Manager's admissions: nodes that apply to join the checker set. A member
//! checks an applicant's capability record against the network's requirements and renders
//! the applicant's admission window itself; when its digest is the one the application
//! states, it votes to admit the applicant in the current epoch, and again in each later
//! epoch until a certificate admits it (a vote straddling an epoch boundary counts for
//! neither). The rules (epochs, the render, the join delay) are
//! `pictor_protocol::governance`'s.

use std::collections::BTreeMap;

use pictor_protocol::{Action, AdmissionRender, PublicKey, SignedApplication};
use tracing::info;

use super::{capability_view, Checker, CheckerOutput};

/// Applicants held at once (an application beyond is ignored until one is decided).
const MAX_APPLICANTS: usize = 256;
/// How long a challenge waits for its answers before it is asked again.
const CHALLENGE_RETRY_MS: u64 = 10_000;

/// The live render a worker owes after a ban: the window of its `round`-th challenge,
/// rendered by this checker and by the worker, asked once its cool-down is over. The
/// worker gets shards again when the two digests are the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Readmission {
    round: u32,
    asked_ms: Option<u64>,
    expected: Option<[u8; 32]>,
    answered: Option<[u8; 32]>,
}

impl Readmission {
    pub(super) fn new(round: u32) -> Readmission {
        Readmission {
            round,
            asked_ms: None,
            expected: None,
            answered: None,
        }
    }
}

/// Where the check of a worker's admission render stands (the digest its record states).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum RenderCheck {
    /// Its record states none (or it has no record).
    #[default]
    Unstated,
    /// This checker is rendering the window.
    Asked([u8; 32]),
    /// The digest is the one this checker rendered.
    Holds([u8; 32]),
    /// It is not.
    Wrong([u8; 32]),
}

/// An applicant as this checker has judged it.
#[derive(Debug)]
pub(super) struct Applicant {
    application: SignedApplication,
    /// `None` while its render is being checked; then whether it holds up.
    verified: Option<bool>,
}

/// The applicants this checker knows.
pub(super) type Applicants = BTreeMap<PublicKey, Applicant>;

impl Checker {
    /// Whether this checker is a member of the current set, not banned: only members judge
    /// and vote.
    pub(super) fn is_member(&self) -> bool {
        self.ledger.set().contains(&self.me) && !self.ledger.is_banned(&self.me)
    }

    /// An application (its signature verified by the node's validator).
    pub(super) fn on_application(
        &mut self,
        now_ms: u64,
        application: SignedApplication,
        out: &mut Vec<CheckerOutput>,
    ) {
        let key = application.checker();
        if self.ledger.set().contains(&key)
            || self.ledger.is_admitted(&key)
            || self.ledger.is_banned(&key)
            || !self.is_member()
            || application.verify(&self.params.network).is_err()
        {
            return;
        }
        let issued = application.application.issued_ms;
        match self.applicants.get(&key) {
            // Applicants repeat their application until admitted.
            Some(known) if known.application.application.issued_ms >= issued => {
                if known.verified == Some(true) {
                    self.vote_admissions(now_ms, out);
                }
                return;
            }
            None if self.applicants.len() >= MAX_APPLICANTS => return,
            _ => {}
        }
        let meets = self
            .params
            .requirements
            .check(&capability_view(&application.application.capability));
        let verified = match meets {
            Ok(()) => {
                out.push(CheckerOutput::RenderAdmission {
                    applicant: key,
                    render: AdmissionRender::of(&key),
                });
                None
            }
            Err(unmet) => {
                info!(applicant = %key.short(), %unmet, "applicant does not meet the network's requirements");
                Some(false)
            }
        };
        self.applicants.insert(
            key,
            Applicant {
                application,
                verified,
            },
        );
    }

    /// Each tick: a worker whose ban is over and that is heard from is challenged (again,
    /// when its last challenge went unanswered for [`CHALLENGE_RETRY_MS`]).
    pub(super) fn challenge_returning(&mut self, now_ms: u64, out: &mut Vec<CheckerOutput>) {
        let liveness = self.params.worker_liveness_ms;
        for (worker, record) in self.workers.iter_mut() {
            let heard = now_ms <= record.last_seen_ms.saturating_add(liveness);
            let Some(due) = record.readmission.as_mut() else {
                continue;
            };
            let waiting = due
                .asked_ms
                .is_some_and(|at| now_ms < at.saturating_add(CHALLENGE_RETRY_MS));
            if now_ms < record.banned_until_ms || !heard || waiting {
                continue;
            }
            due.asked_ms = Some(now_ms);
            due.expected = None;
            due.answered = None;
            out.push(CheckerOutput::Challenge {
                worker: *worker,
                render: AdmissionRender::challenge(worker, due.round),
            });
        }
    }

    /// A digest of a worker's challenge window: this checker's own render (`ours`) or
    /// the worker's answer. When both are in and equal, the worker is back.
    pub(super) fn on_challenge_digest(
        &mut self,
        now_ms: u64,
        worker: PublicKey,
        ours: bool,
        digest: Result<[u8; 32], String>,
        out: &mut Vec<CheckerOutput>,
    ) {
        let Some(record) = self.workers.get_mut(&worker) else {
            return;
        };
        let Some(due) = record.readmission.as_mut() else {
            return;
        };
        let Ok(digest) = digest else {
            return; // asked again after the retry period
        };
        if ours {
            due.expected = Some(digest);
        } else {
            due.answered = Some(digest);
        }
        match (due.expected, due.answered) {
            (Some(e), Some(a)) if e == a => {
                info!(worker = %worker.short(), "worker rendered its challenge right: back after its ban");
                record.readmission = None;
                self.assign_all(now_ms, out);
            }
            (Some(_), Some(_)) => {
                info!(worker = %worker.short(), "worker's challenge render is wrong: it gets no shards");
            }
            _ => {}
        }
    }

    /// A worker's record states `digest` as its admission render's: this checker renders
    /// the window itself, once per digest stated.
    pub(super) fn check_render(
        &mut self,
        worker: PublicKey,
        digest: Option<[u8; 32]>,
        out: &mut Vec<CheckerOutput>,
    ) {
        let Some(record) = self.workers.get_mut(&worker) else {
            return;
        };
        let Some(digest) = digest else {
            record.render = RenderCheck::Unstated;
            return;
        };
        let known = match record.render {
            RenderCheck::Asked(d) | RenderCheck::Holds(d) | RenderCheck::Wrong(d) => Some(d),
            RenderCheck::Unstated => None,
        };
        if known != Some(digest) {
            record.render = RenderCheck::Asked(digest);
            out.push(CheckerOutput::RenderAdmission {
                applicant: worker,
                render: AdmissionRender::of(&worker),
            });
        }
    }

    /// This checker's render of an applicant's (or a worker's) admission window: blake3
    /// of its pixels.
    pub(super) fn on_admission_rendered(
        &mut self,
        now_ms: u64,
        applicant: PublicKey,
        digest: Result<[u8; 32], String>,
        out: &mut Vec<CheckerOutput>,
    ) {
        if let (Some(record), Ok(rendered)) = (self.workers.get_mut(&applicant), &digest) {
            if let RenderCheck::Asked(stated) = record.render {
                record.render = if stated == *rendered {
                    RenderCheck::Holds(stated)
                } else {
                    info!(worker = %applicant.short(), "worker's admission render is wrong: it gets no shards");
                    RenderCheck::Wrong(stated)
                };
                self.assign_all(now_ms, out);
            }
        }
        let Some(known) = self.applicants.get_mut(&applicant) else {
            return;
        };
        let holds = match &digest {
            Ok(d) => *d == known.application.application.render_digest,
            // This checker could not render: it does not judge (another may).
            Err(_) => return,
        };
        known.verified = Some(holds);
        if holds {
            self.vote_admissions(now_ms, out);
        } else {
            info!(applicant = %applicant.short(), "applicant's admission render is wrong");
        }
    }

    /// Votes, in the current epoch, to admit every applicant this checker verified.
    pub(super) fn vote_admissions(&mut self, now_ms: u64, out: &mut Vec<CheckerOutput>) {
        if !self.is_member() {
            return;
        }
        let epoch = self.ledger.epoch();
        let actions: Vec<Action> = self
            .applicants
            .values()
            .filter(|a| a.verified == Some(true))
            .map(|a| Action::AdmitChecker {
                epoch,
                application: a.application.clone(),
            })
            .collect();
        for action in actions {
            self.vote(now_ms, action, out);
        }
    }

    /// Whether this checker verified the applicant that `action` admits, in its epoch.
    pub(super) fn would_admit(&self, action: &Action) -> bool {
        let Action::AdmitChecker { epoch, application } = action else {
            return false;
        };
        *epoch == self.ledger.epoch()
            && self
                .applicants
                .get(&application.checker())
                .is_some_and(|a| a.verified == Some(true) && a.application == *application)
    }

    /// An admission is decided: the applicant is no longer one.
    pub(super) fn admitted(&mut self, checker: &PublicKey) {
        self.applicants.remove(checker);
    }

    /// Applicants and checkers admitted whose epoch has not come: Pending.
    pub(super) fn pending(&self) -> Vec<PublicKey> {
        let mut keys: Vec<PublicKey> = self.ledger.joining().map(|(k, _)| *k).collect();
        keys.extend(self.applicants.keys().copied());
        keys.sort();
        keys.dedup();
        keys
    }
}
