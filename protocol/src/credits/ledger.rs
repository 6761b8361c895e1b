//! The credit ledger: balances and sequence numbers of accounts, escrows, the faucet's
//! state, and the vote locks of a checker. Transfers are applied here; escrows, mints and
//! votes in their own files.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::escrow::{Escrow, Funding};
use super::faucet::{FaucetLimits, Window};
use super::order::{EscrowId, Payee, Transfer};
use super::quorum::TransferCertificate;
use super::CreditError;
use crate::identity::PublicKey;

/// An account: its balance and the sequence number its next transfer uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Account {
    /// Credits held.
    pub balance: u64,
    /// The sequence number of the account's next transfer (the count of its transfers).
    pub next_sequence: u64,
}

/// What applying a transfer certificate changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppliedTransfer {
    /// Nothing: the sender's sequence number was used already (a replay).
    Replay,
    /// Credits moved from one account to another.
    Paid {
        /// The sender.
        from: PublicKey,
        /// The recipient.
        to: PublicKey,
        /// How many.
        amount: u64,
    },
    /// Credits moved into a job's escrow (created by its first funding).
    Escrowed {
        /// The escrow.
        escrow: EscrowId,
        /// How many.
        amount: u64,
        /// The escrow's budget now.
        remaining: u64,
    },
    /// The escrow was closed by a refund already: the credits stay with the creator (as
    /// the refund would have returned them), only its sequence number moves.
    ReturnedToCreator {
        /// The escrow.
        escrow: EscrowId,
        /// How many.
        amount: u64,
    },
}

/// What a checker's vote lock is on: an account, the faucet, or an escrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum LockKey {
    Account(PublicKey),
    Faucet,
    Escrow(EscrowId),
}

/// The order a checker voted for at a sequence: blake3 of its vote body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Lock {
    pub(super) sequence: u64,
    pub(super) digest: [u8; 32],
}

/// The credits state every node derives from the certificates it verified, and, on a
/// checker, the vote locks that keep it from voting for two orders at one sequence.
#[derive(Debug, Clone)]
pub struct CreditLedger {
    pub(super) network: String,
    pub(super) faucet: PublicKey,
    pub(super) limits: FaucetLimits,
    pub(super) accounts: BTreeMap<PublicKey, Account>,
    pub(super) escrows: BTreeMap<EscrowId, Escrow>,
    /// The sequence number of the faucet's next mint.
    pub(super) faucet_sequence: u64,
    /// What each account got from the faucet in its latest window.
    pub(super) windows: BTreeMap<PublicKey, Window>,
    /// The latest faucet request answered, per account (its `request_ms`).
    pub(super) faucet_requests: BTreeMap<PublicKey, u64>,
    pub(super) locks: BTreeMap<LockKey, Lock>,
    pub(super) total_minted: u64,
}

impl CreditLedger {
    /// An empty ledger of `network` whose faucet is `faucet`, limited by `limits` (the
    /// network spec's).
    pub fn new(network: &str, faucet: PublicKey, limits: FaucetLimits) -> CreditLedger {
        CreditLedger {
            network: network.to_owned(),
            faucet,
            limits,
            accounts: BTreeMap::new(),
            escrows: BTreeMap::new(),
            faucet_sequence: 0,
            windows: BTreeMap::new(),
            faucet_requests: BTreeMap::new(),
            locks: BTreeMap::new(),
            total_minted: 0,
        }
    }

    /// The network id.
    pub fn network(&self) -> &str {
        &self.network
    }

    /// The faucet key.
    pub fn faucet(&self) -> PublicKey {
        self.faucet
    }

    /// The faucet's limits.
    pub fn limits(&self) -> FaucetLimits {
        self.limits
    }

    /// `key`'s account (empty if it never held credits).
    pub fn account(&self, key: &PublicKey) -> Account {
        self.accounts.get(key).copied().unwrap_or_default()
    }

    /// `key`'s balance.
    pub fn balance(&self, key: &PublicKey) -> u64 {
        self.account(key).balance
    }

    /// The sequence number `key`'s next transfer must use.
    pub fn next_sequence(&self, key: &PublicKey) -> u64 {
        self.account(key).next_sequence
    }

    /// Every account that ever held credits or sent a transfer, by key.
    pub fn accounts(&self) -> impl Iterator<Item = (&PublicKey, &Account)> {
        self.accounts.iter()
    }

    /// An escrow.
    pub fn escrow(&self, id: &EscrowId) -> Option<&Escrow> {
        self.escrows.get(id)
    }

    /// Every escrow, closed ones included, by id.
    pub fn escrows(&self) -> impl Iterator<Item = (&EscrowId, &Escrow)> {
        self.escrows.iter()
    }

    /// What `creator` has in open escrows (the `escrowed` of `pictor balance`).
    pub fn escrowed_by(&self, creator: &PublicKey) -> u128 {
        self.escrows
            .iter()
            .filter(|(id, _)| id.creator == *creator)
            .map(|(_, e)| u128::from(e.remaining()))
            .sum()
    }

    /// The sequence number of the faucet's next mint.
    pub fn faucet_sequence(&self) -> u64 {
        self.faucet_sequence
    }

    /// Every credit the faucet issued: the total supply.
    pub fn total_minted(&self) -> u64 {
        self.total_minted
    }

    /// Every balance plus every escrow's budget. Equals [`CreditLedger::total_minted`]
    /// whatever certificates were applied (conservation); wider than `u64` so that the
    /// sum itself never overflows.
    pub fn circulating(&self) -> u128 {
        let balances: u128 = self.accounts.values().map(|a| u128::from(a.balance)).sum();
        let escrowed: u128 = self
            .escrows
            .values()
            .map(|e| u128::from(e.remaining()))
            .sum();
        balances.saturating_add(escrowed)
    }

    /// Whether [`CreditLedger::circulating`] equals [`CreditLedger::total_minted`].
    pub fn is_conserved(&self) -> bool {
        self.circulating() == u128::from(self.total_minted)
    }

    /// Vote locks held (one per account, escrow or faucet with a vote not yet certified
    /// here).
    pub fn pending_locks(&self) -> usize {
        self.locks.len()
    }

    /// Verifies a transfer certificate against the checker set and applies it: the sender
    /// is debited and its sequence number moves on, the payee is credited. A replay
    /// changes nothing; a refused certificate changes nothing.
    pub fn apply_transfer(
        &mut self,
        cert: &TransferCertificate,
        checkers: &[PublicKey],
    ) -> Result<AppliedTransfer, CreditError> {
        cert.verify(&self.network, checkers)?;
        let transfer = cert.transfer.transfer;
        let next = self.next_sequence(&transfer.from);
        if !apply_sequence(next, transfer.sequence)? {
            return Ok(AppliedTransfer::Replay);
        }
        let effect = self.transfer_effect(&transfer)?;
        Ok(self.commit_transfer(&transfer, effect))
    }

    /// What `transfer`, at the sender's next sequence, would change; an error if it
    /// cannot apply now. Changes nothing.
    pub(super) fn transfer_effect(
        &self,
        transfer: &Transfer,
    ) -> Result<TransferEffect, CreditError> {
        transfer.check()?;
        let from = self.account(&transfer.from);
        let debited = Account {
            balance: from.balance.checked_sub(transfer.amount).ok_or(
                CreditError::InsufficientBalance {
                    account: transfer.from,
                    balance: from.balance,
                    amount: transfer.amount,
                },
            )?,
            next_sequence: from
                .next_sequence
                .checked_add(1)
                .ok_or(CreditError::Overflow("sequence number"))?,
        };
        match transfer.to {
            Payee::Account(to) => {
                let mut credited = self.account(&to);
                credited.balance = credited
                    .balance
                    .checked_add(transfer.amount)
                    .ok_or(CreditError::Overflow("balance"))?;
                Ok(TransferEffect::Account {
                    debited,
                    to,
                    credited,
                })
            }
            Payee::Escrow(job) => {
                let id = EscrowId {
                    job,
                    creator: transfer.from,
                };
                let funding = Escrow::funding(self.escrows.get(&id), transfer.amount)?;
                let debited = if funding.returned {
                    // Debited and returned at once: only the sequence moves.
                    Account {
                        balance: from.balance,
                        ..debited
                    }
                } else {
                    debited
                };
                Ok(TransferEffect::Escrow {
                    debited,
                    id,
                    funding,
                })
            }
        }
    }

    fn commit_transfer(&mut self, transfer: &Transfer, effect: TransferEffect) -> AppliedTransfer {
        let from = transfer.from;
        let amount = transfer.amount;
        let applied = match effect {
            TransferEffect::Account {
                debited,
                to,
                credited,
            } => {
                self.accounts.insert(from, debited);
                self.accounts.insert(to, credited);
                AppliedTransfer::Paid { from, to, amount }
            }
            TransferEffect::Escrow {
                debited,
                id,
                funding,
            } => {
                self.accounts.insert(from, debited);
                let escrow = self.escrows.entry(id).or_default();
                escrow.fund(funding);
                if funding.returned {
                    AppliedTransfer::ReturnedToCreator { escrow: id, amount }
                } else {
                    AppliedTransfer::Escrowed {
                        escrow: id,
                        amount,
                        remaining: escrow.remaining(),
                    }
                }
            }
        };
        self.release(LockKey::Account(from), self.next_sequence(&from));
        applied
    }

    /// Takes (or confirms) the vote lock on `key` at `sequence` for the order whose vote
    /// body hashes to `digest`: refused if this ledger voted for another order there.
    pub(super) fn lock(
        &mut self,
        key: LockKey,
        sequence: u64,
        digest: [u8; 32],
    ) -> Result<(), CreditError> {
        match self.locks.get(&key) {
            Some(lock) if lock.sequence == sequence && lock.digest != digest => {
                Err(CreditError::Conflict { sequence })
            }
            _ => {
                self.locks.insert(key, Lock { sequence, digest });
                Ok(())
            }
        }
    }

    /// Drops the lock on `key` once its sequence is used (`next` is the next one).
    pub(super) fn release(&mut self, key: LockKey, next: u64) {
        if self.locks.get(&key).is_some_and(|l| l.sequence < next) {
            self.locks.remove(&key);
        }
    }
}

/// What a transfer changes, computed before anything is written.
#[derive(Debug, Clone, Copy)]
pub(super) enum TransferEffect {
    Account {
        debited: Account,
        to: PublicKey,
        credited: Account,
    },
    Escrow {
        debited: Account,
        id: EscrowId,
        funding: Funding,
    },
}

/// Compares a certificate's sequence number with the next one: `true` when it is due,
/// `false` for a replay (a used one, which changes nothing), an error when it is ahead.
pub(super) fn apply_sequence(next: u64, got: u64) -> Result<bool, CreditError> {
    match got.cmp(&next) {
        Ordering::Equal => Ok(true),
        Ordering::Less => Ok(false),
        Ordering::Greater => Err(CreditError::SequenceAhead {
            expected: next,
            got,
        }),
    }
}

/// Compares a sequence number with the next one for a vote: the next is fine, a used one
/// or one ahead is refused.
pub(super) fn vote_sequence(next: u64, got: u64) -> Result<(), CreditError> {
    match got.cmp(&next) {
        Ordering::Equal => Ok(()),
        Ordering::Less => Err(CreditError::SequenceUsed {
            expected: next,
            got,
        }),
        Ordering::Greater => Err(CreditError::SequenceAhead {
            expected: next,
            got,
        }),
    }
}
