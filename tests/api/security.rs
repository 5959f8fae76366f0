//! The holes an attack run found in the policy rules, closed: escalation
//! through patterns, shed negative entries, slug aliases and shadowing, self-promotion, and a
//! refresh-token revocation that did nothing.

use reqwest::Method;
use serde_json::json;

use crate::both_stores;
use crate::common::{
    self, assert_api_error, assert_auth_failed, assert_unauthorized, s, Store, ADMIN_PASSWORD,
    ADMIN_USERNAME,
};

both_stores!(
    a_pattern_is_held_only_when_every_string_it_matches_is_granted,
    a_star_never_grants_a_hash_character,
    negative_entries_cannot_be_shed,
    a_slug_path_is_authorized_as_the_policys_uuid,
    slugs_cannot_shadow_uuids_or_the_bootstrap_policy,
    a_user_cannot_promote_itself,
    revoking_a_refresh_token_by_value_ends_it_and_its_sessions,
);

/// A 401 of the no-escalation rule, naming `entry`.
fn assert_not_held(reply: &common::Reply, entry: &str, context: &str) {
    assert_api_error(reply, 401, context);
    assert!(
        reply.text.contains(&entry.replace('"', "\\\"")),
        "{context}: the refusal names {entry}: {}",
        reply.text
    );
}

async fn a_pattern_is_held_only_when_every_string_it_matches_is_granted(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let (_, token) = srv
        .caller(
            &admin,
            "author",
            &[
                "auth.policies.create",
                "auth.policies.*.update",
                "auth.users.*",
                "auth.*.read",
            ],
        )
        .await;
    for acl in [["auth.users.#"], ["auth.#.read"], ["auth.users.*.read"]] {
        let reply = srv
            .call(
                Method::POST,
                "/policies",
                Some(&token),
                Some(json!({"name": acl[0], "acl": acl})),
            )
            .await;
        assert_not_held(&reply, acl[0], &format!("create with {acl:?}"));
    }
    // What the caller does hold, it may hand out, patterns included.
    let own = srv
        .call(
            Method::POST,
            "/policies",
            Some(&token),
            Some(json!({"name": "narrower", "acl": ["auth.users.read", "auth.users.*", "auth.tokens.read"]})),
        )
        .await;
    assert_eq!(own.status, 200, "entries held: {}", own.text);
    let uuid = s(&own.body["uuid"]);
    let added = srv
        .call(
            Method::PUT,
            &format!("/policies/{uuid}/acl/auth.%23.read"),
            Some(&token),
            None,
        )
        .await;
    assert_not_held(&added, "auth.#.read", "add auth.#.read");
    let fine = srv
        .call(
            Method::PUT,
            &format!("/policies/{uuid}/acl/auth.sessions.read"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(fine.status, 204, "add a held entry: {}", fine.text);
}

async fn a_star_never_grants_a_hash_character(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let (_, token) = srv.caller(&admin, "starry", &["foo.*.*"]).await;
    assert_eq!(
        srv.head_token(&token, Some("foo.bar.toto"), None).await,
        204
    );
    assert_eq!(srv.head_token(&token, Some("foo.bar.#"), None).await, 403);
    let check = srv
        .call(
            Method::POST,
            &format!("/token/{token}/scopes/check"),
            None,
            Some(json!({"scopes": ["foo.bar.#", "foo.bar.baz"]})),
        )
        .await;
    assert_eq!(
        check.body["scopes"],
        json!({"foo.bar.#": false, "foo.bar.baz": true})
    );
}

async fn negative_entries_cannot_be_shed(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let (user, token) = srv.caller(&admin, "shedder", &["#", "!y.secret"]).await;
    let user_uuid = s(&user["uuid"]);
    let policy = srv
        .get(&format!("/users/{user_uuid}/policies"), &admin)
        .await;
    let policy_uuid = s(&policy.body["items"][0]["uuid"]);

    let removed = srv
        .call(
            Method::DELETE,
            &format!("/policies/{policy_uuid}/acl/!y.secret"),
            Some(&token),
            None,
        )
        .await;
    assert_not_held(&removed, "!y.secret", "remove the negative entry");
    let replaced = srv
        .call(
            Method::PUT,
            &format!("/policies/{policy_uuid}"),
            Some(&token),
            Some(json!({"name": "shedder-policy", "acl": ["#"]})),
        )
        .await;
    assert_api_error(&replaced, 401, "replace the ACL with #");
    let detached = srv
        .call(
            Method::DELETE,
            &format!("/users/{user_uuid}/policies/{policy_uuid}"),
            Some(&token),
            None,
        )
        .await;
    assert_api_error(&detached, 401, "detach the policy carrying the negative");
    let everything = srv
        .call(
            Method::POST,
            "/policies",
            Some(&token),
            Some(json!({"name": "all", "acl": ["#"]})),
        )
        .await;
    assert_not_held(&everything, "#", "create a policy granting #");
    // The ACL is intact.
    let acl = srv.get(&format!("/policies/{policy_uuid}"), &admin).await;
    assert_eq!(acl.body["acl"], json!(["#", "!y.secret"]));
    assert_eq!(srv.head_token(&token, Some("y.secret"), None).await, 403);
}

async fn a_slug_path_is_authorized_as_the_policys_uuid(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let target = srv
        .call(
            Method::POST,
            "/policies",
            Some(&admin),
            Some(json!({"name": "target", "slug": "target", "acl": []})),
        )
        .await;
    let target_uuid = s(&target.body["uuid"]);
    let denied = format!("!auth.policies.{target_uuid}.update");
    let (_, token) = srv
        .caller(&admin, "dodger", &["auth.policies.#", &denied, "some.#"])
        .await;
    for path in ["target", target_uuid.as_str()] {
        let reply = srv
            .call(
                Method::PUT,
                &format!("/policies/{path}/acl/some.entry"),
                Some(&token),
                None,
            )
            .await;
        assert_unauthorized(&reply, &format!("edit through {path}"));
        assert_eq!(
            reply.body["details"]["required_access"],
            json!(format!("auth.policies.{target_uuid}.update")),
            "the required access names the uuid"
        );
    }
    let acl = srv.get(&format!("/policies/{target_uuid}"), &admin).await;
    assert_eq!(acl.body["acl"], json!([]), "unchanged");
}

async fn slugs_cannot_shadow_uuids_or_the_bootstrap_policy(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let victim = srv.create_policy_as(&admin, "victim", &["x.y"]).await;
    let victim_uuid = s(&victim["uuid"]);
    let shadow = srv
        .call(
            Method::POST,
            "/policies",
            Some(&admin),
            Some(json!({"name": "shadow", "slug": victim_uuid, "acl": []})),
        )
        .await;
    assert_api_error(&shadow, 400, "a slug that is a UUID");
    let upper = srv
        .call(
            Method::POST,
            "/policies",
            Some(&admin),
            Some(json!({"name": "shadow", "slug": victim_uuid.to_uppercase(), "acl": []})),
        )
        .await;
    assert_api_error(&upper, 400, "a slug that is a UUID in upper case");
    // Slugs and names are unique in any case.
    let first = srv
        .call(
            Method::POST,
            "/policies",
            Some(&admin),
            Some(json!({"name": "one", "slug": "Dup"})),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let second = srv
        .call(
            Method::POST,
            "/policies",
            Some(&admin),
            Some(json!({"name": "two", "slug": "dup"})),
        )
        .await;
    assert_api_error(&second, 409, "slug in another case");
    let renamed = srv
        .call(
            Method::POST,
            "/policies",
            Some(&admin),
            Some(json!({"name": "Tessera-Bootstrap-Admin", "acl": ["!#"]})),
        )
        .await;
    assert_api_error(&renamed, 409, "the bootstrap policy's name in another case");
    // A policy whose slug is the bootstrap policy's name does not lock the administrator out.
    let trap = srv
        .call(
            Method::POST,
            "/policies",
            Some(&admin),
            Some(json!({"name": "trap", "slug": "tessera-bootstrap-admin", "acl": ["!#"]})),
        )
        .await;
    assert_eq!(trap.status, 200, "{}", trap.text);
    let url = srv.database_url.clone();
    let again = common::start_with(srv.store(), move |c| c.database_url = url).await;
    let token = again.admin_token().await;
    assert_eq!(
        again.get("/users", &token).await.status,
        200,
        "the administrator still holds #"
    );
}

async fn a_user_cannot_promote_itself(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let (user, token) = srv
        .caller(
            &admin,
            "climber",
            &["auth.users.me.update", "auth.users.me.read"],
        )
        .await;
    let uuid = s(&user["uuid"]);
    for change in [json!({"purpose": "internal"}), json!({"enabled": false})] {
        let reply = srv
            .call(
                Method::PUT,
                &format!("/users/{uuid}"),
                Some(&token),
                Some(change.clone()),
            )
            .await;
        assert_api_error(&reply, 401, &format!("own {change}"));
    }
    // Repeating its current values, as clients that PUT whole objects do, is fine.
    let same = srv
        .call(
            Method::PUT,
            &format!("/users/{uuid}"),
            Some(&token),
            Some(json!({"username": "climber", "purpose": "user", "enabled": true, "firstname": "C"})),
        )
        .await;
    assert_eq!(same.status, 200, "{}", same.text);
    assert_eq!(same.body["purpose"], json!("user"));
    // Another caller holding the ACL can.
    let by_admin = srv
        .call(
            Method::PUT,
            &format!("/users/{uuid}"),
            Some(&admin),
            Some(json!({"purpose": "internal"})),
        )
        .await;
    assert_eq!(by_admin.status, 200, "{}", by_admin.text);
    assert_eq!(by_admin.body["purpose"], json!("internal"));
}

async fn revoking_a_refresh_token_by_value_ends_it_and_its_sessions(store: Store) {
    let srv = common::start(store).await;
    let login = srv
        .login_ok(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"access_type": "offline", "client_id": "app"}),
        )
        .await;
    let refresh = s(&login["refresh_token"]);
    let granted = srv.grant(&refresh, "app").await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    let minted = s(&granted.data()["token"]);
    let revoked = srv
        .call(Method::DELETE, &format!("/token/{refresh}"), None, None)
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_auth_failed(&srv.grant(&refresh, "app").await, "revoked refresh token");
    for token in [s(&login["token"]), minted] {
        assert_eq!(
            srv.head_token(&token, None, None).await,
            404,
            "sessions minted from it end"
        );
    }
    // Other sessions of the user are not touched.
    let other = srv.admin_token().await;
    assert_eq!(srv.head_token(&other, None, None).await, 204);
}
