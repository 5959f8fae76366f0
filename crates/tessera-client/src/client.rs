//! [`Client`]: typed calls of Tessera's token API over one pool of keep-alive connections.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::header::RETRY_AFTER;
use reqwest::{Method, RequestBuilder, Url};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::Error;

/// A handle on one Tessera. Cheap to clone: clones share the connection pool.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
}

/// Settings of a [`Client`]; see [`Client::builder`].
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    base_url: String,
    connect_timeout: Duration,
    timeout: Duration,
    pool_idle_timeout: Duration,
    user_agent: String,
}

impl ClientBuilder {
    /// Time to open a TCP connection (default 2 s): past it, the call is [`Error::Unreachable`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time for a whole call, connection included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long an idle keep-alive connection is kept for reuse (default 60 s).
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// The `User-Agent` sent (Tessera records it on the sessions a login opens).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let base = Url::parse(self.base_url.trim_end_matches('/'))
            .map_err(|e| Error::Config(format!("base URL: {e}")))?;
        match base.scheme() {
            "http" => {}
            "https" if cfg!(feature = "native-tls") => {}
            "https" => {
                return Err(Error::Config(
                    "an https base URL needs the `native-tls` feature of tessera-client".into(),
                ))
            }
            other => return Err(Error::Config(format!("base URL scheme {other}"))),
        }
        if base.cannot_be_a_base() || base.query().is_some() || base.fragment().is_some() {
            return Err(Error::Config(
                "base URL must be like http://host:9497/api/auth/0.1".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .pool_idle_timeout(self.pool_idle_timeout)
            .user_agent(self.user_agent)
            // A request that carries a password or a token goes where it was addressed, nowhere else.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Client { http, base })
    }
}

/// Options of a password login ([`Client::login_with`]).
#[derive(Clone, Debug, Default)]
pub struct LoginOptions {
    /// Access-token lifetime in seconds (the server's `default_token_lifetime` when `None`).
    pub expiration: Option<u64>,
    /// `Some(client_id)` asks for a refresh token bound to that client (`access_type: offline`).
    pub client_id: Option<String>,
    /// With `client_id`: limits every access token minted from the refresh token to these ACL
    /// entries (Tessera's scope-limited refresh tokens).
    pub scope: Option<Vec<String>>,
    /// Marks the session mobile (`Wazo-Session-Type: mobile`).
    pub mobile: bool,
}

/// Options of a refresh-token grant ([`Client::refresh_with`]).
#[derive(Clone, Debug, Default)]
pub struct GrantOptions {
    /// Access-token lifetime in seconds.
    pub expiration: Option<u64>,
    /// Narrows this one access token to these entries (each must be covered by the refresh token's
    /// scope, or the answer is [`Error::BadRequest`] `invalid_scope`).
    pub scope: Option<Vec<String>>,
}

/// What a validation asks besides "is this token valid": `?scope=` and `?tenant=`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Validation<'a> {
    /// An access string the token's ACL must grant (else [`Error::Forbidden`]).
    pub scope: Option<&'a str>,
    /// A tenant UUID the token must belong to (else [`Error::Forbidden`]).
    pub tenant: Option<&'a str>,
}

/// A token as Tessera describes it (the `data` of POST /token and GET /token/{token}).
#[derive(Clone, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct Token {
    /// The access token value.
    pub token: String,
    /// The user's UUID.
    pub auth_id: String,
    pub session_uuid: String,
    #[serde(default)]
    pub xivo_user_uuid: Option<String>,
    #[serde(default)]
    pub xivo_uuid: Option<String>,
    #[serde(rename = "utc_issued_at", deserialize_with = "utc_time")]
    pub issued_at: SystemTime,
    #[serde(rename = "utc_expires_at", deserialize_with = "utc_time")]
    pub expires_at: SystemTime,
    #[serde(default)]
    pub acl: Vec<String>,
    /// `null` when the token is not scope-limited.
    #[serde(default)]
    pub scope: Option<Vec<String>>,
    /// `uuid`, `tenant_uuid`, `auth_id`, `pbx_user_uuid`, `xivo_uuid`, `purpose`.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    #[serde(default)]
    pub remote_addr: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Only in the answer to an offline login, or to a grant when the server rotates refresh tokens.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl Token {
    /// `expires_at − issued_at`: what the server granted, free of any clock difference.
    pub fn lifetime(&self) -> Duration {
        self.expires_at
            .duration_since(self.issued_at)
            .unwrap_or_default()
    }

    /// The tenant of the token's user (`metadata.tenant_uuid`).
    pub fn tenant_uuid(&self) -> Option<&str> {
        self.metadata.get("tenant_uuid").and_then(Value::as_str)
    }
}

/// Never prints the token or refresh-token values.
impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("token", &"<redacted>")
            .field("auth_id", &self.auth_id)
            .field("session_uuid", &self.session_uuid)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("acl", &self.acl)
            .field("scope", &self.scope)
            .field("metadata", &self.metadata)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// `%Y-%m-%dT%H:%M:%S.%f` in UTC, no zone designator.
fn utc_time<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<SystemTime, D::Error> {
    let text = String::deserialize(deserializer)?;
    chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|time| SystemTime::from(time.and_utc()))
        .map_err(serde::de::Error::custom)
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

#[derive(Deserialize)]
struct ScopesAnswer {
    scopes: BTreeMap<String, bool>,
}

impl Client {
    /// A client with the default settings; `base_url` is like `http://host:9497/api/auth/0.1`.
    pub fn new(base_url: &str) -> Result<Client, Error> {
        Client::builder(base_url).build()
    }

    pub fn builder(base_url: &str) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.to_string(),
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(60),
            user_agent: concat!("tessera-client/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// A password login: an access token with the server's default lifetime.
    pub async fn login(&self, username: &str, password: &str) -> Result<Token, Error> {
        self.login_with(username, password, &LoginOptions::default())
            .await
    }

    /// A password login that also returns a refresh token bound to `client_id`
    /// (`Token::refresh_token`), optionally limited to `scope`.
    pub async fn login_offline(
        &self,
        username: &str,
        password: &str,
        client_id: &str,
        scope: Option<Vec<String>>,
    ) -> Result<Token, Error> {
        let options = LoginOptions {
            client_id: Some(client_id.to_string()),
            scope,
            ..LoginOptions::default()
        };
        self.login_with(username, password, &options).await
    }

    pub async fn login_with(
        &self,
        username: &str,
        password: &str,
        options: &LoginOptions,
    ) -> Result<Token, Error> {
        let mut body = Map::new();
        if let Some(expiration) = options.expiration {
            body.insert("expiration".into(), json!(expiration));
        }
        if let Some(client_id) = &options.client_id {
            body.insert("access_type".into(), json!("offline"));
            body.insert("client_id".into(), json!(client_id));
            if let Some(scope) = &options.scope {
                body.insert("scope".into(), json!(scope));
            }
        }
        let mut request = self
            .request(Method::POST, &["token"])
            .basic_auth(username, Some(password))
            .json(&body);
        if options.mobile {
            request = request.header("Wazo-Session-Type", "mobile");
        }
        let bytes = self.send(request).await?;
        parse::<Data<Token>>(&bytes).map(|d| d.data)
    }

    /// The refresh-token grant: a new access token without the password.
    pub async fn refresh(&self, refresh_token: &str, client_id: &str) -> Result<Token, Error> {
        self.refresh_with(refresh_token, client_id, &GrantOptions::default())
            .await
    }

    /// The grant with a lifetime or a narrower scope. When the server rotates refresh tokens, the
    /// answer's `refresh_token` is the value to use from now on.
    pub async fn refresh_with(
        &self,
        refresh_token: &str,
        client_id: &str,
        options: &GrantOptions,
    ) -> Result<Token, Error> {
        let mut body = Map::new();
        body.insert("refresh_token".into(), json!(refresh_token));
        body.insert("client_id".into(), json!(client_id));
        if let Some(expiration) = options.expiration {
            body.insert("expiration".into(), json!(expiration));
        }
        if let Some(scope) = &options.scope {
            body.insert("scope".into(), json!(scope));
        }
        let request = self.request(Method::POST, &["token"]).json(&body);
        let bytes = self.send(request).await?;
        parse::<Data<Token>>(&bytes).map(|d| d.data)
    }

    /// `HEAD /token/{token}`: `Ok(())` when the token is valid and grants what `validation` asks;
    /// [`Error::NotFound`] for an unknown or expired token, [`Error::Forbidden`] for a scope or
    /// tenant it lacks.
    pub async fn check(&self, token: &str, validation: Validation<'_>) -> Result<(), Error> {
        let request = self
            .request(Method::HEAD, &["token", token])
            .query(&validation.query());
        self.send(request).await.map(|_| ())
    }

    /// `GET /token/{token}`: the same checks as [`Client::check`], answering the token's description.
    pub async fn token_info(
        &self,
        token: &str,
        validation: Validation<'_>,
    ) -> Result<Token, Error> {
        let request = self
            .request(Method::GET, &["token", token])
            .query(&validation.query());
        let bytes = self.send(request).await?;
        parse::<Data<Token>>(&bytes).map(|d| d.data)
    }

    /// `DELETE /token/{token}`: ends the token's session (or deletes a refresh token and its
    /// sessions). Succeeds for unknown tokens too.
    pub async fn revoke(&self, token: &str) -> Result<(), Error> {
        let request = self.request(Method::DELETE, &["token", token]);
        self.send(request).await.map(|_| ())
    }

    /// `POST /token/{token}/scopes/check`: which of `scopes` the token grants.
    pub async fn check_scopes(
        &self,
        token: &str,
        scopes: &[&str],
        tenant: Option<&str>,
    ) -> Result<BTreeMap<String, bool>, Error> {
        let mut body = Map::new();
        body.insert("scopes".into(), json!(scopes));
        if let Some(tenant) = tenant {
            body.insert("tenant_uuid".into(), json!(tenant));
        }
        let request = self
            .request(Method::POST, &["token", token, "scopes", "check"])
            .json(&body);
        let bytes = self.send(request).await?;
        parse::<ScopesAnswer>(&bytes).map(|a| a.scopes)
    }

    /// The base URL with `segments` appended, each percent-encoded: a token holding `/`, `?` or `#`
    /// stays one path segment and cannot reach another endpoint or add a query.
    fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        self.http.request(method, url)
    }

    /// Sends; a 2xx answers its body, anything else the matching [`Error`].
    async fn send(&self, request: RequestBuilder) -> Result<bytes::Bytes, Error> {
        let response = request.send().await.map_err(Error::transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(Error::transport)?;
        if status.is_success() {
            return Ok(body);
        }
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut error = Error::from_status(status.as_u16(), retry_after, &body);
        if let Error::NotFound { message } | Error::Forbidden { message } = &mut error {
            // HEAD answers carry no body.
            if message.is_empty() {
                *message = status.canonical_reason().unwrap_or_default().to_string();
            }
        }
        Err(error)
    }
}

impl Validation<'_> {
    fn query(&self) -> Vec<(&str, &str)> {
        let mut query = Vec::new();
        if let Some(scope) = self.scope {
            query.push(("scope", scope));
        }
        if let Some(tenant) = self.tenant {
            query.push(("tenant", tenant));
        }
        query
    }
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::InvalidResponse(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_segments_are_encoded() {
        let client = Client::new("http://127.0.0.1:9497/api/auth/0.1/").unwrap();
        let request = client
            .request(Method::HEAD, &["token", "a/../../users?scope=#"])
            .build()
            .unwrap();
        assert_eq!(
            request.url().as_str(),
            "http://127.0.0.1:9497/api/auth/0.1/token/a%2F..%2F..%2Fusers%3Fscope=%23"
        );
    }

    #[test]
    fn base_urls_are_checked() {
        assert!(Client::new("http://127.0.0.1:9497/0.1").is_ok());
        assert!(matches!(Client::new("ftp://x/"), Err(Error::Config(_))));
        assert!(matches!(Client::new("not a url"), Err(Error::Config(_))));
        assert!(matches!(
            Client::new("http://x/0.1?token=1"),
            Err(Error::Config(_))
        ));
        if !cfg!(feature = "native-tls") {
            assert!(matches!(
                Client::new("https://x/0.1"),
                Err(Error::Config(_))
            ));
        }
    }

    #[test]
    fn token_bodies_parse_and_debug_hides_secrets() {
        let body = br#"{"data": {"token": "7d7f2c1e-0000-4000-8000-000000000001", "auth_id": "u",
            "session_uuid": "s", "xivo_user_uuid": null, "xivo_uuid": null,
            "issued_at": "2026-05-05T14:05:31.123456", "expires_at": "2026-05-05T16:05:31.123456",
            "utc_issued_at": "2026-05-05T12:05:31.123456", "utc_expires_at": "2026-05-05T14:05:31.123456",
            "acl": ["a.b"], "metadata": {"tenant_uuid": "t"}, "remote_addr": "127.0.0.1",
            "user_agent": "x", "refresh_token": "0e3b5d7a-0000-4000-8000-000000000002"}}"#;
        let token = parse::<Data<Token>>(body).unwrap().data;
        assert_eq!(token.lifetime(), Duration::from_secs(7200));
        assert_eq!(token.tenant_uuid(), Some("t"));
        let debug = format!("{token:?}");
        assert!(
            !debug.contains("7d7f2c1e") && !debug.contains("0e3b5d7a"),
            "{debug}"
        );
    }
}
