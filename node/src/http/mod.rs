//! The node's HTTP port: one listener, one route table.
//!
//! | path | what |
//! |---|---|
//! | `POST /`, WebSocket upgrade on `/` | JSON-RPC 2.0 (`rpc`) |
//! | `GET /`, `/explorer/…` | the explorer page |
//! | `GET /metrics` | Prometheus text format |
//! | `POST /upload` | a file streamed into the block store as UnixFS; answers its CID |
//! | `GET /file/{cid}` | a whole UnixFS file from the block store |
//! | `GET`/`HEAD /ipfs/{cid}` | the trustless gateway (raw blocks) |
//!
//! Every request, of every path, counts against its client's limits ([`limits`]); past
//! one it is answered 429 with `Retry-After`.

use std::{convert::Infallible, net::IpAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::{
    body::Incoming,
    header::{self, HeaderValue},
    service::service_fn,
    Method, Request, Response, StatusCode,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use jsonrpsee::server::{HttpBody, Methods, ServerConfig};
use pictor_ipfs::Blockstore;
use tokio::{net::TcpListener, sync::Semaphore, task::JoinSet};

pub mod auth;
mod explorer;
mod limits;
mod reply;
mod upload;

pub use limits::{
    HttpLimits, DEFAULT_BURST_PER_CLIENT, DEFAULT_CONNECTIONS_PER_CLIENT,
    DEFAULT_LOCAL_BURST_PER_CLIENT, DEFAULT_LOCAL_RATE_PER_CLIENT, DEFAULT_RATE_PER_CLIENT,
    DEFAULT_UPLOADS_PER_CLIENT, MAX_UPLOADS,
};
pub(crate) use reply::plain;
pub use upload::MAX_UPLOAD;

use auth::Auth;
use limits::{ClientId, Limiter, PerCall, RpcClient};

use crate::{client::WeakClient, metrics::Metrics, rpc};

/// Connections served at once (from all clients); further ones wait in the listen backlog.
const MAX_CONNECTIONS: usize = 256;
/// Time a client has to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest JSON-RPC request body (scenes go through `/upload`).
pub const MAX_RPC_BODY: u32 = 1024 * 1024;
/// The most calls one JSON-RPC batch may hold (an HTTP request counts once against its
/// client's rate, whatever it holds).
pub const MAX_BATCH_CALLS: u32 = 64;
/// The largest JSON-RPC response body.
const MAX_RPC_RESPONSE: u32 = 16 * 1024 * 1024;
/// The largest whole file `GET /file/{cid}` serves.
const MAX_FILE: u64 = 256 * 1024 * 1024;

/// What every request of the port may use.
pub(crate) struct HttpState {
    pub(crate) auth: Auth,
    pub(crate) blockstore: Arc<dyn Blockstore>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) client: WeakClient,
    pub(crate) methods: Methods,
    pub(crate) limits: HttpLimits,
}

type Reply = Response<HttpBody>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves the port until the future is dropped (which closes every connection).
pub(crate) async fn serve(listener: TcpListener, state: HttpState) {
    let limiter = Limiter::new(state.limits);
    let state = Arc::new(state);
    let (stop, _stopped) = jsonrpsee::server::stop_channel();
    let config = ServerConfig::builder()
        .max_request_body_size(MAX_RPC_BODY)
        .max_response_body_size(MAX_RPC_RESPONSE)
        .max_connections(MAX_CONNECTIONS as u32)
        .max_subscriptions_per_connection(256)
        .set_batch_request_config(jsonrpsee::server::BatchRequestConfig::Limit(
            MAX_BATCH_CALLS,
        ))
        .build();
    let builder = jsonrpsee::server::Server::builder()
        .set_config(config)
        .to_service_builder()
        .set_rpc_middleware(
            jsonrpsee::server::middleware::rpc::RpcServiceBuilder::new()
                .layer_fn(|inner| PerCall { inner }),
        );
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return; // the semaphore is never closed
        };
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "http: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let client = ClientId::of(remote.ip());
        let rpc = builder.clone().build(state.methods.clone(), stop.clone());
        let (state, limiter) = (state.clone(), limiter.clone());
        // Counted here, in the order of accepting, not when the task first runs.
        let slot = limiter.connect(client);
        connections.spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .clone();
            let io = TokioIo::new(stream);
            let served = match slot {
                Ok(slot) => {
                    // Counted until the connection closes: a WebSocket holds its slot (in
                    // the upgrade request's extensions) after the HTTP part ends.
                    let slot = Arc::new(slot);
                    let service = service_fn(move |request| {
                        let (state, rpc) = (state.clone(), rpc.clone());
                        let (limiter, slot) = (limiter.clone(), slot.clone());
                        async move {
                            let at = Client {
                                ip: remote.ip(),
                                id: client,
                                limiter: &limiter,
                                slot,
                            };
                            Ok::<_, Infallible>(route(&state, rpc, at, request).await)
                        }
                    });
                    http.serve_connection(io, service).with_upgrades().await
                }
                Err(refusal) => {
                    tracing::debug!(%remote, "http: connection refused: {}", refusal.message);
                    let service = service_fn(move |_| {
                        let reply = reply::too_many(&refusal);
                        async move { Ok::<_, Infallible>(reply) }
                    });
                    http.keep_alive(false).serve_connection(io, service).await
                }
            };
            if let Err(e) = served {
                tracing::debug!(%remote, error = %e, "http: connection ended with an error");
            }
            drop(permit);
        });
    }
}

/// Who sent a request, and its limits.
struct Client<'a> {
    ip: IpAddr,
    id: ClientId,
    limiter: &'a Limiter,
    slot: Arc<limits::ConnectionSlot>,
}

async fn route<S>(
    state: &HttpState,
    mut rpc: S,
    client: Client<'_>,
    mut request: Request<Incoming>,
) -> Reply
where
    S: tower::Service<Request<Full<Bytes>>, Response = Response<HttpBody>, Error = BoxError>,
{
    // Before anything else, the token check included (which also slows guessing it).
    if let Err(refusal) = client.limiter.request(client.id, crate::now_ms()) {
        tracing::debug!(client = %client.ip, "http: request refused: {}", refusal.message);
        return reply::too_many(&refusal);
    }
    let access = state.auth.check(request.headers());
    let path = request.uri().path().to_owned();
    let page = request.method() == Method::GET
        && !is_upgrade(&request)
        && (path == "/" || path == "/index.html" || path.starts_with("/explorer/"));
    if page {
        if let Some(reply) = explorer::token_cookie(&state.auth, &request) {
            return reply;
        }
    }
    if state.auth.closed() && !access.token {
        return reply::rpc_error(
            StatusCode::UNAUTHORIZED,
            rpc::UNAUTHORIZED,
            "this node's HTTP port is bound to a public address: every request needs `Authorization: Bearer <token>` (the token is in the node's home, rpc.token)",
        );
    }
    if page {
        return explorer::page(&path);
    }
    if path == "/metrics" {
        return plain(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            state.metrics.encode(),
        );
    }
    if path.starts_with("/ipfs/") {
        return pictor_ipfs::gateway::respond(&request, state.blockstore.as_ref())
            .map(HttpBody::new);
    }
    if let Some(cid) = path.strip_prefix("/file/") {
        let png = request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|kv| kv == "as=png"));
        return file(state, cid, png).await;
    }
    if path == "/upload" {
        return upload::handle(state, access, &client, request).await;
    }
    if path != "/" {
        return plain(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            format!("not found: {path}\nthis port serves JSON-RPC on /, the explorer on /, /metrics, /upload, /file/{{cid}} and /ipfs/{{cid}}\n"),
        );
    }
    request.extensions_mut().insert(access);
    let upgrade = is_upgrade(&request);
    request.extensions_mut().insert(RpcClient {
        limiter: client.limiter.clone(),
        client: client.id,
        over_http: !upgrade,
    });
    // A WebSocket: the methods check the token of the upgrade request themselves.
    if upgrade {
        request.extensions_mut().insert(client.slot);
        let request = request.map(|_| Full::new(Bytes::new()));
        return rpc.call(request).await.unwrap_or_else(|e| internal(&e));
    }
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_RPC_BODY as usize).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return reply::rpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                rpc::TOO_LARGE,
                &format!("a JSON-RPC request is at most {MAX_RPC_BODY} bytes; upload scenes to /upload and submit them by CID"),
            )
        }
    };
    if !access.token && rpc::needs_token(&body) {
        return reply::rpc_error(
            StatusCode::UNAUTHORIZED,
            rpc::UNAUTHORIZED,
            rpc::UNAUTHORIZED_TEXT,
        );
    }
    rpc.call(Request::from_parts(parts, Full::new(body)))
        .await
        .unwrap_or_else(|e| internal(&e))
}

fn is_upgrade<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn internal(error: &BoxError) -> Reply {
    tracing::warn!(%error, "http: RPC service failed");
    plain(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/plain; charset=utf-8",
        "internal error\n".into(),
    )
}

/// `GET /file/{cid}`: a whole UnixFS file from this node's block store.
async fn file(state: &HttpState, cid: &str, png: bool) -> Reply {
    let text = "text/plain; charset=utf-8";
    let cid = match cid::Cid::try_from(cid) {
        Ok(cid) => cid,
        Err(e) => {
            return plain(
                StatusCode::BAD_REQUEST,
                text,
                format!("invalid CID {cid:?}: {e}\n"),
            )
        }
    };
    match crate::blocks::export_local(state.blockstore.clone(), cid, MAX_FILE).await {
        Ok(bytes) => {
            let mut response = Response::new(HttpBody::new(Full::new(bytes)));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(if png {
                    "image/png"
                } else {
                    "application/octet-stream"
                }),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=29030400, immutable"),
            );
            response
        }
        Err(pictor_ipfs::IpfsError::MissingBlock(_)) => plain(
            StatusCode::NOT_FOUND,
            text,
            format!("file {cid} is not in this node's block store\n"),
        ),
        Err(e) => plain(
            StatusCode::UNPROCESSABLE_ENTITY,
            text,
            format!("file {cid}: {e}\n"),
        ),
    }
}
