//! The `tessera` command line: user management reading passwords from standard input, bootstrap
//! idempotence across restarts, and one-line errors with a non-zero exit.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::both_stores;
use crate::common::stderr_of;
use crate::common::{self, Store, ADMIN_PASSWORD, ADMIN_USERNAME};

/// [`common::tessera_command`], with the test servers' `token_secret` when a PostgreSQL URL is
/// among the arguments.
fn command(args: &[&str]) -> Command {
    let mut command = common::tessera_command(args);
    if args.iter().any(|arg| arg.starts_with("postgres")) {
        command.env("TESSERA_TOKEN_SECRET", common::TEST_TOKEN_SECRET);
    }
    command
}

/// Runs `command` with `stdin` on standard input; stops it after `limit` if it still runs.
/// Returns its output and how long it ran.
fn finish(mut command: Command, stdin: &str, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tessera runs");
    // A command that fails before reading may have closed its end already.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    while child.try_wait().expect("try_wait").is_none() && started.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let elapsed = started.elapsed();
    (child.wait_with_output().expect("tessera exits"), elapsed)
}

/// Runs `tessera ARGS…` ([`command`]) with `stdin` on standard input.
fn tessera(args: &[&str], stdin: &str) -> Output {
    finish(command(args), stdin, Duration::from_secs(120)).0
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
}

/// A wrong flag or value is clap's error line and where the help is (with clap's
/// tip when it has one), not the usage block; exit 2.
#[test]
fn a_wrong_flag_is_two_short_lines() {
    for (args, error, help) in [
        (
            &["serve", "--no-such-flag"][..],
            "error: unexpected argument '--no-such-flag' found",
            "see 'tessera serve --help'",
        ),
        (
            &["serve", "--lisen", "x"][..],
            "error: unexpected argument '--lisen' found",
            "tip: a similar argument exists: '--listen'; see 'tessera serve --help'",
        ),
        (
            &["user", "add", "bob", "--purpose", "root"][..],
            "error: invalid value 'root' for '--purpose <PURPOSE>'",
            "see 'tessera user add --help'",
        ),
        (
            &["user", "add"][..],
            "error: the following required arguments were not provided: <USERNAME>",
            "see 'tessera user add --help'",
        ),
    ] {
        let output = tessera(args, "");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = stderr_of(&output);
        let lines: Vec<&str> = stderr.lines().map(str::trim).collect();
        assert_eq!(lines.len(), 2, "{args:?}: {stderr}");
        assert!(lines[0].starts_with(error), "{args:?}: {stderr}");
        assert_eq!(lines[1], help, "{args:?}: {stderr}");
    }
}

/// An unreachable PostgreSQL is refused at once, in the words of the cause
/// ("connection refused"), not as a pool time-out after 5 s; by `serve` as by the commands.
#[test]
fn unreachable_database_is_one_line_and_non_zero() {
    let url = "postgres://postgres@127.0.0.1:1/none";
    // `serve` and `migrate` wait for the database (database_connect_timeout, tested in ops.rs):
    // without the wait they fail at once too; operator commands never wait.
    for (args, wait) in [
        (&["--database-url", url, "migrate"][..], Some("0")),
        (&["--database-url", url, "user", "list"][..], None),
        (
            &["--database-url", url, "serve", "--listen", "127.0.0.1:0"][..],
            Some("0"),
        ),
    ] {
        let mut command = command(args);
        if let Some(wait) = wait {
            command.env("TESSERA_DATABASE_CONNECT_TIMEOUT", wait);
        }
        let (output, elapsed) = finish(command, "", Duration::from_secs(20));
        assert_one_line_failure(&output, "cannot connect to database");
        assert!(
            stderr_of(&output)
                .ends_with("postgres://postgres@127.0.0.1:1/none: connection refused"),
            "{args:?}: {}",
            stderr_of(&output)
        );
        assert!(
            elapsed < Duration::from_secs(2),
            "{args:?} took {elapsed:?}"
        );
    }
}

/// Runs `command` as an unprivileged user when the tests run as root (who may write anything):
/// through `setpriv`, as nobody.
fn unprivileged(command: Command) -> Command {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        return command;
    }
    let mut wrapped = Command::new("setpriv");
    wrapped.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    wrapped.arg(command.get_program()).args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

/// A SQLite database that cannot be written (a read-only file, a directory that is
/// not writable, `mode=ro`) is one readable line, at once: no repeated, coloured ERROR lines from
/// the pool's retries, and no `mode=rwc` (the URL sqlx is given) in a message.
#[test]
fn an_unwritable_sqlite_database_is_one_line() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let read_only = dir.path().join("read-only.db");
    std::fs::write(&read_only, "").expect("create");
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let closed = dir.path().join("closed");
    std::fs::create_dir(&closed).expect("mkdir");
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let fresh = dir.path().join("fresh.db");
    std::fs::write(&fresh, "").expect("create");

    let url = |path: &std::path::Path, query: &str| format!("sqlite://{}{query}", path.display());
    for (url, says) in [
        (url(&read_only, ""), "attempt to write a readonly database"),
        (
            url(&closed.join("new.db"), ""),
            "cannot create database file",
        ),
        (
            url(&fresh, "?mode=ro"),
            "attempt to write a readonly database",
        ),
    ] {
        for args in [
            &["--database-url", &url, "user", "list"][..],
            &["--database-url", &url, "serve", "--listen", "127.0.0.1:0"][..],
        ] {
            let (output, elapsed) =
                finish(unprivileged(command(args)), "", Duration::from_secs(20));
            assert_one_line_failure(&output, says);
            let stderr = stderr_of(&output);
            assert!(
                !stderr.contains("mode=rwc") && !stderr.contains('\u{1b}'),
                "{stderr}"
            );
            assert!(elapsed < Duration::from_secs(2), "{url} took {elapsed:?}");
        }
    }
    assert!(!closed.join("new.db").exists());
}

/// A config file's problems name the file, the line (and column) and the key as
/// written, with a suggestion for a near miss; an unreadable file says why.
#[test]
fn config_file_errors_say_where_and_what() {
    let dir = tempfile::tempdir().expect("tempdir");
    let check = |name: &str, contents: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).expect("write");
        let output = tessera(
            &["--config", path.to_str().expect("path"), "check-config"],
            "",
        );
        assert!(!output.status.success());
        let stderr = stderr_of(&output);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        (path.display().to_string(), stderr)
    };
    let (path, stderr) = check("typo.toml", "# a comment\n\nlisen = \"0.0.0.0:9497\"\n");
    assert_eq!(
        stderr,
        format!(
            "tessera: unknown configuration key \"lisen\" in {path}, line 3 \
             (did you mean \"listen\"?)"
        )
    );
    let (path, stderr) = check("syntax.toml", "listen = \"127.0.0.1:1\"\nnum_proxies = \n");
    assert!(
        stderr.starts_with(&format!(
            "tessera: invalid TOML in {path}, line 2, column 15: "
        )),
        "{stderr}"
    );
    let (path, stderr) = check("type.toml", "num_proxies = 1\nlisten = 9497\n");
    assert_eq!(
        stderr,
        format!(
            "tessera: invalid value for listen in {path}, line 2, column 10: \
             invalid type: integer `9497`, expected a string"
        )
    );
    assert!(
        !stderr.contains("default.") && !stderr.contains('|'),
        "{stderr}"
    );

    let missing = dir.path().join("missing.toml");
    let output = tessera(
        &["--config", missing.to_str().expect("path"), "check-config"],
        "",
    );
    assert_one_line_failure(
        &output,
        &format!(
            "cannot read config file {}: no such file or directory",
            missing.display()
        ),
    );
    let output = tessera(
        &[
            "--config",
            dir.path().to_str().expect("path"),
            "check-config",
        ],
        "",
    );
    assert_one_line_failure(&output, "is a directory");
}

/// An unknown `TESSERA_*` variable is refused like an unknown file key (a typo
/// would otherwise be ignored); the variables that are not keys but are read (logging) or passed
/// on by the project's scripts are accepted; values are converted to each key's type, text kept
/// as text.
#[test]
fn unknown_environment_variables_are_refused() {
    let run = |env: &[(&str, &str)]| {
        let mut command = command(&["check-config"]);
        command.envs(env.iter().copied());
        finish(command, "", Duration::from_secs(30)).0
    };
    let output = run(&[("TESSERA_DATABSE_URL", "sqlite://x.db")]);
    assert_one_line_failure(
        &output,
        "unknown environment variable TESSERA_DATABSE_URL: not a configuration key \
         (did you mean \"TESSERA_DATABASE_URL\"?)",
    );
    assert_one_line_failure(&run(&[("TESSERA_COLOUR", "blue")]), "TESSERA_COLOUR");
    let output = run(&[("TESSERA_HTTP_IDLE_TIMEOUT", "a minute")]);
    assert_one_line_failure(&output, "invalid value for TESSERA_HTTP_IDLE_TIMEOUT: ");

    let output = run(&[
        ("TESSERA_LOG_LEVEL", "warn"),
        ("TESSERA_LOG_FORMAT", "json"),
        ("TESSERA_BINARY", "target/debug/tessera"),
        ("TESSERA_TEST_PG_BINDIR", "/usr/lib/postgresql/16/bin"),
        ("TESSERA_HTTP_IDLE_TIMEOUT", "61"),
        ("TESSERA_CORS_ENABLED", "false"),
        ("TESSERA_DEFAULT_USER_POLICY", "0123"),
    ]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    for line in [
        "http_idle_timeout = 61",
        "cors_enabled = false",
        "default_user_policy = \"0123\"",
    ] {
        assert!(printed.lines().any(|l| l == line), "{line} in {printed}");
    }
}

/// `check-config` refuses what `serve` refuses, with the same line (one check
/// used by both), before `serve` binds or connects.
#[test]
fn check_config_refuses_what_serve_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite://{}", dir.path().join("t.db").display());
    for (contents, says) in [
        (
            "listen = \"not-an-address\"\n",
            "listen \"not-an-address\" is not an address",
        ),
        (
            "metrics_listen = \"127.0.0.1\"\n",
            "metrics_listen \"127.0.0.1\"",
        ),
        ("default_token_lifetime = 0\n", "default_token_lifetime"),
        (
            "bootstrap_username = \"root\"\n",
            "bootstrap_password go together",
        ),
        (
            "database_url = \"postgres://u@127.0.0.1:notaport/x\"\n",
            "invalid port number",
        ),
        (
            "database_url = \"postgres://u@127.0.0.1:1/x\"\n",
            "token_secret is required on PostgreSQL",
        ),
        (
            "token_secret = \"\"\n",
            "token_secret holds fewer than 16 bytes",
        ),
        (
            "token_secret = \"  fifteen-bytes  \"\n",
            "token_secret holds fewer than 16 bytes",
        ),
        (
            "public_url = \"http://auth.example.com\"\n",
            "public_url: \"http://auth.example.com\" is not https",
        ),
        (
            "oauth2_access_token_lifetime = 0\n",
            "oauth2_access_token_lifetime",
        ),
        ("browser_session_lifetime = 0\n", "browser_session_lifetime"),
    ] {
        let path = dir.path().join("tessera.toml");
        let file = if contents.starts_with("database_url") {
            contents.to_string()
        } else {
            format!("database_url = {database:?}\n{contents}")
        };
        std::fs::write(&path, file).expect("write");
        let path = path.to_str().expect("path");
        let checked = tessera(&["--config", path, "check-config"], "");
        let (served, _) = finish(
            command(&["--config", path, "serve"]),
            "",
            Duration::from_secs(20),
        );
        assert_one_line_failure(&checked, says);
        assert_one_line_failure(&served, says);
        assert_eq!(stderr_of(&checked), stderr_of(&served));
    }
    assert!(
        !dir.path().join("t.db").exists(),
        "serve touched no database"
    );
}

/// An empty or short `token_secret` (say `TESSERA_TOKEN_SECRET=${UNSET}`) is refused on either
/// store like a missing one: refresh-token values derive from it, so a dump would give them away.
#[test]
fn an_empty_or_short_token_secret_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = format!("sqlite://{}", dir.path().join("t.db").display());
    for database in [sqlite.as_str(), "postgres://postgres@127.0.0.1:5432/x"] {
        for secret in ["", " ", "a", "0123456789abcde"] {
            let mut check = common::tessera_command(&["--database-url", database, "check-config"]);
            check.env("TESSERA_TOKEN_SECRET", secret);
            let output = check.output().expect("runs");
            assert_one_line_failure(&output, "token_secret holds fewer than 16 bytes");
        }
        let mut check = common::tessera_command(&["--database-url", database, "check-config"]);
        check.env("TESSERA_TOKEN_SECRET", "0123456789abcdef");
        let output = check.output().expect("runs");
        assert!(output.status.success(), "{}", stderr_of(&output));
    }
}

/// `check-config` prints the effective configuration as TOML, secrets left out,
/// which loads back as the same configuration (the secrets given again by the environment).
#[test]
fn check_config_output_loads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tessera.toml");
    std::fs::write(
        &file,
        "listen = \"0.0.0.0:9500\"\nxivo_uuid = \"a \\\"quoted\\\" value\"\n\
         cors_allow_origins = \"https://a.example\"\n",
    )
    .expect("write");
    let secrets = [
        ("TESSERA_TOKEN_SECRET", "s3cr3t-key-0123456789"),
        ("TESSERA_BOOTSTRAP_USERNAME", "root"),
        ("TESSERA_BOOTSTRAP_PASSWORD", "0123-very-secret"),
    ];
    let check = |config: &std::path::Path, database: &str, env: &[(&str, &str)]| {
        let mut command = command(&[
            "--config",
            config.to_str().expect("path"),
            "--database-url",
            database,
            "check-config",
        ]);
        command
            .envs(env.iter().copied())
            .env("TESSERA_NUM_PROXIES", "2");
        let output = finish(command, "", Duration::from_secs(30)).0;
        assert!(output.status.success(), "{}", stderr_of(&output));
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    let database = "postgres://tessera:hunter2@db.example:5432/auth";
    let printed = check(&file, database, &secrets);
    for secret in ["hunter2", "s3cr3t-key-0123456789", "0123-very-secret"] {
        assert!(!printed.contains(secret), "{printed}");
    }
    for line in [
        "listen = \"0.0.0.0:9500\"",
        "num_proxies = 2",
        "database_url = \"postgres://tessera@db.example:5432/auth\"",
        "# bootstrap_username = \"root\"",
    ] {
        assert!(printed.lines().any(|l| l == line), "{line} in {printed}");
    }
    let saved = dir.path().join("saved.toml");
    std::fs::write(&saved, &printed).expect("save");
    assert_eq!(check(&saved, database, &secrets), printed);

    // On SQLite nothing else is needed: the saved file loads on its own.
    let sqlite = format!("sqlite://{}", dir.path().join("t.db").display());
    let printed = check(&file, &sqlite, &secrets);
    std::fs::write(&saved, &printed).expect("save");
    let output = tessera(
        &["--config", saved.to_str().expect("path"), "check-config"],
        "",
    );
    assert!(output.status.success(), "{}", stderr_of(&output));
    let settings = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        settings(&String::from_utf8_lossy(&output.stdout)),
        settings(&printed)
    );
    assert!(printed.contains(&format!("database_url = {sqlite:?}")));
}
#[test]
fn check_config_redacts_secrets() {
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("check-config")
        .env("TESSERA_BOOTSTRAP_USERNAME", "root")
        .env("TESSERA_BOOTSTRAP_PASSWORD", "0123-very-secret")
        .env("TESSERA_TOKEN_SECRET", "s3cr3t-key-0123456789")
        .output()
        .expect("runs");
    assert!(output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("root"));
    assert!(!printed.contains("0123-very-secret") && !printed.contains("s3cr3t-key-0123456789"));
}

/// A database password, in the URL's userinfo or as a `password` parameter, is never printed:
/// not by `check-config`, not in the start-up errors of `serve` and the commands (which still
/// name the user, the host and the database).
#[test]
fn database_passwords_are_never_printed() {
    for (url, shown) in [
        (
            "postgres://tessera:pw-in-userinfo@127.0.0.1:1/authdb",
            "postgres://tessera:***@127.0.0.1:1/authdb",
        ),
        (
            "postgres://tessera@127.0.0.1:1/authdb?sslmode=disable&password=pw-in-query",
            "postgres://tessera@127.0.0.1:1/authdb?sslmode=disable&password=***",
        ),
    ] {
        let secret = if url.contains("pw-in-userinfo") {
            "pw-in-userinfo"
        } else {
            "pw-in-query"
        };
        let checked = tessera(&["--database-url", url, "check-config"], "");
        assert!(checked.status.success(), "{}", stderr_of(&checked));
        let printed = String::from_utf8_lossy(&checked.stdout);
        assert!(!printed.contains(secret), "{printed}");
        assert!(
            printed.contains("database_url has a password (not shown)"),
            "{printed}"
        );
        assert!(printed.contains("tessera@127.0.0.1:1/authdb"), "{printed}");
        for args in [
            &["--database-url", url, "migrate"][..],
            &["--database-url", url, "serve", "--listen", "127.0.0.1:0"][..],
        ] {
            // One attempt: the failure line, not the retries while the server may yet start.
            let mut once = command(args);
            once.env("TESSERA_DATABASE_CONNECT_TIMEOUT", "0");
            let (output, _) = finish(once, "", Duration::from_secs(20));
            assert_one_line_failure(&output, "cannot connect to database");
            let stderr = stderr_of(&output);
            assert!(!stderr.contains(secret), "{args:?}: {stderr}");
            assert!(
                stderr.ends_with(&format!("{shown}: connection refused")),
                "{args:?}: {stderr}"
            );
        }
    }
}

/// A connect parameter sqlx does not know is logged by sqlx with its value: a password given as
/// `sslpassword=` or `PASSWORD=` never reaches the log, whatever the level.
#[test]
fn unknown_connect_parameters_never_log_their_values() {
    let url = "postgres://tessera@127.0.0.1:1/authdb?sslpassword=pw-ssl&PASSWORD=pw-upper";
    for level in ["info", "trace"] {
        let mut serve = command(&["--database-url", url, "serve", "--listen", "127.0.0.1:0"]);
        // A short wait: its retries are logged too.
        serve
            .env("TESSERA_LOG_LEVEL", level)
            .env("TESSERA_DATABASE_CONNECT_TIMEOUT", "2");
        let (output, _) = finish(serve, "", Duration::from_secs(30));
        let stderr = stderr_of(&output);
        assert!(!output.status.success(), "{stderr}");
        for secret in ["pw-ssl", "pw-upper"] {
            assert!(!stderr.contains(secret), "{level}: {stderr}");
        }
    }
}

/// `tessera gen-secret` prints a fresh 256-bit secret, one line, needing no
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

/// On PostgreSQL, without `token_secret`, neither `RunningServer::start` nor
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

/// The Python helper that runs a command on a pseudo-terminal, answering each password prompt
/// once the terminal's echo is off, and prints what the terminal showed.
const ON_A_TERMINAL: &str = r#"
import os, pty, select, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
seen = b""
def read(until, limit=30):
    global seen
    deadline = time.time() + limit
    while until is None or until not in seen:
        ready, _, _ = select.select([fd], [], [], max(0, deadline - time.time()))
        if not ready:
            sys.exit("timed out: %r" % seen)
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            chunk = b""
        if not chunk:
            if until is None:
                return
            sys.exit("ended before %r: %r" % (until, seen))
        seen += chunk
for prompt, answer in ((b"Password: ", "FIRST"), (b"(again): ", "SECOND")):
    read(prompt)
    while termios.tcgetattr(fd)[3] & termios.ECHO:
        time.sleep(0.01)
    os.write(fd, os.environ[answer].encode() + b"\n")
read(None)
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;

/// On a terminal, `user add` asks for the password twice without echo and refuses
/// two that differ (standard input: `user_add_and_passwd_read_the_password_from_stdin`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_add_on_a_terminal_asks_twice_without_echo() {
    let srv = common::start(Store::Sqlite).await;
    let on_terminal = |username: &str, first: &str, second: &str| {
        let output = Command::new("python3")
            .args(["-c", ON_A_TERMINAL, env!("CARGO_BIN_EXE_tessera")])
            .args(["--database-url", &srv.database_url, "user", "add", username])
            .env("FIRST", first)
            .env("SECOND", second)
            .env_remove("TESSERA_LOG_LEVEL")
            .stdin(Stdio::null())
            .output()
            .expect("python3 runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string(),
        )
    };
    let (added, shown) = on_terminal("terry", "typed:secret", "typed:secret");
    assert!(added, "{shown}");
    assert!(
        !shown.contains("typed:secret"),
        "the password is not echoed: {shown}"
    );
    assert!(shown.contains("Password: ") && shown.contains("Password (again): "));
    srv.login_ok("terry", "typed:secret", json!({})).await;

    let (added, shown) = on_terminal("tina", "one-password", "another-one");
    assert!(!added, "{shown}");
    assert!(
        shown.contains("tessera: the two passwords differ"),
        "{shown}"
    );
    assert!(!shown.contains("one-password") && !shown.contains("another-one"));
    assert_eq!(
        srv.login("tina", "one-password", json!({})).await.status(),
        401
    );
}

/// Commands print their own output and errors only: not the migrations' INFO lines
/// nor the server's start-up lines, even with the server's TESSERA_LOG_LEVEL and bootstrap set.
async fn commands_print_only_their_own_output(store: Store) {
    let srv = common::start(store).await;
    let db = srv.database_url.clone();
    for args in [
        &["--database-url", &db, "migrate"][..],
        &["--database-url", &db, "user", "list"][..],
        &["--database-url", &db, "token", "purge"][..],
        &["--database-url", &db, "user", "add", "quiet"][..],
    ] {
        let mut command = command(args);
        command
            .env("TESSERA_LOG_LEVEL", "debug")
            .env("TESSERA_BOOTSTRAP_USERNAME", ADMIN_USERNAME)
            .env("TESSERA_BOOTSTRAP_PASSWORD", ADMIN_PASSWORD);
        let (output, _) = finish(command, "pw\n", Duration::from_secs(60));
        assert!(output.status.success(), "{args:?}: {}", stderr_of(&output));
        assert_eq!(stderr_of(&output), "", "{args:?}");
        assert!(!String::from_utf8_lossy(&output.stdout).contains("INFO"));
    }
}

both_stores!(commands_print_only_their_own_output);

/// Reads `path` until it holds `what` (30 s at most).
fn wait_for_text(path: &std::path::Path, what: &str) -> String {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(what) || started.elapsed() > Duration::from_secs(30) {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Logs redirected to a file carry no colour codes (colour only on a terminal).
#[test]
fn redirected_logs_have_no_colour() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("stderr.log");
    let database = format!("sqlite://{}", dir.path().join("t.db").display());
    let mut child = command(&[
        "--database-url",
        &database,
        "serve",
        "--listen",
        "127.0.0.1:0",
    ])
    .env("TESSERA_LOG_LEVEL", "info")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log).expect("log file"))
    .spawn()
    .expect("tessera runs");
    let text = wait_for_text(&log, "tessera listening");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        text.contains("tessera listening") && text.contains("INFO"),
        "{text}"
    );
    assert!(!text.contains("\u{1b}["), "no colour codes: {text:?}");
}

/// Every argument of every command has help text; healthcheck, which asks a
/// running server over HTTP, offers no `--database-url` and refuses one given before it.
#[test]
fn every_argument_has_help() {
    for args in [
        &["--help"][..],
        &["serve", "--help"][..],
        &["migrate", "--help"][..],
        &["user", "add", "--help"][..],
        &["user", "passwd", "--help"][..],
        &["user", "list", "--help"][..],
        &["token", "purge", "--help"][..],
        &["check-config", "--help"][..],
        &["gen-secret", "--help"][..],
        &["healthcheck", "--help"][..],
    ] {
        let output = tessera(args, "");
        assert!(output.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&output.stdout).to_string();
        let mut in_list = false;
        for line in help.lines() {
            if line.ends_with(':') && !line.starts_with(' ') {
                in_list = matches!(line, "Arguments:" | "Options:");
                continue;
            }
            if in_list && line.starts_with("  ") {
                let entry = line.trim_start();
                let described = entry
                    .split_once("  ")
                    .is_some_and(|(_, text)| !text.trim().is_empty());
                assert!(described, "{args:?}: no help for {entry:?}");
            }
        }
        if args.first() == Some(&"user") && args.get(1) == Some(&"add") {
            assert!(help.contains("<USERNAME>") && help.contains("--email <ADDRESS>"));
        }
    }
    let healthcheck = tessera(&["healthcheck", "--help"], "");
    let help = String::from_utf8_lossy(&healthcheck.stdout);
    assert!(
        help.contains("--url") && !help.contains("--database-url"),
        "{help}"
    );
    assert_one_line_failure(
        &tessera(&["--database-url", "sqlite://x.db", "healthcheck"], ""),
        "--database-url does not apply to healthcheck",
    );
}

/// `serve` binds its ports before it touches the database: a port in use fails at
/// once, without creating the SQLite file nor reaching PostgreSQL (a database that does not exist
/// would be the error otherwise); the metrics port the same.
#[test]
fn serve_binds_its_ports_before_the_database() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("address").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("t.db");
    let sqlite = format!("sqlite://{}", file.display());
    let postgres = "postgres://postgres@127.0.0.1:5432/tessera_no_such_database";
    for args in [
        &["--database-url", &sqlite, "serve", "--listen", &address][..],
        &["--database-url", postgres, "serve", "--listen", &address][..],
    ] {
        let (output, elapsed) = finish(command(args), "", Duration::from_secs(20));
        assert_one_line_failure(
            &output,
            &format!("cannot listen on {address}: address already in use"),
        );
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }
    let mut metrics = command(&[
        "--database-url",
        &sqlite,
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    metrics.env("TESSERA_METRICS_LISTEN", &address);
    let (output, _) = finish(metrics, "", Duration::from_secs(20));
    assert_one_line_failure(
        &output,
        &format!("cannot listen on {address} (metrics): address already in use"),
    );
    assert!(!file.exists(), "the database was not touched");
    drop(taken);
}
