//! `/token`: issue (password or refresh-token grant), validate, describe, revoke, check scopes.

use std::net::SocketAddr;

use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;

use super::error::{ApiError, TokenError};
use super::extract::{basic_credentials, header_text, remote_addr, user_agent, Segments};
use super::read::{self, body_rejection};
use super::wire;
use super::AppState;
use crate::domain::tokens::{ClientContext, TokenRequest};
use crate::domain::{DomainError, DomainResult};

/// Content types whose body POST /token reads as JSON.
fn readable_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime.is_empty()
        || mime == "application/json"
        || mime.ends_with("+json")
        || mime == "text/plain"
        || mime == "application/octet-stream"
        || mime == "application/x-www-form-urlencoded"
}

/// POST /token
#[utoipa::path(
    post,
    path = "/token",
    tag = "token",
    operation_id = "createToken",
    summary = "Create an access token",
    description = "Password grant: send `Authorization: Basic base64(login:password)`; the login \
        matches a user's username or a confirmed e-mail address, case-insensitively. With \
        `access_type: offline` and a `client_id`, a refresh token is also created (at most one per \
        user and client_id: a second non-mobile offline login returns the same value) and returned \
        in `refresh_token`. An offline login may carry `scope` (ACL entries): every access token \
        minted under the refresh token then grants only what both the user's ACL and the scope \
        grant (a second offline login sets the scope anew; absent: unlimited).\n\n\
        Refresh-token grant: send `{\"refresh_token\": R, \"client_id\": C}` without credentials \
        (when both are in the body this grant is used even if Basic credentials are sent). A \
        `scope` narrows this one access token; an entry the refresh token's scope does not cover \
        is 400 `invalid_scope`. The response has no `refresh_token` field, unless \
        `refresh_token_rotation` is on: then it carries the new value, which supersedes R (R \
        presented again after `refresh_token_reuse_grace` seconds revokes the whole chain and its \
        sessions: 401). An expired refresh token (`refresh_token_idle_lifetime`, \
        `refresh_token_max_lifetime`) is 401 like an unknown one.\n\n\
        The body is read as JSON when the Content-Type is JSON, absent, `text/plain`, \
        `application/octet-stream` or `application/x-www-form-urlencoded`; `null`, `{}` and `[]` \
        count as an empty object; unknown keys are ignored; a missing, empty or unparsable body is \
        400.\n\n\
        Every authentication failure is 401 `Authentication Failed`, whatever its cause. A user of \
        purpose `user` or `external_api` already holding `max_user_concurrent_sessions` live \
        sessions gets 429.",
    security(("basic" = []), ()),
    params(wire::WazoSessionType),
    request_body(content = wire::TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The new access token (200, not 201)", body = wire::Token,
            headers(("Wazo-Sessions-Revoked" = u32, description = "Number of sessions this login \
                ended (normally 0; a mobile offline login may end some)")),
            links(
                ("checkToken" = (operation_id = "checkToken",
                    parameters(("token" = "$response.body#/data/token")))),
                ("getToken" = (operation_id = "getToken",
                    parameters(("token" = "$response.body#/data/token")))),
                ("checkTokenScopes" = (operation_id = "checkTokenScopes",
                    parameters(("token" = "$response.body#/data/token")))),
                ("revokeToken" = (operation_id = "revokeToken",
                    parameters(("token" = "$response.body#/data/token")))),
            )),
        (status = 400, description = "Invalid body or field; the reason `invalid_scope` when a \
            refresh grant asks for a `scope` its refresh token does not cover",
            body = wire::TokenError),
        (status = 401, description = "Authentication failed (same reason for every cause)",
            body = wire::TokenError),
        (status = 413, description = "Request body too large", body = wire::TokenError),
        (status = 429, description = "The user has too many live sessions", body = wire::TokenError),
        (status = 503, response = wire::TokenUnavailable),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, TokenError> {
    let request = token_request(&state, peer, &headers, body);
    let issued = state.services().tokens().create(request).await?;
    let mut response = Json(wire::Token {
        data: wire::TokenData::from(&issued.view),
    })
    .into_response();
    response.headers_mut().insert(
        "wazo-sessions-revoked",
        HeaderValue::from(issued.sessions_revoked),
    );
    Ok(response)
}

/// Reads a POST /token request: the body, Basic credentials, and where it comes from.
fn token_request(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> DomainResult<TokenRequest> {
    let body = body.map_err(body_rejection)?;
    if !readable_content_type(headers) {
        return Err(DomainError::BadRequest(
            "Unsupported Content-Type: send JSON".into(),
        ));
    }
    let body = read::token_request(&body)?;
    let num_proxies = state.services().config().num_proxies;
    Ok(TokenRequest {
        credentials: basic_credentials(headers),
        expiration: body.expiration,
        offline: body.offline(),
        client_id: body.client_id,
        refresh_token: body.refresh_token,
        scope: body.scope,
        client: ClientContext {
            remote_addr: remote_addr(headers, peer, num_proxies),
            user_agent: user_agent(headers),
            mobile: header_text(headers, "wazo-session-type")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("mobile")),
        },
    })
}

/// The `{token}` path segment; an undecodable one is a token that does not exist.
fn token_in_path(path: Result<Segments, ApiError>) -> Result<String, TokenError> {
    path.ok()
        .and_then(|segments| segments.0.into_iter().next())
        .ok_or(TokenError::from(DomainError::NoSuchToken))
}

/// `?scope=` and `?tenant=` of HEAD and GET, as sent: a malformed value (a NUL byte, …) is
/// never dropped, so that it is refused rather than ignored.
fn validation_query(query: Option<&str>) -> (Option<String>, Option<String>) {
    let pairs: Vec<(String, String)> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let last = |key: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    (last("scope"), last("tenant"))
}

/// HEAD /token/{token}
#[utoipa::path(
    head,
    path = "/token/{token}",
    tag = "token",
    operation_id = "checkToken",
    summary = "Validate a token",
    description = "No authorisation: holding the token is enough. Checked in this order: unknown or \
        expired token (refresh tokens included) → 404; `scope` given and not granted by the \
        token (its ACL, within the scope of the refresh token it was minted under) → 403; \
        `tenant` given and not the token's tenant → 403. As a HEAD response, no body is sent.",
    params(wire::TokenPath, wire::ValidationQuery),
    responses(
        (status = 204, description = "The token is valid (for the scope and tenant, when given)"),
        (status = 403, description = "The token does not grant the scope, or belongs to another tenant"),
        (status = 404, description = "No such token, or expired"),
        (status = 503, description = "The database does not answer"),
    ),
)]
pub async fn check(
    State(state): State<AppState>,
    path: Result<Segments, ApiError>,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, TokenError> {
    let value = token_in_path(path)?;
    let (scope, tenant) = validation_query(query.as_deref());
    state
        .services()
        .tokens()
        .check(&value, scope.as_deref(), tenant.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /token/{token}
#[utoipa::path(
    get,
    path = "/token/{token}",
    tag = "token",
    operation_id = "getToken",
    summary = "Validate and describe a token",
    description = "No authorisation: holding the token is enough. Same checks as HEAD (404, then \
        scope 403, then tenant 403). The body has the same fields as POST /token, without \
        `refresh_token`.",
    params(wire::TokenPath, wire::ValidationQuery),
    responses(
        (status = 200, description = "The token", body = wire::Token),
        (status = 403, description = "The token does not grant the scope, or belongs to another tenant",
            body = wire::TokenError),
        (status = 404, response = wire::NoSuchToken),
        (status = 503, response = wire::TokenUnavailable),
    ),
)]
pub async fn describe(
    State(state): State<AppState>,
    path: Result<Segments, ApiError>,
    RawQuery(query): RawQuery,
) -> Result<Json<wire::Token>, TokenError> {
    let value = token_in_path(path)?;
    let (scope, tenant) = validation_query(query.as_deref());
    let view = state
        .services()
        .tokens()
        .validate(&value, scope.as_deref(), tenant.as_deref())
        .await?;
    Ok(Json(wire::Token {
        data: wire::TokenData::from(&view),
    }))
}

/// DELETE /token/{token}: always a success, known token or not.
#[utoipa::path(
    delete,
    path = "/token/{token}",
    tag = "token",
    operation_id = "revokeToken",
    summary = "Revoke a token",
    description = "No authorisation. Ends an access token's session, or revokes a refresh token \
        (named by its value, or by a value rotation superseded) and the sessions minted from it. 200 for every well-formed UUID, known or not; a path that \
        is not a UUID is 404.",
    params(wire::TokenPath),
    responses(
        (status = 200, description = "Revoked (or never existed)", body = wire::TokenRevoked),
        (status = 404, response = wire::NoSuchToken),
        (status = 503, response = wire::TokenUnavailable),
    ),
)]
pub async fn revoke(
    State(state): State<AppState>,
    path: Result<Segments, ApiError>,
) -> Result<Json<wire::TokenRevoked>, TokenError> {
    let value = token_in_path(path)?;
    state.services().tokens().revoke(&value).await?;
    Ok(Json(wire::TokenRevoked {
        data: wire::TokenRevokedData {
            message: wire::RevokedMessage::Success,
        },
    }))
}

/// POST /token/{token}/scopes/check
#[utoipa::path(
    post,
    path = "/token/{token}/scopes/check",
    tag = "token",
    operation_id = "checkTokenScopes",
    summary = "Check many ACLs at once",
    description = "No authorisation. Answers, for each scope, whether the token grants it (its \
        ACL, within its own `scope`; the answer is not wrapped in `data`). A body without `scopes`, or a scope that is not a \
        string, is 400; an unknown or expired token is 404; a `tenant_uuid` other than the token's \
        tenant is 403.",
    params(wire::TokenPath),
    request_body(content = wire::ScopesCheckRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One boolean per requested scope", body = wire::ScopesCheckResponse),
        (status = 400, response = wire::TokenBadRequest),
        (status = 403, description = "The token belongs to another tenant", body = wire::TokenError),
        (status = 404, response = wire::NoSuchToken),
        (status = 413, description = "Request body too large", body = wire::TokenError),
        (status = 503, response = wire::TokenUnavailable),
    ),
)]
pub async fn check_scopes(
    State(state): State<AppState>,
    path: Result<Segments, ApiError>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<wire::ScopesCheckResponse>, TokenError> {
    let value = token_in_path(path)?;
    let request = body
        .map_err(body_rejection)
        .and_then(|b| read::scopes_check(&b))
        .map(Into::into);
    let results = state
        .services()
        .tokens()
        .check_scopes(&value, request)
        .await?;
    Ok(Json(wire::ScopesCheckResponse {
        scopes: results.into_iter().collect(),
    }))
}
