//! Credits: accounts, transfers, job escrows and the testnet faucet, certified by the
//! checkers in the way of FastPay. No blockchain: every change to the ledger is a
//! certificate that more than two thirds of the signing set made, and every node that
//! applied the same certificates holds the same balances.
//!
//! - An account is a key ([`PublicKey`]). Its owner signs a [`Transfer`] at the account's
//!   next sequence number ([`SignedTransfer`]); a checker votes for it only if the sequence
//!   is next, the balance covers it and it has not voted for another transfer at that
//!   sequence (the vote lock: see [`CreditLedger::vote_transfer`]). Votes of more than two
//!   thirds of the checker set ([`rules::quorum_threshold`](crate::rules::quorum_threshold))
//!   make a [`TransferCertificate`]; two of them at one sequence cannot both form while at
//!   most `f` of `3f + 1` checkers are faulty, so an account never spends twice.
//! - A job's budget sits in an escrow ([`EscrowId`]: the job and its creator), funded by
//!   the creator's certified transfer to [`Payee::Escrow`]. Several parties decide on it,
//!   so its changes ([`EscrowAction`]: pay a shard, refund the rest) are ordered by a
//!   per-escrow sequence and certified by more than two thirds of the job's committee
//!   ([`EscrowCertificate`]).
//! - The faucet key named by the network spec issues credits ([`Mint`]), certified like a
//!   transfer, within [`FaucetLimits`]. Nothing else creates or destroys credits:
//!   [`CreditLedger::circulating`] (every balance plus every escrow) equals
//!   [`CreditLedger::total_minted`].
//!
//! # Signing domains
//! Every signature here is made with [`Keypair::sign`](crate::identity::Keypair::sign)
//! (so it binds the network id) under [`CREDITS_KIND`], a kind no other signature uses,
//! over a body that starts with a tag of its own and continues with the canonical CBOR
//! ([`crate::codec`]) of what is signed: `b"pictor/credits/v1/transfer\0"` (an owner's
//! transfer), `…/mint\0` (the faucet's mint), `…/transfer-vote\0`, `…/mint-vote\0` and
//! `…/escrow-vote\0` (checkers' votes). An owner's signature is therefore never a checker's
//! vote, even where one key is both.
//!
//! # Applying certificates out of order
//! Certificates reach nodes in any order. One whose sequence is already used is a replay
//! and changes nothing (`Replay`); one whose sequence is ahead, or that needs credits this
//! node has not seen arrive yet ([`CreditError::SequenceAhead`],
//! [`CreditError::InsufficientBalance`], [`CreditError::UnknownEscrow`],
//! [`CreditError::BudgetExhausted`]) changes nothing and applies once the certificates
//! before it have. Credits to an account never fail, and a transfer into an escrow that a
//! refund has closed goes straight back to its creator (as the refund would have returned
//! it), so the order in which independent certificates are applied does not change the
//! final state.
//!
//! Everything here is pure: no I/O, no clock (time is passed in), no randomness.

use crate::identity::{MessageKind, PublicKey, SignatureError};
use crate::job::{JobId, ShardId};

mod escrow;
mod faucet;
mod gossip;
mod ledger;
mod order;
mod pricing;
mod quorum;
mod vote;

pub use escrow::{split_fee, AppliedEscrow, Escrow};
pub use faucet::{AppliedMint, FaucetLimits, MINT_CLOCK_SKEW_MS};
pub use gossip::CreditMessage;
pub use ledger::{Account, AppliedTransfer, CreditLedger};
pub use order::{
    EscrowAction, EscrowId, EscrowOrder, Mint, Payee, SignedMint, SignedTransfer, Transfer,
};
pub use pricing::{
    max_job_cost, pay_rate, price_for, shard_price, worker_within_cap, REFERENCE_KSAMPLES_PER_S,
};
pub use quorum::{
    EscrowCertificate, EscrowVote, MintCertificate, MintVote, TransferCertificate, TransferVote,
};

/// The message kind of every credits signature (see the module docs for the tags that
/// separate its bodies).
pub const CREDITS_KIND: MessageKind = MessageKind::Credits;

/// Tag of an owner's signature on a [`Transfer`].
pub(crate) const TRANSFER_TAG: &[u8] = b"pictor/credits/v1/transfer\0";
/// Tag of the faucet's signature on a [`Mint`].
pub(crate) const MINT_TAG: &[u8] = b"pictor/credits/v1/mint\0";
/// Tag of a checker's vote on a transfer.
pub(crate) const TRANSFER_VOTE_TAG: &[u8] = b"pictor/credits/v1/transfer-vote\0";
/// Tag of a checker's vote on a mint.
pub(crate) const MINT_VOTE_TAG: &[u8] = b"pictor/credits/v1/mint-vote\0";
/// Tag of a committee member's vote on an escrow order.
pub(crate) const ESCROW_VOTE_TAG: &[u8] = b"pictor/credits/v1/escrow-vote\0";

impl From<crate::rules::SignersFault> for CreditError {
    fn from(fault: crate::rules::SignersFault) -> CreditError {
        use crate::rules::SignersFault;
        match fault {
            SignersFault::NoQuorum { got, needed, set } => {
                CreditError::NoQuorum { got, needed, set }
            }
            SignersFault::DuplicateOrUnsorted(k) => CreditError::DuplicateOrUnsorted(k),
            SignersFault::NotMember(k) => CreditError::NotMember(k),
        }
    }
}

/// The body signed under `tag`: the tag, then the canonical CBOR of `value`.
pub(crate) fn signing_body<T: serde::Serialize>(tag: &[u8], value: &T) -> Vec<u8> {
    let mut body = tag.to_vec();
    body.extend_from_slice(&crate::codec::encode(value));
    body
}

/// Why a credits order, vote or certificate was refused. A refused certificate changes
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreditError {
    /// A signature (an owner's, the faucet's or a voter's) does not verify.
    #[error("signature by {signer:?}: {error}")]
    BadSignature {
        /// Who was said to sign.
        signer: PublicKey,
        /// Why it does not verify.
        error: SignatureError,
    },
    /// A signer or voter is not in the set that certifies this (the checker set, or the
    /// job's committee).
    #[error("signer {0:?} is not in the certifying set")]
    NotMember(PublicKey),
    /// Signatures must be sorted by key with no key twice.
    #[error("signatures are not sorted by key or a signer appears twice ({0:?})")]
    DuplicateOrUnsorted(PublicKey),
    /// Fewer signatures than more than two thirds of the certifying set.
    #[error("{got} signatures, a certificate needs {needed} of {set}")]
    NoQuorum {
        /// Signers present.
        got: usize,
        /// The threshold.
        needed: usize,
        /// Size of the certifying set.
        set: usize,
    },
    /// An amount or a count does not fit in 64 bits.
    #[error("arithmetic overflow in {0}")]
    Overflow(&'static str),
    /// A transfer or a mint of nothing.
    #[error("amount must be at least 1 credit")]
    ZeroAmount,
    /// A transfer from an account to itself.
    #[error("transfer from {0:?} to itself")]
    SelfTransfer(PublicKey),
    /// The account does not hold the amount (yet: a certificate may apply once the
    /// credits it relies on have arrived).
    #[error("account {account:?} holds {balance} credits, {amount} needed")]
    InsufficientBalance {
        /// The account.
        account: PublicKey,
        /// Its balance.
        balance: u64,
        /// What was asked.
        amount: u64,
    },
    /// A sequence number ahead of the next one: the orders before it come first.
    #[error("sequence {got} is ahead: the next is {expected}; apply the earlier ones first")]
    SequenceAhead {
        /// The next sequence.
        expected: u64,
        /// The one given.
        got: u64,
    },
    /// A vote asked at a sequence that is already used.
    #[error("sequence {got} is already used: the next is {expected}")]
    SequenceUsed {
        /// The next sequence.
        expected: u64,
        /// The one given.
        got: u64,
    },
    /// This checker already voted for a different order at this sequence (the vote lock
    /// that prevents a double spend).
    #[error("already voted for a different order at sequence {sequence}")]
    Conflict {
        /// The locked sequence.
        sequence: u64,
    },
    /// A mint signed by a key other than the network's faucet.
    #[error("mint is not by the faucet {faucet:?}")]
    NotFaucet {
        /// The faucet of the network.
        faucet: PublicKey,
    },
    /// A mint above the faucet's per-request limit.
    #[error("mint of {amount} credits exceeds the faucet's limit of {limit} per request")]
    OverRequestLimit {
        /// The amount asked.
        amount: u64,
        /// The limit.
        limit: u64,
    },
    /// A mint that would take an account past the faucet's limit for the window.
    #[error(
        "account {account:?} got {minted} credits from the faucet in this window; \
         {amount} more would pass the limit of {limit}"
    )]
    OverWindowLimit {
        /// The recipient.
        account: PublicKey,
        /// What it got in the window so far.
        minted: u64,
        /// The amount asked.
        amount: u64,
        /// The limit per window.
        limit: u64,
    },
    /// A faucet request answered already (a replay), or older than one answered.
    #[error("the faucet answered {account}'s request of {request_ms} ms already (or a later one)")]
    RequestAnswered {
        /// The account.
        account: PublicKey,
        /// The request's time.
        request_ms: u64,
    },
    /// A mint whose time is too far from the voter's clock.
    #[error("mint issued at {issued_ms} ms, too far from now ({now_ms} ms)")]
    MintClock {
        /// The mint's time.
        issued_ms: u64,
        /// The voter's clock.
        now_ms: u64,
    },
    /// No escrow of this job and creator (its funding has not been applied yet).
    #[error("no escrow for job {job:?} of creator {creator:?}")]
    UnknownEscrow {
        /// The job.
        job: JobId,
        /// The creator.
        creator: PublicKey,
    },
    /// The escrow was refunded and closed.
    #[error("the escrow of job {job:?} is closed")]
    EscrowClosed {
        /// The job.
        job: JobId,
    },
    /// A payment larger than what is left of the job's budget: the job pauses until its
    /// creator adds credits.
    #[error(
        "budget of job {job:?} exhausted: {remaining} credits left, the payment needs \
         {needed}; the creator must add credits to the escrow"
    )]
    BudgetExhausted {
        /// The job.
        job: JobId,
        /// What is left in the escrow.
        remaining: u64,
        /// What the payment needs (worker amount plus checker fee).
        needed: u64,
    },
    /// The shard was paid already: each shard is paid at most once.
    #[error("shard {shard} was paid already")]
    ShardAlreadyPaid {
        /// The shard.
        shard: ShardId,
    },
    /// A payment for a shard of another job than the escrow's.
    #[error("shard {shard} is not of the escrow's job {job:?}")]
    WrongJob {
        /// The shard.
        shard: ShardId,
        /// The escrow's job.
        job: JobId,
    },
    /// An escrow order's committee that is empty, too large, not sorted and unique, or not
    /// the committee that holds the job.
    #[error("bad committee: {0}")]
    BadCommittee(&'static str),
}

#[cfg(test)]
mod arithmetic_tests;
#[cfg(test)]
mod escrow_tests;
#[cfg(test)]
mod faucet_tests;
#[cfg(test)]
mod gossip_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod tests;
