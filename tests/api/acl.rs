//! ACL matching through the API (SPEC §4): one user whose policy is rewritten between refresh-token
//! grants (no password hashing), each scope checked with HEAD /token/{t}?scope=.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{self, s, Store, TestServer};

struct Fixture {
    srv: TestServer,
    admin: String,
    user_uuid: String,
    policy_uuid: String,
    refresh: String,
}

impl Fixture {
    async fn new(store: Store) -> Fixture {
        Fixture::from(common::start(store).await).await
    }

    async fn from(srv: TestServer) -> Fixture {
        let admin = srv.admin_token().await;
        let user = srv.create_user_as(&admin, "acl-user", Some("acl-pw")).await;
        let policy = srv.create_policy_as(&admin, "acl-policy", &[]).await;
        let user_uuid = s(&user["uuid"]);
        let policy_uuid = s(&policy["uuid"]);
        srv.attach_policy_as(&admin, &user_uuid, &policy_uuid).await;
        let login = srv
            .login_ok(
                "acl-user",
                "acl-pw",
                json!({"access_type": "offline", "client_id": "acl"}),
            )
            .await;
        let refresh = s(&login["refresh_token"]);
        Fixture {
            srv,
            admin,
            user_uuid,
            policy_uuid,
            refresh,
        }
    }

    /// Sets the policy's ACL, then mints a token through the refresh grant; returns its `data`.
    async fn token_with(&self, acl: &[&str]) -> Value {
        let reply = self
            .srv
            .call(
                Method::PUT,
                &format!("/policies/{}", self.policy_uuid),
                Some(&self.admin),
                Some(json!({"name": "acl-policy", "acl": acl})),
            )
            .await;
        assert_eq!(reply.status, 200, "policy update: {}", reply.text);
        let grant = self.srv.grant(&self.refresh, "acl").await;
        assert_eq!(grant.status, 200, "grant: {}", grant.text);
        let data = grant.data().clone();
        let expected: Vec<Value> = acl.iter().map(|entry| json!(entry)).collect();
        let actual = data["acl"].as_array().expect("acl").clone();
        assert!(
            actual.len() >= expected.len()
                && actual[actual.len() - expected.len()..] == expected[..],
            "token ACL {actual:?} must end with the policy's {expected:?}"
        );
        data
    }

    /// Asserts, for each `(scope, granted)`, HEAD /token/{t}?scope= answers 204 or 403.
    async fn expect(&self, data: &Value, cases: &[(&str, bool)]) {
        let token = s(&data["token"]);
        for (scope, granted) in cases {
            let status = self.srv.head_token(&token, Some(scope), None).await;
            let expected = if *granted { 204 } else { 403 };
            assert_eq!(status, expected, "ACL {} with scope {scope:?}", data["acl"]);
        }
    }
}

both_stores!(
    hash_matches_across_words_but_keeps_the_dot,
    star_matches_inside_one_word,
    me_matches_the_auth_id,
    negative_entry_wins,
    negative_wildcard_entry_wins,
    my_session_matches_the_session_uuid,
    edit_matches_update,
    matching_is_case_sensitive_and_whole,
    hash_alone_grants_everything,
    acl_is_fixed_when_the_token_is_created,
    default_user_policy_comes_first,
    every_policy_joins_in_attachment_order_on_both_grants,
    a_refresh_grant_mints_what_a_password_login_mints,
    empty_policies_anywhere_leave_no_gap,
    the_grant_follows_every_write_to_the_users_policies,
);

async fn hash_matches_across_words_but_keeps_the_dot(store: Store) {
    let f = Fixture::new(store).await;
    let data = f.token_with(&["foo.bar.#"]).await;
    f.expect(
        &data,
        &[
            ("foo.bar.toto", true),
            ("foo.bar.toto.tata", true),
            ("foo.bar.", true),
            ("foo.bar", false),
            ("other.bar.toto", false),
            ("foo.barx.toto", false),
            ("xfoo.bar.toto", false),
        ],
    )
    .await;
}

async fn star_matches_inside_one_word(store: Store) {
    let f = Fixture::new(store).await;
    let data = f.token_with(&["foo.*.*"]).await;
    f.expect(
        &data,
        &[
            ("foo.bar.toto", true),
            ("foo..toto", true),
            ("foo.bar.toto.tata", false),
            ("foo.bar", false),
        ],
    )
    .await;
    let data = f.token_with(&["foo.ba*.baz"]).await;
    f.expect(
        &data,
        &[
            ("foo.bar.baz", true),
            ("foo.ba.baz", true),
            ("foo.bar.x.baz", false),
            ("foo.xbar.baz", false),
        ],
    )
    .await;
}

async fn me_matches_the_auth_id(store: Store) {
    let f = Fixture::new(store).await;
    let data = f.token_with(&["foo.#.me"]).await;
    assert_eq!(data["auth_id"], json!(f.user_uuid));
    let mine = format!("foo.bar.{}", f.user_uuid);
    let other = format!("foo.bar.{}", uuid::Uuid::new_v4());
    f.expect(
        &data,
        &[
            (&mine, true),
            ("foo.bar.me", true),
            (&other, false),
            ("foo.bar.456", false),
            ("foo.*.456", false),
        ],
    )
    .await;
    let data = f.token_with(&["users.me.read"]).await;
    let mine = format!("users.{}.read", f.user_uuid);
    f.expect(&data, &[(&mine, true), ("users.me.read", true)])
        .await;
}

async fn negative_entry_wins(store: Store) {
    let f = Fixture::new(store).await;
    let data = f.token_with(&["foo.*.bar", "!foo.123.bar"]).await;
    f.expect(
        &data,
        &[
            ("foo.me.bar", true),
            ("foo.456.bar", true),
            ("foo.123.bar", false),
        ],
    )
    .await;
}

async fn negative_wildcard_entry_wins(store: Store) {
    let f = Fixture::new(store).await;
    let data = f.token_with(&["!*.bar", "foo.bar"]).await;
    f.expect(&data, &[("foo.bar", false)]).await;
    let data = f.token_with(&["foo.#", "!foo.secret.#"]).await;
    f.expect(
        &data,
        &[
            ("foo.public.read", true),
            ("foo.secret.read", false),
            ("foo.secret", true),
        ],
    )
    .await;
}

async fn my_session_matches_the_session_uuid(store: Store) {
    let f = Fixture::new(store).await;
    let data = f.token_with(&["sessions.my_session.delete"]).await;
    let mine = format!("sessions.{}.delete", s(&data["session_uuid"]));
    let other = format!("sessions.{}.delete", uuid::Uuid::new_v4());
    f.expect(
        &data,
        &[
            (&mine, true),
            ("sessions.my_session.delete", true),
            (&other, false),
        ],
    )
    .await;
}

async fn edit_matches_update(store: Store) {
    let f = Fixture::new(store).await;
    let data = f.token_with(&["confd.users.edit"]).await;
    f.expect(
        &data,
        &[
            ("confd.users.edit", true),
            ("confd.users.update", true),
            ("confd.users.delete", false),
        ],
    )
    .await;
}

async fn matching_is_case_sensitive_and_whole(store: Store) {
    let f = Fixture::new(store).await;
    let data = f.token_with(&["Foo.bar", "a.b"]).await;
    f.expect(
        &data,
        &[
            ("Foo.bar", true),
            ("foo.bar", false),
            ("FOO.BAR", false),
            ("a.b", true),
            ("a.b.c", false),
            ("a", false),
            ("x.a.b", false),
        ],
    )
    .await;
    let data = f.token_with(&[]).await;
    f.expect(&data, &[("a.b", false)]).await;
}

async fn hash_alone_grants_everything(store: Store) {
    let f = Fixture::new(store).await;
    let data = f.token_with(&["#"]).await;
    f.expect(
        &data,
        &[
            ("a", true),
            ("auth.users.create", true),
            ("x.y.z.w.v", true),
        ],
    )
    .await;
}

async fn acl_is_fixed_when_the_token_is_created(store: Store) {
    let f = Fixture::new(store).await;
    let old = f.token_with(&["first.acl"]).await;
    let new = f.token_with(&["second.acl"]).await;
    f.expect(&old, &[("first.acl", true), ("second.acl", false)])
        .await;
    f.expect(&new, &[("first.acl", false), ("second.acl", true)])
        .await;
    // Adding an entry later does not change existing tokens.
    let reply = f
        .srv
        .call(
            Method::PUT,
            &format!("/policies/{}/acl/third.acl", f.policy_uuid),
            Some(&f.admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    f.expect(&new, &[("third.acl", false)]).await;
    let latest = f.srv.grant(&f.refresh, "acl").await;
    f.expect(latest.data(), &[("third.acl", true)]).await;
}

/// The refresh grant reads the ACL with its refresh token (one row per policy): the same ACL as a
/// password login, the default policy first, then each policy in the order it was attached.
async fn every_policy_joins_in_attachment_order_on_both_grants(store: Store) {
    let srv = common::start_with(store, |cfg| {
        cfg.default_user_policy = Some("tessera-default".into())
    })
    .await;
    let admin = srv.admin_token().await;
    srv.create_policy_as(&admin, "tessera-default", &["default.one"])
        .await;
    let f = Fixture::from(srv).await;
    f.token_with(&["own.one"]).await;
    for (name, acl) in [
        ("later", &["later.one", "later.two"][..]),
        ("empty", &[][..]),
    ] {
        let policy = f.srv.create_policy_as(&f.admin, name, acl).await;
        f.srv
            .attach_policy_as(&f.admin, &f.user_uuid, &s(&policy["uuid"]))
            .await;
    }
    let expected = json!(["default.one", "own.one", "later.one", "later.two"]);
    let grant = f.srv.grant(&f.refresh, "acl").await;
    assert_eq!(grant.status, 200, "grant: {}", grant.text);
    assert_eq!(grant.data()["acl"], expected, "refresh grant");
    let login = f.srv.login_ok("acl-user", "acl-pw", json!({})).await;
    assert_eq!(login["acl"], expected, "password login");
}

async fn default_user_policy_comes_first(store: Store) {
    let srv = common::start_with(store, |cfg| {
        cfg.default_user_policy = Some("tessera-default".into())
    })
    .await;
    let admin = srv.admin_token().await;
    srv.create_policy_as(&admin, "tessera-default", &["default.one", "default.two"])
        .await;
    let f = Fixture::from(srv).await;
    let data = f.token_with(&["own.one"]).await;
    assert_eq!(
        data["acl"],
        json!(["default.one", "default.two", "own.one"]),
        "default policy first, then the user's policies"
    );
}

/// The refresh grant joins the stored ACLs as text: an empty one (the default policy's, the first,
/// one between two others) adds nothing, and all of them empty make an empty ACL.
async fn empty_policies_anywhere_leave_no_gap(store: Store) {
    let srv = common::start_with(store, |cfg| {
        cfg.default_user_policy = Some("tessera-default".into())
    })
    .await;
    let admin = srv.admin_token().await;
    srv.create_policy_as(&admin, "tessera-default", &[]).await;
    let f = Fixture::from(srv).await;
    let grant = f.srv.grant(&f.refresh, "acl").await;
    assert_eq!(grant.status, 200, "grant: {}", grant.text);
    assert_eq!(grant.data()["acl"], json!([]), "every ACL empty");
    for (name, acl) in [
        ("one", &["one.a"][..]),
        ("none", &[][..]),
        ("two", &["two.a", "two.b"][..]),
    ] {
        let policy = f.srv.create_policy_as(&f.admin, name, acl).await;
        f.srv
            .attach_policy_as(&f.admin, &f.user_uuid, &s(&policy["uuid"]))
            .await;
    }
    let grant = f.srv.grant(&f.refresh, "acl").await;
    assert_eq!(grant.status, 200, "grant: {}", grant.text);
    assert_eq!(grant.data()["acl"], json!(["one.a", "two.a", "two.b"]));
    let login = f.srv.login_ok("acl-user", "acl-pw", json!({})).await;
    assert_eq!(login["acl"], grant.data()["acl"], "password login");
}

/// The refresh grant writes its token in one statement that builds the ACL and the metadata in
/// SQL: the token is the one a password login mints, entries needing JSON escapes included,
/// as answered and as stored (read back by GET /token/{t}).
async fn a_refresh_grant_mints_what_a_password_login_mints(store: Store) {
    let srv = common::start_with(store, |cfg| {
        cfg.default_user_policy = Some("tessera-default".into())
    })
    .await;
    let admin = srv.admin_token().await;
    srv.create_policy_as(&admin, "tessera-default", &["default.\"quoted\".#"])
        .await;
    let f = Fixture::from(srv).await;
    f.token_with(&["back\\slash.*", "ünï.cödé.read", "!own.secret.#"])
        .await;
    let login = f.srv.login_ok("acl-user", "acl-pw", json!({})).await;
    let grant = f.srv.grant(&f.refresh, "acl").await;
    assert_eq!(grant.status, 200, "grant: {}", grant.text);
    let grant = grant.data().clone();
    for field in ["acl", "metadata", "auth_id", "xivo_uuid", "scope"] {
        assert_eq!(grant[field], login[field], "{field} of the grant's token");
    }
    assert_eq!(
        grant["acl"],
        json!([
            "default.\"quoted\".#",
            "back\\slash.*",
            "ünï.cödé.read",
            "!own.secret.#"
        ])
    );
    let stored = f
        .srv
        .call(
            Method::GET,
            &format!("/token/{}", s(&grant["token"])),
            Some(&f.admin),
            None,
        )
        .await;
    assert_eq!(stored.status, 200, "GET /token: {}", stored.text);
    for field in ["acl", "metadata", "session_uuid", "expires_at", "issued_at"] {
        assert_eq!(stored.data()[field], grant[field], "{field} as stored");
    }
}

/// The refresh grant copies the user's ACL kept joined in `users.acl` (migration 0010's
/// triggers): after each kind of write that changes a user's policies (an entry added and
/// removed, a policy attached, detached, rewritten, deleted, one shared with another user), the
/// grant's ACL is still the password login's, which joins the policies itself.
async fn the_grant_follows_every_write_to_the_users_policies(store: Store) {
    let f = Fixture::new(store).await;
    let other = f
        .srv
        .create_user_as(&f.admin, "acl-other", Some("acl-pw"))
        .await;
    let shared = f
        .srv
        .create_policy_as(&f.admin, "shared", &["shared.a"])
        .await;
    let shared = s(&shared["uuid"]);
    let later = f
        .srv
        .create_policy_as(&f.admin, "later", &["later.a"])
        .await;
    let later = s(&later["uuid"]);
    let other_uuid = s(&other["uuid"]);
    f.srv.attach_policy_as(&f.admin, &other_uuid, &shared).await;
    let check = |expected: Value, step: &'static str| {
        let f = &f;
        async move {
            let grant = f.srv.grant(&f.refresh, "acl").await;
            assert_eq!(grant.status, 200, "{step}: grant: {}", grant.text);
            assert_eq!(grant.data()["acl"], expected, "{step}: refresh grant");
            let login = f.srv.login_ok("acl-user", "acl-pw", json!({})).await;
            assert_eq!(login["acl"], expected, "{step}: password login");
        }
    };
    let edit = |method: Method, path: String, body: Option<Value>| {
        let f = &f;
        async move {
            let reply = f.srv.call(method, &path, Some(&f.admin), body).await;
            assert!(
                reply.status < 300,
                "{path}: {} {}",
                reply.status,
                reply.text
            );
        }
    };
    check(json!([]), "an empty policy").await;
    let own = &f.policy_uuid;
    edit(Method::PUT, format!("/policies/{own}/acl/own.a"), None).await;
    check(json!(["own.a"]), "an entry added").await;
    f.srv
        .attach_policy_as(&f.admin, &f.user_uuid, &shared)
        .await;
    f.srv.attach_policy_as(&f.admin, &f.user_uuid, &later).await;
    check(json!(["own.a", "shared.a", "later.a"]), "two attached").await;
    let body = json!({"name": "shared", "acl": ["shared.b", "shared.c"]});
    edit(Method::PUT, format!("/policies/{shared}"), Some(body)).await;
    check(
        json!(["own.a", "shared.b", "shared.c", "later.a"]),
        "rewritten",
    )
    .await;
    edit(Method::DELETE, format!("/policies/{own}/acl/own.a"), None).await;
    check(
        json!(["shared.b", "shared.c", "later.a"]),
        "an entry removed",
    )
    .await;
    let path = format!("/users/{}/policies/{shared}", f.user_uuid);
    edit(Method::DELETE, path, None).await;
    check(json!(["later.a"]), "detached").await;
    edit(Method::DELETE, format!("/policies/{later}"), None).await;
    check(json!([]), "deleted").await;
    // The other user still holds the shared policy as rewritten.
    let other_login = f
        .srv
        .login_ok(
            "acl-other",
            "acl-pw",
            json!({"access_type": "offline", "client_id": "acl"}),
        )
        .await;
    let grant = f.srv.grant(&s(&other_login["refresh_token"]), "acl").await;
    assert_eq!(
        grant.data()["acl"],
        json!(["shared.b", "shared.c"]),
        "the other user"
    );
}
