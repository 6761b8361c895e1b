//! Credits on the gossip network: the orders, votes and certificates of transfers and
//! faucet mints, and an account's request to the faucet, all carried on one topic.
//!
//! The flow of a transfer (FastPay's): its owner gossips the signed [`SignedTransfer`];
//! every checker that may vote for it gossips its [`TransferVote`]; the owner's node
//! gathers more than two thirds of the set into a [`TransferCertificate`] and gossips it;
//! every node applies the certificate. A mint goes the same way from the faucet's node,
//! which mints for a [`CreditMessage::FaucetRequest`] within the faucet's limits. A job's
//! escrow is paid out by its committee: the job's payer (its committee's first leader)
//! votes for an order at the escrow's next sequence, the other members vote for the same
//! order, and the payer gossips the [`EscrowCertificate`].

use serde::{Deserialize, Serialize};

use super::order::{EscrowId, SignedMint, SignedTransfer};
use super::quorum::{
    EscrowCertificate, EscrowVote, MintCertificate, MintVote, TransferCertificate, TransferVote,
};
use crate::identity::PublicKey;

/// A credits message of the gossip network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreditMessage {
    /// An owner's transfer, for the checkers to vote on (gossiped by its owner).
    Transfer(SignedTransfer),
    /// A checker's vote on a transfer, for the owner to gather.
    TransferVote(TransferVote),
    /// A certified transfer: final, applied by every node (relayed by anyone).
    TransferCertificate(TransferCertificate),
    /// An account asks the faucet for `amount` credits (gossiped by the account's node:
    /// the envelope's signature is the account's).
    FaucetRequest {
        /// The account to credit.
        account: PublicKey,
        /// How many credits.
        amount: u64,
        /// When the account made it (ms since the Unix epoch; later than its last
        /// request): the faucet answers each request once, however often it is relayed.
        requested_ms: u64,
    },
    /// The faucet's mint, for the checkers to vote on (relayed by the faucet's node).
    Mint(SignedMint),
    /// A checker's vote on a mint, for the faucet's node to gather.
    MintVote(MintVote),
    /// A certified mint: final, applied by every node (relayed by anyone).
    MintCertificate(MintCertificate),
    /// A committee member's vote on an order of a job's escrow. The first vote at an
    /// escrow's sequence is the job's payer's (its proposal); the other members vote for
    /// the same order once they have checked it, and the payer gathers them.
    EscrowVote(EscrowVote),
    /// A certified escrow order: final, applied by every node (relayed by anyone).
    EscrowCertificate(EscrowCertificate),
    /// The creator cancelled its job (the envelope's signature is the creator's): the
    /// committee gives out no more of its shards, pays those accepted so far and refunds
    /// the rest.
    EscrowClose(EscrowId),
}

impl CreditMessage {
    /// The key that must sign the envelope, or None if anyone may relay it.
    pub fn author(&self) -> Option<PublicKey> {
        match self {
            CreditMessage::Transfer(t) => Some(t.transfer.from),
            CreditMessage::TransferVote(v) => Some(v.checker),
            CreditMessage::FaucetRequest { account, .. } => Some(*account),
            CreditMessage::MintVote(v) => Some(v.checker),
            CreditMessage::EscrowVote(v) => Some(v.checker),
            CreditMessage::EscrowClose(escrow) => Some(escrow.creator),
            CreditMessage::TransferCertificate(_)
            | CreditMessage::Mint(_)
            | CreditMessage::MintCertificate(_)
            | CreditMessage::EscrowCertificate(_) => None,
        }
    }

    /// How many vote signatures it carries (a certificate's; bounded by the envelope's
    /// checks, verified against the set elsewhere).
    pub fn signature_count(&self) -> usize {
        match self {
            CreditMessage::TransferCertificate(c) => c.signatures.len(),
            CreditMessage::MintCertificate(c) => c.signatures.len(),
            CreditMessage::EscrowCertificate(c) => c.signatures.len(),
            _ => 0,
        }
    }
}
