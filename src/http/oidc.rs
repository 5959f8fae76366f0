//! OpenID Connect's endpoints (SPEC §11.9): the signing keys (`/oauth2/jwks`), userinfo, and the
//! RP-initiated logout page. The domain decides; this reads the request and renders.

use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::extract::bearer_token;
use super::oauth2::error_response;
use super::pages::{self, PageRequest};
use super::AppState;
use crate::domain::oauth2::logout::{LogoutAnswer, LogoutInput, LogoutPage};
use crate::domain::oauth2::oidc::UserInfo;

/// The public signing keys (RFC 7517).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct JsonWebKeySet {
    /// Each key: `kty`, `kid`, `use` (`sig`), `alg` (`RS256` or `ES256`) and its public
    /// parameters (`n`, `e`, or `crv`, `x`, `y`)
    keys: Vec<serde_json::Value>,
}

/// The claims of userinfo (OpenID Connect Core §5.3).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UserInfoClaims {
    /// The user's uuid
    sub: String,
    /// The username (scope `profile`)
    preferred_username: Option<String>,
    /// `given_name` and `family_name` (scope `profile`, absent when both are empty)
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    /// The main e-mail address (scope `email`)
    email: Option<String>,
    /// Whether the main address is confirmed (scope `email`)
    email_verified: Option<bool>,
}

/// GET /oauth2/jwks
#[utoipa::path(
    get,
    path = "/oauth2/jwks",
    tag = "oauth2",
    operation_id = "oauth2Jwks",
    summary = "The keys that sign ID tokens (JWKS)",
    description = "Served at Tessera's root; public, cacheable for a minute, readable from any \
        origin. Holds the current key and those retired lately, until every ID token they signed \
        has expired.",
    responses(
        (status = 200, description = "The key set", body = JsonWebKeySet),
        (status = 404, response = super::wire::NotFound),
    ),
)]
pub async fn jwks(State(state): State<AppState>) -> Response {
    match state.services().oauth2().jwks().await {
        Ok(keys) => {
            let mut response = Json(keys).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=60"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            response
        }
        Err(crate::domain::DomainError::NotFound) => ApiError::not_found().into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// GET /oauth2/userinfo
#[utoipa::path(
    get,
    path = "/oauth2/userinfo",
    tag = "oauth2",
    operation_id = "oauth2UserinfoGet",
    summary = "Who the access token's user is (OpenID Connect userinfo)",
    description = "Served at Tessera's root. `Authorization: Bearer` with an access token granted \
        `openid`; the claims its scope allows (`profile`, `email`), read now.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims", body = UserInfoClaims),
        (status = 401, description = "`invalid_token`, with `WWW-Authenticate: Bearer`", body = super::oauth2::OAuthErrorBody),
        (status = 403, description = "`insufficient_scope`: the token was not granted `openid`", body = super::oauth2::OAuthErrorBody),
        (status = 404, response = super::wire::NotFound),
    ),
)]
pub async fn userinfo_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    userinfo(&state, &headers).await
}

/// POST /oauth2/userinfo
#[utoipa::path(
    post,
    path = "/oauth2/userinfo",
    tag = "oauth2",
    operation_id = "oauth2UserinfoPost",
    summary = "Userinfo, as a POST",
    description = "The same as GET (OpenID Connect Core §5.3.1).",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims", body = UserInfoClaims),
        (status = 401, description = "`invalid_token`", body = super::oauth2::OAuthErrorBody),
        (status = 403, description = "`insufficient_scope`", body = super::oauth2::OAuthErrorBody),
        (status = 404, response = super::wire::NotFound),
    ),
)]
pub async fn userinfo_post(State(state): State<AppState>, headers: HeaderMap) -> Response {
    userinfo(&state, &headers).await
}

async fn userinfo(state: &AppState, headers: &HeaderMap) -> Response {
    let oauth2 = state.services().oauth2();
    if !oauth2.enabled() {
        return ApiError::not_found().into_response();
    }
    match oauth2.userinfo(bearer_token(headers)).await {
        Ok(info) => claims(info),
        Err(error) => error_response(error),
    }
}

fn claims(info: UserInfo) -> Response {
    let mut response = Json(info).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Template)]
#[template(path = "logout.html")]
struct ConfirmPage<'a> {
    client_name: Option<&'a str>,
    fields: &'a [(&'static str, String)],
    csrf: &'a str,
}

/// GET and POST /oauth2/logout: a page, like the login page.
pub async fn logout(State(state): State<AppState>, page: PageRequest) -> Response {
    let services = state.services();
    let fields = &page.fields;
    let input = LogoutInput {
        cookie: page.cookie.clone(),
        post: page.post,
        csrf: fields.get("csrf"),
        decision: fields.get("decision").map(|d| d == "logout"),
        id_token_hint: fields.get("id_token_hint"),
        client_id: fields.get("client_id"),
        post_logout_redirect_uri: fields.get("post_logout_redirect_uri"),
        state: fields.get("state"),
    };
    match services.oauth2().logout(input).await {
        Ok(logout) => {
            let lifetime = services.config().browser_session_lifetime;
            let mut response = render(&logout);
            if logout.clear_cookie {
                pages::set_cookie(&mut response, "", page.secure, 0);
            } else if logout.set_cookie {
                pages::set_cookie(&mut response, &logout.cookie, page.secure, lifetime);
            }
            response
        }
        Err(error) => {
            tracing::warn!(%error, "logout failed");
            pages::unavailable()
        }
    }
}

fn render(logout: &LogoutPage) -> Response {
    let return_to = logout.return_to.as_deref();
    match &logout.answer {
        LogoutAnswer::Confirm { client_name } => {
            let page = ConfirmPage {
                client_name: client_name.as_deref(),
                fields: &logout.fields,
                csrf: &logout.csrf,
            };
            pages::page_response(StatusCode::OK, page.render(), return_to)
        }
        LogoutAnswer::Refused(why) => pages::message(
            StatusCode::BAD_REQUEST,
            "This request cannot be served",
            why,
            None,
        ),
        LogoutAnswer::Forbidden => pages::message(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "Open the sign-out page again.",
            None,
        ),
        LogoutAnswer::Redirect(location) => pages::redirect(location),
        LogoutAnswer::SignedOut => pages::message(
            StatusCode::OK,
            "Signed out",
            "You are signed out of Tessera in this browser.",
            None,
        ),
        LogoutAnswer::StillSignedIn => pages::message(
            StatusCode::OK,
            "Still signed in",
            "You are still signed in. You can close this page.",
            None,
        ),
    }
}
