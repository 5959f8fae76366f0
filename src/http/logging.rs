//! The request span every log line of a request carries: method, matched route (never the raw path:
//! `/token/{token}` would write token values into the logs) and the request id. The id is the
//! caller's `X-Request-Id` when it sends one, else a fresh UUID (`SetRequestIdLayer`), and is
//! echoed in the response (`PropagateRequestIdLayer`) so a client can quote it.

use axum::extract::MatchedPath;
use axum::http::Request;

use crate::domain::untrusted::Untrusted;

/// The longest caller-supplied request id written to the logs.
const MAX_REQUEST_ID: usize = 128;

pub fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map_or("", |id| id.get(..MAX_REQUEST_ID).unwrap_or(id));
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route,
        request_id = %Untrusted(request_id),
    )
}
