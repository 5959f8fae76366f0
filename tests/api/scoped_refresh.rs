//! Scope-limited refresh tokens (SPEC §9): every token minted under a scope grants only what both
//! the user's ACL and the scope grant, in validation, `scopes/check`, protected endpoints and the
//! no-escalation rule; grants may narrow, never widen; a second offline login sets the scope;
//! scopes are validated.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{
    self, assert_token_error, assert_unauthorized, offline, offline_with, s, Reply, Store,
    TestServer, ADMIN_PASSWORD, ADMIN_USERNAME,
};

/// The user's ACL: a negative of its own, and `me` entries.
const ACL: &[&str] = &["confd.#", "!confd.users.*.password", "auth.users.me.#"];
/// The scope: a negative of its own, one entry outside the ACL (`auth.policies.#`).
const SCOPE: &[&str] = &[
    "confd.users.me.#",
    "!confd.users.me.voicemail.#",
    "auth.users.me.tokens.#",
    "auth.policies.#",
];

/// A user `name` (password `pw-NAME`) holding [`ACL`]; returns its uuid.
async fn scoped_user(srv: &TestServer, name: &str) -> String {
    let admin = srv.admin_token().await;
    let user = srv
        .user_with_acl(&admin, name, &format!("pw-{name}"), ACL)
        .await;
    s(&user["uuid"])
}

async fn login(srv: &TestServer, name: &str, body: Value) -> Reply {
    srv.login_reply(name, &format!("pw-{name}"), body).await
}

/// Every way a token is asked what it grants, for `access` (validation twice: a cache hit must
/// answer the same).
async fn grants(srv: &TestServer, token: &str, access: &str) -> bool {
    let head = srv.head_token(token, Some(access), None).await;
    assert_eq!(srv.head_token(token, Some(access), None).await, head);
    let get = srv
        .send(
            srv.request(Method::GET, &format!("/token/{token}"))
                .query(&[("scope", access)]),
        )
        .await;
    let check = srv
        .call(
            Method::POST,
            &format!("/token/{token}/scopes/check"),
            None,
            Some(json!({"scopes": [access]})),
        )
        .await;
    assert_eq!(check.status, 200, "{}", check.text);
    let checked = check.body["scopes"][access].as_bool().expect("a boolean");
    let granted = head == 204;
    assert!(matches!(head, 204 | 403), "HEAD {access}: {head}");
    assert_eq!(get.status, if granted { 200 } else { 403 }, "GET {access}");
    assert_eq!(
        checked, granted,
        "scopes/check and HEAD disagree on {access}"
    );
    granted
}

/// What a token minted under [`SCOPE`] for a user holding [`ACL`] grants.
async fn assert_intersection(srv: &TestServer, token: &str, user: &str) {
    let cases = [
        ("confd.users.me.read".to_string(), true, "in both"),
        (
            format!("confd.users.{user}.read"),
            true,
            "`me` is the user on both sides",
        ),
        (
            "confd.users.me.password".into(),
            false,
            "a negative of the ACL",
        ),
        (
            "confd.users.me.voicemail.read".into(),
            false,
            "a negative of the scope",
        ),
        ("confd.lines.read".into(), false, "in the ACL only"),
        ("auth.policies.read".into(), false, "in the scope only"),
        ("auth.users.me.tokens.read".into(), true, "in both"),
        (
            format!("auth.users.{user}.sessions.read"),
            false,
            "in the ACL only",
        ),
    ];
    for (access, expected, why) in cases {
        assert_eq!(
            grants(srv, token, &access).await,
            expected,
            "{access}: {why}"
        );
    }
    // Protected endpoints apply it too.
    let mine = srv.get("/users/me/tokens", token).await;
    assert_eq!(mine.status, 200, "in both: {}", mine.text);
    assert_unauthorized(
        &srv.get(&format!("/users/{user}/sessions"), token).await,
        "a protected endpoint granted by the ACL only",
    );
    assert_unauthorized(
        &srv.get("/policies", token).await,
        "a protected endpoint granted by the scope only",
    );
}

both_stores!(
    every_token_minted_under_a_scope_grants_the_intersection,
    the_intersection_holds_through_the_validation_cache,
    a_scoped_token_hands_out_only_what_its_scope_holds,
    a_policy_gained_is_not_gained_through_a_scope_and_one_lost_is_lost,
    a_grant_may_narrow_but_never_widen,
    a_second_offline_login_sets_the_scope,
    scopes_are_validated,
    an_empty_scope_grants_nothing,
    refresh_token_lists_show_the_scope,
);

async fn every_token_minted_under_a_scope_grants_the_intersection(store: Store) {
    let srv = common::start(store).await;
    let user = scoped_user(&srv, "sally").await;
    let login = login(&srv, "sally", offline_with("app", json!({"scope": SCOPE}))).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let data = login.data();
    assert_eq!(data["acl"], json!(ACL), "acl stays the user's");
    assert_eq!(data["scope"], json!(SCOPE));
    let refresh = s(&data["refresh_token"]);
    assert_intersection(&srv, &s(&data["token"]), &user).await;

    let granted = srv.grant(&refresh, "app").await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    assert_eq!(granted.data()["scope"], json!(SCOPE));
    let token = s(&granted.data()["token"]);
    let described = srv
        .send(srv.request(Method::GET, &format!("/token/{token}")))
        .await;
    assert_eq!(
        described.data()["scope"],
        json!(SCOPE),
        "GET shows the scope"
    );
    assert_intersection(&srv, &token, &user).await;

    // Unscoped tokens say so.
    let plain = srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
        .await;
    assert_eq!(plain["scope"], Value::Null);
    assert!(plain.as_object().expect("object").contains_key("scope"));
}

async fn the_intersection_holds_through_the_validation_cache(store: Store) {
    let srv = common::start_with(store, |c| c.token_cache_size = 1000).await;
    let user = scoped_user(&srv, "cathy").await;
    let data = login(&srv, "cathy", offline_with("app", json!({"scope": SCOPE}))).await;
    assert_intersection(&srv, &s(&data.data()["token"]), &user).await;
    let granted = srv.grant(&s(&data.data()["refresh_token"]), "app").await;
    assert_intersection(&srv, &s(&granted.data()["token"]), &user).await;
}

/// The no-escalation rule reads the scope too: an administrator's scoped token may only put into
/// a policy what both its ACL (`#`) and its scope hold.
async fn a_scoped_token_hands_out_only_what_its_scope_holds(store: Store) {
    let srv = common::start(store).await;
    let data = srv
        .login_ok(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            offline_with(
                "console",
                json!({"scope": ["auth.policies.#", "auth.users.read"]}),
            ),
        )
        .await;
    let token = s(&data["token"]);
    let inside = srv
        .call(
            Method::POST,
            "/policies",
            Some(&token),
            Some(json!({"name": "inside", "acl": ["auth.users.read"]})),
        )
        .await;
    assert_eq!(inside.status, 200, "{}", inside.text);
    let outside = srv
        .call(
            Method::POST,
            "/policies",
            Some(&token),
            Some(json!({"name": "outside", "acl": ["confd.users.read"]})),
        )
        .await;
    assert_unauthorized(&outside, "outside the scope, though the ACL is #");
    assert_eq!(
        outside.body["details"]["required_access"],
        "confd.users.read"
    );
    let wider = srv
        .call(
            Method::POST,
            "/policies",
            Some(&token),
            Some(json!({"name": "wider", "acl": ["auth.#"]})),
        )
        .await;
    assert_unauthorized(&wider, "a pattern wider than the scope");
}

/// The ACL is the user's current one at each grant (SPEC §2), always within the scope: a policy
/// gained outside the scope is not gained, one inside is; a policy lost is lost at the next grant.
/// Tokens already minted keep the ACL they were minted with (SPEC §4).
async fn a_policy_gained_is_not_gained_through_a_scope_and_one_lost_is_lost(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv
        .user_with_acl(&admin, "gail", "pw-gail", &["confd.users.me.read"])
        .await;
    let user = s(&user["uuid"]);
    let data = srv
        .login_ok(
            "gail",
            "pw-gail",
            offline_with("app", json!({"scope": ["confd.#"]})),
        )
        .await;
    let refresh = s(&data["refresh_token"]);
    let before = s(&data["token"]);
    assert!(grants(&srv, &before, "confd.users.me.read").await);

    let outside = srv
        .create_policy_as(&admin, "outside", &["auth.users.read"])
        .await;
    let inside = srv
        .create_policy_as(&admin, "inside", &["confd.lines.read"])
        .await;
    srv.attach_policy_as(&admin, &user, &s(&outside["uuid"]))
        .await;
    srv.attach_policy_as(&admin, &user, &s(&inside["uuid"]))
        .await;
    let after = s(&srv.grant(&refresh, "app").await.data()["token"]);
    assert!(
        !grants(&srv, &after, "auth.users.read").await,
        "outside the scope"
    );
    assert!(
        grants(&srv, &after, "confd.lines.read").await,
        "inside the scope"
    );
    let unscoped = srv.token_of("gail", "pw-gail").await;
    assert!(
        grants(&srv, &unscoped, "auth.users.read").await,
        "a password login has it"
    );

    let policies = srv.get(&format!("/users/{user}/policies"), &admin).await;
    let first = policies.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|p| p["name"] == "gail-policy")
        .expect("gail's policy")["uuid"]
        .clone();
    let detached = srv
        .call(
            Method::DELETE,
            &format!("/users/{user}/policies/{}", s(&first)),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(detached.status, 204, "{}", detached.text);
    let lost = s(&srv.grant(&refresh, "app").await.data()["token"]);
    assert!(
        !grants(&srv, &lost, "confd.users.me.read").await,
        "lost at the next grant"
    );
    assert!(
        grants(&srv, &before, "confd.users.me.read").await,
        "minted tokens keep theirs"
    );
}

async fn a_grant_may_narrow_but_never_widen(store: Store) {
    let srv = common::start(store).await;
    let user = scoped_user(&srv, "nina").await;
    let data = login(&srv, "nina", offline_with("app", json!({"scope": SCOPE}))).await;
    let refresh = s(&data.data()["refresh_token"]);

    let narrow = srv
        .grant_with(&refresh, "app", json!({"scope": ["confd.users.me.read"]}))
        .await;
    assert_eq!(narrow.status, 200, "{}", narrow.text);
    assert_eq!(narrow.data()["scope"], json!(["confd.users.me.read"]));
    assert!(narrow.data().get("refresh_token").is_none());
    let token = s(&narrow.data()["token"]);
    assert!(grants(&srv, &token, "confd.users.me.read").await);
    assert!(
        !grants(&srv, &token, "confd.users.me.update").await,
        "narrowed away"
    );
    assert!(
        !grants(&srv, &token, "auth.users.me.tokens.read").await,
        "narrowed away"
    );

    // Coverage is judged between patterns, `me` as the user on both sides.
    for covered in [
        json!([format!("confd.users.{user}.read")]),
        json!(["confd.users.me.*", "!confd.users.me.email"]),
        json!(["!confd.anything"]),
        json!(SCOPE),
    ] {
        let reply = srv
            .grant_with(&refresh, "app", json!({"scope": covered}))
            .await;
        assert_eq!(reply.status, 200, "{covered}: {}", reply.text);
        assert_eq!(reply.data()["scope"], covered);
    }
    for wider in [
        json!(["confd.#"]),
        json!(["confd.users.*.read"]),
        json!(["confd.users.me.read", "auth.#"]),
        json!(["#"]),
        json!(["confd.users.me.voicemail.read"]),
    ] {
        let reply = srv
            .grant_with(&refresh, "app", json!({"scope": wider}))
            .await;
        assert_token_error(&reply, 400, &format!("{wider}"));
        assert_eq!(reply.body["reason"], json!(["invalid_scope"]), "{wider}");
    }
    // The refresh token itself is never changed by a grant.
    let plain = srv.grant(&refresh, "app").await;
    assert_eq!(plain.data()["scope"], json!(SCOPE));

    // An unlimited refresh token covers any scope a grant asks for.
    let unlimited = s(&login(&srv, "nina", offline("other")).await.data()["refresh_token"]);
    let reply = srv
        .grant_with(&unlimited, "other", json!({"scope": ["confd.lines.read"]}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let token = s(&reply.data()["token"]);
    assert!(grants(&srv, &token, "confd.lines.read").await);
    assert!(!grants(&srv, &token, "confd.users.me.read").await);
}

/// A second offline login returns the same value and sets the scope to what it asked (absent:
/// unlimited); tokens already minted keep theirs.
async fn a_second_offline_login_sets_the_scope(store: Store) {
    let srv = common::start(store).await;
    let user = scoped_user(&srv, "sam").await;
    let first = login(
        &srv,
        "sam",
        offline_with("app", json!({"scope": ["confd.users.me.#"]})),
    )
    .await;
    let refresh = s(&first.data()["refresh_token"]);
    let first_token = s(&first.data()["token"]);

    let second = login(
        &srv,
        "sam",
        offline_with("app", json!({"scope": ["confd.lines.#"]})),
    )
    .await;
    assert_eq!(
        s(&second.data()["refresh_token"]),
        refresh,
        "the same value"
    );
    assert_eq!(second.data()["scope"], json!(["confd.lines.#"]));
    let granted = srv.grant(&refresh, "app").await;
    assert_eq!(granted.data()["scope"], json!(["confd.lines.#"]));
    let token = s(&granted.data()["token"]);
    assert!(grants(&srv, &token, "confd.lines.read").await);
    assert!(!grants(&srv, &token, "confd.users.me.read").await);
    assert!(
        grants(&srv, &first_token, "confd.users.me.read").await,
        "keeps its own"
    );
    assert!(
        !grants(&srv, &first_token, "confd.lines.read").await,
        "keeps its own"
    );

    let third = login(&srv, "sam", offline("app")).await;
    assert_eq!(s(&third.data()["refresh_token"]), refresh);
    assert_eq!(third.data()["scope"], Value::Null, "absent: unlimited");
    let granted = srv.grant(&refresh, "app").await;
    assert_eq!(granted.data()["scope"], Value::Null);
    let token = s(&granted.data()["token"]);
    assert!(grants(&srv, &token, "confd.lines.read").await);
    assert!(grants(&srv, &token, &format!("auth.users.{user}.sessions.read")).await);
}

async fn scopes_are_validated(store: Store) {
    let srv = common::start(store).await;
    scoped_user(&srv, "val").await;
    let refresh = s(&login(&srv, "val", offline("app")).await.data()["refresh_token"]);
    let hundred: Vec<String> = (0..100).map(|i| format!("confd.e{i}.read")).collect();
    let mut hundred_one = hundred.clone();
    hundred_one.push("confd.more".into());
    let long = format!("confd.{}", "x".repeat(1018));
    assert_eq!(long.chars().count(), 1024);
    let too_long = format!("{long}y");

    for (scope, ok) in [
        (json!(hundred), true),
        (json!([long]), true),
        (json!(hundred_one), false),
        (json!([too_long]), false),
        (json!([1]), false),
        (json!(["confd.#", null]), false),
        (json!([["confd.#"]]), false),
        (json!("confd.#"), false),
        (json!(null), false),
        (json!({"confd.#": true}), false),
        (json!(["confd.\u{0}x"]), false),
        (json!(["confd.\nx"]), false),
    ] {
        let mut body = offline("app");
        body["scope"] = scope.clone();
        let reply = login(&srv, "val", body).await;
        let granted = srv
            .grant_with(&refresh, "app", json!({"scope": scope}))
            .await;
        if ok {
            assert_eq!(reply.status, 200, "{scope}: {}", reply.text);
            assert_eq!(reply.data()["scope"], scope);
            assert_eq!(granted.status, 200, "{scope}: {}", granted.text);
        } else {
            assert_token_error(&reply, 400, &format!("offline login with {scope}"));
            assert_token_error(&granted, 400, &format!("grant with {scope}"));
        }
    }
    // An online login has no refresh token to limit.
    let online = login(&srv, "val", json!({"scope": ["confd.#"]})).await;
    assert_token_error(&online, 400, "online login with a scope");
}

async fn an_empty_scope_grants_nothing(store: Store) {
    let srv = common::start(store).await;
    let user = scoped_user(&srv, "emma").await;
    let data = login(&srv, "emma", offline_with("app", json!({"scope": []}))).await;
    assert_eq!(data.status, 200, "{}", data.text);
    assert_eq!(data.data()["scope"], json!([]));
    let refresh = s(&data.data()["refresh_token"]);
    let granted = srv.grant(&refresh, "app").await;
    assert_eq!(granted.data()["scope"], json!([]));
    for token in [s(&data.data()["token"]), s(&granted.data()["token"])] {
        assert_eq!(
            srv.head_token(&token, None, None).await,
            204,
            "still a valid token"
        );
        for access in ["confd.users.me.read", "auth.users.me.tokens.read", "#"] {
            assert!(!grants(&srv, &token, access).await, "{access}");
        }
        assert_unauthorized(&srv.get("/users/me/tokens", &token).await, "nothing");
        assert_unauthorized(&srv.get(&format!("/users/{user}"), &token).await, "nothing");
    }
    let wider = srv
        .grant_with(&refresh, "app", json!({"scope": ["confd.users.me.read"]}))
        .await;
    assert_eq!(wider.body["reason"], json!(["invalid_scope"]));
}

async fn refresh_token_lists_show_the_scope(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = scoped_user(&srv, "lisa").await;
    login(
        &srv,
        "lisa",
        offline_with("scoped", json!({"scope": SCOPE})),
    )
    .await;
    login(&srv, "lisa", offline("plain")).await;
    let list = srv.get(&format!("/users/{user}/tokens"), &admin).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    for item in items {
        let expected = match item["client_id"].as_str() {
            Some("scoped") => json!(SCOPE),
            _ => Value::Null,
        };
        assert_eq!(item["scope"], expected, "{item}");
        assert!(item.as_object().expect("object").contains_key("scope"));
    }
    let all = srv.get("/tokens", &admin).await;
    assert!(all.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|item| item["scope"] == json!(SCOPE)));
}
