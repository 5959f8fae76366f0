//! The OAuth2 face's endpoints at Tessera's root (SPEC §11.1): `/oauth2/token`,
//! `/oauth2/introspect`, `/oauth2/revoke` and the two metadata documents. Bodies are
//! `application/x-www-form-urlencoded` (RFC 6749 §3.2); errors are RFC 6749 §5.2's
//! `{"error", "error_description"}`. With no issuer (`public_url` unset on a non-loopback
//! `listen`) every path here answers 404.

use std::net::SocketAddr;

use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{bearer_token, remote_addr, user_agent};
use super::AppState;
use crate::domain::oauth2::client_auth::ClientAuth;
use crate::domain::oauth2::device::{DeviceAuthorization, DeviceRequest};
use crate::domain::oauth2::error::{OAuthCode, OAuthError, OAuthResult};
use crate::domain::oauth2::introspection::{ActiveToken, Introspector, TokenQuery};
use crate::domain::oauth2::metadata::Metadata;
use crate::domain::oauth2::token::{TokenAnswer, TokenRequest};

// The OpenAPI description of the forms and answers (the handlers read and write them by hand).

/// POST /oauth2/token's form (RFC 6749 §4.4 for `client_credentials`). The client authenticates
/// with HTTP Basic (`client_secret_basic`) or with `client_id` and `client_secret` here.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OAuthTokenRequest {
    /// `client_credentials`, `authorization_code`, `refresh_token` or
    /// `urn:ietf:params:oauth:grant-type:device_code`
    grant_type: String,
    /// Space-separated ACL entries within the client's ceiling (absent: all of it)
    scope: Option<String>,
    /// `authorization_code`: the code the authorization endpoint redirected with
    code: Option<String>,
    /// `authorization_code`: the authorization request's, when it named one
    redirect_uri: Option<String>,
    /// `authorization_code`: the PKCE verifier of the request's `code_challenge`
    code_verifier: Option<String>,
    /// `refresh_token`: the client's refresh token (it rotates: the answer holds the next one)
    refresh_token: Option<String>,
    /// The device grant: the `device_code` of `/oauth2/device_authorization`'s answer
    device_code: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// A token (RFC 6749 §5.1): an ordinary Tessera access token.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OAuthToken {
    access_token: String,
    /// `Bearer`
    token_type: String,
    /// Seconds
    expires_in: u64,
    /// The granted scope, space-separated
    scope: String,
    refresh_token: Option<String>,
    /// The OpenID Connect ID token (a JWS), when `openid` was granted (code and device grants)
    id_token: Option<String>,
}

/// An OAuth2 error (RFC 6749 §5.2).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, `invalid_token`, `insufficient_scope`,
    /// `temporarily_unavailable`
    error: String,
    error_description: String,
}

/// POST /oauth2/introspect and /oauth2/revoke's form. The caller authenticates as at the token
/// endpoint (introspection: a confidential client, or `Authorization: Bearer` of a token holding
/// `auth.oauth2.introspect`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    token: String,
    /// `access_token` or `refresh_token`: a hint, never needed
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// An introspection (RFC 7662 §2.2): `{"active": false}` alone for anything inactive.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Introspection {
    active: bool,
    scope: Option<String>,
    client_id: Option<String>,
    username: Option<String>,
    sub: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    /// `Bearer` or `refresh_token`
    token_type: Option<String>,
    iss: Option<String>,
}

/// The authorization server's metadata (RFC 8414), every URL built from `public_url`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AuthorizationServerMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    device_authorization_endpoint: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    userinfo_endpoint: String,
    jwks_uri: String,
    end_session_endpoint: String,
    response_types_supported: Vec<String>,
    response_modes_supported: Vec<String>,
    grant_types_supported: Vec<String>,
    code_challenge_methods_supported: Vec<String>,
    token_endpoint_auth_methods_supported: Vec<String>,
    introspection_endpoint_auth_methods_supported: Vec<String>,
    revocation_endpoint_auth_methods_supported: Vec<String>,
    scopes_supported: Vec<String>,
    subject_types_supported: Vec<String>,
    /// The algorithm ID tokens are signed with (`id_token_signing_alg`)
    id_token_signing_alg_values_supported: Vec<String>,
    claims_supported: Vec<String>,
    /// `false`: request objects are not supported
    request_parameter_supported: bool,
    /// `false`
    request_uri_parameter_supported: bool,
    /// `false`: the `claims` request parameter is not supported
    claims_parameter_supported: bool,
    authorization_response_iss_parameter_supported: bool,
}

/// A form body (at most the API's body limit), each field at most once (RFC 6749 §3.2).
struct Form(Vec<(String, String)>);

impl Form {
    fn read(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> OAuthResult<Form> {
        let body = body.map_err(|_| OAuthError::invalid_request("The body could not be read."))?;
        let form_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                mime.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(OAuthError::invalid_request(
                "The body must be application/x-www-form-urlencoded.",
            ));
        }
        let mut fields: Vec<(String, String)> = Vec::new();
        for (key, value) in form_urlencoded::parse(&body) {
            if fields.iter().any(|(k, _)| *k == key) {
                return Err(OAuthError::invalid_request(format!(
                    "The parameter {key:?} is repeated."
                )));
            }
            if value.contains('\0') {
                return Err(OAuthError::invalid_request(format!(
                    "The parameter {key:?} holds a NUL."
                )));
            }
            fields.push((key.into_owned(), value.into_owned()));
        }
        Ok(Form(fields))
    }

    /// A field; empty counts as absent (RFC 6749 §3.1).
    fn get(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.clone())
    }
}

/// HTTP Basic with the client id and secret each form-urlencoded (RFC 6749 §2.3.1). `Err`: an
/// `Authorization: Basic` header that does not decode.
fn basic_client(headers: &HeaderMap) -> OAuthResult<Option<(String, String)>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.as_bytes();
    let Some(encoded) = value
        .get(..6)
        .filter(|scheme| scheme.eq_ignore_ascii_case(b"basic "))
        .and(value.get(6..))
    else {
        return Ok(None);
    };
    let undecodable = || OAuthError::invalid_client(true);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim_ascii())
        .map_err(|_| undecodable())?;
    let text = String::from_utf8(decoded).map_err(|_| undecodable())?;
    let (id, secret) = text.split_once(':').ok_or_else(undecodable)?;
    let unescape = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// How the request authenticates its client: Basic, or in the body, never both (RFC 6749 §2.3).
fn client_auth(headers: &HeaderMap, form: &Form) -> OAuthResult<ClientAuth> {
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    match basic_client(headers)? {
        Some((client_id, secret)) => {
            if body_secret.is_some() || body_id.as_ref().is_some_and(|id| *id != client_id) {
                return Err(OAuthError::invalid_request(
                    "One client authentication method at a time.",
                ));
            }
            Ok(ClientAuth::Basic { client_id, secret })
        }
        None => Ok(match (body_id, body_secret) {
            (Some(client_id), Some(secret)) => ClientAuth::Post { client_id, secret },
            (Some(client_id), None) => ClientAuth::Public { client_id },
            (None, _) => ClientAuth::Missing,
        }),
    }
}

/// An OAuth2 answer: never cached (RFC 6749 §5.1).
fn no_store(status: StatusCode, body: impl serde::Serialize) -> Response {
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An RFC 6749 §5.2 error: 400, or 401 for `invalid_client` and `invalid_token`
/// (`WWW-Authenticate` as the client tried), 403 for `insufficient_scope`, 429 held back, 5xx
/// for the service's own failures.
pub fn error_response(error: OAuthError) -> Response {
    let status = match (error.retry_after, error.code) {
        (Some(_), _) => StatusCode::TOO_MANY_REQUESTS,
        (None, OAuthCode::InvalidClient | OAuthCode::InvalidToken) => StatusCode::UNAUTHORIZED,
        (None, OAuthCode::InsufficientScope) => StatusCode::FORBIDDEN,
        (None, OAuthCode::ServerError) => StatusCode::INTERNAL_SERVER_ERROR,
        (None, OAuthCode::TemporarilyUnavailable) => StatusCode::SERVICE_UNAVAILABLE,
        (None, _) => StatusCode::BAD_REQUEST,
    };
    if error.code == OAuthCode::ServerError {
        tracing::error!(description = %error.description, "oauth2 request failed");
    }
    let mut response = no_store(
        status,
        json!({"error": error.code.as_str(), "error_description": error.description}),
    );
    let headers = response.headers_mut();
    if let Some(after) = error.retry_after {
        let seconds = after.as_secs().max(1).to_string();
        if let Ok(value) = HeaderValue::from_str(&seconds) {
            headers.insert(header::RETRY_AFTER, value);
        }
    }
    let challenge = match error.code {
        OAuthCode::InvalidClient if error.basic_challenge => Some("Basic realm=\"tessera\""),
        OAuthCode::InvalidToken => Some("Bearer error=\"invalid_token\""),
        OAuthCode::InsufficientScope => Some("Bearer error=\"insufficient_scope\""),
        _ => None,
    };
    if let Some(challenge) = challenge {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
}

fn respond(result: OAuthResult<impl serde::Serialize>) -> Response {
    match result {
        Ok(body) => no_store(StatusCode::OK, body),
        Err(error) => error_response(error),
    }
}

/// The OAuth2 face is off: the JSON 404 of every unknown path.
fn face_off(state: &AppState) -> Option<Response> {
    (!state.services().oauth2().enabled()).then(|| ApiError::not_found().into_response())
}

fn token_answer(answer: TokenAnswer) -> Value {
    let mut body = json!({
        "access_token": answer.access_token,
        "token_type": "Bearer",
        "expires_in": answer.expires_in,
        "scope": answer.scope,
    });
    if let Some(map) = body.as_object_mut() {
        if let Some(refresh) = answer.refresh_token {
            map.insert("refresh_token".into(), Value::String(refresh));
        }
        if let Some(id_token) = answer.id_token {
            map.insert("id_token".into(), Value::String(id_token));
        }
    }
    body
}

/// POST /oauth2/token
#[utoipa::path(
    post,
    path = "/oauth2/token",
    tag = "oauth2",
    operation_id = "oauth2Token",
    summary = "Get an access token (OAuth 2.1 token endpoint)",
    description = "Served at Tessera's root. Form body; the client authenticates with HTTP Basic \
        (`client_secret_basic`) or in the form (`client_secret_post`). Failed client \
        authentications count in the brute-force throttle (429 while held back). 404 while the \
        OAuth2 face is off (no `public_url` on a non-loopback `listen`).",
    security(("basic" = []), ()),
    request_body(content = OAuthTokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The token", body = OAuthToken),
        (status = 400, description = "An RFC 6749 error", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`", body = OAuthErrorBody),
        (status = 404, response = super::wire::NotFound),
        (status = 413, response = super::wire::PayloadTooLarge),
        (status = 429, description = "Held back after failed client authentications (`invalid_client`) \
            or failed grants from the address (`invalid_grant`)", body = OAuthErrorBody),
        (status = 503, description = "`temporarily_unavailable`", body = OAuthErrorBody),
    ),
)]
pub async fn token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Some(off) = face_off(&state) {
        return off;
    }
    let num_proxies = state.services().config().num_proxies;
    let request = Form::read(&headers, body).and_then(|form| {
        Ok(TokenRequest {
            client: Some(client_auth(&headers, &form)?),
            grant_type: form.get("grant_type"),
            scope: form.get("scope"),
            code: form.get("code"),
            redirect_uri: form.get("redirect_uri"),
            code_verifier: form.get("code_verifier"),
            refresh_token: form.get("refresh_token"),
            device_code: form.get("device_code"),
            remote_addr: remote_addr(&headers, peer, num_proxies),
            user_agent: user_agent(&headers),
        })
    });
    let answer = state.services().oauth2().token(request).await;
    respond(answer.map(token_answer))
}

/// POST /oauth2/device_authorization's form (RFC 8628 §3.1). The client authenticates as at the
/// token endpoint (a public client names itself with `client_id`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct DeviceAuthorizationRequest {
    /// Space-separated OpenID Connect scopes and ACL entries within the client's ceiling
    /// (absent: all of it)
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// A device authorization (RFC 8628 §3.2).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct DeviceAuthorizationAnswer {
    /// What the device polls the token endpoint with
    device_code: String,
    /// What the user types at `verification_uri`: `XXXX-XXXX`
    user_code: String,
    verification_uri: String,
    /// `verification_uri` with the user code filled in
    verification_uri_complete: String,
    /// Seconds (600)
    expires_in: u64,
    /// Seconds between polls (5)
    interval: i64,
}

fn device_answer(answer: DeviceAuthorization) -> Value {
    json!({
        "device_code": answer.device_code,
        "user_code": answer.user_code,
        "verification_uri": answer.verification_uri,
        "verification_uri_complete": answer.verification_uri_complete,
        "expires_in": answer.expires_in,
        "interval": answer.interval,
    })
}

/// POST /oauth2/device_authorization
#[utoipa::path(
    post,
    path = "/oauth2/device_authorization",
    tag = "oauth2",
    operation_id = "oauth2DeviceAuthorization",
    summary = "Start a device authorization (RFC 8628)",
    description = "Served at Tessera's root, for clients holding the \
        `urn:ietf:params:oauth:grant-type:device_code` grant. The device shows `user_code` and \
        polls `/oauth2/token` with `device_code` while the user allows it at \
        `verification_uri`. 404 while the OAuth2 face is off.",
    security(("basic" = []), ()),
    request_body(content = DeviceAuthorizationRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The codes", body = DeviceAuthorizationAnswer),
        (status = 400, description = "An RFC 6749 error", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`", body = OAuthErrorBody),
        (status = 404, response = super::wire::NotFound),
        (status = 413, response = super::wire::PayloadTooLarge),
        (status = 429, description = "Held back after failed client authentications, or the client \
            holds too many pending device authorizations", body = OAuthErrorBody),
        (status = 503, description = "`temporarily_unavailable`", body = OAuthErrorBody),
    ),
)]
pub async fn device_authorization(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Some(off) = face_off(&state) {
        return off;
    }
    let num_proxies = state.services().config().num_proxies;
    let request = Form::read(&headers, body).and_then(|form| {
        Ok(DeviceRequest {
            client: client_auth(&headers, &form)?,
            scope: form.get("scope"),
            remote_addr: remote_addr(&headers, peer, num_proxies),
        })
    });
    let answer = state
        .services()
        .oauth2()
        .device_authorization(request)
        .await;
    respond(answer.map(device_answer))
}

/// Reads an introspection or revocation form: the token, and who asks.
fn token_query(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> OAuthResult<TokenQuery> {
    let form = Form::read(headers, body)?;
    let caller = match bearer_token(headers) {
        Some(token) => Introspector::Bearer(token.to_string()),
        None => Introspector::Client(client_auth(headers, &form)?),
    };
    Ok(TokenQuery {
        token: form.get("token"),
        caller,
        remote_addr: remote_addr(headers, peer, state.services().config().num_proxies),
    })
}

/// An introspection's answer, serialized as it is (no `serde_json::Value` built first): the
/// fields of an inactive token are absent.
#[derive(serde::Serialize)]
struct IntrospectionBody {
    active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    token: Option<ActiveBody>,
}

#[derive(serde::Serialize)]
struct ActiveBody {
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    iat: i64,
    token_type: &'static str,
    iss: String,
}

fn introspection(active: Option<ActiveToken>) -> IntrospectionBody {
    IntrospectionBody {
        active: active.is_some(),
        token: active.map(|token| ActiveBody {
            scope: token.scope,
            client_id: token.client_id,
            username: token.username,
            sub: token.sub,
            exp: token.exp,
            iat: token.iat,
            token_type: token.token_type,
            iss: token.iss,
        }),
    }
}

/// POST /oauth2/introspect
#[utoipa::path(
    post,
    path = "/oauth2/introspect",
    tag = "oauth2",
    operation_id = "oauth2Introspect",
    summary = "Introspect a token (RFC 7662)",
    description = "Served at Tessera's root. Any Tessera token, wazo-issued or OAuth2; everything \
        inactive is exactly `{\"active\": false}`. The caller is a confidential client, or a \
        Bearer token holding `auth.oauth2.introspect`.",
    security(("basic" = []), ()),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "What the token is", body = Introspection),
        (status = 400, description = "An RFC 6749 error", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client` or `invalid_token`", body = OAuthErrorBody),
        (status = 403, description = "`insufficient_scope`", body = OAuthErrorBody),
        (status = 404, response = super::wire::NotFound),
        (status = 413, response = super::wire::PayloadTooLarge),
        (status = 429, description = "Held back after failed client authentications", body = OAuthErrorBody),
        (status = 503, description = "`temporarily_unavailable`", body = OAuthErrorBody),
    ),
)]
pub async fn introspect(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Some(off) = face_off(&state) {
        return off;
    }
    let query = token_query(&state, peer, &headers, body);
    let answer = state.services().oauth2().introspect(query).await;
    respond(answer.map(introspection))
}

/// POST /oauth2/revoke
#[utoipa::path(
    post,
    path = "/oauth2/revoke",
    tag = "oauth2",
    operation_id = "oauth2Revoke",
    summary = "Revoke a token (RFC 7009)",
    description = "Served at Tessera's root. Always 200 for a client that authenticated: only its \
        own tokens end (another's, or a user's wazo token, stays valid).",
    security(("basic" = []), ()),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke", body = Object),
        (status = 400, description = "An RFC 6749 error", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`", body = OAuthErrorBody),
        (status = 404, response = super::wire::NotFound),
        (status = 413, response = super::wire::PayloadTooLarge),
        (status = 429, description = "Held back after failed client authentications", body = OAuthErrorBody),
        (status = 503, description = "`temporarily_unavailable`", body = OAuthErrorBody),
    ),
)]
pub async fn revoke(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Some(off) = face_off(&state) {
        return off;
    }
    let query = token_query(&state, peer, &headers, body);
    match state.services().oauth2().revoke(query).await {
        Ok(()) => no_store(StatusCode::OK, json!({})),
        Err(error) => error_response(error),
    }
}

fn metadata_document(metadata: Metadata) -> Value {
    json!({
        "issuer": metadata.issuer,
        "authorization_endpoint": metadata.authorization_endpoint,
        "token_endpoint": metadata.token_endpoint,
        "device_authorization_endpoint": metadata.device_authorization_endpoint,
        "introspection_endpoint": metadata.introspection_endpoint,
        "revocation_endpoint": metadata.revocation_endpoint,
        "userinfo_endpoint": metadata.userinfo_endpoint,
        "jwks_uri": metadata.jwks_uri,
        "end_session_endpoint": metadata.end_session_endpoint,
        "response_types_supported": metadata.response_types_supported,
        "response_modes_supported": metadata.response_modes_supported,
        "grant_types_supported": metadata.grant_types_supported,
        "code_challenge_methods_supported": metadata.code_challenge_methods_supported,
        "token_endpoint_auth_methods_supported": metadata.token_endpoint_auth_methods_supported,
        "introspection_endpoint_auth_methods_supported":
            metadata.introspection_endpoint_auth_methods_supported,
        "revocation_endpoint_auth_methods_supported":
            metadata.revocation_endpoint_auth_methods_supported,
        "scopes_supported": metadata.scopes_supported,
        "subject_types_supported": metadata.subject_types_supported,
        "id_token_signing_alg_values_supported": metadata.id_token_signing_alg_values_supported,
        "claims_supported": metadata.claims_supported,
        // Unsupported, said so: OpenID Connect Discovery reads an absent one as `true`.
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
        "authorization_response_iss_parameter_supported":
            metadata.authorization_response_iss_parameter_supported,
    })
}

/// GET /.well-known/oauth-authorization-server
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "oauth2",
    operation_id = "oauth2AuthorizationServerMetadata",
    summary = "The authorization server's metadata (RFC 8414)",
    description = "Served at Tessera's root; public, cacheable, readable from any origin.",
    responses(
        (status = 200, description = "The metadata", body = AuthorizationServerMetadata),
        (status = 404, response = super::wire::NotFound),
    ),
)]
pub async fn authorization_server_metadata(state: State<AppState>) -> Response {
    metadata(state).await
}

/// GET /.well-known/openid-configuration
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "oauth2",
    operation_id = "oauth2OpenidConfiguration",
    summary = "The same metadata, at OpenID Connect Discovery's path",
    description = "Served at Tessera's root; public, cacheable, readable from any origin.",
    responses(
        (status = 200, description = "The metadata", body = AuthorizationServerMetadata),
        (status = 404, response = super::wire::NotFound),
    ),
)]
pub async fn openid_configuration(state: State<AppState>) -> Response {
    metadata(state).await
}

/// Both metadata documents: public, cacheable, readable from any origin.
async fn metadata(State(state): State<AppState>) -> Response {
    let Ok(metadata) = state.services().oauth2().metadata() else {
        return ApiError::not_found().into_response();
    };
    let mut response = Json(metadata_document(metadata)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}
