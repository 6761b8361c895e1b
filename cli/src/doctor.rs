//! `pictor doctor`: how a running node is reached — listen and external addresses,
//! AutoNAT verdicts, relay reservations, hole punches, UPnP, peers by kind — and, with
//! `--connect PEER`, how it reaches one peer.

use anyhow::{Context as _, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::{job::print_value, rpc_client::Connect};

/// Flags of `pictor doctor`.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Also dial this peer (a peer id) and say how it was reached: directly, through a
    /// relay and then a hole punch, or through a relay only.
    #[arg(long, value_name = "PEER_ID")]
    connect: Option<String>,
    /// How long `--connect` may wait, in seconds (at most 60).
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    timeout: u64,
    #[command(flatten)]
    rpc: Connect,
}

pub(crate) fn run(args: DoctorArgs) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(async move {
            let node = args.rpc.node()?;
            let info = node.call("node_info", json!({})).await?;
            let reach = node.call("node_reach", json!({})).await?;
            let peers = node.call("node_peers", json!({})).await?;
            let connect = match &args.connect {
                None => Value::Null,
                Some(peer) => {
                    let timeout_ms = args.timeout.min(60).saturating_mul(1000);
                    node.call(
                        "net_connect",
                        json!({"peer_id": peer, "timeout_ms": timeout_ms}),
                    )
                    .await?
                }
            };
            let kinds = peer_kinds(&peers);
            let all = json!({"node": info, "reach": reach, "peers": kinds, "connect": connect});
            print_value(args.rpc.json, &all, || {
                text(&info, &reach, &kinds, &connect)
            });
            Ok(())
        })
}

/// Connected peers counted by how they are connected and by role.
fn peer_kinds(peers: &Value) -> Value {
    let (mut direct, mut relayed) = (0u64, 0u64);
    let mut roles = serde_json::Map::new();
    for p in peers.as_array().into_iter().flatten() {
        let addrs: Vec<&str> = p["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if addrs.iter().any(|a| !a.contains("/p2p-circuit")) {
            direct += 1;
        } else {
            relayed += 1;
        }
        let role = p["role"].as_str().unwrap_or("peer").to_owned();
        let n = roles.get(&role).and_then(Value::as_u64).unwrap_or(0);
        roles.insert(role, json!(n + 1));
    }
    json!({"direct": direct, "relayed": relayed, "by_role": roles})
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// Lines under one label (on the first of them), or `empty` beside it when there are none.
fn section(out: &mut String, label: &str, empty: &str, lines: impl IntoIterator<Item = String>) {
    let mut any = false;
    for line in lines {
        let shown = if any { "" } else { label };
        out.push_str(&format!("\n{shown:<14}{line}"));
        any = true;
    }
    if !any {
        out.push_str(&format!("\n{label:<14}{empty}"));
    }
}

fn text(info: &Value, reach: &Value, kinds: &Value, connect: &Value) -> String {
    let mut out = format!(
        "node          {} (network {})\nreachability  {}\n              {}",
        s(&info["peer_id"]),
        s(&info["network"]),
        s(&reach["reachability"]).replace('_', "-"),
        s(&reach["summary"]),
    );
    if let Some(advice) = reach["advice"].as_str() {
        out.push_str(&format!("\nadvice        {advice}"));
    }
    if reach["relay_server"].as_bool() == Some(true) {
        out.push_str("\nrelay         this node relays for nodes behind NAT");
    }
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    section(&mut out, "listen", "none", strs(&reach["listen"]));
    section(&mut out, "external", "none", strs(&reach["external"]));
    out.push_str(&format!("\nupnp          {}", s(&reach["upnp"])));
    let items = |key: &str| reach[key].as_array().cloned().unwrap_or_default();
    let probes = items("autonat");
    section(
        &mut out,
        "autonat",
        "no test yet",
        probes.iter().rev().take(8).map(|p| {
            let verdict = if p["reachable"].as_bool() == Some(true) {
                "reachable".to_owned()
            } else {
                format!("not reachable ({})", s(&p["error"]))
            };
            format!(
                "{} {verdict} (tested by {})",
                s(&p["address"]),
                s(&p["server"])
            )
        }),
    );
    let relays = items("relays");
    section(
        &mut out,
        "relays",
        "none",
        relays.iter().map(|r| {
            let error = r["error"]
                .as_str()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            format!("{} {}{error}", s(&r["address"]), s(&r["state"]))
        }),
    );
    let punches = items("hole_punches");
    section(
        &mut out,
        "hole punches",
        "none yet",
        punches.iter().rev().take(8).map(|p| {
            let verdict = if p["ok"].as_bool() == Some(true) {
                "succeeded".to_owned()
            } else {
                format!("failed: {}", s(&p["error"]))
            };
            format!("{} {verdict}", s(&p["peer"]))
        }),
    );
    let roles: Vec<String> = kinds["by_role"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(role, n)| format!("{n} {role}"))
        .collect();
    out.push_str(&format!(
        "\npeers         {} direct, {} relayed only ({})",
        kinds["direct"],
        kinds["relayed"],
        if roles.is_empty() {
            "none".to_owned()
        } else {
            roles.join(", ")
        }
    ));
    if !connect.is_null() {
        let how = s(&connect["how"]);
        out.push_str(&format!(
            "\nconnect       {}: {how} in {} ms at {}",
            s(&connect["peer"]),
            connect["ms"],
            s(&connect["address"])
        ));
        if let Some(e) = connect["hole_punch_error"].as_str() {
            out.push_str(&format!("\n              hole punch failed: {e}"));
        }
    }
    out
}
