//! Protected endpoints: the token comes only from X-Auth-Token; missing, unknown or ended tokens and
//! missing ACLs are 401 in the general error shape (SPEC §1, §5).

use reqwest::Method;
use serde_json::json;

use crate::both_stores;
use crate::common::{self, assert_unauthorized, s, Store};

both_stores!(
    missing_token_is_401,
    unknown_token_is_401,
    deleted_token_is_401,
    missing_acl_is_401_not_403,
    token_is_read_only_from_x_auth_token_or_bearer,
    me_in_required_acl_matches_own_uuid_only,
    my_session_acl_lets_a_user_end_its_own_session,
);

async fn missing_token_is_401(store: Store) {
    let srv = common::start(store).await;
    for (method, path) in [
        (Method::GET, "/users"),
        (Method::POST, "/users"),
        (Method::GET, "/policies"),
        (Method::GET, "/tokens"),
        (Method::GET, "/users/me/tokens"),
        (Method::GET, "/sessions"),
    ] {
        let reply = srv.call(method.clone(), path, None, None).await;
        assert_unauthorized(&reply, &format!("{method} {path} without a token"));
        assert_eq!(reply.body["message"], json!("Unauthorized"));
    }
}

async fn unknown_token_is_401(store: Store) {
    let srv = common::start(store).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    for token in [unknown.as_str(), "garbage", ""] {
        let reply = srv.get("/users", token).await;
        assert_unauthorized(&reply, &format!("token {token:?}"));
    }
    let reply = srv.get("/users", &unknown).await;
    assert_eq!(
        reply.body["details"]["invalid_token"],
        json!(unknown),
        "details name the token: {}",
        reply.text
    );
}

async fn deleted_token_is_401(store: Store) {
    let srv = common::start(store).await;
    let token = srv.admin_token().await;
    assert_eq!(srv.get("/users", &token).await.status, 200);
    srv.send(srv.request(Method::DELETE, &format!("/token/{token}")))
        .await;
    assert_unauthorized(&srv.get("/users", &token).await, "deleted token");
}

async fn missing_acl_is_401_not_403(store: Store) {
    let srv = common::start(store).await;
    srv.create_user("pat", "pat-pw").await;
    let token = srv.token_of("pat", "pat-pw").await;
    let reply = srv.get("/users", &token).await;
    assert_unauthorized(&reply, "token without auth.users.read");
    assert_eq!(
        reply.body["details"]["required_access"],
        json!("auth.users.read"),
        "{}",
        reply.text
    );
    let create = srv
        .call(
            Method::POST,
            "/policies",
            Some(&token),
            Some(json!({"name": "x", "acl": []})),
        )
        .await;
    assert_unauthorized(&create, "token without auth.policies.create");
}

async fn token_is_read_only_from_x_auth_token_or_bearer(store: Store) {
    let srv = common::start(store).await;
    let token = srv.admin_token().await;
    let query = srv
        .send(
            srv.request(Method::GET, "/users")
                .query(&[("token", &token)]),
        )
        .await;
    assert_unauthorized(&query, "token in the query string");
    // SPEC §11.6: `Authorization: Bearer` is the other place (tests/api/oauth2.rs).
    let bearer = srv
        .send(srv.request(Method::GET, "/users").bearer_auth(&token))
        .await;
    assert_eq!(bearer.status, 200, "token as a Bearer: {}", bearer.text);
    let cookie = srv
        .send(
            srv.request(Method::GET, "/users")
                .header("Cookie", format!("X-Auth-Token={token}")),
        )
        .await;
    assert_unauthorized(&cookie, "token as a cookie");
    let header = srv.get("/users", &token).await;
    assert_eq!(header.status, 200, "X-Auth-Token works: {}", header.text);
}

async fn me_in_required_acl_matches_own_uuid_only(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let me = srv
        .user_with_acl(&admin, "quinn", "quinn-pw", &["auth.users.me.read"])
        .await;
    let other = srv.create_user_as(&admin, "rita", None).await;
    let token = srv.token_of("quinn", "quinn-pw").await;
    let own = srv.get(&format!("/users/{}", s(&me["uuid"])), &token).await;
    assert_eq!(own.status, 200, "own user via me: {}", own.text);
    assert_eq!(own.body["uuid"], me["uuid"]);
    let theirs = srv
        .get(&format!("/users/{}", s(&other["uuid"])), &token)
        .await;
    assert_unauthorized(&theirs, "another user");
}

async fn my_session_acl_lets_a_user_end_its_own_session(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.user_with_acl(
        &admin,
        "sam",
        "sam-pw",
        &["auth.sessions.my_session.delete"],
    )
    .await;
    let first = srv.login_ok("sam", "sam-pw", json!({})).await;
    let second = srv.login_ok("sam", "sam-pw", json!({})).await;
    let token = s(&first["token"]);
    let other = srv
        .call(
            Method::DELETE,
            &format!("/sessions/{}", s(&second["session_uuid"])),
            Some(&token),
            None,
        )
        .await;
    assert_unauthorized(&other, "another session");
    let own = srv
        .call(
            Method::DELETE,
            &format!("/sessions/{}", s(&first["session_uuid"])),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(own.status, 204, "own session: {}", own.text);
    assert_eq!(srv.head_token(&token, None, None).await, 404);
    assert_eq!(srv.head_token(&s(&second["token"]), None, None).await, 204);
}
