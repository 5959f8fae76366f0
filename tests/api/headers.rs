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
