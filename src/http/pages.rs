//! The authorization endpoint and its pages (SPEC §11.3): `GET`/`POST /oauth2/authorize`, the
//! login and consent pages it renders (server-side, no script), and their stylesheet. Every page
//! answers the hygiene headers of §11.3; the browser's cookie is `HttpOnly`, `SameSite=Lax`, and
//! `Secure` with the `__Host-` prefix when the issuer is https.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::extract::remote_addr;
use super::AppState;
use crate::domain::oauth2::authorize::{
    Answer, Authorization, AuthorizeParams, BrowserInput, Checked, Step,
};

/// The stylesheet of the pages, served by Tessera itself (nothing is loaded from elsewhere).
const STYLESHEET: &str = include_str!("../../static/tessera.css");

/// The longest form or query read.
const MAX_FORM_BYTES: usize = 16 * 1024;

#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage<'a> {
    /// Empty: no client is known yet (the device page).
    pub client_name: &'a str,
    /// Where the form posts (relative to `/oauth2/`).
    pub action: &'a str,
    pub fields: Vec<(&'static str, String)>,
    pub csrf: &'a str,
    pub failed: bool,
    pub retry_after: Option<u64>,
    pub login_hint: &'a str,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub(super) struct ConsentPage<'a> {
    pub client_name: &'a str,
    pub action: &'a str,
    pub fields: Vec<(&'static str, String)>,
    pub csrf: &'a str,
    pub scopes: Vec<String>,
    /// A device's user code: the page warns against codes that others sent (RFC 8628 §5.4).
    pub user_code: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
}

/// The parameters and page fields of a query or form, each name's first value.
pub(super) struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(bytes: &[u8]) -> Fields {
        Fields(form_urlencoded::parse(bytes).into_owned().collect())
    }

    /// A POST's form or a GET's query; `None` when the form cannot be read ([`bad_form`]).
    pub(super) fn read(
        method: &Method,
        uri: &Uri,
        body: Result<Bytes, BytesRejection>,
    ) -> Option<Fields> {
        match *method {
            Method::POST => match body {
                Ok(body) if body.len() <= MAX_FORM_BYTES => Some(Fields::parse(&body)),
                _ => None,
            },
            _ => Some(Fields::parse(uri.query().unwrap_or_default().as_bytes())),
        }
    }

    pub(super) fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    }

    fn params(&self) -> AuthorizeParams {
        AuthorizeParams {
            response_type: self.get("response_type"),
            client_id: self.get("client_id"),
            redirect_uri: self.get("redirect_uri"),
            scope: self.get("scope"),
            state: self.get("state"),
            code_challenge: self.get("code_challenge"),
            code_challenge_method: self.get("code_challenge_method"),
            nonce: self.get("nonce"),
            prompt: self.get("prompt"),
            login_hint: self.get("login_hint"),
            max_age: self.get("max_age"),
            repeated: self.repeated(),
        }
    }

    /// The authorization parameters given more than once (empty or not).
    fn repeated(&self) -> Vec<String> {
        let names = AuthorizeParams::default().names();
        names
            .into_iter()
            .filter(|name| self.0.iter().filter(|(k, _)| k == name).count() > 1)
            .map(str::to_string)
            .collect()
    }

    /// The page step a form posts, if any.
    pub(super) fn step(&self) -> Option<Step> {
        if let Some(decision) = self.get("decision") {
            return Some(Step::Decision {
                allow: decision == "allow",
            });
        }
        let username = self.get("username")?;
        Some(Step::Login {
            username,
            password: self.get("password").unwrap_or_default(),
        })
    }
}

/// The cookie's name: `__Host-` prefixed (and `Secure`) when the issuer is https.
pub(super) fn cookie_name(secure: bool) -> &'static str {
    match secure {
        true => "__Host-tessera",
        false => "tessera",
    }
}

pub(super) fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// What every page reads first: the face must be on, and the query or form readable.
pub(super) struct PageRequest {
    /// The issuer is https: the cookie is `__Host-` prefixed and `Secure`.
    pub secure: bool,
    pub fields: Fields,
    /// The browser's cookie, if it sent one.
    pub cookie: Option<String>,
    pub post: bool,
    pub remote_addr: String,
}

impl PageRequest {
    /// The request, or the answer when there is no page to serve (404: the face is off; 400: a
    /// form that cannot be read).
    pub(super) fn read(
        state: &AppState,
        peer: SocketAddr,
        (method, uri): (&Method, &Uri),
        headers: &HeaderMap,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<PageRequest, Box<Response>> {
        let services = state.services();
        let Some(issuer) = services.oauth2().issuer_url() else {
            return Err(Box::new(
                super::error::ApiError::not_found().into_response(),
            ));
        };
        let secure = issuer.starts_with("https://");
        let fields = Fields::read(method, uri, body).ok_or_else(|| Box::new(bad_form()))?;
        Ok(PageRequest {
            secure,
            fields,
            cookie: read_cookie(headers, cookie_name(secure)),
            post: *method == Method::POST,
            remote_addr: remote_addr(headers, peer, services.config().num_proxies),
        })
    }
}

/// Every page handler takes its request this way; a request with no page to serve is answered
/// as [`PageRequest::read`] says.
impl FromRequest<AppState> for PageRequest {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let (method, uri, headers) = (
            parts.method.clone(),
            parts.uri.clone(),
            parts.headers.clone(),
        );
        let body = Bytes::from_request(Request::from_parts(parts, body), state).await;
        PageRequest::read(state, peer, (&method, &uri), &headers, body).map_err(|answer| *answer)
    }
}

/// GET and POST /oauth2/authorize.
pub async fn authorize(State(state): State<AppState>, page: PageRequest) -> Response {
    let services = state.services();
    let input = BrowserInput {
        cookie: page.cookie,
        step: page.post.then(|| page.fields.step()).flatten(),
        csrf: page.fields.get("csrf"),
        remote_addr: page.remote_addr,
    };
    match services
        .oauth2()
        .authorize(page.fields.params(), input)
        .await
    {
        Ok(authorization) => render(
            authorization,
            page.secure,
            services.config().browser_session_lifetime,
        ),
        Err(error) => {
            tracing::warn!(%error, "authorization failed");
            unavailable()
        }
    }
}

/// Any other method on the pages: 405, as a page.
pub async fn method_not_allowed() -> Response {
    message(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        "This page answers GET and POST.",
        None,
    )
}

/// The page of a form that could not be read.
fn bad_form() -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "Bad request",
        "The form could not be read.",
        None,
    )
}

/// The page of a request the service could not serve (the database away).
pub(super) fn unavailable() -> Response {
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again later",
        "The service is busy or its database unavailable.",
        None,
    )
}

/// GET /oauth2/static/tessera.css
pub async fn stylesheet() -> Response {
    let mut response = (StatusCode::OK, STYLESHEET).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// The answer as a page or a redirect, with the browser's cookie when it changed.
fn render(authorization: Authorization, secure: bool, lifetime: u64) -> Response {
    let csrf = authorization.csrf.as_str();
    let mut response = match &authorization.answer {
        Answer::Refused(why) => message(
            StatusCode::BAD_REQUEST,
            "This request cannot be served",
            why,
            None,
        ),
        Answer::Forbidden => message(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "Go back to the application and sign in again.",
            None,
        ),
        Answer::Redirect(location) => redirect(location),
        Answer::Login {
            request,
            failed,
            retry_after,
            typed,
        } => {
            let login = LoginState {
                failed: *failed,
                retry_after: *retry_after,
                typed: typed.as_deref(),
            };
            login_page(request, csrf, login)
        }
        Answer::Consent { request } => {
            let page = ConsentPage {
                client_name: &request.client.name,
                action: "authorize",
                fields: request.params.fields(),
                csrf,
                scopes: crate::domain::oauth2::authorize::granted_values(&request.granted),
                user_code: None,
            };
            page_response(StatusCode::OK, page.render(), Some(&request.redirect_uri))
        }
    };
    if authorization.set_cookie {
        set_cookie(&mut response, &authorization.cookie, secure, lifetime);
    }
    response
}

/// Sets the browser's (new) cookie on a page.
pub(super) fn set_cookie(response: &mut Response, cookie: &str, secure: bool, lifetime: u64) {
    let cookie = format!(
        "{}={cookie}; Path=/; Max-Age={lifetime}; HttpOnly; SameSite=Lax{}",
        cookie_name(secure),
        if secure { "; Secure" } else { "" }
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// What the login page tells of the last attempt.
pub(super) struct LoginState<'a> {
    pub failed: bool,
    pub retry_after: Option<u64>,
    /// The login the last attempt gave, filled in again.
    pub typed: Option<&'a str>,
}

/// The login page: its message after wrong credentials, 429 with `Retry-After` while held back.
fn login_page(request: &Checked, csrf: &str, login: LoginState) -> Response {
    let status = login_status(login.retry_after);
    let page = LoginPage {
        client_name: &request.client.name,
        action: "authorize",
        fields: request.params.fields(),
        csrf,
        failed: login.failed,
        retry_after: login.retry_after,
        login_hint: login
            .typed
            .or(request.params.login_hint.as_deref())
            .unwrap_or_default(),
    };
    with_retry_after(
        page_response(status, page.render(), Some(&request.redirect_uri)),
        login.retry_after,
    )
}

/// The login page's status: 429 held back, 401 after wrong credentials.
/// A failed sign-in is the page again, with its message (no HTTP authentication scheme to name
/// in a 401's `WWW-Authenticate`); held back, 429.
pub(super) fn login_status(retry_after: Option<u64>) -> StatusCode {
    match retry_after {
        Some(_) => StatusCode::TOO_MANY_REQUESTS,
        None => StatusCode::OK,
    }
}

/// `Retry-After` on a held-back page.
pub(super) fn with_retry_after(mut response: Response, retry_after: Option<u64>) -> Response {
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

pub(super) fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    hygiene(response.headers_mut(), None);
    response
}

pub(super) fn message(
    status: StatusCode,
    title: &str,
    message: &str,
    return_to: Option<&str>,
) -> Response {
    page_response(status, MessagePage { title, message }.render(), return_to)
}

pub(super) fn page_response(
    status: StatusCode,
    html: Result<String, askama::Error>,
    return_to: Option<&str>,
) -> Response {
    let html = html.unwrap_or_else(|_| "<!doctype html><title>Error</title>".to_string());
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    hygiene(headers, return_to);
    response
}

/// The headers of every page (SPEC §11.3). A form's 303 to the client's redirect URI (or
/// `return_to`, where a logout goes back to) is a navigation `form-action` governs in Chromium:
/// that URI's origin is allowed too.
fn hygiene(headers: &mut HeaderMap, return_to: Option<&str>) {
    let form_action = match return_to.and_then(redirect_source) {
        Some(source) => format!("'self' {source}"),
        None => "'self'".to_string(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// The CSP source of a redirect URI: its origin, or its scheme for a private-use one.
fn redirect_source(redirect_uri: &str) -> Option<String> {
    let url = url::Url::parse(redirect_uri).ok()?;
    let source = match url.origin() {
        origin @ url::Origin::Tuple(..) => origin.ascii_serialization(),
        url::Origin::Opaque(_) => format!("{}:", url.scheme()),
    };
    // A source holds no spaces, semicolons or commas (it would add directives).
    (!source.contains([' ', ';', ','])).then_some(source)
}
