//! `node_*`, `net_*` and `gpu_info`: what the node is, whom it sees, what it runs on.

use jsonrpsee::{types::ErrorObjectOwned, RpcModule};
use libp2p::multiaddr::Protocol;
use serde_json::{json, Value};

use super::{diagnose, error, node_error, params, require_token, Context, Ctx, INVALID_PARAMS};

type Answer = Result<Value, ErrorObjectOwned>;

pub(super) fn register(module: &mut RpcModule<Context>) {
    let r = module.register_async_method("node_info", |_, ctx, _| info(ctx));
    debug_assert!(r.is_ok());
    let r = module.register_async_method("node_peers", |_, ctx, _| peers(ctx));
    debug_assert!(r.is_ok());
    let r = module.register_async_method("node_diagnose", |_, ctx, _| diagnosis(ctx));
    debug_assert!(r.is_ok());
    let r = module.register_async_method("node_reach", |_, ctx, _| reach(ctx));
    debug_assert!(r.is_ok());
    let r = module.register_async_method("net_connect", |p, ctx, ext| async move {
        require_token(&ext)?;
        let ConnectParams {
            peer_id,
            timeout_ms,
        } = params(&p, &["peer_id", "timeout_ms"])?;
        connect(ctx, &peer_id, timeout_ms).await
    });
    debug_assert!(r.is_ok());
    let r = module.register_async_method("net_workers", |_, ctx, _| workers(ctx));
    debug_assert!(r.is_ok());
    let r = module.register_async_method("net_checkers", |_, ctx, _| checkers(ctx));
    debug_assert!(r.is_ok());
    let r = module.register_async_method("gpu_info", |_, _, _| gpu());
    debug_assert!(r.is_ok());
}

async fn info(ctx: Ctx) -> Answer {
    let client = &ctx.client()?;
    let status = client.status().await.map_err(|e| node_error(&e))?;
    let listen: Vec<String> = client
        .listen_addrs()
        .await
        .map_err(|e| node_error(&e))?
        .into_iter()
        .map(|a| a.with(Protocol::P2p(status.peer_id)).to_string())
        .collect();
    let i = &ctx.info;
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "protocol_version": crate::PROTOCOL_VERSION,
        "network": i.network,
        "peer_id": status.peer_id.to_string(),
        "public_key": status.key.to_string(),
        "roles": i.roles,
        "listen": listen,
        "http": i.http,
        "uptime_s": i.started.elapsed().as_secs(),
        "started_ms": i.started_ms,
        "connected_peers": status.connected_peers,
        "gossip_peers": status.gossip_peers,
        "jobs_known": status.jobs,
    }))
}

async fn peers(ctx: Ctx) -> Answer {
    let peers = ctx.client()?.peers().await.map_err(|e| node_error(&e))?;
    Ok(json!(peers))
}

async fn diagnosis(ctx: Ctx) -> Answer {
    let facts = ctx.client()?.facts().await.map_err(|e| node_error(&e))?;
    Ok(json!(diagnose::diagnose(&facts, &ctx.info.roles)))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectParams {
    peer_id: String,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// How long `net_connect` waits by default: long enough for a relay and a hole punch.
const CONNECT_TIMEOUT_MS: u64 = 20_000;

async fn reach(ctx: Ctx) -> Answer {
    let report = ctx.client()?.reach().await.map_err(|e| node_error(&e))?;
    Ok(json!(report))
}

async fn connect(ctx: Ctx, peer: &str, timeout_ms: Option<u64>) -> Answer {
    let peer: libp2p::PeerId = peer.trim().parse().map_err(|e| {
        error(
            INVALID_PARAMS,
            format!("peer_id {peer:?} is not a peer id: {e}"),
        )
    })?;
    let report = ctx
        .client()?
        .connect(peer, timeout_ms.unwrap_or(CONNECT_TIMEOUT_MS))
        .await
        .map_err(|e| node_error(&e))?;
    Ok(json!(report))
}

/// Rows with their status folded in as `status`.
fn with_status<S: serde::Serialize, V: serde::Serialize>(rows: Vec<(S, V)>) -> Value {
    Value::Array(
        rows.into_iter()
            .map(|(status, row)| {
                let mut v = json!(row);
                v["status"] = json!(status);
                v
            })
            .collect(),
    )
}

async fn workers(ctx: Ctx) -> Answer {
    let net = ctx.client()?.network().await.map_err(|e| node_error(&e))?;
    Ok(with_status(net.workers))
}

async fn checkers(ctx: Ctx) -> Answer {
    let net = ctx.client()?.network().await.map_err(|e| node_error(&e))?;
    Ok(with_status(net.checkers))
}

async fn gpu() -> Answer {
    let inventory = tokio::task::spawn_blocking(pictor_gpu::Inventory::probe)
        .await
        .map_err(|e| super::error(super::NODE_ERROR, format!("the device probe failed: {e}")))?;
    Ok(json!(inventory))
}
