//! Refresh tokens: creation, reuse, the grant, client_id rules, separation from access tokens,
//! mobile replacement, survival rules, lists and deletion (SPEC §2 "Refresh tokens", §1, §5).

use reqwest::Method;
use serde_json::json;

use crate::both_stores;
use crate::common::offline;
use crate::common::{
    self, assert_api_error, assert_auth_failed, assert_token_error, assert_unauthorized, is_uuid,
    s, Reply, Store, ADMIN_PASSWORD, ADMIN_USERNAME,
};

fn client_ids(list: &Reply) -> Vec<String> {
    let mut ids: Vec<String> = common::items_field(list, "client_id")
        .iter()
        .map(s)
        .collect();
    ids.sort();
    ids
}

both_stores!(
    offline_login_returns_a_refresh_token,
    second_offline_login_with_same_client_returns_same_refresh_token,
    grant_returns_new_access_token_without_refresh_token,
    grant_with_basic_credentials_and_wrong_refresh_token_is_401,
    grant_needs_the_exact_client_id,
    access_token_is_never_a_refresh_token,
    refresh_token_is_never_an_access_token,
    grant_cannot_create_another_refresh_token,
    grant_recomputes_acl_from_current_policies,
    mobile_login_replaces_other_mobile_refresh_tokens,
    mobile_session_type_is_case_insensitive_and_listed,
    mobile_relogin_with_same_client_replaces_its_refresh_token,
    refresh_tokens_survive_password_change,
    disabled_user_cannot_use_refresh_token_until_enabled,
    deleting_user_deletes_its_refresh_tokens,
    refresh_token_lists_never_show_the_value,
    list_endpoints_require_their_acl,
    delete_refresh_token_by_user_uuid,
    delete_own_refresh_token_via_me,
    delete_unknown_refresh_token_is_404,
    delete_acl_replaces_dots_in_client_id,
);

async fn offline_login_returns_a_refresh_token(store: Store) {
    let srv = common::start(store).await;
    let data = srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, offline("my-app"))
        .await;
    assert!(
        is_uuid(&data["refresh_token"]),
        "refresh_token must be a uuid: {data}"
    );
    assert_ne!(data["refresh_token"], data["token"]);
    assert_eq!(
        srv.head_token(&s(&data["token"]), None, None).await,
        204,
        "the access token of an offline login works"
    );
}

async fn second_offline_login_with_same_client_returns_same_refresh_token(store: Store) {
    let srv = common::start(store).await;
    let first = srv
        .refresh_token_of(ADMIN_USERNAME, ADMIN_PASSWORD, "app")
        .await;
    let second = srv
        .refresh_token_of(ADMIN_USERNAME, ADMIN_PASSWORD, "app")
        .await;
    assert_eq!(first, second, "one refresh token per (user, client_id)");
    let other = srv
        .refresh_token_of(ADMIN_USERNAME, ADMIN_PASSWORD, "other-app")
        .await;
    assert_ne!(first, other, "another client_id has its own refresh token");
    let admin = srv.admin_token().await;
    let list = srv.get("/users/me/tokens", &admin).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(client_ids(&list), vec!["app", "other-app"]);
}

async fn grant_returns_new_access_token_without_refresh_token(store: Store) {
    let srv = common::start(store).await;
    let user = srv.create_user("carol", "carol-pw").await;
    let login = srv.login_ok("carol", "carol-pw", offline("app")).await;
    let refresh = s(&login["refresh_token"]);
    let reply = srv
        .post_token(json!({"refresh_token": refresh, "client_id": "app", "expiration": 300}))
        .await;
    assert_eq!(reply.status, 200, "grant: {}", reply.text);
    let data = reply.data();
    assert!(
        data.get("refresh_token").is_none(),
        "a grant answers no refresh_token: {data}"
    );
    assert!(is_uuid(&data["token"]));
    assert_ne!(data["token"], login["token"], "a new access token");
    assert_ne!(data["session_uuid"], login["session_uuid"], "a new session");
    assert_eq!(data["auth_id"], user["uuid"]);
    assert_eq!(reply.header("Wazo-Sessions-Revoked"), Some("0"));
    let issued = common::parse_time(&data["utc_issued_at"], "utc_issued_at");
    let expires = common::parse_time(&data["utc_expires_at"], "utc_expires_at");
    assert_eq!(expires - issued, chrono::Duration::seconds(300));
    assert_eq!(srv.head_token(&s(&data["token"]), None, None).await, 204);
    for expiration in [json!(0), json!(true), json!(315_360_001)] {
        let bad = srv
            .post_token(
                json!({"refresh_token": refresh, "client_id": "app", "expiration": expiration}),
            )
            .await;
        assert_token_error(&bad, 400, &format!("grant with expiration {expiration}"));
    }
    // Never rotated: the same refresh token works again.
    let again = srv.grant(&refresh, "app").await;
    assert_eq!(again.status, 200, "second grant: {}", again.text);
}

async fn grant_with_basic_credentials_and_wrong_refresh_token_is_401(store: Store) {
    let srv = common::start(store).await;
    let reply = srv
        .login_reply(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"refresh_token": uuid::Uuid::new_v4().to_string(), "client_id": "app"}),
        )
        .await;
    assert_auth_failed(&reply, "no fall-back to Basic credentials");
    // With a valid refresh token, the grant wins over the Basic credentials of someone else.
    let user = srv.create_user("nina", "nina-pw").await;
    let refresh = srv.refresh_token_of("nina", "nina-pw", "app").await;
    let data = srv
        .login_ok(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"refresh_token": refresh, "client_id": "app"}),
        )
        .await;
    assert_eq!(data["auth_id"], user["uuid"], "the refresh token's user");
    assert!(data.get("refresh_token").is_none());
}

async fn grant_needs_the_exact_client_id(store: Store) {
    let srv = common::start(store).await;
    let refresh = srv
        .refresh_token_of(ADMIN_USERNAME, ADMIN_PASSWORD, "MyApp")
        .await;
    srv.refresh_token_of(ADMIN_USERNAME, ADMIN_PASSWORD, "other")
        .await;
    for client_id in ["myapp", "MYAPP", "other", "MyApp ", "unknown"] {
        let reply = srv.grant(&refresh, client_id).await;
        assert_auth_failed(&reply, &format!("client_id {client_id:?}"));
    }
    let reply = srv.grant(&refresh, "MyApp").await;
    assert_eq!(reply.status, 200, "exact client_id: {}", reply.text);
}

async fn access_token_is_never_a_refresh_token(store: Store) {
    let srv = common::start(store).await;
    let data = srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, offline("app"))
        .await;
    let reply = srv.grant(&s(&data["token"]), "app").await;
    assert_auth_failed(&reply, "access token as refresh token");
    let reply = srv.grant(&s(&data["session_uuid"]), "app").await;
    assert_auth_failed(&reply, "session uuid as refresh token");
}

async fn refresh_token_is_never_an_access_token(store: Store) {
    let srv = common::start(store).await;
    let refresh = srv
        .refresh_token_of(ADMIN_USERNAME, ADMIN_PASSWORD, "app")
        .await;
    assert_eq!(srv.head_token(&refresh, None, None).await, 404, "HEAD");
    let get = srv
        .send(srv.request(Method::GET, &format!("/token/{refresh}")))
        .await;
    assert_token_error(&get, 404, "GET /token/{refresh}");
    for path in ["/users/me/tokens", "/tokens", "/users"] {
        let reply = srv.get(path, &refresh).await;
        assert_unauthorized(&reply, &format!("refresh token as X-Auth-Token on {path}"));
    }
    let check = srv
        .call(
            Method::POST,
            &format!("/token/{refresh}/scopes/check"),
            None,
            Some(json!({"scopes": ["a"]})),
        )
        .await;
    assert_token_error(&check, 404, "scopes/check with a refresh token");
}

async fn grant_cannot_create_another_refresh_token(store: Store) {
    let srv = common::start(store).await;
    let refresh = srv
        .refresh_token_of(ADMIN_USERNAME, ADMIN_PASSWORD, "app")
        .await;
    let reply = srv
        .post_token(json!({"refresh_token": refresh, "client_id": "app", "access_type": "offline"}))
        .await;
    assert_token_error(&reply, 400, "offline grant");
    for _ in 0..2 {
        let reply = srv.grant(&refresh, "app").await;
        assert_eq!(reply.status, 200);
        assert!(reply.data().get("refresh_token").is_none());
    }
    let admin = srv.admin_token().await;
    let list = srv.get("/users/me/tokens", &admin).await;
    assert_eq!(
        list.body["total"],
        json!(1),
        "still one refresh token: {}",
        list.text
    );
}

async fn grant_recomputes_acl_from_current_policies(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv
        .user_with_acl(&admin, "dave", "dave-pw", &["first.acl"])
        .await;
    let login = srv.login_ok("dave", "dave-pw", offline("app")).await;
    assert_eq!(login["acl"], json!(["first.acl"]));
    let policy = srv
        .create_policy_as(&admin, "second", &["second.acl"])
        .await;
    srv.attach_policy_as(&admin, &s(&user["uuid"]), &s(&policy["uuid"]))
        .await;
    let reply = srv.grant(&s(&login["refresh_token"]), "app").await;
    assert_eq!(reply.status, 200);
    let mut acl: Vec<String> = reply.data()["acl"]
        .as_array()
        .expect("acl")
        .iter()
        .map(s)
        .collect();
    acl.sort();
    assert_eq!(acl, vec!["first.acl", "second.acl"]);
}

async fn mobile_login_replaces_other_mobile_refresh_tokens(store: Store) {
    let srv = common::start(store).await;
    let user = srv.create_user("erin", "erin-pw").await;
    // Mobile refresh token A; its login token is ended so that only grant-minted tokens remain.
    let a = srv
        .login_typed("erin", "erin-pw", "mobile", offline("phone-a"))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.header("Wazo-Sessions-Revoked"),
        Some("0"),
        "first mobile login"
    );
    let refresh_a = s(&a.data()["refresh_token"]);
    srv.call(
        Method::DELETE,
        &format!("/token/{}", s(&a.data()["token"])),
        None,
        None,
    )
    .await;
    let minted_a = srv.grant(&refresh_a, "phone-a").await;
    assert_eq!(minted_a.status, 200);
    let token_a = s(&minted_a.data()["token"]);
    // A non-mobile refresh token C with a minted token.
    let c = srv.login_ok("erin", "erin-pw", offline("desktop")).await;
    let refresh_c = s(&c["refresh_token"]);
    let minted_c = srv.grant(&refresh_c, "desktop").await;
    let token_c = s(&minted_c.data()["token"]);
    // Another user's mobile refresh token.
    let admin_mobile = srv
        .login_typed(ADMIN_USERNAME, ADMIN_PASSWORD, "mobile", offline("phone-a"))
        .await;
    assert_eq!(admin_mobile.status, 200);
    let admin_refresh = s(&admin_mobile.data()["refresh_token"]);
    let admin_token = s(&admin_mobile.data()["token"]);

    // A new mobile login for B replaces A.
    let b = srv
        .login_typed("erin", "erin-pw", "mobile", offline("phone-b"))
        .await;
    assert_eq!(b.status, 200, "{}", b.text);
    assert_eq!(
        b.header("Wazo-Sessions-Revoked"),
        Some("1"),
        "the session of the token minted from A"
    );
    assert_eq!(
        srv.head_token(&token_a, None, None).await,
        404,
        "A's token ended"
    );
    assert_auth_failed(&srv.grant(&refresh_a, "phone-a").await, "A deleted");
    assert_eq!(
        srv.head_token(&s(&b.data()["token"]), None, None).await,
        204
    );
    assert_eq!(
        srv.grant(&s(&b.data()["refresh_token"]), "phone-b")
            .await
            .status,
        200
    );
    // Non-mobile tokens of the user are untouched.
    assert_eq!(
        srv.head_token(&token_c, None, None).await,
        204,
        "C's minted token"
    );
    assert_eq!(
        srv.head_token(&s(&c["token"]), None, None).await,
        204,
        "C's login token"
    );
    assert_eq!(srv.grant(&refresh_c, "desktop").await.status, 200, "C kept");
    // The other user is untouched.
    assert_eq!(
        srv.head_token(&admin_token, None, None).await,
        204,
        "other user"
    );
    assert_eq!(
        srv.grant(&admin_refresh, "phone-a").await.status,
        200,
        "other user's mobile refresh token kept"
    );
    let list = srv
        .get(&format!("/users/{}/tokens", s(&user["uuid"])), &admin_token)
        .await;
    assert_eq!(client_ids(&list), vec!["desktop", "phone-b"]);
}

async fn mobile_session_type_is_case_insensitive_and_listed(store: Store) {
    let srv = common::start(store).await;
    let reply = srv
        .login_typed(ADMIN_USERNAME, ADMIN_PASSWORD, "MoBiLe", offline("phone"))
        .await;
    assert_eq!(reply.status, 200);
    let token = s(&reply.data()["token"]);
    srv.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, offline("desk"))
        .await;
    let list = srv.get("/users/me/tokens", &token).await;
    assert_eq!(list.status, 200, "{}", list.text);
    for item in list.body["items"].as_array().expect("items") {
        let expected = item["client_id"] == json!("phone");
        assert_eq!(item["mobile"], json!(expected), "mobile flag of {item}");
    }
    let sessions = srv.get("/sessions", &token).await;
    assert_eq!(sessions.status, 200, "{}", sessions.text);
    let mine = sessions.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|item| item["uuid"] == reply.data()["session_uuid"])
        .cloned()
        .expect("the mobile session is listed");
    assert_eq!(mine["mobile"], json!(true), "session {mine}");
}

async fn refresh_tokens_survive_password_change(store: Store) {
    let srv = common::start(store).await;
    let user = srv.create_user("fred", "old-pw").await;
    let login = srv.login_ok("fred", "old-pw", offline("app")).await;
    let admin = srv.admin_token().await;
    let reply = srv
        .call(
            Method::PUT,
            &format!("/users/{}/password", s(&user["uuid"])),
            Some(&admin),
            Some(json!({"old_password": "old-pw", "new_password": "new-pw"})),
        )
        .await;
    assert_eq!(reply.status, 204, "password change: {}", reply.text);
    assert_eq!(
        srv.head_token(&s(&login["token"]), None, None).await,
        404,
        "the access token ended"
    );
    let grant = srv.grant(&s(&login["refresh_token"]), "app").await;
    assert_eq!(grant.status, 200, "refresh token kept: {}", grant.text);
}

async fn disabled_user_cannot_use_refresh_token_until_enabled(store: Store) {
    let srv = common::start(store).await;
    let user = srv.create_user("gina", "gina-pw").await;
    let uuid = s(&user["uuid"]);
    let refresh = srv.refresh_token_of("gina", "gina-pw", "app").await;
    let admin = srv.admin_token().await;
    let path = format!("/users/{uuid}");
    let put = |enabled: bool| {
        srv.call(
            Method::PUT,
            &path,
            Some(&admin),
            Some(json!({"username": "gina", "firstname": null, "lastname": null, "purpose": "user", "enabled": enabled})),
        )
    };
    let reply = put(false).await;
    assert_eq!(reply.status, 200, "disable: {}", reply.text);
    assert_auth_failed(&srv.grant(&refresh, "app").await, "disabled user");
    let reply = put(true).await;
    assert_eq!(reply.status, 200, "enable: {}", reply.text);
    let grant = srv.grant(&refresh, "app").await;
    assert_eq!(
        grant.status, 200,
        "refresh token kept while disabled: {}",
        grant.text
    );
}

async fn deleting_user_deletes_its_refresh_tokens(store: Store) {
    let srv = common::start(store).await;
    let user = srv.create_user("hank", "hank-pw").await;
    let refresh = srv.refresh_token_of("hank", "hank-pw", "app").await;
    let admin = srv.admin_token().await;
    let before = srv.get("/tokens", &admin).await;
    assert_eq!(before.body["total"], json!(1), "{}", before.text);
    let reply = srv
        .call(
            Method::DELETE,
            &format!("/users/{}", s(&user["uuid"])),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "delete user: {}", reply.text);
    assert_auth_failed(&srv.grant(&refresh, "app").await, "deleted user");
    let after = srv.get("/tokens", &admin).await;
    assert_eq!(after.status, 200);
    assert_eq!(after.body["total"], json!(0), "{}", after.text);
}

async fn refresh_token_lists_never_show_the_value(store: Store) {
    let srv = common::start(store).await;
    let user = srv.create_user("ivy", "ivy-pw").await;
    let uuid = s(&user["uuid"]);
    let login = srv.login_ok("ivy", "ivy-pw", offline("app")).await;
    let refresh = s(&login["refresh_token"]);
    let admin = srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, offline("admin-app"))
        .await;
    let admin_token = s(&admin["token"]);
    let all = srv.get("/tokens", &admin_token).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.body["total"], json!(2));
    assert_eq!(all.body["filtered"], json!(2));
    assert_eq!(client_ids(&all), vec!["admin-app", "app"]);
    let of_user = srv
        .get(&format!("/users/{uuid}/tokens"), &admin_token)
        .await;
    assert_eq!(of_user.status, 200, "{}", of_user.text);
    assert_eq!(client_ids(&of_user), vec!["app"]);
    let item = &of_user.body["items"][0];
    for field in [
        "client_id",
        "created_at",
        "mobile",
        "user_uuid",
        "tenant_uuid",
        "metadata",
    ] {
        assert!(item.get(field).is_some(), "{field} missing from {item}");
    }
    assert_eq!(item["user_uuid"], json!(uuid));
    assert_eq!(item["tenant_uuid"], user["tenant_uuid"]);
    assert_eq!(item["mobile"], json!(false));
    assert!(item["created_at"].is_string(), "created_at: {item}");
    let unknown = srv
        .get(
            &format!("/users/{}/tokens", uuid::Uuid::new_v4()),
            &admin_token,
        )
        .await;
    assert_api_error(&unknown, 404, "refresh tokens of an unknown user");
    assert_eq!(unknown.body["error_id"], json!("unknown-user"));
    let mine = srv.get("/users/me/tokens", &admin_token).await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    assert_eq!(client_ids(&mine), vec!["admin-app"]);
    for (what, list) in [("all", &all), ("user", &of_user), ("me", &mine)] {
        assert!(
            !list.text.contains(&refresh) && !list.text.contains(&s(&admin["refresh_token"])),
            "{what} list leaks a refresh token: {}",
            list.text
        );
    }
}

async fn list_endpoints_require_their_acl(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv
        .user_with_acl(&admin, "jack", "jack-pw", &["auth.users.me.tokens.read"])
        .await;
    let other = srv.create_user_as(&admin, "jill", None).await;
    let token = srv.token_of("jack", "jack-pw").await;
    assert_eq!(srv.get("/users/me/tokens", &token).await.status, 200);
    // `me` in the entry matches the caller's own uuid, not another user's.
    let own = srv
        .get(&format!("/users/{}/tokens", s(&user["uuid"])), &token)
        .await;
    assert_eq!(own.status, 200, "own uuid through me: {}", own.text);
    let all = srv.get("/tokens", &token).await;
    assert_unauthorized(&all, "GET /tokens without auth.tokens.read");
    let by_uuid = srv
        .get(&format!("/users/{}/tokens", s(&other["uuid"])), &token)
        .await;
    assert_unauthorized(&by_uuid, "another user's tokens without their ACL");
}

async fn delete_refresh_token_by_user_uuid(store: Store) {
    let srv = common::start(store).await;
    let user = srv.create_user("kim", "kim-pw").await;
    let uuid = s(&user["uuid"]);
    let refresh = srv.refresh_token_of("kim", "kim-pw", "app").await;
    let kept = srv.refresh_token_of("kim", "kim-pw", "kept").await;
    let admin = srv.admin_token().await;
    let reply = srv
        .call(
            Method::DELETE,
            &format!("/users/{uuid}/tokens/app"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "delete: {}", reply.text);
    assert_auth_failed(&srv.grant(&refresh, "app").await, "deleted refresh token");
    assert_eq!(
        srv.grant(&kept, "kept").await.status,
        200,
        "other client kept"
    );
    let again = srv
        .call(
            Method::DELETE,
            &format!("/users/{uuid}/tokens/app"),
            Some(&admin),
            None,
        )
        .await;
    assert_api_error(&again, 404, "second delete");
    assert_eq!(
        again.body["error_id"],
        json!("cannot-find-refresh-token-matching-client-id")
    );
}

async fn delete_own_refresh_token_via_me(store: Store) {
    let srv = common::start(store).await;
    let login = srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, offline("app"))
        .await;
    let token = s(&login["token"]);
    let reply = srv
        .call(Method::DELETE, "/users/me/tokens/app", Some(&token), None)
        .await;
    assert_eq!(reply.status, 204, "delete via me: {}", reply.text);
    assert_auth_failed(
        &srv.grant(&s(&login["refresh_token"]), "app").await,
        "deleted refresh token",
    );
    assert_eq!(
        srv.head_token(&token, None, None).await,
        404,
        "deleting the refresh token ends the sessions minted from it (RFC 7009 §2.1)"
    );
}

async fn delete_unknown_refresh_token_is_404(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let me = srv
        .call(
            Method::DELETE,
            "/users/me/tokens/nothing",
            Some(&admin),
            None,
        )
        .await;
    assert_api_error(&me, 404, "unknown client_id via me");
    assert_eq!(
        me.body["error_id"],
        json!("cannot-find-refresh-token-matching-client-id")
    );
    let info = srv
        .send(srv.request(Method::GET, &format!("/token/{admin}")))
        .await;
    let uuid = s(&info.data()["auth_id"]);
    let by_uuid = srv
        .call(
            Method::DELETE,
            &format!("/users/{uuid}/tokens/nothing"),
            Some(&admin),
            None,
        )
        .await;
    assert_api_error(&by_uuid, 404, "unknown client_id via uuid");
    assert_eq!(
        by_uuid.body["error_id"],
        json!("cannot-find-refresh-token-matching-client-id")
    );
}

async fn delete_acl_replaces_dots_in_client_id(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv
        .user_with_acl(
            &admin,
            "lee",
            "lee-pw",
            &["auth.users.me.tokens.my_app.delete"],
        )
        .await;
    let uuid = s(&user["uuid"]);
    srv.login_ok("lee", "lee-pw", offline("my.app")).await;
    srv.login_ok("lee", "lee-pw", offline("other.app")).await;
    // A token of its own session: deleting a refresh token ends the sessions minted from it.
    let token = srv.token_of("lee", "lee-pw").await;
    let denied = srv
        .call(
            Method::DELETE,
            "/users/me/tokens/other.app",
            Some(&token),
            None,
        )
        .await;
    assert_unauthorized(&denied, "auth.users.me.tokens.other_app.delete not held");
    let reply = srv
        .call(
            Method::DELETE,
            "/users/me/tokens/my.app",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        reply.status, 204,
        "auth.users.me.tokens.my_app.delete grants my.app: {}",
        reply.text
    );
    // The same via the uuid route: `me` matches the caller's uuid.
    let reply = srv
        .call(
            Method::DELETE,
            &format!("/users/{uuid}/tokens/other.app"),
            Some(&token),
            None,
        )
        .await;
    assert_unauthorized(&reply, "uuid route, other_app not held");
    srv.login_ok("lee", "lee-pw", offline("my.app")).await;
    let reply = srv
        .call(
            Method::DELETE,
            &format!("/users/{uuid}/tokens/my.app"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "uuid route with my_app: {}", reply.text);
}

async fn mobile_relogin_with_same_client_replaces_its_refresh_token(store: Store) {
    let srv = common::start(store).await;
    let first = srv
        .login_typed(ADMIN_USERNAME, ADMIN_PASSWORD, "mobile", offline("phone"))
        .await;
    assert_eq!(first.status, 200);
    let login_token = s(&first.data()["token"]);
    let refresh = s(&first.data()["refresh_token"]);
    let minted = srv.grant(&refresh, "phone").await;
    let minted_token = s(&minted.data()["token"]);
    let again = srv
        .login_typed(ADMIN_USERNAME, ADMIN_PASSWORD, "mobile", offline("phone"))
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    let replacement = s(&again.data()["refresh_token"]);
    assert_ne!(
        replacement, refresh,
        "a mobile login replaces the refresh token"
    );
    assert_auth_failed(&srv.grant(&refresh, "phone").await, "the replaced one");
    assert_eq!(srv.grant(&replacement, "phone").await.status, 200);
    assert_eq!(
        srv.head_token(&minted_token, None, None).await,
        404,
        "the token minted from the replaced refresh token ended"
    );
    let login_ended = srv.head_token(&login_token, None, None).await == 404;
    let expected = if login_ended { "2" } else { "1" };
    assert_eq!(
        again.header("Wazo-Sessions-Revoked"),
        Some(expected),
        "the header counts the sessions that ended"
    );
}
