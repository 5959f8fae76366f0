//! Database faults: Tessera on a PostgreSQL instance of its own (initdb/pg_ctl
//! into a temp dir), under load; the database is stopped and started again. While it is down every
//! request that needs it answers 503 in its endpoint's error shape, within a bound (never a 500,
//! never a hang, never a panic) and `/status` says 503; once it is back everything works again
//! without restarting Tessera, and no token issued before the fault is lost.
//!
//! The PostgreSQL binaries must be installed (`/usr/lib/postgresql/<version>/bin`, or the directory
//! named by `TESSERA_TEST_PG_BINDIR`): without them the test fails, it never skips. As root the
//! binaries run as the `postgres` user (initdb refuses root).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, Method, RequestBuilder};
use serde_json::{json, Value};

use crate::common::free_port;
use crate::common::{
    assert_api_error, assert_token_error, s, Reply, ADMIN_PASSWORD, ADMIN_USERNAME, PREFIX,
};

/// Longest any answer may take while the database is down: the pool gives up acquiring a
/// connection after 5 s, so 10 s leaves room without reaching the 30 s request timeout.
const ANSWER_BOUND: Duration = Duration::from_secs(10);
/// Longest Tessera may take to work again once the database is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(20);

const USERNAME: &str = "fault-user";
const PASSWORD: &str = "fault-user-Secret-1";
const CLIENT_ID: &str = "fault-client";

// ---------------------------------------------------------------------------------------------
// A private PostgreSQL instance.
// ---------------------------------------------------------------------------------------------

/// A PostgreSQL cluster in a temp dir, on a free port of 127.0.0.1. Dropping it stops the server
/// and removes the directory, also when the test fails.
struct PgInstance {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// Run the binaries through `runuser -u postgres --` (we are root).
    as_postgres: bool,
}

/// The directory holding `initdb` and `pg_ctl`: `TESSERA_TEST_PG_BINDIR`, else the newest
/// `/usr/lib/postgresql/<version>/bin`. Panics (the test fails) when there is none.
fn pg_bindir() -> PathBuf {
    let usable = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("TESSERA_TEST_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        assert!(
            usable(&dir),
            "TESSERA_TEST_PG_BINDIR={} holds no initdb and pg_ctl",
            dir.display()
        );
        return dir;
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut found: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version: Vec<u32> = name
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let bin = entry.path().join("bin");
            usable(&bin).then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "the database-fault test needs the PostgreSQL server binaries (initdb, pg_ctl) under \
             /usr/lib/postgresql/<version>/bin (Debian/Ubuntu: apt-get install postgresql), or \
             TESSERA_TEST_PG_BINDIR naming their directory; none were found"
        ),
    }
}

impl PgInstance {
    /// initdb (trust auth, superuser `postgres`) into a fresh temp dir, listening on 127.0.0.1 only.
    fn init() -> PgInstance {
        let bin = pg_bindir();
        let as_postgres = unsafe { libc::geteuid() } == 0;
        let dir = tempfile::Builder::new()
            .prefix("tessera-pg-")
            .tempdir()
            .expect("tempdir");
        if as_postgres {
            let user = Command::new("id")
                .args(["-u", "postgres"])
                .output()
                .expect("run id");
            let group = Command::new("id")
                .args(["-g", "postgres"])
                .output()
                .expect("run id");
            let parse = |out: std::process::Output| -> u32 {
                assert!(
                    out.status.success(),
                    "running as root, the test needs a `postgres` user to run initdb and pg_ctl"
                );
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .expect("numeric id")
            };
            std::os::unix::fs::chown(dir.path(), Some(parse(user)), Some(parse(group)))
                .expect("chown the temp dir to postgres");
        }
        let instance = PgInstance {
            dir,
            bin,
            port: free_port(),
            as_postgres,
        };
        instance.run(
            "initdb",
            &[
                "-D",
                &instance.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let settings = format!(
            "\n# tessera db_faults test\nlisten_addresses = '127.0.0.1'\nport = {}\n\
             unix_socket_directories = '{}'\nmax_connections = 50\n",
            instance.port,
            instance.dir.path().display()
        );
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(instance.data().join("postgresql.conf"))
            .and_then(|mut file| file.write_all(settings.as_bytes()))
            .expect("append to postgresql.conf");
        instance
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        };
        // The postgres user may not be allowed into the current directory.
        command.current_dir(self.dir.path()).stdin(Stdio::null());
        command
    }

    /// Runs a binary to completion; panics with its output when it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed ({}):\n{}\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log_tail(),
        );
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data().display().to_string();
        let mut all = vec!["-D", &data];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all);
    }

    /// Starts the server and waits until it accepts connections.
    fn start(&self) {
        let log = self.log().display().to_string();
        self.pg_ctl(&["start", "-w", "-t", "60", "-l", &log]);
    }

    /// `pg_ctl stop -m fast`: sessions are ended, the server is down when this returns.
    fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]);
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(40);
        format!("--- postgres.log (tail) ---\n{}", lines[start..].join("\n"))
    }
}

impl Drop for PgInstance {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
        // Stop the server if it runs (an error when it does not is fine), then the TempDir goes.
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["stop", "-m", "immediate", "-w", "-t", "30"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs a blocking pg_ctl step off the async workers, so that requests in flight keep going.
async fn blocking(pg: &Arc<PgInstance>, step: fn(&PgInstance)) -> Duration {
    let pg = pg.clone();
    let started = Instant::now();
    tokio::task::spawn_blocking(move || step(&pg))
        .await
        .expect("pg_ctl step");
    started.elapsed()
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers.
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
struct Api {
    client: Client,
    base: String,
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}{PREFIX}{path}", self.base)
    }

    fn login(&self, username: &str, password: &str, body: Value) -> RequestBuilder {
        self.client
            .post(self.url("/token"))
            .basic_auth(username, Some(password))
            .json(&body)
    }

    fn grant(&self, refresh_token: &str) -> RequestBuilder {
        self.client
            .post(self.url("/token"))
            .json(&json!({"refresh_token": refresh_token, "client_id": CLIENT_ID}))
    }

    fn token(&self, method: Method, token: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(&format!("/token/{token}")))
    }

    fn users(&self, admin: &str) -> RequestBuilder {
        self.client
            .get(self.url("/users"))
            .header("X-Auth-Token", admin)
    }

    fn status(&self, method: Method) -> RequestBuilder {
        self.client.request(method, self.url("/status"))
    }

    fn raw(&self, path: &str) -> RequestBuilder {
        self.client.get(format!("{}{path}", self.base))
    }
}

/// Sends a request, failing the test when no answer arrives within `ANSWER_BOUND`.
async fn timed(what: &str, request: RequestBuilder) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = tokio::time::timeout(ANSWER_BOUND, async {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: no HTTP answer (did the server die?): {e}"));
        Reply::read(response).await
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: no answer within {ANSWER_BOUND:?}"));
    (reply, started.elapsed())
}

async fn expect(what: &str, request: RequestBuilder, status: u16) -> Reply {
    let (reply, _) = timed(what, request).await;
    assert_eq!(reply.status, status, "{what}: {}", reply.text);
    reply
}

// ---------------------------------------------------------------------------------------------
// The test.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_answers_503_and_recovers_without_restart() {
    let test_started = Instant::now();
    let phase = |name: &str, since: Instant| {
        eprintln!("[db_faults] {name}: {:.2?}", since.elapsed());
    };

    // 1. A private PostgreSQL.
    let t = Instant::now();
    let pg = Arc::new(
        tokio::task::spawn_blocking(PgInstance::init)
            .await
            .expect("initdb"),
    );
    phase("initdb", t);
    let t = Instant::now();
    blocking(&pg, PgInstance::start).await;
    phase("first start", t);

    // 2. Tessera on it, and some load; every token issued is kept.
    let server = tessera::RunningServer::start(tessera::Config {
        listen: "127.0.0.1:0".into(),
        database_url: pg.url(),
        token_secret: Some(crate::common::TEST_TOKEN_SECRET.into()),
        bootstrap_username: Some(ADMIN_USERNAME.into()),
        bootstrap_password: Some(ADMIN_PASSWORD.into()),
        // The load below mints hundreds of sessions for one user: not what this test is about.
        max_user_concurrent_sessions: 1_000_000,
        ..Default::default()
    })
    .await
    .expect("tessera starts on the private PostgreSQL");
    let api = Api {
        client: Client::new(),
        base: format!("http://{}", server.local_addr()),
    };
    let t = Instant::now();
    let admin = s(&expect(
        "admin login",
        api.login(ADMIN_USERNAME, ADMIN_PASSWORD, json!({})),
        200,
    )
    .await
    .data()["token"]);
    let created = expect(
        "user creation",
        api.client
            .post(api.url("/users"))
            .header("X-Auth-Token", &admin)
            .json(&json!({"username": USERNAME, "password": PASSWORD})),
        200,
    )
    .await;
    assert_eq!(created.body["username"], json!(USERNAME));
    let mut tokens = vec![admin.clone()];
    for i in 0..3 {
        let reply = expect(
            "user login",
            api.login(USERNAME, PASSWORD, json!({"expiration": 3600 + i})),
            200,
        )
        .await;
        tokens.push(s(&reply.data()["token"]));
    }
    let offline = expect(
        "offline login",
        api.login(
            USERNAME,
            PASSWORD,
            json!({"access_type": "offline", "client_id": CLIENT_ID}),
        ),
        200,
    )
    .await;
    tokens.push(s(&offline.data()["token"]));
    let refresh = s(&offline.data()["refresh_token"]);
    for _ in 0..3 {
        tokens.push(s(&expect("refresh grant", api.grant(&refresh), 200)
            .await
            .data()["token"]));
    }
    for token in &tokens {
        expect("validation", api.token(Method::HEAD, token), 204).await;
        expect("description", api.token(Method::GET, token), 200).await;
    }
    expect("users list", api.users(&admin), 200).await;
    expect("status", api.status(Method::GET), 200).await;
    phase("load before the fault", t);

    // 3a. The database stops under load: requests in flight get 200/204 or 503, never anything else.
    let t = Instant::now();
    let stop_load = Arc::new(AtomicBool::new(false));
    let mut load = tokio::task::JoinSet::new();
    for worker in 0..4 {
        let (api, admin, refresh, stop_load) = (
            api.clone(),
            admin.clone(),
            refresh.clone(),
            stop_load.clone(),
        );
        let token = tokens[worker % tokens.len()].clone();
        load.spawn(async move {
            // (what, status, elapsed, token minted)
            let mut seen: Vec<(&'static str, u16, Duration, Option<String>)> = Vec::new();
            let mut round = worker;
            while !stop_load.load(Ordering::Acquire) {
                let (what, request) = match round % 3 {
                    0 => ("in-flight HEAD /token", api.token(Method::HEAD, &token)),
                    1 => ("in-flight refresh grant", api.grant(&refresh)),
                    _ => ("in-flight GET /users", api.users(&admin)),
                };
                round += 1;
                let (reply, elapsed) = timed(what, request).await;
                if reply.status == 503 {
                    let context = format!("{what} while the database stopped");
                    match what {
                        "in-flight refresh grant" => assert_token_error(&reply, 503, &context),
                        "in-flight GET /users" => assert_api_error(&reply, 503, &context),
                        _ => {}
                    }
                }
                let minted = (reply.status == 200 && what == "in-flight refresh grant")
                    .then(|| s(&reply.data()["token"]));
                seen.push((what, reply.status, elapsed, minted));
            }
            seen
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stop_took = blocking(&pg, PgInstance::stop).await;
    // Let the load run into the outage for a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_load.store(true, Ordering::Release);
    let (mut answered, mut unavailable, mut slowest) = (0, 0, Duration::ZERO);
    while let Some(seen) = load.join_next().await {
        for (what, status, elapsed, minted) in seen.expect("load worker panicked") {
            assert!(
                matches!(status, 200 | 204 | 503),
                "{what} while the database stopped: got {status} (only 200/204 or 503 are allowed)"
            );
            answered += 1;
            unavailable += usize::from(status == 503);
            slowest = slowest.max(elapsed);
            // A token Tessera handed out before the fault must survive it.
            tokens.extend(minted);
        }
    }
    assert!(
        unavailable > 0,
        "no request saw the outage: the load did not overlap the stop"
    );
    eprintln!(
        "[db_faults] stop under load: pg_ctl stop {stop_took:.2?}; {answered} answers, \
         {unavailable} × 503, slowest {slowest:.2?}"
    );
    phase("stop under load", t);

    // 3b. While the database is down, every endpoint that needs it answers 503, in its shape.
    let t = Instant::now();
    let token = tokens[1].clone();
    let checks: Vec<(&str, RequestBuilder)> = vec![
        (
            "POST /token (password)",
            api.login(USERNAME, PASSWORD, json!({})),
        ),
        (
            "POST /token (offline password)",
            api.login(
                USERNAME,
                PASSWORD,
                json!({"access_type": "offline", "client_id": CLIENT_ID}),
            ),
        ),
        ("POST /token (refresh grant)", api.grant(&refresh)),
        ("HEAD /token/{t}", api.token(Method::HEAD, &token)),
        ("GET /token/{t}", api.token(Method::GET, &token)),
        (
            "DELETE /token/{unknown}",
            api.token(Method::DELETE, &uuid::Uuid::new_v4().to_string()),
        ),
        ("GET /users", api.users(&admin)),
        ("GET /status", api.status(Method::GET)),
        ("HEAD /status", api.status(Method::HEAD)),
        ("GET /health/ready", api.raw("/health/ready")),
    ];
    let mut outage = tokio::task::JoinSet::new();
    for (what, request) in checks {
        outage.spawn(async move {
            let (reply, elapsed) = timed(what, request).await;
            (what, reply, elapsed)
        });
    }
    let mut timings = Vec::new();
    while let Some(joined) = outage.join_next().await {
        let (what, reply, elapsed) = joined.expect("outage request panicked");
        let context = format!("{what} while the database is down");
        match what {
            "HEAD /token/{t}" | "HEAD /status" => {
                assert_eq!(reply.status, 503, "{context}")
            }
            w if w.contains("/token") => assert_token_error(&reply, 503, &context),
            "GET /users" => {
                assert_api_error(&reply, 503, &context);
                assert_eq!(
                    reply.body["error_id"],
                    json!("service-unavailable"),
                    "{context}"
                );
            }
            "GET /status" => {
                assert_eq!(reply.status, 503, "{context}: {}", reply.text);
                assert_eq!(reply.body["database"]["status"], json!("fail"), "{context}");
            }
            _ => assert_eq!(reply.status, 503, "{context}: {}", reply.text),
        }
        timings.push(format!("{what} {elapsed:.2?}"));
    }
    eprintln!("[db_faults] outage answers: {}", timings.join(", "));
    // The process still serves what needs no database.
    expect(
        "GET /health/live while the database is down",
        api.raw("/health/live"),
        200,
    )
    .await;
    phase("outage checks", t);

    // 4. The database comes back (same data, same port); Tessera recovers without a restart.
    let t = Instant::now();
    let start_took = blocking(&pg, PgInstance::start).await;
    let back = Instant::now();
    let mut polls = 0;
    loop {
        polls += 1;
        let (reply, _) = timed("GET /status after the restart", api.status(Method::GET)).await;
        match reply.status {
            200 => break,
            503 => {}
            other => panic!("GET /status after the restart: {other} {}", reply.text),
        }
        assert!(
            back.elapsed() < RECOVERY_BOUND,
            "Tessera did not recover within {RECOVERY_BOUND:?} of the database's return"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "[db_faults] recovery: pg_ctl start {start_took:.2?}; /status 200 after {:.2?} ({polls} polls)",
        back.elapsed()
    );
    check_everything_works(&api, &admin, &tokens, &refresh).await;
    phase("restart and recovery", t);

    // 5. A quick bounce with no request in between: the pool still holds connections to the old
    // server, and the very first requests afterwards must not fail (test_before_acquire).
    let t = Instant::now();
    blocking(&pg, PgInstance::stop).await;
    blocking(&pg, PgInstance::start).await;
    let first = expect(
        "first HEAD /token after a bounce",
        api.token(Method::HEAD, &tokens[0]),
        204,
    )
    .await;
    drop(first);
    check_everything_works(&api, &admin, &tokens, &refresh).await;
    phase("bounce", t);

    drop(server);
    eprintln!(
        "[db_faults] {} tokens survived; whole test {:.2?}",
        tokens.len(),
        test_started.elapsed()
    );
}

/// Every token issued before the fault validates, the refresh token grants, logins work, the
/// protected endpoints and the probes answer.
async fn check_everything_works(api: &Api, admin: &str, tokens: &[String], refresh: &str) {
    for token in tokens {
        expect(
            "HEAD /token of a token issued before the fault",
            api.token(Method::HEAD, token),
            204,
        )
        .await;
    }
    expect(
        "GET /token of a token issued before the fault",
        api.token(Method::GET, &tokens[1]),
        200,
    )
    .await;
    let granted = expect("refresh grant after the fault", api.grant(refresh), 200).await;
    let minted = s(&granted.data()["token"]);
    expect(
        "validation of a new token",
        api.token(Method::HEAD, &minted),
        204,
    )
    .await;
    let login = expect(
        "offline login after the fault",
        api.login(
            USERNAME,
            PASSWORD,
            json!({"access_type": "offline", "client_id": CLIENT_ID}),
        ),
        200,
    )
    .await;
    assert_eq!(
        s(&login.data()["refresh_token"]),
        refresh,
        "the refresh token of (user, client_id) survived the fault"
    );
    expect(
        "admin login after the fault",
        api.login(ADMIN_USERNAME, ADMIN_PASSWORD, json!({})),
        200,
    )
    .await;
    let users = expect("GET /users after the fault", api.users(admin), 200).await;
    assert!(
        users.body["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|u| u["username"] == json!(USERNAME))),
        "the user created before the fault is still there: {}",
        users.text
    );
    expect("GET /status after the fault", api.status(Method::GET), 200).await;
    expect(
        "HEAD /status after the fault",
        api.status(Method::HEAD),
        200,
    )
    .await;
    expect(
        "GET /health/ready after the fault",
        api.raw("/health/ready"),
        200,
    )
    .await;
}
