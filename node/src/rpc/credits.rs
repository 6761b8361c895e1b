//! `credits_*`: this node's account on the network's ledger: its balance, payments, the
//! faucet.

use jsonrpsee::{types::ErrorObjectOwned, RpcModule};
use pictor_protocol::PublicKey;
use serde_json::{json, Value};

use super::{error, node_error, params, require_token, Context, Ctx, INVALID_PARAMS};

type Answer = Result<Value, ErrorObjectOwned>;

pub(super) fn register(module: &mut RpcModule<Context>) {
    let r = module.register_async_method("credits_balance", |p, ctx, _| async move {
        let BalanceParams { account } = params(&p, &["account"])?;
        balance(ctx, account.as_deref()).await
    });
    debug_assert!(r.is_ok());
    let r = module.register_async_method("credits_pay", |p, ctx, ext| async move {
        require_token(&ext)?;
        let PayParams { to, amount } = params(&p, &["to", "amount"])?;
        pay(ctx, &to, amount).await
    });
    debug_assert!(r.is_ok());
    let r = module.register_async_method("credits_fund", |p, ctx, ext| async move {
        require_token(&ext)?;
        let FundParams { job_id, amount } = params(&p, &["job_id", "amount"])?;
        fund(ctx, &job_id, amount).await
    });
    debug_assert!(r.is_ok());
    let r = module.register_async_method("credits_faucet", |p, ctx, ext| async move {
        require_token(&ext)?;
        let FaucetParams { amount } = params(&p, &["amount"])?;
        faucet(ctx, amount).await
    });
    debug_assert!(r.is_ok());
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BalanceParams {
    #[serde(default)]
    account: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PayParams {
    to: String,
    amount: u64,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FundParams {
    job_id: String,
    amount: u64,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FaucetParams {
    #[serde(default)]
    amount: Option<u64>,
}

fn account(name: &str, text: &str) -> Result<PublicKey, ErrorObjectOwned> {
    text.trim().parse().map_err(|e| {
        error(
            INVALID_PARAMS,
            format!("{name} {text:?} is not an account (a public key, 64 hex digits): {e}"),
        )
    })
}

async fn balance(ctx: Ctx, account_text: Option<&str>) -> Answer {
    let key = account_text.map(|a| account("account", a)).transpose()?;
    let balance = ctx
        .client()?
        .balance(key)
        .await
        .map_err(|e| node_error(&e))?;
    Ok(json!(balance))
}

/// A payment's amount: at least 1 credit.
fn at_least_one(amount: u64) -> Result<u64, ErrorObjectOwned> {
    if amount == 0 {
        return Err(error(INVALID_PARAMS, "amount must be at least 1"));
    }
    Ok(amount)
}

async fn pay(ctx: Ctx, to: &str, amount: u64) -> Answer {
    let to = account("to", to)?;
    let amount = at_least_one(amount)?;
    let receipt = ctx
        .client()?
        .pay(to, amount)
        .await
        .map_err(|e| node_error(&e))?;
    Ok(json!(receipt))
}

async fn fund(ctx: Ctx, job: &str, amount: u64) -> Answer {
    let job = super::jobs::job_id(job)?;
    let amount = at_least_one(amount)?;
    let receipt = ctx
        .client()?
        .fund(job, amount)
        .await
        .map_err(|e| node_error(&e))?;
    Ok(json!(receipt))
}

async fn faucet(ctx: Ctx, amount: Option<u64>) -> Answer {
    // Without an amount: as much as one request may get (the faucet caps it).
    let receipt = ctx
        .client()?
        .faucet(amount.unwrap_or(u64::MAX))
        .await
        .map_err(|e| node_error(&e))?;
    Ok(json!(receipt))
}
