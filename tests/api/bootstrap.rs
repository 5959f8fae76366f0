//! The bootstrap administrator and its policy (SPEC §6): one identity, recorded when created,
//! never taken from a username; the policy read-only; an existing administrator left as it is.

use reqwest::Method;
use serde_json::json;

use crate::both_stores;
use crate::common::{self, assert_api_error, s, Store, TestServer, ADMIN_PASSWORD, ADMIN_USERNAME};

both_stores!(
    the_bootstrap_policy_is_read_only,
    a_squatter_of_the_bootstrap_username_gets_nothing,
    a_disabled_or_demoted_administrator_stays_so,
    a_database_from_before_the_record_adopts_only_a_real_administrator,
);

/// The same database, started again with the bootstrap configured.
async fn restart(store: Store, srv: &TestServer) -> TestServer {
    let url = srv.database_url.clone();
    common::start_with(store, move |c| c.database_url = url).await
}

async fn the_bootstrap_policy_is_read_only(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let uuid = srv.admin_uuid().await;
    let policies = srv.get(&format!("/users/{uuid}/policies"), &admin).await;
    let policy = &policies.body["items"][0];
    assert_eq!(policy["name"], json!("tessera-bootstrap-admin"));
    assert_eq!(policy["read_only"], json!(true));
    let policy_uuid = s(&policy["uuid"]);
    for (method, path, body) in [
        (
            Method::PUT,
            format!("/policies/{policy_uuid}"),
            Some(json!({"name": "renamed", "acl": ["#"]})),
        ),
        (
            Method::PUT,
            format!("/policies/{policy_uuid}/acl/!%23"),
            None,
        ),
        (
            Method::DELETE,
            format!("/policies/{policy_uuid}/acl/%23"),
            None,
        ),
        (Method::DELETE, format!("/policies/{policy_uuid}"), None),
    ] {
        let reply = srv.call(method.clone(), &path, Some(&admin), body).await;
        assert_api_error(&reply, 403, &format!("{method} {path}"));
        assert_eq!(reply.body["error_id"], json!("read-only-policy"));
    }
    let again = restart(store, &srv).await;
    let token = again.admin_token().await;
    assert_eq!(again.get("/users", &token).await.status, 200);
    let policies = again.get(&format!("/users/{uuid}/policies"), &token).await;
    assert_eq!(policies.body["total"], json!(1), "{}", policies.text);
    assert_eq!(policies.body["items"][0]["uuid"], json!(policy_uuid));
}

/// A user who may only edit users renames the administrator, takes its name, and restarts.
async fn a_squatter_of_the_bootstrap_username_gets_nothing(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let admin_uuid = srv.admin_uuid().await;
    let squatter = srv
        .user_with_acl(&admin, "squatter", "squatter-pw", &["auth.users.*.update"])
        .await;
    let squatter_uuid = s(&squatter["uuid"]);
    let token = srv.token_of("squatter", "squatter-pw").await;
    srv.update_user(&token, &admin_uuid, json!({"username": "former-admin"}))
        .await;
    srv.update_user(&token, &squatter_uuid, json!({"username": ADMIN_USERNAME}))
        .await;

    let again = restart(store, &srv).await;
    let squatted = again
        .login_ok(ADMIN_USERNAME, "squatter-pw", json!({}))
        .await;
    assert_eq!(squatted["auth_id"], json!(squatter_uuid));
    assert_eq!(
        squatted["acl"],
        json!(["auth.users.*.update"]),
        "nothing gained"
    );
    assert_eq!(
        again
            .login(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
            .await
            .status(),
        401,
        "no administrator made under the squatted name"
    );
    let real = again
        .login_ok("former-admin", ADMIN_PASSWORD, json!({}))
        .await;
    assert_eq!(real["auth_id"], json!(admin_uuid));
    assert_eq!(real["acl"], json!(["#"]));
    let real_token = s(&real["token"]);
    let shown = again.get_user(&real_token, &squatter_uuid).await;
    assert_eq!(
        shown["purpose"],
        json!("user"),
        "the squatter is not promoted"
    );
    let policies = again
        .get(&format!("/users/{squatter_uuid}/policies"), &real_token)
        .await;
    assert_eq!(policies.body["total"], json!(1), "{}", policies.text);
}

async fn a_disabled_or_demoted_administrator_stays_so(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let admin_uuid = srv.admin_uuid().await;
    srv.user_with_acl(&admin, "second", "second-pw", &["#"])
        .await;
    let second = srv.token_of("second", "second-pw").await;
    srv.update_user(
        &second,
        &admin_uuid,
        json!({"enabled": false, "purpose": "user"}),
    )
    .await;
    for _ in 0..2 {
        let again = restart(store, &srv).await;
        assert_eq!(
            again
                .login(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
                .await
                .status(),
            401,
            "the disabled administrator stays disabled"
        );
        let second = again.token_of("second", "second-pw").await;
        let shown = again.get_user(&second, &admin_uuid).await;
        assert_eq!(shown["enabled"], json!(false));
        assert_eq!(shown["purpose"], json!("user"));
        let users = again.get("/users?username=admin", &second).await;
        assert_eq!(
            users.body["filtered"],
            json!(1),
            "no second admin: {}",
            users.text
        );
    }
}

/// Databases made before the administrator was recorded: the user of that name is adopted only
/// when it already is the administrator (internal, with the bootstrap policy).
async fn a_database_from_before_the_record_adopts_only_a_real_administrator(store: Store) {
    let forget =
        ["DELETE FROM settings WHERE key IN ('bootstrap_admin_uuid', 'bootstrap_policy_uuid')"];
    // The real administrator, with the policy not yet read-only: adopted, nothing changed.
    let srv = common::start(store).await;
    let admin_uuid = srv.admin_uuid().await;
    srv.execute_sql(&forget).await;
    srv.execute_sql(&["UPDATE policies SET read_only = FALSE"])
        .await;
    let again = restart(store, &srv).await;
    let admin = again
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
        .await;
    assert_eq!(admin["auth_id"], json!(admin_uuid));
    let token = s(&admin["token"]);
    let policies = again
        .get(&format!("/users/{admin_uuid}/policies"), &token)
        .await;
    assert_eq!(
        policies.body["items"][0]["read_only"],
        json!(true),
        "{}",
        policies.text
    );
    // The administrator renamed, its name taken by another user, then the upgrade.
    let squatter = again
        .user_with_acl(&token, "squatter", "squatter-pw", &["a.b"])
        .await;
    let squatter_uuid = s(&squatter["uuid"]);
    again
        .update_user(&token, &admin_uuid, json!({"username": "former-admin"}))
        .await;
    again
        .update_user(&token, &squatter_uuid, json!({"username": ADMIN_USERNAME}))
        .await;
    again.execute_sql(&forget).await;
    let third = restart(store, &again).await;
    let squatted = third
        .login_ok(ADMIN_USERNAME, "squatter-pw", json!({}))
        .await;
    assert_eq!(squatted["acl"], json!(["a.b"]), "nothing gained");
    let real = third
        .login_ok("former-admin", ADMIN_PASSWORD, json!({}))
        .await;
    assert_eq!(real["acl"], json!(["#"]));
    let shown = third.get_user(&s(&real["token"]), &squatter_uuid).await;
    assert_eq!(shown["purpose"], json!("user"));
}
