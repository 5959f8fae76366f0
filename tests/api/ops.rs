//! Operations: health probes, the `healthcheck` command, the docker-compose
//! configuration on PostgreSQL, metrics on their own listener, graceful shutdown.

use serde_json::{json, Value};

use crate::both_stores;
use crate::common::free_port;
use crate::common::{self, pg_admin, Store};

both_stores!(health_probes_answer_at_the_root);

async fn health_probes_answer_at_the_root(store: Store) {
    let srv = common::start(store).await;
    let live = srv
        .client
        .get(srv.raw_url("/health/live"))
        .send()
        .await
        .expect("request");
    assert_eq!(live.status(), 200);
    assert_eq!(
        live.json::<Value>().await.expect("json"),
        json!({"status": "ok"})
    );
    let ready = srv
        .client
        .get(srv.raw_url("/health/ready"))
        .send()
        .await
        .expect("request");
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.expect("json")["status"], "ok");
    // Not part of the API surface: absent under the prefixes.
    let prefixed = srv
        .client
        .get(srv.url("/health/live"))
        .send()
        .await
        .expect("request");
    assert_eq!(prefixed.status(), 404);
}

/// Runs the real `tessera` binary with `args` and extra environment; returns (exit code, stdout, stderr).
async fn tessera_cli(args: &[&str], env: &[(&str, String)]) -> (Option<i32>, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("tessera runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_command_exits_0_when_ready_and_1_otherwise() {
    let srv = common::start(Store::Sqlite).await;
    let url = format!("http://{}", srv.addr);
    let (code, stdout, stderr) = tessera_cli(&["healthcheck", "--url", &url], &[]).await;
    assert_eq!(code, Some(0), "ready server: {stdout} {stderr}");
    assert!(stdout.contains("200"), "{stdout}");

    // Derived from the configured listen address, the wildcard probed on loopback.
    let listen = format!("0.0.0.0:{}", srv.addr.port());
    let (code, stdout, stderr) = tessera_cli(&["healthcheck"], &[("TESSERA_LISTEN", listen)]).await;
    assert_eq!(code, Some(0), "derived from listen: {stdout} {stderr}");

    // A path that is not 200 fails, with one line.
    let (code, _, stderr) =
        tessera_cli(&["healthcheck", "--url", &format!("{url}/nope")], &[]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("404"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    // Nothing listening: 1.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let (code, _, stderr) =
        tessera_cli(&["healthcheck", "--url", &format!("http://{closed}")], &[]).await;
    assert_eq!(code, Some(1), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml, started for real: its command and environment, on PostgreSQL.
// ---------------------------------------------------------------------------------------------

/// What this test's `.env` gives the compose file's required variables (`${VAR:?message}`).
fn provided(variable: &str) -> Option<&'static str> {
    match variable {
        "POSTGRES_PASSWORD" => Some("compose-db-pw"),
        "TESSERA_TOKEN_SECRET" => Some("compose-test-token-secret-0123456789"),
        "TESSERA_BOOTSTRAP_PASSWORD" => Some("compose-admin-pw"),
        _ => None,
    }
}

/// Compose interpolation as `docker compose up` does it with this test's `.env` (`provided`):
/// `${VAR:?message}` (required: a variable `provided` lacks fails the test), `${VAR:-default}`,
/// `${VAR-default}`, `${VAR}` (empty), `$$`.
fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(after) = rest.strip_prefix('{') {
            let end = after
                .find('}')
                .expect("closing brace in compose interpolation");
            let expression = &after[..end];
            if let Some((variable, message)) = expression.split_once(":?") {
                let value = provided(variable)
                    .unwrap_or_else(|| panic!("compose requires {variable}: {message}"));
                out.push_str(value);
            } else if let Some((_, default)) = expression.split_once(":-") {
                out.push_str(default);
            } else if let Some((_, default)) = expression.split_once('-') {
                out.push_str(default);
            }
            rest = &after[end + 1..];
        } else {
            panic!("bare $VAR in compose file: use ${{VAR:-default}}");
        }
    }
    out.push_str(rest);
    out
}

/// The tessera service of docker-compose.yml: (command, environment), interpolated.
fn compose_tessera_service() -> (Vec<String>, Vec<(String, String)>) {
    use yaml_rust2::{Yaml, YamlLoader};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml");
    let text = std::fs::read_to_string(&path).expect("docker-compose.yml");
    let docs = YamlLoader::load_from_str(&text).expect("docker-compose.yml is YAML");
    let service = &docs[0]["services"]["tessera"];
    let scalar = |v: &Yaml| match v {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("unexpected compose value {other:?}"),
    };
    let command = match &service["command"] {
        Yaml::Array(items) => items.iter().map(|v| interpolate(&scalar(v))).collect(),
        Yaml::String(s) => s.split_whitespace().map(interpolate).collect(),
        Yaml::BadValue => vec!["serve".to_string()], // the image's CMD
        other => panic!("unexpected command {other:?}"),
    };
    let environment = match &service["environment"] {
        Yaml::Hash(map) => map
            .iter()
            .map(|(k, v)| (scalar(k), interpolate(&scalar(v))))
            .collect(),
        Yaml::Array(items) => items
            .iter()
            .map(|item| {
                let item = scalar(item);
                let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                (k.to_string(), interpolate(v))
            })
            .collect(),
        other => panic!("tessera service needs an environment, got {other:?}"),
    };
    (command, environment)
}

/// `postgres://USER:PASSWORD@HOST:PORT/DB` → (USER, PASSWORD, the same URL on 127.0.0.1:5432/`database`).
fn local_database_url(url: &str, database: &str) -> (String, String, String) {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .expect("compose TESSERA_DATABASE_URL is a postgres:// URL");
    let (userinfo, _host_and_db) = rest.rsplit_once('@').expect("user@host in the URL");
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    (
        user.to_string(),
        password.to_string(),
        format!("postgres://{userinfo}@127.0.0.1:5432/{database}"),
    )
}

/// A `tessera` process, killed if the test ends before it does.
struct Child(Option<std::process::Child>);

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Spawns the real binary with exactly `env` (plus PATH), its standard error going to `log`.
fn spawn_tessera(args: &[String], env: &[(String, String)], log: &std::path::Path) -> Child {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(log.parent().expect("log dir"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"));
    Child(Some(command.spawn().expect("spawn tessera")))
}

/// Polls `GET url` until 200; fails with the process's log if it exits or 30 s pass.
async fn wait_ready(child: &mut Child, url: &str, log: &std::path::Path) {
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(response) = client.get(url).send().await {
            if response.status() == 200 {
                return;
            }
        }
        if let Some(status) = child
            .0
            .as_mut()
            .and_then(|c| c.try_wait().expect("try_wait"))
        {
            panic!(
                "tessera exited ({status}) before ready: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "tessera not ready at {url} after 30 s: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Sends SIGTERM with `kill` and returns the exit status (30 s at most).
async fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let mut process = child.0.take().expect("running");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &process.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success(), "kill -TERM failed");
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::task::spawn_blocking(move || process.wait().expect("wait")),
    )
    .await
    .expect("tessera exits within 30 s of SIGTERM")
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_configuration_starts_tessera_on_postgres() {
    let (command, mut env) = compose_tessera_service();
    let get = |env: &[(String, String)], key: &str| {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("compose sets no {key}"))
    };
    let username = get(&env, "TESSERA_BOOTSTRAP_USERNAME");
    let password = get(&env, "TESSERA_BOOTSTRAP_PASSWORD");
    assert!(!get(&env, "TESSERA_TOKEN_SECRET").is_empty());
    // Published on loopback for one reverse proxy on the host: its X-Forwarded-For is trusted, so
    // that every client does not count as the container gateway's address.
    assert_eq!(get(&env, "TESSERA_NUM_PROXIES"), "1");

    // Only the database host and name, and the listen port, differ from the compose file; the
    // database role is the compose file's own, created here as the postgres image would.
    let database = format!("tessera_compose_{}", uuid::Uuid::new_v4().simple());
    let (role, role_password, url) =
        local_database_url(&get(&env, "TESSERA_DATABASE_URL"), &database);
    pg_admin(&format!(
        "DO $$ BEGIN CREATE ROLE \"{role}\" LOGIN PASSWORD '{}'; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
        role_password.replace('\'', "''")
    ))
    .await;
    pg_admin(&format!("CREATE DATABASE {database} OWNER \"{role}\"")).await;
    let listen = format!("127.0.0.1:{}", free_port());
    for (key, value) in env.iter_mut() {
        match key.as_str() {
            "TESSERA_DATABASE_URL" => *value = url.clone(),
            "TESSERA_LISTEN" => *value = listen.clone(),
            _ => {}
        }
    }
    if !env.iter().any(|(k, _)| k == "TESSERA_LISTEN") {
        env.push(("TESSERA_LISTEN".into(), listen.clone()));
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("tessera.log");
    let mut child = spawn_tessera(&command, &env, &log);
    let base = format!("http://{listen}");
    wait_ready(&mut child, &format!("{base}/health/ready"), &log).await;

    // The image's HEALTHCHECK: `tessera healthcheck` with the same environment.
    let probe_env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let (code, stdout, stderr) = tessera_cli(&["healthcheck"], &probe_env).await;
    assert_eq!(code, Some(0), "healthcheck: {stdout} {stderr}");

    // The bootstrap administrator of the compose file logs in, on PostgreSQL, through the reverse
    // proxy the compose file expects (num_proxies = 1): the address is the one the proxy adds.
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{base}/api/auth/0.1/token"))
        .basic_auth(&username, Some(&password))
        .header("X-Forwarded-For", "198.51.100.20, 203.0.113.7")
        .json(&json!({"expiration": 60}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200, "bootstrap admin login");
    let data = login.json::<Value>().await.expect("json")["data"].clone();
    assert_eq!(data["acl"], json!(["#"]));
    assert_eq!(
        data["remote_addr"], "203.0.113.7",
        "the address the proxy added, not the client's own claim nor the proxy's address"
    );
    let token = data["token"].as_str().expect("token");
    let check = client
        .head(format!("{base}/api/auth/0.1/token/{token}"))
        .send()
        .await
        .expect("validate");
    assert_eq!(check.status(), 204);

    let status = terminate(&mut child).await;
    assert!(status.success(), "exit status after SIGTERM: {status}");
    pg_admin(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await;
}

// ---------------------------------------------------------------------------------------------
// The first database connection: retried while PostgreSQL is not accepting connections yet.
// ---------------------------------------------------------------------------------------------

/// Waits (10 s at most) for the process to exit; returns its status and how long that took.
async fn exit_of(child: &mut Child) -> (std::process::ExitStatus, std::time::Duration) {
    let mut process = child.0.take().expect("running");
    let started = std::time::Instant::now();
    let status = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tokio::task::spawn_blocking(move || process.wait().expect("wait")),
    )
    .await
    .expect("tessera exits")
    .expect("join");
    (status, started.elapsed())
}

/// Polls the log (10 s at most) until it holds `needle`.
async fn wait_for_log(log: &std::path::Path, needle: &str) -> String {
    for _ in 0..100 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "no {needle:?} in the log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

const RETRYING: &str = "database not accepting connections yet; retrying";

/// PostgreSQL that starts accepting connections a few seconds after Tessera (a container whose
/// database is still initialising): Tessera waits, logging each retry without the password, then
/// serves. The late server is a TCP relay to the test PostgreSQL, bound on a port where nothing
/// listened before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_database_connection_waits_for_postgres() {
    let database = format!("tessera_late_{}", uuid::Uuid::new_v4().simple());
    pg_admin(&format!("CREATE DATABASE {database}")).await;
    let port = free_port();
    let secret_password = "late-db-Password-4711";
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("tessera.log");
    let listen = format!("127.0.0.1:{}", free_port());
    let env: Vec<(String, String)> = vec![
        ("TESSERA_LISTEN".into(), listen.clone()),
        (
            "TESSERA_DATABASE_URL".into(),
            format!("postgres://postgres:{secret_password}@127.0.0.1:{port}/{database}"),
        ),
        ("TESSERA_DATABASE_CONNECT_TIMEOUT".into(), "30".into()),
        (
            "TESSERA_TOKEN_SECRET".into(),
            common::TEST_TOKEN_SECRET.into(),
        ),
        ("TESSERA_LOG_LEVEL".into(), "info".into()),
    ];
    let mut child = spawn_tessera(&["serve".to_string()], &env, &log);
    wait_for_log(&log, RETRYING).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        child
            .0
            .as_mut()
            .and_then(|c| c.try_wait().expect("try_wait"))
            .is_none(),
        "tessera exited while the database was not there yet: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // PostgreSQL "starts": connections to the port now reach it.
    let relay = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the late database port");
    let relaying = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = relay.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect("127.0.0.1:5432").await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    wait_ready(&mut child, &format!("http://{listen}/health/ready"), &log).await;
    let status = terminate(&mut child).await;
    assert!(status.success(), "exit status after SIGTERM: {status}");
    relaying.abort();

    let text = std::fs::read_to_string(&log).expect("log");
    let retries = text.lines().filter(|l| l.contains(RETRYING)).count();
    assert!(retries >= 2, "each retry is logged:\n{text}");
    assert!(
        text.lines()
            .filter(|l| l.contains(RETRYING))
            .all(|l| l.contains("WARN") && l.contains("connection refused")),
        "{text}"
    );
    assert!(text.contains("database connection established"), "{text}");
    assert!(text.contains("postgres://postgres:***@127.0.0.1"), "{text}");
    assert!(
        !text.contains(secret_password),
        "the password in the log:\n{text}"
    );
    pg_admin(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await;
}

/// Nothing ever listens: after `database_connect_timeout` seconds of logged retries, one line
/// says why and the exit status is 1; with 0, the first failure is final. A SIGTERM during the
/// wait ends it at once (as PID 1 of a container, Tessera would otherwise ignore it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_database_connection_gives_up_after_the_timeout() {
    // Held to the end: a port released at once could be taken by another test's listener, which
    // would accept and never answer.
    let (_refusing, port) = common::refusing_port();
    let url = format!("postgres://tessera:never-logged-pw@127.0.0.1:{port}/tessera");
    let run = |timeout: &str, log: &std::path::Path| {
        let env: Vec<(String, String)> = vec![
            (
                "TESSERA_LISTEN".into(),
                format!("127.0.0.1:{}", free_port()),
            ),
            ("TESSERA_DATABASE_URL".into(), url.clone()),
            ("TESSERA_DATABASE_CONNECT_TIMEOUT".into(), timeout.into()),
            (
                "TESSERA_TOKEN_SECRET".into(),
                common::TEST_TOKEN_SECRET.into(),
            ),
        ];
        spawn_tessera(&["serve".to_string()], &env, log)
    };
    let dir = tempfile::tempdir().expect("tempdir");

    let log = dir.path().join("gives-up.log");
    let mut child = run("3", &log);
    let (status, took) = exit_of(&mut child).await;
    let text = std::fs::read_to_string(&log).expect("log");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        took >= std::time::Duration::from_millis(2500) && took < std::time::Duration::from_secs(10),
        "exit after the configured 3 s, took {took:?}:\n{text}"
    );
    assert!(text.matches(RETRYING).count() >= 2, "{text}");
    let last = text.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "tessera: cannot connect to database postgres://tessera:***@127.0.0.1:{port}/tessera: \
             connection refused (still failing after"
        )) && last.ends_with("database_connect_timeout)"),
        "one closing line: {last}"
    );
    assert!(!text.contains("never-logged-pw"), "{text}");

    let log = dir.path().join("no-wait.log");
    let mut child = run("0", &log);
    let (status, took) = exit_of(&mut child).await;
    let text = std::fs::read_to_string(&log).expect("log");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    assert!(!text.contains(RETRYING), "{text}");
    assert!(text.contains("connection refused"), "{text}");

    // Operator commands try once whatever the setting: never a silent wait at a prompt.
    let started = std::time::Instant::now();
    let (code, _, stderr) = tessera_cli(
        &["user", "list"],
        &[
            ("TESSERA_DATABASE_URL", url.clone()),
            ("TESSERA_DATABASE_CONNECT_TIMEOUT", "30".into()),
            ("TESSERA_TOKEN_SECRET", common::TEST_TOKEN_SECRET.into()),
        ],
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    let log = dir.path().join("stopped.log");
    let mut child = run("60", &log);
    wait_for_log(&log, RETRYING).await;
    let started = std::time::Instant::now();
    let status = terminate(&mut child).await;
    assert!(status.success(), "SIGTERM during the wait: {status}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

// ---------------------------------------------------------------------------------------------
// X-Forwarded-For without num_proxies.
// ---------------------------------------------------------------------------------------------

/// Behind a proxy with `num_proxies = 0`, every client counts as the proxy's address: the first
/// request carrying `X-Forwarded-For` logs one WARN saying so, and no other does; with
/// `num_proxies` set, none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_without_num_proxies_warns_once() {
    const WARNING: &str = "X-Forwarded-For while num_proxies = 0";
    let client = reqwest::Client::new();
    let logins = |listen: String, forwarded: Option<&'static str>| {
        let client = client.clone();
        async move {
            for password in ["wrong-xff-pw", common::ADMIN_PASSWORD, "wrong-xff-pw"] {
                let mut request = client
                    .post(format!("http://{listen}/api/auth/0.1/token"))
                    .basic_auth(common::ADMIN_USERNAME, Some(password))
                    .json(&json!({}));
                if let Some(value) = forwarded {
                    request = request.header("X-Forwarded-For", value);
                }
                request.send().await.expect("login");
            }
        }
    };

    let (_dir, log, listen, mut child) = serve_on_sqlite(&[("TESSERA_LOG_LEVEL", "info")]).await;
    logins(listen.clone(), None).await;
    logins(listen.clone(), Some("203.0.113.9")).await;
    logins(listen.clone(), Some("198.51.100.3, 203.0.113.9")).await;
    let status = terminate(&mut child).await;
    assert!(status.success(), "{status}");
    let text = std::fs::read_to_string(&log).expect("log");
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains(WARNING)).collect();
    assert_eq!(warnings.len(), 1, "one warning per process:\n{text}");
    assert!(warnings
        .iter()
        .all(|l| l.contains("WARN") && l.contains("TESSERA_NUM_PROXIES")));

    let (_dir, log, listen, mut child) =
        serve_on_sqlite(&[("TESSERA_LOG_LEVEL", "info"), ("TESSERA_NUM_PROXIES", "1")]).await;
    logins(listen.clone(), Some("203.0.113.9")).await;
    let status = terminate(&mut child).await;
    assert!(status.success(), "{status}");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(!text.contains(WARNING), "num_proxies is set:\n{text}");
}

// ---------------------------------------------------------------------------------------------
// Metrics on their own listener.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_their_own_listener_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = tessera::RunningServer::start(tessera::Config {
        listen: "127.0.0.1:0".into(),
        metrics_listen: Some("127.0.0.1:0".into()),
        database_url: format!("sqlite://{}", dir.path().join("tessera.db").display()),
        bootstrap_username: Some(common::ADMIN_USERNAME.into()),
        bootstrap_password: Some(common::ADMIN_PASSWORD.into()),
        ..Default::default()
    })
    .await
    .expect("server starts");
    let metrics_addr = server.metrics_addr().expect("metrics listener");
    assert_ne!(metrics_addr, server.local_addr());
    let api = format!("http://{}{}", server.local_addr(), common::PREFIX);
    let client = reqwest::Client::new();

    let login = |password: &'static str| {
        client
            .post(format!("{api}/token"))
            .basic_auth(common::ADMIN_USERNAME, Some(password))
            .json(&json!({"access_type": "offline", "client_id": "metrics"}))
            .send()
    };
    let ok = login(common::ADMIN_PASSWORD).await.expect("login");
    assert_eq!(ok.status(), 200);
    let data = ok.json::<Value>().await.expect("json")["data"].clone();
    assert_eq!(login("wrong").await.expect("login").status(), 401);
    let token = data["token"].as_str().expect("token");
    let refresh = data["refresh_token"].as_str().expect("refresh token");
    let grant = client
        .post(format!("{api}/token"))
        .json(&json!({"refresh_token": refresh, "client_id": "metrics"}))
        .send()
        .await
        .expect("grant");
    assert_eq!(grant.status(), 200);
    let head = |t: String| client.head(format!("{api}/token/{t}")).send();
    assert_eq!(head(token.to_string()).await.expect("head").status(), 204);
    assert_eq!(head("nope".into()).await.expect("head").status(), 404);
    let revoke = client
        .delete(format!("{api}/token/{token}"))
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoke.status(), 200);

    let scrape = client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(scrape.status(), 200);
    assert!(scrape.headers()["content-type"]
        .to_str()
        .expect("content-type")
        .starts_with("text/plain; version=0.0.4"));
    let text = scrape.text().await.expect("text");
    for expected in [
        "tessera_logins_total{outcome=\"success\"} 2",
        "tessera_logins_total{outcome=\"failed\"} 1",
        "tessera_refresh_grants_total{outcome=\"success\"} 1",
        "tessera_validations_total{outcome=\"valid\"} 1",
        "tessera_validations_total{outcome=\"not_found\"} 1",
        "tessera_revocations_total{kind=\"token\"} 1",
        "tessera_http_request_duration_seconds_count{method=\"POST\",route=\"/api/auth/0.1/token\"} 3",
        "tessera_password_hash_duration_seconds_count",
        "tessera_db_pool_connections ",
        "tessera_db_pool_idle_connections ",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }

    // Never on the public port, under no prefix.
    for path in ["/metrics", "/0.1/metrics", "/api/auth/0.1/metrics"] {
        let response = client
            .get(format!("http://{}{path}", server.local_addr()))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 404, "{path} on the public port");
    }
    server.shutdown().await;
}

/// Every label of the request metrics comes from a bounded set: requests with hundreds of
/// distinct methods (each a label set kept for the process's life, had it been the raw method)
/// add one label set, `other`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_metrics_labels_are_bounded() {
    let srv = common::start_with(Store::Sqlite, |config| {
        config.metrics_listen = Some("127.0.0.1:0".into());
    })
    .await;
    let metrics_addr = srv.metrics_addr().expect("metrics listener");
    for n in 0..300 {
        let method = reqwest::Method::from_bytes(format!("X{n}").as_bytes()).expect("method");
        for path in [
            "/status",
            "/token/00000000-0000-4000-8000-000000000000",
            "/nowhere",
        ] {
            let response = srv
                .request(method.clone(), path)
                .send()
                .await
                .expect("request");
            assert!(response.status().is_client_error(), "{}", response.status());
        }
    }
    let status = srv.request(reqwest::Method::GET, "/status").send().await;
    assert_eq!(status.expect("request").status(), 200);
    let text = srv
        .client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let sets: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("tessera_http_requests_total{"))
        .collect();
    assert!(
        sets.len() <= 6,
        "{} label sets:\n{}",
        sets.len(),
        sets.join("\n")
    );
    assert!(
        sets.iter()
            .all(|line| line.contains("method=\"other\"") || line.contains("method=\"GET\"")),
        "{sets:?}"
    );
    assert!(!text.contains("X299"), "a raw method became a label");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_metrics_listener_unless_configured() {
    let srv = common::start(Store::Sqlite).await;
    let response = srv
        .client
        .get(srv.raw_url("/metrics"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
}

// ---------------------------------------------------------------------------------------------
// Logs and shutdown.
// ---------------------------------------------------------------------------------------------

/// Starts the `tessera` binary on a fresh SQLite file with the bootstrap admin and `extra`
/// variables, logging to a file, and waits until it is ready. Returns (temp dir, log, listen, child).
async fn serve_on_sqlite(
    extra: &[(&str, &str)],
) -> (tempfile::TempDir, std::path::PathBuf, String, Child) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("tessera.log");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut env: Vec<(String, String)> = vec![
        ("TESSERA_LISTEN".into(), listen.clone()),
        (
            "TESSERA_DATABASE_URL".into(),
            format!("sqlite://{}", dir.path().join("tessera.db").display()),
        ),
        (
            "TESSERA_BOOTSTRAP_USERNAME".into(),
            common::ADMIN_USERNAME.into(),
        ),
        (
            "TESSERA_BOOTSTRAP_PASSWORD".into(),
            common::ADMIN_PASSWORD.into(),
        ),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut child = spawn_tessera(&["serve".to_string()], &env, &log);
    wait_ready(&mut child, &format!("http://{listen}/health/ready"), &log).await;
    (dir, log, listen, child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_and_sigterm_exits_0() {
    let (_dir, log, listen, mut child) = serve_on_sqlite(&[
        ("TESSERA_LOG_FORMAT", "json"),
        ("TESSERA_LOG_LEVEL", "info"),
    ])
    .await;
    let base = format!("http://{listen}");

    let client = reqwest::Client::new();
    let failed = client
        .post(format!("{base}/api/auth/0.1/token"))
        .basic_auth(common::ADMIN_USERNAME, Some("wrong-password-xyzzy"))
        .header("X-Request-Id", "ops-test-request-1")
        .json(&json!({}))
        .send()
        .await
        .expect("login");
    assert_eq!(failed.status(), 401);
    assert_eq!(failed.headers()["x-request-id"], "ops-test-request-1");
    let ok = client
        .post(format!("{base}/api/auth/0.1/token"))
        .basic_auth(common::ADMIN_USERNAME, Some(common::ADMIN_PASSWORD))
        .json(&json!({}))
        .send()
        .await
        .expect("login");
    assert_eq!(ok.status(), 200);
    let generated = ok.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
    let token = ok.json::<Value>().await.expect("json")["data"]["token"]
        .as_str()
        .expect("token")
        .to_string();

    let status = terminate(&mut child).await;
    assert!(status.success(), "exit status after SIGTERM: {status}");

    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect();
    let failed_line = lines
        .iter()
        .find(|l| l["message"] == "login failed")
        .unwrap_or_else(|| panic!("no `login failed` line in:\n{text}"));
    assert_eq!(failed_line["span"]["request_id"], "ops-test-request-1");
    assert_eq!(failed_line["login"], common::ADMIN_USERNAME);
    assert!(failed_line["remote_addr"].is_string());
    let issued_line = lines
        .iter()
        .find(|l| l["message"] == "token issued")
        .unwrap_or_else(|| panic!("no `token issued` line in:\n{text}"));
    assert_eq!(issued_line["span"]["request_id"], generated.as_str());
    assert!(!text.contains("wrong-password-xyzzy"), "password in logs");
    assert!(!text.contains(common::ADMIN_PASSWORD), "password in logs");
    assert!(!text.contains(&token), "whole token in logs");
}

/// A request body that trickles in is bounded by `http_request_timeout`: the request is answered
/// 503 within it, and its log is one WARN line (not a WARN and an ERROR).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_timeout_is_answered_and_logged_once_at_warn() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (_dir, log, listen, mut child) = serve_on_sqlite(&[
        ("TESSERA_LOG_FORMAT", "json"),
        ("TESSERA_HTTP_REQUEST_TIMEOUT", "1"),
    ])
    .await;
    let mut stream = tokio::net::TcpStream::connect(&listen)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/auth/0.1/token HTTP/1.1\r\nHost: {listen}\r\nAuthorization: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{",
        common::basic(common::ADMIN_USERNAME, common::ADMIN_PASSWORD),
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    let started = std::time::Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    // One byte of body every 100 ms: never silent, never done.
    let trickle = tokio::spawn(async move {
        for _ in 0..300 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if writer.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let mut response = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        reader.read_to_end(&mut response),
    )
    .await
    .expect("the trickled body is cut, the connection closed")
    .expect("read");
    trickle.abort();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "answered after {:?}",
        started.elapsed()
    );

    let status = terminate(&mut child).await;
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let timed_out: Vec<&Value> = lines
        .iter()
        .filter(|line| line["message"] == "request timed out")
        .collect();
    assert_eq!(timed_out.len(), 1, "{text}");
    assert_eq!(timed_out[0]["level"], "WARN", "{text}");
    assert!(
        lines.iter().all(|line| line["level"] != "ERROR"),
        "an ERROR line for a request timeout:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_in_flight_request_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().expect("tempdir");
    let server = tessera::RunningServer::start(tessera::Config {
        listen: "127.0.0.1:0".into(),
        database_url: format!("sqlite://{}", dir.path().join("tessera.db").display()),
        bootstrap_username: Some(common::ADMIN_USERNAME.into()),
        bootstrap_password: Some(common::ADMIN_PASSWORD.into()),
        ..Default::default()
    })
    .await
    .expect("server starts");
    let addr = server.local_addr();

    // A login whose body is still on its way when the shutdown starts.
    let body = br#"{"expiration": 60}"#;
    let head = format!(
        "POST /api/auth/0.1/token HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        common::basic(common::ADMIN_USERNAME, common::ADMIN_PASSWORD),
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(&body[..5]).await.expect("write part");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !shutdown.is_finished(),
        "shutdown waits for the request in flight"
    );

    stream.write_all(&body[5..]).await.expect("write rest");
    let mut response = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut response),
    )
    .await
    .expect("the response comes")
    .expect("read");
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "in-flight login answered: {response}"
    );
    assert!(response.contains("\"token\""), "{response}");
    tokio::time::timeout(std::time::Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown completes once the request is done")
        .expect("join");
}

/// After a full flow logged at the most verbose level, the log holds no password, no access
/// token and no refresh token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_never_hold_a_secret() {
    let (_dir, log, listen, mut child) = serve_on_sqlite(&[("TESSERA_LOG_LEVEL", "trace")]).await;
    let base = format!("http://{listen}/api/auth/0.1");

    let client = reqwest::Client::new();
    let login = |password: &'static str, body: Value| {
        client
            .post(format!("{base}/token"))
            .basic_auth(common::ADMIN_USERNAME, Some(password))
            .json(&body)
            .send()
    };
    login("a-wrong-secret-pw", json!({})).await.expect("login");
    let offline: Value = login(
        common::ADMIN_PASSWORD,
        json!({"access_type": "offline", "client_id": "logs"}),
    )
    .await
    .expect("login")
    .json()
    .await
    .expect("json");
    let access = offline["data"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    let refresh = offline["data"]["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let granted: Value = client
        .post(format!("{base}/token"))
        .json(&json!({"refresh_token": refresh, "client_id": "logs"}))
        .send()
        .await
        .expect("grant")
        .json()
        .await
        .expect("json");
    let second = granted["data"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    for token in [&access, &second] {
        client
            .head(format!("{base}/token/{token}?scope=auth.users.read"))
            .send()
            .await
            .expect("validate");
        client
            .get(format!("{base}/users"))
            .header("X-Auth-Token", token)
            .send()
            .await
            .expect("protected");
    }
    client
        .delete(format!("{base}/token/{second}"))
        .send()
        .await
        .expect("revoke");

    let status = terminate(&mut child).await;
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.contains("token issued"),
        "the flow was logged:\n{text}"
    );
    for secret in [
        common::ADMIN_PASSWORD,
        "a-wrong-secret-pw",
        access.as_str(),
        second.as_str(),
        refresh.as_str(),
    ] {
        assert!(!text.contains(secret), "{secret} appears in the log");
    }
}

/// A login holding a line break and ESC, and a client_id holding a line break,
/// cannot forge a log line: the plain-text log keeps every event on its own line, escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_cannot_be_forged() {
    let (_dir, log, listen, mut child) = serve_on_sqlite(&[
        ("TESSERA_LOG_LEVEL", "info"),
        // No colours: every ESC in the file would then be the client's.
        ("NO_COLOR", "1"),
    ])
    .await;
    let base = format!("http://{listen}/api/auth/0.1");
    // No `:` (Basic credentials split at the first one).
    let forged = "2026-12-01T00.00.00Z  INFO tessera token issued login=admin";
    let login = format!("intruder\n{forged}\u{1b}[1A\u{1b}[2K\r");
    let client = reqwest::Client::new();
    let failed = client
        .post(format!("{base}/token"))
        .basic_auth(&login, Some("wrong-password"))
        .json(&json!({}))
        .send()
        .await
        .expect("login");
    assert_eq!(failed.status(), 401);
    let grant = client
        .post(format!("{base}/token"))
        .json(&json!({
            "refresh_token": "00000000-0000-4000-8000-000000000000",
            "client_id": format!("app\nFORGED-CLIENT-LINE"),
        }))
        .send()
        .await
        .expect("grant");
    assert!(grant.status().is_client_error(), "{}", grant.status());

    let status = terminate(&mut child).await;
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.contains("intruder\\n2026-12-01T00.00.00Z"),
        "the login is logged, escaped:\n{text}"
    );
    for line in text.lines() {
        assert!(
            !line.starts_with("2026-12-01T00.00.00Z") && !line.starts_with("FORGED"),
            "a forged line in the log:\n{text}"
        );
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\t'),
            "a control character in the log line {line:?}"
        );
    }
}
