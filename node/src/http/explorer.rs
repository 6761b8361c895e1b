//! The explorer page: static files compiled into the binary, no CDN, no build step. The
//! page reads the node through the read-only RPC methods over a WebSocket, and frames
//! through `/file/{cid}`.

use hyper::{
    body::Incoming,
    header::{self, HeaderValue},
    Request, Response, StatusCode,
};
use jsonrpsee::server::HttpBody;

use super::{auth::Auth, plain, Reply};

const INDEX: &str = include_str!("explorer/index.html");
const DOM: &str = include_str!("explorer/dom.js");
const STATE: &str = include_str!("explorer/state.js");
const RPC: &str = include_str!("explorer/rpc.js");
const NETWORK: &str = include_str!("explorer/network.js");
const JOBS: &str = include_str!("explorer/jobs.js");
const FEED: &str = include_str!("explorer/feed.js");
const APP: &str = include_str!("explorer/app.js");
const STYLE: &str = include_str!("explorer/style.css");
/// The scripts' content type.
const SCRIPT: &str = "text/javascript; charset=utf-8";

/// A page of the explorer.
pub(super) fn page(path: &str) -> Reply {
    let (body, kind) = match path {
        "/" | "/index.html" => (INDEX, "text/html; charset=utf-8"),
        "/explorer/dom.js" => (DOM, SCRIPT),
        "/explorer/state.js" => (STATE, SCRIPT),
        "/explorer/rpc.js" => (RPC, SCRIPT),
        "/explorer/network.js" => (NETWORK, SCRIPT),
        "/explorer/jobs.js" => (JOBS, SCRIPT),
        "/explorer/feed.js" => (FEED, SCRIPT),
        "/explorer/app.js" => (APP, SCRIPT),
        "/explorer/style.css" => (STYLE, "text/css; charset=utf-8"),
        other => {
            return plain(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                format!("no page {other}\n"),
            )
        }
    };
    let mut response = plain(StatusCode::OK, kind, body.to_owned());
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `/?token=…`: a browser hands the token over once; it is kept in a same-site cookie
/// (which the page's WebSocket then carries) and the address bar loses it.
pub(super) fn token_cookie(auth: &Auth, request: &Request<Incoming>) -> Option<Reply> {
    let query = request.uri().query()?;
    let token = query.split('&').find_map(|kv| kv.strip_prefix("token="))?;
    if !auth.matches(token) {
        return Some(super::reply::rpc_error(
            StatusCode::UNAUTHORIZED,
            crate::rpc::UNAUTHORIZED,
            "wrong token (it is in the node's home, rpc.token, and changes at each start)",
        ));
    }
    let cookie = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict",
        super::auth::COOKIE_NAME
    );
    let mut response = Response::new(HttpBody::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static("/"));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, value);
    }
    Some(response)
}
