//! `/users`: create, list, read, update, delete, change password.

use axum::extract::rejection::BytesRejection;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use bytes::Bytes;

use super::body;
use super::error::ApiError;
use super::extract::{list_params, query_pairs, query_value, remote_addr, Caller, Segments};
use super::wire;
use super::AppState;
use crate::domain::users::{UserQuery, USER_FILTERS, USER_ORDER};
use crate::domain::DomainResult;

/// Reads the GET /users query: list parameters and exact filters.
fn user_query(query: Option<&str>) -> DomainResult<UserQuery> {
    let pairs = query_pairs(query);
    Ok(UserQuery {
        params: list_params(&pairs, USER_ORDER)?,
        filters: USER_FILTERS
            .iter()
            .filter_map(|column| {
                query_value(&pairs, column).map(|value| (*column, value.to_string()))
            })
            .collect(),
    })
}

/// POST /users
#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    operation_id = "createUser",
    summary = "Create a user",
    description = "Required ACL: `auth.users.create`\n\n\
        The user joins the top tenant. Usernames and e-mail addresses are unique, \
        case-insensitively, across both (409 on a clash).",
    security(("token" = [])),
    params(wire::WazoTenant),
    request_body(content = wire::UserCreate, content_type = "application/json"),
    responses(
        (status = 200, description = "The new user", body = wire::User),
        (status = 400, response = wire::InvalidData),
        (status = 401, response = wire::Unauthorized),
        (status = 409, response = wire::Conflict),
        (status = 413, response = wire::PayloadTooLarge),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<wire::User>, ApiError> {
    let user = state
        .services()
        .users()
        .create(&actor, body::user_create(body))
        .await?;
    Ok(Json(wire::User::from(&user)))
}

/// GET /users
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    operation_id = "listUsers",
    summary = "List users",
    description = "Required ACL: `auth.users.read`\n\n\
        `order` is one of `username` (default), `firstname`, `lastname`, `uuid`, `purpose`; \
        `search` matches `username`, `firstname`, `lastname` and `uuid` (case-insensitive \
        substring). `uuid`, `username`, `firstname`, `lastname` and `purpose` filter exactly.",
    security(("token" = [])),
    params(wire::WazoTenant, wire::ListQuery, wire::UserOrder, wire::UserFilters),
    responses(
        (status = 200, description = "Users", body = wire::UserList),
        (status = 400, response = wire::InvalidData),
        (status = 401, response = wire::Unauthorized),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<wire::UserList>, ApiError> {
    let query = user_query(query.as_deref());
    let page = state.services().users().list(&actor, query).await?;
    Ok(Json(wire::UserList::of(&page)))
}

/// GET /users/{uuid}
#[utoipa::path(
    get,
    path = "/users/{user_uuid}",
    tag = "users",
    operation_id = "getUser",
    summary = "Get a user",
    description = "Required ACL: `auth.users.{user_uuid}.read`",
    security(("token" = [])),
    params(wire::UserUuidPath, wire::WazoTenant),
    responses(
        (status = 200, description = "The user", body = wire::User),
        (status = 401, response = wire::Unauthorized),
        (status = 404, response = wire::UnknownUser),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
) -> Result<Json<wire::User>, ApiError> {
    let user = state.services().users().get(&actor, &path.uuid(0)?).await?;
    Ok(Json(wire::User::from(&user)))
}

/// PUT /users/{uuid}: sets username, names, purpose, enabled, authentication method (absent
/// fields keep their value).
/// Disabling a user ends its sessions.
#[utoipa::path(
    put,
    path = "/users/{user_uuid}",
    tag = "users",
    operation_id = "updateUser",
    summary = "Update a user",
    description = "Required ACL: `auth.users.{user_uuid}.update`\n\n\
        Sets username, first name, last name, purpose, enabled and authentication method. An \
        absent field keeps its value; a null `username`, `firstname` or `lastname` clears it. \
        E-mail addresses are not changed here. Disabling a user ends its sessions (its refresh \
        tokens are kept).",
    security(("token" = [])),
    params(wire::UserUuidPath, wire::WazoTenant),
    request_body(content = wire::UserEdit, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated user", body = wire::User),
        (status = 400, response = wire::InvalidData),
        (status = 401, response = wire::Unauthorized),
        (status = 404, response = wire::UnknownUser),
        (status = 409, response = wire::Conflict),
        (status = 413, response = wire::PayloadTooLarge),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<wire::User>, ApiError> {
    let uuid = path.uuid(0)?;
    let user = state
        .services()
        .users()
        .update(&actor, &uuid, body::user_edit(body))
        .await?;
    Ok(Json(wire::User::from(&user)))
}

/// DELETE /users/{uuid}
#[utoipa::path(
    delete,
    path = "/users/{user_uuid}",
    tag = "users",
    operation_id = "deleteUser",
    summary = "Delete a user",
    description = "Required ACL: `auth.users.{user_uuid}.delete`\n\n\
        Also deletes the user's refresh tokens.",
    security(("token" = [])),
    params(wire::UserUuidPath, wire::WazoTenant),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = wire::Unauthorized),
        (status = 404, response = wire::UnknownUser),
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
        .users()
        .delete(&actor, &path.uuid(0)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// PUT /users/{uuid}/password: `old_password` must match; ends the user's sessions.
#[utoipa::path(
    put,
    path = "/users/{user_uuid}/password",
    tag = "users",
    operation_id = "changeUserPassword",
    summary = "Change a user's password",
    description = "Required ACL: `auth.users.{user_uuid}.password.update`\n\n\
        `old_password` must match the current password (401 `authentication-failed` otherwise). \
        A wrong `old_password` counts like a failed login of that user from the caller's address: \
        past the brute-force limits the change is held back (429 `too-many-attempts` with \
        `Retry-After`). Ends the user's sessions; its refresh tokens are kept.",
    security(("token" = [])),
    params(wire::UserUuidPath, wire::WazoTenant),
    request_body(content = wire::PasswordChange, content_type = "application/json"),
    responses(
        (status = 204, description = "Password changed"),
        (status = 400, response = wire::InvalidData),
        (status = 401, description = "Unauthorized caller, or wrong `old_password` \
            (`authentication-failed`)", body = wire::ApiError),
        (status = 404, response = wire::UnknownUser),
        (status = 413, response = wire::PayloadTooLarge),
        (status = 429, description = "Too many failed attempts for this user or from this \
            address (`too-many-attempts`); `Retry-After` says when to retry", body = wire::ApiError),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    path: Segments,
    Caller(actor): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let uuid = path.uuid(0)?;
    let address = remote_addr(&headers, peer, state.services().config().num_proxies);
    state
        .services()
        .users()
        .change_password(&actor, &uuid, body::password_change(body), &address)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
