//! `/tokens`, `/users/{uuid}/tokens`, `/users/me/tokens`: list and delete refresh tokens.
//! Items never carry the token value (it is not stored).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;

use super::error::ApiError;
use super::extract::{list_params, query_bool, query_pairs, Caller, Segments};
use super::wire;
use super::AppState;
use crate::domain::refresh_tokens::{RefreshTokenQuery, REFRESH_ORDER};
use crate::domain::DomainResult;

/// Reads a refresh-token list query: list parameters and the `mobile` filter.
fn refresh_query(query: Option<&str>) -> DomainResult<RefreshTokenQuery> {
    let pairs = query_pairs(query);
    Ok(RefreshTokenQuery {
        params: list_params(&pairs, REFRESH_ORDER)?,
        mobile: query_bool(&pairs, "mobile")?,
    })
}

/// GET /tokens
#[utoipa::path(
    get,
    path = "/tokens",
    tag = "refresh_tokens",
    operation_id = "listRefreshTokens",
    summary = "List every refresh token",
    description = "Required ACL: `auth.tokens.read`\n\n\
        Items never carry the refresh token value. `order` is one of `created_at` (default), \
        `client_id`, `mobile`; `search` matches `client_id`.",
    security(("token" = [])),
    params(wire::WazoTenant, wire::ListQuery, wire::RefreshTokenOrder, wire::MobileFilter),
    responses(
        (status = 200, description = "Refresh tokens", body = wire::RefreshTokenList),
        (status = 400, response = wire::InvalidData),
        (status = 401, response = wire::Unauthorized),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn list_all(
    State(state): State<AppState>,
    Caller(actor): Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<wire::RefreshTokenList>, ApiError> {
    let query = refresh_query(query.as_deref());
    let page = state
        .services()
        .refresh_tokens()
        .list_all(&actor, query)
        .await?;
    Ok(Json(wire::RefreshTokenList::of(&page)))
}

/// GET /users/{uuid}/tokens
#[utoipa::path(
    get,
    path = "/users/{user_uuid}/tokens",
    tag = "refresh_tokens",
    operation_id = "listUserRefreshTokens",
    summary = "List a user's refresh tokens",
    description = "Required ACL: `auth.users.{user_uuid}.tokens.read`\n\n\
        Same parameters and items as GET /tokens, restricted to the user.",
    security(("token" = [])),
    params(wire::UserUuidPath, wire::WazoTenant, wire::ListQuery, wire::RefreshTokenOrder, wire::MobileFilter),
    responses(
        (status = 200, description = "The user's refresh tokens", body = wire::RefreshTokenList),
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
) -> Result<Json<wire::RefreshTokenList>, ApiError> {
    let user_uuid = path.uuid(0)?;
    let query = refresh_query(query.as_deref());
    let page = state
        .services()
        .refresh_tokens()
        .list_for_user(&actor, &user_uuid, query)
        .await?;
    Ok(Json(wire::RefreshTokenList::of(&page)))
}

/// GET /users/me/tokens
#[utoipa::path(
    get,
    path = "/users/me/tokens",
    tag = "refresh_tokens",
    operation_id = "listMyRefreshTokens",
    summary = "List the caller's own refresh tokens",
    description = "Required ACL: `auth.users.me.tokens.read`\n\n\
        Same parameters and items as GET /tokens, restricted to the caller's user.",
    security(("token" = [])),
    params(wire::WazoTenant, wire::ListQuery, wire::RefreshTokenOrder, wire::MobileFilter),
    responses(
        (status = 200, description = "The caller's refresh tokens", body = wire::RefreshTokenList),
        (status = 400, response = wire::InvalidData),
        (status = 401, response = wire::Unauthorized),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn list_mine(
    State(state): State<AppState>,
    Caller(actor): Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<wire::RefreshTokenList>, ApiError> {
    let query = refresh_query(query.as_deref());
    let page = state
        .services()
        .refresh_tokens()
        .list_mine(&actor, query)
        .await?;
    Ok(Json(wire::RefreshTokenList::of(&page)))
}

/// DELETE /users/{uuid}/tokens/{client_id}
#[utoipa::path(
    delete,
    path = "/users/{user_uuid}/tokens/{client_id}",
    tag = "refresh_tokens",
    operation_id = "deleteUserRefreshToken",
    summary = "Delete one of a user's refresh tokens",
    description = "Required ACL: `auth.users.{user_uuid}.tokens.{client_id}.delete`\n\n\
        (With every `.` of the client_id replaced by `_`: client_id `my.app` requires \
        `auth.users.<uuid>.tokens.my_app.delete`.)",
    security(("token" = [])),
    params(wire::UserUuidPath, wire::ClientIdPath, wire::WazoTenant),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = wire::Unauthorized),
        (status = 404, description = "Unknown user (`unknown-user`), no refresh token for this \
            client_id (`cannot-find-refresh-token-matching-client-id`), or a user_uuid that is not a \
            UUID", body = wire::ApiError),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn delete_for_user(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
) -> Result<StatusCode, ApiError> {
    let (user_uuid, client_id) = (path.uuid(0)?, path.text(1)?);
    state
        .services()
        .refresh_tokens()
        .delete_for_user(&actor, &user_uuid, client_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE /users/me/tokens/{client_id}
#[utoipa::path(
    delete,
    path = "/users/me/tokens/{client_id}",
    tag = "refresh_tokens",
    operation_id = "deleteMyRefreshToken",
    summary = "Delete one of the caller's own refresh tokens",
    description = "Required ACL: `auth.users.me.tokens.{client_id}.delete`",
    security(("token" = [])),
    params(wire::ClientIdPath, wire::WazoTenant),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = wire::Unauthorized),
        (status = 404, description = "No refresh token of the caller for this client_id \
            (`cannot-find-refresh-token-matching-client-id`), or the caller's user no longer exists \
            (`unknown-user`)", body = wire::ApiError),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn delete_mine(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
) -> Result<StatusCode, ApiError> {
    let client_id = path.text(0)?;
    state
        .services()
        .refresh_tokens()
        .delete_mine(&actor, client_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
