//! Hostile input: never a 5xx, always a JSON error (SPEC §8 "No request input can produce a 500").

use reqwest::header::HeaderValue;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{
    self, assert_auth_failed, assert_json_client_error, assert_token_error, basic, Store,
    TestServer, ADMIN_PASSWORD, ADMIN_USERNAME,
};

async fn post_token_bytes(
    srv: &TestServer,
    authorization: Option<HeaderValue>,
    body: Vec<u8>,
) -> common::Reply {
    let mut builder = srv
        .request(Method::POST, "/token")
        .header("Content-Type", "application/json");
    if let Some(value) = authorization {
        builder = builder.header("Authorization", value);
    }
    srv.send(builder.body(body)).await
}

both_stores!(
    non_utf8_bodies_are_400,
    huge_bodies_are_refused_or_handled,
    wrong_json_types_in_every_token_field_are_400,
    weird_authorization_headers_are_401,
    weird_x_auth_token_headers_are_401,
    weird_session_type_and_user_agent_never_fail,
    weird_token_paths_are_404,
    weird_query_strings_never_fail,
    deeply_nested_json_never_fails,
    look_alike_usernames_are_one_user_or_refused,
    invisible_client_ids_are_refused,
);

async fn non_utf8_bodies_are_400(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let bodies: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0xfd],
        b"{\"expiration\": \"\xff\"}".to_vec(),
        vec![0xc3, 0x28],
        b"\x00\x00\x00".to_vec(),
    ];
    for body in &bodies {
        let reply = post_token_bytes(
            &srv,
            Some(HeaderValue::from_str(&basic(ADMIN_USERNAME, ADMIN_PASSWORD)).expect("header")),
            body.clone(),
        )
        .await;
        assert_token_error(&reply, 400, &format!("POST /token body {body:?}"));
        let users = srv
            .send(
                srv.request(Method::POST, "/users")
                    .header("X-Auth-Token", &admin)
                    .header("Content-Type", "application/json")
                    .body(body.clone()),
            )
            .await;
        assert_eq!(
            users.status, 400,
            "POST /users body {body:?}: {}",
            users.text
        );
        assert_json_client_error(&users, "POST /users");
        let check = srv
            .send(
                srv.request(Method::POST, &format!("/token/{admin}/scopes/check"))
                    .header("Content-Type", "application/json")
                    .body(body.clone()),
            )
            .await;
        assert_token_error(&check, 400, &format!("scopes/check body {body:?}"));
    }
}

async fn huge_bodies_are_refused_or_handled(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let padding = "a".repeat(8 * 1024 * 1024);
    let body = format!(r#"{{"expiration": 60, "padding": "{padding}"}}"#);
    for (path, token) in [("/token", None), ("/users", Some(admin.as_str()))] {
        let mut builder = srv
            .request(Method::POST, path)
            .header("Content-Type", "application/json")
            .body(body.clone());
        if path == "/token" {
            builder = builder.basic_auth(ADMIN_USERNAME, Some(ADMIN_PASSWORD));
        }
        if let Some(token) = token {
            builder = builder.header("X-Auth-Token", token);
        }
        match builder.send().await {
            Ok(response) => {
                let reply = common::Reply::read(response).await;
                assert!(
                    reply.status < 500,
                    "{path}: {} {}",
                    reply.status,
                    reply.text
                );
                if reply.status >= 400 {
                    assert_json_client_error(&reply, path);
                }
            }
            // The server may close the connection after answering early; it must stay up.
            Err(error) => eprintln!("{path}: connection closed early: {error}"),
        }
    }
    assert_eq!(
        srv.head_token(&admin, None, None).await,
        204,
        "the server still answers"
    );
}

async fn wrong_json_types_in_every_token_field_are_400(store: Store) {
    let srv = common::start(store).await;
    let cases: Vec<(&str, Vec<Value>)> = vec![
        (
            "expiration",
            vec![
                json!(true),
                json!(null),
                json!([]),
                json!({}),
                json!("1e3x"),
                json!(1.25),
                json!("99999999999999999999999"),
                json!(1e308),
                json!(-1e308),
                json!(i64::MIN),
                json!(u64::MAX),
            ],
        ),
        (
            "access_type",
            vec![json!(true), json!(1), json!([]), json!({}), json!("")],
        ),
        (
            "client_id",
            vec![json!(true), json!(1), json!([]), json!({})],
        ),
        (
            "refresh_token",
            vec![json!(true), json!(1), json!([]), json!({})],
        ),
        (
            "tenant_id",
            vec![json!(true), json!(1), json!([]), json!({})],
        ),
        (
            "domain_name",
            vec![json!(true), json!(1), json!([]), json!({})],
        ),
    ];
    for (field, values) in cases {
        for value in values {
            let mut body = json!({});
            body[field] = value.clone();
            if field == "refresh_token" {
                body["client_id"] = json!("app");
            }
            let reply = srv
                .login_reply(ADMIN_USERNAME, ADMIN_PASSWORD, body.clone())
                .await;
            assert_token_error(&reply, 400, &format!("{field} = {value}"));
        }
    }
    for value in [
        json!(true),
        json!(1),
        json!([]),
        json!({"a": 1}),
        json!(null),
    ] {
        let reply = srv
            .login_reply(ADMIN_USERNAME, ADMIN_PASSWORD, json!({ "backend": value }))
            .await;
        assert!(
            reply.status < 500 && reply.is_json,
            "backend = {value}: {} {}",
            reply.status,
            reply.text
        );
    }
    for body in [json!(42), json!("string"), json!(true), json!([1, 2])] {
        let reply = srv
            .login_reply(ADMIN_USERNAME, ADMIN_PASSWORD, body.clone())
            .await;
        assert_token_error(&reply, 400, &format!("body {body}"));
    }
}

async fn weird_authorization_headers_are_401(store: Store) {
    use base64::Engine;
    let srv = common::start(store).await;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let headers: Vec<Vec<u8>> = vec![
        b"Basic \xff\xfe".to_vec(),
        b"\xff\xff\xff".to_vec(),
        b"Basic \xe9t\xe9".to_vec(),
        format!("Basic {}", b64(b"\xff\xfe:\x00")).into_bytes(),
        format!("Basic {}", b64(b"\x00:\x00")).into_bytes(),
        format!("Basic {}", b64(b"admin\x00:pw")).into_bytes(),
        format!("Basic {}", b64(&[0xc3; 64])).into_bytes(),
        format!("Basic {}", "A".repeat(8000)).into_bytes(),
        format!(
            "Basic {}",
            b64(format!("{}:{}", "u".repeat(5000), "p").as_bytes())
        )
        .into_bytes(),
        b"Basic =".to_vec(),
        b"Basic ;;;;".to_vec(),
        b"Basic \t".to_vec(),
        b"Negotiate abc".to_vec(),
    ];
    for header in headers {
        let value = HeaderValue::from_bytes(&header).expect("a valid header value");
        let reply = post_token_bytes(&srv, Some(value), b"{}".to_vec()).await;
        assert_auth_failed(&reply, &format!("Authorization {header:?}"));
    }
}

async fn weird_x_auth_token_headers_are_401(store: Store) {
    let srv = common::start(store).await;
    for header in [
        b"\xff\xfe".to_vec(),
        b"\xe9\xe9\xe9".to_vec(),
        "x".repeat(8000).into_bytes(),
        b"'; DROP TABLE tokens; --".to_vec(),
        b"%00".to_vec(),
    ] {
        let value = HeaderValue::from_bytes(&header).expect("a valid header value");
        let reply = srv
            .send(
                srv.request(Method::GET, "/users")
                    .header("X-Auth-Token", value),
            )
            .await;
        common::assert_unauthorized(&reply, &format!("X-Auth-Token {header:?}"));
    }
}

async fn weird_session_type_and_user_agent_never_fail(store: Store) {
    let srv = common::start(store).await;
    for header in [
        b"\xff\xfe".to_vec(),
        b"mobile\xe9".to_vec(),
        "m".repeat(5000).into_bytes(),
    ] {
        let value = HeaderValue::from_bytes(&header).expect("header");
        let reply = srv
            .send(
                srv.request(Method::POST, "/token")
                    .basic_auth(ADMIN_USERNAME, Some(ADMIN_PASSWORD))
                    .header("Wazo-Session-Type", value.clone())
                    .header("User-Agent", value)
                    .json(&json!({})),
            )
            .await;
        assert_eq!(reply.status, 200, "header {header:?}: {}", reply.text);
        assert!(reply.data()["user_agent"].is_string());
    }
}

async fn weird_token_paths_are_404(store: Store) {
    let srv = common::start(store).await;
    let long = "a".repeat(4000);
    for token in [
        "%FF%FE",
        "%00",
        "..%2F..%2Fetc",
        "%27%20OR%201=1--",
        long.as_str(),
        "00000000-0000-0000-0000-000000000000",
    ] {
        let reply = srv
            .send(srv.request(Method::GET, &format!("/token/{token}")))
            .await;
        assert_token_error(&reply, 404, &format!("GET /token/{token}"));
        let check = srv
            .call(
                Method::POST,
                &format!("/token/{token}/scopes/check"),
                None,
                Some(json!({"scopes": ["a"]})),
            )
            .await;
        assert_token_error(&check, 404, &format!("scopes/check {token}"));
    }
}

async fn weird_query_strings_never_fail(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    for query in [
        "scope=%FF%FE",
        "scope=%00",
        "tenant=not-a-uuid",
        "tenant=%FF",
        "scope=a&scope=b",
        "scope",
    ] {
        let reply = srv
            .send(srv.request(Method::GET, &format!("/token/{admin}?{query}")))
            .await;
        assert!(
            reply.status < 500 && reply.is_json,
            "GET /token?{query}: {} {}",
            reply.status,
            reply.text
        );
    }
    for query in [
        "search=%FF%FE",
        "search=%00",
        "search=%27%3B--",
        "search=%25%5F",
        "limit=99999999999999999999999",
        "offset=99999999999999999999999",
        "limit=1e3",
        "order=name%3B%20DROP%20TABLE%20users",
    ] {
        for path in ["/users", "/policies"] {
            let reply = srv.get(&format!("{path}?{query}"), &admin).await;
            assert!(
                reply.status < 500 && reply.is_json,
                "GET {path}?{query}: {} {}",
                reply.status,
                reply.text
            );
        }
    }
    // The tables are intact.
    assert_eq!(srv.get("/users", &admin).await.status, 200);
}

async fn deeply_nested_json_never_fails(store: Store) {
    let srv = common::start(store).await;
    let nested = format!(
        "{{\"expiration\": {}1{}}}",
        // 3,000 levels (6 KB): far past serde_json's depth limit, within POST /token's 8 KiB.
        "[".repeat(3_000),
        "]".repeat(3_000)
    );
    let reply = post_token_bytes(
        &srv,
        Some(HeaderValue::from_str(&basic(ADMIN_USERNAME, ADMIN_PASSWORD)).expect("header")),
        nested.into_bytes(),
    )
    .await;
    assert_token_error(&reply, 400, "deeply nested body");
    let overflow = post_token_bytes(
        &srv,
        Some(HeaderValue::from_str(&basic(ADMIN_USERNAME, ADMIN_PASSWORD)).expect("header")),
        br#"{"expiration": 184467440737095516160000}"#.to_vec(),
    )
    .await;
    assert_token_error(&overflow, 400, "integer beyond u64");
}

fn assert_invalid_username(reply: &common::Reply, context: &str) {
    common::assert_api_error(reply, 400, context);
    assert_eq!(reply.body["error_id"], json!("invalid-data"), "{context}");
    assert!(
        reply.body["details"]["username"].is_object(),
        "{context}: details name the username: {}",
        reply.text
    );
}

/// The NFC and NFD spellings of a username are one user, and names holding
/// control or invisible characters or padded with white space are refused.
async fn look_alike_usernames_are_one_user_or_refused(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let nfc = "jos\u{e9}";
    let nfd = "jose\u{301}";

    let created = srv
        .post_user(&admin, json!({"username": nfd, "password": "pw-of-jose"}))
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.body["username"], json!(nfc), "stored in NFC");
    let again = srv
        .post_user(&admin, json!({"username": nfc, "password": "other-pw"}))
        .await;
    assert_eq!(
        again.status, 409,
        "NFC spelling of an NFD name: {}",
        again.text
    );
    // Either spelling logs in as the one user.
    let uuid = common::s(&created.body["uuid"]);
    for login in [nfc, nfd] {
        let data = srv.login_ok(login, "pw-of-jose", json!({})).await;
        assert_eq!(data["auth_id"], json!(uuid), "login {login:?}");
    }
    // An exact filter in either spelling finds it.
    let listed = srv
        .send(
            srv.request(Method::GET, "/users")
                .header("X-Auth-Token", &admin)
                .query(&[("username", nfd)]),
        )
        .await;
    assert_eq!(listed.body["filtered"], json!(1), "{}", listed.text);

    for bad in [
        "admin\u{200b}",
        "ad\u{200d}min",
        "\u{feff}admin",
        "admin\u{202e}",
        "ad\nmin",
        "ad\u{1b}[2Kmin",
        "admin\u{7f}",
        " admin",
        "admin ",
        "admin\u{a0}",
        "\tadmin",
    ] {
        let reply = srv
            .post_user(&admin, json!({"username": bad, "password": "pw"}))
            .await;
        assert_invalid_username(&reply, &format!("POST /users {bad:?}"));
        let renamed = srv
            .call(
                Method::PUT,
                &format!("/users/{uuid}"),
                Some(&admin),
                Some(json!({"username": bad})),
            )
            .await;
        assert_invalid_username(&renamed, &format!("PUT /users {bad:?}"));
    }
    // Inner spaces and non-ASCII letters stay allowed.
    let spaced = srv
        .post_user(&admin, json!({"username": "first last"}))
        .await;
    assert_eq!(spaced.status, 200, "{}", spaced.text);
    let han = srv
        .post_user(&admin, json!({"username": "\u{4e2d}\u{6587}"}))
        .await;
    assert_eq!(han.status, 200, "{}", han.text);
}

/// A client_id holding control or invisible characters or padded with white
/// space is a 400 of POST /token (both grants), in the token-error shape.
async fn invisible_client_ids_are_refused(store: Store) {
    let srv = common::start(store).await;
    for bad in [
        "app\u{200b}",
        " app",
        "app ",
        "app\n",
        "a\u{1b}pp",
        "\u{2066}app",
    ] {
        let offline = srv
            .login_reply(
                ADMIN_USERNAME,
                ADMIN_PASSWORD,
                json!({"access_type": "offline", "client_id": bad}),
            )
            .await;
        assert_token_error(&offline, 400, &format!("offline login, client_id {bad:?}"));
        // In a refresh grant such a client_id matches no refresh token: the same 401 as any
        // other mismatch (SPEC §2).
        let grant = srv.grant("00000000-0000-4000-8000-000000000000", bad).await;
        assert_token_error(&grant, 401, &format!("refresh grant, client_id {bad:?}"));
    }
    let fine = srv
        .login_reply(
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            json!({"access_type": "offline", "client_id": "my app"}),
        )
        .await;
    assert_eq!(fine.status, 200, "{}", fine.text);
}
