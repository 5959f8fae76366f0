//! `/status`: 200 when the service and its database answer, 503 otherwise.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::app::AppState;

/// HEAD and GET /status
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
