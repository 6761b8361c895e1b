//! What is certified: an owner's transfer, the faucet's mint and a committee's escrow
//! order, with the checks that hold on their own (without the ledger).

use serde::{Deserialize, Serialize};

use super::{signing_body, CreditError, CREDITS_KIND, MINT_TAG, TRANSFER_TAG};
use crate::governance::MAX_CHECKERS;
use crate::identity::{Keypair, PublicKey, Signature};
use crate::job::{JobId, ShardId};

/// Where a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Payee {
    /// Another account.
    Account(PublicKey),
    /// The escrow of this job whose creator is the sender ([`EscrowId`] `{ job, creator:
    /// from }`): the job's budget. Only a creator funds its own escrow, so nobody else can
    /// become the one its rest is refunded to.
    Escrow(JobId),
}

/// A transfer of credits from an account, at the account's next sequence number. The
/// network id is bound by the signature ([`Keypair::sign`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The paying account; its owner signs.
    pub from: PublicKey,
    /// Where the credits go.
    pub to: Payee,
    /// How many credits (at least 1).
    pub amount: u64,
    /// The sender's sequence number this transfer uses (0 for an account's first).
    pub sequence: u64,
}

impl Transfer {
    /// Checks what holds on its own: at least 1 credit, not to the sender's own account.
    pub fn check(&self) -> Result<(), CreditError> {
        if self.amount == 0 {
            return Err(CreditError::ZeroAmount);
        }
        if self.to == Payee::Account(self.from) {
            return Err(CreditError::SelfTransfer(self.from));
        }
        Ok(())
    }

    /// The escrow this transfer funds, if it funds one.
    pub fn escrow(&self) -> Option<EscrowId> {
        match self.to {
            Payee::Escrow(job) => Some(EscrowId {
                job,
                creator: self.from,
            }),
            Payee::Account(_) => None,
        }
    }

    /// The bytes its owner signs.
    pub(crate) fn signing_body(&self) -> Vec<u8> {
        signing_body(TRANSFER_TAG, self)
    }

    /// Signs it with the sender's key (`keypair` should be `from`'s).
    pub fn sign(self, keypair: &Keypair, network: &str) -> SignedTransfer {
        let signature = keypair.sign(CREDITS_KIND, network, &self.signing_body());
        SignedTransfer {
            transfer: self,
            signature,
        }
    }
}

/// A transfer signed by the owner of its `from` account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTransfer {
    /// The transfer.
    pub transfer: Transfer,
    /// `from`'s signature over it.
    pub signature: Signature,
}

impl SignedTransfer {
    /// Checks the transfer on its own and its owner's signature.
    pub fn verify(&self, network: &str) -> Result<(), CreditError> {
        self.transfer.check()?;
        let from = self.transfer.from;
        from.verify(
            CREDITS_KIND,
            network,
            &self.transfer.signing_body(),
            &self.signature,
        )
        .map_err(|error| CreditError::BadSignature {
            signer: from,
            error,
        })
    }
}

/// New credits from the faucet, at the faucet's next sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mint {
    /// The account credited.
    pub to: PublicKey,
    /// How many credits (at least 1).
    pub amount: u64,
    /// The faucet's sequence number this mint uses (0 for the first).
    pub sequence: u64,
    /// When the faucet issued it (ms since the Unix epoch): the window it counts in. A
    /// checker votes only when this is within [`MINT_CLOCK_SKEW_MS`](super::MINT_CLOCK_SKEW_MS)
    /// of its clock, so every node counts the mint in the same window without a clock.
    pub issued_ms: u64,
    /// The request it answers: the time its account stamped it with (ms since the Unix
    /// epoch). An account's requests are answered in that order, each at most once: a
    /// replayed request is never minted again.
    pub request_ms: u64,
}

impl Mint {
    /// The bytes the faucet signs.
    pub(crate) fn signing_body(&self) -> Vec<u8> {
        signing_body(MINT_TAG, self)
    }

    /// Signs it with the faucet's key.
    pub fn sign(self, faucet: &Keypair, network: &str) -> SignedMint {
        let signature = faucet.sign(CREDITS_KIND, network, &self.signing_body());
        SignedMint {
            mint: self,
            signature,
        }
    }
}

/// A mint signed by the faucet key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedMint {
    /// The mint.
    pub mint: Mint,
    /// The faucet's signature over it.
    pub signature: Signature,
}

impl SignedMint {
    /// Checks the amount (at least 1) and that `faucet` signed it.
    pub fn verify(&self, network: &str, faucet: &PublicKey) -> Result<(), CreditError> {
        if self.mint.amount == 0 {
            return Err(CreditError::ZeroAmount);
        }
        faucet
            .verify(
                CREDITS_KIND,
                network,
                &self.mint.signing_body(),
                &self.signature,
            )
            .map_err(|error| CreditError::BadSignature {
                signer: *faucet,
                error,
            })
    }
}

/// A job's escrow: the job and the creator that funds it and gets its rest back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscrowId {
    /// The job.
    pub job: JobId,
    /// Its creator.
    pub creator: PublicKey,
}

/// A change to an escrow that the job's committee decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscrowAction {
    /// An accepted shard is paid: `worker_amount` to its worker, `checker_fee` split among
    /// the committee ([`split_fee`](super::split_fee)). At most once per shard.
    PayShard {
        /// The shard (of the escrow's job).
        shard: ShardId,
        /// The worker whose claim was accepted.
        worker: PublicKey,
        /// The worker's price for the shard.
        worker_amount: u64,
        /// The committee's fee for the shard.
        checker_fee: u64,
    },
    /// The job completed or was cancelled: the rest goes back to the creator and the
    /// escrow closes.
    Refund,
}

/// An escrow action at the escrow's next sequence number, naming the committee that
/// certifies it (and shares its checker fees).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscrowOrder {
    /// The escrow.
    pub escrow: EscrowId,
    /// The escrow's sequence number this order uses (0 for the first).
    pub sequence: u64,
    /// The job's committee, sorted by key, unique.
    pub committee: Vec<PublicKey>,
    /// What happens.
    pub action: EscrowAction,
}

impl EscrowOrder {
    /// An order whose committee is `committee`, sorted and deduplicated.
    pub fn new(
        escrow: EscrowId,
        sequence: u64,
        committee: &[PublicKey],
        action: EscrowAction,
    ) -> EscrowOrder {
        EscrowOrder {
            escrow,
            sequence,
            committee: normalise(committee),
            action,
        }
    }

    /// Checks what holds on its own: a committee of 1 to
    /// [`MAX_CHECKERS`] keys, sorted and unique; a shard of the escrow's job; a payment
    /// whose total fits in 64 bits.
    pub fn check(&self) -> Result<(), CreditError> {
        if self.committee.is_empty() || self.committee.len() > MAX_CHECKERS {
            return Err(CreditError::BadCommittee("empty or too large"));
        }
        if self.committee.windows(2).any(|w| w[0] >= w[1]) {
            return Err(CreditError::BadCommittee("not sorted by key and unique"));
        }
        if let EscrowAction::PayShard {
            shard,
            worker_amount,
            checker_fee,
            ..
        } = self.action
        {
            if shard.job != self.escrow.job {
                return Err(CreditError::WrongJob {
                    shard,
                    job: self.escrow.job,
                });
            }
            worker_amount
                .checked_add(checker_fee)
                .ok_or(CreditError::Overflow("shard payment"))?;
        }
        Ok(())
    }

    /// Checks that the order names `committee` (in any order, duplicates counting once):
    /// the committee that, by the caller's governance ledger, holds the job.
    pub(crate) fn check_committee(&self, committee: &[PublicKey]) -> Result<(), CreditError> {
        if normalise(committee) != self.committee {
            return Err(CreditError::BadCommittee(
                "not the committee that holds the job",
            ));
        }
        Ok(())
    }
}

/// `keys` sorted and deduplicated.
pub(crate) fn normalise(keys: &[PublicKey]) -> Vec<PublicKey> {
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    keys
}
