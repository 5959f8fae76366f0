//! `/tokens`, `/users/{uuid}/tokens`, `/users/me/tokens`: list and delete refresh tokens.
//! Items never carry the token value (it is not stored).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{acl_word, authorize, list_params, query_bool, query_pairs, Segments};
use super::list_json;
use super::schemas as doc;
use super::users::existing_user;
use crate::app::{App, AppState};
use crate::auth::token::format_rfc3339;
use crate::store::{RefreshToken, REFRESH_ORDER};

fn refresh_token_json(token: &RefreshToken) -> Value {
    json!({
        "client_id": token.client_id,
        "created_at": format_rfc3339(token.created_at),
        "mobile": token.mobile,
        "user_uuid": token.user_uuid,
        "tenant_uuid": token.tenant_uuid,
        "metadata": {},
    })
}

async fn page(
    app: &App,
    user_uuid: Option<&str>,
    query: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    let pairs = query_pairs(query);
    let params = list_params(&pairs, REFRESH_ORDER)?;
    let mobile = query_bool(&pairs, "mobile")?;
    let page = app
        .store
        .list_refresh_tokens(user_uuid, mobile, &params)
        .await?;
    Ok(list_json(&page, refresh_token_json))
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
    params(doc::WazoTenant, doc::ListQuery, doc::RefreshTokenOrder, doc::MobileFilter),
    responses(
        (status = 200, description = "Refresh tokens", body = doc::RefreshTokenList),
        (status = 400, response = doc::InvalidData),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn list_all(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    authorize(&app, &headers, "auth.tokens.read").await?;
    page(&app, None, query.as_deref()).await
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
    params(doc::UserUuidPath, doc::WazoTenant, doc::ListQuery, doc::RefreshTokenOrder, doc::MobileFilter),
    responses(
        (status = 200, description = "The user's refresh tokens", body = doc::RefreshTokenList),
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
        &format!("auth.users.{user_uuid}.tokens.read"),
    )
    .await?;
    existing_user(&app, &user_uuid).await?;
    page(&app, Some(&user_uuid), query.as_deref()).await
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
    params(doc::WazoTenant, doc::ListQuery, doc::RefreshTokenOrder, doc::MobileFilter),
    responses(
        (status = 200, description = "The caller's refresh tokens", body = doc::RefreshTokenList),
        (status = 400, response = doc::InvalidData),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn list_mine(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let caller = authorize(&app, &headers, "auth.users.me.tokens.read").await?;
    page(&app, Some(caller.user_uuid()), query.as_deref()).await
}

async fn delete_one(app: &App, user_uuid: &str, client_id: &str) -> Result<StatusCode, ApiError> {
    existing_user(app, user_uuid).await?;
    if !app.store.delete_refresh_token(user_uuid, client_id).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "cannot-find-refresh-token-matching-client-id",
            format!("unknown refresh_token for client_id \"{client_id}\""),
        )
        .resource("tokens")
        .details(json!({ "client_id": client_id })));
    }
    Ok(StatusCode::NO_CONTENT)
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
    params(doc::UserUuidPath, doc::ClientIdPath, doc::WazoTenant),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = doc::Unauthorized),
        (status = 404, description = "Unknown user (`unknown-user`), no refresh token for this \
            client_id (`cannot-find-refresh-token-matching-client-id`), or a user_uuid that is not a \
            UUID", body = doc::ApiError),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn delete_for_user(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
) -> Result<StatusCode, ApiError> {
    let user_uuid = path.uuid(0)?;
    let client_id = path.text(1)?;
    authorize(
        &app,
        &headers,
        &format!(
            "auth.users.{user_uuid}.tokens.{}.delete",
            acl_word(client_id)
        ),
    )
    .await?;
    delete_one(&app, &user_uuid, client_id).await
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
    params(doc::ClientIdPath, doc::WazoTenant),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = doc::Unauthorized),
        (status = 404, description = "No refresh token of the caller for this client_id \
            (`cannot-find-refresh-token-matching-client-id`), or the caller's user no longer exists \
            (`unknown-user`)", body = doc::ApiError),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn delete_mine(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
) -> Result<StatusCode, ApiError> {
    let client_id = path.text(0)?;
    let caller = authorize(
        &app,
        &headers,
        &format!("auth.users.me.tokens.{}.delete", acl_word(client_id)),
    )
    .await?;
    delete_one(&app, caller.user_uuid(), client_id).await
}
