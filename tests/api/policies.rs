//! Policies: CRUD, ACL entries, attaching to users, and no privilege escalation (SPEC §1, §4, §6).

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{self, assert_api_error, is_uuid, s, Reply, Store, TestServer};

fn assert_refused(reply: &Reply, context: &str) {
    assert!(
        (400..500).contains(&reply.status),
        "{context}: must be refused, got {} {}",
        reply.status,
        reply.text
    );
    assert!(reply.is_json, "{context}: JSON error: {}", reply.text);
}

both_stores!(
    create_policy_returns_every_field,
    get_list_update_delete_policy,
    unknown_or_malformed_policy_is_404,
    add_and_remove_acl_entries,
    attach_and_detach_policies_to_users,
    cannot_create_policy_with_more_than_own_acl,
    cannot_update_or_add_acl_beyond_own_acl,
    cannot_remove_entries_not_held,
    create_policy_rejects_bad_fields,
);

async fn create_policy_returns_every_field(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let reply = srv
        .call(
            Method::POST,
            "/policies",
            Some(&admin),
            Some(json!({"name": "Agents Policy", "description": "for agents", "acl": ["a.b", "c.#"]})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let policy = &reply.body;
    for field in [
        "uuid",
        "name",
        "slug",
        "description",
        "acl",
        "tenant_uuid",
        "read_only",
        "shared",
    ] {
        assert!(policy.get(field).is_some(), "{field} missing from {policy}");
    }
    assert!(is_uuid(&policy["uuid"]));
    assert_eq!(policy["name"], json!("Agents Policy"));
    assert_eq!(policy["description"], json!("for agents"));
    assert_eq!(policy["acl"], json!(["a.b", "c.#"]));
    assert!(policy["slug"].is_string(), "slug: {policy}");
    assert!(is_uuid(&policy["tenant_uuid"]));
    assert_eq!(policy["read_only"], json!(false));
    assert!(policy["shared"].is_boolean());
}

async fn get_list_update_delete_policy(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let policy = srv.create_policy_as(&admin, "crud-policy", &["x.y"]).await;
    let uuid = s(&policy["uuid"]);
    let got = srv.get(&format!("/policies/{uuid}"), &admin).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body, policy, "GET answers what POST answered");
    let list = srv.get("/policies?search=crud-policy", &admin).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["filtered"], json!(1));
    assert_eq!(list.body["items"][0]["uuid"], json!(uuid));
    let updated = srv
        .call(
            Method::PUT,
            &format!("/policies/{uuid}"),
            Some(&admin),
            Some(json!({"name": "crud-renamed", "description": "d", "acl": ["p.q", "r.s"]})),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.body["name"], json!("crud-renamed"));
    assert_eq!(updated.body["acl"], json!(["p.q", "r.s"]));
    assert_eq!(srv.policy_acl(&admin, &uuid).await, json!(["p.q", "r.s"]));
    let deleted = srv
        .call(
            Method::DELETE,
            &format!("/policies/{uuid}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let gone = srv.get(&format!("/policies/{uuid}"), &admin).await;
    assert_api_error(&gone, 404, "deleted policy");
}

async fn unknown_or_malformed_policy_is_404(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let unknown = uuid::Uuid::new_v4();
    for (method, path) in [
        (Method::GET, format!("/policies/{unknown}")),
        (Method::DELETE, format!("/policies/{unknown}")),
        (Method::PUT, format!("/policies/{unknown}/acl/a.b")),
        (Method::DELETE, format!("/policies/{unknown}/acl/a.b")),
        (Method::GET, "/policies/not-a-uuid".to_string()),
        (Method::DELETE, "/policies/12345".to_string()),
    ] {
        let reply = srv.call(method.clone(), &path, Some(&admin), None).await;
        assert_api_error(&reply, 404, &format!("{method} {path}"));
    }
    let put = srv
        .call(
            Method::PUT,
            &format!("/policies/{unknown}"),
            Some(&admin),
            Some(json!({"name": "n", "acl": []})),
        )
        .await;
    assert_api_error(&put, 404, "PUT unknown policy");
}

async fn add_and_remove_acl_entries(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let policy = srv.create_policy_as(&admin, "entries", &["a.b"]).await;
    let uuid = s(&policy["uuid"]);
    let add = srv
        .call(
            Method::PUT,
            &format!("/policies/{uuid}/acl/c.d.*"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(add.status, 204, "{}", add.text);
    assert_eq!(srv.policy_acl(&admin, &uuid).await, json!(["a.b", "c.d.*"]));
    let hash = srv
        .call(
            Method::PUT,
            &format!("/policies/{uuid}/acl/e.%23"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(hash.status, 204, "encoded # entry: {}", hash.text);
    let remove = srv
        .call(
            Method::DELETE,
            &format!("/policies/{uuid}/acl/a.b"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(remove.status, 204, "{}", remove.text);
    assert_eq!(srv.policy_acl(&admin, &uuid).await, json!(["c.d.*", "e.#"]));
}

async fn attach_and_detach_policies_to_users(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv.create_user_as(&admin, "fay", None).await;
    let user_uuid = s(&user["uuid"]);
    let policy = srv.create_policy_as(&admin, "attached", &["a.b"]).await;
    let policy_uuid = s(&policy["uuid"]);
    let path = format!("/users/{user_uuid}/policies");
    let empty = srv.get(&path, &admin).await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(empty.body["total"], json!(0));
    srv.attach_policy_as(&admin, &user_uuid, &policy_uuid).await;
    let listed = srv.get(&path, &admin).await;
    assert_eq!(listed.body["total"], json!(1), "{}", listed.text);
    assert_eq!(listed.body["items"][0]["uuid"], json!(policy_uuid));
    assert_eq!(listed.body["items"][0]["name"], json!("attached"));
    let detach = srv
        .call(
            Method::DELETE,
            &format!("{path}/{policy_uuid}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(detach.status, 204, "{}", detach.text);
    assert_eq!(srv.get(&path, &admin).await.body["total"], json!(0));
    let unknown_policy = srv
        .call(
            Method::PUT,
            &format!("{path}/{}", uuid::Uuid::new_v4()),
            Some(&admin),
            None,
        )
        .await;
    assert_api_error(&unknown_policy, 404, "attach an unknown policy");
    let unknown_user = srv
        .call(
            Method::PUT,
            &format!("/users/{}/policies/{policy_uuid}", uuid::Uuid::new_v4()),
            Some(&admin),
            None,
        )
        .await;
    assert_api_error(&unknown_user, 404, "attach to an unknown user");
    assert_eq!(unknown_user.body["error_id"], json!("unknown-user"));
    let unknown_list = srv
        .get(&format!("/users/{}/policies", uuid::Uuid::new_v4()), &admin)
        .await;
    assert_api_error(&unknown_list, 404, "policies of an unknown user");
    assert_eq!(unknown_list.body["error_id"], json!("unknown-user"));
}

async fn filtered(srv: &TestServer, admin: &str, name: &str) -> Value {
    srv.get(&format!("/policies?search={name}"), admin)
        .await
        .body["filtered"]
        .clone()
}

async fn cannot_create_policy_with_more_than_own_acl(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let (_, token) = srv
        .caller(&admin, "limited", &["auth.policies.create", "foo.*"])
        .await;
    for (name, acl) in [
        ("escalate-hash", json!(["#"])),
        ("escalate-other", json!(["bar.baz"])),
        ("escalate-mixed", json!(["foo.x", "auth.users.create"])),
        ("escalate-deeper", json!(["foo.x.y"])),
    ] {
        let reply = srv
            .call(
                Method::POST,
                "/policies",
                Some(&token),
                Some(json!({"name": name, "acl": acl})),
            )
            .await;
        assert_refused(&reply, &format!("create {name} with {acl}"));
        assert_eq!(
            filtered(&srv, &admin, name).await,
            json!(0),
            "{name} must not exist"
        );
    }
    let reply = srv
        .call(
            Method::POST,
            "/policies",
            Some(&token),
            Some(json!({"name": "within-means", "acl": ["foo.x", "auth.policies.create"]})),
        )
        .await;
    assert_eq!(reply.status, 200, "entries it holds: {}", reply.text);
}

async fn cannot_update_or_add_acl_beyond_own_acl(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let (_, token) = srv
        .caller(&admin, "limited", &["auth.policies.*.update", "foo.bar"])
        .await;
    let policy = srv.create_policy_as(&admin, "target", &["foo.bar"]).await;
    let uuid = s(&policy["uuid"]);
    let put = srv
        .call(
            Method::PUT,
            &format!("/policies/{uuid}"),
            Some(&token),
            Some(json!({"name": "target", "acl": ["foo.bar", "#"]})),
        )
        .await;
    assert_refused(&put, "update with #");
    let add = srv
        .call(
            Method::PUT,
            &format!("/policies/{uuid}/acl/foo.baz"),
            Some(&token),
            None,
        )
        .await;
    assert_refused(&add, "add foo.baz");
    assert_eq!(srv.policy_acl(&admin, &uuid).await, json!(["foo.bar"]));
    let ok = srv
        .call(
            Method::PUT,
            &format!("/policies/{uuid}"),
            Some(&token),
            Some(json!({"name": "target", "acl": []})),
        )
        .await;
    assert_eq!(ok.status, 200, "update within means: {}", ok.text);
    let add_held = srv
        .call(
            Method::PUT,
            &format!("/policies/{uuid}/acl/foo.bar"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        add_held.status, 204,
        "add an entry it holds: {}",
        add_held.text
    );
    assert_eq!(srv.policy_acl(&admin, &uuid).await, json!(["foo.bar"]));
}

async fn cannot_remove_entries_not_held(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let (_, token) = srv
        .caller(&admin, "limited", &["auth.policies.*.update", "foo.bar"])
        .await;
    let policy = srv
        .create_policy_as(&admin, "target", &["foo.bar", "secret.thing"])
        .await;
    let uuid = s(&policy["uuid"]);
    let remove = srv
        .call(
            Method::DELETE,
            &format!("/policies/{uuid}/acl/secret.thing"),
            Some(&token),
            None,
        )
        .await;
    assert_refused(&remove, "remove an entry not held");
    assert_eq!(
        srv.policy_acl(&admin, &uuid).await,
        json!(["foo.bar", "secret.thing"])
    );
    let remove_held = srv
        .call(
            Method::DELETE,
            &format!("/policies/{uuid}/acl/foo.bar"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(remove_held.status, 204, "{}", remove_held.text);
    assert_eq!(srv.policy_acl(&admin, &uuid).await, json!(["secret.thing"]));
}

async fn create_policy_rejects_bad_fields(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    for body in [
        json!({"acl": ["a"]}),
        json!({"name": 5, "acl": []}),
        json!({"name": "p", "acl": "a.b"}),
        json!({"name": "p", "acl": [1]}),
        json!({"name": "p", "acl": [null]}),
        json!({"name": "p", "description": 7}),
        json!([]),
    ] {
        let reply = srv
            .call(Method::POST, "/policies", Some(&admin), Some(body.clone()))
            .await;
        assert_api_error(&reply, 400, &format!("body {body}"));
    }
}

both_stores!(
    deleting_a_policy_needs_every_entry_held,
    adding_a_negative_entry_needs_what_it_denies,
    empty_or_control_entries_are_refused,
    the_default_policy_keeps_its_name,
    renaming_into_the_default_policy_needs_its_entries,
    creating_the_default_policy_needs_the_right_to_attach_to_anyone,
);

/// The uuid of the first policy `user_uuid` holds.
async fn first_policy_of(srv: &TestServer, admin: &str, user_uuid: &str) -> String {
    let policies = srv
        .get(&format!("/users/{user_uuid}/policies"), admin)
        .await;
    s(&policies.body["items"][0]["uuid"])
}

async fn deleting_a_policy_needs_every_entry_held(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    // A user restricted by a negative entry, allowed to delete policies.
    let user = srv
        .user_with_acl(
            &admin,
            "restricted",
            "restricted-pw",
            &["confd.#", "auth.policies.*.delete"],
        )
        .await;
    let denial = srv
        .create_policy_as(&admin, "denial", &["!confd.secret.#"])
        .await;
    let denial_uuid = s(&denial["uuid"]);
    srv.attach_policy_as(&admin, &s(&user["uuid"]), &denial_uuid)
        .await;
    let token = srv.token_of("restricted", "restricted-pw").await;
    assert_eq!(
        srv.head_token(&token, Some("confd.secret.x"), None).await,
        403
    );
    let deleted = srv
        .call(
            Method::DELETE,
            &format!("/policies/{denial_uuid}"),
            Some(&token),
            None,
        )
        .await;
    common::assert_unauthorized(&deleted, "delete the policy restricting the caller");
    assert_eq!(
        deleted.body["details"]["required_access"],
        json!("!confd.secret.#")
    );
    assert_eq!(
        srv.policy_acl(&admin, &denial_uuid).await,
        json!(["!confd.secret.#"])
    );
    let again = srv.token_of("restricted", "restricted-pw").await;
    assert_eq!(
        srv.head_token(&again, Some("confd.secret.x"), None).await,
        403
    );

    // A policy granting what the caller lacks is not the caller's to take away either.
    let everything = srv.create_policy_as(&admin, "everything", &["#"]).await;
    let everything_uuid = s(&everything["uuid"]);
    let deleted = srv
        .call(
            Method::DELETE,
            &format!("/policies/{everything_uuid}"),
            Some(&token),
            None,
        )
        .await;
    common::assert_unauthorized(&deleted, "delete a policy granting #");
    assert_eq!(
        srv.get(&format!("/policies/{everything_uuid}"), &admin)
            .await
            .status,
        200
    );
    // Nor the bootstrap policy, which is read-only besides.
    let bootstrap = first_policy_of(
        &srv,
        &admin,
        &s(&srv
            .login_ok(common::ADMIN_USERNAME, common::ADMIN_PASSWORD, json!({}))
            .await["auth_id"]),
    )
    .await;
    let deleted = srv
        .call(
            Method::DELETE,
            &format!("/policies/{bootstrap}"),
            Some(&token),
            None,
        )
        .await;
    assert_api_error(&deleted, 403, "delete the bootstrap policy");
    // What the caller holds, it may delete; the administrator deletes the rest.
    let held = srv
        .create_policy_as(&admin, "held", &["confd.users.read"])
        .await;
    let deleted = srv
        .call(
            Method::DELETE,
            &format!("/policies/{}", s(&held["uuid"])),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let deleted = srv
        .call(
            Method::DELETE,
            &format!("/policies/{denial_uuid}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
}

async fn adding_a_negative_entry_needs_what_it_denies(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let (_, token) = srv
        .caller(
            &admin,
            "limited",
            &["auth.policies.#", "auth.users.#", "foo.#"],
        )
        .await;
    let created = srv
        .call(
            Method::POST,
            "/policies",
            Some(&token),
            Some(json!({"name": "lockout", "acl": ["!#"]})),
        )
        .await;
    common::assert_unauthorized(&created, "create a policy denying #");
    assert_eq!(created.body["details"]["required_access"], json!("!#"));
    assert_eq!(filtered(&srv, &admin, "lockout").await, json!(0));

    let target = srv.create_policy_as(&admin, "target", &["foo.bar"]).await;
    let uuid = s(&target["uuid"]);
    let replaced = srv
        .call(
            Method::PUT,
            &format!("/policies/{uuid}"),
            Some(&token),
            Some(json!({"name": "target", "acl": ["foo.bar", "!bar.secret"]})),
        )
        .await;
    common::assert_unauthorized(&replaced, "replace with a negative entry not held");
    let added = srv
        .call(
            Method::PUT,
            &format!("/policies/{uuid}/acl/!%23"),
            Some(&token),
            None,
        )
        .await;
    common::assert_unauthorized(&added, "add !#");
    assert_eq!(srv.policy_acl(&admin, &uuid).await, json!(["foo.bar"]));

    // Attaching a policy with `!x` takes `x` from the user: it needs `x` too.
    let user = srv.create_user_as(&admin, "victim", None).await;
    let negative = srv
        .create_policy_as(&admin, "negative", &["!bar.secret"])
        .await;
    let attached = srv
        .call(
            Method::PUT,
            &format!(
                "/users/{}/policies/{}",
                s(&user["uuid"]),
                s(&negative["uuid"])
            ),
            Some(&token),
            None,
        )
        .await;
    common::assert_unauthorized(&attached, "attach a policy denying bar.secret");
    assert_eq!(
        srv.get(&format!("/users/{}/policies", s(&user["uuid"])), &admin)
            .await
            .body["total"],
        json!(0)
    );

    // A negative of what the caller holds is fine, on every path.
    let added = srv
        .call(
            Method::PUT,
            &format!("/policies/{uuid}/acl/!foo.secret"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(added.status, 204, "{}", added.text);
    let replaced = srv
        .call(
            Method::PUT,
            &format!("/policies/{uuid}"),
            Some(&token),
            Some(json!({"name": "target", "acl": ["foo.bar", "!foo.secret", "!foo.other"]})),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    let own_negative = srv
        .call(
            Method::POST,
            "/policies",
            Some(&token),
            Some(json!({"name": "own-negative", "acl": ["!foo.x"]})),
        )
        .await;
    assert_eq!(own_negative.status, 200, "{}", own_negative.text);
    srv.attach_policy_as(&token, &s(&user["uuid"]), &s(&own_negative.body["uuid"]))
        .await;
}

async fn empty_or_control_entries_are_refused(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    for bad in ["", "!", "a\u{1}b", "a.b\n", "!x\u{7f}", "\u{85}x"] {
        let created = srv
            .call(
                Method::POST,
                "/policies",
                Some(&admin),
                Some(json!({"name": "bad", "acl": ["ok.entry", bad]})),
            )
            .await;
        assert_api_error(&created, 400, &format!("create with {bad:?}"));
        assert_eq!(created.body["error_id"], json!("invalid-data"));
        assert!(
            created.body["details"]["acl"].is_object(),
            "{}",
            created.text
        );
    }
    assert_eq!(filtered(&srv, &admin, "bad").await, json!(0));
    let policy = srv.create_policy_as(&admin, "clean", &["a.b"]).await;
    let uuid = s(&policy["uuid"]);
    for bad in ["", "a\tb", "a\u{1b}[2Kb"] {
        let replaced = srv
            .call(
                Method::PUT,
                &format!("/policies/{uuid}"),
                Some(&admin),
                Some(json!({"name": "clean", "acl": [bad]})),
            )
            .await;
        assert_api_error(&replaced, 400, &format!("replace with {bad:?}"));
    }
    for bad in ["!", "a%01b", "a%0Ab", "!%7F"] {
        let added = srv
            .call(
                Method::PUT,
                &format!("/policies/{uuid}/acl/{bad}"),
                Some(&admin),
                None,
            )
            .await;
        assert_api_error(&added, 400, &format!("add {bad}"));
    }
    assert_eq!(srv.policy_acl(&admin, &uuid).await, json!(["a.b"]));
}

async fn the_default_policy_keeps_its_name(store: Store) {
    let srv = common::start_with(store, |c| c.default_user_policy = Some("defaults".into())).await;
    let admin = srv.admin_token().await;
    let defaults = srv.create_policy_as(&admin, "defaults", &["x.y"]).await;
    let uuid = s(&defaults["uuid"]);
    let renamed = srv
        .call(
            Method::PUT,
            &format!("/policies/{uuid}"),
            Some(&admin),
            Some(json!({"name": "elsewhere", "acl": ["x.y"]})),
        )
        .await;
    assert_api_error(&renamed, 409, "rename the default policy");
    assert_eq!(renamed.body["error_id"], json!("policy-in-use"));
    assert_eq!(renamed.body["resource"], json!("policies"));
    let deleted = srv
        .call(
            Method::DELETE,
            &format!("/policies/{uuid}"),
            Some(&admin),
            None,
        )
        .await;
    assert_api_error(&deleted, 409, "delete the default policy");
    assert_eq!(deleted.body["error_id"], json!("policy-in-use"));
    // Its ACL and description stay editable.
    let edited = srv
        .call(
            Method::PUT,
            &format!("/policies/{uuid}"),
            Some(&admin),
            Some(json!({"name": "defaults", "description": "d", "acl": ["x.y", "z.w"]})),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    let user = srv.create_user_as(&admin, "plain", Some("plain-pw")).await;
    let token = srv.login_ok("plain", "plain-pw", json!({})).await;
    assert_eq!(token["acl"], json!(["x.y", "z.w"]), "{}", user);
}

async fn renaming_into_the_default_policy_needs_its_entries(store: Store) {
    let srv = common::start_with(store, |c| c.default_user_policy = Some("defaults".into())).await;
    let admin = srv.admin_token().await;
    let (_, token) = srv.caller(&admin, "limited", &["auth.policies.#"]).await;
    let candidate = srv
        .create_policy_as(&admin, "candidate", &["secret.x"])
        .await;
    let path = format!("/policies/{}", s(&candidate["uuid"]));
    let body = json!({"name": "defaults", "acl": ["secret.x"]});
    let renamed = srv
        .call(Method::PUT, &path, Some(&token), Some(body.clone()))
        .await;
    common::assert_unauthorized(&renamed, "hand secret.x to every user");
    assert_eq!(
        renamed.body["details"]["required_access"],
        json!("secret.x")
    );
    let renamed = srv.call(Method::PUT, &path, Some(&admin), Some(body)).await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
}

/// While the policy `default_user_policy` names does not exist, creating it (or renaming
/// another into it, in any case) hands its entries to every user's tokens, negative ones
/// included: it needs the right to attach any policy to any user.
async fn creating_the_default_policy_needs_the_right_to_attach_to_anyone(store: Store) {
    let srv = common::start_with(store, |c| c.default_user_policy = Some("defaults".into())).await;
    let admin = srv.admin_token().await;
    let (_, token) = srv
        .caller(&admin, "limited", &["auth.policies.#", "x.#"])
        .await;
    for name in ["defaults", "DEFAULTS"] {
        let created = srv
            .call(
                Method::POST,
                "/policies",
                Some(&token),
                Some(json!({"name": name, "acl": ["!x.secret"]})),
            )
            .await;
        common::assert_unauthorized(&created, "hand !x.secret to every user");
        assert_eq!(
            created.body["details"]["required_access"],
            json!("auth.users.*.policies.*.create")
        );
    }
    let other = srv.create_policy_as(&token, "other", &["x.y"]).await;
    let renamed = srv
        .call(
            Method::PUT,
            &format!("/policies/{}", s(&other["uuid"])),
            Some(&token),
            Some(json!({"name": "defaults", "acl": ["x.y"]})),
        )
        .await;
    common::assert_unauthorized(&renamed, "rename into the default policy");
    srv.create_policy_as(&admin, "defaults", &["x.y"]).await;
}
