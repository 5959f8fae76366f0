//! Users: create, uniqueness, get/list/update/delete, password change and disabling (SPEC §6, §2).

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{self, assert_api_error, assert_auth_failed, is_uuid, s, Store};

both_stores!(
    create_user_returns_every_field_with_defaults,
    create_user_with_given_uuid_purpose_and_names,
    usernames_are_unique_case_insensitively,
    usernames_and_emails_are_unique_case_insensitively_beyond_ascii,
    email_addresses_are_unique_case_insensitively,
    get_user_and_unknown_user,
    list_users,
    update_user,
    update_keeps_absent_fields_and_clears_nulls,
    passwords_are_limited_in_bytes_like_logins,
    delete_user,
    change_password_ends_sessions,
    change_password_with_wrong_old_password_fails,
    disabling_a_user_ends_its_sessions,
    create_user_rejects_bad_fields,
);

async fn create_user_returns_every_field_with_defaults(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let tenant = srv
        .send(srv.request(Method::GET, &format!("/token/{admin}")))
        .await
        .data()["metadata"]["tenant_uuid"]
        .clone();
    let user = srv
        .create_user_with(
            &admin,
            json!({"username": "tina", "password": "tina-pw", "email_address": "tina@example.com"}),
        )
        .await;
    for field in [
        "uuid",
        "username",
        "firstname",
        "lastname",
        "emails",
        "enabled",
        "purpose",
        "tenant_uuid",
        "authentication_method",
    ] {
        assert!(user.get(field).is_some(), "{field} missing from {user}");
    }
    assert!(is_uuid(&user["uuid"]));
    assert_eq!(user["username"], json!("tina"));
    assert_eq!(user["firstname"], Value::Null);
    assert_eq!(user["lastname"], Value::Null);
    assert_eq!(user["enabled"], json!(true), "enabled by default");
    assert_eq!(user["purpose"], json!("user"), "purpose user by default");
    assert_eq!(user["tenant_uuid"], tenant, "the top tenant");
    assert!(user.get("password").is_none(), "no password in {user}");
    let emails = user["emails"].as_array().expect("emails");
    assert_eq!(emails.len(), 1);
    let email = &emails[0];
    assert!(is_uuid(&email["uuid"]), "email uuid: {email}");
    assert_eq!(email["address"], json!("tina@example.com"));
    assert_eq!(email["main"], json!(true));
    assert!(email["confirmed"].is_boolean(), "confirmed: {email}");
    let bare = srv.create_user_as(&admin, "uma", None).await;
    assert_eq!(bare["emails"], json!([]));
}

async fn create_user_with_given_uuid_purpose_and_names(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let user = srv
        .create_user_with(
            &admin,
            json!({
                "uuid": uuid, "username": "victor", "firstname": "Victor", "lastname": "Hugo",
                "purpose": "external_api", "enabled": false
            }),
        )
        .await;
    assert_eq!(user["uuid"], json!(uuid));
    assert_eq!(user["firstname"], json!("Victor"));
    assert_eq!(user["lastname"], json!("Hugo"));
    assert_eq!(user["purpose"], json!("external_api"));
    assert_eq!(user["enabled"], json!(false));
    let got = srv.get(&format!("/users/{uuid}"), &admin).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["purpose"], json!("external_api"));
    let clash = srv
        .call(
            Method::POST,
            "/users",
            Some(&admin),
            Some(json!({"uuid": uuid, "username": "other"})),
        )
        .await;
    assert_api_error(&clash, 409, "duplicate uuid");
}

async fn usernames_are_unique_case_insensitively(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.create_user_as(&admin, "Walter", None).await;
    for username in ["Walter", "walter", "WALTER"] {
        let reply = srv
            .call(
                Method::POST,
                "/users",
                Some(&admin),
                Some(json!({ "username": username })),
            )
            .await;
        assert_api_error(&reply, 409, &format!("username {username}"));
    }
    let admin_clash = srv
        .call(
            Method::POST,
            "/users",
            Some(&admin),
            Some(json!({"username": "ADMIN"})),
        )
        .await;
    assert_api_error(&admin_clash, 409, "bootstrap admin's username");
}

async fn email_addresses_are_unique_case_insensitively(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.create_user_with(
        &admin,
        json!({"username": "xena", "email_address": "Xena@Example.com"}),
    )
    .await;
    for address in ["Xena@Example.com", "xena@example.com", "XENA@EXAMPLE.COM"] {
        let reply = srv
            .call(
                Method::POST,
                "/users",
                Some(&admin),
                Some(json!({"username": format!("x-{address}"), "email_address": address})),
            )
            .await;
        assert_api_error(&reply, 409, &format!("address {address}"));
    }
}

async fn get_user_and_unknown_user(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv
        .create_user_with(
            &admin,
            json!({"username": "yann", "firstname": "Yann", "email_address": "yann@example.com"}),
        )
        .await;
    let got = srv
        .get(&format!("/users/{}", s(&user["uuid"])), &admin)
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body, user, "GET answers what POST answered");
    let unknown = uuid::Uuid::new_v4();
    let reply = srv.get(&format!("/users/{unknown}"), &admin).await;
    assert_api_error(&reply, 404, "unknown user");
    assert_eq!(reply.body["error_id"], json!("unknown-user"));
    let not_uuid = srv.get("/users/not-a-uuid", &admin).await;
    assert_api_error(&not_uuid, 404, "non-UUID user");
}

async fn list_users(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    for name in ["list-c", "list-a", "list-b"] {
        srv.create_user_as(&admin, name, None).await;
    }
    let all = srv.get("/users", &admin).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.body["total"], json!(4), "three users and the admin");
    assert_eq!(all.body["filtered"], json!(4));
    assert_eq!(all.body["items"].as_array().expect("items").len(), 4);
    let searched = srv
        .get(
            "/users?search=list-&order=username&direction=desc&limit=2",
            &admin,
        )
        .await;
    assert_eq!(searched.status, 200, "{}", searched.text);
    assert_eq!(searched.body["total"], json!(4));
    assert_eq!(searched.body["filtered"], json!(3));
    let names: Vec<Value> = searched.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["username"].clone())
        .collect();
    assert_eq!(names, vec![json!("list-c"), json!("list-b")]);
}

async fn update_user(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv.create_user_as(&admin, "zack", None).await;
    let uuid = s(&user["uuid"]);
    let reply = srv.put_user(&admin,
        &uuid,
        json!({"username": "zachary", "firstname": "Zach", "lastname": "Z", "purpose": "user", "enabled": true}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["username"], json!("zachary"));
    assert_eq!(reply.body["firstname"], json!("Zach"));
    assert_eq!(reply.body["uuid"], json!(uuid));
    let got = srv.get(&format!("/users/{uuid}"), &admin).await;
    assert_eq!(got.body["username"], json!("zachary"));
    assert_eq!(got.body["lastname"], json!("Z"));
    let unknown = srv
        .put_user(
            &admin,
            &uuid::Uuid::new_v4().to_string(),
            json!({"username": "ghost", "purpose": "user", "enabled": true}),
        )
        .await;
    assert_api_error(&unknown, 404, "update unknown user");
    assert_eq!(unknown.body["error_id"], json!("unknown-user"));
    let clash = srv
        .put_user(
            &admin,
            &uuid,
            json!({"username": "Admin", "purpose": "user", "enabled": true}),
        )
        .await;
    assert_api_error(&clash, 409, "renaming onto another username");
}

async fn update_keeps_absent_fields_and_clears_nulls(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv
        .create_user_with(
            &admin,
            json!({"username": "yves", "firstname": "Yves", "lastname": "Y", "enabled": false}),
        )
        .await;
    let uuid = s(&user["uuid"]);
    let reply = srv.put_user(&admin, &uuid, json!({"lastname": null})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body["username"],
        json!("yves"),
        "absent username kept"
    );
    assert_eq!(
        reply.body["firstname"],
        json!("Yves"),
        "absent firstname kept"
    );
    assert_eq!(reply.body["lastname"], Value::Null, "explicit null clears");
    assert_eq!(reply.body["enabled"], json!(false), "absent enabled kept");
}

async fn passwords_are_limited_in_bytes_like_logins(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    // 600 characters, 1200 bytes: a password POST /token could never accept.
    let long = "\u{e9}".repeat(600);
    let reply = srv
        .call(
            Method::POST,
            "/users",
            Some(&admin),
            Some(json!({"username": "longpw", "password": long})),
        )
        .await;
    assert_api_error(&reply, 400, "password over 1024 bytes");
    let fits = "\u{e9}".repeat(512);
    srv.create_user_with(&admin, json!({"username": "fitpw", "password": fits}))
        .await;
    srv.login_ok("fitpw", &fits, json!({})).await;
}

async fn delete_user(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv.create_user_as(&admin, "abby", Some("abby-pw")).await;
    let uuid = s(&user["uuid"]);
    let token = srv.token_of("abby", "abby-pw").await;
    let reply = srv
        .call(
            Method::DELETE,
            &format!("/users/{uuid}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    let got = srv.get(&format!("/users/{uuid}"), &admin).await;
    assert_api_error(&got, 404, "deleted user");
    assert_eq!(got.body["error_id"], json!("unknown-user"));
    assert_eq!(
        srv.head_token(&token, None, None).await,
        404,
        "the deleted user's token"
    );
    assert_auth_failed(
        &srv.login_reply("abby", "abby-pw", json!({})).await,
        "deleted user's login",
    );
    let again = srv
        .call(
            Method::DELETE,
            &format!("/users/{uuid}"),
            Some(&admin),
            None,
        )
        .await;
    assert_api_error(&again, 404, "deleting twice");
}

async fn change_password_ends_sessions(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv
        .user_with_acl(&admin, "beth", "old-pw", &["auth.users.me.password.update"])
        .await;
    let uuid = s(&user["uuid"]);
    let token = srv.token_of("beth", "old-pw").await;
    let reply = srv
        .call(
            Method::PUT,
            &format!("/users/{uuid}/password"),
            Some(&token),
            Some(json!({"old_password": "old-pw", "new_password": "new-pw"})),
        )
        .await;
    assert_eq!(reply.status, 204, "own password change: {}", reply.text);
    assert_eq!(
        srv.head_token(&token, None, None).await,
        404,
        "the old access token ended"
    );
    assert_auth_failed(
        &srv.login_reply("beth", "old-pw", json!({})).await,
        "old password",
    );
    srv.login_ok("beth", "new-pw", json!({})).await;
}

async fn change_password_with_wrong_old_password_fails(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv.create_user_as(&admin, "cleo", Some("cleo-pw")).await;
    let reply = srv
        .call(
            Method::PUT,
            &format!("/users/{}/password", s(&user["uuid"])),
            Some(&admin),
            Some(json!({"old_password": "wrong", "new_password": "new-pw"})),
        )
        .await;
    assert!(
        (400..500).contains(&reply.status),
        "wrong old password: {} {}",
        reply.status,
        reply.text
    );
    assert!(reply.is_json, "JSON error: {}", reply.text);
    srv.login_ok("cleo", "cleo-pw", json!({})).await;
    let missing = srv
        .call(
            Method::PUT,
            &format!("/users/{}/password", s(&user["uuid"])),
            Some(&admin),
            Some(json!({"new_password": "new-pw"})),
        )
        .await;
    assert_api_error(&missing, 400, "no old_password");
}

async fn disabling_a_user_ends_its_sessions(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv.create_user_as(&admin, "dora", Some("dora-pw")).await;
    let token = srv.token_of("dora", "dora-pw").await;
    let reply = srv
        .put_user(
            &admin,
            &s(&user["uuid"]),
            json!({"username": "dora", "purpose": "user", "enabled": false}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["enabled"], json!(false));
    assert_eq!(srv.head_token(&token, None, None).await, 404);
    assert_auth_failed(
        &srv.login_reply("dora", "dora-pw", json!({})).await,
        "disabled",
    );
}

async fn create_user_rejects_bad_fields(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    for body in [
        json!({"username": 42}),
        json!({"username": "u1", "purpose": "superuser"}),
        json!({"username": "u2", "enabled": "yes"}),
        json!({"username": "u3", "uuid": "not-a-uuid"}),
        json!({"username": "u4", "password": 1234}),
        json!({"username": "u5", "email_address": 5}),
        json!({"username": "u6", "firstname": ["a"]}),
        json!([]),
        json!("user"),
    ] {
        let reply = srv
            .call(Method::POST, "/users", Some(&admin), Some(body.clone()))
            .await;
        assert_api_error(&reply, 400, &format!("body {body}"));
    }
}

async fn usernames_and_emails_are_unique_case_insensitively_beyond_ascii(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.create_user_with(
        &admin,
        json!({"username": "Émile", "email_address": "Zoë@Example.com"}),
    )
    .await;
    let username = srv
        .call(
            Method::POST,
            "/users",
            Some(&admin),
            Some(json!({"username": "émile"})),
        )
        .await;
    assert_api_error(&username, 409, "username differing only in non-ASCII case");
    let email = srv
        .call(
            Method::POST,
            "/users",
            Some(&admin),
            Some(json!({"username": "zoe", "email_address": "ZOË@example.com"})),
        )
        .await;
    assert_api_error(&email, 409, "address differing only in non-ASCII case");
}

both_stores!(
    look_alike_usernames_are_refused,
    look_alikes_made_before_the_rule_do_not_stop_the_start,
);

async fn look_alike_usernames_are_refused(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    // Cyrillic а, fullwidth letters, Cyrillic capitals, the digit 0 for the letter o.
    for alike in [
        "\u{430}dmin",
        "\u{ff41}\u{ff44}\u{ff4d}\u{ff49}\u{ff4e}",
        "\u{410}DMIN",
    ] {
        let reply = srv
            .call(
                Method::POST,
                "/users",
                Some(&admin),
                Some(json!({ "username": alike })),
            )
            .await;
        assert_api_error(&reply, 409, &format!("username {alike:?}"));
        assert_eq!(
            reply.body["details"]["username"]["constraint_id"],
            json!("unique"),
            "{}",
            reply.text
        );
    }
    srv.create_user_as(&admin, "bob", None).await;
    let zoe = srv.create_user_as(&admin, "zoe", None).await;
    let zoe_uuid = s(&zoe["uuid"]);
    for alike in ["b\u{43e}b", "\u{ff42}ob"] {
        let renamed = srv
            .put_user(&admin, &zoe_uuid, json!({ "username": alike }))
            .await;
        assert_api_error(&renamed, 409, &format!("rename to {alike:?}"));
    }
    let shown = srv.get(&format!("/users/{zoe_uuid}"), &admin).await;
    assert_eq!(shown.body["username"], json!("zoe"));
    // Names that only look like themselves are fine, and so is keeping one's own.
    let renamed = srv
        .put_user(
            &admin,
            &zoe_uuid,
            json!({"username": "Zoe", "firstname": "Z"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    srv.create_user_as(&admin, "bobby", None).await;
    srv.create_user_as(&admin, "\u{431}\u{43e}\u{440}\u{438}\u{441}", None)
        .await;
}

async fn look_alikes_made_before_the_rule_do_not_stop_the_start(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let bob = srv.create_user_as(&admin, "bob", Some("bob-pw")).await;
    let carol = srv.create_user_as(&admin, "carol", Some("carol-pw")).await;
    // As a database from before the rule: no keys, and a look-alike of bob (Cyrillic о).
    srv.execute_sql(&[
        "UPDATE users SET username_skeleton = NULL",
        &format!(
            "UPDATE users SET username = 'b\u{43e}b', username_key = 'b\u{43e}b' WHERE uuid = '{}'",
            s(&carol["uuid"])
        ),
    ])
    .await;
    let url = srv.database_url.clone();
    let again = common::start_with(store, move |c| c.database_url = url).await;
    let admin = again.admin_token().await;
    again.login_ok("bob", "bob-pw", json!({})).await;
    again.login_ok("b\u{43e}b", "carol-pw", json!({})).await;
    for uuid in [s(&bob["uuid"]), s(&carol["uuid"])] {
        let edited = again
            .put_user(&admin, &uuid, json!({"firstname": "kept"}))
            .await;
        assert_eq!(
            edited.status, 200,
            "an edit that keeps the name: {}",
            edited.text
        );
    }
    let third = again
        .call(
            Method::POST,
            "/users",
            Some(&admin),
            Some(json!({"username": "\u{ff42}\u{ff4f}\u{ff42}"})),
        )
        .await;
    assert_api_error(&third, 409, "a new look-alike of both");
}
