//! The node's JSON-RPC 2.0 interface (jsonrpsee), served on its HTTP port over HTTP and
//! WebSocket. The methods hold nothing but a [`Client`] and what the node was started
//! with; every method is listed once, in [`openrpc::METHODS`], which `rpc.discover` and
//! the token rule read.

use std::{path::PathBuf, sync::Arc, time::Instant};

use jsonrpsee::{
    types::{ErrorObject, ErrorObjectOwned},
    Extensions, RpcModule,
};

mod credits;
pub mod diagnose;
mod jobs;
mod node;
pub mod openrpc;

use crate::{client::WeakClient, http::auth::Access, Client};

impl Context {
    /// The node's client, while it runs.
    pub(crate) fn client(&self) -> Result<Client, ErrorObjectOwned> {
        self.client
            .upgrade()
            .ok_or_else(|| error(SHUTTING_DOWN, "the node is shutting down"))
    }
}

/// Error codes, besides JSON-RPC's own (-32700 parse error, -32600 invalid request,
/// -32601 method not found, -32602 invalid params, -32603 internal error).
pub const UNAUTHORIZED: i32 = -32001;
/// The job named is not one this node knows.
pub const UNKNOWN_JOB: i32 = -32002;
/// The job or its scene is not acceptable (the message says why).
pub const INVALID_JOB: i32 = -32003;
/// The node failed to do what was asked (storage, network).
pub const NODE_ERROR: i32 = -32004;
/// The request or upload is over the stated limit.
pub const TOO_LARGE: i32 = -32005;
/// The node is shutting down.
pub const SHUTTING_DOWN: i32 = -32006;
/// The client is over one of its limits (rate, connections, uploads: HTTP 429 with
/// `Retry-After`). Not -32007: jsonrpsee uses -32007 to -32011 for its own limits.
pub const RATE_LIMITED: i32 = -32029;
pub(crate) const INVALID_REQUEST: i32 = -32600;
pub(crate) const INVALID_PARAMS: i32 = -32602;

pub(crate) const UNAUTHORIZED_TEXT: &str = "this method changes something: send `Authorization: Bearer <token>` (the token is in the node's home, rpc.token)";

/// What a node was started with, for `node_info` and the job methods.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub network: String,
    pub roles: Vec<String>,
    pub home: PathBuf,
    /// Where the HTTP port answers (`http://addr`).
    pub http: String,
    pub started: Instant,
    pub started_ms: u64,
}

/// The state every method reads.
pub(crate) struct Context {
    client: WeakClient,
    pub(crate) info: NodeInfo,
    pub(crate) blockstore: Arc<dyn pictor_ipfs::Blockstore>,
}

/// Builds the module of every method.
pub(crate) fn module(
    client: Client,
    info: NodeInfo,
    blockstore: Arc<dyn pictor_ipfs::Blockstore>,
) -> RpcModule<Context> {
    let mut module = RpcModule::new(Context {
        client: client.downgrade(),
        info,
        blockstore,
    });
    node::register(&mut module);
    credits::register(&mut module);
    jobs::register(&mut module);
    openrpc::register(&mut module);
    module
}

/// An error object with a code and a message a person can act on.
pub(crate) fn error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(code, message.into(), None::<()>)
}

/// A node error as an RPC error.
pub(crate) fn node_error(e: &crate::NodeError) -> ErrorObjectOwned {
    use crate::NodeError as E;
    let code = match e {
        E::UnknownJob(_) => UNKNOWN_JOB,
        E::InvalidJob(_)
        | E::InvalidScene(_)
        | E::Scene(_)
        | E::SceneNotFound(_)
        | E::Engine(_)
        | E::MissingBlock(_) => INVALID_JOB,
        E::Shutdown => SHUTTING_DOWN,
        _ => NODE_ERROR,
    };
    error(code, e.to_string())
}

/// Refuses a call that changes something unless its request carried the token.
pub(crate) fn require_token(ext: &Extensions) -> Result<(), ErrorObjectOwned> {
    match ext.get::<Access>() {
        Some(access) if access.token => Ok(()),
        _ => Err(error(UNAUTHORIZED, UNAUTHORIZED_TEXT)),
    }
}

/// Whether a request body (one call or a batch) calls a method that needs the token.
pub(crate) fn needs_token(body: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false; // jsonrpsee answers the parse error
    };
    let calls: Vec<&serde_json::Value> = match &value {
        serde_json::Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    calls.iter().any(|call| {
        call.get("method")
            .and_then(|m| m.as_str())
            .is_some_and(openrpc::needs_token)
    })
}

/// Parses a method's parameters: an object, or the listed names in order.
pub(crate) fn params<T: serde::de::DeserializeOwned>(
    params: &jsonrpsee::types::Params<'_>,
    names: &[&str],
) -> Result<T, ErrorObjectOwned> {
    let bad = |e: serde_json::Error| {
        error(
            INVALID_PARAMS,
            format!("invalid params: {e} (expected {{{}}})", names.join(", ")),
        )
    };
    let value: serde_json::Value = match params.as_str() {
        None => serde_json::Value::Object(Default::default()),
        Some(text) => serde_json::from_str(text).map_err(bad)?,
    };
    let object = match value {
        serde_json::Value::Array(items) => {
            if items.len() > names.len() {
                return Err(error(
                    INVALID_PARAMS,
                    format!("at most {} params: {}", names.len(), names.join(", ")),
                ));
            }
            serde_json::Value::Object(names.iter().map(|n| (*n).to_owned()).zip(items).collect())
        }
        other => other,
    };
    serde_json::from_value(object).map_err(bad)
}

pub(crate) type Ctx = Arc<Context>;
