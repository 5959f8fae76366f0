//! `/status`: 200 when the service and its database answer, 503 otherwise.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::schemas as doc;
use crate::app::AppState;

/// HEAD and GET /status
#[utoipa::path(
    get,
    path = "/status",
    tag = "status",
    operation_id = "getStatus",
    summary = "Service status",
    description = "No authorisation. 200 when the service and its database answer, 503 otherwise.",
    responses(
        (status = 200, description = "Service and database up", body = doc::Status),
        (status = 503, description = "The database does not answer", body = doc::Status),
    ),
)]
pub async fn status(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    if app.store.ping().await {
        (
            StatusCode::OK,
            Json(json!({"rest_api": {"status": "ok"}, "database": {"status": "ok"}})),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"rest_api": {"status": "ok"}, "database": {"status": "fail"}})),
        )
    }
}
