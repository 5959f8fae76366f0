//! What every request goes through, in one middleware (each tower layer costs a service clone and
//! a boxed future per request, which shows on a cached validation: docs/performance.md):
//! - a request id: the caller's `X-Request-Id`, else a fresh UUID, echoed in the response;
//! - the request span every log line of the request carries (`logging::request_span`);
//! - a task of its own, which a client that goes away does not cancel: hyper drops the handler's
//!   future when the connection closes, and a future dropped in the middle of a transaction or of
//!   the brute-force bookkeeping left a pooled connection inside a transaction (later requests
//!   failed with 500) or a charge pending (its address held back);
//! - the error clock (time stamps of error bodies read the service's clock);
//! - a request timeout (`http_request_timeout`) that answers JSON 503 instead of letting a stalled
//!   database, or a request body that trickles in, hold a client forever: the body is read by the
//!   handler, inside it;
//! - `X-Content-Type-Options: nosniff`, and `Cache-Control: no-store` with `Pragma: no-cache`
//!   wherever tokens travel;
//! - request metrics by matched route (axum's `MatchedPath`, never the raw path).

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CACHE_CONTROL, PRAGMA, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::error::{self, ApiError, TokenError};
use super::{logging, AppState};
use crate::domain::untrusted::Untrusted;

/// Marks the 503 of a request that outlasted its time: [`timed_out`] logged it already (one
/// WARN line, not a WARN and an ERROR).
#[derive(Clone, Copy)]
struct TimedOut;

/// Headers of a typical response: content type and length, these four, and CORS's three.
const RESPONSE_HEADERS: usize = 12;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Whether the path is one of the token endpoints (their bodies carry token values).
fn carries_tokens(path: &str) -> bool {
    path.split('/')
        .any(|segment| segment == "token" || segment == "tokens")
}

/// The path with the segment after every `token` replaced: `/token/{t}` carries a token value,
/// which never reaches the logs.
fn without_tokens(path: &str) -> String {
    let mut after_token = false;
    path.split('/')
        .map(|segment| {
            let shown = if after_token { "{token}" } else { segment };
            after_token = segment == "token";
            shown
        })
        .collect::<Vec<_>>()
        .join("/")
}

pub async fn envelope(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let request_id = request
        .headers()
        .get(X_REQUEST_ID)
        .cloned()
        .unwrap_or_else(fresh_request_id);
    let span = logging::request_span(&method, route, &request_id);
    let uri = request.uri().clone();
    let token_route = carries_tokens(uri.path());

    let clock = state.services().clock().clone();
    let limit = Duration::from_secs(state.services().config().http_request_timeout);
    let timed = async move {
        match tokio::time::timeout(limit, next.run(request)).await {
            Ok(response) => response,
            Err(_) => timed_out(&uri),
        }
    };
    let task = tokio::spawn(error::reading_clock(clock, timed).instrument(span.clone()));
    let mut response = match task.await {
        Ok(response) => response,
        Err(failure) => {
            span.in_scope(|| tracing::error!(error = %failure, "request task failed"));
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal-error",
                "Internal server error",
            )
            .into_response()
        }
    };

    let status = response.status();
    let logged = response.extensions_mut().remove::<TimedOut>().is_some();
    harden(response.headers_mut(), token_route, request_id);
    let elapsed = started.elapsed();
    state
        .services()
        .record_request(method.as_str(), route, status.as_u16(), elapsed);
    if !logged {
        // Otherwise `timed_out` wrote this request's one line.
        span.in_scope(|| log_done(status, elapsed));
    }
    response
}

/// The hardening headers, and the request id.
fn harden(headers: &mut HeaderMap, token_route: bool, request_id: HeaderValue) {
    // Room for these headers and CORS's at once, rather than a rehash at each growth.
    headers.reserve(RESPONSE_HEADERS);
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if token_route {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    }
    headers.entry(X_REQUEST_ID).or_insert(request_id);
}

/// The request's one line: an error for a server failure, else at debug level.
fn log_done(status: StatusCode, elapsed: Duration) {
    if status.is_server_error() {
        tracing::error!(
            status = status.as_u16(),
            latency_ms = elapsed.as_millis(),
            "response failed"
        );
    } else {
        tracing::debug!(
            status = status.as_u16(),
            latency_ms = elapsed.as_millis(),
            "request done"
        );
    }
}

/// A UUID v4 from the thread's generator: a request id is no secret, and `Uuid::new_v4` asks the
/// operating system (a system call) every time.
fn fresh_request_id() -> HeaderValue {
    let random = rand::random::<[u8; 16]>();
    let mut text = uuid::Uuid::encode_buffer();
    let text = uuid::Builder::from_random_bytes(random)
        .into_uuid()
        .hyphenated()
        .encode_lower(&mut text);
    // A hyphenated UUID is always a valid header value.
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("-"))
}

/// The 503 of a request that outlasted `http_request_timeout`, in its endpoint's error shape,
/// and its one log line (WARN: the client, or the database, was slow; nothing failed here).
fn timed_out(uri: &Uri) -> Response {
    let path = uri.path();
    tracing::warn!(path = %Untrusted(&without_tokens(path)), "request timed out");
    let reason = "Service unavailable: the request timed out";
    let mut response = if path.contains("/token/") || path.ends_with("/token") {
        TokenError::new(StatusCode::SERVICE_UNAVAILABLE, reason).into_response()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "request-timeout", reason).into_response()
    };
    response.extensions_mut().insert(TimedOut);
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_values_are_taken_out_of_logged_paths() {
        assert_eq!(
            super::without_tokens("/api/auth/0.1/token/0b1e8a5c-secret/scopes/check"),
            "/api/auth/0.1/token/{token}/scopes/check"
        );
        assert_eq!(super::without_tokens("/0.1/token"), "/0.1/token");
        assert_eq!(super::without_tokens("/0.1/users/x"), "/0.1/users/x");
    }

    #[test]
    fn token_routes_are_recognised() {
        for path in [
            "/0.1/token",
            "/api/auth/0.1/token/abc",
            "/0.1/tokens",
            "/0.1/users/me/tokens/x",
        ] {
            assert!(super::carries_tokens(path), "{path}");
        }
        for path in ["/0.1/users", "/0.1/status", "/0.1/tokenish"] {
            assert!(!super::carries_tokens(path), "{path}");
        }
    }
}
