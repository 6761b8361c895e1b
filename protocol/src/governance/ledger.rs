//! The ledger of the checker set: what verified certificates and evidence decided. Every
//! node that verified the same ones holds the same ledger, whatever the order they came in.

use std::collections::BTreeMap;

use super::{
    Action, CheckerStatus, DecisionCertificate, Fault, GovernanceError, JOIN_DELAY_EPOCHS,
};
use crate::certificate::Evidence;
use crate::identity::PublicKey;
use crate::job::JobId;
use crate::rules;

/// Most moves one job may make (a job that loses committee after committee is failing
/// for another reason).
pub const MAX_GENERATIONS: u32 = 16;
/// Most jobs with moved committees held at once (forgotten with their jobs).
const MAX_MOVED_JOBS: usize = 10_000;
/// Most jobs whose epochs are held at once (forgotten with their jobs; a job the ledger
/// does not hold draws its committee from the set of the current epoch).
const MAX_JOB_EPOCHS: usize = 10_000;
/// How far ahead of the ledger's clock an admission's epoch may be (clocks differ).
const EPOCH_SKEW: u64 = 1;

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
    /// An applicant is admitted: it joins the set at epoch `from_epoch`.
    Admitted {
        /// The new checker.
        checker: PublicKey,
        /// The first epoch whose set holds it.
        from_epoch: u64,
    },
}

/// The checker set and what it decided.
#[derive(Debug, Clone)]
pub struct Ledger {
    network: String,
    genesis: Vec<PublicKey>,
    /// The set of the current epoch.
    set: Vec<PublicKey>,
    committee_size: usize,
    /// Length of an epoch (0: one epoch forever, the set never changes).
    epoch_ms: u64,
    /// The current epoch (see [`Ledger::advance`]).
    epoch: u64,
    /// Admitted checkers, with the epoch of their admission's certificate.
    admitted: BTreeMap<PublicKey, u64>,
    banned: BTreeMap<PublicKey, Fault>,
    moved: BTreeMap<JobId, BTreeMap<u32, Vec<PublicKey>>>,
    /// The epochs that the jobs this node knows name (their committees' sets).
    job_epochs: BTreeMap<JobId, u64>,
}

impl Ledger {
    /// The ledger of a network whose checker set is `set` (its genesis checkers).
    pub fn new(network: &str, set: Vec<PublicKey>, committee_size: usize) -> Ledger {
        Ledger {
            network: network.to_owned(),
            genesis: set.clone(),
            set,
            committee_size,
            epoch_ms: 0,
            epoch: 0,
            admitted: BTreeMap::new(),
            banned: BTreeMap::new(),
            moved: BTreeMap::new(),
            job_epochs: BTreeMap::new(),
        }
    }

    /// The same ledger with epochs of `epoch_ms` (see `admission.rs`).
    pub fn with_epochs(mut self, epoch_ms: u64) -> Ledger {
        self.epoch_ms = epoch_ms;
        self
    }

    /// The checker set of the current epoch.
    pub fn set(&self) -> &[PublicKey] {
        &self.set
    }

    /// The genesis set (the network spec's).
    pub fn genesis(&self) -> &[PublicKey] {
        &self.genesis
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The epoch `now_ms` falls in.
    pub fn epoch_at(&self, now_ms: u64) -> u64 {
        super::epoch_at(now_ms, self.epoch_ms)
    }

    /// Moves the ledger's clock to `now_ms` (never back). Returns whether the set changed.
    pub fn advance(&mut self, now_ms: u64) -> bool {
        let epoch = self.epoch_at(now_ms);
        if epoch <= self.epoch {
            return false;
        }
        self.epoch = epoch;
        let set = self.set_at(epoch);
        let changed = set != self.set;
        self.set = set;
        changed
    }

    /// The set of epoch `epoch`: the genesis set, then the checkers admitted by
    /// certificates of epochs up to `epoch - JOIN_DELAY_EPOCHS`, by key.
    pub fn set_at(&self, epoch: u64) -> Vec<PublicKey> {
        let mut set = self.genesis.clone();
        set.extend(
            self.admitted
                .iter()
                .filter(|(_, decided)| decided.saturating_add(JOIN_DELAY_EPOCHS) <= epoch)
                .map(|(k, _)| *k),
        );
        set
    }

    /// Checkers admitted whose epoch has not come yet, with the epoch they join at.
    pub fn joining(&self) -> impl Iterator<Item = (&PublicKey, u64)> {
        self.admitted
            .iter()
            .map(|(k, decided)| (k, decided.saturating_add(JOIN_DELAY_EPOCHS)))
            .filter(|(_, from)| *from > self.epoch)
    }

    /// Whether `checker` was admitted (whether or not its epoch has come).
    pub fn is_admitted(&self, checker: &PublicKey) -> bool {
        self.admitted.contains_key(checker)
    }

    /// Records the epoch `job` names: its committee is drawn from that epoch's set.
    pub fn note_job(&mut self, job: JobId, epoch: u64) {
        if self.job_epochs.len() < MAX_JOB_EPOCHS || self.job_epochs.contains_key(&job) {
            self.job_epochs.insert(job, epoch);
        }
    }

    /// The set `job`'s first committee is drawn from.
    fn job_set(&self, job: &JobId) -> std::borrow::Cow<'_, [PublicKey]> {
        match self.job_epochs.get(job) {
            Some(e) if *e != self.epoch => std::borrow::Cow::Owned(self.set_at(*e)),
            _ => std::borrow::Cow::Borrowed(&self.set),
        }
    }

    /// The set that signs `action`'s votes and certificate: its epoch's, or the current.
    pub fn signers_for(&self, action: &Action) -> std::borrow::Cow<'_, [PublicKey]> {
        match action.epoch() {
            Some(e) if e != self.epoch => std::borrow::Cow::Owned(self.set_at(e)),
            _ => std::borrow::Cow::Borrowed(&self.set),
        }
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
            None => rules::committee(job, &self.job_set(job), self.committee_size),
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
    ///
    /// For a job whose epoch this ledger does not hold, the first committee drawn from the
    /// set of every epoch since genesis up to the next (a certificate is then accepted if
    /// a quorum of any set the network had signed it).
    pub fn committees(&self, job: &JobId) -> Vec<Vec<PublicKey>> {
        let mut all = Vec::new();
        if self.job_epochs.contains_key(job) || self.admitted.is_empty() {
            all.push(rules::committee(
                job,
                &self.job_set(job),
                self.committee_size,
            ));
        } else {
            let mut changes: Vec<u64> = std::iter::once(0)
                .chain(
                    self.admitted
                        .values()
                        .map(|d| d.saturating_add(JOIN_DELAY_EPOCHS)),
                )
                .filter(|e| *e <= self.epoch.saturating_add(EPOCH_SKEW))
                .collect();
            changes.sort_unstable();
            changes.dedup();
            for e in changes {
                let c = rules::committee(job, &self.set_at(e), self.committee_size);
                if !all.contains(&c) {
                    all.push(c);
                }
            }
        }
        if let Some(moved) = self.moved.get(job) {
            all.extend(moved.values().cloned());
        }
        all
    }

    /// Every checker set the network has had up to now, the current one first: a
    /// certificate made by an earlier set (a transfer certified before an admission) is
    /// still a certificate for a node that catches up after the set changed.
    pub fn sets(&self) -> Vec<Vec<PublicKey>> {
        let mut changes: Vec<u64> = std::iter::once(0)
            .chain(
                self.admitted
                    .values()
                    .map(|d| d.saturating_add(JOIN_DELAY_EPOCHS)),
            )
            .filter(|e| *e <= self.epoch)
            .collect();
        changes.sort_unstable();
        changes.dedup();
        let mut all = vec![self.set.clone()];
        for e in changes.into_iter().rev() {
            let set = self.set_at(e);
            if !all.contains(&set) {
                all.push(set);
            }
        }
        all
    }

    /// The status of a member of the set: Banned, else Offline when not `live`, else
    /// Checking when it sits on a committee with open work (`checking`), else Standby.
    /// `None` for a key outside the set.
    /// An admitted checker whose epoch has not come is Pending.
    pub fn status(&self, checker: &PublicKey, live: bool, checking: bool) -> Option<CheckerStatus> {
        if !self.set.contains(checker) {
            return self
                .admitted
                .contains_key(checker)
                .then_some(CheckerStatus::Pending);
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
    /// An admission is verified against the set of its epoch, which may be at most one
    /// epoch ahead of this ledger's clock.
    pub fn apply(&mut self, cert: &DecisionCertificate) -> Result<Applied, GovernanceError> {
        if cert
            .action
            .epoch()
            .is_some_and(|e| e > self.epoch.saturating_add(EPOCH_SKEW))
        {
            return Err(GovernanceError::Admission("its epoch has not come"));
        }
        if self.settled(&cert.action) {
            // Another certificate on the same action was applied: this one would change
            // nothing, so it is not verified (every member that completes a quorum makes
            // one; a hundred checkers would check a hundred each).
            return Ok(Applied::Nothing);
        }
        let set = self.signers_for(&cert.action);
        cert.verify(&self.network, &set, |k| !self.is_banned(k))?;
        cert.action.check(&self.network, &set, set.len())?;
        drop(set);
        Ok(self.apply_verified(&cert.action))
    }

    /// Whether `action` is applied already (or superseded): applying it again changes
    /// nothing ([`Ledger::apply_verified`] answers [`Applied::Nothing`]).
    pub fn settled(&self, action: &Action) -> bool {
        match action {
            Action::Recommittee {
                job, generation, ..
            } => *generation <= self.generation(job),
            Action::BanChecker { checker, .. } => self.banned.contains_key(checker),
            // A genesis member's admission is refused as such, after the checks.
            Action::AdmitChecker { application, .. } => {
                self.admitted.contains_key(&application.checker())
            }
        }
    }

    /// Applies an action whose certificate the caller verified ([`Ledger::apply`]).
    pub fn apply_verified(&mut self, action: &Action) -> Applied {
        if self.settled(action) {
            return Applied::Nothing;
        }
        match action {
            Action::Recommittee {
                job,
                generation,
                committee,
            } => {
                if *generation > MAX_GENERATIONS {
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
            Action::AdmitChecker { epoch, application } => {
                let checker = application.checker();
                if self.genesis.contains(&checker)
                    || self.genesis.len() + self.admitted.len() >= super::MAX_CHECKERS
                {
                    return Applied::Nothing;
                }
                self.admitted.insert(checker, *epoch);
                let from_epoch = epoch.saturating_add(JOIN_DELAY_EPOCHS);
                if from_epoch <= self.epoch {
                    // Learnt late: its epoch has come already.
                    self.set = self.set_at(self.epoch);
                }
                Applied::Admitted {
                    checker,
                    from_epoch,
                }
            }
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
        let member = self.set.contains(&checker) || self.admitted.contains_key(&checker);
        if self.banned.contains_key(&checker) || !member {
            return Applied::Nothing;
        }
        self.banned.insert(checker, fault);
        Applied::Banned(checker)
    }

    /// Forgets a pruned job's moves.
    pub fn forget(&mut self, job: &JobId) {
        self.moved.remove(job);
        self.job_epochs.remove(job);
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
