//! A real Tessera in-process on 127.0.0.1 (SQLite in a temporary directory, the system clock: the
//! client's timers are real), plus helpers to seed it over HTTP and to read its metrics.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use tessera_client::Client;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-secret:pw";
pub const PASSWORD: &str = "user-secret-pw";
const TOKEN_SECRET: &str = "tessera-client-test-secret-0123456789";

pub struct Tessera {
    pub addr: SocketAddr,
    metrics: SocketAddr,
    config: tessera::Config,
    server: Option<tessera::RunningServer>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Tessera {
    pub async fn start() -> Tessera {
        Tessera::start_with(|_| {}).await
    }

    /// Starts after `tweak` has adjusted the configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut tessera::Config)) -> Tessera {
        let mut config = tessera::Config::default();
        tweak(&mut config);
        Tessera::start_from(config).await
    }

    /// A configuration with `key = value` set through serde, for keys this server may not know:
    /// `None` when it does not.
    pub fn config_with(key: &str, value: Value) -> Option<tessera::Config> {
        let mut json = serde_json::to_value(tessera::Config::default()).unwrap();
        json[key] = value;
        serde_json::from_value(json).ok()
    }

    /// Starts from `config`, with this harness's address, database, administrator and secret.
    pub async fn start_from(mut config: tessera::Config) -> Tessera {
        let dir = tempfile::tempdir().unwrap();
        config.listen = "127.0.0.1:0".into();
        config.metrics_listen = Some("127.0.0.1:0".into());
        config.database_url = format!("sqlite://{}", dir.path().join("tessera.db").display());
        config.bootstrap_username = Some(ADMIN.into());
        config.bootstrap_password = Some(ADMIN_PASSWORD.into());
        config.token_secret = Some(TOKEN_SECRET.into());
        let server = tessera::RunningServer::start(config.clone())
            .await
            .expect("server starts");
        let addr = server.local_addr();
        let metrics = server.metrics_addr().unwrap();
        // From now on the same port, so that a restart is the same service to its clients.
        let config = tessera::Config {
            listen: addr.to_string(),
            ..config
        };
        Tessera {
            addr,
            metrics,
            config,
            server: Some(server),
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// Stops accepting and closes (connections in flight finish).
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    /// Starts again on the same port, database file and token secret.
    pub async fn restart(&mut self) {
        self.stop().await;
        let server = tessera::RunningServer::start(self.config.clone())
            .await
            .expect("server restarts");
        self.metrics = server.metrics_addr().unwrap();
        self.server = Some(server);
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/api/auth/0.1", self.addr)
    }

    pub fn client(&self) -> Client {
        Client::builder(&self.base_url())
            .connect_timeout(Duration::from_millis(500))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    /// The sum of every series of a counter, e.g. `tessera_refresh_grants_total{outcome="success"}`
    /// or `tessera_validations_total` (all outcomes).
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self
            .http
            .get(format!("http://{}/metrics", self.metrics))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|line| {
                line.strip_prefix(series)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub async fn grants(&self) -> f64 {
        self.metric("tessera_refresh_grants_total{outcome=\"success\"}")
            .await
    }

    pub async fn validations(&self) -> f64 {
        self.metric("tessera_validations_total").await
    }

    pub async fn admin_token(&self) -> String {
        self.client()
            .login(ADMIN, ADMIN_PASSWORD)
            .await
            .unwrap()
            .token
    }

    async fn admin_call(
        &self,
        admin: &str,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base_url()))
            .header("X-Auth-Token", admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A user with password [`PASSWORD`] holding one policy with `acl`; returns its UUID.
    pub async fn user_with_acl(&self, username: &str, acl: &[&str]) -> String {
        let admin = self.admin_token().await;
        let user = self
            .admin_call(
                &admin,
                reqwest::Method::POST,
                "/users",
                json!({"username": username, "password": PASSWORD}),
            )
            .await;
        let policy = self
            .admin_call(
                &admin,
                reqwest::Method::POST,
                "/policies",
                json!({"name": format!("{username}-policy"), "acl": acl}),
            )
            .await;
        let user_uuid = user["uuid"].as_str().unwrap().to_string();
        let policy_uuid = policy["uuid"].as_str().unwrap();
        self.admin_call(
            &admin,
            reqwest::Method::PUT,
            &format!("/users/{user_uuid}/policies/{policy_uuid}"),
            Value::Null,
        )
        .await;
        user_uuid
    }

    /// A fresh access token of `username` (password [`PASSWORD`]).
    pub async fn token_of(&self, username: &str) -> String {
        self.client().login(username, PASSWORD).await.unwrap().token
    }

    /// Whether Tessera accepts `token` now (HEAD /token/{token}).
    pub async fn is_valid(&self, token: &str) -> bool {
        self.client().check(token, Default::default()).await.is_ok()
    }
}

impl Drop for Tessera {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
