//! The layer and extractor: a small axum backend in front of a real Tessera.

use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};
use tessera_client::{Identity, Verifier, VerifierBuilder};

use crate::common::Tessera;

async fn whoami(identity: Identity) -> Json<Value> {
    let expires = identity
        .expires_at()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Json(json!({
        "token": identity.token(),
        "auth_id": identity.auth_id(),
        "session_uuid": identity.session_uuid(),
        "tenant_uuid": identity.tenant_uuid(),
        "acl": identity.acl(),
        "purpose": identity.metadata().get("purpose"),
        "required_acl": identity.required_acl(),
        "expires_at": expires,
    }))
}

async fn items(identity: Identity, Path(user_uuid): Path<String>) -> Json<Value> {
    Json(
        json!({ "user": identity.resolve_me(&user_uuid), "required_acl": identity.required_acl() }),
    )
}

async fn deleted(identity: Identity) -> Json<Value> {
    Json(json!({ "required_acl": identity.required_acl() }))
}

/// The backend under test, served on 127.0.0.1:0; answers its base URL.
async fn backend(verifier: &Verifier) -> String {
    let app = Router::new()
        .route(
            "/reports",
            get(whoami).layer(verifier.require("example.reports.read")),
        )
        .route("/anyone", get(whoami).layer(verifier.require("")))
        .route(
            "/users/{user_uuid}/items",
            get(items).layer(verifier.require("example.users.{user_uuid}.items.read")),
        )
        .route(
            "/clients/{client_id}",
            delete(deleted).layer(verifier.require("example.clients.{client_id}.delete")),
        )
        .route(
            "/typo/{id}",
            get(deleted).layer(verifier.require("example.{name}.read")),
        )
        .route("/unprotected", get(whoami));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn verifier(tessera: &Tessera, tweak: impl FnOnce(VerifierBuilder) -> VerifierBuilder) -> Verifier {
    tweak(Verifier::builder(tessera.client())).build()
}

struct Answer {
    status: StatusCode,
    body: Value,
}

async fn get_as(url: &str, token: Option<&str>) -> Answer {
    call(reqwest::Method::GET, url, token, &[]).await
}

async fn call(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(token) = token {
        request = request.header("X-Auth-Token", token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer { status, body }
}

/// wazo's `InvalidTokenAPIException` body.
fn assert_invalid_token(answer: &Answer, token: &str, required: Option<&str>) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["message"], "Unauthorized");
    assert_eq!(body["error_id"], "unauthorized");
    assert!(body["timestamp"].is_f64(), "{body}");
    let mut details = json!({"invalid_token": token, "reason": "not_found_or_expired"});
    if let Some(required) = required {
        details["required_access"] = json!(required);
    }
    assert_eq!(body["details"], details);
}

/// wazo's `MissingPermissionsTokenAPIException` body.
fn assert_missing_permission(answer: &Answer, token: &str, required: &str, tenant: Option<&str>) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert_eq!(answer.body["error_id"], "unauthorized");
    assert_eq!(
        answer.body["details"],
        json!({
            "invalid_token": token,
            "reason": "missing_permission_or_invalid_tenant",
            "required_access": required,
            "tenant_uuid": tenant,
        })
    );
}

#[tokio::test]
async fn a_valid_token_passes_and_its_identity_reaches_the_handler() {
    let tessera = Tessera::start().await;
    let user = tessera
        .user_with_acl("alice", &["example.reports.read"])
        .await;
    let token = tessera
        .client()
        .login("alice", crate::common::PASSWORD)
        .await
        .unwrap();
    let base = backend(&verifier(&tessera, |b| b)).await;

    let answer = get_as(&format!("{base}/reports"), Some(&token.token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["token"], token.token.as_str());
    assert_eq!(body["auth_id"], user.as_str());
    assert_eq!(body["session_uuid"], token.session_uuid.as_str());
    assert_eq!(body["tenant_uuid"], json!(token.tenant_uuid()));
    assert!(body["tenant_uuid"].is_string());
    assert_eq!(body["acl"], json!(["example.reports.read"]));
    assert_eq!(body["purpose"], "user");
    assert_eq!(body["required_acl"], "example.reports.read");
    let expires = token
        .expires_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(body["expires_at"], expires);

    // A route with an empty template takes any valid token.
    let answer = get_as(&format!("{base}/anyone"), Some(&token.token)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["required_acl"], "");
}

#[tokio::test]
async fn missing_unknown_malformed_and_refresh_tokens_are_refused() {
    let tessera = Tessera::start().await;
    tessera.user_with_acl("bob", &["example.#"]).await;
    let offline = tessera
        .client()
        .login_offline("bob", crate::common::PASSWORD, "bob-app", None)
        .await
        .unwrap();
    let refresh = offline.refresh_token.clone().unwrap();
    let base = backend(&verifier(&tessera, |b| b)).await;
    let reports = format!("{base}/reports");
    let required = Some("example.reports.read");

    assert_invalid_token(&get_as(&reports, None).await, "", required);
    let unknown = "6f0c7a52-5b1e-4c1a-9d52-0123456789ab";
    assert_invalid_token(&get_as(&reports, Some(unknown)).await, unknown, required);
    // A refresh token is never an access token, even one whose user holds the ACL.
    assert_invalid_token(&get_as(&reports, Some(&refresh)).await, &refresh, required);
    assert_invalid_token(
        &get_as(&format!("{base}/anyone"), Some(&refresh)).await,
        &refresh,
        None,
    );
    // Values that are not a token, some of them trying to reach another endpoint or add a query.
    let validations = tessera.validations().await;
    let access = offline.token.as_str();
    for junk in [
        "not-a-token".to_string(),
        format!("{access}?scope=x"),
        format!("{access}/scopes/check"),
        format!("../../users#{access}"),
        access.to_uppercase().replace('-', ""),
    ] {
        assert_invalid_token(&get_as(&reports, Some(&junk)).await, &junk, required);
    }
    assert_eq!(
        tessera.validations().await,
        validations,
        "malformed values must not reach Tessera"
    );
    // The access token itself passes; in upper case too (Tessera reads UUIDs as UUIDs).
    assert_eq!(get_as(&reports, Some(access)).await.status, StatusCode::OK);
    assert_eq!(
        get_as(&reports, Some(&access.to_uppercase())).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_token_lacking_the_routes_acl_is_refused() {
    let tessera = Tessera::start().await;
    tessera
        .user_with_acl(
            "carol",
            &["example.other.read", "!example.reports.read", "example.#"],
        )
        .await;
    let token = tessera.token_of("carol").await;
    let base = backend(&verifier(&tessera, |b| b)).await;
    let answer = get_as(&format!("{base}/reports"), Some(&token)).await;
    assert_missing_permission(&answer, &token, "example.reports.read", None);

    // 403 when the backend prefers it, with the same details.
    let strict = backend(&verifier(&tessera, |b| {
        b.missing_acl_status(StatusCode::FORBIDDEN)
    }))
    .await;
    let answer = get_as(&format!("{strict}/reports"), Some(&token)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.body["error_id"], "forbidden");
    assert_eq!(
        answer.body["details"]["reason"],
        "missing_permission_or_invalid_tenant"
    );

    // A wiring mistake: the extractor on a route without the layer fails closed.
    let answer = get_as(&format!("{base}/unprotected"), Some(&token)).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.body["error_id"], "missing-require-acl-layer");
    // So does a template naming a parameter the route lacks.
    let answer = get_as(&format!("{base}/typo/1"), Some(&token)).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.body["details"]["parameter"], "name");
}

#[tokio::test]
async fn templates_are_filled_from_the_path_and_me_is_honoured() {
    let tessera = Tessera::start().await;
    let dave = tessera
        .user_with_acl(
            "dave",
            &[
                "example.users.me.items.read",
                "example.clients.my_app.delete",
            ],
        )
        .await;
    let erin = tessera.user_with_acl("erin", &["example.#"]).await;
    let token = tessera.token_of("dave").await;
    let base = backend(&verifier(&tessera, |b| b)).await;

    let answer = get_as(&format!("{base}/users/me/items"), Some(&token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["user"], dave.as_str());
    assert_eq!(answer.body["required_acl"], "example.users.me.items.read");
    // The caller's own UUID is `me` to Tessera's matcher.
    let answer = get_as(&format!("{base}/users/{dave}/items"), Some(&token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["user"], dave.as_str());
    // Someone else's is not.
    let answer = get_as(&format!("{base}/users/{erin}/items"), Some(&token)).await;
    assert_missing_permission(
        &answer,
        &token,
        &format!("example.users.{erin}.items.read"),
        None,
    );

    // `.` in a value becomes `_` (wazo's rule), after percent-decoding.
    let del = |client: &str| format!("{base}/clients/{client}");
    let answer = call(reqwest::Method::DELETE, &del("my.app"), Some(&token), &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["required_acl"], "example.clients.my_app.delete");
    let answer = call(reqwest::Method::DELETE, &del("my%2Eapp"), Some(&token), &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    for other in ["other.app", "my_app.x", "%23", "my.app.delete%23"] {
        let answer = call(reqwest::Method::DELETE, &del(other), Some(&token), &[]).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{other}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn the_wazo_tenant_header_must_name_the_tokens_tenant() {
    let tessera = Tessera::start().await;
    tessera
        .user_with_acl("frank", &["example.reports.read"])
        .await;
    let token = tessera
        .client()
        .login("frank", crate::common::PASSWORD)
        .await
        .unwrap();
    let tenant = token.tenant_uuid().unwrap().to_string();
    let base = backend(&verifier(&tessera, |b| b)).await;
    let reports = format!("{base}/reports");

    let own = call(
        reqwest::Method::GET,
        &reports,
        Some(&token.token),
        &[("Wazo-Tenant", &tenant)],
    )
    .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    let other = "0d0e9b0e-0000-4000-8000-000000000000";
    let answer = call(
        reqwest::Method::GET,
        &reports,
        Some(&token.token),
        &[("Wazo-Tenant", other)],
    )
    .await;
    assert_missing_permission(&answer, &token.token, "example.reports.read", Some(other));
}

#[tokio::test]
async fn the_query_token_is_read_only_when_enabled() {
    let tessera = Tessera::start().await;
    tessera
        .user_with_acl("gina", &["example.reports.read"])
        .await;
    let token = tessera.token_of("gina").await;
    let off = backend(&verifier(&tessera, |b| b)).await;
    let on = backend(&verifier(&tessera, |b| b.token_from_query(true))).await;

    let answer = get_as(&format!("{off}/reports?token={token}"), None).await;
    assert_invalid_token(&answer, "", Some("example.reports.read"));
    let answer = get_as(&format!("{on}/reports?token={token}"), None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // The header wins over the query.
    let answer = get_as(&format!("{on}/reports?token={token}"), Some("junk")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_revocation_is_seen_within_the_cache_ttl() {
    let tessera = Tessera::start().await;
    tessera
        .user_with_acl("hank", &["example.reports.read"])
        .await;
    let token = tessera.token_of("hank").await;
    let ttl = Duration::from_millis(800);
    let base = backend(&verifier(&tessera, |b| b.cache_ttl(ttl))).await;
    let reports = format!("{base}/reports");

    let before = tessera.validations().await;
    for _ in 0..5 {
        assert_eq!(get_as(&reports, Some(&token)).await.status, StatusCode::OK);
    }
    assert_eq!(
        tessera.validations().await - before,
        1.0,
        "cached after the first"
    );

    tessera.client().revoke(&token).await.unwrap();
    let revoked = std::time::Instant::now();
    // Until the TTL has passed the backend may still accept it; after, never.
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert!(revoked.elapsed() > ttl);
    assert_invalid_token(
        &get_as(&reports, Some(&token)).await,
        &token,
        Some("example.reports.read"),
    );

    // Without the cache, at once.
    let uncached = backend(&verifier(&tessera, |b| {
        b.cache_ttl(Duration::ZERO).negative_ttl(Duration::ZERO)
    }))
    .await;
    let second = tessera.token_of("hank").await;
    let url = format!("{uncached}/reports");
    assert_eq!(get_as(&url, Some(&second)).await.status, StatusCode::OK);
    tessera.client().revoke(&second).await.unwrap();
    assert_eq!(
        get_as(&url, Some(&second)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_cached_answer_never_outlives_the_token() {
    let tessera = Tessera::start().await;
    tessera
        .user_with_acl("ivy", &["example.reports.read"])
        .await;
    let options = tessera_client::LoginOptions {
        expiration: Some(1),
        ..Default::default()
    };
    let token = tessera
        .client()
        .login_with("ivy", crate::common::PASSWORD, &options)
        .await
        .unwrap()
        .token;
    let base = backend(&verifier(&tessera, |b| {
        b.cache_ttl(Duration::from_secs(60))
    }))
    .await;
    let reports = format!("{base}/reports");
    assert_eq!(get_as(&reports, Some(&token)).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_invalid_token(
        &get_as(&reports, Some(&token)).await,
        &token,
        Some("example.reports.read"),
    );
}

#[tokio::test]
async fn refusals_are_cached_briefly() {
    let tessera = Tessera::start().await;
    tessera.user_with_acl("jill", &["example.other.read"]).await;
    let token = tessera.token_of("jill").await;
    let base = backend(&verifier(&tessera, |b| {
        b.negative_ttl(Duration::from_secs(30))
    }))
    .await;
    let reports = format!("{base}/reports");
    let before = tessera.validations().await;
    for _ in 0..3 {
        assert_eq!(
            get_as(&reports, Some(&token)).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(tessera.validations().await - before, 1.0);
}

#[tokio::test]
async fn the_backend_answers_503_while_tessera_is_stopped() {
    let mut tessera = Tessera::start().await;
    tessera
        .user_with_acl("kim", &["example.reports.read"])
        .await;
    let token = tessera.token_of("kim").await;
    let base = backend(&verifier(&tessera, |b| b.cache_ttl(Duration::ZERO))).await;
    let reports = format!("{base}/reports");
    assert_eq!(get_as(&reports, Some(&token)).await.status, StatusCode::OK);

    tessera.stop().await;
    let answer = get_as(&reports, Some(&token)).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.body
    );
    assert_eq!(answer.body["message"], "Authentication server unreachable");
    assert_eq!(answer.body["error_id"], "authentication-server-unreachable");
    let details = &answer.body["details"];
    assert_eq!(details["auth_server_host"], "127.0.0.1");
    assert_eq!(details["auth_server_port"], tessera.addr.port());
    let error = details["original_error"].as_str().unwrap();
    assert!(
        !error.contains(&token),
        "the token must not leak into the error: {error}"
    );

    tessera.restart().await;
    assert_eq!(get_as(&reports, Some(&token)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_requests_with_one_token_make_one_call() {
    let tessera = Tessera::start().await;
    tessera
        .user_with_acl("lou", &["example.reports.read"])
        .await;
    let token = tessera.token_of("lou").await;
    let base = backend(&verifier(&tessera, |b| b)).await;
    let reports = format!("{base}/reports");
    let before = tessera.validations().await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(50));
    let requests: Vec<_> = (0..50)
        .map(|_| {
            let (url, token, barrier) = (reports.clone(), token.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                get_as(&url, Some(&token)).await.status
            })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(
        tessera.validations().await - before,
        1.0,
        "one call for all"
    );
}
