//! The one list of methods: `rpc.discover` answers it as an OpenRPC 1.3 document, and the
//! HTTP side reads from it which methods need the token.

use jsonrpsee::RpcModule;
use serde_json::{json, Value};

use super::Context;

/// One method: name, what it does, its params (name, JSON schema type, required), what
/// it answers, and whether it changes something (and so needs the token).
#[derive(Debug)]
pub struct Method {
    pub name: &'static str,
    pub summary: &'static str,
    pub params: &'static [(&'static str, &'static str, bool)],
    pub result: &'static str,
    pub writes: bool,
}

const JOB: &[(&str, &str, bool)] = &[("job_id", "string", true)];

/// Every method of the node.
pub const METHODS: &[Method] = &[
    Method { name: "node_info", summary: "Version, network, peer id, roles, listen addresses, uptime", params: &[], result: "object", writes: false },
    Method { name: "node_peers", summary: "Peers with an open connection: addresses, role, gossip, score", params: &[], result: "array", writes: false },
    Method { name: "node_diagnose", summary: "Why this node gets no work (or pay): findings in plain sentences, each with its fix", params: &[], result: "object", writes: false },
    Method { name: "node_reach", summary: "How this node is reached: AutoNAT verdicts, external addresses, relay reservations, hole punches, UPnP, and what to do", params: &[], result: "object", writes: false },
    Method { name: "net_connect", summary: "Dials a peer by id (through a relay when that is all it has) and says how it was reached: direct, hole-punched or relayed", params: &[("peer_id", "string", true), ("timeout_ms", "integer", false)], result: "object", writes: true },
    Method { name: "credits_balance", summary: "An account's credits as this node's ledger has them: balance, escrowed, next sequence number, and the network's minted and circulating totals (this node's account unless `account` names one)", params: &[("account", "string", false)], result: "object", writes: false },
    Method { name: "credits_pay", summary: "Pays credits from this node's account to another; answers once a quorum of the checkers has certified the transfer", params: &[("to", "string", true), ("amount", "integer", true)], result: "object", writes: true },
    Method { name: "credits_fund", summary: "Adds credits from this node's account to the escrow of one of its jobs (a job whose budget ran out goes on); answers once certified", params: &[("job_id", "string", true), ("amount", "integer", true)], result: "object", writes: true },
    Method { name: "credits_faucet", summary: "Asks the network's faucet for test credits for this node's account (at most its limits allow); answers once the mint is certified", params: &[("amount", "integer", false)], result: "object", writes: true },
    Method { name: "job_submit", summary: "Submits a job: {scene_cid | scene_path, frames, width, height, samples, tile, engine, price_cap, budget}; with a budget, that many credits are escrowed before the job is published; answers {job_id}", params: &[("scene_cid", "string", false), ("scene_path", "string", false), ("scene_name", "string", false), ("frames", "string", false), ("width", "integer", false), ("height", "integer", false), ("samples", "integer", false), ("tile", "integer", false), ("engine", "string", false), ("price_cap", "integer", false), ("budget", "integer", false)], result: "object", writes: true },
    Method { name: "job_status", summary: "A job's state and progress", params: JOB, result: "object", writes: false },
    Method { name: "job_list", summary: "This node's jobs, oldest first (optionally of one state)", params: &[("state", "string", false)], result: "array", writes: false },
    Method { name: "job_cancel", summary: "Cancels a job of this node", params: JOB, result: "object", writes: true },
    Method { name: "job_frames", summary: "The CIDs and URLs of a job's finished frames", params: JOB, result: "object", writes: false },
    Method { name: "job_subscribe", summary: "WebSocket: one job_event notification per shard assigned, rendered, attested, verified, rejected, per frame and at the end", params: &[("job_id", "string", false)], result: "string", writes: false },
    Method { name: "job_unsubscribe", summary: "Ends a job_subscribe subscription", params: &[("subscription", "string", true)], result: "boolean", writes: false },
    Method { name: "net_workers", summary: "Workers this node has heard of, with status, benchmark score, accepted and rejected claims", params: &[], result: "array", writes: false },
    Method { name: "net_checkers", summary: "Checkers this node has heard of, with status and work", params: &[], result: "array", writes: false },
    Method { name: "gpu_info", summary: "This machine's CPU and GPUs (NVML telemetry where present)", params: &[], result: "object", writes: false },
    Method { name: "rpc.discover", summary: "This document (OpenRPC)", params: &[], result: "object", writes: false },
];

/// Whether calling `method` needs the token. An unknown method does not: it fails anyway.
pub fn needs_token(method: &str) -> bool {
    METHODS.iter().any(|m| m.name == method && m.writes)
}

/// The OpenRPC document.
pub fn document() -> Value {
    let methods: Vec<Value> = METHODS
        .iter()
        .map(|m| {
            let params: Vec<Value> = m
                .params
                .iter()
                .map(|(name, ty, required)| json!({"name": name, "required": required, "schema": {"type": ty}}))
                .collect();
            json!({
                "name": m.name,
                "summary": m.summary,
                "paramStructure": "either",
                "params": params,
                "result": {"name": "result", "schema": {"type": m.result}},
                "x-requires-token": m.writes,
            })
        })
        .collect();
    json!({
        "openrpc": "1.3.2",
        "info": {"title": "Pictor node", "version": env!("CARGO_PKG_VERSION")},
        "methods": methods,
    })
}

pub(super) fn register(module: &mut RpcModule<Context>) {
    let r = module.register_method("rpc.discover", |_, _, _| document());
    debug_assert!(r.is_ok());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_method_is_documented_and_back() {
        let (client, _rx) = crate::client::detached();
        let dir = tempfile::tempdir().unwrap();
        let info = super::super::NodeInfo {
            network: "t".into(),
            roles: vec![],
            home: dir.path().into(),
            http: "http://127.0.0.1:1".into(),
            started: std::time::Instant::now(),
            started_ms: 0,
        };
        let module = super::super::module(
            client,
            info,
            std::sync::Arc::new(pictor_ipfs::MemoryBlockstore::new()),
        );
        let mut registered: Vec<&str> = module.method_names().collect();
        registered.retain(|n| *n != "job_event");
        registered.sort_unstable();
        let mut documented: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
        documented.sort_unstable();
        assert_eq!(registered, documented);
        assert!(needs_token("job_submit") && needs_token("job_cancel"));
        assert!(!needs_token("job_status") && !needs_token("nope"));
    }
}
