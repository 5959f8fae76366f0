//! POST /token: prefixes, response shape, times, expiration and body rules, Basic parsing, logins,
//! failures, field combinations and the concurrent-session limit (SPEC §1, §2).

use reqwest::header::HeaderValue;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{
    self, assert_auth_failed, assert_token_error, basic, is_uuid, parse_time, s, Reply, Store,
    TestServer, ADMIN_PASSWORD, ADMIN_USERNAME,
};

/// POST /token with raw Authorization, optional Content-Type and raw body.
async fn post_raw(
    srv: &TestServer,
    authorization: Option<&str>,
    content_type: Option<&str>,
    body: Option<&'static str>,
) -> Reply {
    let mut builder = srv.request(Method::POST, "/token");
    if let Some(authorization) = authorization {
        builder = builder.header("Authorization", authorization);
    }
    if let Some(content_type) = content_type {
        builder = builder.header("Content-Type", content_type);
    }
    if let Some(body) = body {
        builder = builder.body(body);
    }
    srv.send(builder).await
}

fn seconds_between(data: &Value, from: &str, to: &str) -> i64 {
    let start = parse_time(&data[from], from);
    let end = parse_time(&data[to], to);
    let delta = end - start;
    assert_eq!(
        delta.subsec_nanos(),
        0,
        "{to} - {from} must be whole seconds: {} / {}",
        data[from],
        data[to]
    );
    delta.num_seconds()
}

fn admin_basic() -> String {
    basic(ADMIN_USERNAME, ADMIN_PASSWORD)
}

both_stores!(
    login_works_under_both_prefixes,
    login_answers_200_with_every_field_and_sessions_revoked_zero,
    login_of_user_purpose_sets_xivo_user_uuid,
    times_have_microseconds_and_default_expiration_is_7200,
    default_expiration_and_xivo_uuid_come_from_config,
    expiration_numeric_string_and_whole_float_are_accepted,
    expiration_out_of_range_or_wrong_type_is_400,
    expiration_of_ten_years_is_accepted,
    body_null_empty_object_and_empty_array_are_empty_objects,
    missing_empty_or_unparsable_body_is_400,
    unknown_keys_and_backend_are_ignored,
    body_is_parsed_for_every_accepted_content_type,
    basic_prefix_must_be_exact,
    basic_password_may_contain_colons,
    basic_with_empty_half_or_no_colon_is_401,
    malformed_base64_is_401,
    latin1_credentials_fall_back,
    login_by_username_or_confirmed_email_case_insensitively,
    login_is_case_insensitive_beyond_ascii,
    client_id_length_counts_characters_not_bytes,
    disabled_user_and_user_without_password_cannot_login,
    every_authentication_failure_is_the_same_401,
    tenant_id_with_domain_name_is_400,
    access_type_and_client_id_combinations,
    concurrent_session_limit_gives_429_for_users,
    concurrent_session_limit_applies_to_external_api_not_internal,
    remote_addr_ignores_forwarded_for_without_proxies,
    remote_addr_uses_forwarded_for_with_one_proxy,
);

async fn login_works_under_both_prefixes(store: Store) {
    let srv = common::start(store).await;
    for prefix in ["/0.1", "/api/auth/0.1"] {
        let reply = srv
            .send(
                srv.client
                    .post(srv.raw_url(&format!("{prefix}/token")))
                    .header("Authorization", admin_basic())
                    .json(&json!({})),
            )
            .await;
        assert_eq!(reply.status, 200, "login under {prefix}: {}", reply.text);
        let token = s(&reply.data()["token"]);
        let head = srv
            .client
            .head(srv.raw_url(&format!("{prefix}/token/{token}")))
            .send()
            .await
            .expect("request");
        assert_eq!(head.status(), 204, "validation under {prefix}");
    }
}

async fn login_answers_200_with_every_field_and_sessions_revoked_zero(store: Store) {
    let srv = common::start(store).await;
    let reply = srv
        .send(
            srv.request(Method::POST, "/token")
                .header("Authorization", admin_basic())
                .header("User-Agent", "tessera-tests/1.0")
                .json(&json!({})),
        )
        .await;
    assert_eq!(reply.status, 200, "login (not 201): {}", reply.text);
    assert_eq!(
        reply.header("Wazo-Sessions-Revoked"),
        Some("0"),
        "Wazo-Sessions-Revoked header"
    );
    let data = reply.data();
    for field in [
        "token",
        "auth_id",
        "xivo_user_uuid",
        "xivo_uuid",
        "issued_at",
        "expires_at",
        "utc_issued_at",
        "utc_expires_at",
        "acl",
        "metadata",
        "session_uuid",
        "remote_addr",
        "user_agent",
    ] {
        assert!(
            data.get(field).is_some(),
            "field {field} missing from {data}"
        );
    }
    assert!(
        data.get("refresh_token").is_none(),
        "online login has no refresh_token: {data}"
    );
    assert!(is_uuid(&data["token"]), "token is a uuid: {data}");
    assert!(is_uuid(&data["auth_id"]), "auth_id is a uuid: {data}");
    assert!(is_uuid(&data["session_uuid"]), "session_uuid: {data}");
    assert_ne!(data["token"], data["session_uuid"]);
    assert_eq!(data["xivo_user_uuid"], Value::Null, "internal user");
    assert_eq!(data["xivo_uuid"], Value::Null, "no xivo_uuid configured");
    assert_eq!(data["acl"], json!(["#"]), "bootstrap admin ACL");
    assert_eq!(data["remote_addr"], json!("127.0.0.1"));
    assert_eq!(data["user_agent"], json!("tessera-tests/1.0"));
    let metadata = &data["metadata"];
    for field in [
        "uuid",
        "tenant_uuid",
        "auth_id",
        "pbx_user_uuid",
        "xivo_uuid",
        "purpose",
    ] {
        assert!(
            metadata.get(field).is_some(),
            "metadata.{field} missing from {metadata}"
        );
    }
    assert_eq!(metadata["uuid"], data["auth_id"]);
    assert_eq!(metadata["auth_id"], data["auth_id"]);
    assert_eq!(metadata["purpose"], json!("internal"));
    assert!(is_uuid(&metadata["tenant_uuid"]), "tenant_uuid: {metadata}");
    assert_eq!(metadata["xivo_uuid"], Value::Null);
}

async fn login_of_user_purpose_sets_xivo_user_uuid(store: Store) {
    let srv = common::start(store).await;
    let user = srv.create_user("alice", "alice-pw").await;
    let data = srv.login_ok("alice", "alice-pw", json!({})).await;
    assert_eq!(data["auth_id"], user["uuid"]);
    assert_eq!(data["xivo_user_uuid"], user["uuid"], "purpose user");
    assert_eq!(data["metadata"]["uuid"], user["uuid"]);
    assert_eq!(data["metadata"]["purpose"], json!("user"));
    assert_eq!(data["metadata"]["tenant_uuid"], user["tenant_uuid"]);
    assert!(
        data["metadata"]["pbx_user_uuid"] == user["uuid"]
            || data["metadata"]["pbx_user_uuid"].is_null(),
        "pbx_user_uuid: {}",
        data["metadata"]
    );
    assert_eq!(data["acl"], json!([]), "user without policies");
}

async fn times_have_microseconds_and_default_expiration_is_7200(store: Store) {
    let srv = common::start(store).await;
    let before = chrono::Utc::now().naive_utc();
    let data = srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
        .await;
    let after = chrono::Utc::now().naive_utc();
    for field in ["issued_at", "expires_at", "utc_issued_at", "utc_expires_at"] {
        parse_time(&data[field], field);
    }
    assert_eq!(
        seconds_between(&data, "utc_issued_at", "utc_expires_at"),
        7200,
        "default expiration"
    );
    let issued = parse_time(&data["utc_issued_at"], "utc_issued_at");
    assert!(
        issued >= before - chrono::Duration::seconds(2)
            && issued <= after + chrono::Duration::seconds(2),
        "utc_issued_at {issued} is not now ({before}..{after})"
    );
}

async fn default_expiration_and_xivo_uuid_come_from_config(store: Store) {
    let xivo = "3b5c9a52-4c4f-4c70-9a33-8d3c2b1e0f11";
    let srv = common::start_with(store, |cfg| {
        cfg.default_token_lifetime = 123;
        cfg.xivo_uuid = Some(xivo.into());
    })
    .await;
    let data = srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
        .await;
    assert_eq!(
        seconds_between(&data, "utc_issued_at", "utc_expires_at"),
        123
    );
    assert_eq!(seconds_between(&data, "issued_at", "expires_at"), 123);
    assert_eq!(data["xivo_uuid"], json!(xivo));
    assert_eq!(data["metadata"]["xivo_uuid"], json!(xivo));
}

async fn expiration_numeric_string_and_whole_float_are_accepted(store: Store) {
    let srv = common::start(store).await;
    for (expiration, seconds) in [
        (json!(60), 60),
        (json!("90"), 90),
        (json!(120.0), 120),
        (json!(1), 1),
    ] {
        let reply = srv
            .login_reply(
                ADMIN_USERNAME,
                ADMIN_PASSWORD,
                json!({ "expiration": expiration }),
            )
            .await;
        assert_eq!(reply.status, 200, "expiration {expiration}: {}", reply.text);
        let data = reply.data();
        assert_eq!(
            seconds_between(data, "utc_issued_at", "utc_expires_at"),
            seconds,
            "utc times for expiration {expiration}"
        );
        assert_eq!(
            seconds_between(data, "issued_at", "expires_at"),
            seconds,
            "local times for expiration {expiration}"
        );
    }
}

async fn expiration_out_of_range_or_wrong_type_is_400(store: Store) {
    let srv = common::start(store).await;
    for expiration in [
        json!(0),
        json!(-1),
        json!(-7200),
        json!(315_360_001),
        json!(99_999_999_999_999_u64),
        json!(true),
        json!(false),
        json!(null),
        json!(0.0),
        json!(-0.5),
        json!(1e10),
        json!("315360001"),
        json!("-5"),
        json!(1.5),
        json!(59.999),
        json!("abc"),
        json!(""),
        json!("0"),
        json!([60]),
        json!({"seconds": 60}),
    ] {
        let reply = srv
            .login_reply(
                ADMIN_USERNAME,
                ADMIN_PASSWORD,
                json!({ "expiration": expiration }),
            )
            .await;
        assert_token_error(&reply, 400, &format!("expiration {expiration}"));
    }
}

async fn expiration_of_ten_years_is_accepted(store: Store) {
    let srv = common::start(store).await;
    let reply = srv
        .login_reply(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"expiration": 315_360_000}),
        )
        .await;
    assert_eq!(reply.status, 200, "ten years: {}", reply.text);
    let data = reply.data().clone();
    assert_eq!(
        seconds_between(&data, "utc_issued_at", "utc_expires_at"),
        315_360_000
    );
    let token = s(&data["token"]);
    assert_eq!(
        srv.head_token(&token, None, None).await,
        204,
        "a token expiring after 2038 is valid"
    );
    let described = srv
        .send(srv.request(Method::GET, &format!("/token/{token}")))
        .await;
    assert_eq!(
        described.data()["utc_expires_at"],
        data["utc_expires_at"],
        "64-bit epoch round-trip"
    );
}

async fn body_null_empty_object_and_empty_array_are_empty_objects(store: Store) {
    let srv = common::start(store).await;
    for body in ["null", "{}", "[]"] {
        let reply = post_raw(
            &srv,
            Some(&admin_basic()),
            Some("application/json"),
            Some(body),
        )
        .await;
        assert_eq!(reply.status, 200, "body {body}: {}", reply.text);
    }
}

async fn missing_empty_or_unparsable_body_is_400(store: Store) {
    let srv = common::start(store).await;
    let auth = admin_basic();
    let missing = post_raw(&srv, Some(&auth), None, None).await;
    assert_token_error(&missing, 400, "missing body");
    let missing_json = post_raw(&srv, Some(&auth), Some("application/json"), None).await;
    assert_token_error(&missing_json, 400, "missing body with JSON content-type");
    for body in ["", "{", "not json", "{\"expiration\": }", "[1,", "\"\""] {
        let reply = post_raw(&srv, Some(&auth), Some("application/json"), Some(body)).await;
        assert_token_error(&reply, 400, &format!("body {body:?}"));
    }
}

async fn unknown_keys_and_backend_are_ignored(store: Store) {
    let srv = common::start(store).await;
    let data = srv
        .login_ok(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"backend": "wazo_user", "foo": [1, 2], "bar": {"x": null}, "expiration": 77}),
        )
        .await;
    assert_eq!(
        seconds_between(&data, "utc_issued_at", "utc_expires_at"),
        77
    );
}

async fn body_is_parsed_for_every_accepted_content_type(store: Store) {
    let srv = common::start(store).await;
    let auth = admin_basic();
    for (index, content_type) in [
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        None,
        Some("text/plain"),
        Some("application/octet-stream"),
        Some("application/x-www-form-urlencoded"),
    ]
    .into_iter()
    .enumerate()
    {
        let reply = post_raw(
            &srv,
            Some(&auth),
            content_type,
            Some(r#"{"expiration": 61}"#),
        )
        .await;
        assert_eq!(
            reply.status, 200,
            "content-type {content_type:?} (#{index}): {}",
            reply.text
        );
        assert_eq!(
            seconds_between(reply.data(), "utc_issued_at", "utc_expires_at"),
            61,
            "body was parsed with content-type {content_type:?}"
        );
    }
}

async fn basic_prefix_must_be_exact(store: Store) {
    let srv = common::start(store).await;
    let good = admin_basic();
    let payload = good.trim_start_matches("Basic ");
    for header in [
        format!("basic {payload}"),
        format!("BASIC {payload}"),
        format!("Basic{payload}"),
        format!("Bearer {payload}"),
        payload.to_string(),
    ] {
        let reply = post_raw(&srv, Some(&header), None, Some("{}")).await;
        assert_auth_failed(&reply, &format!("Authorization {header:?}"));
    }
    let reply = post_raw(&srv, Some(&good), None, Some("{}")).await;
    assert_eq!(reply.status, 200, "exact prefix works: {}", reply.text);
}

async fn basic_password_may_contain_colons(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.create_user_as(&admin, "colon", Some("a:b:c")).await;
    let data = srv.login_ok("colon", "a:b:c", json!({})).await;
    assert!(is_uuid(&data["token"]));
    let reply = srv.login_reply("colon", "a", json!({})).await;
    assert_auth_failed(&reply, "password cut at the second colon");
    // The bootstrap password itself contains a colon.
    assert!(ADMIN_PASSWORD.contains(':'));
}

async fn basic_with_empty_half_or_no_colon_is_401(store: Store) {
    use base64::Engine;
    let srv = common::start(store).await;
    let b64 = |text: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(text)
        )
    };
    for raw in [
        format!(":{ADMIN_PASSWORD}"),
        format!("{ADMIN_USERNAME}:"),
        ":".to_string(),
        String::new(),
        format!("{ADMIN_USERNAME}{ADMIN_PASSWORD}").replace(':', ""),
    ] {
        let reply = post_raw(&srv, Some(&b64(&raw)), None, Some("{}")).await;
        assert_auth_failed(&reply, &format!("credentials {raw:?}"));
    }
    let none = post_raw(&srv, None, None, Some("{}")).await;
    assert_auth_failed(&none, "no credentials at all");
}

async fn malformed_base64_is_401(store: Store) {
    let srv = common::start(store).await;
    for header in [
        "Basic !!!!",
        "Basic ====",
        "Basic YWRtaW4",
        "Basic YQ=",
        "Basic Y",
        "Basic %%%%%%%%",
        "Basic ",
        "Basic",
        "Basic YWRt aW46",
    ] {
        let reply = post_raw(&srv, Some(header), None, Some("{}")).await;
        assert_auth_failed(&reply, &format!("Authorization {header:?}"));
    }
}

async fn latin1_credentials_fall_back(store: Store) {
    use base64::Engine;
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.create_user_as(&admin, "rene", Some("café-crème")).await;
    // UTF-8 encoded credentials.
    let data = srv.login_ok("rene", "café-crème", json!({})).await;
    assert!(is_uuid(&data["token"]));
    // The same credentials encoded in Latin-1 (é = 0xE9, è = 0xE8).
    let latin1: Vec<u8> = "rene:café-crème".chars().map(|c| c as u32 as u8).collect();
    assert!(std::str::from_utf8(&latin1).is_err());
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(&latin1)
    );
    let reply = post_raw(&srv, Some(&header), None, Some("{}")).await;
    assert_eq!(reply.status, 200, "Latin-1 fallback: {}", reply.text);
}

async fn login_by_username_or_confirmed_email_case_insensitively(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv
        .create_user_with(
            &admin,
            json!({"username": "Bob.Smith", "password": "bob-pw", "email_address": "Bob@Example.COM"}),
        )
        .await;
    for login in ["Bob.Smith", "bob.smith", "BOB.SMITH"] {
        let data = srv.login_ok(login, "bob-pw", json!({})).await;
        assert_eq!(data["auth_id"], user["uuid"], "login {login}");
    }
    let confirmed = user["emails"][0]["confirmed"] == json!(true);
    for login in ["Bob@Example.COM", "bob@example.com"] {
        let reply = srv.login_reply(login, "bob-pw", json!({})).await;
        if confirmed {
            assert_eq!(reply.status, 200, "confirmed e-mail login {login}");
            assert_eq!(reply.data()["auth_id"], user["uuid"]);
        } else {
            assert_auth_failed(&reply, "unconfirmed e-mail does not match");
        }
    }
}

async fn disabled_user_and_user_without_password_cannot_login(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.create_user_with(
        &admin,
        json!({"username": "off", "password": "off-pw", "enabled": false}),
    )
    .await;
    let reply = srv.login_reply("off", "off-pw", json!({})).await;
    assert_auth_failed(&reply, "disabled user");
    srv.create_user_as(&admin, "nopw", None).await;
    for password in ["", "x", "nopw"] {
        let reply = srv.login_reply("nopw", password, json!({})).await;
        assert_auth_failed(&reply, "user without password");
    }
}

async fn every_authentication_failure_is_the_same_401(store: Store) {
    let srv = common::start(store).await;
    let cases = [
        (
            "unknown login",
            srv.login_reply("nobody", "pw", json!({})).await,
        ),
        (
            "wrong password",
            srv.login_reply(ADMIN_USERNAME, "wrong", json!({})).await,
        ),
        (
            "wrong case password",
            srv.login_reply(ADMIN_USERNAME, &ADMIN_PASSWORD.to_uppercase(), json!({}))
                .await,
        ),
        (
            "unknown refresh token",
            srv.grant(&uuid::Uuid::new_v4().to_string(), "client").await,
        ),
        ("no credentials", srv.post_token(json!({})).await),
    ];
    let mut reasons = Vec::new();
    for (what, reply) in &cases {
        assert_auth_failed(reply, what);
        reasons.push(reply.body["reason"].clone());
    }
    assert!(reasons.windows(2).all(|w| w[0] == w[1]));
}

async fn tenant_id_with_domain_name_is_400(store: Store) {
    let srv = common::start(store).await;
    let reply = srv
        .login_reply(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"tenant_id": "acme", "domain_name": "acme.example.com"}),
        )
        .await;
    assert_token_error(&reply, 400, "tenant_id with domain_name");
}

async fn access_type_and_client_id_combinations(store: Store) {
    let srv = common::start(store).await;
    let long_client = "c".repeat(1025);
    let bad = [
        json!({"access_type": "bogus"}),
        json!({"access_type": "OFFLINE", "client_id": "c"}),
        json!({"access_type": 1}),
        json!({"access_type": null, "client_id": "c"}),
        json!({"access_type": "offline"}),
        json!({"access_type": "offline", "client_id": "c", "refresh_token": "r"}),
        json!({"refresh_token": "r"}),
        json!({"access_type": "offline", "client_id": ""}),
        json!({"access_type": "offline", "client_id": long_client}),
        json!({"access_type": "offline", "client_id": 42}),
        json!({"client_id": "c", "refresh_token": 42}),
        json!({"client_id": ["c"], "refresh_token": "r"}),
    ];
    for body in bad {
        let reply = srv
            .login_reply(ADMIN_USERNAME, ADMIN_PASSWORD, body.clone())
            .await;
        assert_token_error(&reply, 400, &format!("body {body}"));
    }
    let max_client = "c".repeat(1024);
    let data = srv
        .login_ok(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"access_type": "offline", "client_id": max_client}),
        )
        .await;
    assert!(is_uuid(&data["refresh_token"]), "1024-char client_id");
    let data = srv
        .login_ok(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"access_type": "online", "client_id": "web"}),
        )
        .await;
    assert!(
        data.get("refresh_token").is_none(),
        "online login with a client_id has no refresh_token"
    );
}

async fn concurrent_session_limit_gives_429_for_users(store: Store) {
    let srv = common::start_with(store, |cfg| cfg.max_user_concurrent_sessions = 2).await;
    srv.create_user("limited", "limited-pw").await;
    let first = srv.login_ok("limited", "limited-pw", json!({})).await;
    srv.login_ok("limited", "limited-pw", json!({})).await;
    let third = srv.login_reply("limited", "limited-pw", json!({})).await;
    assert_token_error(&third, 429, "third live session");
    // Ending one session frees a slot.
    let deleted = srv
        .send(srv.request(Method::DELETE, &format!("/token/{}", s(&first["token"]))))
        .await;
    assert_eq!(deleted.status, 200);
    let again = srv.login_reply("limited", "limited-pw", json!({})).await;
    assert_eq!(again.status, 200, "a slot was freed: {}", again.text);
}

async fn concurrent_session_limit_applies_to_external_api_not_internal(store: Store) {
    let srv = common::start_with(store, |cfg| cfg.max_user_concurrent_sessions = 2).await;
    let admin = srv.admin_token().await;
    srv.create_user_with(
        &admin,
        json!({"username": "api", "password": "api-pw", "purpose": "external_api"}),
    )
    .await;
    let first = srv.login_ok("api", "api-pw", json!({})).await;
    assert_eq!(first["xivo_user_uuid"], Value::Null, "external_api user");
    assert_eq!(first["metadata"]["purpose"], json!("external_api"));
    srv.login_ok("api", "api-pw", json!({})).await;
    let third = srv.login_reply("api", "api-pw", json!({})).await;
    assert_token_error(&third, 429, "external_api user over the limit");
    // The internal administrator already holds one session; two more are fine.
    for n in 0..2 {
        let reply = srv
            .login_reply(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
            .await;
        assert_eq!(reply.status, 200, "internal login {n}: {}", reply.text);
    }
}

async fn remote_addr_ignores_forwarded_for_without_proxies(store: Store) {
    let srv = common::start(store).await;
    let reply = srv
        .send(
            srv.request(Method::POST, "/token")
                .header("Authorization", admin_basic())
                .header("X-Forwarded-For", "10.9.8.7")
                .json(&json!({})),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.data()["remote_addr"], json!("127.0.0.1"));
}

async fn remote_addr_uses_forwarded_for_with_one_proxy(store: Store) {
    let srv = common::start_with(store, |cfg| cfg.num_proxies = 1).await;
    let reply = srv
        .send(
            srv.request(Method::POST, "/token")
                .header("Authorization", admin_basic())
                .header("X-Forwarded-For", "10.9.8.7")
                .header(
                    "User-Agent",
                    HeaderValue::from_static("tessera-tests/forwarded"),
                )
                .json(&json!({})),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.data()["remote_addr"], json!("10.9.8.7"));
}

async fn login_is_case_insensitive_beyond_ascii(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let user = srv
        .create_user_as(&admin, "Émile-Ünal", Some("emile-pw"))
        .await;
    for login in ["Émile-Ünal", "émile-ünal", "ÉMILE-ÜNAL"] {
        let reply = srv.login_reply(login, "emile-pw", json!({})).await;
        assert_eq!(reply.status, 200, "login {login}: {}", reply.text);
        assert_eq!(reply.data()["auth_id"], user["uuid"]);
    }
}

async fn client_id_length_counts_characters_not_bytes(store: Store) {
    let srv = common::start(store).await;
    let accented = "é".repeat(1024);
    let data = srv
        .login_ok(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"access_type": "offline", "client_id": accented}),
        )
        .await;
    assert!(
        is_uuid(&data["refresh_token"]),
        "1024 characters, 2048 bytes"
    );
    let reply = srv
        .login_reply(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"access_type": "offline", "client_id": "é".repeat(1025)}),
        )
        .await;
    assert_token_error(&reply, 400, "1025 characters");
}
