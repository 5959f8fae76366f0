//! What a call to Tessera can answer besides success.

use std::time::Duration;

/// A failed call. The variants follow what the caller does next: ask for other credentials
/// (`Unauthorized`), give up on the resource (`Forbidden`, `NotFound`), wait and retry
/// (`TooManyRequests`, `Unavailable`, `Unreachable`, `Server`), or fix the request (`BadRequest`).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// 401: the credentials, refresh token or access token were refused.
    #[error("unauthorized: {message}")]
    Unauthorized { message: String },
    /// 403: the token is valid but does not grant the scope or tenant asked.
    #[error("forbidden: {message}")]
    Forbidden { message: String },
    /// 404: unknown or expired token (or a refresh token presented as an access token).
    #[error("not found: {message}")]
    NotFound { message: String },
    /// 429: too many sessions, or too many failed logins; retry after the delay when given.
    #[error("too many requests: {message}")]
    TooManyRequests {
        retry_after: Option<Duration>,
        message: String,
    },
    /// 400 (or another 4xx): the request was malformed; `message` is the server's reason.
    #[error("bad request ({status}): {message}")]
    BadRequest { status: u16, message: String },
    /// 503: Tessera is up but cannot serve now (database down, hashing saturated).
    #[error("unavailable: {message}")]
    Unavailable {
        retry_after: Option<Duration>,
        message: String,
    },
    /// Tessera could not be reached: connection refused, timeout, reset. The text never holds the URL
    /// (a token travels in the path).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// Another 5xx.
    #[error("server error ({status}): {message}")]
    Server { status: u16, message: String },
    /// A success answer whose body is not what the API describes.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// The client was given something it cannot use (a base URL that is not http(s), no runtime).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    /// True when trying again later may succeed: Tessera is down, overloaded or throttling.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::TooManyRequests { .. }
                | Error::Unavailable { .. }
                | Error::Unreachable(_)
                | Error::Server { .. }
                | Error::InvalidResponse(_)
        )
    }

    /// The delay the server asked for (`Retry-After`), on 429 and 503.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::TooManyRequests { retry_after, .. } | Error::Unavailable { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// Maps an error answer: `status` is not 2xx, `body` is what the server sent.
    pub(crate) fn from_status(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Error {
        let message = server_message(body);
        match status {
            401 => Error::Unauthorized { message },
            403 => Error::Forbidden { message },
            404 => Error::NotFound { message },
            429 => Error::TooManyRequests {
                retry_after,
                message,
            },
            503 => Error::Unavailable {
                retry_after,
                message,
            },
            500..=599 => Error::Server { status, message },
            _ => Error::BadRequest { status, message },
        }
    }

    pub(crate) fn transport(error: reqwest::Error) -> Error {
        // reqwest's text names the URL, which holds the token on /token/{token}: drop it.
        Error::Unreachable(error.without_url().to_string())
    }
}

/// The server's reason from either error shape: `{"reason": ["…"]}` (token endpoints) or
/// `{"message": "…"}` (the others); else the start of the body.
fn server_message(body: &[u8]) -> String {
    const MAX: usize = 200;
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let reason = value
            .get("reason")
            .and_then(|r| r.as_array())
            .and_then(|r| r.first())
            .and_then(|r| r.as_str());
        let message = value.get("message").and_then(|m| m.as_str());
        if let Some(text) = reason.or(message) {
            return text.chars().take(MAX).collect();
        }
    }
    String::from_utf8_lossy(body).chars().take(MAX).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_error_shapes() {
        let token =
            br#"{"reason": ["Authentication Failed"], "timestamp": [1.0], "status_code": 401}"#;
        assert_eq!(
            Error::from_status(401, None, token),
            Error::Unauthorized {
                message: "Authentication Failed".into()
            }
        );
        let api = br#"{"message": "invalid scope", "error_id": "invalid-data", "details": {}}"#;
        assert_eq!(
            Error::from_status(400, None, api),
            Error::BadRequest {
                status: 400,
                message: "invalid scope".into()
            }
        );
        let throttled = Error::from_status(429, Some(Duration::from_secs(3)), b"");
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(3)));
        assert!(throttled.is_transient());
        assert!(!Error::from_status(404, None, b"").is_transient());
        assert!(matches!(
            Error::from_status(502, None, b"bad gateway"),
            Error::Server { status: 502, .. }
        ));
    }
}
