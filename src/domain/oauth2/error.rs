//! The OAuth2 face's errors (RFC 6749 §5.2): a code from the RFC and a description, rendered by
//! the HTTP face as `{"error", "error_description"}`. A domain failure that is not the client's
//! (the database away) becomes `server_error` or `temporarily_unavailable`.

use std::time::Duration;

use crate::domain::error::DomainError;

/// RFC 6749 §5.2's codes (and RFC 7009's `unsupported_token_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    ServerError,
    TemporarilyUnavailable,
    /// RFC 6750 §3.1: the Bearer token of the caller is not a live token.
    InvalidToken,
    /// RFC 6750 §3.1: the Bearer token does not grant what the endpoint needs.
    InsufficientScope,
    /// The authorization endpoint's own (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6).
    UnsupportedResponseType,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    /// The device grant's (RFC 8628 §3.5).
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
}

impl OAuthCode {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthCode::InvalidRequest => "invalid_request",
            OAuthCode::InvalidClient => "invalid_client",
            OAuthCode::InvalidGrant => "invalid_grant",
            OAuthCode::UnauthorizedClient => "unauthorized_client",
            OAuthCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthCode::InvalidScope => "invalid_scope",
            OAuthCode::ServerError => "server_error",
            OAuthCode::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthCode::InvalidToken => "invalid_token",
            OAuthCode::InsufficientScope => "insufficient_scope",
            OAuthCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthCode::AccessDenied => "access_denied",
            OAuthCode::LoginRequired => "login_required",
            OAuthCode::ConsentRequired => "consent_required",
            OAuthCode::AuthorizationPending => "authorization_pending",
            OAuthCode::SlowDown => "slow_down",
            OAuthCode::ExpiredToken => "expired_token",
        }
    }
}

/// An OAuth2 error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub code: OAuthCode,
    pub description: String,
    /// The client tried HTTP Basic: a 401 says `WWW-Authenticate: Basic`.
    pub basic_challenge: bool,
    /// Held back by the brute-force throttle (§8): answered 429, with `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl OAuthError {
    pub fn new(code: OAuthCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
            basic_challenge: false,
            retry_after: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(OAuthCode::InvalidRequest, description)
    }

    pub fn invalid_client(basic: bool) -> Self {
        OAuthError {
            basic_challenge: basic,
            ..Self::new(OAuthCode::InvalidClient, "Client authentication failed.")
        }
    }
}

pub type OAuthResult<T> = Result<T, OAuthError>;

/// A grant that failed (an unknown code, refresh token or device code) refused while its address
/// is held back: `invalid_grant`, answered 429 with `Retry-After`. The client authenticated: it
/// is the grant that is refused, not the client.
pub fn grant_held_back(error: DomainError) -> OAuthError {
    match OAuthError::from(error) {
        held if held.retry_after.is_some() => OAuthError {
            code: OAuthCode::InvalidGrant,
            description: "Too many failed grants from this address: retry later.".into(),
            ..held
        },
        other => other,
    }
}

impl From<DomainError> for OAuthError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::HeldBack { retry_after } => OAuthError {
                retry_after: Some(retry_after),
                ..Self::new(
                    OAuthCode::InvalidClient,
                    "Too many failed attempts: retry later.",
                )
            },
            DomainError::TooManySessions(_) => Self::new(
                OAuthCode::InvalidRequest,
                "The user holds too many sessions: end one first.",
            ),
            DomainError::InvalidScope(entry) => Self::new(
                OAuthCode::InvalidScope,
                format!("The scope {entry:?} is not within the client's."),
            ),
            DomainError::Unavailable(_) | DomainError::Busy => Self::new(
                OAuthCode::TemporarilyUnavailable,
                "The service is busy or its database unavailable: retry later.",
            ),
            // The domain's own words for what the request got wrong; never a database's.
            DomainError::BadRequest(reason) => Self::new(OAuthCode::InvalidRequest, reason),
            DomainError::InvalidField { field, message } => {
                Self::new(OAuthCode::InvalidRequest, format!("{field}: {message}"))
            }
            error if error.is_client_error() => Self::new(
                OAuthCode::InvalidRequest,
                "The request holds a value that cannot be used.",
            ),
            _ => Self::new(OAuthCode::ServerError, "The request could not be served."),
        }
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(error: crate::store::StoreError) -> Self {
        DomainError::from(error).into()
    }
}
