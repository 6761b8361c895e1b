//! A trustless HTTP gateway: raw blocks by CID (`GET`/`HEAD /ipfs/{cid}` with
//! `Accept: application/vnd.ipld.raw` or `?format=raw`), from a local block store only
//! (no recursion to the network, as the trustless-gateway spec asks of P2P providers).
//!
//! | request | answer |
//! |---|---|
//! | raw block held | 200, the bytes, `Content-Type: application/vnd.ipld.raw`, immutable caching, `ETag: "{cid}.raw"` |
//! | raw block not held | 404 |
//! | not a CID | 400 |
//! | no raw format asked (plain, `?format=car`, other `Accept`) | 406, naming what is served |
//! | a path other than `/ipfs/{cid}` | 404 (400 for `/ipfs/{cid}/sub/path`) |
//! | a method other than `GET`/`HEAD` | 405 |
//!
//! The probe CID `bafkqaaa` (empty identity CID) answers 200 with an empty body.

use std::{convert::Infallible, sync::Arc, time::Duration};

use bytes::Bytes;
use cid::Cid;
use http_body_util::Full;
use hyper::{
    header::{self, HeaderValue},
    service::service_fn,
    Method, Request, Response, StatusCode,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{net::TcpListener, sync::Semaphore, task::JoinSet};

use crate::{block::IDENTITY_CODE, Blockstore};

/// The raw block media type.
const RAW: &str = "application/vnd.ipld.raw";
/// Connections served at once; further ones wait in the listen backlog.
const MAX_CONNECTIONS: usize = 256;
/// Time a client has to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest identity CID digest served (the UnixFS spec's limit).
const MAX_IDENTITY_DIGEST: usize = 128;
const SUPPORTED: &str =
    "this trustless gateway serves raw blocks only: ask with Accept: application/vnd.ipld.raw or ?format=raw\n";

/// Serves the gateway on `listener` until the future is dropped (which also closes the
/// open connections). Accept errors are logged and retried.
pub async fn serve(listener: TcpListener, store: Arc<dyn Blockstore>) {
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
                tracing::warn!(error = %e, "gateway: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let store = store.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let response = respond(&request, store.as_ref());
                std::future::ready(Ok::<_, Infallible>(response))
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%remote, error = %e, "gateway: connection ended with an error");
            }
            drop(permit);
        });
    }
}

/// The response to one request (a node serving more than the gateway on its port calls
/// this for paths under `/ipfs/`).
pub fn respond<B>(request: &Request<B>, store: &dyn Blockstore) -> Response<Full<Bytes>> {
    let head = request.method() == Method::HEAD;
    if request.method() != Method::GET && !head {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served\n",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let Some(rest) = request.uri().path().strip_prefix("/ipfs/") else {
        return text(
            StatusCode::NOT_FOUND,
            "not found: this gateway serves /ipfs/{cid}\n",
        );
    };
    let (cid_text, subpath) = rest.split_once('/').unwrap_or((rest, ""));
    let cid = match Cid::try_from(cid_text) {
        Ok(cid) => cid,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("invalid CID {cid_text:?}: {e}\n"),
            )
        }
    };
    if !wants_raw(request) {
        return text(StatusCode::NOT_ACCEPTABLE, SUPPORTED);
    }
    if !subpath.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            "raw block requests take no path: ask for /ipfs/{cid}\n",
        );
    }
    let data = if cid.hash().code() == IDENTITY_CODE {
        let digest = cid.hash().digest();
        if digest.len() > MAX_IDENTITY_DIGEST {
            return text(
                StatusCode::BAD_REQUEST,
                "identity CID digest over 128 bytes\n",
            );
        }
        Bytes::copy_from_slice(digest)
    } else {
        match store.get(&cid) {
            Ok(Some(data)) => data,
            Ok(None) => return text(StatusCode::NOT_FOUND, &format!("block {cid} not found\n")),
            Err(e) => {
                tracing::warn!(%cid, error = %e, "gateway: block store failed");
                return text(StatusCode::INTERNAL_SERVER_ERROR, "block store error\n");
            }
        }
    };
    block_response(request, &cid, data, head)
}

fn block_response<B>(
    request: &Request<B>,
    cid: &Cid,
    data: Bytes,
    head: bool,
) -> Response<Full<Bytes>> {
    let etag = format!("\"{cid}.raw\"");
    let not_modified = request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(&etag)
        });
    let length = data.len();
    let (status, body) = if not_modified {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else if head {
        (StatusCode::OK, Bytes::new())
    } else {
        (StatusCode::OK, data)
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let mut set = |name, value: String| {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    };
    set(header::ETAG, etag);
    set(
        header::CACHE_CONTROL,
        "public, max-age=29030400, immutable".into(),
    );
    set(header::VARY, "Accept".into());
    if !not_modified {
        set(header::CONTENT_TYPE, RAW.into());
        set(header::CONTENT_LENGTH, length.to_string());
        set(header::X_CONTENT_TYPE_OPTIONS, "nosniff".into());
        set(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{cid}.bin\""),
        );
        set(
            header::HeaderName::from_static("x-ipfs-path"),
            format!("/ipfs/{cid}"),
        );
    }
    response
}

/// Whether the request asks for a raw block: `?format=` decides when present (the spec's
/// precedence), else an `Accept` media range for `application/vnd.ipld.raw` with q > 0.
fn wants_raw<B>(request: &Request<B>) -> bool {
    let format = request.uri().query().and_then(|query| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == "format")
            .map(|(_, value)| value)
    });
    if let Some(format) = format {
        return format == "raw";
    }
    request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(accepts_raw)
}

fn accepts_raw(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        if !media.eq_ignore_ascii_case(RAW) {
            return false;
        }
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("q"))
            .map(|(_, v)| v.trim().parse::<f32>().unwrap_or(0.0));
        q.is_none_or(|q| q > 0.0)
    })
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::accepts_raw;

    #[test]
    fn accept_headers_are_parsed() {
        assert!(accepts_raw("application/vnd.ipld.raw"));
        assert!(accepts_raw(
            "application/vnd.ipld.car;q=0.5, application/vnd.ipld.raw"
        ));
        assert!(accepts_raw("Application/Vnd.Ipld.Raw; q=0.9"));
        assert!(!accepts_raw("application/vnd.ipld.raw;q=0"));
        assert!(!accepts_raw("*/*"));
        assert!(!accepts_raw("application/vnd.ipld.car"));
        assert!(!accepts_raw(""));
    }
}
