//! Brute-force protection: per-account and per-address failure counts, 429 with Retry-After,
//! growing but capped delays, a success resetting the account's count, bad refresh tokens and
//! wrong old passwords counting too, attempts in flight counted, counts shared by instances.

use std::time::Duration;

use serde_json::json;

use crate::both_stores;
use crate::common::{
    self, assert_api_error, assert_token_error, basic, s, Reply, Store, TestServer, ADMIN_PASSWORD,
    ADMIN_USERNAME,
};

fn retry_after(reply: &Reply) -> u64 {
    reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header in seconds")
}

async fn a_login_is_held_back_then_a_success_resets_it(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 3;
        c.bruteforce_address_failures = 0;
        c.bruteforce_base_delay = 1;
        c.bruteforce_max_delay = 1;
    })
    .await;
    srv.create_user("victim", "right-password").await;
    for _ in 0..3 {
        let reply = srv.login_reply("victim", "guess", json!({})).await;
        assert_eq!(reply.status, 401);
    }
    // Held back: even the right password is not checked.
    let held = srv.login_reply("VICTIM", "right-password", json!({})).await;
    assert_token_error(&held, 429, "held-back login");
    assert!((1..=1).contains(&retry_after(&held)));
    // Other logins are not affected.
    assert_eq!(
        srv.login_reply("someone-else", "x", json!({})).await.status,
        401
    );

    srv.clock.advance(Duration::from_millis(1100));
    srv.login_ok("victim", "right-password", json!({})).await;
    // The success cleared the count: the next failure is a plain 401.
    assert_eq!(
        srv.login_reply("victim", "guess", json!({})).await.status,
        401
    );
}

async fn delays_grow_up_to_the_cap(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 1;
        c.bruteforce_address_failures = 0;
        c.bruteforce_base_delay = 1;
        c.bruteforce_max_delay = 2;
    })
    .await;
    let mut delays = Vec::new();
    for _ in 0..3 {
        assert_eq!(
            srv.login_reply("target", "guess", json!({})).await.status,
            401
        );
        let held = srv.login_reply("target", "guess", json!({})).await;
        assert_eq!(held.status, 429);
        let delay = retry_after(&held);
        delays.push(delay);
        srv.clock.advance(Duration::from_millis(delay * 1000 + 100));
    }
    // 1 s, then doubled to 2 s, then held at the 2 s cap.
    assert_eq!(delays, vec![1, 2, 2]);
}

async fn an_address_is_limited_separately(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 0;
        c.bruteforce_address_failures = 3;
        c.num_proxies = 1;
    })
    .await;
    let attempt = |login: String, address: &'static str| {
        let request = srv
            .request(reqwest::Method::POST, "/token")
            .header("Authorization", basic(&login, "guess"))
            .header("X-Forwarded-For", address)
            .json(&json!({}));
        async move { Reply::read(request.send().await.expect("request")).await }
    };
    for n in 0..3 {
        assert_eq!(attempt(format!("user{n}"), "203.0.113.7").await.status, 401);
    }
    let sprayed = attempt("user9".into(), "203.0.113.7").await;
    assert_token_error(&sprayed, 429, "address held back");
    assert!(retry_after(&sprayed) >= 1);
    // Another address trying the same logins is not held back.
    assert_eq!(attempt("user0".into(), "198.51.100.1").await.status, 401);
}

async fn unknown_refresh_tokens_count_against_the_address(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_address_failures = 2;
    })
    .await;
    for _ in 0..2 {
        let reply = srv
            .grant(&uuid::Uuid::new_v4().to_string(), "some-client")
            .await;
        assert_eq!(reply.status, 401);
    }
    let held = srv
        .grant(&uuid::Uuid::new_v4().to_string(), "some-client")
        .await;
    assert_token_error(&held, 429, "refresh grants held back");
}

/// A refresh token cannot be guessed: its grants are checked against the address, never charged
/// first, so one client's parallel grants are never held back as guesses in flight, and a
/// successful grant writes no count at all. A held-back address is still refused.
async fn refresh_grants_in_parallel_are_not_guesses(store: Store) {
    // One failure holds the address back for a minute: a grant charged before it is checked
    // would hold back every grant running beside it.
    let srv = common::start_with(store, |c| {
        c.bruteforce_address_failures = 1;
        c.bruteforce_base_delay = 60;
    })
    .await;
    let offline = srv
        .login_ok(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"access_type": "offline", "client_id": "busy-app"}),
        )
        .await;
    let refresh_token = s(&offline["refresh_token"]);
    let rows_before = counted_rows(&srv).await;
    let body = json!({"refresh_token": refresh_token, "client_id": "busy-app"});
    let grants: Vec<_> = (0..24)
        .map(|_| {
            let request = srv.request(reqwest::Method::POST, "/token").json(&body);
            tokio::spawn(async move { request.send().await.expect("request").status().as_u16() })
        })
        .collect();
    for grant in grants {
        assert_eq!(grant.await.expect("join"), 200, "a parallel grant");
    }
    assert_eq!(
        counted_rows(&srv).await,
        rows_before,
        "a good grant writes no count"
    );
    // An unknown value still counts: then guesses wait, good values do not.
    let reply = srv
        .grant(&uuid::Uuid::new_v4().to_string(), "busy-app")
        .await;
    assert_eq!(reply.status, 401);
    let held = srv
        .grant(&uuid::Uuid::new_v4().to_string(), "busy-app")
        .await;
    assert_token_error(&held, 429, "a guess from a held-back address");
    let good = srv.grant(&refresh_token, "busy-app").await;
    assert_eq!(good.status, 200, "a good value: {}", good.text);
}

/// Rows of the brute-force table, read straight from the server's database.
async fn counted_rows(srv: &TestServer) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&srv.database_url)
        .await
        .expect("connect to the server's database");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_failures")
        .fetch_one(&pool)
        .await
        .expect("count login_failures");
    pool.close().await;
    rows
}

/// The username and the e-mail address of one user share one count; unknown logins
/// count as typed, case-folded.
async fn a_username_and_an_email_count_for_the_same_account(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 3;
        c.bruteforce_address_failures = 0;
        c.bruteforce_base_delay = 60;
        c.bruteforce_max_delay = 60;
    })
    .await;
    let admin = srv.admin_token().await;
    srv.create_user_with(
        &admin,
        json!({"username": "victim", "password": "right-password", "email_address": "Victim@Example.com"}),
    )
    .await;
    for login in ["victim", "victim@example.com", "VICTIM@EXAMPLE.COM"] {
        let reply = srv.login_reply(login, "guess", json!({})).await;
        assert_eq!(reply.status, 401, "failure by {login}");
    }
    let held = srv.login_reply("victim", "right-password", json!({})).await;
    assert_token_error(
        &held,
        429,
        "three failures by username and e-mail hold the user back",
    );
    for login in ["Ghost", "ghost", "GHOST"] {
        assert_eq!(srv.login_reply(login, "guess", json!({})).await.status, 401);
    }
    let ghost = srv.login_reply("gHoSt", "guess", json!({})).await;
    assert_token_error(&ghost, 429, "an unknown login counts folded");
}

/// Parallel wrong passwords for one login are charged before hashing: no more than the
/// threshold of them are checked.
async fn parallel_guesses_cannot_exceed_the_limit(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 3;
        c.bruteforce_address_failures = 0;
        c.bruteforce_base_delay = 60;
        c.bruteforce_max_delay = 60;
    })
    .await;
    srv.create_user("target", "right-password").await;
    let guesses: Vec<_> = (0..30)
        .map(|n| {
            let request = srv
                .request(reqwest::Method::POST, "/token")
                .basic_auth("target", Some(format!("guess-{n}")))
                .json(&json!({}));
            tokio::spawn(async move { request.send().await.expect("request").status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.expect("task"));
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let held = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        checked, 3,
        "only the threshold's worth of guesses is checked: {statuses:?}"
    );
    assert_eq!(held, 27, "the others are held back: {statuses:?}");
}

/// A sprayer logging in as itself does not clear its address's count.
async fn a_success_never_clears_the_address(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 0;
        c.bruteforce_address_failures = 5;
        c.bruteforce_base_delay = 60;
        c.bruteforce_max_delay = 60;
        c.num_proxies = 1;
    })
    .await;
    srv.create_user("sprayer", "own-password").await;
    let address = "203.0.113.50";
    for n in 0..4 {
        assert_eq!(
            srv.login_from(&format!("user{n}"), "guess", address)
                .await
                .status,
            401
        );
    }
    let own = srv.login_from("sprayer", "own-password", address).await;
    assert_eq!(own.status, 200, "its own login succeeds: {}", own.text);
    assert_eq!(srv.login_from("user4", "guess", address).await.status, 401);
    let held = srv.login_from("user5", "guess", address).await;
    assert_token_error(
        &held,
        429,
        "the fifth failure holds the address back, success or not",
    );
    assert!(retry_after(&held) > 50);
}

/// Junk logins and the purge never lift an active lock; the purge deletes counts
/// that are forgotten and hold nothing back, and only those.
async fn junk_and_the_purge_keep_an_active_lock(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 1;
        c.bruteforce_address_failures = 0;
        c.bruteforce_base_delay = 60;
        c.bruteforce_max_delay = 60;
        c.bruteforce_account_max_delay = 60;
        c.bruteforce_forget_after = 1;
        c.token_cleanup_interval = 1;
    })
    .await;
    srv.create_user("victim", "right-password").await;
    // Oversized logins fail without hashing: cheap junk, two counts each.
    for n in 0..200 {
        let junk = format!("{n}{}", "j".repeat(1100));
        assert_eq!(srv.login_reply(&junk, "x", json!({})).await.status, 401);
    }
    srv.clock.advance(Duration::from_secs(30));
    assert_eq!(
        srv.login_reply("victim", "guess", json!({})).await.status,
        401
    );
    // The junk is forgotten and its holds are over; the victim's runs for 58 s more.
    srv.clock.advance(Duration::from_secs(32));
    let mut rows = counted_rows(&srv).await;
    for _ in 0..100 {
        if rows == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        rows = counted_rows(&srv).await;
    }
    assert_eq!(
        rows, 2,
        "the purge leaves the victim's account and account-from-address counts"
    );
    let held = srv.login_reply("victim", "right-password", json!({})).await;
    assert_token_error(&held, 429, "the lock outlives junk and purges");
    srv.clock.advance(Duration::from_secs(30));
    srv.login_ok("victim", "right-password", json!({})).await;
}

/// One attacking address holds the account back for other addresses by at most
/// `bruteforce_account_max_delay`, and itself up to `bruteforce_max_delay`.
async fn one_address_cannot_keep_the_account_out_elsewhere(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 3;
        c.bruteforce_address_failures = 0;
        c.bruteforce_base_delay = 1;
        c.bruteforce_max_delay = 300;
        c.bruteforce_account_max_delay = 5;
        c.num_proxies = 1;
    })
    .await;
    let attacker = "203.0.113.66";
    for _ in 0..9 {
        loop {
            let reply = srv
                .login_from(common::ADMIN_USERNAME, "guess", attacker)
                .await;
            if reply.status == 401 {
                break;
            }
            assert_token_error(&reply, 429, "the attacker waits its turn");
            srv.clock
                .advance(Duration::from_millis(retry_after(&reply) * 1000 + 100));
        }
    }
    let attacker_held = srv
        .login_from(common::ADMIN_USERNAME, "guess", attacker)
        .await;
    assert_token_error(&attacker_held, 429, "the attacking address is held back");
    assert!(
        retry_after(&attacker_held) > 30,
        "the attacker's hold grows"
    );
    let owner = "198.51.100.1";
    let first = srv
        .login_from(common::ADMIN_USERNAME, common::ADMIN_PASSWORD, owner)
        .await;
    if first.status != 200 {
        assert_token_error(&first, 429, "the owner is held back briefly at most");
        assert!(
            retry_after(&first) <= 5,
            "at most the account's cap: {}",
            retry_after(&first)
        );
        srv.clock.advance(Duration::from_millis(5100));
        let second = srv
            .login_from(common::ADMIN_USERNAME, common::ADMIN_PASSWORD, owner)
            .await;
        assert_eq!(second.status, 200, "the owner gets in: {}", second.text);
    }
    let still = srv
        .login_from(common::ADMIN_USERNAME, "guess", attacker)
        .await;
    assert_token_error(
        &still,
        429,
        "the owner's success does not free the attacking address",
    );
}

/// A wrong old password counts like a failed login of that user, and is held back.
async fn a_wrong_old_password_counts_and_is_held_back(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 3;
        c.bruteforce_address_failures = 0;
        c.bruteforce_base_delay = 60;
        c.bruteforce_max_delay = 60;
    })
    .await;
    let admin = srv.admin_token().await;
    let user = srv
        .create_user_as(&admin, "changer", Some("old-password"))
        .await;
    let path = format!("/users/{}/password", common::s(&user["uuid"]));
    let change = |old: &str| json!({"old_password": old, "new_password": "new-password"});
    for n in 0..3 {
        let reply = srv
            .call(
                reqwest::Method::PUT,
                &path,
                Some(&admin),
                Some(change(&format!("guess{n}"))),
            )
            .await;
        assert_api_error(&reply, 401, "wrong old password");
    }
    let held = srv
        .call(
            reqwest::Method::PUT,
            &path,
            Some(&admin),
            Some(change("old-password")),
        )
        .await;
    assert_api_error(&held, 429, "held back, even with the right old password");
    assert_eq!(held.body["error_id"], json!("too-many-attempts"));
    assert!(retry_after(&held) > 50);
    let login = srv.login_reply("changer", "old-password", json!({})).await;
    assert_token_error(&login, 429, "the account's logins are held back too");
}

/// Two instances on one database share the counts.
async fn instances_on_one_database_share_the_counts(store: Store) {
    let tweak = |c: &mut tessera::Config| {
        c.bruteforce_login_failures = 4;
        c.bruteforce_address_failures = 0;
        c.bruteforce_base_delay = 60;
        c.bruteforce_max_delay = 60;
    };
    let one = common::start_with(store, tweak).await;
    let url = one.database_url.clone();
    let two = common::start_with(store, |c| {
        tweak(c);
        c.database_url = url;
    })
    .await;
    one.create_user("shared", "right-password").await;
    for srv in [&one, &two, &one, &two] {
        assert_eq!(
            srv.login_reply("shared", "guess", json!({})).await.status,
            401
        );
    }
    for srv in [&two, &one] {
        let held = srv.login_reply("shared", "right-password", json!({})).await;
        assert_token_error(
            &held,
            429,
            "four failures over two instances hold the user back",
        );
    }
}

both_stores!(
    a_login_is_held_back_then_a_success_resets_it,
    delays_grow_up_to_the_cap,
    an_address_is_limited_separately,
    unknown_refresh_tokens_count_against_the_address,
    refresh_grants_in_parallel_are_not_guesses,
    a_username_and_an_email_count_for_the_same_account,
    parallel_guesses_cannot_exceed_the_limit,
    a_success_never_clears_the_address,
    junk_and_the_purge_keep_an_active_lock,
    one_address_cannot_keep_the_account_out_elsewhere,
    a_wrong_old_password_counts_and_is_held_back,
    instances_on_one_database_share_the_counts
);

/// A held-back address (a NAT where others failed) still gets grants for its valid refresh
/// tokens: only a value that matches nothing meets the hold-back (429), and a replayed
/// superseded value is still a replay.
async fn a_held_back_address_still_grants_its_valid_refresh_tokens(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_address_failures = 1;
        c.refresh_token_rotation = true;
    })
    .await;
    let data = srv
        .login_ok(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"access_type": "offline", "client_id": "held"}),
        )
        .await;
    let first = s(&data["refresh_token"]);
    let rotated = srv.grant(&first, "held").await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let current = s(&rotated.data()["refresh_token"]);
    // One unknown value holds the address back.
    let unknown = srv.grant(&uuid::Uuid::new_v4().to_string(), "held").await;
    assert_eq!(unknown.status, 401);
    let guess = srv.grant(&uuid::Uuid::new_v4().to_string(), "held").await;
    assert_token_error(&guess, 429, "a guess from a held-back address");
    let good = srv.grant(&current, "held").await;
    assert_eq!(good.status, 200, "a good value: {}", good.text);
    let current = s(&good.data()["refresh_token"]);
    let replayed = srv.grant(&first, "held").await;
    assert_token_error(&replayed, 401, "a replay from a held-back address");
    // The replay revoked the chain: its current value matches nothing any more.
    srv.clock.advance(Duration::from_secs(3600));
    let revoked = srv.grant(&current, "held").await;
    assert_token_error(&revoked, 401, "the replay revoked the chain");
}

both_stores!(a_held_back_address_still_grants_its_valid_refresh_tokens);

/// Starts `n` password logins of `login` at once; each handle answers its status.
fn logins_at_once(
    srv: &TestServer,
    n: usize,
    login: &str,
    password: &str,
) -> Vec<tokio::task::JoinHandle<u16>> {
    (0..n)
        .map(|_| {
            let request = srv
                .request(reqwest::Method::POST, "/token")
                .basic_auth(login, Some(password))
                .json(&json!({}));
            tokio::spawn(async move { request.send().await.expect("request").status().as_u16() })
        })
        .collect()
}

/// Correct logins from one address (a NAT, a proxy) far beyond its failure limit at once are
/// checked, not held back: each waits for the attempts ahead of it, which succeed, for as long as
/// a busy hasher needs (48 logins queue behind each other on a small machine). Fewer than the
/// 64 connections one address may hold: the client's pooled connections count too, and one past
/// the cap is reset.
async fn a_burst_of_correct_logins_from_one_address_is_never_held_back(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 0;
        c.bruteforce_address_failures = 20;
    })
    .await;
    srv.create_user("crowd", "crowd-pw").await;
    let mut statuses = Vec::new();
    for login in logins_at_once(&srv, 48, "crowd", "crowd-pw") {
        statuses.push(login.await.expect("task"));
    }
    assert!(
        statuses.iter().all(|s| *s == 200),
        "correct logins refused: {statuses:?}"
    );
}

both_stores!(
    a_burst_of_correct_logins_from_one_address_is_never_held_back,
    a_burst_of_correct_logins_after_failures_below_the_limit_waits_its_turn
);

/// An address one failure short of its limit admits one attempt at a time: a crowd of correct
/// logins behind it waits its turn (no trust: each login is checked against the address) and
/// none is held back.
async fn a_burst_of_correct_logins_after_failures_below_the_limit_waits_its_turn(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 0;
        c.bruteforce_address_failures = 30;
        c.bruteforce_trusted_for = 0;
    })
    .await;
    srv.create_user("crowd", "crowd-pw").await;
    for n in 0..29 {
        let reply = srv
            .login_reply(&format!("nobody{n}"), "guess", json!({}))
            .await;
        assert_eq!(reply.status, 401);
    }
    let mut statuses = Vec::new();
    for login in logins_at_once(&srv, 40, "crowd", "crowd-pw") {
        statuses.push(login.await.expect("task"));
    }
    assert!(
        statuses.iter().all(|s| *s == 200),
        "correct logins refused: {statuses:?}"
    );
}

/// Logins whose clients go away mid-request run to completion: none leaves a charge pending (it
/// would hold the address back for everybody behind it) or a pooled connection inside a
/// transaction (later requests answered 500: "there is already a transaction in progress").
async fn logins_dropped_by_their_clients_leave_no_charge(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 0;
        c.bruteforce_address_failures = 3;
        c.bruteforce_base_delay = 60;
    })
    .await;
    srv.create_user("leaver", "leaver-pw").await;
    let dropped: Vec<_> = (0..6)
        .map(|_| {
            let request = srv
                .request(reqwest::Method::POST, "/token")
                .basic_auth("leaver", Some("leaver-pw"))
                .timeout(Duration::from_millis(5))
                .json(&json!({}));
            tokio::spawn(async move { request.send().await.is_err() })
        })
        .collect();
    for gone in dropped {
        assert!(
            gone.await.expect("task"),
            "the client gave up before the answer"
        );
    }
    // The abandoned logins finish on the server's own tasks.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for n in 0..4 {
        let reply = srv.login_reply("leaver", "leaver-pw", json!({})).await;
        assert_eq!(
            reply.status, 200,
            "login {n} after dropped ones: {}",
            reply.text
        );
    }
}

both_stores!(logins_dropped_by_their_clients_leave_no_charge);

/// Password logins still being checked count against their address, but only settled failures
/// hold back its refresh grants: a crowd logging in behind one address does not stop the
/// refresh grants of the applications behind it.
async fn logins_in_flight_do_not_hold_back_refresh_grants(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 0;
        c.bruteforce_address_failures = 3;
    })
    .await;
    srv.create_user("busy", "busy-pw").await;
    let data = srv
        .login_ok(
            "busy",
            "busy-pw",
            json!({"access_type": "offline", "client_id": "app"}),
        )
        .await;
    let refresh = s(&data["refresh_token"]);
    let logins = logins_at_once(&srv, 20, "busy", "busy-pw");
    let mut grants = Vec::new();
    for _ in 0..20 {
        grants.push(srv.grant(&refresh, "app").await.status);
    }
    for login in logins {
        assert_eq!(login.await.expect("task"), 200, "a correct login");
    }
    assert!(
        grants.iter().all(|s| *s == 200),
        "grants held back by logins in flight: {grants:?}"
    );
}

both_stores!(logins_in_flight_do_not_hold_back_refresh_grants);

/// Once an address has reached its limit and its hold-back has run out, correct logins from it
/// go through and arm nothing: the next failure doubles the old hold-back, no more.
async fn correct_logins_never_re_arm_an_address_hold_back(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 0;
        c.bruteforce_address_failures = 3;
        c.bruteforce_base_delay = 1;
        c.bruteforce_max_delay = 300;
        c.bruteforce_trusted_for = 0;
        c.num_proxies = 1;
    })
    .await;
    let nat = "198.51.100.20";
    for n in 0..3 {
        let reply = srv.login_from(&format!("nobody{n}"), "guess", nat).await;
        assert_eq!(reply.status, 401);
    }
    let held = srv.login_from(ADMIN_USERNAME, ADMIN_PASSWORD, nat).await;
    assert_token_error(&held, 429, "the address is held back");
    assert_eq!(retry_after(&held), 1);
    srv.clock.advance(Duration::from_millis(1100));
    for _ in 0..5 {
        let reply = srv.login_from(ADMIN_USERNAME, ADMIN_PASSWORD, nat).await;
        assert_eq!(reply.status, 200, "a correct login: {}", reply.text);
    }
    assert_eq!(srv.login_from("nobody9", "guess", nat).await.status, 401);
    let held = srv.login_from("nobody9", "guess", nat).await;
    assert_token_error(&held, 429, "the next failure holds back again");
    assert_eq!(retry_after(&held), 2, "doubled once, not once per login");
}

/// A user who logged in from an address is not held back there by failures of their account
/// from elsewhere, nor by other users' failures from that address; everyone else still is.
async fn a_user_is_not_held_back_by_others_where_they_logged_in_before(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 3;
        c.bruteforce_address_failures = 3;
        c.bruteforce_base_delay = 60;
        c.bruteforce_max_delay = 300;
        c.bruteforce_account_max_delay = 5;
        c.num_proxies = 1;
    })
    .await;
    srv.create_user("alice", "alice-pw").await;
    srv.create_user("bob", "bob-pw").await;
    let (home, attacker, elsewhere) = ("198.51.100.30", "203.0.113.30", "192.0.2.30");
    assert_eq!(srv.login_from("alice", "alice-pw", home).await.status, 200);
    for _ in 0..3 {
        assert_eq!(srv.login_from("alice", "guess", attacker).await.status, 401);
    }
    for n in 0..3 {
        let reply = srv.login_from(&format!("nobody{n}"), "guess", home).await;
        assert_eq!(reply.status, 401);
    }
    let away = srv.login_from("alice", "alice-pw", elsewhere).await;
    assert_token_error(&away, 429, "the account is held back elsewhere");
    let bob = srv.login_from("bob", "bob-pw", home).await;
    assert_token_error(&bob, 429, "the address is held back for others");
    let back = srv.login_from("alice", "alice-pw", home).await;
    assert_eq!(back.status, 200, "alice at home: {}", back.text);
    // Guessing alice's password from her address stays bounded by her count there.
    for _ in 0..3 {
        assert_eq!(srv.login_from("alice", "guess", home).await.status, 401);
    }
    let guess = srv.login_from("alice", "alice-pw", home).await;
    assert_token_error(&guess, 429, "alice's own count at home");
}

both_stores!(
    correct_logins_never_re_arm_an_address_hold_back,
    a_user_is_not_held_back_by_others_where_they_logged_in_before
);
