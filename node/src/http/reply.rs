//! Answers the router makes itself: a body with its type, and JSON-RPC errors that carry
//! an HTTP status (a request refused before it reaches the methods).

use hyper::{
    header::{self, HeaderValue},
    Response, StatusCode,
};
use jsonrpsee::server::HttpBody;

/// A response with a body and its type.
pub(crate) fn plain(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<HttpBody> {
    let mut response = Response::new(HttpBody::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// 429 Too Many Requests, with `Retry-After` and the limit in a JSON-RPC error.
pub(crate) fn too_many(refusal: &super::limits::Refusal) -> Response<HttpBody> {
    let mut response = rpc_error(
        StatusCode::TOO_MANY_REQUESTS,
        crate::rpc::RATE_LIMITED,
        &refusal.message,
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(refusal.retry_after_s),
    );
    response
}

/// A JSON-RPC error answered with an HTTP status (before a request reaches the methods).
pub(crate) fn rpc_error(status: StatusCode, code: i32, message: &str) -> hyper::Response<HttpBody> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "error": {"code": code, "message": message},
        "id": null,
    });
    plain(status, "application/json", body.to_string())
}
