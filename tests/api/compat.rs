//! Wire compatibility with the original service's expectations (SPEC §1–§5):
//! 401 details, error ids, list parameters, `backend`, NUL bytes, malformed validation queries
//! and UUID token paths.

use reqwest::Method;
use serde_json::json;

use crate::both_stores;
use crate::common::{
    self, assert_api_error, assert_auth_failed, assert_token_error, s, Store, ADMIN_PASSWORD,
    ADMIN_USERNAME,
};

both_stores!(
    unauthorized_details_name_the_reason,
    an_escalation_refusal_is_unauthorized_naming_the_entry,
    bad_list_parameters_are_invalid_list_param,
    backend_must_be_a_string_when_present,
    a_refresh_grant_with_a_nul_byte_is_authentication_failed,
    a_malformed_scope_or_tenant_is_refused_never_ignored,
    token_paths_are_uuids_for_every_method,
);

async fn unauthorized_details_name_the_reason(store: Store) {
    let srv = common::start(store).await;
    let none = srv.call(Method::GET, "/users", None, None).await;
    assert_api_error(&none, 401, "no header");
    assert_eq!(
        none.body["details"]["invalid_token"],
        json!(""),
        "{}",
        none.text
    );
    assert_eq!(
        none.body["details"]["reason"],
        json!("not_found_or_expired")
    );

    let admin = srv.admin_token().await;
    srv.create_user_as(&admin, "plain", Some("plain-pw")).await;
    let token = srv.token_of("plain", "plain-pw").await;
    let missing = srv.get("/users", &token).await;
    assert_api_error(&missing, 401, "missing ACL");
    let details = &missing.body["details"];
    assert_eq!(
        details["reason"],
        json!("missing_permission_or_invalid_tenant")
    );
    assert_eq!(details["tenant_uuid"], json!(null));
    assert_eq!(details["invalid_token"], json!(token));
    assert_eq!(details["required_access"], json!("auth.users.read"));

    let other_tenant = uuid::Uuid::new_v4().to_string();
    let tenant = srv
        .send(
            srv.request(Method::GET, "/users")
                .header("X-Auth-Token", &admin)
                .header("Wazo-Tenant", &other_tenant),
        )
        .await;
    assert_api_error(&tenant, 401, "another tenant");
    assert_eq!(tenant.body["error_id"], json!("unauthorized"));
    assert_eq!(
        tenant.body["details"]["reason"],
        json!("missing_permission_or_invalid_tenant")
    );
    assert_eq!(tenant.body["details"]["tenant_uuid"], json!(other_tenant));
}

async fn an_escalation_refusal_is_unauthorized_naming_the_entry(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.user_with_acl(&admin, "maker", "maker-pw", &["auth.policies.create"])
        .await;
    let token = srv.token_of("maker", "maker-pw").await;
    let reply = srv
        .call(
            Method::POST,
            "/policies",
            Some(&token),
            Some(json!({"name": "wider", "acl": ["confd.#"]})),
        )
        .await;
    assert_api_error(&reply, 401, "escalation");
    assert_eq!(reply.body["error_id"], json!("unauthorized"));
    assert_eq!(reply.body["details"]["required_access"], json!("confd.#"));
}

async fn bad_list_parameters_are_invalid_list_param(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    for (param, value) in [
        ("limit", "-1"),
        ("limit", "many"),
        ("offset", "x"),
        ("order", "no_such_column"),
        ("direction", "sideways"),
    ] {
        for path in ["/users", "/policies", "/sessions", "/tokens"] {
            let reply = srv
                .send(
                    srv.request(Method::GET, path)
                        .header("X-Auth-Token", &admin)
                        .query(&[(param, value)]),
                )
                .await;
            let context = format!("{path}?{param}={value}");
            assert_api_error(&reply, 400, &context);
            assert_eq!(
                reply.body["error_id"],
                json!("invalid-list-param"),
                "{context}"
            );
            assert!(
                reply.body["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(param)),
                "{context}: the message names {param}: {}",
                reply.text
            );
        }
    }
}

async fn backend_must_be_a_string_when_present(store: Store) {
    let srv = common::start(store).await;
    for backend in [json!(null), json!(3), json!(["wazo_user"]), json!({})] {
        let reply = srv
            .login_reply(ADMIN_USERNAME, ADMIN_PASSWORD, json!({"backend": backend}))
            .await;
        assert_token_error(&reply, 400, &format!("backend {backend}"));
    }
    srv.login_ok(
        ADMIN_USERNAME,
        ADMIN_PASSWORD,
        json!({"backend": "wazo_user"}),
    )
    .await;
}

async fn a_refresh_grant_with_a_nul_byte_is_authentication_failed(store: Store) {
    let srv = common::start(store).await;
    let login = srv
        .login_ok(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"access_type": "offline", "client_id": "app"}),
        )
        .await;
    let refresh = s(&login["refresh_token"]);
    assert_auth_failed(&srv.grant(&refresh, "app\u{0}").await, "NUL in client_id");
    assert_auth_failed(&srv.grant("a\u{0}b", "app").await, "NUL in refresh_token");
    // An offline login cannot store such a client_id.
    let offline = srv
        .login_reply(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"access_type": "offline", "client_id": "a\u{0}b"}),
        )
        .await;
    assert_token_error(&offline, 400, "offline login with NUL client_id");
}

async fn a_malformed_scope_or_tenant_is_refused_never_ignored(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    assert_eq!(srv.head_token(&admin, None, None).await, 204);
    for (scope, tenant) in [
        (None, Some("\u{0}")),
        (None, Some("not-a-uuid")),
        (Some("a\u{0}b"), None),
        (Some("\u{0}"), None),
    ] {
        assert_eq!(
            srv.head_token(&admin, scope, tenant).await,
            403,
            "scope {scope:?} tenant {tenant:?}"
        );
        let mut query = Vec::new();
        query.extend(scope.map(|v| ("scope", v)));
        query.extend(tenant.map(|v| ("tenant", v)));
        let get = srv
            .send(
                srv.request(Method::GET, &format!("/token/{admin}"))
                    .query(&query),
            )
            .await;
        assert_token_error(&get, 403, &format!("GET scope {scope:?} tenant {tenant:?}"));
    }
}

async fn token_paths_are_uuids_for_every_method(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let upper = admin.to_uppercase();
    assert_eq!(srv.head_token(&upper, None, None).await, 204, "upper case");
    let got = srv
        .send(srv.request(Method::GET, &format!("/token/{upper}")))
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(
        got.data()["token"],
        json!(admin),
        "answered in canonical form"
    );

    let simple = admin.replace('-', "");
    let braced = format!("{{{admin}}}");
    let urn = format!("urn:uuid:{admin}");
    for path in ["not-a-uuid", simple.as_str(), braced.as_str(), urn.as_str()] {
        for method in [Method::HEAD, Method::GET, Method::DELETE] {
            let reply = srv
                .send(srv.request(method.clone(), &format!("/token/{path}")))
                .await;
            assert_eq!(reply.status, 404, "{method} /token/{path}");
            if method != Method::HEAD {
                assert_token_error(&reply, 404, &format!("{method} /token/{path}"));
            }
        }
        let check = srv
            .call(
                Method::POST,
                &format!("/token/{path}/scopes/check"),
                None,
                Some(json!({"scopes": ["a"]})),
            )
            .await;
        assert_token_error(&check, 404, &format!("scopes/check {path}"));
    }
    // None of those revoked the token.
    assert_eq!(srv.head_token(&admin, None, None).await, 204);
    // Revoking through the upper-case form revokes it.
    let revoked = srv
        .send(srv.request(Method::DELETE, &format!("/token/{upper}")))
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(srv.head_token(&admin, None, None).await, 404);
}
