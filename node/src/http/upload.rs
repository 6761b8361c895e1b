//! `POST /upload`: a file streamed into the node's block store as UnixFS.
//!
//! The body is read chunk by chunk (send it with `Transfer-Encoding: chunked` or a
//! `Content-Length`); a body over [`MAX_UPLOAD`] is refused as soon as it is known to be
//! (413), before it is stored. The answer is `{"cid": …, "size": …}`: the file's UnixFS
//! root, which `job_submit` takes as `scene_cid`. Uploading changes something, so it needs
//! the token. A client has at most [`super::HttpLimits::uploads_per_client`] uploads in
//! flight, and the port [`super::MAX_UPLOADS`] from all clients (429 past either).

use bytes::BytesMut;
use http_body_util::BodyExt as _;
use hyper::{body::Incoming, header, Method, Request, StatusCode};

use super::{auth::Access, Client, HttpState, Reply};
use crate::rpc;

/// The largest file accepted (the largest scene bundle a job may name).
pub const MAX_UPLOAD: u64 = pictor_gpu::MAX_BUNDLE_BYTES;

pub(super) async fn handle(
    state: &HttpState,
    access: Access,
    client: &Client<'_>,
    request: Request<Incoming>,
) -> Reply {
    if request.method() != Method::POST {
        return super::reply::rpc_error(
            StatusCode::METHOD_NOT_ALLOWED,
            rpc::INVALID_REQUEST,
            "upload with POST /upload, the file as the body",
        );
    }
    if !access.token {
        return super::reply::rpc_error(
            StatusCode::UNAUTHORIZED,
            rpc::UNAUTHORIZED,
            rpc::UNAUTHORIZED_TEXT,
        );
    }
    let too_large = || {
        super::reply::rpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            rpc::TOO_LARGE,
            &format!("an upload is at most {MAX_UPLOAD} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD) {
        return too_large();
    }
    // Held until the upload is stored or refused: it bounds the memory uploads take.
    let _slot = match client.limiter.upload(client.id) {
        Ok(slot) => slot,
        Err(refusal) => return super::reply::too_many(&refusal),
    };
    let mut body = request.into_body();
    let mut bytes = BytesMut::with_capacity(declared.unwrap_or(0).min(MAX_UPLOAD) as usize);
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                return super::reply::rpc_error(
                    StatusCode::BAD_REQUEST,
                    rpc::INVALID_REQUEST,
                    &format!("the upload broke off: {e}"),
                )
            }
        };
        if let Ok(chunk) = frame.into_data() {
            if bytes.len() as u64 + chunk.len() as u64 > MAX_UPLOAD {
                return too_large();
            }
            bytes.extend_from_slice(&chunk);
        }
    }
    if bytes.is_empty() {
        return super::reply::rpc_error(
            StatusCode::BAD_REQUEST,
            rpc::INVALID_REQUEST,
            "the upload is empty",
        );
    }
    let size = bytes.len();
    let Some(client) = state.client.upgrade() else {
        return super::reply::rpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            rpc::SHUTTING_DOWN,
            "the node is shutting down",
        );
    };
    match client.add_file(bytes.to_vec()).await {
        Ok(cid) => super::reply::plain(
            StatusCode::OK,
            "application/json",
            serde_json::json!({ "cid": cid.to_string(), "size": size }).to_string(),
        ),
        Err(e) => super::reply::rpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            rpc::NODE_ERROR,
            &format!("the node could not store the upload: {e}"),
        ),
    }
}
