//! Sessions: lists, ending a session (idempotent) and its tokens (SPEC §1).

use reqwest::Method;
use serde_json::json;

use crate::both_stores;
use crate::common::{self, assert_api_error, assert_token_error, s, Store};

both_stores!(
    list_sessions,
    list_a_users_sessions,
    delete_session_is_204_idempotent_and_ends_its_token,
    delete_a_users_session,
    cannot_end_another_users_session_through_own_path,
    session_paths_need_uuids,
    a_refresh_tokens_grants_never_lock_its_user_out_of_password_logins,
);

async fn list_sessions(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.create_user("gus", "gus-pw").await;
    let user_login = srv.login_ok("gus", "gus-pw", json!({})).await;
    let reply = srv.get("/sessions", &admin).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.body["total"].is_u64() && reply.body["filtered"].is_u64());
    let item = reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|item| item["uuid"] == user_login["session_uuid"])
        .cloned()
        .unwrap_or_else(|| panic!("the user's session is listed: {}", reply.text));
    assert_eq!(item["user_uuid"], user_login["auth_id"], "{item}");
    assert_eq!(
        item["tenant_uuid"], user_login["metadata"]["tenant_uuid"],
        "{item}"
    );
    assert_eq!(item["mobile"], json!(false), "{item}");
    assert!(
        !reply.text.contains(&s(&user_login["token"])),
        "sessions never show token values"
    );
}

async fn list_a_users_sessions(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv.create_user("hal", "hal-pw").await;
    let first = srv.login_ok("hal", "hal-pw", json!({})).await;
    let second = srv.login_ok("hal", "hal-pw", json!({})).await;
    let reply = srv
        .get(&format!("/users/{}/sessions", s(&user["uuid"])), &admin)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["total"], json!(2));
    let mut listed = common::items_field(&reply, "uuid");
    listed.sort_by_key(|v| v.to_string());
    let mut expected = vec![
        first["session_uuid"].clone(),
        second["session_uuid"].clone(),
    ];
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(listed, expected, "only that user's sessions");
    let unknown = srv
        .get(&format!("/users/{}/sessions", uuid::Uuid::new_v4()), &admin)
        .await;
    assert_api_error(&unknown, 404, "sessions of an unknown user");
    assert_eq!(unknown.body["error_id"], json!("unknown-user"));
}

async fn delete_session_is_204_idempotent_and_ends_its_token(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let victim = srv
        .login_ok(common::ADMIN_USERNAME, common::ADMIN_PASSWORD, json!({}))
        .await;
    let session = s(&victim["session_uuid"]);
    let path = format!("/sessions/{session}");
    let reply = srv.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    assert_eq!(
        srv.head_token(&s(&victim["token"]), None, None).await,
        404,
        "the session's token stops validating"
    );
    assert!(
        !common::items_field(&srv.get("/sessions", &admin).await, "uuid").contains(&json!(session))
    );
    let again = srv.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(again.status, 204, "idempotent: {}", again.text);
    let unknown = srv
        .call(
            Method::DELETE,
            &format!("/sessions/{}", uuid::Uuid::new_v4()),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(unknown.status, 204, "unknown session: {}", unknown.text);
    assert_eq!(
        srv.head_token(&admin, None, None).await,
        204,
        "other sessions untouched"
    );
}

async fn delete_a_users_session(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv.create_user("ian", "ian-pw").await;
    let uuid = s(&user["uuid"]);
    let login = srv.login_ok("ian", "ian-pw", json!({})).await;
    let kept = srv.login_ok("ian", "ian-pw", json!({})).await;
    let reply = srv
        .call(
            Method::DELETE,
            &format!("/users/{uuid}/sessions/{}", s(&login["session_uuid"])),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    assert_eq!(srv.head_token(&s(&login["token"]), None, None).await, 404);
    assert_eq!(srv.head_token(&s(&kept["token"]), None, None).await, 204);
    let listed = common::items_field(
        &srv.get(&format!("/users/{uuid}/sessions"), &admin).await,
        "uuid",
    );
    assert_eq!(listed, vec![kept["session_uuid"].clone()]);
}

async fn session_paths_need_uuids(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    for (method, path) in [
        (Method::DELETE, "/sessions/not-a-uuid".to_string()),
        (Method::GET, "/users/not-a-uuid/sessions".to_string()),
        (
            Method::DELETE,
            format!("/users/{}/sessions/nope", uuid::Uuid::new_v4()),
        ),
    ] {
        let reply = srv.call(method.clone(), &path, Some(&admin), None).await;
        assert_api_error(&reply, 404, &format!("{method} {path}"));
    }
}

async fn cannot_end_another_users_session_through_own_path(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv
        .user_with_acl(&admin, "jane", "jane-pw", &["auth.users.me.sessions.#"])
        .await;
    let token = srv.token_of("jane", "jane-pw").await;
    let victim = srv
        .login_ok(common::ADMIN_USERNAME, common::ADMIN_PASSWORD, json!({}))
        .await;
    let reply = srv
        .call(
            Method::DELETE,
            &format!(
                "/users/{}/sessions/{}",
                s(&user["uuid"]),
                s(&victim["session_uuid"])
            ),
            Some(&token),
            None,
        )
        .await;
    assert!(reply.status < 500, "{} {}", reply.status, reply.text);
    assert_eq!(
        srv.head_token(&s(&victim["token"]), None, None).await,
        204,
        "another user's session must survive (answer was {} {})",
        reply.status,
        reply.text
    );
    let own = srv
        .get(&format!("/users/{}/sessions", s(&user["uuid"])), &token)
        .await;
    assert_eq!(own.status, 200, "own sessions via me: {}", own.text);
    assert_eq!(own.body["total"], json!(1));
}

/// Ten-year grants of one narrow refresh token fill only the refresh grants' share of the session
/// cap: the user's password logins still get in, and the cap still bounds both kinds.
async fn a_refresh_tokens_grants_never_lock_its_user_out_of_password_logins(store: Store) {
    const TEN_YEARS: i64 = 315_360_000;
    let srv = common::start_with(store, |c| c.max_user_concurrent_sessions = 3).await;
    let admin = srv.admin_token().await;
    let user = srv.create_user("ivy", "ivy-pw").await;
    let refresh = s(&srv
        .login_ok(
            "ivy",
            "ivy-pw",
            json!({"access_type": "offline", "client_id": "gadget", "scope": ["weather.read"]}),
        )
        .await["refresh_token"]);
    let grant = || {
        srv.post_token(json!({
            "refresh_token": refresh, "client_id": "gadget", "expiration": TEN_YEARS,
            "scope": ["weather.read"],
        }))
    };
    for n in 0..3 {
        let reply = grant().await;
        assert_eq!(reply.status, 200, "grant {n}: {}", reply.text);
    }
    assert_token_error(&grant().await, 429, "the grants' share is full");
    // The offline login holds one of the password logins' 3; two more get in.
    for n in 0..2 {
        let reply = srv.login_reply("ivy", "ivy-pw", json!({})).await;
        assert_eq!(reply.status, 200, "password login {n}: {}", reply.text);
    }
    let over = srv.login_reply("ivy", "ivy-pw", json!({})).await;
    assert_token_error(&over, 429, "the password logins' share is full");
    assert_token_error(&grant().await, 429, "still full");
    let uuid = s(&user["uuid"]);
    let sessions = srv.get(&format!("/users/{uuid}/sessions"), &admin).await;
    assert_eq!(sessions.body["total"], json!(6), "{}", sessions.text);
}
