//! Refresh-token lifetimes and rotation (SPEC §10): idle and absolute expiry by the manual clock,
//! the purge of expired refresh tokens and their sessions, rotation, the reuse grace, replay
//! revocation of the whole chain, the concurrent-grant race, and rotation across
//! `tessera rotate-secret`.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{
    self, assert_auth_failed, is_uuid, offline_with, rotate, s, start_on_with, Store, TestServer,
    ADMIN_PASSWORD, ADMIN_USERNAME,
};

/// What every login and grant here asks for: access tokens of an hour.
fn an_hour() -> Value {
    json!({"expiration": 3600})
}

/// A user `rita` (purpose user, so that the session limit is counted) with ACL `confd.#`.
async fn rita(srv: &TestServer) -> String {
    let admin = srv.admin_token().await;
    s(&srv
        .user_with_acl(&admin, "rita", "pw-rita", &["confd.#"])
        .await["uuid"])
}

async fn login(srv: &TestServer, body: Value) -> Value {
    srv.login_ok("rita", "pw-rita", body).await
}

fn advance(srv: &TestServer, seconds: u64) {
    srv.clock.advance(Duration::from_secs(seconds));
}

/// A grant that must succeed; returns (access token, refresh_token in the answer, if any).
async fn granted(srv: &TestServer, refresh: &str) -> (String, Option<String>) {
    let reply = srv.grant_with(refresh, "app", an_hour()).await;
    assert_eq!(reply.status, 200, "grant: {}", reply.text);
    let data = reply.data();
    (s(&data["token"]), data.get("refresh_token").map(s))
}

fn rotating(grace: u64) -> impl FnOnce(&mut tessera::Config) {
    move |c| {
        c.refresh_token_rotation = true;
        c.refresh_token_reuse_grace = grace;
        // Replays are failures: keep the brute-force hold-back out of these tests.
        c.bruteforce_address_failures = 0;
        c.bruteforce_login_failures = 0;
    }
}

both_stores!(
    by_default_refresh_tokens_never_expire_nor_rotate,
    an_unused_refresh_token_expires_after_the_idle_lifetime,
    a_refresh_token_expires_at_its_max_lifetime_however_used,
    the_purge_removes_expired_refresh_tokens_and_their_sessions,
    rotation_answers_a_new_value_and_supersedes_the_presented_one,
    a_replay_revokes_the_whole_chain_and_its_sessions,
    within_the_grace_a_superseded_value_answers_the_same_successor,
    a_value_superseded_long_ago_is_still_a_replay,
    within_the_grace_a_value_whose_successor_was_rotated_is_a_replay,
    revoking_a_superseded_value_revokes_the_chain,
    concurrent_grants_within_the_grace_share_one_successor,
    concurrent_grants_without_grace_leave_no_live_successor,
    workers_sharing_a_chain_either_keep_it_or_lose_it_whole,
    a_rotating_chain_survives_rotate_secret,
    a_rotation_failing_midway_keeps_nothing_and_leaves_no_write_open,
);

async fn by_default_refresh_tokens_never_expire_nor_rotate(store: Store) {
    let srv = common::start(store).await;
    rita(&srv).await;
    let refresh = s(&login(&srv, offline_with("app", an_hour())).await["refresh_token"]);
    for _ in 0..3 {
        advance(&srv, 400 * 24 * 3600);
        let (_, answered) = granted(&srv, &refresh).await;
        assert_eq!(answered, None, "no refresh_token without rotation");
    }
    let again = login(&srv, offline_with("app", an_hour())).await;
    assert_eq!(s(&again["refresh_token"]), refresh);
}

async fn an_unused_refresh_token_expires_after_the_idle_lifetime(store: Store) {
    let srv = common::start_with(store, |c| c.refresh_token_idle_lifetime = 100).await;
    rita(&srv).await;
    let refresh = s(&login(&srv, offline_with("app", an_hour())).await["refresh_token"]);
    advance(&srv, 60);
    let (minted, _) = granted(&srv, &refresh).await;
    advance(&srv, 60);
    granted(&srv, &refresh).await;
    advance(&srv, 60);
    // A second offline login is a use too.
    let again = login(&srv, offline_with("app", an_hour())).await;
    assert_eq!(s(&again["refresh_token"]), refresh);
    advance(&srv, 99);
    granted(&srv, &refresh).await;
    advance(&srv, 101);
    assert_auth_failed(
        &srv.grant_with(&refresh, "app", an_hour()).await,
        "unused for 101 s",
    );
    assert_eq!(
        srv.head_token(&minted, None, None).await,
        204,
        "until the purge"
    );

    // A new offline login makes a new refresh token; the expired one and its sessions go.
    let fresh = s(&login(&srv, offline_with("app", an_hour())).await["refresh_token"]);
    assert_ne!(fresh, refresh);
    granted(&srv, &fresh).await;
    assert_auth_failed(
        &srv.grant_with(&refresh, "app", an_hour()).await,
        "the expired value",
    );
    assert_eq!(
        srv.head_token(&minted, None, None).await,
        404,
        "its sessions ended"
    );
}

async fn a_refresh_token_expires_at_its_max_lifetime_however_used(store: Store) {
    let srv = common::start_with(store, |c| c.refresh_token_max_lifetime = 100).await;
    rita(&srv).await;
    let refresh = s(&login(&srv, offline_with("app", an_hour())).await["refresh_token"]);
    advance(&srv, 50);
    granted(&srv, &refresh).await;
    let again = login(&srv, offline_with("app", an_hour())).await;
    assert_eq!(
        s(&again["refresh_token"]),
        refresh,
        "a second login does not renew it"
    );
    advance(&srv, 49);
    granted(&srv, &refresh).await;
    advance(&srv, 2);
    assert_auth_failed(
        &srv.grant_with(&refresh, "app", an_hour()).await,
        "101 s old",
    );
}

async fn the_purge_removes_expired_refresh_tokens_and_their_sessions(store: Store) {
    let srv = common::start_with(store, |c| {
        c.refresh_token_idle_lifetime = 100;
        c.token_cleanup_interval = 1;
        c.token_cache_size = 1000;
    })
    .await;
    let user = rita(&srv).await;
    let refresh = s(&login(&srv, offline_with("app", an_hour())).await["refresh_token"]);
    let (minted, _) = granted(&srv, &refresh).await;
    assert_eq!(srv.head_token(&minted, None, None).await, 204, "cached now");
    advance(&srv, 150);
    let admin = srv.admin_token().await;
    // Made after the clock moved: not expired, kept.
    let kept = s(&srv
        .login_ok(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            offline_with("kept", an_hour()),
        )
        .await["refresh_token"]);

    let mut purged = false;
    for _ in 0..100 {
        let list = srv.get(&format!("/users/{user}/tokens"), &admin).await;
        if list.body["total"] == 0 {
            purged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(purged, "the purge removes the expired refresh token");
    assert_eq!(
        srv.head_token(&minted, None, None).await,
        404,
        "the sessions minted from it end, cached or not"
    );
    let sessions = srv.get(&format!("/users/{user}/sessions"), &admin).await;
    assert_eq!(sessions.body["total"], 0, "{}", sessions.text);
    let still = srv
        .post_token(json!({"refresh_token": kept, "client_id": "kept"}))
        .await;
    assert_eq!(still.status, 200, "{}", still.text);
}

async fn rotation_answers_a_new_value_and_supersedes_the_presented_one(store: Store) {
    let srv = common::start_with(store, rotating(0)).await;
    let user = rita(&srv).await;
    let data = login(
        &srv,
        json!({"access_type": "offline", "client_id": "app", "scope": ["confd.users.#"]}),
    )
    .await;
    let first = s(&data["refresh_token"]);
    let reply = srv.grant_with(&first, "app", an_hour()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let second = s(&reply.data()["refresh_token"]);
    assert!(is_uuid(&json!(second)) && second != first, "a new value");
    assert_eq!(
        reply.data()["scope"],
        json!(["confd.users.#"]),
        "the same scope"
    );

    // The password login answers the current value, and sets the scope as ever.
    let again = login(
        &srv,
        json!({"access_type": "offline", "client_id": "app", "scope": ["confd.users.#"]}),
    )
    .await;
    assert_eq!(s(&again["refresh_token"]), second);
    let (_, third) = granted(&srv, &second).await;
    let third = third.expect("rotated");
    assert!(third != second && third != first);
    let admin = srv.admin_token().await;
    let list = srv.get(&format!("/users/{user}/tokens"), &admin).await;
    assert_eq!(list.body["total"], 1, "one chain: {}", list.text);
    assert_eq!(list.body["items"][0]["client_id"], "app");
    granted(&srv, &third).await;
}

async fn a_replay_revokes_the_whole_chain_and_its_sessions(store: Store) {
    let srv = common::start_with(store, rotating(0)).await;
    let user = rita(&srv).await;
    let data = login(&srv, offline_with("app", an_hour())).await;
    let mut minted = vec![s(&data["token"])];
    let first = s(&data["refresh_token"]);
    let other = s(&login(
        &srv,
        json!({"access_type": "offline", "client_id": "other"}),
    )
    .await["refresh_token"]);
    let password_token = srv.token_of("rita", "pw-rita").await;
    let (token, second) = granted(&srv, &first).await;
    minted.push(token);
    let (token, third) = granted(&srv, &second.expect("rotated")).await;
    minted.push(token);
    let third = third.expect("rotated");

    // The thief presents the superseded first value: 401, and the chain is over.
    assert_auth_failed(&srv.grant_with(&first, "app", an_hour()).await, "a replay");
    assert_auth_failed(
        &srv.grant_with(&third, "app", an_hour()).await,
        "the chain's current value",
    );
    assert_auth_failed(&srv.grant_with(&first, "app", an_hour()).await, "and again");
    for token in &minted {
        assert_eq!(
            srv.head_token(token, None, None).await,
            404,
            "sessions revoked"
        );
    }
    let admin = srv.admin_token().await;
    let list = srv.get(&format!("/users/{user}/tokens"), &admin).await;
    assert_eq!(
        list.body["total"], 1,
        "the other client's stays: {}",
        list.text
    );
    let still = srv
        .post_token(json!({"refresh_token": other, "client_id": "other"}))
        .await;
    assert_eq!(still.status, 200, "another chain is untouched");
    assert_eq!(srv.head_token(&password_token, None, None).await, 204);
    // A new password login starts a new chain.
    let fresh = s(&login(&srv, offline_with("app", an_hour())).await["refresh_token"]);
    assert!(fresh != first && fresh != third);
    granted(&srv, &fresh).await;
}

async fn within_the_grace_a_superseded_value_answers_the_same_successor(store: Store) {
    let srv = common::start_with(store, rotating(30)).await;
    rita(&srv).await;
    let first = s(&login(&srv, offline_with("app", an_hour())).await["refresh_token"]);
    let (_, second) = granted(&srv, &first).await;
    let second = second.expect("rotated");
    advance(&srv, 10);
    for _ in 0..2 {
        let (token, answered) = granted(&srv, &first).await;
        assert_eq!(
            answered.as_deref(),
            Some(second.as_str()),
            "the same successor"
        );
        assert_eq!(
            srv.head_token(&token, None, None).await,
            204,
            "a new access token"
        );
    }
    let (_, third) = granted(&srv, &second).await;
    let third = third.expect("rotated");
    assert_ne!(third, second, "the successor still rotates");
    advance(&srv, 25);
    let (_, answered) = granted(&srv, &second).await;
    assert_eq!(
        answered,
        Some(third.clone()),
        "25 s after it was superseded"
    );
    // The first value was superseded 35 s ago: a replay.
    assert_auth_failed(
        &srv.grant_with(&first, "app", an_hour()).await,
        "after the grace",
    );
    assert_auth_failed(
        &srv.grant_with(&third, "app", an_hour()).await,
        "the chain is revoked",
    );
}

/// Every value a live chain ever had is recognised: however many times a thief rotated it, the
/// victim's first value presented again revokes the chain (RFC 9700 §4.14.2).
async fn a_value_superseded_long_ago_is_still_a_replay(store: Store) {
    let srv = common::start_with(store, rotating(0)).await;
    rita(&srv).await;
    let data = login(&srv, offline_with("app", an_hour())).await;
    let first = s(&data["refresh_token"]);
    let mut minted = vec![s(&data["token"])];
    let mut current = first.clone();
    for _ in 0..60 {
        let (token, next) = granted(&srv, &current).await;
        minted.push(token);
        current = next.expect("rotated");
    }
    assert_auth_failed(
        &srv.grant_with(&first, "app", an_hour()).await,
        "a replay of the first value",
    );
    assert_auth_failed(
        &srv.grant_with(&current, "app", an_hour()).await,
        "the chain is revoked",
    );
    for token in &minted {
        assert_eq!(
            srv.head_token(token, None, None).await,
            404,
            "every session minted from the chain ends"
        );
    }
}

/// Within the grace a superseded value answers only its own successor, while that is still the
/// chain's current value; once the chain has moved past it, the value is a replay.
async fn within_the_grace_a_value_whose_successor_was_rotated_is_a_replay(store: Store) {
    let srv = common::start_with(store, rotating(30)).await;
    rita(&srv).await;
    let data = login(&srv, offline_with("app", an_hour())).await;
    let first = s(&data["refresh_token"]);
    let mut minted = vec![s(&data["token"])];
    let (token, second) = granted(&srv, &first).await;
    minted.push(token);
    let second = second.expect("rotated");
    advance(&srv, 5);
    let (token, answered) = granted(&srv, &first).await;
    minted.push(token);
    assert_eq!(answered.as_deref(), Some(second.as_str()), "its successor");
    let (token, third) = granted(&srv, &second).await;
    minted.push(token);
    let third = third.expect("rotated");
    advance(&srv, 5);
    // 10 s after it was superseded, within the grace, but its successor is superseded too.
    assert_auth_failed(
        &srv.grant_with(&first, "app", an_hour()).await,
        "the chain moved on: a replay",
    );
    assert_auth_failed(
        &srv.grant_with(&third, "app", an_hour()).await,
        "the chain is revoked",
    );
    assert_auth_failed(
        &srv.grant_with(&second, "app", an_hour()).await,
        "every value of it",
    );
    for token in &minted {
        assert_eq!(srv.head_token(token, None, None).await, 404, "sessions end");
    }
}

async fn revoking_a_superseded_value_revokes_the_chain(store: Store) {
    let srv = common::start_with(store, rotating(30)).await;
    rita(&srv).await;
    let first = s(&login(&srv, offline_with("app", an_hour())).await["refresh_token"]);
    let (minted, second) = granted(&srv, &first).await;
    let revoked = srv
        .call(Method::DELETE, &format!("/token/{first}"), None, None)
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_auth_failed(
        &srv.grant_with(&second.expect("rotated"), "app", an_hour())
            .await,
        "chain revoked",
    );
    assert_eq!(srv.head_token(&minted, None, None).await, 404);
}

/// `n` refresh grants of `refresh` at once.
async fn burst(srv: &TestServer, refresh: &str, n: usize) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let builder = srv
                .client
                .post(srv.url("/token"))
                .json(&json!({"refresh_token": refresh, "client_id": "app"}));
            tokio::spawn(async move {
                let response = builder.send().await.expect("request");
                let status = response.status().as_u16();
                (
                    status,
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("join"));
    }
    results
}

async fn concurrent_grants_within_the_grace_share_one_successor(store: Store) {
    let srv = common::start_with(store, rotating(30)).await;
    rita(&srv).await;
    let first = s(&login(&srv, offline_with("app", an_hour())).await["refresh_token"]);
    let results = burst(&srv, &first, 20).await;
    let mut successors: Vec<String> = results
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            s(&body["data"]["refresh_token"])
        })
        .collect();
    successors.dedup();
    assert_eq!(successors.len(), 1, "one successor for all: {successors:?}");
    let successor = &successors[0];
    assert_ne!(successor, &first);
    let (_, next) = granted(&srv, successor).await;
    let next = next.expect("rotated");
    assert!(&next != successor && next != first);
    granted(&srv, &next).await;
}

async fn concurrent_grants_without_grace_leave_no_live_successor(store: Store) {
    let srv = common::start_with(store, rotating(0)).await;
    rita(&srv).await;
    let first = s(&login(&srv, offline_with("app", an_hour())).await["refresh_token"]);
    let results = burst(&srv, &first, 20).await;
    let successes: Vec<&Value> = results
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(successes.len(), 1, "one grant rotates: {results:?}");
    for (status, body) in &results {
        assert!(
            matches!(status, 200 | 401),
            "never a 5xx or a second success: {status} {body}"
        );
    }
    // The others were replays of a superseded value: the chain is revoked.
    let successor = s(&successes[0]["data"]["refresh_token"]);
    assert_auth_failed(
        &srv.grant_with(&successor, "app", an_hour()).await,
        "no live successor",
    );
    assert_auth_failed(
        &srv.grant_with(&first, "app", an_hour()).await,
        "nor the first value",
    );
}

/// Several workers of one client share a chain, each carrying the value its last answer gave. A
/// value whose successor was rotated in the meantime is a replay even within the grace (a chain
/// never has two live successors), so such workers may lose the chain: never with a 5xx or a
/// 429, and a refusal always means the whole chain is revoked, every value it had.
async fn workers_sharing_a_chain_either_keep_it_or_lose_it_whole(store: Store) {
    let srv = common::start_with(store, rotating(300)).await;
    rita(&srv).await;
    let first = s(&login(&srv, offline_with("app", an_hour())).await["refresh_token"]);
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let client = srv.client.clone();
            let url = srv.url("/token");
            let mut value = first.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                // 6 × 15 sessions: under rita's session limit (100).
                for _ in 0..15 {
                    let response = client
                        .post(&url)
                        .json(&json!({"refresh_token": value, "client_id": "app"}))
                        .send()
                        .await
                        .expect("request");
                    let status = response.status().as_u16();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    if status == 200 {
                        value = s(&body["data"]["refresh_token"]);
                    }
                    answers.push((status, body));
                }
                (answers, value)
            })
        })
        .collect();
    let mut refused = false;
    let mut held = Vec::new();
    for worker in workers {
        let (answers, value) = worker.await.expect("join");
        for (status, body) in &answers {
            assert!(matches!(status, 200 | 401), "{status} {body}");
            refused |= *status == 401;
        }
        held.push(value);
    }
    if refused {
        for value in &held {
            assert_auth_failed(
                &srv.grant_with(value, "app", an_hour()).await,
                "a refusal revoked the chain",
            );
        }
    }
}

/// Rotation and `tessera rotate-secret` agree: after the secret moved, the chain's current value
/// is still answered (by an offline login and within the grace), and the next values are derived
/// from the new key.
async fn a_rotating_chain_survives_rotate_secret(store: Store) {
    const OLD: &str = "rotation-old-secret-0123456789";
    const NEW: &str = "rotation-new-secret-9876543210";
    let srv = common::start_with(store, |c| {
        rotating(300)(c);
        c.token_secret = Some(OLD.into());
    })
    .await;
    rita(&srv).await;
    let first = s(&login(&srv, offline_with("app", an_hour())).await["refresh_token"]);
    let (_, second) = granted(&srv, &first).await;
    let second = second.expect("rotated");
    let rotated = rotate(&srv, Some(OLD), NEW);
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let after = start_on_with(&srv, Some(NEW), rotating(300))
        .await
        .expect("starts with the new secret");
    assert_eq!(
        s(&login(&after, offline_with("app", an_hour())).await["refresh_token"]),
        second
    );
    let (_, answered) = granted(&after, &first).await;
    assert_eq!(
        answered.as_deref(),
        Some(second.as_str()),
        "within the grace"
    );
    let (_, third) = granted(&after, &second).await;
    let third = third.expect("rotated");
    assert_eq!(
        s(&login(&after, offline_with("app", an_hour())).await["refresh_token"]),
        third
    );
    granted(&after, &third).await;
}

/// The statements that make every superseded value refused, as a fault after the rotation and
/// before the token: a trigger on `superseded_refresh_tokens`.
fn superseded_values_refused(store: Store) -> Vec<&'static str> {
    match store {
        Store::Sqlite => vec![
            "CREATE TRIGGER test_refuse_superseded BEFORE INSERT ON superseded_refresh_tokens \
             BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
        ],
        Store::Postgres => vec![
            "CREATE FUNCTION test_refuse_superseded() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$",
            "CREATE TRIGGER test_refuse_superseded BEFORE INSERT ON superseded_refresh_tokens \
             FOR EACH ROW EXECUTE FUNCTION test_refuse_superseded()",
        ],
    }
}

/// A rotating grant whose write fails midway (after the rotation, before the token) keeps none
/// of it: the chain stays at the value presented, and the writes after it find no transaction
/// left open (SQLite's grant is one query that begins and commits its own).
async fn a_rotation_failing_midway_keeps_nothing_and_leaves_no_write_open(store: Store) {
    let srv = common::start_with(store, rotating(0)).await;
    rita(&srv).await;
    let first = s(&login(&srv, offline_with("app", an_hour())).await["refresh_token"]);
    srv.execute_sql(&superseded_values_refused(store)).await;
    let reply = srv.grant_with(&first, "app", an_hour()).await;
    assert!(reply.status >= 500, "{}: {}", reply.status, reply.text);
    // More writes than the pool has connections, each prompt.
    for n in 0..8 {
        let started = Instant::now();
        login(&srv, an_hour()).await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "login {n} took {took:?}");
    }
    let fault_ends = match store {
        Store::Sqlite => "DROP TRIGGER test_refuse_superseded",
        Store::Postgres => "DROP TRIGGER test_refuse_superseded ON superseded_refresh_tokens",
    };
    srv.execute_sql(&[fault_ends]).await;
    let (_, second) = granted(&srv, &first).await;
    let second = second.expect("rotated");
    assert_ne!(second, first);
    granted(&srv, &second).await;
}

/// `refresh_token_reuse_grace` is at most 300 seconds, and the lifetimes at most ten years:
/// checked at start, in code and from the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_settings_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    for tweak in [
        (|c: &mut tessera::Config| c.refresh_token_reuse_grace = 301) as fn(&mut tessera::Config),
        |c| c.refresh_token_idle_lifetime = 315_360_001,
        |c| c.refresh_token_max_lifetime = u64::MAX,
    ] {
        let mut config = tessera::Config {
            listen: "127.0.0.1:0".into(),
            database_url: format!("sqlite://{}", dir.path().join("t.db").display()),
            ..Default::default()
        };
        tweak(&mut config);
        let error = match tessera::RunningServer::start(config).await {
            Ok(_) => panic!("started with an out-of-range setting"),
            Err(error) => error.to_string(),
        };
        assert!(
            error.starts_with("invalid configuration: refresh_token_"),
            "{error}"
        );
    }
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("check-config")
        .env("TESSERA_REFRESH_TOKEN_REUSE_GRACE", "301")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("refresh_token_reuse_grace"));
}
