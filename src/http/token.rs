//! `/token`: issue (password or refresh-token grant), validate, describe, revoke, check scopes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::error::{ApiError, TokenError};
use super::extract::{
    basic_credentials, header_text, query_pairs, query_value, remote_addr, user_agent, Segments,
};
use super::schemas as doc;
use crate::app::{App, AppState};
use crate::auth::password::MAX_PASSWORD_BYTES;
use crate::auth::service::{token_grants, AuthError, ClientContext, Issued};
use crate::auth::token::{self, format_local, format_utc, MAX_EXPIRATION};
use crate::cache::Invalidation;
use crate::store::TokenRecord;

/// The POST /token body, checked.
#[derive(Debug, Default, PartialEq)]
pub struct TokenRequest {
    pub expiration: Option<i64>,
    pub offline: bool,
    pub client_id: Option<String>,
    pub refresh_token: Option<String>,
}

fn invalid(field: &str) -> TokenError {
    TokenError::bad_request(format!("Invalid value supplied for field: {field}"))
}

/// `expiration`: whole seconds in 1..=ten years, as a number or a numeric string.
fn parse_expiration(value: &Value) -> Result<i64, TokenError> {
    let whole = |f: f64| (f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15).then_some(f as i64);
    let seconds = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(whole)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(whole))
        }
        _ => None,
    };
    seconds
        .filter(|n| (1..=MAX_EXPIRATION).contains(n))
        .ok_or_else(|| invalid("expiration"))
}

fn string_field(
    body: &Map<String, Value>,
    key: &str,
    max: usize,
) -> Result<Option<String>, TokenError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(s))
            if !s.is_empty() && s.chars().count() <= max && !s.contains('\0') =>
        {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(invalid(key)),
    }
}

/// Parses and checks the body of POST /token (SPEC §2).
pub fn parse_token_request(bytes: &[u8]) -> Result<TokenRequest, TokenError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(TokenError::bad_request(
            "Missing body: a JSON object is required",
        ));
    }
    let body = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => map,
        Ok(Value::Null) => Map::new(),
        Ok(Value::Array(items)) if items.is_empty() => Map::new(),
        Ok(_) => {
            return Err(TokenError::bad_request(
                "Invalid body: a JSON object is required",
            ))
        }
        Err(_) => return Err(TokenError::bad_request("Invalid body: unparsable JSON")),
    };
    let expiration = body.get("expiration").map(parse_expiration).transpose()?;
    let offline = match body.get("access_type") {
        None => false,
        Some(Value::String(s)) if s == "online" => false,
        Some(Value::String(s)) if s == "offline" => true,
        Some(_) => return Err(invalid("access_type")),
    };
    let client_id = string_field(&body, "client_id", 1024)?;
    let refresh_token = match body.get("refresh_token") {
        None => None,
        Some(Value::String(s)) if s.len() <= 1024 => Some(s.clone()),
        Some(_) => return Err(invalid("refresh_token")),
    };
    let tenant_id = string_field(&body, "tenant_id", 1024)?;
    let domain_name = string_field(&body, "domain_name", 1024)?;
    if tenant_id.is_some() && domain_name.is_some() {
        return Err(TokenError::bad_request(
            "\"tenant_id\" and \"domain_name\" must be mutually exclusive",
        ));
    }
    if offline && refresh_token.is_some() {
        return Err(TokenError::bad_request(
            "cannot use the \"access_type\" \"offline\" with a refresh token",
        ));
    }
    if offline && client_id.is_none() {
        return Err(TokenError::bad_request(
            "\"client_id\" must be specified when using \"access_type\" is \"offline\"",
        ));
    }
    if refresh_token.is_some() && client_id.is_none() {
        return Err(TokenError::bad_request(
            "\"client_id\" must be specified when using a \"refresh_token\"",
        ));
    }
    Ok(TokenRequest {
        expiration,
        offline,
        client_id,
        refresh_token,
    })
}

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

/// The token as JSON (POST and GET answer the same fields).
fn token_body(app: &App, value: &str, record: &TokenRecord, refresh_token: Option<&str>) -> Value {
    let mut data = json!({
        "token": value,
        "auth_id": record.auth_id,
        "xivo_user_uuid": record.metadata.get("pbx_user_uuid").cloned().unwrap_or(Value::Null),
        "xivo_uuid": app.config.xivo_uuid,
        "issued_at": format_local(record.issued_at),
        "expires_at": format_local(record.expires_at),
        "utc_issued_at": format_utc(record.issued_at),
        "utc_expires_at": format_utc(record.expires_at),
        "acl": record.acl,
        "metadata": record.metadata,
        "session_uuid": record.session_uuid,
        "remote_addr": record.remote_addr,
        "user_agent": record.user_agent,
    });
    if let Some(refresh_token) = refresh_token {
        data["refresh_token"] = json!(refresh_token);
    }
    json!({ "data": data })
}

fn from_auth_error(error: AuthError) -> TokenError {
    match error {
        AuthError::Failed => TokenError::authentication_failed(),
        AuthError::TooManySessions(uuid) => TokenError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("User {uuid} has exceeded the maximum number of active sessions"),
        ),
        AuthError::Busy => TokenError {
            retry_after: Some(1),
            ..TokenError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Password hashing is saturated: retry shortly",
            )
        },
        AuthError::Store(error) => error.into(),
        AuthError::Internal(error) => error.into(),
    }
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
        in `refresh_token`.\n\n\
        Refresh-token grant: send `{\"refresh_token\": R, \"client_id\": C}` without credentials \
        (when both are in the body this grant is used even if Basic credentials are sent). The \
        response has no `refresh_token` field.\n\n\
        The body is read as JSON when the Content-Type is JSON, absent, `text/plain`, \
        `application/octet-stream` or `application/x-www-form-urlencoded`; `null`, `{}` and `[]` \
        count as an empty object; unknown keys are ignored; a missing, empty or unparsable body is \
        400.\n\n\
        Every authentication failure is 401 `Authentication Failed`, whatever its cause. A user of \
        purpose `user` or `external_api` already holding `max_user_concurrent_sessions` live \
        sessions gets 429.",
    security(("basic" = []), ()),
    params(doc::WazoSessionType),
    request_body(content = doc::TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The new access token (200, not 201)", body = doc::Token,
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
        (status = 400, response = doc::TokenBadRequest),
        (status = 401, description = "Authentication failed (same reason for every cause)",
            body = doc::TokenError),
        (status = 413, description = "Request body too large", body = doc::TokenError),
        (status = 429, description = "The user has too many live sessions", body = doc::TokenError),
        (status = 503, response = doc::TokenUnavailable),
    ),
)]
pub async fn create(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, TokenError> {
    let body =
        body.map_err(|rejection| TokenError::new(rejection.status(), rejection.body_text()))?;
    if !readable_content_type(&headers) {
        return Err(TokenError::bad_request(
            "Unsupported Content-Type: send JSON",
        ));
    }
    let request = parse_token_request(&body)?;
    let ctx = ClientContext {
        remote_addr: remote_addr(&headers, peer, app.config.num_proxies),
        user_agent: user_agent(&headers),
        mobile: header_text(&headers, "wazo-session-type")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("mobile")),
    };
    let expiration = request
        .expiration
        .unwrap_or(app.config.default_token_lifetime as i64);

    // Brute-force protection: the login (password grant) and the address are held back after
    // repeated failures, before any hashing.
    let password_login = match (&request.refresh_token, &request.client_id) {
        (Some(_), Some(_)) => None,
        _ => basic_credentials(&headers).map(|(login, _)| login),
    };
    if let Err(wait) = app
        .throttle
        .check(password_login.as_deref(), &ctx.remote_addr)
    {
        tracing::info!(login = ?password_login, remote_addr = %ctx.remote_addr, "login held back");
        return Ok(too_many_attempts(wait));
    }

    let (issued, login) = match (&request.refresh_token, &request.client_id) {
        (Some(refresh_token), Some(client_id)) => {
            let outcome = async {
                let (refresh, user) = app.redeem_refresh_token(refresh_token, client_id).await?;
                app.issue(&user, expiration, &ctx, None, Some(refresh))
                    .await
            }
            .await;
            (outcome, format!("refresh token of client {client_id}"))
        }
        _ => {
            let Some((login, password)) = basic_credentials(&headers) else {
                tracing::info!(remote_addr = %ctx.remote_addr, "login failed: no credentials");
                return Err(TokenError::authentication_failed());
            };
            let outcome = async {
                if password.len() > MAX_PASSWORD_BYTES || login.len() > 1024 {
                    return Err(AuthError::Failed);
                }
                let user = app.authenticate(&login, &password).await?;
                let offline = match (&request.client_id, request.offline) {
                    (Some(client_id), true) => Some((client_id.as_str(), login.as_str())),
                    _ => None,
                };
                app.issue(&user, expiration, &ctx, offline, None).await
            }
            .await;
            (outcome, login)
        }
    };
    let issued: Issued = match issued {
        Ok(issued) => issued,
        Err(error) => {
            if matches!(error, AuthError::Failed) {
                tracing::info!(login = %login, remote_addr = %ctx.remote_addr, "login failed");
                app.throttle
                    .failure(password_login.as_deref(), &ctx.remote_addr);
            }
            return Err(from_auth_error(error));
        }
    };
    if let Some(login) = &password_login {
        app.throttle.success(login, &ctx.remote_addr);
    }
    tracing::info!(
        login = %login,
        remote_addr = %ctx.remote_addr,
        token = %format!("XXXXXXXX-XXXX-XXXX-XXXX-XXXX{}", token::redacted(&issued.token)),
        "token issued"
    );
    let body = token_body(
        &app,
        &issued.token,
        &issued.record,
        issued.refresh_token.as_deref(),
    );
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        "wazo-sessions-revoked",
        HeaderValue::from(issued.sessions_revoked),
    );
    Ok(response)
}

/// The `{token}` path segment; an undecodable one is a token that does not exist.
fn token_in_path(path: Result<Segments, ApiError>) -> Result<String, TokenError> {
    path.ok()
        .and_then(|segments| segments.0.into_iter().next())
        .ok_or_else(TokenError::no_such_token)
}

/// 429 with `Retry-After` (whole seconds, at least 1) for a held-back login or address.
fn too_many_attempts(wait: std::time::Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    TokenError {
        retry_after: Some(seconds.max(1)),
        ..TokenError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts: retry later",
        )
    }
    .into_response()
}

/// Looks up a token and applies the optional `scope` and `tenant` checks, in that order.
async fn checked_token(
    app: &App,
    value: &str,
    query: Option<&str>,
) -> Result<Arc<TokenRecord>, TokenError> {
    let record = app
        .validate(value)
        .await?
        .ok_or_else(TokenError::no_such_token)?;
    let pairs = query_pairs(query);
    if let Some(scope) = query_value(&pairs, "scope") {
        if !token_grants(&record, scope) {
            return Err(TokenError::new(
                StatusCode::FORBIDDEN,
                format!("Unauthorized for {scope}"),
            ));
        }
    }
    if let Some(tenant) = query_value(&pairs, "tenant") {
        if record.metadata["tenant_uuid"].as_str() != Some(tenant) {
            return Err(TokenError::new(
                StatusCode::FORBIDDEN,
                format!("Unauthorized for tenant {tenant}"),
            ));
        }
    }
    Ok(record)
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
        token's ACL → 403; `tenant` given and not the token's tenant → 403. As a HEAD response, no \
        body is sent.",
    params(doc::TokenPath, doc::ValidationQuery),
    responses(
        (status = 204, description = "The token is valid (for the scope and tenant, when given)"),
        (status = 403, description = "The token does not grant the scope, or belongs to another tenant"),
        (status = 404, description = "No such token, or expired"),
        (status = 503, description = "The database does not answer"),
    ),
)]
pub async fn check(
    State(app): State<AppState>,
    path: Result<Segments, ApiError>,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, TokenError> {
    let value = token_in_path(path)?;
    checked_token(&app, &value, query.as_deref()).await?;
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
    params(doc::TokenPath, doc::ValidationQuery),
    responses(
        (status = 200, description = "The token", body = doc::Token),
        (status = 403, description = "The token does not grant the scope, or belongs to another tenant",
            body = doc::TokenError),
        (status = 404, response = doc::NoSuchToken),
        (status = 503, response = doc::TokenUnavailable),
    ),
)]
pub async fn describe(
    State(app): State<AppState>,
    path: Result<Segments, ApiError>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, TokenError> {
    let value = token_in_path(path)?;
    let record = checked_token(&app, &value, query.as_deref()).await?;
    Ok(Json(token_body(&app, &value, &record, None)))
}

/// DELETE /token/{token}: always a success, known token or not.
#[utoipa::path(
    delete,
    path = "/token/{token}",
    tag = "token",
    operation_id = "revokeToken",
    summary = "Revoke a token",
    description = "No authorisation. Ends the token's session. Always 200, for unknown tokens too.",
    params(doc::TokenPath),
    responses(
        (status = 200, description = "Revoked (or never existed)", body = doc::TokenRevoked),
        (status = 503, response = doc::TokenUnavailable),
    ),
)]
pub async fn revoke(
    State(app): State<AppState>,
    path: Result<Segments, ApiError>,
) -> Result<Json<Value>, TokenError> {
    let value = token_in_path(path)?;
    let digest = token::digest(&value);
    app.store.revoke_token(&digest).await?;
    app.invalidate(Invalidation::Token(hex::encode(digest)))
        .await;
    Ok(Json(json!({"data": {"message": "success"}})))
}

/// POST /token/{token}/scopes/check
#[utoipa::path(
    post,
    path = "/token/{token}/scopes/check",
    tag = "token",
    operation_id = "checkTokenScopes",
    summary = "Check many ACLs at once",
    description = "No authorisation. Answers, for each scope, whether the token's ACL grants it \
        (the answer is not wrapped in `data`). A body without `scopes`, or a scope that is not a \
        string, is 400; an unknown or expired token is 404; a `tenant_uuid` other than the token's \
        tenant is 403.",
    params(doc::TokenPath),
    request_body(content = doc::ScopesCheckRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One boolean per requested scope", body = doc::ScopesCheckResponse),
        (status = 400, response = doc::TokenBadRequest),
        (status = 403, description = "The token belongs to another tenant", body = doc::TokenError),
        (status = 404, response = doc::NoSuchToken),
        (status = 413, description = "Request body too large", body = doc::TokenError),
        (status = 503, response = doc::TokenUnavailable),
    ),
)]
pub async fn check_scopes(
    State(app): State<AppState>,
    path: Result<Segments, ApiError>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, TokenError> {
    let value = token_in_path(path)?;
    let body =
        body.map_err(|rejection| TokenError::new(rejection.status(), rejection.body_text()))?;
    let request = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(TokenError::bad_request(
                "Invalid body: a JSON object is required",
            ))
        }
    };
    let scopes: Vec<&str> = match request.get("scopes") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().ok_or_else(|| invalid("scopes")))
            .collect::<Result<_, _>>()?,
        _ => return Err(invalid("scopes")),
    };
    let tenant = match request.get("tenant_uuid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(invalid("tenant_uuid")),
    };
    let record = app
        .validate(&value)
        .await?
        .ok_or_else(TokenError::no_such_token)?;
    if let Some(tenant) = tenant {
        if record.metadata["tenant_uuid"].as_str() != Some(tenant) {
            return Err(TokenError::new(
                StatusCode::FORBIDDEN,
                format!("Unauthorized for tenant {tenant}"),
            ));
        }
    }
    let results: Map<String, Value> = scopes
        .into_iter()
        .map(|scope| (scope.to_string(), Value::Bool(token_grants(&record, scope))))
        .collect();
    Ok(Json(json!({ "scopes": results })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_forms_count_as_an_empty_object() {
        for body in ["null", "{}", "[]"] {
            assert_eq!(
                parse_token_request(body.as_bytes()).ok(),
                Some(TokenRequest::default())
            );
        }
        for body in ["", "  ", "{", "5", "\"x\"", "[1]"] {
            assert!(parse_token_request(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn expiration_rules() {
        let expiration = |v: &str| {
            parse_token_request(format!("{{\"expiration\": {v}}}").as_bytes())
                .map(|r| r.expiration)
                .ok()
                .flatten()
        };
        assert_eq!(expiration("3600"), Some(3600));
        assert_eq!(expiration("\"3600\""), Some(3600));
        assert_eq!(expiration("3600.0"), Some(3600));
        assert_eq!(expiration("315360000"), Some(315_360_000));
        for bad in [
            "0",
            "-1",
            "315360001",
            "true",
            "null",
            "1.5",
            "\"abc\"",
            "[]",
            "1e300",
        ] {
            assert_eq!(expiration(bad), None, "{bad}");
        }
    }

    #[test]
    fn grant_combinations() {
        let parse = |v: &str| parse_token_request(v.as_bytes());
        assert!(parse(r#"{"access_type": "offline"}"#).is_err());
        assert!(
            parse(r#"{"access_type": "offline", "client_id": "a", "refresh_token": "r"}"#).is_err()
        );
        assert!(parse(r#"{"refresh_token": "r"}"#).is_err());
        assert!(parse(r#"{"access_type": "sometimes"}"#).is_err());
        assert!(parse(r#"{"client_id": ""}"#).is_err());
        assert!(parse(r#"{"tenant_id": "t", "domain_name": "d"}"#).is_err());
        assert!(parse(r#"{"backend": "wazo_user", "unknown": [1]}"#).is_ok());
        let offline = parse(r#"{"access_type": "offline", "client_id": "a"}"#).expect("ok");
        assert!(offline.offline);
    }
}
