//! `/policies` and `/users/{uuid}/policies`: named ACL lists and their attachment to users.
//! No escalation: a caller may only add or remove ACL entries its own token grants.

use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use bytes::Bytes;

use super::body;
use super::error::ApiError;
use super::extract::{list_params, query_pairs, Caller, Segments};
use super::wire;
use super::AppState;
use crate::domain::policies::POLICY_ORDER;
use crate::domain::Actor;

async fn edit_acl(
    state: &AppState,
    path: &Segments,
    actor: &Actor,
    add: bool,
) -> Result<StatusCode, ApiError> {
    let (segment, access) = (path.text(0)?, path.text(1)?);
    state
        .services()
        .policies()
        .edit_acl(actor, segment, access, add)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST /policies
#[utoipa::path(
    post,
    path = "/policies",
    tag = "policies",
    operation_id = "createPolicy",
    summary = "Create a policy",
    description = "Required ACL: `auth.policies.create`\n\n\
        Every ACL entry must be granted by the caller's own token (for `!x`: `x`), or 401 \
        `unauthorized`. An empty entry or one holding a control character is 400. Without a \
        `slug`, one is derived from the name.",
    security(("token" = [])),
    params(wire::WazoTenant),
    request_body(content = wire::PolicyCreate, content_type = "application/json"),
    responses(
        (status = 200, description = "The new policy", body = wire::Policy),
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
) -> Result<Json<wire::Policy>, ApiError> {
    let policy = state
        .services()
        .policies()
        .create(&actor, body::policy_create(body))
        .await?;
    Ok(Json(wire::Policy::from(&policy)))
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
    params(wire::WazoTenant, wire::ListQuery, wire::PolicyOrder),
    responses(
        (status = 200, description = "Policies", body = wire::PolicyList),
        (status = 400, response = wire::InvalidData),
        (status = 401, response = wire::Unauthorized),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<wire::PolicyList>, ApiError> {
    let params = list_params(&query_pairs(query.as_deref()), POLICY_ORDER);
    let page = state.services().policies().list(&actor, params).await?;
    Ok(Json(wire::PolicyList::of(&page)))
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
    params(wire::PolicyUuidPath, wire::WazoTenant),
    responses(
        (status = 200, description = "The policy", body = wire::Policy),
        (status = 401, response = wire::Unauthorized),
        (status = 404, response = wire::UnknownPolicy),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
) -> Result<Json<wire::Policy>, ApiError> {
    let policy = state
        .services()
        .policies()
        .get(&actor, path.text(0)?)
        .await?;
    Ok(Json(wire::Policy::from(&policy)))
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
        granted by the caller's own token (for `!x`: `x`), or 401 `unauthorized`. An empty entry \
        or one holding a control character is 400. A read-only policy is 403. The policy named \
        by `default_user_policy` keeps its name (409 `policy-in-use`); renaming a policy into \
        that name needs every entry of it held.",
    security(("token" = [])),
    params(wire::PolicyUuidPath, wire::WazoTenant),
    request_body(content = wire::PolicyEdit, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated policy", body = wire::Policy),
        (status = 400, response = wire::InvalidData),
        (status = 401, response = wire::Unauthorized),
        (status = 403, response = wire::ReadOnlyPolicy),
        (status = 404, response = wire::UnknownPolicy),
        (status = 409, description = "A name already in use (`conflict`), or a new name for the \
            policy named by `default_user_policy` (`policy-in-use`)", body = wire::ApiError),
        (status = 413, response = wire::PayloadTooLarge),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<wire::Policy>, ApiError> {
    let policy = state
        .services()
        .policies()
        .update(&actor, path.text(0)?, body::policy_edit(body))
        .await?;
    Ok(Json(wire::Policy::from(&policy)))
}

/// DELETE /policies/{uuid}
#[utoipa::path(
    delete,
    path = "/policies/{policy_uuid}",
    tag = "policies",
    operation_id = "deletePolicy",
    summary = "Delete a policy",
    description = "Required ACL: `auth.policies.{policy_uuid}.delete`\n\n\
        Deleting takes every entry away from the policy's holders: the caller's own token must \
        grant each one (for `!x`: `x`), or 401 `unauthorized`. A read-only policy is 403; the \
        policy named by `default_user_policy` is 409 `policy-in-use`.",
    security(("token" = [])),
    params(wire::PolicyUuidPath, wire::WazoTenant),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = wire::Unauthorized),
        (status = 403, response = wire::ReadOnlyPolicy),
        (status = 404, response = wire::UnknownPolicy),
        (status = 409, response = wire::PolicyInUse),
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
        .policies()
        .delete(&actor, path.text(0)?)
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
        The caller's own token must grant the entry (for `!x`: `x`; 401 `unauthorized` \
        otherwise). An empty entry or one holding a control character is 400. A read-only \
        policy is 403.",
    security(("token" = [])),
    params(wire::PolicyUuidPath, wire::AccessPath, wire::WazoTenant),
    responses(
        (status = 204, description = "Added (or already there)"),
        (status = 400, response = wire::InvalidData),
        (status = 401, response = wire::Unauthorized),
        (status = 403, response = wire::ReadOnlyPolicy),
        (status = 404, response = wire::UnknownPolicy),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn add_access(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
) -> Result<StatusCode, ApiError> {
    edit_acl(&state, &path, &actor, true).await
}

/// DELETE /policies/{uuid}/acl/{access}
#[utoipa::path(
    delete,
    path = "/policies/{policy_uuid}/acl/{access}",
    tag = "policies",
    operation_id = "removePolicyAccess",
    summary = "Remove an ACL entry from a policy",
    description = "Required ACL: `auth.policies.{policy_uuid}.update`\n\n\
        The caller's own token must grant the entry (for `!x`: `x`; 401 `unauthorized` \
        otherwise). A read-only policy is 403.",
    security(("token" = [])),
    params(wire::PolicyUuidPath, wire::AccessPath, wire::WazoTenant),
    responses(
        (status = 204, description = "Removed (or was not there)"),
        (status = 401, response = wire::Unauthorized),
        (status = 403, response = wire::ReadOnlyPolicy),
        (status = 404, response = wire::UnknownPolicy),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn remove_access(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
) -> Result<StatusCode, ApiError> {
    edit_acl(&state, &path, &actor, false).await
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
    params(wire::UserUuidPath, wire::WazoTenant),
    responses(
        (status = 200, description = "The user's policies", body = wire::PolicyList),
        (status = 401, response = wire::Unauthorized),
        (status = 404, response = wire::UnknownUser),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn list_for_user(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
) -> Result<Json<wire::PolicyList>, ApiError> {
    let policies = state
        .services()
        .policies()
        .list_for_user(&actor, &path.uuid(0)?)
        .await?;
    Ok(Json(wire::PolicyList::all(&policies)))
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
        entry of it (for `!x`: `x`, which the attachment takes away; 401 `unauthorized` \
        otherwise). The user's existing tokens keep their \
        ACL; new tokens get the policy.",
    security(("token" = [])),
    params(wire::UserUuidPath, wire::PolicyUuidPath, wire::WazoTenant),
    responses(
        (status = 204, description = "Attached (or already attached)"),
        (status = 401, response = wire::Unauthorized),
        (status = 404, description = "Unknown user (`unknown-user`) or policy (`unknown-policy`)",
            body = wire::ApiError),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn attach(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
) -> Result<StatusCode, ApiError> {
    let (user_uuid, policy) = (path.uuid(0)?, path.text(1)?);
    state
        .services()
        .policies()
        .attach(&actor, &user_uuid, policy)
        .await?;
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
    params(wire::UserUuidPath, wire::PolicyUuidPath, wire::WazoTenant),
    responses(
        (status = 204, description = "Detached (or was not attached)"),
        (status = 401, response = wire::Unauthorized),
        (status = 404, description = "Unknown user (`unknown-user`) or policy (`unknown-policy`)",
            body = wire::ApiError),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn detach(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
) -> Result<StatusCode, ApiError> {
    let (user_uuid, policy) = (path.uuid(0)?, path.text(1)?);
    state
        .services()
        .policies()
        .detach(&actor, &user_uuid, policy)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
