//! `/sessions` and `/users/{uuid}/sessions`: list and end sessions.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{authorize, list_params, query_pairs, Segments};
use super::list_json;
use super::schemas as doc;
use super::users::existing_user;
use crate::app::{App, AppState};
use crate::auth::token::format_rfc3339;
use crate::cache::Invalidation;
use crate::store::{Session, SESSION_ORDER};

fn session_json(session: &Session) -> Value {
    json!({
        "uuid": session.uuid,
        "mobile": session.mobile,
        "user_uuid": session.user_uuid,
        "tenant_uuid": session.tenant_uuid,
        "created_at": format_rfc3339(session.created_at),
        "user_agent": session.user_agent,
        "remote_addr": session.remote_addr,
        "client_id": session.client_id,
    })
}

async fn page(
    app: &App,
    user_uuid: Option<&str>,
    query: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    let params = list_params(&query_pairs(query), SESSION_ORDER)?;
    let page = app.store.list_sessions(user_uuid, &params).await?;
    Ok(list_json(&page, session_json))
}

/// GET /sessions
#[utoipa::path(
    get,
    path = "/sessions",
    tag = "sessions",
    operation_id = "listSessions",
    summary = "List sessions",
    description = "Required ACL: `auth.sessions.read`\n\n\
        `order` is one of `created_at` (default), `mobile`, `uuid`, `user_uuid`; `search` matches \
        `user_agent`, `remote_addr` and `client_id`.",
    security(("token" = [])),
    params(doc::WazoTenant, doc::ListQuery, doc::SessionOrder),
    responses(
        (status = 200, description = "Sessions", body = doc::SessionList),
        (status = 400, response = doc::InvalidData),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    authorize(&app, &headers, "auth.sessions.read").await?;
    page(&app, None, query.as_deref()).await
}

/// DELETE /sessions/{uuid}: 204, idempotent.
#[utoipa::path(
    delete,
    path = "/sessions/{session_uuid}",
    tag = "sessions",
    operation_id = "deleteSession",
    summary = "End a session and its tokens",
    description = "Required ACL: `auth.sessions.{session_uuid}.delete`\n\n\
        Idempotent: 204 for an unknown session too.",
    security(("token" = [])),
    params(doc::SessionUuidPath, doc::WazoTenant),
    responses(
        (status = 204, description = "Ended (or never existed)"),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn delete(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
) -> Result<StatusCode, ApiError> {
    let uuid = path.uuid(0)?;
    authorize(&app, &headers, &format!("auth.sessions.{uuid}.delete")).await?;
    app.store.delete_session(&uuid, None).await?;
    app.invalidate(Invalidation::Session(uuid)).await;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /users/{uuid}/sessions
#[utoipa::path(
    get,
    path = "/users/{user_uuid}/sessions",
    tag = "sessions",
    operation_id = "listUserSessions",
    summary = "List a user's sessions",
    description = "Required ACL: `auth.users.{user_uuid}.sessions.read`\n\n\
        Same parameters as GET /sessions, restricted to the user.",
    security(("token" = [])),
    params(doc::UserUuidPath, doc::WazoTenant, doc::ListQuery, doc::SessionOrder),
    responses(
        (status = 200, description = "The user's sessions", body = doc::SessionList),
        (status = 400, response = doc::InvalidData),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::UnknownUser),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn list_for_user(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let user_uuid = path.uuid(0)?;
    authorize(
        &app,
        &headers,
        &format!("auth.users.{user_uuid}.sessions.read"),
    )
    .await?;
    existing_user(&app, &user_uuid).await?;
    page(&app, Some(&user_uuid), query.as_deref()).await
}

/// DELETE /users/{uuid}/sessions/{session_uuid}: 204, idempotent.
#[utoipa::path(
    delete,
    path = "/users/{user_uuid}/sessions/{session_uuid}",
    tag = "sessions",
    operation_id = "deleteUserSession",
    summary = "End one of a user's sessions",
    description = "Required ACL: `auth.users.{user_uuid}.sessions.{session_uuid}.delete`\n\n\
        Idempotent for an unknown session (204); an unknown user is 404.",
    security(("token" = [])),
    params(doc::UserUuidPath, doc::SessionUuidPath, doc::WazoTenant),
    responses(
        (status = 204, description = "Ended (or never existed)"),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::UnknownUser),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn delete_for_user(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
) -> Result<StatusCode, ApiError> {
    let user_uuid = path.uuid(0)?;
    let session_uuid = path.uuid(1)?;
    authorize(
        &app,
        &headers,
        &format!("auth.users.{user_uuid}.sessions.{session_uuid}.delete"),
    )
    .await?;
    existing_user(&app, &user_uuid).await?;
    app.store
        .delete_session(&session_uuid, Some(&user_uuid))
        .await?;
    app.invalidate(Invalidation::Session(session_uuid)).await;
    Ok(StatusCode::NO_CONTENT)
}
