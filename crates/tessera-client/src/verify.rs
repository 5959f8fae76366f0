//! The backend side: [`Verifier`] checks the `X-Auth-Token` of each request against Tessera,
//! [`RequireAcl`] is the tower layer that does it for a route, [`Identity`] the axum extractor of
//! what it found.
//!
//! As wazo's `auth_verifier` (xivo-lib-python): a route's required ACL is a template whose
//! `{name}` parts are filled from the path parameters with every `.` replaced by `_`; the
//! `Wazo-Tenant` header, when sent, is checked as the token's tenant; refusals are 401 in the
//! shapes of its `InvalidTokenAPIException` and `MissingPermissionsTokenAPIException`, 503 in the
//! shape of `AuthServerUnreachable`. A path value `me` is filled as `me`: Tessera's matcher grants
//! it to an entry `…me…`, which also matches the caller's own UUID, so `/users/me/…` and
//! `/users/<own uuid>/…` pass where `/users/<someone else>/…` does not
//! ([`Identity::resolve_me`] turns it into the UUID for the handler).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use moka::sync::Cache;
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use crate::client::Validation;
use crate::{Client, Error, Token};

/// Checks tokens against one Tessera, with a bounded cache of recent answers. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    cache: Option<Cache<Key, Cached>>,
    /// The calls under way, when caching: each question's answer, once it comes.
    inflight: Mutex<HashMap<Key, watch::Receiver<Option<Answer>>>>,
    positive_ttl: Duration,
    negative_ttl: Duration,
    token_from_query: bool,
    missing_acl_status: StatusCode,
}

/// Settings of a [`Verifier`]; see [`Verifier::builder`].
pub struct VerifierBuilder {
    client: Client,
    cache_ttl: Duration,
    negative_ttl: Duration,
    cache_capacity: u64,
    token_from_query: bool,
    missing_acl_status: StatusCode,
}

impl VerifierBuilder {
    /// How long a positive answer is reused (default 5 s; never past the token's expiry). A token
    /// revoked in Tessera stops being accepted within this delay. Zero turns the cache off.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How long a refusal (unknown token, missing ACL) is reused (default 1 s; zero: never).
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// Most answers kept (default 10,000); the least useful go first.
    pub fn cache_capacity(mut self, entries: u64) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// Also read the token from `?token=` when there is no `X-Auth-Token` header (off by
    /// default: URLs end up in logs).
    pub fn token_from_query(mut self, enabled: bool) -> Self {
        self.token_from_query = enabled;
        self
    }

    /// The status of a valid token that lacks the route's ACL: 401 (default, as wazo's verifier and
    /// Tessera's own endpoints) or 403.
    pub fn missing_acl_status(mut self, status: StatusCode) -> Self {
        self.missing_acl_status = status;
        self
    }

    pub fn build(self) -> Verifier {
        let cached = !self.cache_ttl.is_zero() || !self.negative_ttl.is_zero();
        let cache = (cached && self.cache_capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(self.cache_capacity)
                .expire_after(PerEntry)
                .build()
        });
        Verifier {
            inner: Arc::new(Inner {
                client: self.client,
                cache,
                inflight: Mutex::default(),
                positive_ttl: self.cache_ttl,
                negative_ttl: self.negative_ttl,
                token_from_query: self.token_from_query,
                missing_acl_status: self.missing_acl_status,
            }),
        }
    }
}

/// Why a request was turned away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or one Tessera does not know as a live access token (unknown, expired, revoked,
    /// a refresh token): 401 `not_found_or_expired`.
    InvalidToken,
    /// A valid token without the required ACL or of another tenant: 401 (or 403)
    /// `missing_permission_or_invalid_tenant`.
    MissingPermission,
    /// Tessera did not answer, or answered an error of its own: 503.
    Unreachable(Error),
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct Key {
    token: String,
    required_acl: String,
    tenant: Option<String>,
}

type Answer = Result<Arc<Token>, Refusal>;

/// Removes a call from the calls under way however its request ends (cancellation included).
struct Leave<'a> {
    inflight: &'a Mutex<HashMap<Key, watch::Receiver<Option<Answer>>>>,
    key: &'a Key,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(self.key);
    }
}

#[derive(Clone)]
struct Cached {
    answer: Answer,
    until: Instant,
    ttl: Duration,
}

/// Each entry lives its own TTL: the positive TTL cut at the token's expiry, or the negative TTL.
struct PerEntry;

impl moka::Expiry<Key, Cached> for PerEntry {
    fn expire_after_create(&self, _: &Key, value: &Cached, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _: &Key,
        value: &Cached,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

impl Verifier {
    /// A verifier with the default settings (5 s positive cache, 1 s negative cache).
    pub fn new(client: Client) -> Verifier {
        Verifier::builder(client).build()
    }

    pub fn builder(client: Client) -> VerifierBuilder {
        VerifierBuilder {
            client,
            cache_ttl: Duration::from_secs(5),
            negative_ttl: Duration::from_secs(1),
            cache_capacity: 10_000,
            token_from_query: false,
            missing_acl_status: StatusCode::UNAUTHORIZED,
        }
    }

    /// A layer that lets a request through only with a token granting `template` filled from the
    /// route's path parameters (`"svc.users.{user_uuid}.read"`). `""` asks for a valid token only.
    /// Put it on the route (`Router::route_layer`, or `MethodRouter::layer`) so that the path
    /// parameters are known.
    pub fn require(&self, template: &str) -> RequireAcl {
        RequireAcl {
            verifier: self.clone(),
            template: Arc::new(Template::parse(template)),
        }
    }

    /// Asks Tessera (or the cache) whether `token` is a live access token granting `required_acl`
    /// (none when empty) in `tenant` (when given).
    pub async fn verify(
        &self,
        token: &str,
        required_acl: &str,
        tenant: Option<&str>,
    ) -> Result<Arc<Token>, Refusal> {
        // Tessera's tokens are UUIDs: anything else is refused without a call (and without a cache
        // entry that a flood of junk values could evict good ones with).
        if !is_uuid(token) {
            return Err(Refusal::InvalidToken);
        }
        let key = Key {
            token: token.to_string(),
            required_acl: required_acl.to_string(),
            tenant: tenant.map(str::to_string),
        };
        let Some(cache) = &self.inner.cache else {
            return self.ask(&key).await;
        };
        if let Some(cached) = cache.get(&key) {
            if cached.until > Instant::now() {
                return cached.answer;
            }
        }
        // Many requests with the same token at once (a cold cache, an expired entry of a busy
        // token) make one call: the first leads, the others wait for its answer.
        let leader = {
            let mut inflight = self
                .inner
                .inflight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match inflight.get(&key) {
                Some(answer) => Err(answer.clone()),
                None => {
                    let (leader, answer) = watch::channel(None);
                    inflight.insert(key.clone(), answer);
                    Ok(leader)
                }
            }
        };
        let leader = match leader {
            Ok(leader) => leader,
            Err(mut answer) => {
                if let Ok(answer) = answer.wait_for(Option::is_some).await {
                    if let Some(answer) = answer.as_ref() {
                        return answer.clone();
                    }
                }
                // The leading request was cancelled: ask for this one.
                return self.ask(&key).await;
            }
        };
        let _leave = Leave {
            inflight: &self.inner.inflight,
            key: &key,
        };
        let answer = self.ask(&key).await;
        if !matches!(answer, Err(Refusal::Unreachable(_))) {
            self.remember(cache, key.clone(), &answer);
        }
        leader.send_replace(Some(answer.clone()));
        answer
    }

    /// One validation by Tessera.
    async fn ask(&self, key: &Key) -> Answer {
        let validation = Validation {
            scope: (!key.required_acl.is_empty()).then_some(key.required_acl.as_str()),
            tenant: key.tenant.as_deref(),
        };
        match self.inner.client.token_info(&key.token, validation).await {
            Ok(description) => Ok(Arc::new(description)),
            Err(Error::NotFound { .. }) => Err(Refusal::InvalidToken),
            Err(Error::Forbidden { .. }) => Err(Refusal::MissingPermission),
            Err(error) => {
                tracing::warn!(%error, "Tessera could not validate a token");
                Err(Refusal::Unreachable(error))
            }
        }
    }

    fn remember(&self, cache: &Cache<Key, Cached>, key: Key, answer: &Answer) {
        let ttl = match answer {
            Ok(token) => {
                let left = token
                    .expires_at
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                self.inner.positive_ttl.min(left)
            }
            Err(_) => self.inner.negative_ttl,
        };
        if !ttl.is_zero() {
            let until = Instant::now() + ttl;
            cache.insert(
                key,
                Cached {
                    answer: answer.clone(),
                    until,
                    ttl,
                },
            );
        }
    }

    /// Reads the token, fills the ACL, verifies; on success the identity is in the extensions.
    async fn authorize<B>(
        &self,
        template: &Template,
        request: Request<B>,
    ) -> Result<Request<B>, Response> {
        let (mut parts, body) = request.into_parts();
        let token = self.token_of(&parts);
        let params = RawPathParams::from_request_parts(&mut parts, &()).await;
        let params: Vec<(&str, &str)> = params
            .as_ref()
            .map(|p| p.iter().collect())
            .unwrap_or_default();
        let required_acl = match template.fill(&params) {
            Ok(acl) => acl,
            Err(name) => {
                tracing::error!(parameter = %name, "required ACL template names no path parameter");
                return Err(template_error(&name));
            }
        };
        let tenant = parts
            .headers
            .get("wazo-tenant")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        match self.verify(&token, &required_acl, tenant.as_deref()).await {
            Ok(description) => {
                parts.extensions.insert(Identity {
                    description,
                    required_acl: required_acl.into(),
                });
                Ok(Request::from_parts(parts, body))
            }
            Err(refusal) => Err(self.refuse(&refusal, &token, &required_acl, tenant.as_deref())),
        }
    }

    /// `X-Auth-Token`, else `?token=` when enabled, else `""`.
    fn token_of(&self, parts: &Parts) -> String {
        if let Some(value) = parts.headers.get("x-auth-token") {
            return String::from_utf8_lossy(value.as_bytes()).into_owned();
        }
        if self.inner.token_from_query {
            if let Some(query) = parts.uri.query() {
                if let Some((_, value)) =
                    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "token")
                {
                    return value.into_owned();
                }
            }
        }
        String::new()
    }

    /// The refusal in wazo's shapes (`rest_api_helpers.APIException`).
    fn refuse(
        &self,
        refusal: &Refusal,
        token: &str,
        required_acl: &str,
        tenant: Option<&str>,
    ) -> Response {
        let required = (!required_acl.is_empty()).then_some(required_acl);
        match refusal {
            Refusal::InvalidToken => {
                let mut details = Map::new();
                details.insert("invalid_token".into(), json!(token));
                details.insert("reason".into(), json!("not_found_or_expired"));
                if let Some(required) = required {
                    details.insert("required_access".into(), json!(required));
                }
                api_error(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "unauthorized",
                    Value::Object(details),
                )
            }
            Refusal::MissingPermission => {
                let status = self.inner.missing_acl_status;
                let (message, error_id) = if status == StatusCode::FORBIDDEN {
                    ("Forbidden", "forbidden")
                } else {
                    ("Unauthorized", "unauthorized")
                };
                let details = json!({
                    "invalid_token": token,
                    "reason": "missing_permission_or_invalid_tenant",
                    "required_access": required,
                    "tenant_uuid": tenant,
                });
                api_error(status, message, error_id, details)
            }
            Refusal::Unreachable(error) => {
                let base = self.inner.client.base_url();
                let details = json!({
                    "auth_server_host": base.host_str(),
                    "auth_server_port": base.port_or_known_default(),
                    "original_error": error.to_string(),
                });
                let mut response = api_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Authentication server unreachable",
                    "authentication-server-unreachable",
                    details,
                );
                if let Some(delay) = error.retry_after() {
                    if let Ok(value) = HeaderValue::from_str(&delay.as_secs().to_string()) {
                        response.headers_mut().insert(header::RETRY_AFTER, value);
                    }
                }
                response
            }
        }
    }
}

fn api_error(status: StatusCode, message: &str, error_id: &str, details: Value) -> Response {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let body = json!({
        "message": message,
        "error_id": error_id,
        "details": details,
        "timestamp": timestamp,
    });
    (status, axum::Json(body)).into_response()
}

fn template_error(name: &str) -> Response {
    api_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The route's required ACL names a path parameter it does not have",
        "required-acl-template",
        json!({ "parameter": name }),
    )
}

/// The 36-character hyphenated spelling, the only one Tessera accepts.
fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// A required ACL with `{name}` holes. Braces around anything but a name are text.
#[derive(Debug, PartialEq)]
struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, PartialEq)]
enum Part {
    Text(String),
    Param(String),
}

impl Template {
    fn parse(template: &str) -> Template {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let (before, after) = rest.split_at(open);
            text.push_str(before);
            let after = after.get(1..).unwrap_or_default();
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            match after.get(name_len..).and_then(|r| r.strip_prefix('}')) {
                Some(remainder) if name_len > 0 => {
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Param(
                        after.get(..name_len).unwrap_or_default().to_string(),
                    ));
                    rest = remainder;
                }
                _ => {
                    text.push('{');
                    rest = after;
                }
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Template { parts }
    }

    /// The ACL for these path parameters (wazo's rule: each `.` of a value becomes `_`), or the
    /// name of a hole no parameter fills.
    fn fill(&self, params: &[(&str, &str)]) -> Result<String, String> {
        let mut acl = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => acl.push_str(text),
                Part::Param(name) => {
                    let (_, value) = params
                        .iter()
                        .find(|(key, _)| key == name)
                        .ok_or_else(|| name.clone())?;
                    acl.push_str(&value.replace('.', "_"));
                }
            }
        }
        Ok(acl)
    }
}

/// The tower layer of [`Verifier::require`].
#[derive(Clone)]
pub struct RequireAcl {
    verifier: Verifier,
    template: Arc<Template>,
}

impl<S> tower_layer::Layer<S> for RequireAcl {
    type Service = RequireAclService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAclService {
            inner,
            verifier: self.verifier.clone(),
            template: self.template.clone(),
        }
    }
}

/// The service [`RequireAcl`] wraps around a route.
#[derive(Clone)]
pub struct RequireAclService<S> {
    inner: S,
    verifier: Verifier,
    template: Arc<Template>,
}

impl<S, B> tower_service::Service<Request<B>> for RequireAclService<S>
where
    S: tower_service::Service<Request<B>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was polled ready is the one that serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        let template = self.template.clone();
        Box::pin(async move {
            match verifier.authorize(&template, request).await {
                Ok(request) => inner.call(request).await.map(IntoResponse::into_response),
                Err(refusal) => Ok(refusal),
            }
        })
    }
}

/// Who made the request: the token [`RequireAcl`] accepted, as Tessera described it.
/// An axum extractor; on a route without the layer it answers 500 (a wiring mistake).
#[derive(Clone, Debug)]
pub struct Identity {
    description: Arc<Token>,
    required_acl: Arc<str>,
}

impl Identity {
    /// The access token itself (to call other services on the user's behalf).
    pub fn token(&self) -> &str {
        &self.description.token
    }

    /// The user's UUID.
    pub fn auth_id(&self) -> &str {
        &self.description.auth_id
    }

    pub fn session_uuid(&self) -> &str {
        &self.description.session_uuid
    }

    pub fn tenant_uuid(&self) -> Option<&str> {
        self.description.tenant_uuid()
    }

    pub fn acl(&self) -> &[String] {
        &self.description.acl
    }

    pub fn metadata(&self) -> &Map<String, Value> {
        &self.description.metadata
    }

    pub fn expires_at(&self) -> SystemTime {
        self.description.expires_at
    }

    /// The ACL this request was checked against (the route's template, filled).
    pub fn required_acl(&self) -> &str {
        &self.required_acl
    }

    /// The whole description (scope, issue time, remote address, …).
    pub fn description(&self) -> &Token {
        &self.description
    }

    /// A user path value with `me` read as the caller's own UUID.
    pub fn resolve_me<'a>(&'a self, value: &'a str) -> &'a str {
        if value == "me" {
            self.auth_id()
        } else {
            value
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Identity>().cloned().ok_or_else(|| {
            tracing::error!("Identity extracted on a route without the RequireAcl layer");
            api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The route is not protected by tessera_client::RequireAcl",
                "missing-require-acl-layer",
                json!({}),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_like_wazo() {
        let template = Template::parse("svc.users.{user_uuid}.tokens.{client_id}.delete");
        assert_eq!(
            template.fill(&[("user_uuid", "me"), ("client_id", "my.app")]),
            Ok("svc.users.me.tokens.my_app.delete".into())
        );
        assert_eq!(
            template.fill(&[("user_uuid", "u")]),
            Err("client_id".to_string())
        );
        // Braces around anything but a name are text.
        let literal = Template::parse("a.{}.{not a name}.{x");
        assert_eq!(
            literal.parts,
            vec![Part::Text("a.{}.{not a name}.{x".into())]
        );
        assert_eq!(Template::parse("").fill(&[]), Ok(String::new()));
        assert_eq!(
            Template::parse("{a}{b}").fill(&[("a", "1.2"), ("b", "#")]),
            Ok("1_2#".into())
        );
    }

    #[test]
    fn only_hyphenated_uuids_are_tokens() {
        assert!(is_uuid("7d7f2c1e-0000-4000-8000-00000000000A"));
        assert!(!is_uuid("7d7f2c1e000040008000000000000001"));
        assert!(!is_uuid("{7d7f2c1e-0000-4000-8000-00000000001}"));
        assert!(!is_uuid("7d7f2c1e-0000-4000-8000-00000000000/"));
        assert!(!is_uuid(""));
    }
}
