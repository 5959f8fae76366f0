//! Routing: both prefixes, JSON 404s for unknown routes and non-UUID segments, /status and
//! /api/api.yml (SPEC §1, §5).

use reqwest::Method;

use crate::both_stores;
use crate::common::{self, assert_api_error, assert_json_client_error, Store};

both_stores!(
    protected_endpoints_answer_under_both_prefixes,
    unknown_routes_are_json_404,
    non_uuid_path_segments_are_json_404,
    wrong_method_is_a_json_error,
    status_answers_head_and_get,
    openapi_description_is_served,
);

async fn protected_endpoints_answer_under_both_prefixes(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    for prefix in ["/0.1", "/api/auth/0.1"] {
        for path in ["/users", "/policies", "/sessions", "/tokens"] {
            let reply = srv
                .send(
                    srv.client
                        .get(srv.raw_url(&format!("{prefix}{path}")))
                        .header("X-Auth-Token", &admin),
                )
                .await;
            assert_eq!(reply.status, 200, "{prefix}{path}: {}", reply.text);
        }
    }
}

async fn unknown_routes_are_json_404(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    for path in [
        "/api/auth/0.1/nope",
        "/0.1/nope",
        "/api/auth/0.2/token",
        "/nope",
        "/",
        "/api/auth/0.1/users/me",
        "/api/auth/0.1/token/a/b/c",
    ] {
        let reply = srv
            .send(
                srv.client
                    .get(srv.raw_url(path))
                    .header("X-Auth-Token", &admin),
            )
            .await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.text);
        assert!(
            reply.is_json && reply.body.is_object(),
            "{path}: JSON body, got {:?}",
            reply.text
        );
    }
}

async fn non_uuid_path_segments_are_json_404(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    for (method, path) in [
        (Method::GET, "/users/not-a-uuid"),
        (Method::PUT, "/users/not-a-uuid"),
        (Method::DELETE, "/users/123"),
        (Method::GET, "/users/not-a-uuid/tokens"),
        (Method::DELETE, "/users/not-a-uuid/tokens/app"),
        (Method::GET, "/users/not-a-uuid/policies"),
        (Method::PUT, "/users/not-a-uuid/password"),
        (Method::GET, "/policies/not-a-uuid"),
        (Method::PUT, "/policies/not-a-uuid/acl/a.b"),
        (Method::DELETE, "/sessions/not-a-uuid"),
    ] {
        let reply = srv.call(method.clone(), path, Some(&admin), None).await;
        assert_api_error(&reply, 404, &format!("{method} {path}"));
    }
}

async fn wrong_method_is_a_json_error(store: Store) {
    let srv = common::start(store).await;
    for (method, path) in [(Method::PATCH, "/token"), (Method::GET, "/token")] {
        let reply = srv.call(method.clone(), path, None, None).await;
        assert_json_client_error(&reply, &format!("{method} {path}"));
        assert_eq!(reply.status, 405, "{method} {path}");
    }
}

async fn status_answers_head_and_get(store: Store) {
    let srv = common::start(store).await;
    for prefix in ["/0.1", "/api/auth/0.1"] {
        let head = srv
            .client
            .head(srv.raw_url(&format!("{prefix}/status")))
            .send()
            .await
            .expect("request");
        assert_eq!(head.status(), 200, "HEAD {prefix}/status");
        let get = srv
            .client
            .get(srv.raw_url(&format!("{prefix}/status")))
            .send()
            .await
            .expect("request");
        assert_eq!(get.status(), 200, "GET {prefix}/status");
    }
}

async fn openapi_description_is_served(store: Store) {
    let srv = common::start(store).await;
    for prefix in ["/0.1", "/api/auth/0.1"] {
        let response = srv
            .client
            .get(srv.raw_url(&format!("{prefix}/api/api.yml")))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{prefix}/api/api.yml");
        let text = response.text().await.expect("text");
        assert!(
            text.contains("paths") && text.contains("/token"),
            "an OpenAPI description: {}",
            &text[..text.len().min(200)]
        );
    }
}
