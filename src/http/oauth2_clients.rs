//! `/oauth2/clients`: the administrator's registry of OAuth2 clients (SPEC §11.2), under the API
//! prefixes like every admin endpoint. A client's secret is in the answers that make one only.

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
use crate::domain::oauth2::clients::CLIENT_ORDER;

/// POST /oauth2/clients
#[utoipa::path(
    post,
    path = "/oauth2/clients",
    tag = "oauth2_clients",
    operation_id = "createOAuth2Client",
    summary = "Register an OAuth2 client",
    description = "Required ACL: `auth.oauth2.clients.create`\n\n\
        Tessera chooses the `client_id` (a random UUID) and, for a confidential client, the \
        `client_secret` (256 random bits), which this answer is the only one to show: Tessera \
        keeps a digest. A `client_id`, a `client_secret` or any unknown field in the body is 400. \
        Every entry of `scope` must be held by the caller's own token (for `!x`: `x`), or 401 \
        `unauthorized`. An invalid redirect URI, grant type or name is 400.",
    security(("token" = [])),
    params(wire::WazoTenant),
    request_body(content = wire::OAuth2ClientBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The new client, with its secret when confidential",
            body = wire::OAuth2ClientCreated),
        (status = 400, response = wire::InvalidData),
        (status = 401, response = wire::Unauthorized),
        (status = 413, response = wire::PayloadTooLarge),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<wire::OAuth2ClientCreated>, ApiError> {
    let created = state
        .services()
        .clients()
        .create(&actor, body::client(body))
        .await?;
    Ok(Json(wire::OAuth2ClientCreated::from(&created)))
}

/// GET /oauth2/clients
#[utoipa::path(
    get,
    path = "/oauth2/clients",
    tag = "oauth2_clients",
    operation_id = "listOAuth2Clients",
    summary = "List OAuth2 clients",
    description = "Required ACL: `auth.oauth2.clients.read`\n\n\
        `order` is one of `name` (default), `client_id`, `created_at`; `search` matches `name` \
        and `client_id`. No secret is ever listed.",
    security(("token" = [])),
    params(wire::WazoTenant, wire::ListQuery, wire::OAuth2ClientOrder),
    responses(
        (status = 200, description = "OAuth2 clients", body = wire::OAuth2ClientList),
        (status = 400, response = wire::InvalidData),
        (status = 401, response = wire::Unauthorized),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<wire::OAuth2ClientList>, ApiError> {
    let params = list_params(&query_pairs(query.as_deref()), CLIENT_ORDER);
    let page = state.services().clients().list(&actor, params).await?;
    Ok(Json(wire::OAuth2ClientList::of(&page)))
}

/// GET /oauth2/clients/{client_id}
#[utoipa::path(
    get,
    path = "/oauth2/clients/{client_id}",
    tag = "oauth2_clients",
    operation_id = "getOAuth2Client",
    summary = "Get an OAuth2 client",
    description = "Required ACL: `auth.oauth2.clients.{client_id}.read`\n\nNever its secret.",
    security(("token" = [])),
    params(wire::OAuth2ClientIdPath, wire::WazoTenant),
    responses(
        (status = 200, description = "The client", body = wire::OAuth2Client),
        (status = 401, response = wire::Unauthorized),
        (status = 404, response = wire::UnknownClient),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
) -> Result<Json<wire::OAuth2Client>, ApiError> {
    let client = state
        .services()
        .clients()
        .get(&actor, path.text(0)?)
        .await?;
    Ok(Json(wire::OAuth2Client::from(&client)))
}

/// PUT /oauth2/clients/{client_id}: replaces everything but the id, the type and the secret.
#[utoipa::path(
    put,
    path = "/oauth2/clients/{client_id}",
    tag = "oauth2_clients",
    operation_id = "updateOAuth2Client",
    summary = "Update an OAuth2 client",
    description = "Required ACL: `auth.oauth2.clients.{client_id}.update`\n\n\
        Takes the body of POST /oauth2/clients and replaces every field (an absent list is \
        empty, an absent `consent` is `required`). `type` may be omitted; a different one is \
        400. The secret stays. Every entry of `scope` must be held by the caller's own token. \
        Tokens already issued keep the scope they were granted.",
    security(("token" = [])),
    params(wire::OAuth2ClientIdPath, wire::WazoTenant),
    request_body(content = wire::OAuth2ClientBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated client", body = wire::OAuth2Client),
        (status = 400, response = wire::InvalidData),
        (status = 401, response = wire::Unauthorized),
        (status = 404, response = wire::UnknownClient),
        (status = 413, response = wire::PayloadTooLarge),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<wire::OAuth2Client>, ApiError> {
    let client = state
        .services()
        .clients()
        .update(&actor, path.text(0)?, body::client(body))
        .await?;
    Ok(Json(wire::OAuth2Client::from(&client)))
}

/// DELETE /oauth2/clients/{client_id}
#[utoipa::path(
    delete,
    path = "/oauth2/clients/{client_id}",
    tag = "oauth2_clients",
    operation_id = "deleteOAuth2Client",
    summary = "Delete an OAuth2 client",
    description = "Required ACL: `auth.oauth2.clients.{client_id}.delete`\n\n\
        Ends every token and refresh token of the client, and every session minted from them.",
    security(("token" = [])),
    params(wire::OAuth2ClientIdPath, wire::WazoTenant),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = wire::Unauthorized),
        (status = 404, response = wire::UnknownClient),
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
        .clients()
        .delete(&actor, path.text(0)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST /oauth2/clients/{client_id}/secret
#[utoipa::path(
    post,
    path = "/oauth2/clients/{client_id}/secret",
    tag = "oauth2_clients",
    operation_id = "renewOAuth2ClientSecret",
    summary = "Give an OAuth2 client a new secret",
    description = "Required ACL: `auth.oauth2.clients.{client_id}.update`\n\n\
        The old secret stops working at once; the new one is shown in this answer only. A \
        public client has no secret: 400.",
    security(("token" = [])),
    params(wire::OAuth2ClientIdPath, wire::WazoTenant),
    responses(
        (status = 200, description = "The new secret", body = wire::OAuth2ClientSecret),
        (status = 400, response = wire::InvalidData),
        (status = 401, response = wire::Unauthorized),
        (status = 404, response = wire::UnknownClient),
        (status = 503, response = wire::Unavailable),
    ),
)]
pub async fn new_secret(
    State(state): State<AppState>,
    path: Segments,
    Caller(actor): Caller,
) -> Result<Json<wire::OAuth2ClientSecret>, ApiError> {
    let renewed = state
        .services()
        .clients()
        .new_secret(&actor, path.text(0)?)
        .await?;
    let client_secret = renewed
        .client_secret
        .ok_or_else(|| ApiError::from(crate::domain::DomainError::Internal("no secret".into())))?;
    Ok(Json(wire::OAuth2ClientSecret {
        client_id: renewed.client.client_id,
        client_secret,
    }))
}
