//! `pictor balance`, `pictor pay`, `pictor fund` and `pictor faucet`: a running node's
//! account on the network's ledger of credits.

use anyhow::Result;
use clap::Args;
use serde_json::{json, Value};

use crate::{job::print_value, netcmds::block_on, rpc_client::Connect};

/// Flags of `pictor balance`.
#[derive(Debug, Args)]
pub(crate) struct BalanceArgs {
    /// Another account (a public key) instead of the node's own.
    #[arg(long, value_name = "KEY")]
    account: Option<String>,
    #[command(flatten)]
    connect: Connect,
}

/// Flags of `pictor pay`.
#[derive(Debug, Args)]
pub(crate) struct PayArgs {
    /// The account paid (a public key: `pictor balance` on its node prints it).
    to: String,
    /// How many credits.
    amount: u64,
    #[command(flatten)]
    connect: Connect,
}

/// Flags of `pictor fund`.
#[derive(Debug, Args)]
pub(crate) struct FundArgs {
    /// The job (one the node submitted: `pictor job list` prints them).
    job: String,
    /// How many credits to add to its escrow.
    amount: u64,
    #[command(flatten)]
    connect: Connect,
}

/// Flags of `pictor faucet`.
#[derive(Debug, Args)]
pub(crate) struct FaucetArgs {
    /// How many credits to ask for (default: as many as one request may get).
    amount: Option<u64>,
    #[command(flatten)]
    connect: Connect,
}

fn number(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// `pictor balance`: `{"balance", "escrowed", …}` with `--json`.
pub(crate) fn balance(args: BalanceArgs) -> Result<()> {
    block_on(async move {
        let node = args.connect.node()?;
        // A null account is this node's own.
        let b = node
            .call("credits_balance", json!({ "account": args.account }))
            .await?;
        print_value(args.connect.json, &b, || {
            format!(
                "account   {}\nbalance   {} credits\nescrowed  {} credits (in the escrows of its jobs)\nnetwork   {} credits issued by the faucet, {} held{}",
                b["account"].as_str().unwrap_or(""),
                number(&b["balance"]),
                number(&b["escrowed"]),
                number(&b["total_minted"]),
                number(&b["circulating"]),
                if b["faucet"].as_bool() == Some(true) {
                    "\nfaucet    this node runs the network's faucet"
                } else {
                    ""
                },
            )
        });
        Ok(())
    })
}

/// Calls `method` with `params` on the node `connect` names and prints its receipt (an
/// order certified): as JSON with `--json`, else as `describe` says.
fn receipt(
    connect: Connect,
    method: &'static str,
    params: Value,
    describe: impl FnOnce(&Value) -> String,
) -> Result<()> {
    block_on(async move {
        let node = connect.node()?;
        let r = node.call(method, params).await?;
        print_value(connect.json, &r, || describe(&r));
        Ok(())
    })
}

/// `pictor pay TO AMOUNT`: returns once the checkers have certified the transfer.
pub(crate) fn pay(args: PayArgs) -> Result<()> {
    let params = json!({ "to": args.to, "amount": args.amount });
    receipt(args.connect, "credits_pay", params, |r| {
        format!(
            "paid {} credits to {} (transfer {}, certified); balance {} credits",
            number(&r["amount"]),
            args.to,
            number(&r["sequence"]),
            number(&r["balance"]),
        )
    })
}

/// `pictor fund JOB AMOUNT`: returns once the checkers have certified the transfer.
pub(crate) fn fund(args: FundArgs) -> Result<()> {
    let params = json!({ "job_id": args.job, "amount": args.amount });
    receipt(args.connect, "credits_fund", params, |r| {
        format!(
            "added {} credits to the escrow of job {} (certified); balance {} credits",
            number(&r["amount"]),
            args.job,
            number(&r["balance"]),
        )
    })
}

/// `pictor faucet [AMOUNT]`: returns once the faucet's mint is certified.
pub(crate) fn faucet(args: FaucetArgs) -> Result<()> {
    // A null amount is as much as one request may get.
    let params = json!({ "amount": args.amount });
    receipt(args.connect, "credits_faucet", params, |r| {
        format!(
            "the faucet gave {} credits; balance {} credits",
            number(&r["amount"]),
            number(&r["balance"]),
        )
    })
}
