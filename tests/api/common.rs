//! Test harness: a real Tessera server on 127.0.0.1:0, backed by a fresh SQLite file or a fresh
//! PostgreSQL database, driven over HTTP with reqwest.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use tessera::domain::clock::ManualClock;

use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::{json, Value};

pub const ADMIN_USERNAME: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-secret:pw";
pub const PREFIX: &str = "/api/auth/0.1";
/// The `token_secret` of every test server on PostgreSQL, which refuses to start without one.
pub const TEST_TOKEN_SECRET: &str = "tessera-test-secret-0123456789abcdef";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Sqlite,
    Postgres,
}

/// Runs `async fn NAME(store: Store)` once per store: `NAME::sqlite` and `NAME::postgres`.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Store::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Store::Postgres).await
            }
        }
    )+};
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// The server's clock: tests advance it instead of sleeping.
    pub clock: Arc<ManualClock>,
    pub client: Client,
    pub database_url: String,
    server: Option<tessera::RunningServer>,
    _dir: tempfile::TempDir,
    pg_database: Option<String>,
}

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub async fn start(store: Store) -> TestServer {
    start_with(store, |_| {}).await
}

/// Starts a server after `tweak` has adjusted its configuration.
pub async fn start_with(store: Store, tweak: impl FnOnce(&mut tessera::Config)) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let (database_url, pg_database) = match store {
        Store::Sqlite => (
            format!("sqlite://{}", dir.path().join("tessera.db").display()),
            None,
        ),
        Store::Postgres => {
            let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
            pg_admin(&format!("CREATE DATABASE {name}")).await;
            (
                format!("postgres://postgres@127.0.0.1:5432/{name}"),
                Some(name),
            )
        }
    };
    let mut config = tessera::Config {
        listen: "127.0.0.1:0".into(),
        database_url,
        bootstrap_username: Some(ADMIN_USERNAME.into()),
        bootstrap_password: Some(ADMIN_PASSWORD.into()),
        token_secret: (store == Store::Postgres).then(|| TEST_TOKEN_SECRET.into()),
        ..Default::default()
    };
    tweak(&mut config);
    let database_url = config.database_url.clone();
    let clock = ManualClock::starting_now();
    let server = tessera::RunningServer::start_with_clock(config, clock.clone())
        .await
        .expect("server starts");
    TestServer {
        addr: server.local_addr(),
        clock,
        client: Client::new(),
        database_url,
        server: Some(server),
        _dir: dir,
        pg_database,
    }
}

/// Starts a server with exactly `config` (on an existing database: nothing is created or
/// dropped for it), or the error that stopped it.
pub async fn start_config(config: tessera::Config) -> anyhow::Result<TestServer> {
    let database_url = config.database_url.clone();
    let clock = ManualClock::starting_now();
    let server = tessera::RunningServer::start_with_clock(config, clock.clone()).await?;
    Ok(TestServer {
        addr: server.local_addr(),
        clock,
        client: Client::new(),
        database_url,
        server: Some(server),
        _dir: tempfile::tempdir().expect("tempdir"),
        pg_database: None,
    })
}

/// Runs one statement on the PostgreSQL maintenance database; PostgreSQL must be up: tests fail, never skip.
pub async fn pg_admin(statement: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(PG_ADMIN_URL)
        .await
        .expect("PostgreSQL must be running at 127.0.0.1:5432 (user postgres, trust auth)");
    sqlx::query(statement)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if let Some(name) = self.pg_database.take() {
            // Drop the per-test database from a thread of its own: Drop cannot await.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(pg_admin(&format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )));
                }
            })
            .join();
        }
    }
}

impl TestServer {
    /// `http://127.0.0.1:PORT/api/auth/0.1` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}{}", self.addr, PREFIX, path)
    }

    /// `http://127.0.0.1:PORT` + path, for paths outside the prefix.
    pub fn raw_url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The metrics listener's address, when `metrics_listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.server
            .as_ref()
            .and_then(|server| server.metrics_addr())
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A password login; returns the whole response.
    pub async fn login(&self, username: &str, password: &str, body: Value) -> Response {
        self.request(Method::POST, "/token")
            .basic_auth(username, Some(password))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// A password login that must succeed; returns `data`.
    pub async fn login_ok(&self, username: &str, password: &str, body: Value) -> Value {
        let response = self.login(username, password, body).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, 200, "login of {username} failed: {text}");
        serde_json::from_str::<Value>(&text).expect("json")["data"].clone()
    }

    /// A fresh access token of the bootstrap administrator (ACL `#`).
    pub async fn admin_token(&self) -> String {
        self.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
            .await["token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    /// Creates a user through the API (as the administrator) and returns its JSON.
    pub async fn create_user(&self, username: &str, password: &str) -> Value {
        let admin = self.admin_token().await;
        self.create_user_with(&admin, json!({"username": username, "password": password}))
            .await
    }

    pub async fn create_user_with(&self, token: &str, body: Value) -> Value {
        let response = self
            .request(Method::POST, "/users")
            .header("X-Auth-Token", token)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "user creation failed");
        response.json().await.expect("json")
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers added for the suite.
// ---------------------------------------------------------------------------------------------

/// One HTTP exchange, fully read: status, headers, raw text and the body parsed as JSON
/// (`Value::Null` when the body is empty or not JSON).
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
    pub is_json: bool,
}

impl Reply {
    pub async fn read(response: Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let (body, is_json) = match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => (v, true),
            Err(_) => (Value::Null, false),
        };
        Reply {
            status,
            headers,
            text,
            body,
            is_json,
        }
    }

    /// `body["data"]`.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The string at `v`, or a panic naming it.
pub fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_string()
}

/// Asserts the token-endpoint error shape: `{"reason": [..], "timestamp": [float], "status_code": N}`.
pub fn assert_token_error(reply: &Reply, status: u16, context: &str) {
    assert_eq!(reply.status, status, "{context}: body {}", reply.text);
    let body = &reply.body;
    let reason = body["reason"]
        .as_array()
        .unwrap_or_else(|| panic!("{context}: no reason array in {}", reply.text));
    assert!(
        !reason.is_empty() && reason.iter().all(Value::is_string),
        "{context}: reason must be a list of strings: {}",
        reply.text
    );
    let timestamp = body["timestamp"]
        .as_array()
        .unwrap_or_else(|| panic!("{context}: no timestamp array in {}", reply.text));
    assert!(
        timestamp.len() == 1 && timestamp[0].is_number(),
        "{context}: timestamp must be [float]: {}",
        reply.text
    );
    assert_eq!(
        body["status_code"],
        json!(status),
        "{context}: status_code in {}",
        reply.text
    );
}

/// Asserts a 401 `Authentication Failed` of POST /token.
pub fn assert_auth_failed(reply: &Reply, context: &str) {
    assert_token_error(reply, 401, context);
    assert_eq!(
        reply.body["reason"],
        json!(["Authentication Failed"]),
        "{context}: reason"
    );
}

/// Asserts the general error shape: `{"message", "error_id", "details": {..}, "timestamp": float}`.
pub fn assert_api_error(reply: &Reply, status: u16, context: &str) {
    assert_eq!(reply.status, status, "{context}: body {}", reply.text);
    let body = &reply.body;
    assert!(
        body["message"].is_string(),
        "{context}: message in {}",
        reply.text
    );
    assert!(
        body["error_id"].is_string(),
        "{context}: error_id in {}",
        reply.text
    );
    assert!(
        body["details"].is_object(),
        "{context}: details object in {}",
        reply.text
    );
    assert!(
        body["timestamp"].is_number(),
        "{context}: timestamp number in {}",
        reply.text
    );
}

/// Asserts a 401 of a protected endpoint (`error_id` `unauthorized`).
pub fn assert_unauthorized(reply: &Reply, context: &str) {
    assert_api_error(reply, 401, context);
    assert_eq!(reply.body["error_id"], json!("unauthorized"), "{context}");
}

/// Asserts that the reply is an error (4xx, never 5xx) with a JSON object body.
pub fn assert_json_client_error(reply: &Reply, context: &str) {
    assert!(
        (400..500).contains(&reply.status),
        "{context}: expected a 4xx, got {} {}",
        reply.status,
        reply.text
    );
    assert!(
        reply.is_json && reply.body.is_object(),
        "{context}: error body must be a JSON object, got {:?}",
        reply.text
    );
}

/// Parses a time of a token response, asserting the format `%Y-%m-%dT%H:%M:%S.%6f` (no zone).
pub fn parse_time(value: &Value, context: &str) -> chrono::NaiveDateTime {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{context}: time must be a string, got {value}"));
    assert_eq!(
        text.len(),
        26,
        "{context}: `{text}` is not %Y-%m-%dT%H:%M:%S.%f"
    );
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.6f")
        .unwrap_or_else(|e| panic!("{context}: `{text}` does not parse: {e}"))
}

/// A string holding a UUID in its hyphenated 36-character spelling.
pub fn is_uuid(value: &Value) -> bool {
    value.as_str().is_some_and(is_uuid_text)
}

/// `text` is a UUID in its hyphenated 36-character spelling.
pub fn is_uuid_text(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok() && text.len() == 36
}

pub fn basic(login: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"))
    )
}

impl TestServer {
    pub async fn send(&self, builder: RequestBuilder) -> Reply {
        Reply::read(builder.send().await.expect("request")).await
    }

    /// A request with an optional `X-Auth-Token` and an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut builder = self.request(method, path);
        if let Some(token) = token {
            builder = builder.header("X-Auth-Token", token);
        }
        if let Some(body) = body {
            builder = builder.json(&body);
        }
        self.send(builder).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// POST /token with a body and no credentials.
    pub async fn post_token(&self, body: Value) -> Reply {
        self.send(self.request(Method::POST, "/token").json(&body))
            .await
    }

    /// A password login, returning the whole reply.
    pub async fn login_reply(&self, username: &str, password: &str, body: Value) -> Reply {
        Reply::read(self.login(username, password, body).await).await
    }

    /// The refresh-token grant (no Basic credentials).
    pub async fn grant(&self, refresh_token: &str, client_id: &str) -> Reply {
        self.grant_with(refresh_token, client_id, json!({})).await
    }

    /// The refresh-token grant with the fields of `extra` (an object) added to its body.
    pub async fn grant_with(&self, refresh_token: &str, client_id: &str, extra: Value) -> Reply {
        let body = json!({"refresh_token": refresh_token, "client_id": client_id});
        self.post_token(with_fields(body, extra)).await
    }

    /// A password login from `address`, sent as `X-Forwarded-For` (for a server trusting a proxy).
    pub async fn login_from(&self, login: &str, password: &str, address: &str) -> Reply {
        let request = self
            .request(Method::POST, "/token")
            .header("Authorization", basic(login, password))
            .header("X-Forwarded-For", address)
            .json(&json!({}));
        self.send(request).await
    }

    /// A password login with `Wazo-Session-Type: {session_type}`.
    pub async fn login_typed(
        &self,
        username: &str,
        password: &str,
        session_type: &str,
        body: Value,
    ) -> Reply {
        self.send(
            self.request(Method::POST, "/token")
                .basic_auth(username, Some(password))
                .header("Wazo-Session-Type", session_type)
                .json(&body),
        )
        .await
    }

    /// The refresh token of an offline login of `username` for `client_id`.
    pub async fn refresh_token_of(
        &self,
        username: &str,
        password: &str,
        client_id: &str,
    ) -> String {
        let data = self.login_ok(username, password, offline(client_id)).await;
        s(&data["refresh_token"])
    }

    /// Status of `HEAD /token/{token}` with an optional scope and tenant.
    pub async fn head_token(&self, token: &str, scope: Option<&str>, tenant: Option<&str>) -> u16 {
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(scope) = scope {
            query.push(("scope", scope));
        }
        if let Some(tenant) = tenant {
            query.push(("tenant", tenant));
        }
        self.request(Method::HEAD, &format!("/token/{token}"))
            .query(&query)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    }

    /// Creates a user (no password hashing when `password` is `None`) with the given token.
    pub async fn create_user_as(
        &self,
        token: &str,
        username: &str,
        password: Option<&str>,
    ) -> Value {
        let mut body = json!({ "username": username });
        if let Some(password) = password {
            body["password"] = json!(password);
        }
        self.create_user_with(token, body).await
    }

    pub async fn create_policy_as(&self, token: &str, name: &str, acl: &[&str]) -> Value {
        let reply = self
            .call(
                Method::POST,
                "/policies",
                Some(token),
                Some(json!({"name": name, "acl": acl})),
            )
            .await;
        assert_eq!(reply.status, 200, "policy creation failed: {}", reply.text);
        reply.body
    }

    pub async fn attach_policy_as(&self, token: &str, user_uuid: &str, policy_uuid: &str) {
        let reply = self
            .call(
                Method::PUT,
                &format!("/users/{user_uuid}/policies/{policy_uuid}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(reply.status, 204, "attach policy failed: {}", reply.text);
    }

    /// A user with password, holding one policy with `acl`; returns the user's JSON.
    pub async fn user_with_acl(
        &self,
        admin: &str,
        username: &str,
        password: &str,
        acl: &[&str],
    ) -> Value {
        let user = self.create_user_as(admin, username, Some(password)).await;
        let policy = self
            .create_policy_as(admin, &format!("{username}-policy"), acl)
            .await;
        self.attach_policy_as(admin, &s(&user["uuid"]), &s(&policy["uuid"]))
            .await;
        user
    }

    /// A password login that must succeed; returns the access token.
    pub async fn token_of(&self, username: &str, password: &str) -> String {
        s(&self.login_ok(username, password, json!({})).await["token"])
    }

    /// A user `name` (password `NAME-pw`) holding one policy with `acl`, and its access token.
    pub async fn caller(&self, admin: &str, name: &str, acl: &[&str]) -> (Value, String) {
        let password = format!("{name}-pw");
        let user = self.user_with_acl(admin, name, &password, acl).await;
        let token = self.token_of(name, &password).await;
        (user, token)
    }

    /// The bootstrap administrator's uuid.
    pub async fn admin_uuid(&self) -> String {
        s(&self
            .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
            .await["auth_id"])
    }

    /// POST /users as `token` with `body`, fully read.
    pub async fn post_user(&self, token: &str, body: Value) -> Reply {
        self.call(Method::POST, "/users", Some(token), Some(body))
            .await
    }

    /// GET /users/{uuid} as `token`, which must succeed; returns the user.
    pub async fn get_user(&self, token: &str, uuid: &str) -> Value {
        let reply = self.get(&format!("/users/{uuid}"), token).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body
    }

    /// PUT /users/{uuid} as `token` with `body`, fully read.
    pub async fn put_user(&self, token: &str, uuid: &str, body: Value) -> Reply {
        self.call(
            Method::PUT,
            &format!("/users/{uuid}"),
            Some(token),
            Some(body),
        )
        .await
    }

    /// PUT /users/{uuid} as `token` with `body`, which must succeed.
    pub async fn update_user(&self, token: &str, uuid: &str, body: Value) {
        let reply = self.put_user(token, uuid, body).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }

    /// The ACL of policy `uuid`, read as `token` (which must succeed).
    pub async fn policy_acl(&self, token: &str, uuid: &str) -> Value {
        let reply = self.get(&format!("/policies/{uuid}"), token).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body["acl"].clone()
    }

    /// The store this server runs on.
    pub fn store(&self) -> Store {
        if self.database_url.starts_with("sqlite:") {
            Store::Sqlite
        } else {
            Store::Postgres
        }
    }
}

impl TestServer {
    /// Runs statements straight on the server's database (to give it an older shape).
    pub async fn execute_sql(&self, statements: &[&str]) {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.database_url)
            .await
            .expect("connect to the server's database");
        for statement in statements {
            sqlx::query(statement)
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        pool.close().await;
    }

    /// Everything the database holds, as bytes: the raw SQLite files, or PostgreSQL's rows as
    /// text (`bytea` in hex). Last in a test: reading SQLite's files from the server's process
    /// closes descriptors of the file, which drops the server's SQLite locks (POSIX).
    pub async fn database_bytes(&self) -> Vec<u8> {
        match &self.pg_database {
            None => self.sqlite_files(),
            Some(_) => self.database_dump().await.into_bytes(),
        }
    }

    /// The SQLite database's files (database, WAL, journal), one after the other.
    fn sqlite_files(&self) -> Vec<u8> {
        let mut dump = Vec::new();
        for entry in std::fs::read_dir(self._dir.path()).expect("read tempdir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                dump.extend(std::fs::read(&path).unwrap_or_default());
            }
        }
        dump
    }

    /// `tessera rotate-signing-key` on this server's database: what it printed.
    pub fn rotate_signing_key(&self) -> String {
        let mut command =
            tessera_command(&["--database-url", &self.database_url, "rotate-signing-key"]);
        if self.store() == Store::Postgres {
            command.env("TESSERA_TOKEN_SECRET", TEST_TOKEN_SECRET);
        }
        let output = command.output().expect("tessera runs");
        assert!(output.status.success(), "{}", stderr_of(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The server's clock, in seconds since the epoch.
    pub fn clock_now_seconds(&self) -> i64 {
        use tessera::domain::clock::Clock as _;
        self.clock.now_micros() / 1_000_000
    }

    /// Everything the database holds, as text: the raw SQLite files (database, WAL, journal), or
    /// every row of every PostgreSQL table cast to text. For "never stored" checks.
    pub async fn database_dump(&self) -> String {
        match &self.pg_database {
            None => String::from_utf8_lossy(&self.sqlite_files()).into_owned(),
            Some(name) => {
                use sqlx::{Connection, Row};
                let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
                let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
                let tables: Vec<String> = sqlx::query(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
                )
                .fetch_all(&mut conn)
                .await
                .expect("tables")
                .iter()
                .map(|row| row.get::<String, _>(0))
                .collect();
                let mut dump = String::new();
                for table in tables {
                    let rows = sqlx::query(&format!("SELECT t::text FROM \"{table}\" t"))
                        .fetch_all(&mut conn)
                        .await
                        .expect("rows");
                    for row in rows {
                        dump.push_str(&row.get::<String, _>(0));
                        dump.push('\n');
                    }
                }
                dump
            }
        }
    }
}

/// The body of an offline login for `client_id`.
pub fn offline(client_id: &str) -> Value {
    json!({"access_type": "offline", "client_id": client_id})
}

/// The body of an offline login for `client_id`, with the fields of `extra` (an object) added.
pub fn offline_with(client_id: &str, extra: Value) -> Value {
    with_fields(offline(client_id), extra)
}

/// `body` (an object) with the fields of `extra` (an object) added.
fn with_fields(mut body: Value, extra: Value) -> Value {
    let (Some(fields), Value::Object(extra)) = (body.as_object_mut(), extra) else {
        panic!("request bodies and their extra fields are JSON objects");
    };
    fields.extend(extra);
    body
}

/// The field `field` of every item of a list answer.
pub fn items_field(reply: &Reply, field: &str) -> Vec<Value> {
    reply.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items in {}", reply.text))
        .iter()
        .map(|item| item[field].clone())
        .collect()
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// A loopback port that refuses connections for as long as the socket is held: bound, never
/// listening. Unlike a port from [`free_port`], no other test can start listening on it meanwhile.
pub fn refusing_port() -> (socket2::Socket, u16) {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("an address");
    socket.bind(&any.into()).expect("a loopback port");
    let port = socket
        .local_addr()
        .ok()
        .and_then(|address| address.as_socket())
        .expect("the bound port")
        .port();
    (socket, port)
}

/// A command's standard error, trimmed.
pub fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_string()
}

/// Another server on `srv`'s database, with `secret` (`None`: SQLite's key file).
pub async fn start_on(srv: &TestServer, secret: Option<&str>) -> anyhow::Result<TestServer> {
    start_on_with(srv, secret, |_| {}).await
}

/// The same, after `tweak` has adjusted its configuration.
pub async fn start_on_with(
    srv: &TestServer,
    secret: Option<&str>,
    tweak: impl FnOnce(&mut tessera::Config),
) -> anyhow::Result<TestServer> {
    let mut config = tessera::Config {
        listen: "127.0.0.1:0".into(),
        database_url: srv.database_url.clone(),
        token_secret: secret.map(str::to_string),
        ..Default::default()
    };
    tweak(&mut config);
    start_config(config).await
}

/// `tessera rotate-secret` on `srv`'s database, running with `secret`, the new one on stdin.
pub fn rotate(srv: &TestServer, secret: Option<&str>, stdin: &str) -> Output {
    let mut command = tessera_command(&["--database-url", &srv.database_url, "rotate-secret"]);
    if let Some(secret) = secret {
        command.env("TESSERA_TOKEN_SECRET", secret);
    }
    run_with_stdin(command, stdin)
}

/// `tessera ARGS…` with no bootstrap or `token_secret` from the test's environment, logging at
/// `warn`.
pub fn tessera_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .args(args)
        .env_remove("TESSERA_BOOTSTRAP_USERNAME")
        .env_remove("TESSERA_BOOTSTRAP_PASSWORD")
        .env_remove("TESSERA_TOKEN_SECRET")
        .env("TESSERA_LOG_LEVEL", "warn");
    command
}

/// Runs `command` with `stdin` written to its standard input, to its end.
pub fn run_with_stdin(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tessera runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("tessera exits")
}
