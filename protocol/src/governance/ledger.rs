//! The ledger of the checker set: what verified certificates and evidence decided. Every
//! node that verified the same ones holds the same ledger, whatever the order they came in.

use std::collections::BTreeMap;

use super::{Action, CheckerStatus, DecisionCertificate, Fault, GovernanceError};
use crate::certificate::Evidence;
use crate::identity::PublicKey;
use crate::job::JobId;
use crate::rules;

/// Most moves one job may make (a job that loses committee after committee is failing
/// for another reason).
pub const MAX_GENERATIONS: u32 = 16;
/// Most jobs with moved committees held at once (forgotten with their jobs).
const MAX_MOVED_JOBS: usize = 10_000;

/// The cool-down of a worker's `offences`-th ban: `base_ms` doubled for every offence
/// before it, saturating (1: `base_ms`, 2: twice that, 3: four times …).
pub fn ban_cooldown_ms(base_ms: u64, offences: u32) -> u64 {
    let doublings = offences.saturating_sub(1).min(32);
    base_ms.saturating_mul(1u64 << doublings)
}

/// What applying a certificate or evidence changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Applied {
    /// Nothing new (already known, or an older generation than the job holds).
    Nothing,
    /// A checker is banned from now on.
    Banned(PublicKey),
    /// A job has a new committee.
    Moved {
        /// The job.
        job: JobId,
        /// Its new generation.
        generation: u32,
    },
}

/// The checker set and what it decided.
#[derive(Debug, Clone)]
pub struct Ledger {
    network: String,
    set: Vec<PublicKey>,
    committee_size: usize,
    banned: BTreeMap<PublicKey, Fault>,
    moved: BTreeMap<JobId, BTreeMap<u32, Vec<PublicKey>>>,
}

impl Ledger {
    /// The ledger of a network whose checker set is `set` (its genesis checkers).
    pub fn new(network: &str, set: Vec<PublicKey>, committee_size: usize) -> Ledger {
        Ledger {
            network: network.to_owned(),
            set,
            committee_size,
            banned: BTreeMap::new(),
            moved: BTreeMap::new(),
        }
    }

    /// The checker set.
    pub fn set(&self) -> &[PublicKey] {
        &self.set
    }

    /// The network id.
    pub fn network(&self) -> &str {
        &self.network
    }

    /// Whether `checker` is banned.
    pub fn is_banned(&self, checker: &PublicKey) -> bool {
        self.banned.contains_key(checker)
    }

    /// The fault that banned `checker`.
    pub fn ban_of(&self, checker: &PublicKey) -> Option<&Fault> {
        self.banned.get(checker)
    }

    /// Banned checkers, with their faults.
    pub fn banned(&self) -> impl Iterator<Item = (&PublicKey, &Fault)> {
        self.banned.iter()
    }

    /// The committee that holds `job` now (its latest generation).
    pub fn committee(&self, job: &JobId) -> Vec<PublicKey> {
        match self.moved.get(job).and_then(|g| g.last_key_value()) {
            Some((_, committee)) => committee.clone(),
            None => rules::committee(job, &self.set, self.committee_size),
        }
    }

    /// The generation of the committee that holds `job` now (0: never moved).
    pub fn generation(&self, job: &JobId) -> u32 {
        self.moved
            .get(job)
            .and_then(|g| g.last_key_value())
            .map_or(0, |(g, _)| *g)
    }

    /// Every committee `job` has had, generation 0 first: a shard certificate made by
    /// any of them is valid (each was the job's committee by the set's decision).
    pub fn committees(&self, job: &JobId) -> Vec<Vec<PublicKey>> {
        let mut all = vec![rules::committee(job, &self.set, self.committee_size)];
        if let Some(moved) = self.moved.get(job) {
            all.extend(moved.values().cloned());
        }
        all
    }

    /// The status of a member of the set: Banned, else Offline when not `live`, else
    /// Checking when it sits on a committee with open work (`checking`), else Standby.
    /// `None` for a key outside the set.
    pub fn status(&self, checker: &PublicKey, live: bool, checking: bool) -> Option<CheckerStatus> {
        if !self.set.contains(checker) {
            return None;
        }
        Some(if self.is_banned(checker) {
            CheckerStatus::Banned
        } else if !live {
            CheckerStatus::Offline
        } else if checking {
            CheckerStatus::Checking
        } else {
            CheckerStatus::Standby
        })
    }

    /// The move this node proposes for `job` when its committee has lost members (not
    /// `live`, or banned): the members still up stay, in their order; the empty seats go
    /// to the live, unbanned checkers next in the job's rendezvous order for the new
    /// generation. `None` when nothing is lost, when no checker could take a seat, or when
    /// the job moved [`MAX_GENERATIONS`] times already.
    pub fn next_committee(&self, job: &JobId, live: impl Fn(&PublicKey) -> bool) -> Option<Action> {
        let current = self.committee(job);
        let up = |k: &PublicKey| live(k) && !self.is_banned(k);
        if current.iter().all(up) {
            return None;
        }
        let generation = self.generation(job).checked_add(1)?;
        if generation > MAX_GENERATIONS {
            return None;
        }
        let mut committee: Vec<PublicKey> = current.iter().copied().filter(up).collect();
        let ranking = rules::committee(
            &generation_subject(job, generation),
            &self.set,
            self.set.len(),
        );
        for k in ranking {
            if committee.len() >= self.committee_size {
                break;
            }
            if up(&k) && !committee.contains(&k) {
                committee.push(k);
            }
        }
        if committee.is_empty() || committee == current {
            return None;
        }
        Some(Action::Recommittee {
            job: *job,
            generation,
            committee,
        })
    }

    /// Verifies a decision certificate against the set (banned checkers' signatures do
    /// not count) and applies it.
    pub fn apply(&mut self, cert: &DecisionCertificate) -> Result<Applied, GovernanceError> {
        cert.verify(&self.network, &self.set, |k| !self.is_banned(k))?;
        cert.action
            .check(&self.network, &self.set, self.set.len())?;
        Ok(self.apply_verified(&cert.action))
    }

    /// Applies an action whose certificate the caller verified ([`Ledger::apply`]).
    pub fn apply_verified(&mut self, action: &Action) -> Applied {
        match action {
            Action::Recommittee {
                job,
                generation,
                committee,
            } => {
                if *generation <= self.generation(job) || *generation > MAX_GENERATIONS {
                    return Applied::Nothing;
                }
                if !self.moved.contains_key(job) && self.moved.len() >= MAX_MOVED_JOBS {
                    return Applied::Nothing;
                }
                self.moved
                    .entry(*job)
                    .or_default()
                    .insert(*generation, committee.clone());
                Applied::Moved {
                    job: *job,
                    generation: *generation,
                }
            }
            Action::BanChecker { checker, fault } => self.ban(*checker, fault.clone()),
        }
    }

    /// Verifies equivocation evidence and bans its checker at once: the evidence proves
    /// the fault on its own, no decision is needed.
    pub fn apply_evidence(&mut self, evidence: &Evidence) -> Result<Applied, GovernanceError> {
        evidence.verify(&self.network)?;
        if !self.set.contains(&evidence.checker) {
            return Err(GovernanceError::NotChecker(evidence.checker));
        }
        Ok(self.ban(evidence.checker, Fault::Equivocation(evidence.clone())))
    }

    fn ban(&mut self, checker: PublicKey, fault: Fault) -> Applied {
        if self.banned.contains_key(&checker) || !self.set.contains(&checker) {
            return Applied::Nothing;
        }
        self.banned.insert(checker, fault);
        Applied::Banned(checker)
    }

    /// Forgets a pruned job's moves.
    pub fn forget(&mut self, job: &JobId) {
        self.moved.remove(job);
    }
}

/// The subject a job's generation-`g` ranking is drawn on: blake3("recommittee" || job ||
/// g), so each move draws a fresh order.
fn generation_subject(job: &JobId, generation: u32) -> JobId {
    let mut h = blake3::Hasher::new();
    h.update(b"recommittee");
    h.update(&job.0);
    h.update(&generation.to_le_bytes());
    JobId(*h.finalize().as_bytes())
}
