//! `/policies` and `/users/{uuid}/policies`: named ACL lists and their attachment to users.
//! No escalation: a caller may only add or remove ACL entries its own token grants.

use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{authorize, json_object, list_params, query_pairs, Caller, Fields, Segments};
use super::list_json;
use super::schemas as doc;
use super::users::existing_user;
use crate::app::{App, AppState};
use crate::store::{NewPolicy, Policy, StoreError, POLICY_ORDER};

pub fn policy_json(policy: &Policy) -> Value {
    json!({
        "uuid": policy.uuid,
        "tenant_uuid": policy.tenant_uuid,
        "name": policy.name,
        "slug": policy.slug,
        "description": policy.description,
        "acl": policy.acl,
        "read_only": policy.read_only,
        "shared": policy.shared,
    })
}

/// A policy named by uuid or slug, or 404.
async fn existing_policy(app: &App, id: &str) -> Result<Policy, ApiError> {
    app.store
        .get_policy(id)
        .await?
        .ok_or_else(|| ApiError::unknown_policy(id))
}

/// Path value naming a policy: a UUID (canonical form) or a slug; anything else is 404.
fn policy_id(path: &Segments, index: usize) -> Result<String, ApiError> {
    if let Ok(uuid) = path.uuid(index) {
        return Ok(uuid);
    }
    let text = path.text(index)?;
    if valid_slug(text) {
        Ok(text.to_string())
    } else {
        Err(ApiError::not_found())
    }
}

fn valid_slug(slug: &str) -> bool {
    (1..=80).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The slug wazo derives from a name: its `[a-zA-Z0-9_-]` characters, at most 80.
fn slug_from_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(80)
        .collect()
}

/// 401 unless the caller's token grants every entry (negative entries only narrow: allowed).
fn ensure_held(caller: &Caller, entries: &[String]) -> Result<(), ApiError> {
    for entry in entries {
        if !entry.starts_with('!') && !caller.grants(entry) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized-access",
                format!("Unauthorized access: {entry} is not granted to the caller"),
            )
            .details(json!({ "access": entry })));
        }
    }
    Ok(())
}

fn conflict(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(_) => ApiError::conflict(
            "policies",
            json!({"name": {"constraint_id": "unique", "message": "A policy with this name or slug already exists"}}),
        ),
        other => other.into(),
    }
}

fn read_name(fields: &Fields<'_>) -> Result<String, ApiError> {
    fields
        .string("name", 1, 80, false)?
        .ok_or_else(|| ApiError::invalid_data("name", "Missing data for required field."))
}

/// POST /policies
#[utoipa::path(
    post,
    path = "/policies",
    tag = "policies",
    operation_id = "createPolicy",
    summary = "Create a policy",
    description = "Required ACL: `auth.policies.create`\n\n\
        Every ACL entry (other than negative `!` entries) must be granted by the caller's own \
        token, or 401 `unauthorized-access`. Without a `slug`, one is derived from the name.",
    security(("token" = [])),
    params(doc::WazoTenant),
    request_body(content = doc::PolicyCreate, content_type = "application/json"),
    responses(
        (status = 200, description = "The new policy", body = doc::Policy),
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
    let caller = authorize(&app, &headers, "auth.policies.create").await?;
    let body = json_object(body)?;
    let fields = Fields(&body);
    let name = read_name(&fields)?;
    let acl = fields.strings("acl", true)?.unwrap_or_default();
    ensure_held(&caller, &acl)?;
    let slug = match fields.string("slug", 1, 80, true)? {
        Some(slug) if valid_slug(&slug) => slug,
        Some(_) => {
            return Err(ApiError::invalid_data(
                "slug",
                "Must match ^[a-zA-Z0-9_-]+$.",
            ))
        }
        None => {
            let derived = slug_from_name(&name);
            if derived.is_empty() || app.store.get_policy(&derived).await?.is_some() {
                uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
            } else {
                derived
            }
        }
    };
    let new = NewPolicy {
        uuid: uuid::Uuid::new_v4().to_string(),
        tenant_uuid: app.top_tenant.clone(),
        name,
        slug,
        description: fields.string("description", 0, 2048, true)?,
        acl,
        shared: fields.boolean("shared")?.unwrap_or(false),
    };
    app.store.create_policy(&new).await.map_err(conflict)?;
    Ok(Json(policy_json(&existing_policy(&app, &new.uuid).await?)))
}

/// GET /policies
#[utoipa::path(
    get,
    path = "/policies",
    tag = "policies",
    operation_id = "listPolicies",
    summary = "List policies",
    description = "Required ACL: `auth.policies.read`\n\n\
        `order` is one of `name` (default), `slug`, `description`, `uuid`, `read_only`; `search` \
        matches `name`, `slug` and `description`.",
    security(("token" = [])),
    params(doc::WazoTenant, doc::ListQuery, doc::PolicyOrder),
    responses(
        (status = 200, description = "Policies", body = doc::PolicyList),
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
    authorize(&app, &headers, "auth.policies.read").await?;
    let params = list_params(&query_pairs(query.as_deref()), POLICY_ORDER)?;
    let page = app.store.list_policies(&params).await?;
    Ok(list_json(&page, policy_json))
}

/// GET /policies/{uuid}
#[utoipa::path(
    get,
    path = "/policies/{policy_uuid}",
    tag = "policies",
    operation_id = "getPolicy",
    summary = "Get a policy",
    description = "Required ACL: `auth.policies.{policy_uuid}.read`",
    security(("token" = [])),
    params(doc::PolicyUuidPath, doc::WazoTenant),
    responses(
        (status = 200, description = "The policy", body = doc::Policy),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::UnknownPolicy),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn get(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
) -> Result<Json<Value>, ApiError> {
    let id = policy_id(&path, 0)?;
    authorize(
        &app,
        &headers,
        &format!("auth.policies.{}.read", id.replace('.', "_")),
    )
    .await?;
    Ok(Json(policy_json(&existing_policy(&app, &id).await?)))
}

fn refuse_read_only(policy: &Policy) -> Result<(), ApiError> {
    if policy.read_only {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "read-only-policy",
            "This policy is read-only",
        ));
    }
    Ok(())
}

/// PUT /policies/{uuid}: replaces name, description and ACL (the slug stays).
#[utoipa::path(
    put,
    path = "/policies/{policy_uuid}",
    tag = "policies",
    operation_id = "updatePolicy",
    summary = "Update a policy",
    description = "Required ACL: `auth.policies.{policy_uuid}.update`\n\n\
        Replaces name, description and ACL (the slug stays). Every entry added or removed must be \
        granted by the caller's own token, or 401 `unauthorized-access`. A read-only policy is 403.",
    security(("token" = [])),
    params(doc::PolicyUuidPath, doc::WazoTenant),
    request_body(content = doc::PolicyEdit, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated policy", body = doc::Policy),
        (status = 400, response = doc::InvalidData),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::ReadOnlyPolicy),
        (status = 404, response = doc::UnknownPolicy),
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
    let id = policy_id(&path, 0)?;
    let caller = authorize(&app, &headers, &format!("auth.policies.{id}.update")).await?;
    let body = json_object(body)?;
    let fields = Fields(&body);
    let name = read_name(&fields)?;
    let description = fields.string("description", 0, 2048, true)?;
    let acl = fields.strings("acl", true)?.unwrap_or_default();
    let policy = existing_policy(&app, &id).await?;
    refuse_read_only(&policy)?;
    let added: Vec<String> = acl
        .iter()
        .filter(|e| !policy.acl.contains(e))
        .cloned()
        .collect();
    let removed: Vec<String> = policy
        .acl
        .iter()
        .filter(|e| !acl.contains(e))
        .cloned()
        .collect();
    ensure_held(&caller, &added)?;
    ensure_held(&caller, &removed)?;
    app.store
        .update_policy(&policy.uuid, &name, description.as_deref(), &acl)
        .await
        .map_err(conflict)?;
    Ok(Json(policy_json(
        &existing_policy(&app, &policy.uuid).await?,
    )))
}

/// DELETE /policies/{uuid}
#[utoipa::path(
    delete,
    path = "/policies/{policy_uuid}",
    tag = "policies",
    operation_id = "deletePolicy",
    summary = "Delete a policy",
    description = "Required ACL: `auth.policies.{policy_uuid}.delete`\n\n\
        A read-only policy is 403.",
    security(("token" = [])),
    params(doc::PolicyUuidPath, doc::WazoTenant),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::ReadOnlyPolicy),
        (status = 404, response = doc::UnknownPolicy),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn delete(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
) -> Result<StatusCode, ApiError> {
    let id = policy_id(&path, 0)?;
    authorize(&app, &headers, &format!("auth.policies.{id}.delete")).await?;
    let policy = existing_policy(&app, &id).await?;
    refuse_read_only(&policy)?;
    app.store.delete_policy(&policy.uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn edit_acl(
    app: &App,
    headers: &HeaderMap,
    path: &Segments,
    add: bool,
) -> Result<StatusCode, ApiError> {
    let id = policy_id(path, 0)?;
    let access = path.text(1)?.to_string();
    let caller = authorize(app, headers, &format!("auth.policies.{id}.update")).await?;
    let policy = existing_policy(app, &id).await?;
    refuse_read_only(&policy)?;
    ensure_held(&caller, std::slice::from_ref(&access))?;
    app.store
        .edit_policy_acl(&policy.uuid, &access, add)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// PUT /policies/{uuid}/acl/{access}
#[utoipa::path(
    put,
    path = "/policies/{policy_uuid}/acl/{access}",
    tag = "policies",
    operation_id = "addPolicyAccess",
    summary = "Add an ACL entry to a policy",
    description = "Required ACL: `auth.policies.{policy_uuid}.update`\n\n\
        The caller's own token must grant the entry (401 `unauthorized-access` otherwise). A \
        read-only policy is 403.",
    security(("token" = [])),
    params(doc::PolicyUuidPath, doc::AccessPath, doc::WazoTenant),
    responses(
        (status = 204, description = "Added (or already there)"),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::ReadOnlyPolicy),
        (status = 404, response = doc::UnknownPolicy),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn add_access(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
) -> Result<StatusCode, ApiError> {
    edit_acl(&app, &headers, &path, true).await
}

/// DELETE /policies/{uuid}/acl/{access}
#[utoipa::path(
    delete,
    path = "/policies/{policy_uuid}/acl/{access}",
    tag = "policies",
    operation_id = "removePolicyAccess",
    summary = "Remove an ACL entry from a policy",
    description = "Required ACL: `auth.policies.{policy_uuid}.update`\n\n\
        The caller's own token must grant the entry (401 `unauthorized-access` otherwise). A \
        read-only policy is 403.",
    security(("token" = [])),
    params(doc::PolicyUuidPath, doc::AccessPath, doc::WazoTenant),
    responses(
        (status = 204, description = "Removed (or was not there)"),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::ReadOnlyPolicy),
        (status = 404, response = doc::UnknownPolicy),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn remove_access(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
) -> Result<StatusCode, ApiError> {
    edit_acl(&app, &headers, &path, false).await
}

/// GET /users/{uuid}/policies
#[utoipa::path(
    get,
    path = "/users/{user_uuid}/policies",
    tag = "policies",
    operation_id = "listUserPolicies",
    summary = "List a user's policies",
    description = "Required ACL: `auth.users.{user_uuid}.policies.read`\n\n\
        All the user's policies, in order (no paging).",
    security(("token" = [])),
    params(doc::UserUuidPath, doc::WazoTenant),
    responses(
        (status = 200, description = "The user's policies", body = doc::PolicyList),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::UnknownUser),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn list_for_user(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
) -> Result<Json<Value>, ApiError> {
    let user_uuid = path.uuid(0)?;
    authorize(
        &app,
        &headers,
        &format!("auth.users.{user_uuid}.policies.read"),
    )
    .await?;
    existing_user(&app, &user_uuid).await?;
    let policies = app.store.user_policies(&user_uuid).await?;
    Ok(Json(json!({
        "total": policies.len(),
        "filtered": policies.len(),
        "items": policies.iter().map(policy_json).collect::<Vec<_>>(),
    })))
}

/// PUT /users/{uuid}/policies/{policy_uuid}
#[utoipa::path(
    put,
    path = "/users/{user_uuid}/policies/{policy_uuid}",
    tag = "policies",
    operation_id = "attachUserPolicy",
    summary = "Attach a policy to a user",
    description = "Required ACL: `auth.users.{user_uuid}.policies.{policy_uuid}.create`\n\n\
        Attaching hands the policy's ACL to the user: the caller's own token must grant every \
        entry of it (401 `unauthorized-access` otherwise). The user's existing tokens keep their \
        ACL; new tokens get the policy.",
    security(("token" = [])),
    params(doc::UserUuidPath, doc::PolicyUuidPath, doc::WazoTenant),
    responses(
        (status = 204, description = "Attached (or already attached)"),
        (status = 401, response = doc::Unauthorized),
        (status = 404, description = "Unknown user (`unknown-user`) or policy (`unknown-policy`)",
            body = doc::ApiError),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn attach(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
) -> Result<StatusCode, ApiError> {
    let user_uuid = path.uuid(0)?;
    let id = policy_id(&path, 1)?;
    let caller = authorize(
        &app,
        &headers,
        &format!("auth.users.{user_uuid}.policies.{id}.create"),
    )
    .await?;
    existing_user(&app, &user_uuid).await?;
    let policy = existing_policy(&app, &id).await?;
    // Attaching hands the policy's ACL to someone: the caller must hold all of it.
    ensure_held(&caller, &policy.acl)?;
    app.store.attach_policy(&user_uuid, &policy.uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE /users/{uuid}/policies/{policy_uuid}
#[utoipa::path(
    delete,
    path = "/users/{user_uuid}/policies/{policy_uuid}",
    tag = "policies",
    operation_id = "detachUserPolicy",
    summary = "Detach a policy from a user",
    description = "Required ACL: `auth.users.{user_uuid}.policies.{policy_uuid}.delete`",
    security(("token" = [])),
    params(doc::UserUuidPath, doc::PolicyUuidPath, doc::WazoTenant),
    responses(
        (status = 204, description = "Detached (or was not attached)"),
        (status = 401, response = doc::Unauthorized),
        (status = 404, description = "Unknown user (`unknown-user`) or policy (`unknown-policy`)",
            body = doc::ApiError),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn detach(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: Segments,
) -> Result<StatusCode, ApiError> {
    let user_uuid = path.uuid(0)?;
    let id = policy_id(&path, 1)?;
    authorize(
        &app,
        &headers,
        &format!("auth.users.{user_uuid}.policies.{id}.delete"),
    )
    .await?;
    existing_user(&app, &user_uuid).await?;
    let policy = existing_policy(&app, &id).await?;
    app.store.detach_policy(&user_uuid, &policy.uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}
