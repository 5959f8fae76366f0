//! The HTTP layer: the whole API under `/0.1` and `/api/auth/0.1`, and its tower layers.

pub mod error;
pub mod extract;
mod harden;
mod health;
mod logging;
pub mod openapi;
mod policies;
mod refresh_tokens;
mod schemas;
mod sessions;
mod status;
pub mod token;
mod users;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, head, post, put};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::app::AppState;
use error::ApiError;

/// Largest request body accepted; POST /token bodies are tiny, user and policy bodies small.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// POST /token bodies hold a few short fields: anything larger is refused before parsing.
const MAX_TOKEN_BODY_BYTES: usize = 8 * 1024;

fn api() -> Router<AppState> {
    Router::new()
        .route(
            "/token",
            post(token::create).layer(DefaultBodyLimit::max(MAX_TOKEN_BODY_BYTES)),
        )
        .route(
            "/token/{token}",
            head(token::check)
                .get(token::describe)
                .delete(token::revoke),
        )
        .route("/token/{token}/scopes/check", post(token::check_scopes))
        .route("/tokens", get(refresh_tokens::list_all))
        .route("/users/me/tokens", get(refresh_tokens::list_mine))
        .route(
            "/users/me/tokens/{client_id}",
            axum::routing::delete(refresh_tokens::delete_mine),
        )
        .route("/users/{uuid}/tokens", get(refresh_tokens::list_for_user))
        .route(
            "/users/{uuid}/tokens/{client_id}",
            axum::routing::delete(refresh_tokens::delete_for_user),
        )
        .route("/sessions", get(sessions::list))
        .route("/sessions/{uuid}", axum::routing::delete(sessions::delete))
        .route("/users/{uuid}/sessions", get(sessions::list_for_user))
        .route(
            "/users/{uuid}/sessions/{session_uuid}",
            axum::routing::delete(sessions::delete_for_user),
        )
        .route("/users", post(users::create).get(users::list))
        .route(
            "/users/{uuid}",
            get(users::get).put(users::update).delete(users::delete),
        )
        .route("/users/{uuid}/password", put(users::change_password))
        .route("/policies", post(policies::create).get(policies::list))
        .route(
            "/policies/{uuid}",
            get(policies::get)
                .put(policies::update)
                .delete(policies::delete),
        )
        .route(
            "/policies/{uuid}/acl/{access}",
            put(policies::add_access).delete(policies::remove_access),
        )
        .route("/users/{uuid}/policies", get(policies::list_for_user))
        .route(
            "/users/{uuid}/policies/{policy_uuid}",
            put(policies::attach).delete(policies::detach),
        )
        .route("/status", get(status::status))
        .route("/api/api.yml", get(openapi::serve))
        .method_not_allowed_fallback(method_not_allowed)
}

/// Every (method, path) that `api()` serves, under both prefixes: the single list the tests hold
/// the router (`openapi::tests`) and the OpenAPI description (`tests/api/openapi.rs`) to.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/token"),
    ("HEAD", "/token/{token}"),
    ("GET", "/token/{token}"),
    ("DELETE", "/token/{token}"),
    ("POST", "/token/{token}/scopes/check"),
    ("GET", "/tokens"),
    ("GET", "/users/me/tokens"),
    ("DELETE", "/users/me/tokens/{client_id}"),
    ("GET", "/users/{uuid}/tokens"),
    ("DELETE", "/users/{uuid}/tokens/{client_id}"),
    ("GET", "/sessions"),
    ("DELETE", "/sessions/{uuid}"),
    ("GET", "/users/{uuid}/sessions"),
    ("DELETE", "/users/{uuid}/sessions/{session_uuid}"),
    ("POST", "/users"),
    ("GET", "/users"),
    ("GET", "/users/{uuid}"),
    ("PUT", "/users/{uuid}"),
    ("DELETE", "/users/{uuid}"),
    ("PUT", "/users/{uuid}/password"),
    ("POST", "/policies"),
    ("GET", "/policies"),
    ("GET", "/policies/{uuid}"),
    ("PUT", "/policies/{uuid}"),
    ("DELETE", "/policies/{uuid}"),
    ("PUT", "/policies/{uuid}/acl/{access}"),
    ("DELETE", "/policies/{uuid}/acl/{access}"),
    ("GET", "/users/{uuid}/policies"),
    ("PUT", "/users/{uuid}/policies/{policy_uuid}"),
    ("DELETE", "/users/{uuid}/policies/{policy_uuid}"),
    ("GET", "/status"),
    // axum answers HEAD on every GET route; the contract names this one.
    ("HEAD", "/status"),
    ("GET", "/api/api.yml"),
];

/// A list answer: `{total, filtered, items}`.
fn list_json<T>(
    page: &crate::store::Page<T>,
    item: fn(&T) -> serde_json::Value,
) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "total": page.total,
        "filtered": page.filtered,
        "items": page.items.iter().map(item).collect::<Vec<_>>(),
    }))
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> impl IntoResponse {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
    )
}

/// The whole service, ready to serve (tests start it on 127.0.0.1:0).
pub fn router(state: AppState) -> Router {
    let cors = cors(&state.config);
    let router = Router::new()
        .nest("/0.1", api())
        .nest("/api/auth/0.1", api())
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(harden::harden))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(logging::request_span))
        // Outermost: the id exists before the span is made, and goes back in the response.
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(
            tower_http::request_id::MakeRequestUuid,
        ))
        .with_state(state);
    // Outside everything, so that preflights are answered before routing.
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// CORS as wazo-auth does it: any (or the configured) origin, the API's methods, and the headers
/// its clients send.
fn cors(config: &crate::config::Config) -> Option<CorsLayer> {
    use axum::http::{header, HeaderName, HeaderValue, Method};
    if !config.cors_enabled {
        return None;
    }
    let origins = config.cors_allow_origins.trim();
    let allow_origin = if origins == "*" {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .split(',')
                .filter_map(|origin| HeaderValue::from_str(origin.trim()).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("x-auth-token"),
                HeaderName::from_static("wazo-tenant"),
                HeaderName::from_static("wazo-session-type"),
            ])
            .expose_headers([HeaderName::from_static("wazo-sessions-revoked")]),
    )
}
