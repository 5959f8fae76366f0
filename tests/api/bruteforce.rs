//! Brute-force protection: per-login and per-address failure counts, 429 with Retry-After,
//! growing but capped delays, a success resetting the count, bad refresh tokens counting too.

use std::time::Duration;

use serde_json::json;

use crate::both_stores;
use crate::common::{self, assert_token_error, basic, Reply, Store};

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

both_stores!(
    a_login_is_held_back_then_a_success_resets_it,
    delays_grow_up_to_the_cap,
    an_address_is_limited_separately,
    unknown_refresh_tokens_count_against_the_address
);
