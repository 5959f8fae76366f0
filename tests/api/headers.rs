//! Response headers: token responses are never cached; nothing is MIME-sniffed.

use serde_json::json;

use crate::both_stores;
use crate::common::{self, Store, ADMIN_PASSWORD, ADMIN_USERNAME};

async fn token_responses_are_not_cacheable(store: Store) {
    let srv = common::start(store).await;
    let login = srv.login(ADMIN_USERNAME, ADMIN_PASSWORD, json!({})).await;
    let headers = login.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let token = login.json::<serde_json::Value>().await.expect("json")["data"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    let described = srv
        .request(reqwest::Method::GET, &format!("/token/{token}"))
        .send()
        .await
        .expect("request");
    assert_eq!(described.headers()["cache-control"], "no-store");

    let failed = srv.login(ADMIN_USERNAME, "wrong", json!({})).await;
    assert_eq!(failed.headers()["cache-control"], "no-store");

    let users = srv
        .request(reqwest::Method::GET, "/users")
        .header("X-Auth-Token", &token)
        .send()
        .await
        .expect("request");
    assert_eq!(users.headers()["x-content-type-options"], "nosniff");
    assert!(users.headers().get("pragma").is_none());
}

both_stores!(token_responses_are_not_cacheable);

/// HEAD /status as a page from `origin` sends it.
async fn status_from(srv: &common::TestServer, origin: &str) -> reqwest::Response {
    srv.request(reqwest::Method::HEAD, "/status")
        .header("Origin", origin)
        .send()
        .await
        .expect("request")
}

/// With `*` configured (wazo-auth's answer, no longer the default), any page may call.
async fn cors_preflights_are_answered_like_wazo_auth(store: Store) {
    let srv = common::start_with(store, |c| c.cors_allow_origins = "*".into()).await;
    let preflight = srv
        .request(reqwest::Method::OPTIONS, "/token")
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type, wazo-session-type",
        )
        .send()
        .await
        .expect("request");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    for header in [
        "content-type",
        "authorization",
        "x-auth-token",
        "wazo-tenant",
        "wazo-session-type",
    ] {
        assert!(allowed.contains(header), "{header} in {allowed}");
    }
    let plain = status_from(&srv, "https://app.example").await;
    assert_eq!(plain.headers()["access-control-allow-origin"], "*");
}

async fn cors_can_be_turned_off(store: Store) {
    let srv = common::start_with(store, |c| {
        c.cors_enabled = false;
        c.cors_allow_origins = "*".into();
    })
    .await;
    let plain = status_from(&srv, "https://app.example").await;
    assert!(plain.headers().get("access-control-allow-origin").is_none());
}

/// By default no origin may call: a page on another site gets no CORS header on a preflight of
/// a password login, nor on a plain request, so its visitors' browsers neither send the login
/// nor let the page read an answer.
async fn no_cross_origin_caller_unless_configured(store: Store) {
    let srv = common::start(store).await;
    let preflight = srv
        .request(reqwest::Method::OPTIONS, "/token")
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("request");
    let cors_headers: Vec<_> = preflight
        .headers()
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-"))
        .collect();
    assert!(cors_headers.is_empty(), "{:?}", preflight.headers());
    let plain = status_from(&srv, "https://evil.example").await;
    assert!(
        plain.headers().get("access-control-allow-origin").is_none(),
        "{:?}",
        plain.headers()
    );
}

/// With any origin allowed no CORS header depends on the request, so no `Vary`; with a list of
/// origins the allowed origin is the caller's, and caches are told it varies with `Origin`.
async fn cors_varies_with_the_origin_only_for_a_list_of_origins(store: Store) {
    let any = common::start_with(store, |c| c.cors_allow_origins = "*".into()).await;
    let plain = status_from(&any, "https://app.example").await;
    assert_eq!(plain.headers()["access-control-allow-origin"], "*");
    assert!(
        plain.headers().get("vary").is_none(),
        "{:?}",
        plain.headers()
    );
    drop(any);
    let listed = common::start_with(store, |c| {
        c.cors_allow_origins = "https://a.example, https://b.example".into()
    })
    .await;
    let plain = status_from(&listed, "https://b.example").await;
    assert_eq!(
        plain.headers()["access-control-allow-origin"],
        "https://b.example"
    );
    let vary: Vec<_> = plain.headers().get_all("vary").iter().collect();
    assert_eq!(vary, ["origin"], "{:?}", plain.headers());
    let other = status_from(&listed, "https://evil.example").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

both_stores!(
    cors_preflights_are_answered_like_wazo_auth,
    cors_can_be_turned_off,
    no_cross_origin_caller_unless_configured,
    cors_varies_with_the_origin_only_for_a_list_of_origins
);

async fn token_bodies_are_small_others_larger(store: Store) {
    let srv = common::start(store).await;
    let padding = "x".repeat(9 * 1024);
    let big_login = srv
        .request(reqwest::Method::POST, "/token")
        .basic_auth(ADMIN_USERNAME, Some(ADMIN_PASSWORD))
        .json(&json!({"expiration": 60, "backend": padding}))
        .send()
        .await
        .expect("request");
    assert_eq!(big_login.status(), 413, "POST /token over 8 KiB");
    let body: serde_json::Value = big_login.json().await.expect("json");
    assert_eq!(body["status_code"], 413);

    let admin = srv.admin_token().await;
    let policy = srv
        .request(reqwest::Method::POST, "/policies")
        .header("X-Auth-Token", &admin)
        .json(&json!({"name": "roomy", "description": "d".repeat(1000), "acl": vec!["x.y"; 300]}))
        .send()
        .await
        .expect("request");
    assert_eq!(policy.status(), 200, "a 10 KiB policy body is fine");
    let huge = srv
        .request(reqwest::Method::POST, "/policies")
        .header("X-Auth-Token", &admin)
        .json(&json!({"name": "huge", "description": "d".repeat(70 * 1024)}))
        .send()
        .await
        .expect("request");
    assert_eq!(huge.status(), 413, "bodies over 64 KiB");
}

both_stores!(token_bodies_are_small_others_larger);
