//! What Tessera does better (SPEC §8): no stored token values or passwords, Argon2id at OWASP cost,
//! constant-cost failed logins, validation not starved by login storms, no 500 on NUL bytes.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::both_stores;
use crate::common::{self, basic, s, Store, ADMIN_PASSWORD, ADMIN_USERNAME};

both_stores!(
    token_values_and_passwords_are_never_stored,
    passwords_are_hashed_with_argon2id_at_owasp_cost,
    unknown_login_costs_like_a_wrong_password,
    login_storm_does_not_starve_validation,
    nul_characters_never_cause_a_500,
    scopes_check_work_is_bounded,
);

async fn token_values_and_passwords_are_never_stored(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.create_user_as(&admin, "stored-user-name", Some("Plain-Text-Secret-42"))
        .await;
    let login = srv
        .login_ok(
            "stored-user-name",
            "Plain-Text-Secret-42",
            json!({"access_type": "offline", "client_id": "app"}),
        )
        .await;
    let minted = srv.grant(&s(&login["refresh_token"]), "app").await;
    assert_eq!(minted.status, 200);
    let dump = srv.database_dump().await;
    assert!(
        dump.contains("stored-user-name"),
        "sanity: the dump holds the data"
    );
    for (what, secret) in [
        ("access token", s(&login["token"])),
        ("refresh token", s(&login["refresh_token"])),
        ("granted access token", s(&minted.data()["token"])),
        ("admin token", admin.clone()),
        ("password", "Plain-Text-Secret-42".to_string()),
        ("bootstrap password", ADMIN_PASSWORD.to_string()),
    ] {
        assert!(!dump.contains(&secret), "the {what} is stored in clear");
        let simple = secret.replace('-', "");
        assert!(
            !dump.contains(&simple),
            "the {what} is stored (without dashes)"
        );
    }
    // The session uuid is not a secret and is stored: the search does see uuids.
    assert!(
        dump.contains(&s(&login["session_uuid"]))
            || dump.contains(&s(&login["session_uuid"]).replace('-', "")),
        "sanity: session uuids are found in the dump"
    );
}

async fn passwords_are_hashed_with_argon2id_at_owasp_cost(store: Store) {
    let srv = common::start(store).await;
    let dump = srv.database_dump().await;
    let start = dump
        .find("$argon2id$")
        .expect("an Argon2id PHC hash is stored for the bootstrap administrator");
    let hash: String = dump[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "$=,+/".contains(*c))
        .take(200)
        .collect();
    // $argon2id$v=19$m=19456,t=2,p=1$salt$hash
    let params = hash
        .split('$')
        .find(|part| part.starts_with("m="))
        .unwrap_or_else(|| panic!("no parameters in {hash}"));
    let mut m = 0;
    let mut t = 0;
    let mut p = 0;
    for pair in params.split(',') {
        let (key, value) = pair.split_once('=').expect("key=value");
        let value: u32 = value.parse().unwrap_or(0);
        match key {
            "m" => m = value,
            "t" => t = value,
            "p" => p = value,
            _ => {}
        }
    }
    assert!(
        m >= 19 * 1024 && t >= 2 && p >= 1,
        "Argon2id parameters below OWASP (19 MiB, 2 passes, 1 lane): {params}"
    );
}

async fn unknown_login_costs_like_a_wrong_password(store: Store) {
    let srv = common::start(store).await;
    // Warm up connections and caches.
    srv.login_reply(ADMIN_USERNAME, "wrong", json!({})).await;
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for n in 0..4 {
        let started = Instant::now();
        let reply = srv.login_reply(ADMIN_USERNAME, "wrong", json!({})).await;
        wrong.push(started.elapsed());
        assert_eq!(reply.status, 401);
        let started = Instant::now();
        let reply = srv
            .login_reply(&format!("nobody-{n}"), "wrong", json!({}))
            .await;
        unknown.push(started.elapsed());
        assert_eq!(reply.status, 401);
    }
    wrong.sort();
    unknown.sort();
    let (wrong, unknown) = (wrong[1], unknown[1]);
    assert!(
        unknown * 3 >= wrong,
        "an unknown login ({unknown:?}) must cost about as much as a wrong password ({wrong:?})"
    );
}

async fn login_storm_does_not_starve_validation(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let url = srv.url("/token");
    let storm_started = Instant::now();
    let storm: Vec<_> = (0..24)
        .map(|_| {
            let client = srv.client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .header("Authorization", basic(ADMIN_USERNAME, "wrong-password"))
                    .json(&json!({}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let validation_started = Instant::now();
    for _ in 0..5 {
        assert_eq!(srv.head_token(&admin, None, None).await, 204);
    }
    let validation = validation_started.elapsed();
    for login in storm {
        let status = login.await.expect("join").expect("request");
        assert!(status == 401 || status == 429, "storm login: {status}");
    }
    let storm_elapsed = storm_started.elapsed();
    assert!(
        validation * 2 < storm_elapsed || validation < Duration::from_millis(100),
        "5 validations took {validation:?} during a login storm of {storm_elapsed:?}"
    );
}

async fn nul_characters_never_cause_a_500(store: Store) {
    use base64::Engine;
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let mut failures = Vec::new();
    let mut check = |what: &str, reply: &common::Reply| {
        if reply.status >= 500 || !reply.is_json && reply.status >= 400 {
            failures.push(format!("{what}: {} {}", reply.status, reply.text));
        }
    };
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    for credentials in [&b"\x00:\x00"[..], b"admin\x00:pw", b"admin:pw\x00"] {
        let reply = srv
            .send(
                srv.request(Method::POST, "/token")
                    .header("Authorization", format!("Basic {}", b64(credentials)))
                    .json(&json!({})),
            )
            .await;
        check(&format!("Basic {credentials:?}"), &reply);
    }
    let nul = "a\u{0}b";
    let bodies = [
        (
            "POST /token client_id",
            json!({"access_type": "offline", "client_id": nul}),
        ),
        (
            "POST /token refresh grant",
            json!({"refresh_token": nul, "client_id": nul}),
        ),
    ];
    for (what, body) in bodies {
        let reply = srv.login_reply(ADMIN_USERNAME, ADMIN_PASSWORD, body).await;
        check(what, &reply);
    }
    let grant = srv.grant(nul, "app").await;
    check("refresh grant with NUL token", &grant);
    for (what, body) in [
        ("POST /users username", json!({"username": nul})),
        (
            "POST /users email",
            json!({"username": "e", "email_address": "a\u{0}@b.c"}),
        ),
        (
            "POST /users firstname",
            json!({"username": "f", "firstname": nul}),
        ),
        (
            "POST /users password",
            json!({"username": "p", "password": nul}),
        ),
    ] {
        let reply = srv
            .call(Method::POST, "/users", Some(&admin), Some(body))
            .await;
        check(what, &reply);
    }
    for (what, body) in [
        ("POST /policies name", json!({"name": nul, "acl": []})),
        ("POST /policies acl", json!({"name": "n", "acl": [nul]})),
    ] {
        let reply = srv
            .call(Method::POST, "/policies", Some(&admin), Some(body))
            .await;
        check(what, &reply);
    }
    for path in [
        "/users?search=%00",
        "/policies?search=%00",
        "/sessions?search=%00",
        "/tokens?search=%00",
        "/users/me/tokens?search=%00",
        "/users?order=%00",
    ] {
        let reply = srv.get(path, &admin).await;
        check(&format!("GET {path}"), &reply);
    }
    for (method, path) in [
        (Method::DELETE, "/users/me/tokens/a%00b"),
        (Method::GET, "/token/a%00b"),
        (Method::DELETE, "/token/a%00b"),
    ] {
        let reply = srv.call(method.clone(), path, Some(&admin), None).await;
        check(&format!("{method} {path}"), &reply);
    }
    let scopes = srv
        .call(
            Method::POST,
            &format!("/token/{admin}/scopes/check"),
            None,
            Some(json!({"scopes": [nul], "tenant_uuid": nul})),
        )
        .await;
    check("scopes/check with NUL", &scopes);
    let head = srv.head_token(&admin, Some(nul), Some(nul)).await;
    if head >= 500 {
        failures.push(format!("HEAD /token?scope=NUL&tenant=NUL: {head}"));
    }
    assert!(failures.is_empty(), "NUL bytes: {failures:#?}");
}

/// One scopes/check request asks about at most 100 scopes of 16 KiB in all;
/// past either bound it is a 400 in the token-error shape, before any matching.
async fn scopes_check_work_is_bounded(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let srv = &srv;
    let path = format!("/token/{admin}/scopes/check");
    let path = &path;
    let check = |scopes: Vec<String>| async move {
        srv.send(
            srv.request(Method::POST, path)
                .json(&json!({ "scopes": scopes })),
        )
        .await
    };
    let short = |n: usize| (0..n).map(|i| format!("auth.users.{i}.read")).collect();
    let long = |n: usize| {
        (0..n)
            .map(|i| format!("auth.{i}.{}", "x".repeat(1000)))
            .collect()
    };

    let allowed = check(short(100)).await;
    assert_eq!(allowed.status, 200, "100 scopes: {}", allowed.text);
    assert_eq!(allowed.body["scopes"]["auth.users.7.read"], json!(true));
    let too_many = check(short(101)).await;
    common::assert_token_error(&too_many, 400, "101 scopes");
    let heavy_but_allowed = check(long(16)).await;
    assert_eq!(
        heavy_but_allowed.status, 200,
        "16 KB: {}",
        heavy_but_allowed.text
    );
    let too_long = check(long(20)).await;
    common::assert_token_error(&too_long, 400, "20 KB of scopes");
}

// ---------------------------------------------------------------------------------------------
// Connections and files: not store-dependent, run on SQLite.
// ---------------------------------------------------------------------------------------------

/// Whether the server closed `socket` within `limit`: a read gives end-of-file or an error.
async fn closed_within(socket: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 512];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or other answer before closing: keep reading to the end.
            Ok(Ok(_)) => continue,
        }
    }
}

/// Hundreds of sockets that send nothing, or trickle a request head byte by byte, are closed by
/// the idle and header-read timeouts, and validation keeps answering meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_sockets_are_closed() {
    use tokio::io::AsyncWriteExt;
    let srv = common::start_with(Store::Sqlite, |config| {
        config.http_idle_timeout = 1;
        config.http_header_read_timeout = 2;
        config.http_max_connections = 64;
        // Every socket here is from 127.0.0.1: this test is about the global cap.
        config.http_max_connections_per_address = Some(64);
    })
    .await;
    let admin = srv.admin_token().await;
    let started = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(
            tokio::net::TcpStream::connect(srv.addr)
                .await
                .expect("connect"),
        );
    }
    // Slow-loris: a head that never ends, one byte every 100 ms (never idle for a second).
    let trickling: Vec<_> = (0..20)
        .map(|_| {
            let addr = srv.addr;
            tokio::spawn(async move {
                let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
                let head = b"GET /api/auth/0.1/status HTTP/1.1\r\nHost: x\r\nX-Slow: ";
                if socket.write_all(head).await.is_err() {
                    return Instant::now();
                }
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if socket.write_all(b"a").await.is_err() {
                        return Instant::now();
                    }
                    if started.elapsed() > Duration::from_secs(60) {
                        panic!("a trickling head was never cut");
                    }
                }
            })
        })
        .collect();
    // Validation answers while the cap is full of idle sockets: it waits a turn, not for ever.
    let validation = Instant::now();
    let client = reqwest::Client::new();
    let answer = tokio::time::timeout(
        Duration::from_secs(20),
        client.head(srv.url(&format!("/token/{admin}"))).send(),
    )
    .await
    .expect("validation answers within 20 s while 220 sockets hang")
    .expect("request");
    assert_eq!(answer.status(), 204);
    eprintln!("validation answered in {:?}", validation.elapsed());
    for (index, socket) in idle.iter_mut().enumerate() {
        assert!(
            closed_within(socket, Duration::from_secs(20)).await,
            "idle socket {index} still open after {:?}",
            started.elapsed()
        );
    }
    for task in trickling {
        let cut = tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the trickling head is cut")
            .expect("join");
        assert!(cut.duration_since(started) < Duration::from_secs(30));
    }
    // And the service still works.
    assert_eq!(srv.head_token(&admin, None, None).await, 204);
}

/// Past `http_max_connections`, a new connection waits until one ends, then is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_their_turn() {
    let srv = common::start_with(Store::Sqlite, |config| {
        config.http_max_connections = 2;
        config.http_max_connections_per_address = Some(2);
        config.http_idle_timeout = 60;
        config.http_header_read_timeout = 60;
    })
    .await;
    let first = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect");
    let second = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = reqwest::Client::new();
    let url = srv.url("/token/00000000-0000-4000-8000-000000000000");
    let mut waiting =
        tokio::spawn(async move { client.head(url).send().await.map(|r| r.status()) });
    assert!(
        tokio::time::timeout(Duration::from_millis(700), &mut waiting)
            .await
            .is_err(),
        "a third connection was served beyond a cap of 2"
    );
    drop(first);
    let status = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served once a slot is free")
        .expect("join")
        .expect("request");
    assert_eq!(status, 404);
    drop(second);
}

/// A request head trickled in (a byte every 100 ms, never silent) is cut after
/// `http_header_read_timeout`, however long the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_head_is_cut_at_the_header_timeout() {
    use tokio::io::AsyncWriteExt;
    let srv = common::start_with(Store::Sqlite, |config| {
        config.http_header_read_timeout = 1;
        config.http_idle_timeout = 60;
    })
    .await;
    let started = Instant::now();
    let mut socket = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect");
    socket
        .write_all(b"GET /api/auth/0.1/status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    let (mut reader, mut writer) = socket.into_split();
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    let closed = {
        use tokio::io::AsyncReadExt;
        let mut buffer = [0u8; 512];
        tokio::time::timeout(Duration::from_secs(10), async {
            while !matches!(reader.read(&mut buffer).await, Ok(0) | Err(_)) {}
        })
        .await
        .is_ok()
    };
    trickle.abort();
    assert!(closed, "a trickled head still open after 10 s");
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(4),
        "a trickled head was cut after {elapsed:?}, not about 1 s"
    );
}

/// A keep-alive connection waiting for its next request, and a connection that never sends one,
/// are closed after `http_idle_timeout` (shorter here than the header timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_close_after_the_idle_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = common::start_with(Store::Sqlite, |config| {
        config.http_idle_timeout = 1;
        config.http_header_read_timeout = 30;
    })
    .await;
    let mut silent = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect");
    let mut kept = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect");
    kept.write_all(b"GET /api/auth/0.1/status HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
        let n = kept.read(&mut buffer).await.expect("read");
        assert_ne!(n, 0, "closed before answering");
        answer.extend_from_slice(&buffer[..n]);
    }
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let answered = Instant::now();
    // Still open a little later: it is kept alive, not closed after the response.
    assert!(!closed_within(&mut kept, Duration::from_millis(300)).await);
    assert!(closed_within(&mut kept, Duration::from_secs(5)).await);
    let elapsed = answered.elapsed();
    assert!(
        elapsed >= Duration::from_millis(800) && elapsed < Duration::from_secs(4),
        "an idle keep-alive connection closed after {elapsed:?}, not about 1 s"
    );
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await);
}

/// One client address holding its `http_max_connections_per_address` idle sockets (more are
/// closed at once) leaves the others room: a request from another address (127.0.0.2, loopback
/// too) is answered at once, while the global cap would have made it wait for the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let srv = common::start_with(Store::Sqlite, |config| {
        config.http_max_connections = 8;
        config.http_max_connections_per_address = Some(4);
        config.http_idle_timeout = 30;
        config.http_header_read_timeout = 30;
    })
    .await;
    let mut hogs = Vec::new();
    for _ in 0..8 {
        hogs.push(
            tokio::net::TcpStream::connect(srv.addr)
                .await
                .expect("connect"),
        );
    }
    let mut closed = 0;
    for hog in &mut hogs {
        if closed_within(hog, Duration::from_millis(500)).await {
            closed += 1;
        }
    }
    assert_eq!(
        closed, 4,
        "sockets past the per-address maximum are closed at once"
    );

    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client");
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(5), other.get(srv.url("/status")).send())
        .await
        .expect("another address is served while one holds its maximum")
        .expect("request");
    assert_eq!(answer.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // The hogging address itself gets no more: its new connection is closed at once.
    let mut more = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect");
    assert!(closed_within(&mut more, Duration::from_secs(2)).await);
    // Once it lets one go, it is served again.
    drop(hogs);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        srv.client
            .get(srv.url("/status"))
            .send()
            .await
            .expect("request")
            .status(),
        200
    );
}

/// A migrated SQLite database, policies attached, opens in the distribution's `sqlite3` (Debian
/// 12's is 3.40, older than the SQLite sqlx bundles: an operator's tool for a backup): the schema
/// reads, the integrity check passes, and the view the ACL triggers use joins each user's
/// policies in attachment order. `.ci/run` installs `sqlite3`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_schema_reads_with_the_distributions_sqlite3() {
    let srv = common::start(Store::Sqlite).await;
    let admin = srv.admin_token().await;
    let user = srv
        .create_user_as(&admin, "reader", Some("reader-pw"))
        .await;
    let user = s(&user["uuid"]);
    let mut expected = Vec::new();
    for n in 0..6 {
        let entry = format!("entry.{n}");
        let policy = srv
            .create_policy_as(&admin, &format!("p{n}"), &[&entry])
            .await;
        srv.attach_policy_as(&admin, &user, &s(&policy["uuid"]))
            .await;
        expected.push(entry);
    }
    let file = srv
        .database_url
        .strip_prefix("sqlite://")
        .expect("sqlite")
        .to_string();
    let sqlite3 = |argument: &str| {
        let output = std::process::Command::new("sqlite3")
            .args(["-readonly", &file, argument])
            .output()
            .expect("sqlite3 runs (apt-get install sqlite3)");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        );
        assert!(
            output.status.success() && stderr.is_empty(),
            "sqlite3 {argument}: {stderr}"
        );
        stdout
    };
    let version = sqlite3("SELECT sqlite_version()");
    eprintln!("sqlite3 {}", version.trim());
    assert!(sqlite3(".schema").contains("CREATE VIEW user_policies_acl"));
    assert_eq!(sqlite3("PRAGMA integrity_check").trim(), "ok");
    let joined = sqlite3(&format!(
        "SELECT acl FROM user_policies_acl WHERE user_uuid = '{user}'"
    ));
    let joined: Vec<String> = serde_json::from_str(joined.trim()).expect("a JSON array");
    assert_eq!(joined, expected, "attachment order");
}

/// The SQLite database and its -wal and -shm files are created 0600.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let srv = common::start(Store::Sqlite).await;
    srv.create_user("file-mode-user", "pw-file-mode").await;
    let database = srv
        .database_url
        .strip_prefix("sqlite://")
        .expect("a sqlite URL")
        .to_string();
    for suffix in ["", "-wal", "-shm", ".key"] {
        let path = format!("{database}{suffix}");
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{path} has mode {:o}", mode & 0o777);
    }
}

/// A load of refresh grants alone keeps the SQLite WAL bounded: the one-statement grant commits
/// by stepping to its end, which is when SQLite runs its auto-checkpoint (1,000 pages). Reset
/// after its first row, it committed without one and the WAL grew by every grant's pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_stays_bounded_under_refresh_grants() {
    let srv = common::start(Store::Sqlite).await;
    let created = srv
        .login_ok(
            common::ADMIN_USERNAME,
            common::ADMIN_PASSWORD,
            json!({"access_type": "offline", "client_id": "wal-check"}),
        )
        .await;
    let refresh_token = common::s(&created["refresh_token"]);
    let wal = format!(
        "{}-wal",
        srv.database_url
            .strip_prefix("sqlite://")
            .expect("a sqlite URL")
    );
    // Each grant writes several pages: 400 grants grow an unchecked WAL well past its limit.
    for _ in 0..400 {
        assert_eq!(srv.grant(&refresh_token, "wal-check").await.status, 200);
    }
    let size = std::fs::metadata(&wal).expect("the WAL").len();
    assert!(size < 6 * 1024 * 1024, "the WAL holds {size} bytes");
}

/// SQLite's write lock held past `busy_timeout` from outside (a `sqlite3` shell, a backup) makes a
/// write wait, then answer 503 in the API's shape, never a 500; once it is released, writes work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_behind_a_foreign_sqlite_lock_answers_503() {
    use sqlx::Connection;
    let srv = common::start(Store::Sqlite).await;
    sqlx::any::install_default_drivers();
    let mut holder = sqlx::AnyConnection::connect(&srv.database_url)
        .await
        .expect("a second connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .expect("the write lock");
    let reply = srv
        .login_reply(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
        .await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.body["status_code"], 503, "{}", reply.text);
    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("the lock released");
    holder.close().await.expect("closed");
    let reply = srv
        .login_reply(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

/// A client that sends requests and never reads the answers holds its connections only until a
/// write has waited `http_request_timeout` for it: then they are closed and its slots free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_loses_its_connections() {
    use tokio::io::AsyncWriteExt;
    let srv = common::start_with(Store::Sqlite, |config| {
        config.http_max_connections = 8;
        config.http_max_connections_per_address = Some(2);
        config.http_idle_timeout = 30;
        config.http_header_read_timeout = 30;
        config.http_request_timeout = 2;
    })
    .await;
    let request = "GET /api/auth/0.1/api/api.yml HTTP/1.1\r\nHost: tessera\r\n\r\n".repeat(200);
    let mut hogs = Vec::new();
    for _ in 0..2 {
        let mut hog = tokio::net::TcpStream::connect(srv.addr)
            .await
            .expect("connect");
        hog.write_all(request.as_bytes()).await.expect("write");
        hogs.push(hog);
    }
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client")
    };
    // Both slots of the address are taken while the answers wait to be read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(fresh().get(srv.url("/status")).send().await.is_err());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let answer = fresh()
        .get(srv.url("/status"))
        .send()
        .await
        .expect("the stalled connections were closed");
    assert_eq!(answer.status(), 200);
    drop(hogs);
}
