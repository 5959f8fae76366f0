//! The error bodies of SPEC §5. Token endpoints answer `{reason: [..], timestamp: [..], status_code}`;
//! every other endpoint answers `{message, error_id, details, timestamp, resource?}`.
//! Internal failures are logged here and never described to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::auth::password::HashError;
use crate::store::StoreError;

fn now_epoch() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1e6
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

    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }

    pub fn authentication_failed() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Authentication Failed")
    }

    pub fn no_such_token() -> Self {
        Self::new(StatusCode::NOT_FOUND, "No such token")
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = json!({
            "reason": [self.reason],
            "timestamp": [now_epoch()],
            "status_code": self.status.as_u16(),
        });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<StoreError> for TokenError {
    fn from(error: StoreError) -> Self {
        let status = store_status(&error);
        TokenError::new(status, status_reason(status))
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
}

impl ApiError {
    pub fn new(status: StatusCode, error_id: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            error_id,
            details: json!({}),
            resource: None,
        }
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn resource(mut self, resource: &'static str) -> Self {
        self.resource = Some(resource);
        self
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found")
    }

    /// 400 for a request body or query that breaks the schema: `details` names the field.
    pub fn invalid_data(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-data",
            "Sent data is invalid",
        )
        .details(
            json!({ field: {"constraint_id": "invalid", "constraint": field, "message": message} }),
        )
    }

    pub fn unknown_user(uuid: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown-user",
            format!("No such user: \"{uuid}\""),
        )
        .resource("users")
        .details(json!({ "uuid": uuid }))
    }

    pub fn unknown_policy(uuid: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown-policy",
            format!("No such policy: \"{uuid}\""),
        )
        .resource("policies")
        .details(json!({ "uuid": uuid }))
    }

    pub fn conflict(resource: &'static str, details: Value) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("Conflict on {resource}"),
        )
        .resource(resource)
        .details(details)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "message": self.message,
            "error_id": self.error_id,
            "details": self.details,
            "timestamp": now_epoch(),
        });
        if let Some(resource) = self.resource {
            body["resource"] = json!(resource);
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let status = store_status(&error);
        match error {
            StoreError::Conflict(constraint) => ApiError::new(status, "conflict", "Conflict")
                .details(json!({ "constraint": constraint })),
            StoreError::Unavailable(_) => {
                ApiError::new(status, "service-unavailable", status_reason(status))
            }
            StoreError::Invalid(_) => ApiError::new(status, "invalid-data", status_reason(status)),
            StoreError::Other(_) => ApiError::new(status, "internal-error", status_reason(status)),
        }
    }
}

/// Maps a store failure to a status, logging what the client must not see.
fn store_status(error: &StoreError) -> StatusCode {
    match error {
        StoreError::Conflict(_) => StatusCode::CONFLICT,
        StoreError::Invalid(_) => StatusCode::BAD_REQUEST,
        StoreError::Unavailable(message) => {
            tracing::warn!(%message, "database unavailable");
            StatusCode::SERVICE_UNAVAILABLE
        }
        StoreError::Other(message) => {
            tracing::error!(%message, "database error");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

fn status_reason(status: StatusCode) -> &'static str {
    match status {
        StatusCode::SERVICE_UNAVAILABLE => "Service unavailable: the database does not answer",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::BAD_REQUEST => "Invalid value in the request",
        _ => "Internal server error",
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        tracing::error!(error = %error, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "Internal server error",
        )
    }
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Password hashing is saturated: retry shortly",
            ),
            HashError::Failed(message) => anyhow::anyhow!(message).into(),
        }
    }
}

impl From<anyhow::Error> for TokenError {
    fn from(error: anyhow::Error) -> Self {
        tracing::error!(error = %error, "internal error");
        TokenError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }
}
