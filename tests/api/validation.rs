//! Validating tokens: HEAD/GET /token/{t}, the order of checks, DELETE /token/{t} and
//! POST /token/{t}/scopes/check (SPEC §3).

use reqwest::Method;
use serde_json::json;

use crate::both_stores;
use crate::common::{self, assert_token_error, s, Store, ADMIN_PASSWORD, ADMIN_USERNAME};

both_stores!(
    head_valid_token_is_204_with_empty_body,
    head_without_scope_refuses_expired_tokens_and_refresh_tokens,
    get_valid_token_describes_it_like_post_without_refresh_token,
    unknown_token_is_404,
    scope_not_granted_is_403,
    tenant_other_than_the_users_is_403,
    checks_run_in_order_unknown_then_scope_then_tenant,
    delete_token_answers_success_and_token_stops_validating,
    delete_unknown_token_answers_success,
    delete_token_ends_its_session,
    scopes_check_answers_unwrapped_map,
    scopes_check_unknown_token_is_404,
    scopes_check_rejects_bad_bodies,
);

async fn head_valid_token_is_204_with_empty_body(store: Store) {
    let srv = common::start(store).await;
    let token = srv.admin_token().await;
    let response = srv
        .request(Method::HEAD, &format!("/token/{token}"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.expect("body").is_empty());
}

/// A HEAD with neither scope nor tenant only asks whether the token is live (the cache is off in
/// tests): that check alone still refuses an expired token and a refresh token's value.
async fn head_without_scope_refuses_expired_tokens_and_refresh_tokens(store: Store) {
    let srv = common::start(store).await;
    let created = srv
        .login_ok(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"expiration": 2, "access_type": "offline", "client_id": "head-check"}),
        )
        .await;
    let token = s(&created["token"]);
    let refresh_token = s(&created["refresh_token"]);
    assert_eq!(srv.head_token(&token, None, None).await, 204);
    assert_eq!(srv.head_token(&refresh_token, None, None).await, 404);
    srv.clock.advance(std::time::Duration::from_millis(2500));
    assert_eq!(srv.head_token(&token, None, None).await, 404);
    // The refresh token is live: a grant works, and its value still does not validate.
    assert_eq!(srv.grant(&refresh_token, "head-check").await.status, 200);
    assert_eq!(srv.head_token(&refresh_token, None, None).await, 404);
}

async fn get_valid_token_describes_it_like_post_without_refresh_token(store: Store) {
    let srv = common::start(store).await;
    let created = srv
        .login_ok(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"access_type": "offline", "client_id": "app", "expiration": 600}),
        )
        .await;
    let token = s(&created["token"]);
    let reply = srv
        .send(srv.request(Method::GET, &format!("/token/{token}")))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let data = reply.data();
    assert!(
        data.get("refresh_token").is_none(),
        "GET never shows the refresh token: {data}"
    );
    for field in [
        "token",
        "auth_id",
        "xivo_user_uuid",
        "xivo_uuid",
        "issued_at",
        "expires_at",
        "utc_issued_at",
        "utc_expires_at",
        "acl",
        "metadata",
        "session_uuid",
        "remote_addr",
        "user_agent",
    ] {
        assert_eq!(
            data[field], created[field],
            "GET and POST disagree on {field}"
        );
    }
    for field in ["issued_at", "expires_at", "utc_issued_at", "utc_expires_at"] {
        common::parse_time(&data[field], field);
    }
}

async fn unknown_token_is_404(store: Store) {
    let srv = common::start(store).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    for token in [unknown.as_str(), "not-a-uuid", "0"] {
        assert_eq!(srv.head_token(token, None, None).await, 404, "HEAD {token}");
        let reply = srv
            .send(srv.request(Method::GET, &format!("/token/{token}")))
            .await;
        assert_token_error(&reply, 404, &format!("GET {token}"));
    }
}

async fn scope_not_granted_is_403(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.user_with_acl(&admin, "mona", "mona-pw", &["confd.users.read"])
        .await;
    let token = srv.token_of("mona", "mona-pw").await;
    assert_eq!(
        srv.head_token(&token, Some("confd.users.read"), None).await,
        204
    );
    assert_eq!(
        srv.head_token(&token, Some("confd.users.create"), None)
            .await,
        403
    );
    let reply = srv
        .send(
            srv.request(Method::GET, &format!("/token/{token}"))
                .query(&[("scope", "confd.users.create")]),
        )
        .await;
    assert_token_error(&reply, 403, "GET with a scope not granted");
    let ok = srv
        .send(
            srv.request(Method::GET, &format!("/token/{token}"))
                .query(&[("scope", "confd.users.read")]),
        )
        .await;
    assert_eq!(ok.status, 200);
}

async fn tenant_other_than_the_users_is_403(store: Store) {
    let srv = common::start(store).await;
    let data = srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
        .await;
    let token = s(&data["token"]);
    let tenant = s(&data["metadata"]["tenant_uuid"]);
    assert_eq!(srv.head_token(&token, None, Some(&tenant)).await, 204);
    let other = uuid::Uuid::new_v4().to_string();
    assert_eq!(srv.head_token(&token, None, Some(&other)).await, 403);
    let reply = srv
        .send(
            srv.request(Method::GET, &format!("/token/{token}"))
                .query(&[("tenant", other.as_str())]),
        )
        .await;
    assert_token_error(&reply, 403, "GET with another tenant");
}

async fn checks_run_in_order_unknown_then_scope_then_tenant(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.user_with_acl(&admin, "ned", "ned-pw", &["granted.acl"])
        .await;
    let data = srv.login_ok("ned", "ned-pw", json!({})).await;
    let token = s(&data["token"]);
    let tenant = s(&data["metadata"]["tenant_uuid"]);
    let other = uuid::Uuid::new_v4().to_string();
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        srv.head_token(&unknown, Some("missing.acl"), Some(&other))
            .await,
        404,
        "unknown first"
    );
    assert_eq!(
        srv.head_token(&token, Some("missing.acl"), Some(&tenant))
            .await,
        403,
        "scope checked even with a good tenant"
    );
    assert_eq!(
        srv.head_token(&token, Some("granted.acl"), Some(&other))
            .await,
        403,
        "tenant checked even with a good scope"
    );
    assert_eq!(
        srv.head_token(&token, Some("granted.acl"), Some(&tenant))
            .await,
        204
    );
}

async fn delete_token_answers_success_and_token_stops_validating(store: Store) {
    let srv = common::start(store).await;
    let token = srv.admin_token().await;
    let reply = srv
        .send(srv.request(Method::DELETE, &format!("/token/{token}")))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body, json!({"data": {"message": "success"}}));
    assert_eq!(srv.head_token(&token, None, None).await, 404);
    let again = srv
        .send(srv.request(Method::DELETE, &format!("/token/{token}")))
        .await;
    assert_eq!(again.status, 200, "deleting twice");
    assert_eq!(again.body, json!({"data": {"message": "success"}}));
}

async fn delete_unknown_token_answers_success(store: Store) {
    let srv = common::start(store).await;
    let unknown = uuid::Uuid::new_v4();
    let reply = srv
        .send(srv.request(Method::DELETE, &format!("/token/{unknown}")))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body, json!({"data": {"message": "success"}}));
}

async fn delete_token_ends_its_session(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let data = srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
        .await;
    let session = data["session_uuid"].clone();
    let listed = |reply: &common::Reply| {
        reply.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|item| item["uuid"] == session)
    };
    assert!(listed(&srv.get("/sessions", &admin).await), "listed before");
    srv.send(srv.request(Method::DELETE, &format!("/token/{}", s(&data["token"]))))
        .await;
    assert!(
        !listed(&srv.get("/sessions", &admin).await),
        "the token's session ended"
    );
}

async fn scopes_check_answers_unwrapped_map(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.user_with_acl(&admin, "olga", "olga-pw", &["a.b.*", "!a.b.c"])
        .await;
    let data = srv.login_ok("olga", "olga-pw", json!({})).await;
    let token = s(&data["token"]);
    let reply = srv
        .call(
            Method::POST,
            &format!("/token/{token}/scopes/check"),
            None,
            Some(json!({"scopes": ["a.b.x", "a.b.c", "z.z", "a.b.x"]})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({"scopes": {"a.b.x": true, "a.b.c": false, "z.z": false}}),
        "not wrapped in data"
    );
    let with_tenant = srv
        .call(
            Method::POST,
            &format!("/token/{token}/scopes/check"),
            None,
            Some(json!({"scopes": ["a.b.x"], "tenant_uuid": data["metadata"]["tenant_uuid"]})),
        )
        .await;
    assert_eq!(with_tenant.status, 200, "{}", with_tenant.text);
    assert_eq!(with_tenant.body, json!({"scopes": {"a.b.x": true}}));
    let empty = srv
        .call(
            Method::POST,
            &format!("/token/{token}/scopes/check"),
            None,
            Some(json!({"scopes": []})),
        )
        .await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(empty.body, json!({"scopes": {}}));
}

async fn scopes_check_unknown_token_is_404(store: Store) {
    let srv = common::start(store).await;
    let unknown = uuid::Uuid::new_v4();
    let reply = srv
        .call(
            Method::POST,
            &format!("/token/{unknown}/scopes/check"),
            None,
            Some(json!({"scopes": ["a"]})),
        )
        .await;
    assert_token_error(&reply, 404, "unknown token");
}

async fn scopes_check_rejects_bad_bodies(store: Store) {
    let srv = common::start(store).await;
    let token = srv.admin_token().await;
    let path = format!("/token/{token}/scopes/check");
    for body in [
        json!({}),
        json!({"tenant_uuid": null}),
        json!({"scopes": [1]}),
        json!({"scopes": ["a", null]}),
        json!({"scopes": [["a"]]}),
        json!({"scopes": [{"a": 1}]}),
        json!({"scopes": "a.b"}),
        json!({"scopes": null}),
    ] {
        let reply = srv
            .call(Method::POST, &path, None, Some(body.clone()))
            .await;
        assert_token_error(&reply, 400, &format!("body {body}"));
    }
    let garbage = srv
        .send(
            srv.request(Method::POST, &path)
                .header("Content-Type", "application/json")
                .body("{"),
        )
        .await;
    assert_token_error(&garbage, 400, "unparsable body");
}
