//! Response hardening for every route: `X-Content-Type-Options: nosniff`; `Cache-Control: no-store`
//! and `Pragma: no-cache` wherever tokens travel; and a request timeout that answers JSON 503
//! instead of letting a stalled database hold a client forever.

use std::time::Duration;

use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, PRAGMA, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, TokenError};
use crate::domain::untrusted::Untrusted;

/// Longest a request may take before the client is told 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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

pub async fn harden(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let token_route = carries_tokens(&path);
    let mut response = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(path = %Untrusted(&without_tokens(&path)), "request timed out");
            let reason = "Service unavailable: the request timed out";
            if path.contains("/token/") || path.ends_with("/token") {
                TokenError::new(StatusCode::SERVICE_UNAVAILABLE, reason).into_response()
            } else {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "request-timeout", reason)
                    .into_response()
            }
        }
    };
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if token_route {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    }
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
