//! The validation cache stays correct: revoking a token, ending a session, changing a password or
//! disabling a user takes effect at once on this instance, and within 100 ms on another instance
//! sharing the PostgreSQL database.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::both_stores;
use crate::common::{self, Store, ADMIN_PASSWORD, ADMIN_USERNAME};

fn with_cache(config: &mut tessera::Config) {
    config.token_cache_size = 10_000;
}

async fn cached_tokens_stop_validating_at_once(store: Store) {
    let srv = common::start_with(store, with_cache).await;
    let admin = srv.admin_token().await;
    let user = srv.create_user("cached", "pw-cached").await;
    let uuid = user["uuid"].as_str().expect("uuid").to_string();

    // Revocation.
    let token = srv.token_of("cached", "pw-cached").await;
    assert_eq!(srv.head_token(&token, None, None).await, 204);
    assert_eq!(
        srv.head_token(&token, None, None).await,
        204,
        "served from the cache"
    );
    srv.request(Method::DELETE, &format!("/token/{token}"))
        .send()
        .await
        .expect("revoke");
    assert_eq!(srv.head_token(&token, None, None).await, 404);

    // Ending the session.
    let data = srv.login_ok("cached", "pw-cached", json!({})).await;
    let token = data["token"].as_str().expect("token").to_string();
    let session = data["session_uuid"].as_str().expect("session");
    assert_eq!(srv.head_token(&token, None, None).await, 204);
    let ended = srv
        .request(Method::DELETE, &format!("/sessions/{session}"))
        .header("X-Auth-Token", &admin)
        .send()
        .await
        .expect("end session");
    assert_eq!(ended.status(), 204);
    assert_eq!(srv.head_token(&token, None, None).await, 404);

    // Password change.
    let token = srv.token_of("cached", "pw-cached").await;
    assert_eq!(srv.head_token(&token, None, None).await, 204);
    let changed = srv
        .request(Method::PUT, &format!("/users/{uuid}/password"))
        .header("X-Auth-Token", &admin)
        .json(&json!({"old_password": "pw-cached", "new_password": "pw-new"}))
        .send()
        .await
        .expect("password");
    assert_eq!(changed.status(), 204);
    assert_eq!(srv.head_token(&token, None, None).await, 404);

    // Disabling the user.
    let token = srv.token_of("cached", "pw-new").await;
    assert_eq!(srv.head_token(&token, None, None).await, 204);
    let disabled = srv
        .request(Method::PUT, &format!("/users/{uuid}"))
        .header("X-Auth-Token", &admin)
        .json(&json!({"username": "cached", "enabled": false}))
        .send()
        .await
        .expect("disable");
    assert_eq!(disabled.status(), 200);
    assert_eq!(srv.head_token(&token, None, None).await, 404);
}

both_stores!(cached_tokens_stop_validating_at_once);

/// Polls instance `other` until `token` stops validating; returns how long that took.
async fn time_until_refused(other: &common::TestServer, token: &str) -> Duration {
    let started = Instant::now();
    while other.head_token(token, None, None).await != 404 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never invalidated"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_reach_another_instance_within_100_ms() {
    let first = common::start_with(Store::Postgres, with_cache).await;
    let database_url = first.database_url.clone();
    let second = common::start_with(Store::Postgres, move |c| {
        with_cache(c);
        c.database_url = database_url;
    })
    .await;
    let admin = first.admin_token().await;

    let token = first.admin_token().await;
    assert_eq!(second.head_token(&token, None, None).await, 204);
    assert_eq!(
        second.head_token(&token, None, None).await,
        204,
        "cached there"
    );
    first
        .request(Method::DELETE, &format!("/token/{token}"))
        .send()
        .await
        .expect("revoke");
    let took = time_until_refused(&second, &token).await;
    assert!(
        took < Duration::from_millis(100),
        "revocation took {took:?}"
    );

    let data = first
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
        .await;
    let token = data["token"].as_str().expect("token").to_string();
    let session = data["session_uuid"].as_str().expect("session").to_string();
    assert_eq!(second.head_token(&token, None, None).await, 204);
    first
        .request(Method::DELETE, &format!("/sessions/{session}"))
        .header("X-Auth-Token", &admin)
        .send()
        .await
        .expect("end session");
    let took = time_until_refused(&second, &token).await;
    assert!(
        took < Duration::from_millis(100),
        "session end took {took:?}"
    );
}
