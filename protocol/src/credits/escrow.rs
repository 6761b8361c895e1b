//! Job escrows: a job's budget, funded by its creator's transfers, paid out shard by
//! shard and refunded by orders its committee certifies, in the escrow's own sequence.
//!
//! # Checker fees
//! A shard's checker fee is split among the committee the order names (sorted by key):
//! each member gets `fee / n`; the `fee % n` credits left over go one each to the members
//! that follow position `sequence % n` of the escrow order, wrapping around (so the
//! remainder rotates with the escrow's sequence and favours no key). See [`split_fee`].
//! The committee is part of the certified order, so every node credits the same keys
//! whatever committee it believes holds the job at the time it applies it.

use std::collections::{BTreeMap, BTreeSet};

use super::ledger::{apply_sequence, Account, LockKey};
use super::order::{normalise, EscrowAction, EscrowOrder};
use super::quorum::EscrowCertificate;
use super::{CreditError, CreditLedger};
use crate::identity::PublicKey;
use crate::job::ShardId;

/// A job's escrow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Escrow {
    totals: Totals,
    paid_shards: BTreeSet<ShardId>,
}

/// The numbers of an escrow (`funded = remaining + paid_workers + paid_fees + refunded`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    remaining: u64,
    next_sequence: u64,
    closed: bool,
    funded: u64,
    paid_workers: u64,
    paid_fees: u64,
    refunded: u64,
}

/// What a funding transfer does to an escrow, computed before anything is written.
#[derive(Debug, Clone, Copy)]
pub(super) struct Funding {
    totals: Totals,
    /// The escrow is closed: the credits stay with the creator.
    pub(super) returned: bool,
}

impl Escrow {
    /// Credits left to pay out.
    pub fn remaining(&self) -> u64 {
        self.totals.remaining
    }

    /// The sequence number of the escrow's next order.
    pub fn next_sequence(&self) -> u64 {
        self.totals.next_sequence
    }

    /// Whether a refund closed it.
    pub fn is_closed(&self) -> bool {
        self.totals.closed
    }

    /// Everything its creator transferred to it.
    pub fn funded(&self) -> u64 {
        self.totals.funded
    }

    /// What its workers were paid.
    pub fn paid_to_workers(&self) -> u64 {
        self.totals.paid_workers
    }

    /// What its committee was paid in checker fees.
    pub fn paid_in_fees(&self) -> u64 {
        self.totals.paid_fees
    }

    /// What went back to its creator (a refund, and transfers that arrived after it).
    pub fn refunded(&self) -> u64 {
        self.totals.refunded
    }

    /// Whether `shard` was paid.
    pub fn is_paid(&self, shard: &ShardId) -> bool {
        self.paid_shards.contains(shard)
    }

    /// The shards paid, in order.
    pub fn paid_shards(&self) -> impl Iterator<Item = &ShardId> {
        self.paid_shards.iter()
    }

    /// What a transfer of `amount` does to `escrow` (`None`: not created yet). A closed
    /// escrow counts it as funded and refunded at once.
    pub(super) fn funding(escrow: Option<&Escrow>, amount: u64) -> Result<Funding, CreditError> {
        let mut totals = escrow.map(|e| e.totals).unwrap_or_default();
        let overflow = CreditError::Overflow("escrow");
        totals.funded = totals.funded.checked_add(amount).ok_or(overflow.clone())?;
        if totals.closed {
            totals.refunded = totals.refunded.checked_add(amount).ok_or(overflow)?;
        } else {
            totals.remaining = totals.remaining.checked_add(amount).ok_or(overflow)?;
        }
        Ok(Funding {
            totals,
            returned: totals.closed,
        })
    }

    pub(super) fn fund(&mut self, funding: Funding) {
        self.totals = funding.totals;
    }
}

/// What applying an escrow certificate changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppliedEscrow {
    /// Nothing: the escrow's sequence number was used already (a replay).
    Replay,
    /// A shard was paid.
    Paid {
        /// The shard.
        shard: ShardId,
        /// Its worker.
        worker: PublicKey,
        /// What the worker got.
        worker_amount: u64,
        /// What each committee member got of the checker fee, by key.
        fees: Vec<(PublicKey, u64)>,
        /// The budget left.
        remaining: u64,
    },
    /// The rest went back to the creator; the escrow is closed.
    Refunded {
        /// The creator.
        creator: PublicKey,
        /// What it got back.
        amount: u64,
    },
}

/// How a checker fee of `fee` is split among `committee` (sorted and deduplicated first)
/// for the escrow order at `sequence`: `fee / n` each, and one more credit for each of the
/// `fee % n` members from position `sequence % n` on, wrapping around. The shares sum to
/// `fee`; an empty committee gets nothing.
pub fn split_fee(fee: u64, committee: &[PublicKey], sequence: u64) -> Vec<(PublicKey, u64)> {
    let members = normalise(committee);
    let Ok(n) = u64::try_from(members.len()) else {
        return Vec::new();
    };
    let (Some(share), Some(extra), Some(start)) = (
        fee.checked_div(n),
        fee.checked_rem(n),
        sequence.checked_rem(n),
    ) else {
        return Vec::new();
    };
    members
        .into_iter()
        .zip(0u64..)
        .map(|(key, i)| {
            // The distance from `start` going forward: `(i - start) mod n`, in range.
            let distance = i.checked_sub(start).unwrap_or_else(|| n - start + i);
            // `share + 1 <= fee` whenever `extra > 0`, so this never saturates.
            let amount = share.saturating_add(u64::from(distance < extra));
            (key, amount)
        })
        .collect()
}

/// What an escrow order changes, computed before anything is written.
#[derive(Debug, Clone)]
pub(super) struct EscrowEffect {
    totals: Totals,
    paid_shard: Option<ShardId>,
    credits: Vec<(PublicKey, Account)>,
    applied: AppliedEscrow,
}

impl CreditLedger {
    /// What `order`, at its escrow's next sequence, would change; an error if it cannot
    /// apply now (unknown or closed escrow, a shard paid already, the budget exhausted).
    /// Changes nothing.
    pub(super) fn escrow_effect(&self, order: &EscrowOrder) -> Result<EscrowEffect, CreditError> {
        let id = order.escrow;
        let escrow = self.escrows.get(&id).ok_or(CreditError::UnknownEscrow {
            job: id.job,
            creator: id.creator,
        })?;
        if escrow.is_closed() {
            return Err(CreditError::EscrowClosed { job: id.job });
        }
        let mut totals = escrow.totals;
        totals.next_sequence = totals
            .next_sequence
            .checked_add(1)
            .ok_or(CreditError::Overflow("escrow sequence number"))?;
        let overflow = || CreditError::Overflow("escrow payment");
        match order.action {
            EscrowAction::PayShard {
                shard,
                worker,
                worker_amount,
                checker_fee,
            } => {
                if shard.job != id.job {
                    return Err(CreditError::WrongJob { shard, job: id.job });
                }
                if escrow.is_paid(&shard) {
                    return Err(CreditError::ShardAlreadyPaid { shard });
                }
                let needed = worker_amount
                    .checked_add(checker_fee)
                    .ok_or_else(overflow)?;
                totals.remaining =
                    totals
                        .remaining
                        .checked_sub(needed)
                        .ok_or(CreditError::BudgetExhausted {
                            job: id.job,
                            remaining: totals.remaining,
                            needed,
                        })?;
                totals.paid_workers = totals
                    .paid_workers
                    .checked_add(worker_amount)
                    .ok_or_else(overflow)?;
                totals.paid_fees = totals
                    .paid_fees
                    .checked_add(checker_fee)
                    .ok_or_else(overflow)?;
                let fees = split_fee(checker_fee, &order.committee, order.sequence);
                let mut owed: BTreeMap<PublicKey, u64> = BTreeMap::new();
                for (key, amount) in std::iter::once((worker, worker_amount)).chain(fees.clone()) {
                    let entry = owed.entry(key).or_default();
                    *entry = entry.checked_add(amount).ok_or_else(overflow)?;
                }
                let credits = self.credited(owed)?;
                Ok(EscrowEffect {
                    totals,
                    paid_shard: Some(shard),
                    credits,
                    applied: AppliedEscrow::Paid {
                        shard,
                        worker,
                        worker_amount,
                        fees,
                        remaining: totals.remaining,
                    },
                })
            }
            EscrowAction::Refund => {
                let amount = totals.remaining;
                totals.refunded = totals.refunded.checked_add(amount).ok_or_else(overflow)?;
                totals.remaining = 0;
                totals.closed = true;
                let credits = self.credited(BTreeMap::from([(id.creator, amount)]))?;
                Ok(EscrowEffect {
                    totals,
                    paid_shard: None,
                    credits,
                    applied: AppliedEscrow::Refunded {
                        creator: id.creator,
                        amount,
                    },
                })
            }
        }
    }

    /// The accounts of `owed` after they are credited (zero amounts left out).
    fn credited(
        &self,
        owed: BTreeMap<PublicKey, u64>,
    ) -> Result<Vec<(PublicKey, Account)>, CreditError> {
        owed.into_iter()
            .filter(|(_, amount)| *amount > 0)
            .map(|(key, amount)| {
                let mut account = self.account(&key);
                account.balance = account
                    .balance
                    .checked_add(amount)
                    .ok_or(CreditError::Overflow("balance"))?;
                Ok((key, account))
            })
            .collect()
    }

    /// Verifies an escrow certificate against `committee` (the committee that holds the
    /// job, by the caller's governance ledger, which the order must name) and applies it.
    /// A replay changes nothing; a refused certificate changes nothing.
    ///
    /// A payment larger than the budget is refused with [`CreditError::BudgetExhausted`]:
    /// the node pauses the job. It applies once the creator's further funding has.
    pub fn apply_escrow(
        &mut self,
        cert: &EscrowCertificate,
        committee: &[PublicKey],
    ) -> Result<AppliedEscrow, CreditError> {
        cert.verify(&self.network, committee)?;
        let order = &cert.order;
        let id = order.escrow;
        let next = self
            .escrows
            .get(&id)
            .ok_or(CreditError::UnknownEscrow {
                job: id.job,
                creator: id.creator,
            })?
            .next_sequence();
        if !apply_sequence(next, order.sequence)? {
            return Ok(AppliedEscrow::Replay);
        }
        let effect = self.escrow_effect(order)?;
        for (key, account) in effect.credits {
            self.accounts.insert(key, account);
        }
        let escrow = self.escrows.entry(id).or_default();
        escrow.totals = effect.totals;
        if let Some(shard) = effect.paid_shard {
            escrow.paid_shards.insert(shard);
        }
        self.release(LockKey::Escrow(id), effect.totals.next_sequence);
        Ok(effect.applied)
    }
}
