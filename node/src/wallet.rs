//! A node's account, as its callers see it: the balance, payments and faucet requests the
//! RPC and the CLI ask for (the event loop answers them through the credits role).

use pictor_protocol::{credits::Payee, PublicKey};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::{client::Command, roles::credits::Receipt, Client, NodeError};

/// An account's standing, as this node's ledger has it.
#[derive(Debug, Clone, Serialize)]
pub struct Balance {
    /// The account (its public key).
    pub account: String,
    /// Credits it holds.
    pub balance: u64,
    /// Credits it has in the escrows of its jobs.
    pub escrowed: u64,
    /// The sequence number its next transfer uses.
    pub next_sequence: u64,
    /// Credits the faucet issued, over the whole network.
    pub total_minted: u64,
    /// Every balance and escrow added up: equal to `total_minted` (nothing is created or
    /// lost).
    pub circulating: u64,
    /// Whether this node runs the network's faucet.
    pub faucet: bool,
    /// What this node's account earned from each job's escrow it still keeps (for its
    /// accepted shards and in checker fees), by job id.
    pub earned: std::collections::BTreeMap<String, crate::roles::credits::Earned>,
}

/// A job's escrow, as this node's ledger has it: what its creator put in and where it
/// went (`funded = remaining + paid_workers + paid_fees + refunded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct JobEscrow {
    /// Everything its creator transferred to it.
    pub funded: u64,
    /// Credits left to pay out.
    pub remaining: u64,
    /// Paid to its workers for accepted shards.
    pub paid_workers: u64,
    /// Paid to its committee in checker fees.
    pub paid_fees: u64,
    /// Returned to its creator.
    pub refunded: u64,
    /// Shards paid.
    pub shards_paid: u64,
    /// Whether the refund closed it.
    pub closed: bool,
}

impl JobEscrow {
    /// The escrow of `job` by `creator` in `ledger`, if it was funded.
    pub fn of(
        ledger: &pictor_protocol::credits::CreditLedger,
        job: pictor_protocol::JobId,
        creator: PublicKey,
    ) -> Option<JobEscrow> {
        let e = ledger.escrow(&pictor_protocol::credits::EscrowId { job, creator })?;
        Some(JobEscrow {
            funded: e.funded(),
            remaining: e.remaining(),
            paid_workers: e.paid_to_workers(),
            paid_fees: e.paid_in_fees(),
            refunded: e.refunded(),
            shards_paid: e.paid_shards().count() as u64,
            closed: e.is_closed(),
        })
    }
}

/// A credits request to the event loop.
#[derive(Debug)]
pub enum CreditsCommand {
    /// The standing of `account` (this node's own when None).
    Balance {
        account: Option<PublicKey>,
        reply: oneshot::Sender<Result<Balance, NodeError>>,
    },
    /// Pay `amount` from this node's account to `to`; answered once certified.
    Pay {
        to: Payee,
        amount: u64,
        reply: oneshot::Sender<Result<Receipt, NodeError>>,
    },
    /// Ask the faucet for `amount` credits; answered once the mint is certified.
    Faucet {
        amount: u64,
        reply: oneshot::Sender<Result<Receipt, NodeError>>,
    },
}

impl Client {
    /// The standing of `account` (this node's own when None).
    pub async fn balance(&self, account: Option<PublicKey>) -> Result<Balance, NodeError> {
        self.ask(|reply| Command::Credits(CreditsCommand::Balance { account, reply }))
            .await?
    }

    /// Pays `amount` credits from this node's account to `to`; returns once a quorum of
    /// the checkers has certified the transfer.
    pub async fn pay(&self, to: PublicKey, amount: u64) -> Result<Receipt, NodeError> {
        self.ask(|reply| {
            Command::Credits(CreditsCommand::Pay {
                to: Payee::Account(to),
                amount,
                reply,
            })
        })
        .await?
    }

    /// Adds `amount` credits from this node's account to the escrow of `job` (a job this
    /// node submitted): a job whose budget ran out goes on. Returns once certified.
    pub async fn fund(
        &self,
        job: pictor_protocol::JobId,
        amount: u64,
    ) -> Result<Receipt, NodeError> {
        self.ask(|reply| {
            Command::Credits(CreditsCommand::Pay {
                to: Payee::Escrow(job),
                amount,
                reply,
            })
        })
        .await?
    }

    /// Asks the network's faucet for `amount` credits (it gives at most its limits allow);
    /// returns once the mint is certified.
    pub async fn faucet(&self, amount: u64) -> Result<Receipt, NodeError> {
        self.ask(|reply| Command::Credits(CreditsCommand::Faucet { amount, reply }))
            .await?
    }
}
