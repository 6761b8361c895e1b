//! `pictor status`, `pictor workers`, `pictor checkers` and `pictor rpc`: a running
//! node, its network, and any RPC method, for people and scripts.

use anyhow::{Context as _, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::{
    job::print_value,
    rpc_client::{emit, exit, exit_with, Connect},
};

/// Flags of the commands that only read.
#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    #[command(flatten)]
    connect: Connect,
}

/// Flags of `pictor rpc`.
#[derive(Debug, Args)]
pub(crate) struct RpcArgs {
    /// The method (`rpc.discover` lists them all).
    method: String,
    /// Its params as JSON: an object or an array.
    params: Option<String>,
    #[command(flatten)]
    connect: Connect,
}

pub(crate) fn block_on<F: std::future::Future<Output = Result<()>>>(future: F) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

/// `pictor status`: this node, its peers, its roles, and the diagnosis.
pub(crate) fn status(args: ReadArgs) -> Result<()> {
    block_on(async move {
        let node = args.connect.node()?;
        let info = node.call("node_info", json!({})).await?;
        let peers = node.call("node_peers", json!({})).await?;
        let diagnosis = node.call("node_diagnose", json!({})).await?;
        // A network without credits answers an error: no line, and null in JSON.
        let credits = node.call("credits_balance", json!({})).await.ok();
        let all = json!({"node": info, "peers": peers, "diagnosis": diagnosis, "credits": credits});
        print_value(args.connect.json, &all, || {
            let roles: Vec<&str> = info["roles"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut out = format!(
                "node      {} (pictor {}, network {})\nroles     {}\nhttp      {}\nuptime    {} s\npeers     {} connected, {} on the network's gossip",
                info["peer_id"].as_str().unwrap_or(""),
                info["version"].as_str().unwrap_or(""),
                info["network"].as_str().unwrap_or(""),
                roles.join(", "),
                info["http"].as_str().unwrap_or(""),
                info["uptime_s"],
                info["connected_peers"],
                info["gossip_peers"],
            );
            for addr in info["listen"].as_array().into_iter().flatten() {
                out.push_str(&format!("\nlisten    {}", addr.as_str().unwrap_or("")));
            }
            if let Some(c) = &credits {
                out.push_str(&format!(
                    "\ncredits   {} (escrowed {}; account {})",
                    c["balance"],
                    c["escrowed"],
                    c["account"].as_str().unwrap_or("")
                ));
            }
            let peers = peers.as_array().cloned().unwrap_or_default();
            if !peers.is_empty() {
                out.push_str("\n\npeers");
                for p in &peers {
                    out.push_str(&format!(
                        "\n  {:<54}{:<9}{}",
                        p["peer_id"].as_str().unwrap_or(""),
                        p["role"].as_str().unwrap_or(""),
                        p["addresses"][0].as_str().unwrap_or("")
                    ));
                }
            }
            out.push_str("\n\ndiagnosis");
            for f in diagnosis["findings"].as_array().into_iter().flatten() {
                let mark = match f["level"].as_str() {
                    Some("ok") => "ok  ",
                    Some("warning") => "warn",
                    _ => "FAIL",
                };
                out.push_str(&format!(
                    "\n  [{mark}] {}",
                    f["message"].as_str().unwrap_or("")
                ));
                if let Some(fix) = f["fix"].as_str() {
                    out.push_str(&format!("\n         fix: {fix}"));
                }
            }
            out
        });
        Ok(())
    })
}

/// `pictor workers`.
pub(crate) fn workers(args: ReadArgs) -> Result<()> {
    block_on(async move {
        let node = args.connect.node()?;
        let rows = node.call("net_workers", json!({})).await?;
        print_value(args.connect.json, &rows, || {
            let mut out = format!(
                "{:<54}{:<11}{:>10}{:>7}{:>10}{:>10}  {}",
                "PEER", "STATUS", "MSAMP/S", "PRICE", "ACCEPTED", "REJECTED", "DEVICE"
            );
            for w in rows.as_array().into_iter().flatten() {
                let bench = w["benchmark_msamples_per_s"]
                    .as_f64()
                    .map_or_else(|| "-".to_owned(), |b| format!("{b:.1}"));
                let price = w["price"]
                    .as_u64()
                    .map_or_else(|| "-".to_owned(), |p| p.to_string());
                out.push_str(&format!(
                    "\n{:<54}{:<11}{:>10}{:>7}{:>10}{:>10}  {}",
                    w["peer_id"].as_str().unwrap_or(""),
                    w["status"].as_str().unwrap_or(""),
                    bench,
                    price,
                    w["accepted"].to_string(),
                    w["rejected"].to_string(),
                    w["device"].as_str().unwrap_or(""),
                ));
            }
            if rows.as_array().is_none_or(Vec::is_empty) {
                out = "no workers seen yet".into();
            }
            out
        });
        Ok(())
    })
}

/// `pictor checkers`.
pub(crate) fn checkers(args: ReadArgs) -> Result<()> {
    block_on(async move {
        let node = args.connect.node()?;
        let rows = node.call("net_checkers", json!({})).await?;
        print_value(args.connect.json, &rows, || {
            let mut out = format!(
                "{:<54}{:<10}{:>8}{:>13}{:>13}",
                "PEER", "STATUS", "GENESIS", "ATTESTATIONS", "CERTIFICATES"
            );
            for c in rows.as_array().into_iter().flatten() {
                out.push_str(&format!(
                    "\n{:<54}{:<10}{:>8}{:>13}{:>13}",
                    c["peer_id"].as_str().unwrap_or(""),
                    c["status"].as_str().unwrap_or(""),
                    if c["genesis"].as_bool() == Some(true) {
                        "yes"
                    } else {
                        "no"
                    },
                    c["attestations"].to_string(),
                    c["certificates"].to_string(),
                ));
            }
            out
        });
        Ok(())
    })
}

/// `pictor rpc METHOD [PARAMS]`: the answer's `result`, as JSON.
pub(crate) fn rpc(args: RpcArgs) -> Result<()> {
    let params: Value = match &args.params {
        None => json!([]),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| exit_with(2, format!("params are not JSON: {e}")))?,
    };
    if !params.is_object() && !params.is_array() {
        return Err(exit_with(2, "params must be a JSON object or array"));
    }
    let _ = exit::REFUSED;
    block_on(async move {
        let node = args.connect.node()?;
        let result = node.call(&args.method, params).await?;
        emit!(
            "{}",
            serde_json::to_string_pretty(&result).unwrap_or_else(|_| result.to_string())
        );
        Ok(())
    })
}
