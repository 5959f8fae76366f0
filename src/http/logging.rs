//! The request span every log line of a request carries: method, matched route (never the raw path:
//! `/token/{token}` would write token values into the logs) and the request id. The id is the
//! caller's `X-Request-Id` when it sends one, else a fresh UUID, and is echoed in the response
//! (`envelope`) so a client can quote it.

use axum::http::{HeaderValue, Method};

use crate::domain::untrusted::Untrusted;

/// The longest caller-supplied request id written to the logs.
const MAX_REQUEST_ID: usize = 128;

pub fn request_span(method: &Method, route: &str, request_id: &HeaderValue) -> tracing::Span {
    let request_id = request_id
        .to_str()
        .map_or("", |id| id.get(..MAX_REQUEST_ID).unwrap_or(id));
    tracing::info_span!(
        "request",
        method = %method,
        route = %route,
        request_id = %Untrusted(request_id),
    )
}
