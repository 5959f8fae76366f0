//! The `tessera` command line: user management reading passwords from standard input, bootstrap
//! idempotence across restarts, and one-line errors with a non-zero exit.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::json;

use crate::both_stores;
use crate::common::{self, Store, ADMIN_PASSWORD, ADMIN_USERNAME};

/// Runs `tessera ARGS…` with `stdin` on standard input and no TESSERA_* from the test's environment
/// (but the test servers' `token_secret` when a PostgreSQL URL is among the arguments).
fn tessera(args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .args(args)
        .env_remove("TESSERA_BOOTSTRAP_USERNAME")
        .env_remove("TESSERA_BOOTSTRAP_PASSWORD")
        .env_remove("TESSERA_TOKEN_SECRET")
        .env("TESSERA_LOG_LEVEL", "warn");
    if args.iter().any(|arg| arg.starts_with("postgres")) {
        command.env("TESSERA_TOKEN_SECRET", common::TEST_TOKEN_SECRET);
    }
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

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_string()
}

async fn user_add_and_passwd_read_the_password_from_stdin(store: Store) {
    let srv = common::start(store).await;
    let db = srv.database_url.clone();
    let added = tessera(
        &[
            "--database-url",
            &db,
            "user",
            "add",
            "carol",
            "--purpose",
            "user",
        ],
        "pw from:stdin\n",
    );
    assert!(added.status.success(), "user add: {}", stderr_of(&added));
    let uuid = String::from_utf8_lossy(&added.stdout).trim().to_string();
    let data = srv.login_ok("carol", "pw from:stdin", json!({})).await;
    assert_eq!(data["auth_id"], json!(uuid));

    let changed = tessera(
        &["--database-url", &db, "user", "passwd", "carol"],
        "new-pw\r\n",
    );
    assert!(
        changed.status.success(),
        "user passwd: {}",
        stderr_of(&changed)
    );
    assert_eq!(
        srv.login("carol", "pw from:stdin", json!({}))
            .await
            .status(),
        401
    );
    srv.login_ok("carol", "new-pw", json!({})).await;

    let listed = tessera(&["--database-url", &db, "user", "list"], "");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("carol"));

    let duplicate = tessera(&["--database-url", &db, "user", "add", "CAROL"], "x\n");
    assert!(!duplicate.status.success());
    let no_password = tessera(&["--database-url", &db, "user", "add", "dave"], "");
    assert!(
        !no_password.status.success(),
        "an empty password is refused"
    );
}

async fn bootstrap_is_idempotent_across_restarts(store: Store) {
    let srv = common::start(store).await;
    for _ in 0..2 {
        let again = tessera::RunningServer::start(tessera::Config {
            listen: "127.0.0.1:0".into(),
            database_url: srv.database_url.clone(),
            bootstrap_username: Some(ADMIN_USERNAME.into()),
            bootstrap_password: Some(ADMIN_PASSWORD.into()),
            token_secret: (store == Store::Postgres).then(|| common::TEST_TOKEN_SECRET.into()),
            ..Default::default()
        })
        .await
        .expect("restart");
        again.shutdown().await;
    }
    let admin = srv.admin_token().await;
    let users = srv
        .request(reqwest::Method::GET, "/users")
        .header("X-Auth-Token", &admin)
        .query(&[("username", ADMIN_USERNAME)])
        .send()
        .await
        .expect("request")
        .json::<serde_json::Value>()
        .await
        .expect("json");
    assert_eq!(users["filtered"], 1, "one bootstrap admin: {users}");
    let policies = &users["items"][0];
    assert_eq!(policies["purpose"], "internal");
}

both_stores!(
    user_add_and_passwd_read_the_password_from_stdin,
    bootstrap_is_idempotent_across_restarts,
    bootstrap_keeps_a_password_changed_through_the_api
);

async fn bootstrap_keeps_a_password_changed_through_the_api(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let me = srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
        .await;
    let uuid = me["auth_id"].as_str().expect("auth_id").to_string();
    let changed = srv
        .call(
            reqwest::Method::PUT,
            &format!("/users/{uuid}/password"),
            Some(&admin),
            Some(json!({"old_password": ADMIN_PASSWORD, "new_password": "changed-by-api"})),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.text);
    let url = srv.database_url.clone();
    let again = common::start_with(store, move |c| c.database_url = url).await;
    assert_eq!(
        again
            .login(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
            .await
            .status(),
        401,
        "the configured password no longer works"
    );
    again
        .login_ok(ADMIN_USERNAME, "changed-by-api", json!({}))
        .await;
}

fn assert_one_line_failure(output: &Output, mentions: &str) {
    assert!(!output.status.success(), "must fail: {}", stderr_of(output));
    let stderr = stderr_of(output);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(mentions),
        "{stderr} should mention {mentions}"
    );
}

#[test]
fn bad_configuration_is_one_line_and_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.toml");
    assert_one_line_failure(
        &tessera(
            &["--config", missing.to_str().expect("path"), "check-config"],
            "",
        ),
        "missing.toml",
    );
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "colour = \"blue\"\n").expect("write");
    assert_one_line_failure(
        &tessera(
            &["--config", unknown.to_str().expect("path"), "check-config"],
            "",
        ),
        "colour",
    );
    assert_one_line_failure(
        &tessera(&["--database-url", "mysql://nope", "check-config"], ""),
        "database_url",
    );
    let wrong_flag = tessera(&["serve", "--no-such-flag"], "");
    assert_eq!(wrong_flag.status.code(), Some(2));
    assert!(stderr_of(&wrong_flag).starts_with("error: unexpected argument '--no-such-flag'"));
}

#[test]
fn unreachable_database_is_one_line_and_non_zero() {
    assert_one_line_failure(
        &tessera(
            &[
                "--database-url",
                "postgres://postgres@127.0.0.1:1/none",
                "migrate",
            ],
            "",
        ),
        "cannot connect to database",
    );
}

#[test]
fn check_config_redacts_secrets() {
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("check-config")
        .env("TESSERA_BOOTSTRAP_USERNAME", "root")
        .env("TESSERA_BOOTSTRAP_PASSWORD", "0123-very-secret")
        .env("TESSERA_TOKEN_SECRET", "s3cr3t-key")
        .output()
        .expect("runs");
    assert!(output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("root"));
    assert!(!printed.contains("0123-very-secret") && !printed.contains("s3cr3t-key"));
}

/// Issue 9 item 19: `tessera gen-secret` prints a fresh 256-bit secret, one line, needing no
/// configuration.
#[test]
fn gen_secret_prints_a_fresh_secret() {
    let first = tessera(&["gen-secret"], "");
    let second = tessera(&["--config", "/nonexistent.toml", "gen-secret"], "");
    let mut secrets = Vec::new();
    for output in [&first, &second] {
        assert!(output.status.success(), "gen-secret: {}", stderr_of(output));
        let printed = String::from_utf8_lossy(&output.stdout).to_string();
        assert_eq!(printed.lines().count(), 1, "one line: {printed:?}");
        let secret = printed.trim().to_string();
        assert!(
            secret.len() >= 64 && secret.chars().all(|c| c.is_ascii_hexdigit()),
            "{secret}"
        );
        secrets.push(secret);
    }
    assert_ne!(secrets[0], secrets[1], "every secret is fresh");
}

/// Issue 9 item 19: on PostgreSQL, without `token_secret`, neither `RunningServer::start` nor
/// `tessera serve` starts: one line says how to make a secret, and nothing is written to the
/// database. SQLite still starts without one (its key file: every other test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_to_start_without_a_token_secret() {
    let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
    common::pg_admin(&format!("CREATE DATABASE {name}")).await;
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");

    let refused = tessera::RunningServer::start(tessera::Config {
        listen: "127.0.0.1:0".into(),
        database_url: url.clone(),
        ..Default::default()
    })
    .await;
    let error = match refused {
        Ok(server) => {
            server.shutdown().await;
            common::pg_admin(&format!("DROP DATABASE {name} WITH (FORCE)")).await;
            panic!("started on PostgreSQL without token_secret");
        }
        Err(error) => error.to_string(),
    };
    assert_eq!(error.lines().count(), 1, "one line: {error}");
    assert!(error.contains("tessera gen-secret"), "{error}");

    // The binary: `serve` exits at once, non-zero, with that line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["--database-url", &url, "serve", "--listen", "127.0.0.1:0"])
        .env_remove("TESSERA_TOKEN_SECRET")
        .env_remove("TESSERA_BOOTSTRAP_USERNAME")
        .env_remove("TESSERA_BOOTSTRAP_PASSWORD")
        .env("TESSERA_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tessera runs");
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = child.try_wait().expect("try_wait") {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if exited.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let output = child.wait_with_output().expect("output");
    let tables: i64 = {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
        sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("count")
    };
    common::pg_admin(&format!("DROP DATABASE {name} WITH (FORCE)")).await;
    let exited = exited.expect("`tessera serve` exits on PostgreSQL without token_secret");
    assert!(!exited.success());
    assert_one_line_failure(&output, "tessera gen-secret");
    assert_eq!(tables, 0, "refused before touching the database");
}
