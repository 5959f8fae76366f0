//! The OAuth2 face (SPEC §11.1, §11.4–§11.7): metadata, the client-credentials grant driven by a
//! real third-party client (the `oauth2` crate, reading its endpoints from the metadata), client
//! authentication, scope ceilings, introspection, revocation, and Bearer tokens on the API. The
//! negative cases are hand-written requests.

use oauth2::basic::BasicClient;
use oauth2::{
    ClientId, ClientSecret, IntrospectionUrl, Scope, TokenIntrospectionResponse, TokenResponse,
    TokenUrl,
};
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{self, s, Reply, Store, TestServer, ADMIN_PASSWORD, ADMIN_USERNAME};

/// A registered client: its id and (confidential) secret.
struct Registered {
    id: String,
    secret: String,
}

/// Registers a confidential client-credentials client with `ceiling`.
async fn register(srv: &TestServer, admin: &str, ceiling: &[&str]) -> Registered {
    let reply = srv
        .call(
            Method::POST,
            "/oauth2/clients",
            Some(admin),
            Some(json!({
                "name": "billing backend",
                "type": "confidential",
                "grant_types": ["client_credentials"],
                "scope": ceiling,
            })),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    Registered {
        id: s(&reply.body["client_id"]),
        secret: s(&reply.body["client_secret"]),
    }
}

/// POST a form to an OAuth2 endpoint at the root, with optional HTTP Basic (`id`, `secret`).
async fn post_form(
    srv: &TestServer,
    path: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> Reply {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut builder = srv
        .client
        .post(srv.raw_url(path))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some((id, secret)) = basic {
        builder = builder.basic_auth(id, Some(secret));
    }
    srv.send(builder).await
}

async fn client_token(srv: &TestServer, client: &Registered, scope: Option<&str>) -> Reply {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    post_form(
        srv,
        "/oauth2/token",
        Some((&client.id, &client.secret)),
        &form,
    )
    .await
}

fn assert_oauth_error(reply: &Reply, status: u16, error: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.body["error"], error, "{}", reply.text);
    assert!(
        reply.body["error_description"].is_string(),
        "{}",
        reply.text
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

async fn metadata(srv: &TestServer) -> Value {
    let reply = srv
        .send(
            srv.client
                .get(srv.raw_url("/.well-known/oauth-authorization-server")),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body
}

both_stores!(
    metadata_is_served_from_the_issuer,
    a_third_party_client_gets_uses_introspects_and_revokes_a_token,
    client_authentication_is_checked,
    a_ceiling_is_never_exceeded,
    grants_not_served_are_refused,
    introspection_answers_exactly_inactive,
    wazo_tokens_introspect,
    a_client_revokes_only_its_own_tokens,
    bearer_tokens_work_on_the_api,
    failed_client_authentications_are_throttled,
    a_wazo_offline_login_may_not_name_an_oauth2_client,
    a_client_holds_a_bounded_number_of_tokens,
    tokens_in_flight_do_not_outlive_their_deleted_client,
    parallel_grants_at_the_cap_stay_bounded,
    cached_introspections_end_with_what_they_read,
);

async fn metadata_is_served_from_the_issuer(store: Store) {
    let srv = common::start(store).await;
    let issuer = format!("http://{}", srv.addr);
    let oauth = srv
        .send(
            srv.client
                .get(srv.raw_url("/.well-known/oauth-authorization-server")),
        )
        .await;
    let oidc = srv
        .send(
            srv.client
                .get(srv.raw_url("/.well-known/openid-configuration")),
        )
        .await;
    assert_eq!(oauth.status, 200);
    assert_eq!(oauth.body, oidc.body);
    assert_eq!(oauth.header("access-control-allow-origin"), Some("*"));
    assert!(oauth
        .header("cache-control")
        .unwrap_or("")
        .contains("max-age"));
    let doc = &oauth.body;
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(doc["token_endpoint"], format!("{issuer}/oauth2/token"));
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{issuer}/oauth2/introspect")
    );
    assert_eq!(
        doc["revocation_endpoint"],
        format!("{issuer}/oauth2/revoke")
    );
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(
        doc["scopes_supported"],
        json!(["openid", "profile", "email", "offline_access"])
    );
    assert_eq!(
        doc["grant_types_supported"],
        json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code"
        ])
    );
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{issuer}/oauth2/authorize")
    );
    assert_eq!(
        doc["device_authorization_endpoint"],
        format!("{issuer}/oauth2/device_authorization")
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    // OpenID Connect Discovery.
    assert_eq!(
        doc["userinfo_endpoint"],
        format!("{issuer}/oauth2/userinfo")
    );
    assert_eq!(doc["jwks_uri"], format!("{issuer}/oauth2/jwks"));
    assert_eq!(
        doc["end_session_endpoint"],
        format!("{issuer}/oauth2/logout")
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    let claims = doc["claims_supported"].as_array().unwrap();
    for claim in [
        "sub",
        "iss",
        "aud",
        "auth_time",
        "nonce",
        "at_hash",
        "sid",
        "email",
    ] {
        assert!(claims.contains(&json!(claim)), "{claim}");
    }
    for unsupported in [
        "request_parameter_supported",
        "request_uri_parameter_supported",
    ] {
        assert_eq!(doc[unsupported], false, "{unsupported}");
    }
}

async fn a_third_party_client_gets_uses_introspects_and_revokes_a_token(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let client = register(&srv, &admin, &["auth.users.read", "confd.#"]).await;
    let doc = metadata(&srv).await;
    let endpoint = |key: &str| s(&doc[key]);
    let oauth = BasicClient::new(ClientId::new(client.id.clone()))
        .set_client_secret(ClientSecret::new(client.secret.clone()))
        .set_token_uri(TokenUrl::new(endpoint("token_endpoint")).unwrap())
        .set_introspection_url(IntrospectionUrl::new(endpoint("introspection_endpoint")).unwrap());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The whole ceiling, then a narrower scope.
    let whole = oauth
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .expect("client credentials");
    let scopes: Vec<String> = whole
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, vec!["auth.users.read", "confd.#"]);
    assert!(whole.refresh_token().is_none());
    let token = whole.access_token().secret().clone();
    let narrow = oauth
        .exchange_client_credentials()
        .add_scope(Scope::new("confd.users.read".into()))
        .request_async(&http)
        .await
        .expect("narrower scope");
    let narrow = narrow.access_token().secret().clone();

    // An ordinary Tessera token: validated by HEAD/GET /token, as X-Auth-Token and as Bearer.
    assert_eq!(srv.head_token(&token, None, None).await, 204);
    let described = srv.get(&format!("/token/{token}"), &token).await;
    let data = described.data();
    assert_eq!(data["auth_id"], client.id.as_str());
    assert_eq!(data["metadata"]["purpose"], "external_api");
    assert!(data["xivo_user_uuid"].is_null());
    assert!(data["metadata"]["pbx_user_uuid"].is_null());
    assert_eq!(data["acl"], json!(["auth.users.read", "confd.#"]));
    assert_eq!(srv.get("/users", &token).await.status, 200);
    let bearer = srv
        .send(srv.request(Method::GET, "/users").bearer_auth(&token))
        .await;
    assert_eq!(bearer.status, 200, "{}", bearer.text);
    assert_eq!(srv.get("/users", &narrow).await.status, 401);
    assert_eq!(
        srv.head_token(&narrow, Some("confd.users.read"), None)
            .await,
        204
    );

    // Introspection and revocation through the same client library.
    let seen = oauth
        .introspect(&oauth2::AccessToken::new(token.clone()))
        .request_async(&http)
        .await
        .expect("introspect");
    assert!(seen.active());
    assert_eq!(seen.sub(), Some(client.id.as_str()));
    assert_eq!(seen.iss(), Some(format!("http://{}", srv.addr).as_str()));
    // The crate revokes only over https (RFC 7009 §2.1), which this test server does not serve:
    // the same request by hand, with the endpoint the metadata names.
    let revoke = srv
        .client
        .post(endpoint("revocation_endpoint"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("token", token.as_str()),
            ("token_type_hint", "access_token"),
        ]);
    assert_eq!(srv.send(revoke).await.status, 200);
    assert_eq!(srv.head_token(&token, None, None).await, 404);
    let gone = oauth
        .introspect(&oauth2::AccessToken::new(token.clone()))
        .request_async(&http)
        .await
        .expect("introspect");
    assert!(!gone.active());
    assert_eq!(srv.head_token(&narrow, None, None).await, 204);
}

async fn client_authentication_is_checked(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let client = register(&srv, &admin, &["confd.#"]).await;
    let grant = [("grant_type", "client_credentials")];

    // client_secret_post works; a secret in both places, or two ids, does not.
    let post = [
        ("grant_type", "client_credentials"),
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret.as_str()),
    ];
    let ok = post_form(&srv, "/oauth2/token", None, &post).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["token_type"], "Bearer");
    assert_eq!(ok.body["expires_in"], 3600);
    assert_eq!(ok.header("cache-control"), Some("no-store"));
    assert_eq!(ok.header("pragma"), Some("no-cache"));
    let both = post_form(
        &srv,
        "/oauth2/token",
        Some((&client.id, &client.secret)),
        &post,
    )
    .await;
    assert_oauth_error(&both, 400, "invalid_request");

    // Wrong secrets: 401 invalid_client, with a Basic challenge only when Basic was tried.
    let wrong = post_form(&srv, "/oauth2/token", Some((&client.id, "nope")), &grant).await;
    assert_oauth_error(&wrong, 401, "invalid_client");
    assert!(wrong
        .header("www-authenticate")
        .unwrap_or("")
        .starts_with("Basic"));
    let wrong_post = [
        ("grant_type", "client_credentials"),
        ("client_id", client.id.as_str()),
        ("client_secret", "nope"),
    ];
    let wrong_post = post_form(&srv, "/oauth2/token", None, &wrong_post).await;
    assert_oauth_error(&wrong_post, 401, "invalid_client");
    assert!(wrong_post.header("www-authenticate").is_none());
    // No client, an unknown one, an id that is not a uuid, a confidential client without its secret.
    for form in [
        vec![("grant_type", "client_credentials")],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "not-a-uuid"),
        ],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "00000000-0000-4000-8000-000000000000"),
            ("client_secret", "x"),
        ],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", client.id.as_str()),
        ],
    ] {
        let reply = post_form(&srv, "/oauth2/token", None, &form).await;
        assert_oauth_error(&reply, 401, "invalid_client");
    }
    // An id is a uuid in any spelling: the same client.
    let upper = client.id.to_uppercase();
    let reply = post_form(
        &srv,
        "/oauth2/token",
        Some((&upper, &client.secret)),
        &grant,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    // Form bodies only, each parameter once.
    let json_body = srv
        .send(
            srv.client
                .post(srv.raw_url("/oauth2/token"))
                .basic_auth(&client.id, Some(&client.secret))
                .json(&json!({"grant_type": "client_credentials"})),
        )
        .await;
    assert_oauth_error(&json_body, 400, "invalid_request");
    let twice = [
        ("grant_type", "client_credentials"),
        ("grant_type", "client_credentials"),
    ];
    let twice = post_form(
        &srv,
        "/oauth2/token",
        Some((&client.id, &client.secret)),
        &twice,
    )
    .await;
    assert_oauth_error(&twice, 400, "invalid_request");
}

async fn a_ceiling_is_never_exceeded(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let client = register(&srv, &admin, &["confd.*", "calld.#", "!calld.secret.#"]).await;
    for asked in [
        "confd.#",
        "confd.*.x",
        "#",
        "calld.#",
        "auth.#",
        "confd.* auth.users.read",
    ] {
        let reply = client_token(&srv, &client, Some(asked)).await;
        assert_oauth_error(&reply, 400, "invalid_scope");
    }
    for asked in [
        "confd.users",
        "confd.*",
        "calld.# !calld.secret.#",
        "calld.calls.read",
    ] {
        let reply = client_token(&srv, &client, Some(asked)).await;
        assert_eq!(reply.status, 200, "{asked}: {}", reply.text);
        assert_eq!(reply.body["scope"], asked);
    }
    // A scope of OpenID Connect values only names no ACL entry: none granted, not the ceiling.
    let reply = client_token(&srv, &client, Some("openid")).await;
    assert_eq!(reply.body["scope"], "", "{}", reply.text);
    // OpenID Connect scopes sign no one in here: dropped, not granted.
    let reply = client_token(&srv, &client, Some("openid confd.users")).await;
    assert_eq!(reply.body["scope"], "confd.users", "{}", reply.text);
    let token = s(&reply.body["access_token"]);
    assert_eq!(srv.head_token(&token, Some("confd.users"), None).await, 204);
    assert_eq!(srv.head_token(&token, Some("confd.other"), None).await, 403);
}

async fn grants_not_served_are_refused(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let client = register(&srv, &admin, &["confd.#"]).await;
    let basic = Some((client.id.as_str(), client.secret.as_str()));
    for grant in ["password", "implicit"] {
        let form = [
            ("grant_type", grant),
            ("username", ADMIN_USERNAME),
            ("password", ADMIN_PASSWORD),
        ];
        let reply = post_form(&srv, "/oauth2/token", basic, &form).await;
        assert_oauth_error(&reply, 400, "unsupported_grant_type");
    }
    // The device grant is served, to clients holding it (oauth2_device.rs).
    let form = [("grant_type", "urn:ietf:params:oauth:grant-type:device_code")];
    let device = post_form(&srv, "/oauth2/token", basic, &form).await;
    assert_oauth_error(&device, 400, "unauthorized_client");
    let none = post_form(&srv, "/oauth2/token", basic, &[("scope", "confd.#")]).await;
    assert_oauth_error(&none, 400, "invalid_request");
    // A confidential client not registered for client_credentials.
    let reply = srv
        .call(
            Method::POST,
            "/oauth2/clients",
            Some(&admin),
            Some(json!({
                "name": "web app",
                "redirect_uris": ["https://app.example.com/cb"],
                "grant_types": ["authorization_code"],
                "scope": ["confd.#"],
            })),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let web = Registered {
        id: s(&reply.body["client_id"]),
        secret: s(&reply.body["client_secret"]),
    };
    let refused = client_token(&srv, &web, None).await;
    assert_oauth_error(&refused, 400, "unauthorized_client");
}

/// Exactly `{"active": false}`.
fn assert_inactive(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 200, "{what}: {}", reply.text);
    assert_eq!(reply.body, json!({"active": false}), "{what}");
}

async fn introspection_answers_exactly_inactive(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let client = register(&srv, &admin, &["confd.#"]).await;
    let basic = Some((client.id.as_str(), client.secret.as_str()));
    let introspect = |token: String| {
        let srv = &srv;
        async move { post_form(srv, "/oauth2/introspect", basic, &[("token", &token)]).await }
    };
    assert_inactive(
        &introspect("00000000-0000-4000-8000-000000000000".into()).await,
        "unknown",
    );
    assert_inactive(&introspect("not a token at all".into()).await, "malformed");
    let revoked = s(&client_token(&srv, &client, None).await.body["access_token"]);
    post_form(&srv, "/oauth2/revoke", basic, &[("token", &revoked)]).await;
    assert_inactive(&introspect(revoked).await, "revoked");
    let expiring = s(&client_token(&srv, &client, None).await.body["access_token"]);
    let active = introspect(expiring.clone()).await;
    assert_eq!(active.body["active"], true, "{}", active.text);
    assert_eq!(active.body["token_type"], "Bearer");
    assert_eq!(active.body["client_id"], client.id.as_str());
    assert!(active.body.get("username").is_none());
    let iat = active.body["iat"].as_i64().unwrap();
    assert_eq!(active.body["exp"].as_i64().unwrap() - iat, 3600);
    srv.clock.advance(std::time::Duration::from_secs(3601));
    assert_inactive(&introspect(expiring).await, "expired");
    // A wazo refresh token of another client_id: not this client's to see.
    let refresh = srv
        .refresh_token_of(ADMIN_USERNAME, ADMIN_PASSWORD, "wazo-app")
        .await;
    assert_inactive(&introspect(refresh).await, "another client's refresh token");

    // The caller must authenticate: a wrong secret is 401, a missing token 400.
    let wrong = post_form(
        &srv,
        "/oauth2/introspect",
        Some((&client.id, "x")),
        &[("token", "t")],
    )
    .await;
    assert_oauth_error(&wrong, 401, "invalid_client");
    let missing = post_form(&srv, "/oauth2/introspect", basic, &[]).await;
    assert_oauth_error(&missing, 400, "invalid_request");
}

async fn wazo_tokens_introspect(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let admin_uuid = srv.admin_uuid().await;
    let client = register(&srv, &admin, &["confd.#"]).await;
    let basic = Some((client.id.as_str(), client.secret.as_str()));
    let seen = post_form(&srv, "/oauth2/introspect", basic, &[("token", &admin)]).await;
    let body = &seen.body;
    assert_eq!(body["active"], true, "{}", seen.text);
    assert_eq!(body["sub"], admin_uuid.as_str());
    assert_eq!(body["username"], ADMIN_USERNAME);
    assert!(
        body.get("client_id").is_none(),
        "a password login has no client"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["iss"], format!("http://{}", srv.addr));
    assert!(s(&body["scope"]).split(' ').any(|entry| entry == "#"));
    // A token minted from a wazo refresh token names its client_id.
    let refresh = srv
        .refresh_token_of(ADMIN_USERNAME, ADMIN_PASSWORD, "wazo-app")
        .await;
    let granted = srv.grant(&refresh, "wazo-app").await;
    let minted = s(&granted.data()["token"]);
    let seen = post_form(&srv, "/oauth2/introspect", basic, &[("token", &minted)]).await;
    assert_eq!(seen.body["client_id"], "wazo-app", "{}", seen.text);

    // A Bearer caller holding auth.oauth2.introspect may introspect; one without may not.
    let bearer = srv
        .send(
            srv.client
                .post(srv.raw_url("/oauth2/introspect"))
                .bearer_auth(&admin)
                .form(&[("token", minted.as_str())]),
        )
        .await;
    assert_eq!(bearer.body["active"], true, "{}", bearer.text);
    let (_, weak) = srv.caller(&admin, "weak", &["confd.#"]).await;
    let refused = srv
        .send(
            srv.client
                .post(srv.raw_url("/oauth2/introspect"))
                .bearer_auth(&weak)
                .form(&[("token", minted.as_str())]),
        )
        .await;
    assert_oauth_error(&refused, 403, "insufficient_scope");
    let unknown = srv
        .send(
            srv.client
                .post(srv.raw_url("/oauth2/introspect"))
                .bearer_auth("00000000-0000-4000-8000-000000000000")
                .form(&[("token", minted.as_str())]),
        )
        .await;
    assert_oauth_error(&unknown, 401, "invalid_token");
}

async fn a_client_revokes_only_its_own_tokens(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let first = register(&srv, &admin, &["confd.#"]).await;
    let second = register(&srv, &admin, &["confd.#"]).await;
    let token = s(&client_token(&srv, &first, None).await.body["access_token"]);
    let by_second = Some((second.id.as_str(), second.secret.as_str()));
    for value in [token.as_str(), admin.as_str(), "unknown-token"] {
        let reply = post_form(&srv, "/oauth2/revoke", by_second, &[("token", value)]).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    assert_eq!(
        srv.head_token(&token, None, None).await,
        204,
        "another client's token"
    );
    assert_eq!(
        srv.head_token(&admin, None, None).await,
        204,
        "a user's wazo token"
    );
    let by_first = Some((first.id.as_str(), first.secret.as_str()));
    // A token spelled in upper case is the same token (as /token/{token} reads it).
    let upper = token.to_uppercase();
    let seen = post_form(&srv, "/oauth2/introspect", by_first, &[("token", &upper)]).await;
    assert_eq!(seen.body["active"], true, "{}", seen.text);
    let reply = post_form(&srv, "/oauth2/revoke", by_first, &[("token", &upper)]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(srv.head_token(&token, None, None).await, 404);
    let wrong = post_form(
        &srv,
        "/oauth2/revoke",
        Some((&first.id, "x")),
        &[("token", "t")],
    )
    .await;
    assert_oauth_error(&wrong, 401, "invalid_client");
}

async fn bearer_tokens_work_on_the_api(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let bearer = srv
        .send(srv.request(Method::GET, "/users").bearer_auth(&admin))
        .await;
    assert_eq!(bearer.status, 200, "{}", bearer.text);
    let same = srv
        .send(
            srv.request(Method::GET, "/users")
                .bearer_auth(&admin)
                .header("X-Auth-Token", &admin),
        )
        .await;
    assert_eq!(same.status, 200, "{}", same.text);
    let (_, other) = srv.caller(&admin, "other", &["confd.#"]).await;
    let different = srv
        .send(
            srv.request(Method::GET, "/users")
                .bearer_auth(&admin)
                .header("X-Auth-Token", &other),
        )
        .await;
    common::assert_api_error(&different, 400, "two different tokens");
    let none = srv
        .send(
            srv.request(Method::GET, "/users")
                .bearer_auth("not-a-token"),
        )
        .await;
    common::assert_unauthorized(&none, "an unknown Bearer token");
}

async fn failed_client_authentications_are_throttled(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 3;
        c.bruteforce_address_failures = 0;
    })
    .await;
    let admin = srv.admin_token().await;
    let client = register(&srv, &admin, &["confd.#"]).await;
    let grant = [("grant_type", "client_credentials")];
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let reply = post_form(&srv, "/oauth2/token", Some((&client.id, "wrong")), &grant).await;
        statuses.push(reply.status);
        if reply.status == 429 {
            assert!(reply.header("retry-after").is_some());
        }
    }
    assert!(
        statuses.contains(&429),
        "held back after failures: {statuses:?}"
    );
    // The right secret still works: a secret cannot be guessed, so a held-back client is
    // refused only when it fails.
    let ok = client_token(&srv, &client, None).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}

async fn a_wazo_offline_login_may_not_name_an_oauth2_client(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let client = register(&srv, &admin, &["confd.#"]).await;
    for spelling in [client.id.clone(), client.id.to_uppercase()] {
        let reply = srv
            .login_reply(ADMIN_USERNAME, ADMIN_PASSWORD, common::offline(&spelling))
            .await;
        assert_eq!(reply.status, 400, "{spelling}: {}", reply.text);
    }
    let wrong_password = srv
        .login_reply(ADMIN_USERNAME, "wrong", common::offline(&client.id))
        .await;
    assert_eq!(
        wrong_password.status, 401,
        "nothing told without the password"
    );
}

/// With and without the cache: a token the bound ends stops validating and introspecting at once
/// (each is validated and introspected as soon as it is issued, so a cache holds it).
async fn a_client_holds_a_bounded_number_of_tokens(store: Store) {
    for cache in [0, 10_000] {
        let srv = common::start_with(store, |c| {
            c.max_user_concurrent_sessions = 3;
            c.token_cache_size = cache;
        })
        .await;
        let admin = srv.admin_token().await;
        let client = register(&srv, &admin, &["confd.#"]).await;
        let mut tokens = Vec::new();
        for _ in 0..5 {
            let reply = client_token(&srv, &client, None).await;
            assert_eq!(reply.status, 200, "never refused: {}", reply.text);
            let token = s(&reply.body["access_token"]);
            assert_eq!(srv.head_token(&token, None, None).await, 204);
            let seen = introspected_twice(&srv, &client, &token).await;
            assert_eq!(seen.body["active"], true, "{}", seen.text);
            tokens.push(token);
            srv.clock.advance(std::time::Duration::from_secs(1));
        }
        let live: Vec<u16> = statuses_of(&srv, &tokens).await;
        assert_eq!(live, vec![404, 404, 204, 204, 204], "the oldest end first");
        let first = introspected_twice(&srv, &client, &tokens[0]).await;
        assert_inactive(&first, "ended by the bound");
    }
}

async fn statuses_of(srv: &TestServer, tokens: &[String]) -> Vec<u16> {
    let mut statuses = Vec::new();
    for token in tokens {
        statuses.push(srv.head_token(token, None, None).await);
    }
    statuses
}

/// Attack-run finding: grants in flight while their client is deleted must not leave a live token.
async fn tokens_in_flight_do_not_outlive_their_deleted_client(store: Store) {
    let srv = std::sync::Arc::new(common::start(store).await);
    let admin = srv.admin_token().await;
    let client = std::sync::Arc::new(register(&srv, &admin, &["confd.#"]).await);
    let mut grants = Vec::new();
    for _ in 0..8 {
        let (srv, client) = (srv.clone(), client.clone());
        grants.push(tokio::spawn(async move {
            let mut tokens = Vec::new();
            for _ in 0..15 {
                let reply = client_token(&srv, &client, None).await;
                if let Some(token) = reply.body["access_token"].as_str() {
                    tokens.push(token.to_string());
                }
            }
            tokens
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let path = format!("/oauth2/clients/{}", client.id);
    let deleted = srv.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    for grant in grants {
        for token in grant.await.unwrap() {
            assert_eq!(
                srv.head_token(&token, None, None).await,
                404,
                "a token outlived its client"
            );
        }
    }
}

/// Attack-run finding: parallel grants of one client at its cap deadlocked on PostgreSQL (500s)
/// and overshot the cap.
async fn parallel_grants_at_the_cap_stay_bounded(store: Store) {
    let srv = std::sync::Arc::new(
        common::start_with(store, |c| c.max_user_concurrent_sessions = 3).await,
    );
    let admin = srv.admin_token().await;
    let client = std::sync::Arc::new(register(&srv, &admin, &["confd.#"]).await);
    let mut grants = Vec::new();
    for _ in 0..10 {
        let (srv, client) = (srv.clone(), client.clone());
        grants.push(tokio::spawn(async move {
            let mut tokens = Vec::new();
            for _ in 0..6 {
                let reply = client_token(&srv, &client, None).await;
                assert_eq!(reply.status, 200, "{}", reply.text);
                tokens.push(s(&reply.body["access_token"]));
            }
            tokens
        }));
    }
    // Every grant first, then what is live: a token checked while others are still being
    // granted may end after.
    let mut tokens = Vec::new();
    for grant in grants {
        tokens.extend(grant.await.unwrap());
    }
    let mut live = 0;
    for token in tokens {
        live += usize::from(srv.head_token(&token, None, None).await == 204);
    }
    assert!(live <= 3, "{live} live tokens for a cap of 3");
}

fn with_cache(config: &mut tessera::Config) {
    config.token_cache_size = 10_000;
}

/// Whether `token` introspects as active for `client` (an answer twice: the second is served
/// from the cache when it is on).
async fn introspected_twice(srv: &TestServer, client: &Registered, token: &str) -> Reply {
    let basic = Some((client.id.as_str(), client.secret.as_str()));
    let first = post_form(srv, "/oauth2/introspect", basic, &[("token", token)]).await;
    let second = post_form(srv, "/oauth2/introspect", basic, &[("token", token)]).await;
    assert_eq!(first.body, second.body, "the cached answer is the same");
    second
}

/// With the cache on, an introspection is served from it: whatever ends a token, renames its
/// user or changes the introspecting client is seen at once.
async fn cached_introspections_end_with_what_they_read(store: Store) {
    let srv = common::start_with(store, with_cache).await;
    let admin = srv.admin_token().await;
    let mut client = register(&srv, &admin, &["confd.#"]).await;
    let user = srv.create_user("cached-user", "pw-cached").await;
    let uuid = s(&user["uuid"]);

    let token = srv.token_of("cached-user", "pw-cached").await;
    assert_eq!(
        introspected_twice(&srv, &client, &token).await.body["active"],
        true
    );
    srv.request(Method::DELETE, &format!("/token/{token}"))
        .send()
        .await
        .unwrap();
    assert_inactive(&introspected_twice(&srv, &client, &token).await, "revoked");

    let data = srv.login_ok("cached-user", "pw-cached", json!({})).await;
    let token = s(&data["token"]);
    assert_eq!(
        introspected_twice(&srv, &client, &token).await.body["active"],
        true
    );
    let session = s(&data["session_uuid"]);
    let ended = format!("/sessions/{session}");
    let ended = srv.call(Method::DELETE, &ended, Some(&admin), None).await;
    assert_eq!(ended.status, 204, "{}", ended.text);
    assert_inactive(
        &introspected_twice(&srv, &client, &token).await,
        "session ended",
    );

    let token = srv.token_of("cached-user", "pw-cached").await;
    let seen = introspected_twice(&srv, &client, &token).await;
    assert_eq!(seen.body["username"], "cached-user", "{}", seen.text);
    srv.update_user(
        &admin,
        &uuid,
        json!({"username": "renamed", "enabled": true}),
    )
    .await;
    let seen = introspected_twice(&srv, &client, &token).await;
    assert_eq!(seen.body["username"], "renamed", "{}", seen.text);

    let token = srv.token_of("renamed", "pw-cached").await;
    assert_eq!(
        introspected_twice(&srv, &client, &token).await.body["active"],
        true
    );
    srv.clock.advance(std::time::Duration::from_secs(7201));
    assert_inactive(&introspected_twice(&srv, &client, &token).await, "expired");

    // The client's cached copy: a renewed secret replaces the old one at once; a deleted client
    // introspects nothing.
    let admin = srv.admin_token().await;
    let token = srv.token_of("renamed", "pw-cached").await;
    assert_eq!(
        introspected_twice(&srv, &client, &token).await.body["active"],
        true
    );
    let path = format!("/oauth2/clients/{}", client.id);
    let renewed = srv
        .call(Method::POST, &format!("{path}/secret"), Some(&admin), None)
        .await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    let old = post_form(
        &srv,
        "/oauth2/introspect",
        Some((&client.id, &client.secret)),
        &[("token", &token)],
    )
    .await;
    assert_oauth_error(&old, 401, "invalid_client");
    client.secret = s(&renewed.body["client_secret"]);
    assert_eq!(
        introspected_twice(&srv, &client, &token).await.body["active"],
        true
    );
    assert_eq!(
        srv.call(Method::DELETE, &path, Some(&admin), None)
            .await
            .status,
        204
    );
    let gone = post_form(
        &srv,
        "/oauth2/introspect",
        Some((&client.id, &client.secret)),
        &[("token", &token)],
    )
    .await;
    assert_oauth_error(&gone, 401, "invalid_client");
}

/// Polls `other` until `client` no longer introspects there; returns how long that took.
async fn time_until_refused(
    other: &TestServer,
    client: &Registered,
    token: &str,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    let basic = Some((client.id.as_str(), client.secret.as_str()));
    while post_form(other, "/oauth2/introspect", basic, &[("token", token)])
        .await
        .status
        != 401
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "never invalidated"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    started.elapsed()
}

/// A secret renewed on one instance stops introspecting on another, whose cache held the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_secret_reaches_another_instance_within_100_ms() {
    let first = common::start_with(Store::Postgres, with_cache).await;
    let database_url = first.database_url.clone();
    let second = common::start_with(Store::Postgres, move |c| {
        with_cache(c);
        c.database_url = database_url;
    })
    .await;
    let admin = first.admin_token().await;
    let client = register(&first, &admin, &["confd.#"]).await;
    let token = first.admin_token().await;
    assert_eq!(
        introspected_twice(&second, &client, &token).await.body["active"],
        true
    );
    let path = format!("/oauth2/clients/{}/secret", client.id);
    let renewed = first.call(Method::POST, &path, Some(&admin), None).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    let took = time_until_refused(&second, &client, &token).await;
    assert!(
        took < std::time::Duration::from_millis(100),
        "took {took:?}"
    );
}
