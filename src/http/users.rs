//! `/users`: create, list, read, update, delete, change password.

use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{
    authorize, json_object, list_params, query_pairs, query_value, Fields, Segments,
};
use super::list_json;
use super::schemas as doc;
use crate::app::{App, AppState};
use crate::auth::password::MAX_PASSWORD_BYTES;
use crate::cache::Invalidation;
use crate::store::{NewUser, StoreError, User, UserUpdate, USER_FILTERS, USER_ORDER};

const PURPOSES: &[&str] = &["user", "internal", "external_api"];
const AUTHENTICATION_METHODS: &[&str] = &["default", "native", "ldap", "saml"];

pub fn user_json(user: &User) -> Value {
    json!({
        "uuid": user.uuid,
        "username": user.username,
        "firstname": user.firstname,
        "lastname": user.lastname,
        "emails": user.emails.iter().map(|e| json!({
            "uuid": e.uuid,
            "address": e.address,
            "main": e.main,
            "confirmed": e.confirmed,
        })).collect::<Vec<_>>(),
        "enabled": user.enabled,
        "purpose": user.purpose,
        "tenant_uuid": user.tenant_uuid,
        "authentication_method": user.authentication_method,
    })
}

/// The user named in the path, or 404 `unknown-user`.
pub async fn existing_user(app: &App, uuid: &str) -> Result<User, ApiError> {
    app.store
        .get_user(uuid)
        .await?
        .ok_or_else(|| ApiError::unknown_user(uuid))
}

fn conflict(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(constraint) => {
            let field = if constraint.contains("email") {
                "email_address"
            } else if constraint.contains("username") {
                "username"
            } else {
                "uuid"
            };
            ApiError::conflict(
                "users",
                json!({ field: {"constraint_id": "unique", "message": format!("The {field} is already in use")} }),
            )
        }
        other => other.into(),
    }
}

/// Refuses a login that would clash with another user's username or e-mail (any case).
async fn ensure_login_free(
    app: &App,
    login: Option<&str>,
    field: &str,
    except: Option<&str>,
) -> Result<(), ApiError> {
    let Some(login) = login else { return Ok(()) };
    let taken = app
        .store
        .find_login_owner(login)
        .await?
        .is_some_and(|owner| Some(owner.as_str()) != except);
    if taken {
        return Err(ApiError::conflict(
            "users",
            json!({ field: {"constraint_id": "unique", "message": format!("The {field} is already in use")} }),
        ));
    }
    Ok(())
}

/// Passwords are limited in bytes, as POST /token checks them before hashing.
fn password_within_limit(field: &str, password: String) -> Result<String, ApiError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid_data(
            field,
            format!("Longer than {MAX_PASSWORD_BYTES} bytes."),
        ));
    }
    Ok(password)
}

fn email_address(fields: &Fields<'_>) -> Result<Option<String>, ApiError> {
    let address = fields.string("email_address", 3, 320, true)?;
    match address {
        Some(a) if !a.contains('@') || a.chars().any(char::is_whitespace) => Err(
            ApiError::invalid_data("email_address", "Not a valid email address."),
        ),
        other => Ok(other),
    }
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
    params(doc::WazoTenant),
    request_body(content = doc::UserCreate, content_type = "application/json"),
    responses(
        (status = 200, description = "The new user", body = doc::User),
        (status = 400, response = doc::InvalidData),
        (status = 401, response = doc::Unauthorized),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn create(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    authorize(&app, &headers, "auth.users.create").await?;
    let body = json_object(body)?;
    let fields = Fields(&body);
    let uuid = match fields.string("uuid", 1, 64, true)? {
        Some(s) => uuid::Uuid::parse_str(&s)
            .map_err(|_| ApiError::invalid_data("uuid", "Not a valid UUID."))?
            .hyphenated()
            .to_string(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let username = fields.string("username", 1, 256, true)?;
    let password = fields
        .string("password", 1, MAX_PASSWORD_BYTES, true)?
        .map(|p| password_within_limit("password", p))
        .transpose()?;
    let email_address = email_address(&fields)?;
    let new = NewUser {
        uuid,
        tenant_uuid: app.top_tenant.clone(),
        firstname: fields.string("firstname", 0, 128, true)?,
        lastname: fields.string("lastname", 0, 128, true)?,
        purpose: fields
            .choice("purpose", PURPOSES)?
            .unwrap_or_else(|| "user".into()),
        enabled: fields.boolean("enabled")?.unwrap_or(true),
        authentication_method: fields
            .choice("authentication_method", AUTHENTICATION_METHODS)?
            .unwrap_or_else(|| "default".into()),
        password_hash: match &password {
            Some(password) => Some(app.hasher.hash(password).await?),
            None => None,
        },
        username,
        email_address,
        created_at: app.clock.now_micros(),
    };
    ensure_login_free(&app, new.username.as_deref(), "username", None).await?;
    ensure_login_free(&app, new.email_address.as_deref(), "email_address", None).await?;
    app.store.create_user(&new).await.map_err(conflict)?;
    let user = existing_user(&app, &new.uuid).await?;
    Ok(Json(user_json(&user)))
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
    params(doc::WazoTenant, doc::ListQuery, doc::UserOrder, doc::UserFilters),
    responses(
        (status = 200, description = "Users", body = doc::UserList),
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
    authorize(&app, &headers, "auth.users.read").await?;
    let pairs = query_pairs(query.as_deref());
    let params = list_params(&pairs, USER_ORDER)?;
    let filters: Vec<(&str, &str)> = USER_FILTERS
        .iter()
        .filter_map(|column| query_value(&pairs, column).map(|value| (*column, value)))
        .collect();
    let page = app.store.list_users(&filters, &params).await?;
    Ok(list_json(&page, user_json))
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
    params(doc::UserUuidPath, doc::WazoTenant),
    responses(
        (status = 200, description = "The user", body = doc::User),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::UnknownUser),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn get(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
) -> Result<Json<Value>, ApiError> {
    let uuid = path.uuid(0)?;
    authorize(&app, &headers, &format!("auth.users.{uuid}.read")).await?;
    Ok(Json(user_json(&existing_user(&app, &uuid).await?)))
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
    params(doc::UserUuidPath, doc::WazoTenant),
    request_body(content = doc::UserEdit, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated user", body = doc::User),
        (status = 400, response = doc::InvalidData),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::UnknownUser),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn update(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let uuid = path.uuid(0)?;
    authorize(&app, &headers, &format!("auth.users.{uuid}.update")).await?;
    let body = json_object(body)?;
    let fields = Fields(&body);
    let current = existing_user(&app, &uuid).await?;
    // An absent field keeps its value; an explicit null clears it.
    let text = |key: &str, min: usize, current: Option<String>| -> Result<_, ApiError> {
        if body.contains_key(key) {
            fields.string(key, min, if key == "username" { 256 } else { 128 }, true)
        } else {
            Ok(current)
        }
    };
    let update = UserUpdate {
        username: text("username", 1, current.username)?,
        firstname: text("firstname", 0, current.firstname)?,
        lastname: text("lastname", 0, current.lastname)?,
        purpose: fields
            .choice("purpose", PURPOSES)?
            .unwrap_or(current.purpose),
        enabled: fields.boolean("enabled")?.unwrap_or(current.enabled),
        authentication_method: fields
            .choice("authentication_method", AUTHENTICATION_METHODS)?
            .unwrap_or(current.authentication_method),
    };
    ensure_login_free(&app, update.username.as_deref(), "username", Some(&uuid)).await?;
    if !app
        .store
        .update_user(&uuid, &update)
        .await
        .map_err(conflict)?
    {
        return Err(ApiError::unknown_user(&uuid));
    }
    app.invalidate(Invalidation::User(uuid.clone())).await;
    Ok(Json(user_json(&existing_user(&app, &uuid).await?)))
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
    params(doc::UserUuidPath, doc::WazoTenant),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::UnknownUser),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn delete(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
) -> Result<StatusCode, ApiError> {
    let uuid = path.uuid(0)?;
    authorize(&app, &headers, &format!("auth.users.{uuid}.delete")).await?;
    if !app.store.delete_user(&uuid).await? {
        return Err(ApiError::unknown_user(&uuid));
    }
    app.invalidate(Invalidation::User(uuid)).await;
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
        Ends the user's sessions; its refresh tokens are kept.",
    security(("token" = [])),
    params(doc::UserUuidPath, doc::WazoTenant),
    request_body(content = doc::PasswordChange, content_type = "application/json"),
    responses(
        (status = 204, description = "Password changed"),
        (status = 400, response = doc::InvalidData),
        (status = 401, description = "Unauthorized caller, or wrong `old_password` \
            (`authentication-failed`)", body = doc::ApiError),
        (status = 404, response = doc::UnknownUser),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn change_password(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let uuid = path.uuid(0)?;
    authorize(
        &app,
        &headers,
        &format!("auth.users.{uuid}.password.update"),
    )
    .await?;
    let body = json_object(body)?;
    let fields = Fields(&body);
    let required = |key: &str| -> Result<String, ApiError> {
        fields
            .string(key, 1, MAX_PASSWORD_BYTES, false)?
            .map(|p| password_within_limit(key, p))
            .transpose()?
            .ok_or_else(|| ApiError::invalid_data(key, "Missing data for required field."))
    };
    let old_password = required("old_password")?;
    let new_password = required("new_password")?;
    let user = existing_user(&app, &uuid).await?;
    if !app
        .hasher
        .verify(&old_password, user.password_hash.as_deref())
        .await?
    {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication-failed",
            "Authentication Failed",
        ));
    }
    let hash = app.hasher.hash(&new_password).await?;
    app.store.set_password(&uuid, &hash).await?;
    app.invalidate(Invalidation::User(uuid)).await;
    Ok(StatusCode::NO_CONTENT)
}
