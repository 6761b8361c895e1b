//! The network as this node sees it from gossip: every worker and checker it has heard
//! of, with what they did. Fed every accepted message by the loop; read by the RPC
//! (`net_workers`, `net_checkers`), the explorer and the diagnosis. Bounded: the least
//! recently seen entries go first.

use std::collections::{BTreeMap, HashMap, VecDeque};

use pictor_protocol::{
    governance::ban_cooldown_ms, Action, CapabilityRecord, Message, NodeRole, PublicKey, ShardId,
    Verdict,
};
use serde::Serialize;

/// Nodes of each kind kept (the least recently seen is forgotten first).
const MAX_NODES: usize = 10_000;
/// Recent rejections kept per worker, for the diagnosis.
const MAX_REJECTIONS: usize = 8;

pub use pictor_protocol::{CheckerStatus, WorkerStatus};

/// A claim rejected by a quorum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The shard, as `job:frame:tile` (the job's short id).
    pub shard: String,
    pub job: String,
    pub claim: String,
    /// The checkers that signed the rejection.
    pub signers: Vec<String>,
    pub at_ms: u64,
    /// The worker revealed it as its canary (a forced error): no offence.
    pub canary: bool,
}

/// A worker, as this node sees it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerView {
    pub key: String,
    pub peer_id: String,
    /// The device of its last heartbeat or claim.
    pub device: String,
    /// Engines from its capability record (`engine version`).
    pub engines: Vec<String>,
    /// Its benchmark score, million samples per second (capability record).
    pub benchmark_msamples_per_s: Option<f64>,
    pub threads: Option<u32>,
    /// Its price, credits per benchmark-normalised render-second (capability record).
    pub price: Option<u64>,
    /// Shards assigned to it, claims it made, claims accepted and rejected by a quorum.
    pub assigned: u64,
    pub claimed: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Shards assigned and not final yet.
    pub in_hand: u64,
    /// Whether it serves a ban's cool-down now.
    pub banned: bool,
    /// Its claims rejected by a quorum, each an offence, less its canaries.
    pub offences: u32,
    /// Its rejected claims it revealed as canaries (forced errors).
    pub canaries: u64,
    /// When its ban's cool-down ends (0: never banned).
    pub banned_until_ms: u64,
    /// The last rejections, newest last.
    pub rejections: Vec<Rejection>,
    pub last_seen_ms: u64,
}

/// A shard as rejections name it: `job:frame:tile` (the job's short id).
fn shard_name(shard: &pictor_protocol::ShardId) -> String {
    format!("{}:{}:{}", shard.job.short(), shard.frame, shard.tile)
}

impl WorkerView {
    /// The worker revealed its rejected claim on `shard` as a canary (the validator
    /// verified the reveal): the offence is struck off, and with the last offence the
    /// ban. Heartbeats repeat reveals: one already taken changes nothing.
    fn forgive(&mut self, shard: &pictor_protocol::ShardId) {
        let name = shard_name(shard);
        let job = shard.job.to_string();
        let Some(rejection) = self
            .rejections
            .iter_mut()
            .rev()
            .find(|r| !r.canary && r.shard == name && r.job == job)
        else {
            return;
        };
        rejection.canary = true;
        self.canaries += 1;
        self.offences = self.offences.saturating_sub(1);
        if self.offences == 0 {
            self.banned_until_ms = 0;
        }
    }
}

/// A checker, as this node sees it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckerView {
    pub key: String,
    pub peer_id: String,
    /// Whether the network spec names it (the genesis set).
    pub genesis: bool,
    pub attestations: u64,
    pub assignments: u64,
    /// Certificates it signed.
    pub certificates: u64,
    pub last_seen_ms: u64,
    /// When it last did committee work.
    pub last_work_ms: u64,
    /// What was found against it (equivocation, false attestations), as sentences.
    pub findings: Vec<String>,
    /// Banned by evidence or a decision of the checker set.
    pub banned: bool,
    /// It applied to join the set.
    pub applied: bool,
    /// The epoch of the certificate that admitted it (it joins two epochs later).
    pub admitted_in: Option<u64>,
}

/// The network view of one node.
#[derive(Debug, Default)]
pub(crate) struct NetView {
    workers: BTreeMap<PublicKey, WorkerView>,
    checkers: BTreeMap<PublicKey, CheckerView>,
    /// A worker's first ban's cool-down (the network's parameter).
    ban_cooldown_ms: u64,
    /// The length of an epoch (the network's parameter).
    epoch_ms: u64,
    /// Which worker holds each shard assigned and not yet certified, oldest first in
    /// `held_order` (a shard reassigned after a timeout leaves its first worker's hands).
    holders: HashMap<ShardId, PublicKey>,
    held_order: VecDeque<ShardId>,
}

/// Shards whose holder the view remembers (beyond it the oldest are forgotten).
const MAX_HELD_SHARDS: usize = 65_536;

fn short(key: &PublicKey) -> (String, String) {
    let peer = crate::identity::peer_id(key).map_or_else(String::new, |p| p.to_string());
    (key.to_string(), peer)
}

impl NetView {
    /// A view that knows the genesis checkers.
    pub(crate) fn new(checkers: &[PublicKey], ban_cooldown_ms: u64, epoch_ms: u64) -> NetView {
        let mut view = NetView {
            ban_cooldown_ms,
            epoch_ms,
            ..NetView::default()
        };
        for key in checkers {
            view.checker(key, 0).genesis = true;
        }
        view
    }

    fn worker(&mut self, key: &PublicKey, now: u64) -> &mut WorkerView {
        if !self.workers.contains_key(key) && self.workers.len() >= MAX_NODES {
            forget_oldest(&mut self.workers, |w| w.last_seen_ms);
        }
        let w = self.workers.entry(*key).or_insert_with(|| {
            let (key, peer_id) = short(key);
            WorkerView {
                key,
                peer_id,
                ..WorkerView::default()
            }
        });
        w.last_seen_ms = w.last_seen_ms.max(now);
        w
    }

    fn checker(&mut self, key: &PublicKey, now: u64) -> &mut CheckerView {
        if !self.checkers.contains_key(key) && self.checkers.len() >= MAX_NODES {
            forget_oldest(&mut self.checkers, |c| {
                if c.genesis {
                    u64::MAX
                } else {
                    c.last_seen_ms
                }
            });
        }
        let c = self.checkers.entry(*key).or_insert_with(|| {
            let (key, peer_id) = short(key);
            CheckerView {
                key,
                peer_id,
                ..CheckerView::default()
            }
        });
        c.last_seen_ms = c.last_seen_ms.max(now);
        c
    }

    /// Takes in one accepted message.
    pub(crate) fn observe(&mut self, message: &Message, now: u64) {
        match message {
            Message::Heartbeat(h) => match h.role {
                NodeRole::Worker => {
                    let w = self.worker(&h.node, now);
                    if !h.device.is_empty() {
                        w.device.clone_from(&h.device);
                    }
                    for reveal in &h.canaries {
                        w.forgive(&reveal.shard);
                    }
                }
                NodeRole::Checker => {
                    self.checker(&h.node, now);
                }
                NodeRole::Creator => {}
            },
            Message::Capability(c) => self.capability(c, now),
            Message::Assignment(a) => {
                self.hand(a.shard, a.worker, now);
                let w = self.worker(&a.worker, now);
                w.assigned += 1;
                let c = self.checker(&a.assigned_by, now);
                c.assignments += 1;
                c.last_work_ms = now;
            }
            Message::Claim(claim) => {
                let w = self.worker(&claim.worker, now);
                w.claimed += 1;
                w.device.clone_from(&claim.device);
            }
            Message::Attestation(a) => {
                let c = self.checker(&a.checker, now);
                c.attestations += 1;
                c.last_work_ms = now;
            }
            Message::Certificate(qc) => {
                for signer in qc.signers() {
                    self.checker(signer, now).certificates += 1;
                }
                let vote = &qc.vote;
                let base_cooldown_ms = self.ban_cooldown_ms;
                if self.holders.get(&vote.shard) == Some(&vote.worker) {
                    self.holders.remove(&vote.shard);
                    let w = self.worker(&vote.worker, 0);
                    w.in_hand = w.in_hand.saturating_sub(1);
                }
                let w = self.worker(&vote.worker, 0);
                match vote.verdict {
                    Verdict::Valid => w.accepted += 1,
                    Verdict::Invalid => {
                        w.rejected += 1;
                        w.offences = w.offences.saturating_add(1);
                        w.banned_until_ms =
                            now.saturating_add(ban_cooldown_ms(base_cooldown_ms, w.offences));
                        if w.rejections.len() >= MAX_REJECTIONS {
                            w.rejections.remove(0);
                        }
                        w.rejections.push(Rejection {
                            shard: shard_name(&vote.shard),
                            job: vote.shard.job.to_string(),
                            claim: vote.claim.to_string(),
                            signers: qc.signers().map(ToString::to_string).collect(),
                            at_ms: now,
                            canary: false,
                        });
                    }
                }
            }
            Message::Evidence(e) => {
                let c = self.checker(&e.checker, 0);
                c.banned = true;
                let finding = format!(
                    "equivocation: two different votes on claim {}",
                    e.first.0.claim.short()
                );
                if !c.findings.contains(&finding) && c.findings.len() < MAX_REJECTIONS {
                    c.findings.push(finding);
                }
            }
            Message::Application(a) => self.checker(&a.checker(), now).applied = true,
            Message::Decision(d) => {
                if let Action::AdmitChecker { epoch, application } = &d.action {
                    self.checker(&application.checker(), 0).admitted_in = Some(*epoch);
                }
                if let Action::BanChecker { checker, fault } = &d.action {
                    let c = self.checker(checker, 0);
                    c.banned = true;
                    let finding = fault.describe();
                    if !c.findings.contains(&finding) && c.findings.len() < MAX_REJECTIONS {
                        c.findings.push(finding);
                    }
                }
            }
            Message::Job(_) | Message::DecisionVote(_) | Message::Credits(_) => {}
        }
    }

    /// `shard` is in `worker`'s hands now, and no longer in those of a worker that held it
    /// before (its assignment timed out).
    fn hand(&mut self, shard: ShardId, worker: PublicKey, now: u64) {
        match self.holders.insert(shard, worker) {
            Some(previous) if previous == worker => return,
            Some(previous) => {
                if let Some(w) = self.workers.get_mut(&previous) {
                    w.in_hand = w.in_hand.saturating_sub(1);
                }
            }
            None => {
                self.held_order.push_back(shard);
                while self.held_order.len() > MAX_HELD_SHARDS {
                    let Some(old) = self.held_order.pop_front() else {
                        break;
                    };
                    let holder = self.holders.remove(&old);
                    if let Some(w) = holder.and_then(|h| self.workers.get_mut(&h)) {
                        w.in_hand = w.in_hand.saturating_sub(1);
                    }
                }
            }
        }
        self.worker(&worker, now).in_hand += 1;
    }

    fn capability(&mut self, record: &CapabilityRecord, now: u64) {
        let w = self.worker(&record.node, now);
        w.engines = record
            .engines
            .iter()
            .map(|e| format!("{} {}", e.engine, e.version))
            .collect();
        w.benchmark_msamples_per_s = Some(record.benchmark_msamples_per_s());
        w.threads = Some(record.threads);
        w.price = Some(record.price);
        if let Some(d) = record.devices.first() {
            w.device.clone_from(&d.name);
        }
    }

    /// Every worker with its status, most recently seen first.
    pub(crate) fn workers(&self, now: u64, liveness_ms: u64) -> Vec<(WorkerStatus, WorkerView)> {
        let mut out: Vec<_> = self
            .workers
            .values()
            .map(|w| {
                let status = if now < w.banned_until_ms {
                    WorkerStatus::Banned
                } else if now.saturating_sub(w.last_seen_ms) > liveness_ms {
                    WorkerStatus::Offline
                } else if w.in_hand > 0 {
                    WorkerStatus::Rendering
                } else {
                    WorkerStatus::Idle
                };
                let mut w = w.clone();
                w.banned = status == WorkerStatus::Banned;
                (status, w)
            })
            .collect();
        out.sort_by_key(|w| std::cmp::Reverse(w.1.last_seen_ms));
        out
    }

    /// Every checker with its status, genesis checkers first.
    pub(crate) fn checkers(&self, now: u64, liveness_ms: u64) -> Vec<(CheckerStatus, CheckerView)> {
        let mut out: Vec<_> = self
            .checkers
            .values()
            .map(|c| {
                let epoch = pictor_protocol::governance::epoch_at(now, self.epoch_ms);
                let member = c.genesis
                    || c.admitted_in.is_some_and(|e| {
                        e.saturating_add(pictor_protocol::governance::JOIN_DELAY_EPOCHS) <= epoch
                    });
                let status = if c.banned {
                    CheckerStatus::Banned
                } else if !member {
                    CheckerStatus::Pending
                } else if c.last_seen_ms == 0 || now.saturating_sub(c.last_seen_ms) > liveness_ms {
                    CheckerStatus::Offline
                } else if now.saturating_sub(c.last_work_ms) <= liveness_ms {
                    CheckerStatus::Checking
                } else {
                    CheckerStatus::Standby
                };
                (status, c.clone())
            })
            .collect();
        out.sort_by(|a, b| b.1.genesis.cmp(&a.1.genesis).then(a.1.key.cmp(&b.1.key)));
        out
    }

    /// This worker's entry, if the network has seen it.
    pub(crate) fn worker_entry(&self, key: &PublicKey) -> Option<&WorkerView> {
        self.workers.get(key)
    }
}

fn forget_oldest<V>(map: &mut BTreeMap<PublicKey, V>, seen: impl Fn(&V) -> u64) {
    if let Some(key) = map.iter().min_by_key(|(_, v)| seen(v)).map(|(k, _)| *k) {
        map.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pictor_protocol::{Assignment, Heartbeat, JobId, Keypair, ShardId};

    fn key(seed: u8) -> PublicKey {
        Keypair::from_seed([seed; 32]).public()
    }

    fn assignment(worker: PublicKey, attempt: u32) -> Message {
        Message::Assignment(Assignment {
            shard: ShardId {
                job: JobId([3; 32]),
                frame: 1,
                tile: 0,
            },
            worker,
            attempt,
            assigned_by: key(1),
            deadline_ms: 0,
        })
    }

    #[test]
    fn a_shard_assigned_again_leaves_its_first_workers_hands() {
        let mut view = NetView::new(&[key(1)], 60_000, 600_000);
        let (first, second) = (key(8), key(9));
        view.observe(&assignment(first, 0), 1_000);
        // Its assignment timed out: the shard goes to another worker.
        view.observe(&assignment(second, 1), 2_000);
        let workers: BTreeMap<String, (WorkerStatus, u64)> = view
            .workers(2_000, 60_000)
            .into_iter()
            .map(|(s, w)| (w.key.clone(), (s, w.in_hand)))
            .collect();
        assert_eq!(workers[&first.to_string()], (WorkerStatus::Idle, 0));
        assert_eq!(workers[&second.to_string()], (WorkerStatus::Rendering, 1));
    }

    #[test]
    fn a_worker_goes_idle_rendering_offline() {
        let mut view = NetView::new(&[key(1)], 60_000, 600_000);
        let worker = key(9);
        view.observe(
            &Message::Heartbeat(Heartbeat {
                node: worker,
                role: NodeRole::Worker,
                device: "cpu".into(),
                canaries: Vec::new(),
            }),
            1_000,
        );
        assert_eq!(view.workers(1_000, 500)[0].0, WorkerStatus::Idle);
        view.observe(
            &Message::Assignment(Assignment {
                shard: ShardId {
                    job: JobId([3; 32]),
                    frame: 1,
                    tile: 0,
                },
                worker,
                attempt: 0,
                assigned_by: key(1),
                deadline_ms: 0,
            }),
            1_100,
        );
        let (status, w) = view.workers(1_100, 500).remove(0);
        assert_eq!(status, WorkerStatus::Rendering);
        assert_eq!((w.assigned, w.in_hand), (1, 1));
        // The same shard, assigned again to the same worker, is one shard in hand.
        view.observe(&assignment(worker, 1), 1_100);
        assert_eq!(view.workers(1_100, 500)[0].1.in_hand, 1);
        assert_eq!(view.workers(5_000, 500)[0].0, WorkerStatus::Offline);
        let checkers = view.checkers(1_100, 500);
        assert_eq!(checkers[0].0, CheckerStatus::Checking);
        assert!(checkers[0].1.genesis);
    }
}
