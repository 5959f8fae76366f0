//! Rendering of domain errors in the contract's shapes (SPEC §5). Token endpoints answer
//! `{reason: [..], timestamp: [..], status_code}`; every other endpoint answers
//! `{message, error_id, details, timestamp, resource?}`. Internal failures are logged here and
//! never described to the client. Time stamps come from the domain clock of the request's service
//! (a task-local set by [`reading_clock`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::wire;
use crate::domain::clock::{Clock, SharedClock, SystemClock};
use crate::domain::untrusted::Untrusted;
use crate::domain::{DomainError, Refusal};

tokio::task_local! {
    static CLOCK: SharedClock;
}

/// Runs `future` (a request) with its error bodies reading `clock`.
pub async fn reading_clock<F: std::future::Future>(clock: SharedClock, future: F) -> F::Output {
    CLOCK.scope(clock, future).await
}

fn now_epoch() -> f64 {
    let micros = CLOCK
        .try_with(|clock| clock.now_micros())
        .unwrap_or_else(|_| SystemClock.now_micros());
    micros as f64 / 1e6
}

/// `Retry-After` in whole seconds, at least 1.
fn retry_seconds(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// An error of the token endpoints (POST/GET/HEAD/DELETE `/token…`).
#[derive(Debug)]
pub struct TokenError {
    pub status: StatusCode,
    pub reason: String,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl TokenError {
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        TokenError {
            status,
            reason: reason.into(),
            retry_after: None,
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = wire::TokenError {
            reason: vec![self.reason],
            status_code: self.status.as_u16(),
            timestamp: vec![now_epoch()],
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<DomainError> for TokenError {
    fn from(error: DomainError) -> Self {
        if let Some(status) = database_status(&error) {
            return TokenError::new(status, status_reason(status));
        }
        match error {
            DomainError::AuthenticationFailed => {
                TokenError::new(StatusCode::UNAUTHORIZED, "Authentication Failed")
            }
            DomainError::HeldBack { retry_after } => TokenError {
                retry_after: Some(retry_seconds(retry_after)),
                ..TokenError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many failed attempts: retry later",
                )
            },
            DomainError::TooManySessions(uuid) => TokenError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("User {uuid} has exceeded the maximum number of active sessions"),
            ),
            DomainError::Busy => TokenError {
                retry_after: Some(1),
                ..TokenError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Password hashing is saturated: retry shortly",
                )
            },
            DomainError::NoSuchToken | DomainError::NotFound => {
                TokenError::new(StatusCode::NOT_FOUND, "No such token")
            }
            DomainError::ScopeNotGranted(scope) => {
                TokenError::new(StatusCode::FORBIDDEN, format!("Unauthorized for {scope}"))
            }
            DomainError::TenantNotGranted(tenant) => TokenError::new(
                StatusCode::FORBIDDEN,
                format!("Unauthorized for tenant {tenant}"),
            ),
            other => TokenError::from_bad_request(other),
        }
    }
}

impl TokenError {
    /// The token endpoints' answers to a malformed request; any other error as the other
    /// endpoints answer it (status and message).
    fn from_bad_request(error: DomainError) -> Self {
        match error {
            DomainError::BadRequest(reason) => TokenError::new(StatusCode::BAD_REQUEST, reason),
            // RFC 6749 §5.2's name for it: the reason is the whole message.
            DomainError::InvalidScope(_) => {
                TokenError::new(StatusCode::BAD_REQUEST, "invalid_scope")
            }
            DomainError::InvalidField { field, .. } => TokenError::new(
                StatusCode::BAD_REQUEST,
                format!("Invalid value supplied for field: {field}"),
            ),
            DomainError::PayloadTooLarge => TokenError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Failed to buffer the request body: length limit exceeded",
            ),
            DomainError::UnreadableBody => {
                TokenError::new(StatusCode::BAD_REQUEST, "Failed to buffer the request body")
            }
            other => {
                let api = ApiError::from(other);
                TokenError::new(api.status, api.message)
            }
        }
    }
}

/// An error of every endpoint but the token ones.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub error_id: &'static str,
    pub details: Value,
    pub resource: Option<&'static str>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, error_id: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            error_id,
            details: json!({}),
            resource: None,
            retry_after: None,
        }
    }

    fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    fn resource(mut self, resource: &'static str) -> Self {
        self.resource = Some(resource);
        self
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = wire::ApiError {
            details: self.details,
            error_id: self.error_id.to_string(),
            message: self.message,
            resource: self.resource,
            timestamp: now_epoch(),
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        if let Some(status) = database_status(&error) {
            return database_error(status, error);
        }
        match error {
            DomainError::Unauthorized {
                token,
                refusal,
                required,
                tenant,
            } => unauthorized(token, refusal, required, tenant),
            DomainError::NotHeld(entry) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized")
                    .details(json!({ "required_access": entry }))
            }
            DomainError::OwnAccount(field) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                format!("A user cannot change its own {field}"),
            )
            .details(json!({ "field": field })),
            DomainError::AuthenticationFailed => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication-failed",
                "Authentication Failed",
            ),
            DomainError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Password hashing is saturated: retry shortly",
            ),
            DomainError::HeldBack { retry_after } => ApiError {
                retry_after: Some(retry_seconds(retry_after)),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-attempts",
                    "Too many failed attempts: retry later",
                )
            },
            DomainError::TooManySessions(uuid) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-sessions",
                format!("User {uuid} has exceeded the maximum number of active sessions"),
            ),
            DomainError::ScopeNotGranted(_) | DomainError::TenantNotGranted(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden")
            }
            other => ApiError::from_invalid_request(other),
        }
    }
}

/// 401 for a protected endpoint's caller: `invalid_token` is the header as sent, "" without one
/// (never null).
fn unauthorized(
    token: Option<String>,
    refusal: Refusal,
    required: String,
    tenant: Option<String>,
) -> ApiError {
    let token = token.unwrap_or_default();
    let details = match refusal {
        Refusal::NotFoundOrExpired => json!({
            "invalid_token": token,
            "reason": "not_found_or_expired",
            "required_access": required,
        }),
        Refusal::MissingPermissionOrInvalidTenant => json!({
            "invalid_token": token,
            "reason": "missing_permission_or_invalid_tenant",
            "required_access": required,
            "tenant_uuid": tenant,
        }),
    };
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized").details(details)
}

impl ApiError {
    /// A request the service cannot take as it is: malformed (400, 413), or naming something that
    /// is not there (404); anything else as [`ApiError::from_refused_change`] answers it.
    fn from_invalid_request(error: DomainError) -> Self {
        match error {
            DomainError::InvalidField { field, message } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-data",
                "Sent data is invalid",
            )
            .details(
                json!({ &field: {"constraint_id": "invalid", "constraint": &field, "message": message} }),
            ),
            DomainError::InvalidListParam { param, message } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-list-param",
                format!("Invalid list parameter {param}: {message}"),
            )
            .details(json!({ &param: {"constraint_id": "invalid", "constraint": &param, "message": message} })),
            DomainError::BadRequest(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid-data", message)
            }
            DomainError::InvalidScope(entry) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_scope", "invalid_scope")
                    .details(json!({ "scope": entry }))
            }
            DomainError::PayloadTooLarge => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
            ),
            DomainError::UnreadableBody => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-data",
                "Unreadable request body",
            ),
            other => ApiError::from_unknown(other),
        }
    }

    /// 404 for what a request names and is not there.
    fn from_unknown(error: DomainError) -> Self {
        match error {
            DomainError::NotFound | DomainError::NoSuchToken => ApiError::not_found(),
            DomainError::Missing(message) => {
                ApiError::new(StatusCode::NOT_FOUND, "not-found", message)
            }
            DomainError::UnknownUser(uuid) => ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown-user",
                format!("No such user: \"{uuid}\""),
            )
            .resource("users")
            .details(json!({ "uuid": uuid })),
            DomainError::UnknownPolicy(id) => ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown-policy",
                format!("No such policy: \"{id}\""),
            )
            .resource("policies")
            .details(json!({ "uuid": id })),
            DomainError::UnknownRefreshToken(client_id) => ApiError::new(
                StatusCode::NOT_FOUND,
                "cannot-find-refresh-token-matching-client-id",
                format!("unknown refresh_token for client_id \"{client_id}\""),
            )
            .resource("tokens")
            .details(json!({ "client_id": client_id })),
            other => ApiError::from_refused_change(other),
        }
    }

    /// A change the state of the service refuses (409, 403); anything else is internal (500).
    fn from_refused_change(error: DomainError) -> Self {
        match error {
            DomainError::Conflict {
                resource,
                field,
                message,
            } => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("Conflict on {resource}"),
            )
            .resource(resource)
            .details(json!({ field: {"constraint_id": "unique", "message": message} })),
            DomainError::ReadOnlyPolicy => ApiError::new(
                StatusCode::FORBIDDEN,
                "read-only-policy",
                "This policy is read-only",
            ),
            // 409, not the read-only 403: the policy stays editable (ACL, description); only its
            // name is held by the configuration, a state of the service the operator can change.
            DomainError::ConfiguredPolicy(name) => ApiError::new(
                StatusCode::CONFLICT,
                "policy-in-use",
                "The configuration refers to this policy by name (default_user_policy): it cannot \
                 be renamed or deleted",
            )
            .resource("policies")
            .details(json!({ "name": name, "setting": "default_user_policy" })),
            DomainError::Internal(message) => internal(&message),
            // Every other error has its answer above: one added later is internal until it does.
            other => internal(&other.to_string()),
        }
    }
}

/// 500, logged with what the client must not see.
fn internal(message: &str) -> ApiError {
    tracing::error!(error = %Untrusted(message), "internal error");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal-error",
        "Internal server error",
    )
}

/// The body of a database failure whose status [`database_status`] gave.
fn database_error(status: StatusCode, error: DomainError) -> ApiError {
    match error {
        DomainError::UnnamedConflict(constraint) => ApiError::new(status, "conflict", "Conflict")
            .details(json!({ "constraint": constraint })),
        DomainError::Unavailable(_) => {
            ApiError::new(status, "service-unavailable", status_reason(status))
        }
        DomainError::RefusedValue(_) => {
            ApiError::new(status, "invalid-data", status_reason(status))
        }
        DomainError::Gone(_) => ApiError::new(status, "not-found", status_reason(status)),
        _ => ApiError::new(status, "internal-error", status_reason(status)),
    }
}

/// The status of a database failure, logging what the client must not see; `None` for every
/// other error.
fn database_status(error: &DomainError) -> Option<StatusCode> {
    match error {
        DomainError::UnnamedConflict(_) => Some(StatusCode::CONFLICT),
        DomainError::RefusedValue(_) => Some(StatusCode::BAD_REQUEST),
        DomainError::Gone(_) => Some(StatusCode::NOT_FOUND),
        DomainError::Unavailable(message) => {
            tracing::warn!(message = %Untrusted(message), "database unavailable");
            Some(StatusCode::SERVICE_UNAVAILABLE)
        }
        DomainError::Database(message) => {
            tracing::error!(message = %Untrusted(message), "database error");
            Some(StatusCode::INTERNAL_SERVER_ERROR)
        }
        _ => None,
    }
}

fn status_reason(status: StatusCode) -> &'static str {
    match status {
        StatusCode::SERVICE_UNAVAILABLE => "Service unavailable: the database does not answer",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST => "Invalid value in the request",
        _ => "Internal server error",
    }
}
