//! Probes for orchestrators, at the root (outside the API prefixes), beside the contract's `/status`:
//! `GET /health/live` answers while the process serves HTTP; `GET /health/ready` only while the
//! database answers too (a load balancer stops sending logins to an instance that lost it).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

/// GET /health/live: 200 `{"status": "ok"}`.
pub async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// GET /health/ready: 200 when the database answers, else 503.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.services().database_answers().await {
        (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": {"status": "ok"}})),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "fail", "database": {"status": "fail"}})),
        )
    }
}
