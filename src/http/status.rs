//! `/status`: 200 when the service and its database answer, 503 otherwise.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::wire;
use super::AppState;

/// The status, and whether the database answers.
async fn probe(state: &AppState) -> (StatusCode, wire::Status) {
    let up = state.services().database_answers().await;
    let status = wire::Status {
        database: wire::DatabaseStatus {
            status: if up {
                wire::DatabaseState::Ok
            } else {
                wire::DatabaseState::Fail
            },
        },
        rest_api: wire::RestApiStatus {
            status: wire::RestApiState::Ok,
        },
    };
    let code = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, status)
}

/// GET /status
#[utoipa::path(
    get,
    path = "/status",
    tag = "status",
    operation_id = "getStatus",
    summary = "Service status",
    description = "No authorisation. 200 when the service and its database answer, 503 otherwise.",
    responses(
        (status = 200, description = "Service and database up", body = wire::Status),
        (status = 503, description = "The database does not answer", body = wire::Status),
    ),
)]
pub async fn status(State(state): State<AppState>) -> (StatusCode, Json<wire::Status>) {
    let (code, status) = probe(&state).await;
    (code, Json(status))
}

/// HEAD /status: the same answer without a body.
#[utoipa::path(
    head,
    path = "/status",
    tag = "status",
    operation_id = "headStatus",
    summary = "Service status, without a body",
    description = "No authorisation. 200 when the service and its database answer, 503 otherwise.",
    responses(
        (status = 200, description = "Service and database up"),
        (status = 503, description = "The database does not answer"),
    ),
)]
pub async fn head_status(State(state): State<AppState>) -> StatusCode {
    probe(&state).await.0
}
