//! Expiry and the background purge (SPEC §3, §7). Time moves by the server's manual clock; the
//! purge test waits (polling) only for the background loop's next one-second tick.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::both_stores;
use crate::common::{
    self, assert_token_error, assert_unauthorized, s, Store, ADMIN_PASSWORD, ADMIN_USERNAME,
};

both_stores!(
    expired_token_is_404_and_401_before_any_purge,
    expired_tokens_and_sessions_are_purged,
);

async fn expired_token_is_404_and_401_before_any_purge(store: Store) {
    let srv = common::start(store).await;
    let short = srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, json!({"expiration": 1}))
        .await;
    let token = s(&short["token"]);
    srv.clock.advance(Duration::from_millis(1300));
    assert_eq!(
        srv.head_token(&token, None, None).await,
        404,
        "HEAD expired"
    );
    assert_eq!(
        srv.head_token(&token, Some("anything"), Some("nope")).await,
        404,
        "expiry checked before scope and tenant"
    );
    let get = srv
        .send(srv.request(Method::GET, &format!("/token/{token}")))
        .await;
    assert_token_error(&get, 404, "GET expired");
    let check = srv
        .call(
            Method::POST,
            &format!("/token/{token}/scopes/check"),
            None,
            Some(json!({"scopes": ["a"]})),
        )
        .await;
    assert_token_error(&check, 404, "scopes/check expired");
    assert_unauthorized(
        &srv.get("/users", &token).await,
        "expired on a protected endpoint",
    );
}

async fn expired_tokens_and_sessions_are_purged(store: Store) {
    let srv = common::start_with(store, |cfg| cfg.token_cleanup_interval = 1).await;
    let admin = srv.admin_token().await;
    let short = srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, json!({"expiration": 1}))
        .await;
    let session = short["session_uuid"].clone();
    let listed = srv.get("/sessions", &admin).await;
    assert!(
        listed.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|item| item["uuid"] == session),
        "listed while alive"
    );
    srv.clock.advance(Duration::from_millis(2500));
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    loop {
        let reply = srv.get("/sessions", &admin).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let still = reply.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|item| item["uuid"] == session);
        if !still {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the expired session is still listed: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(srv.head_token(&s(&short["token"]), None, None).await, 404);
    assert_eq!(
        srv.head_token(&admin, None, None).await,
        204,
        "live tokens survive the purge"
    );
}
