//! `/sessions` and `/users/{uuid}/sessions`: list and end sessions.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;

use super::error::ApiError;
use super::extract::{list_params, query_pairs, Caller, Segments};
use super::wire;
use super::AppState;
use crate::domain::sessions::SESSION_ORDER;

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
    params(wire::WazoTenant, wire::ListQuery, wire::SessionOrder),
    responses(
        (status = 200, description = "Sessions", body = wire::SessionList),
        (status = 400, response = wire::InvalidData),
        (status = 401, response = wire::Unauthorized),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<wire::SessionList>, ApiError> {
    let params = list_params(&query_pairs(query.as_deref()), SESSION_ORDER);
    let page = state.services().sessions().list(&actor, params).await?;
    Ok(Json(wire::SessionList::of(&page)))
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
    params(wire::SessionUuidPath, wire::WazoTenant),
    responses(
        (status = 204, description = "Ended (or never existed)"),
        (status = 401, response = wire::Unauthorized),
        (status = 404, response = wire::NotFound),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
) -> Result<StatusCode, ApiError> {
    state
        .services()
        .sessions()
        .delete(&actor, &path.uuid(0)?)
        .await?;
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
    params(wire::UserUuidPath, wire::WazoTenant, wire::ListQuery, wire::SessionOrder),
    responses(
        (status = 200, description = "The user's sessions", body = wire::SessionList),
        (status = 400, response = wire::InvalidData),
        (status = 401, response = wire::Unauthorized),
        (status = 404, response = wire::UnknownUser),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn list_for_user(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<wire::SessionList>, ApiError> {
    let user_uuid = path.uuid(0)?;
    let params = list_params(&query_pairs(query.as_deref()), SESSION_ORDER);
    let page = state
        .services()
        .sessions()
        .list_for_user(&actor, &user_uuid, params)
        .await?;
    Ok(Json(wire::SessionList::of(&page)))
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
    params(wire::UserUuidPath, wire::SessionUuidPath, wire::WazoTenant),
    responses(
        (status = 204, description = "Ended (or never existed)"),
        (status = 401, response = wire::Unauthorized),
        (status = 404, response = wire::UnknownUser),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn delete_for_user(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
) -> Result<StatusCode, ApiError> {
    let (user_uuid, session_uuid) = (path.uuid(0)?, path.uuid(1)?);
    state
        .services()
        .sessions()
        .delete_for_user(&actor, &user_uuid, &session_uuid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
