//! The faucet: the key the network spec names issues test credits, within limits per
//! request and per account and time window.
//!
//! Windows are fixed: window `i` holds the mints whose `issued_ms` falls in
//! `[i * window_ms, (i + 1) * window_ms)` (`window_ms = 0`: one window forever, so the
//! per-window limit is a lifetime limit per account). An account may get up to
//! `per_account_per_window` credits in each window, in mints of at most `per_request`.
//! A mint dated before the latest window its account got credits in counts in that latest
//! window. Mints apply in the faucet's sequence order on every node, so every node counts
//! the same; checkers vote only for mints dated within [`MINT_CLOCK_SKEW_MS`] of their
//! clock, so the faucet cannot date a mint into a window of its choosing.

use serde::{Deserialize, Serialize};

use super::ledger::{apply_sequence, LockKey};
use super::order::Mint;
use super::quorum::MintCertificate;
use super::{CreditError, CreditLedger};
use crate::identity::PublicKey;

/// How far a mint's `issued_ms` may be from a voting checker's clock.
pub const MINT_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// The faucet's limits (from the network spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaucetLimits {
    /// Most credits one mint gives.
    pub per_request: u64,
    /// Most credits one account gets in one window.
    pub per_account_per_window: u64,
    /// Length of a window in ms (0: one window forever).
    pub window_ms: u64,
}

impl FaucetLimits {
    /// The window `at_ms` falls in.
    pub fn window_of(&self, at_ms: u64) -> u64 {
        at_ms.checked_div(self.window_ms).unwrap_or(0)
    }
}

/// What an account got from the faucet in its latest window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    index: u64,
    minted: u64,
}

/// What applying a mint certificate changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppliedMint {
    /// Nothing: the faucet's sequence number was used already (a replay).
    Replay,
    /// New credits.
    Minted {
        /// The account credited.
        to: PublicKey,
        /// How many.
        amount: u64,
        /// The total supply now.
        total_minted: u64,
    },
}

impl CreditLedger {
    /// What `account` got from the faucet in the window of `at_ms`.
    fn minted_in(&self, account: &PublicKey, at_ms: u64) -> Window {
        let index = self.limits.window_of(at_ms);
        match self.windows.get(account) {
            Some(w) if w.index >= index => *w,
            _ => Window { index, minted: 0 },
        }
    }

    /// Whether the faucet has not answered `account`'s request of `request_ms`, nor a
    /// later one.
    pub fn is_new_request(&self, account: &PublicKey, request_ms: u64) -> bool {
        self.faucet_requests
            .get(account)
            .is_none_or(|last| request_ms > *last)
    }

    /// How many credits `account` may still ask the faucet for at `now_ms`.
    pub fn faucet_allowance(&self, account: &PublicKey, now_ms: u64) -> u64 {
        let used = self.minted_in(account, now_ms).minted;
        self.limits
            .per_account_per_window
            .saturating_sub(used)
            .min(self.limits.per_request)
    }

    /// The limits `mint` must keep, and the recipient's window after it.
    fn within_limits(&self, mint: &Mint) -> Result<Window, CreditError> {
        if mint.amount > self.limits.per_request {
            return Err(CreditError::OverRequestLimit {
                amount: mint.amount,
                limit: self.limits.per_request,
            });
        }
        let window = self.minted_in(&mint.to, mint.issued_ms);
        let minted = window
            .minted
            .checked_add(mint.amount)
            .filter(|m| *m <= self.limits.per_account_per_window)
            .ok_or(CreditError::OverWindowLimit {
                account: mint.to,
                minted: window.minted,
                amount: mint.amount,
                limit: self.limits.per_account_per_window,
            })?;
        Ok(Window {
            index: window.index,
            minted,
        })
    }

    /// What `mint`, at the faucet's next sequence, would change: the recipient's new
    /// balance, its window, and the new total supply. Changes nothing.
    pub(super) fn mint_effect(&self, mint: &Mint) -> Result<MintEffect, CreditError> {
        if mint.amount == 0 {
            return Err(CreditError::ZeroAmount);
        }
        if !self.is_new_request(&mint.to, mint.request_ms) {
            return Err(CreditError::RequestAnswered {
                account: mint.to,
                request_ms: mint.request_ms,
            });
        }
        let window = self.within_limits(mint)?;
        let total_minted = self
            .total_minted
            .checked_add(mint.amount)
            .ok_or(CreditError::Overflow("total supply"))?;
        let balance = self
            .balance(&mint.to)
            .checked_add(mint.amount)
            .ok_or(CreditError::Overflow("balance"))?;
        let next_sequence = self
            .faucet_sequence
            .checked_add(1)
            .ok_or(CreditError::Overflow("faucet sequence number"))?;
        Ok(MintEffect {
            window,
            total_minted,
            balance,
            next_sequence,
        })
    }

    /// Verifies a mint certificate (the faucet's signature and the votes of more than
    /// two thirds of the checker set) and applies it within the faucet's limits. A replay
    /// changes nothing; a refused certificate changes nothing.
    pub fn apply_mint(
        &mut self,
        cert: &MintCertificate,
        checkers: &[PublicKey],
    ) -> Result<AppliedMint, CreditError> {
        cert.verify(&self.network, &self.faucet, checkers)?;
        let mint = cert.mint.mint;
        if !apply_sequence(self.faucet_sequence, mint.sequence)? {
            return Ok(AppliedMint::Replay);
        }
        let effect = self.mint_effect(&mint)?;
        self.accounts.entry(mint.to).or_default().balance = effect.balance;
        self.windows.insert(mint.to, effect.window);
        self.faucet_requests.insert(mint.to, mint.request_ms);
        self.total_minted = effect.total_minted;
        self.faucet_sequence = effect.next_sequence;
        self.release(LockKey::Faucet, effect.next_sequence);
        Ok(AppliedMint::Minted {
            to: mint.to,
            amount: mint.amount,
            total_minted: effect.total_minted,
        })
    }
}

/// What a mint changes, computed before anything is written.
#[derive(Debug, Clone, Copy)]
pub(super) struct MintEffect {
    window: Window,
    total_minted: u64,
    balance: u64,
    next_sequence: u64,
}
