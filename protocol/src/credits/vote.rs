//! The checker's side: when it votes for an order. A checker votes only for an order that
//! would apply to its ledger now, at the next sequence, and never for two different orders
//! at one sequence of one account, escrow or faucet (its vote lock). Since a certificate
//! needs more than two thirds of the set, two certificates at one sequence would need a
//! checker in both quorums to vote twice: with at most `f` faulty of `3f + 1`, they share
//! at least `f + 1` checkers, one of them honest, so they never both form.
//!
//! A lock holds until the certificate at its sequence is applied. An owner that signs two
//! transfers at one sequence may split the vote so that neither forms: its account is then
//! stuck at that sequence (as in FastPay), which harms nobody but that owner.

use super::ledger::{vote_sequence, LockKey};
use super::order::{EscrowOrder, SignedMint, SignedTransfer};
use super::quorum::{EscrowVote, MintVote, TransferVote};
use super::{signing_body, CreditError, CreditLedger, MINT_CLOCK_SKEW_MS};
use crate::identity::{Keypair, PublicKey};

/// The digest a lock keeps of the order voted for.
fn digest<T: serde::Serialize>(value: &T) -> [u8; 32] {
    *blake3::hash(&signing_body(b"pictor/credits/v1/lock\0", value)).as_bytes()
}

/// What an escrow vote locks: the action at the escrow's sequence, not the committee
/// that orders it. A job that moves to a new committee while an order is half voted (its
/// payer died) goes on at that sequence with the same action under the new committee: its
/// members that voted stay bound to that action, so two certificates at one sequence, one
/// from each committee (the old payer comes back and gathers its votes), carry the same
/// action, and every node's escrow ends the same whichever it applies.
fn escrow_lock(order: &EscrowOrder) -> [u8; 32] {
    digest(&(order.escrow, order.sequence, &order.action))
}

impl CreditLedger {
    /// `keypair`'s vote for a signed transfer, if it may cast one: the owner's signature
    /// verifies, the sequence is the account's next, the balance covers the amount, an
    /// escrow it funds is not closed, and this ledger has not voted for a different
    /// transfer at that sequence. Voting again for the same transfer gives the same vote.
    pub fn vote_transfer(
        &mut self,
        keypair: &Keypair,
        signed: &SignedTransfer,
    ) -> Result<TransferVote, CreditError> {
        signed.verify(&self.network)?;
        let transfer = signed.transfer;
        vote_sequence(self.next_sequence(&transfer.from), transfer.sequence)?;
        if let Some(id) = transfer.escrow() {
            if self.escrows.get(&id).is_some_and(|e| e.is_closed()) {
                return Err(CreditError::EscrowClosed { job: id.job });
            }
        }
        self.transfer_effect(&transfer)?;
        self.lock(
            LockKey::Account(transfer.from),
            transfer.sequence,
            digest(&transfer),
        )?;
        Ok(TransferVote::new(keypair, &self.network, transfer))
    }

    /// `keypair`'s vote for a faucet mint, if it may cast one: the faucet signed it, the
    /// sequence is the faucet's next, it is dated within [`MINT_CLOCK_SKEW_MS`] of `now_ms`,
    /// it keeps the faucet's limits, and this ledger has not voted for a different mint at
    /// that sequence.
    pub fn vote_mint(
        &mut self,
        keypair: &Keypair,
        signed: &SignedMint,
        now_ms: u64,
    ) -> Result<MintVote, CreditError> {
        let faucet = self.faucet;
        signed.verify(&self.network, &faucet)?;
        let mint = signed.mint;
        vote_sequence(self.faucet_sequence, mint.sequence)?;
        if now_ms.abs_diff(mint.issued_ms) > MINT_CLOCK_SKEW_MS {
            return Err(CreditError::MintClock {
                issued_ms: mint.issued_ms,
                now_ms,
            });
        }
        self.mint_effect(&mint)?;
        self.lock(LockKey::Faucet, mint.sequence, digest(&mint))?;
        Ok(MintVote::new(keypair, &self.network, mint))
    }

    /// `keypair`'s vote for an escrow order, if it may cast one: `keypair` sits on
    /// `committee` (the committee that holds the job), which the order names; the sequence
    /// is the escrow's next; the escrow is open; a shard it pays is of the job and not paid
    /// yet and the budget covers it ([`CreditError::BudgetExhausted`] otherwise: the node
    /// pauses the job); and this ledger has not voted for a different action at that
    /// sequence (the same action under another committee is the same vote's content).
    pub fn vote_escrow(
        &mut self,
        keypair: &Keypair,
        order: &EscrowOrder,
        committee: &[PublicKey],
    ) -> Result<EscrowVote, CreditError> {
        order.check()?;
        order.check_committee(committee)?;
        let me = keypair.public();
        if order.committee.binary_search(&me).is_err() {
            return Err(CreditError::NotMember(me));
        }
        let id = order.escrow;
        let escrow = self.escrows.get(&id).ok_or(CreditError::UnknownEscrow {
            job: id.job,
            creator: id.creator,
        })?;
        vote_sequence(escrow.next_sequence(), order.sequence)?;
        self.escrow_effect(order)?;
        self.lock(LockKey::Escrow(id), order.sequence, escrow_lock(order))?;
        Ok(EscrowVote::new(keypair, &self.network, order.clone()))
    }

    /// Takes again the lock of a transfer vote this checker cast before it restarted (its
    /// votes are stored): it then never votes for a different transfer at that sequence.
    /// A vote at a sequence already used takes no lock.
    pub fn relock_transfer(&mut self, vote: &TransferVote) -> Result<(), CreditError> {
        let transfer = vote.transfer;
        if transfer.sequence < self.next_sequence(&transfer.from) {
            return Ok(());
        }
        self.lock(
            LockKey::Account(transfer.from),
            transfer.sequence,
            digest(&transfer),
        )
    }

    /// Takes again the lock of an escrow vote this checker cast before it restarted.
    pub fn relock_escrow(&mut self, vote: &EscrowVote) -> Result<(), CreditError> {
        let order = &vote.order;
        let used = self
            .escrows
            .get(&order.escrow)
            .map_or(0, |e| e.next_sequence());
        if order.sequence < used {
            return Ok(());
        }
        self.lock(
            LockKey::Escrow(order.escrow),
            order.sequence,
            escrow_lock(order),
        )
    }

    /// Takes again the lock of a mint vote this checker cast before it restarted.
    pub fn relock_mint(&mut self, vote: &MintVote) -> Result<(), CreditError> {
        if vote.mint.sequence < self.faucet_sequence {
            return Ok(());
        }
        self.lock(LockKey::Faucet, vote.mint.sequence, digest(&vote.mint))
    }
}
