//! The metrics listener's `GET /metrics` (requests are counted by `envelope`).

use axum::extract::State;
use axum::response::IntoResponse;

use super::AppState;

/// GET /metrics on the metrics listener.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        state.services().metrics_text(),
    )
}

/// The metrics listener's whole surface: `GET /metrics`; anything else is 404.
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .with_state(state)
}
