//! The device authorization grant (SPEC §11.8, RFC 8628), driven by hand: a device asks for
//! codes and polls the token endpoint; a browser-like client (its cookie kept, no redirects
//! followed) signs in on the code flow's login page, types the user code and decides. Then
//! every rule: the poll's pace and `slow_down`, denial, expiry, single use, the throttle on
//! wrong user codes, CSRF, the consent page shown even when remembered, and who may use it.

use std::time::Duration;

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{self, s, Reply, Store, TestServer};
use crate::oauth2_authorize::{
    assert_page_hygiene, authorize_url, param, post_page, redirected, Browser, REDIRECT,
};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Registers a client with `grant_types` and a ceiling of `confd.#`; its id (and secret, if
/// confidential).
async fn register(srv: &TestServer, kind: &str, grant_types: &[&str], consent: &str) -> Reply {
    let admin = srv.admin_token().await;
    let redirect_uris: Vec<&str> = match grant_types.contains(&"authorization_code") {
        true => vec![REDIRECT],
        false => vec![],
    };
    let reply = srv
        .call(
            Method::POST,
            "/oauth2/clients",
            Some(&admin),
            Some(json!({
                "name": "Living-room TV",
                "type": kind,
                "redirect_uris": redirect_uris,
                "grant_types": grant_types,
                "scope": ["confd.#"],
                "consent": consent,
            })),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply
}

async fn device_app(srv: &TestServer) -> String {
    s(&register(srv, "public", &[DEVICE_GRANT], "required")
        .await
        .body["client_id"])
}

/// POST /oauth2/device_authorization as a public client.
async fn start_device(srv: &TestServer, client_id: &str, scope: &str) -> Reply {
    let form = [("client_id", client_id), ("scope", scope)];
    let builder = srv
        .client
        .post(srv.raw_url("/oauth2/device_authorization"))
        .form(&form);
    srv.send(builder).await
}

/// The device's poll of the token endpoint.
async fn poll(srv: &TestServer, client_id: &str, device_code: &str) -> Reply {
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", device_code),
        ("client_id", client_id),
    ];
    let builder = srv.client.post(srv.raw_url("/oauth2/token")).form(&form);
    srv.send(builder).await
}

/// The poll's error code (400 expected).
async fn poll_error(srv: &TestServer, client_id: &str, device_code: &str) -> String {
    let reply = poll(srv, client_id, device_code).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    s(&reply.body["error"])
}

/// Posts the device page's form (its hidden fields and `extra`).
async fn post_device(browser: &mut Browser<'_>, page: &Reply, extra: &[(&str, &str)]) -> Reply {
    post_page(browser, "/oauth2/device", page, extra).await
}

/// Signs alice in on the device page: the code form.
async fn signed_in(srv: &TestServer, browser: &mut Browser<'_>) -> Reply {
    let login = browser.open(&srv.raw_url("/oauth2/device")).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let form = post_device(
        browser,
        &login,
        &[("username", "alice"), ("password", "alice-pw")],
    )
    .await;
    assert_eq!(form.status, 200, "{}", form.text);
    assert!(form.text.contains("name=\"user_code\""), "{}", form.text);
    form
}

/// Types `user_code` on the code form and decides (`allow` or `deny`): the last page.
async fn decide(browser: &mut Browser<'_>, form: &Reply, user_code: &str, decision: &str) -> Reply {
    let consent = post_device(browser, form, &[("user_code", user_code)]).await;
    assert_eq!(consent.status, 200, "{}", consent.text);
    assert!(
        consent.text.contains("name=\"decision\""),
        "{}",
        consent.text
    );
    post_device(browser, &consent, &[("decision", decision)]).await
}

both_stores!(
    a_device_gets_the_users_token_once,
    a_device_granted_openid_gets_an_id_token,
    polling_too_fast_slows_the_device_down,
    a_denied_device_gets_access_denied,
    device_codes_expire,
    device_codes_are_digests_purged_a_day_after_their_end,
    wrong_user_codes_are_throttled_by_address,
    device_forms_need_their_csrf_token,
    the_device_consent_is_always_asked,
    only_clients_with_the_grant_may_use_it,
    a_client_holds_a_bounded_number_of_pending_devices,
);

async fn a_device_gets_the_users_token_once(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.user_with_acl(&admin, "alice", "alice-pw", &["confd.users.me.read"])
        .await;
    let client_id = device_app(&srv).await;
    let issuer = format!("http://{}", srv.addr);

    let started = start_device(&srv, &client_id, "confd.users.me.read").await;
    assert_eq!(started.status, 200, "{}", started.text);
    assert_eq!(started.header("cache-control"), Some("no-store"));
    let user_code = s(&started.body["user_code"]);
    let device_code = s(&started.body["device_code"]);
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code
        .chars()
        .all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
    let verification_uri = format!("{issuer}/oauth2/device");
    assert_eq!(s(&started.body["verification_uri"]), verification_uri);
    assert_eq!(
        s(&started.body["verification_uri_complete"]),
        format!("{verification_uri}?user_code={user_code}")
    );
    assert_eq!(started.body["expires_in"], 600);
    assert_eq!(started.body["interval"], 5);

    srv.clock.advance(Duration::from_secs(5));
    assert_eq!(
        poll_error(&srv, &client_id, &device_code).await,
        "authorization_pending"
    );

    // The link fills the code in once signed in; the user types it in lower case, no dash.
    let mut browser = Browser::new(&srv);
    let complete = s(&started.body["verification_uri_complete"]);
    let login = browser.open(&complete).await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_page_hygiene(&login);
    assert!(login.text.contains("name=\"password\""));
    let form = post_device(
        &mut browser,
        &login,
        &[("username", "alice"), ("password", "alice-pw")],
    )
    .await;
    assert!(
        form.text.contains(&format!("value=\"{user_code}\"")),
        "{}",
        form.text
    );
    let typed = user_code.replace('-', "").to_lowercase();
    let consent = post_device(&mut browser, &form, &[("user_code", &typed)]).await;
    assert_eq!(consent.status, 200, "{}", consent.text);
    assert_page_hygiene(&consent);
    assert!(consent.text.contains("Living-room TV"));
    assert!(consent.text.contains("confd.users.me.read"));
    assert!(
        consent.text.contains("started this yourself"),
        "{}",
        consent.text
    );
    assert!(consent.text.contains(&user_code));
    let done = post_device(&mut browser, &consent, &[("decision", "allow")]).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_page_hygiene(&done);

    srv.clock.advance(Duration::from_secs(5));
    let token = poll(&srv, &client_id, &device_code).await;
    assert_eq!(token.status, 200, "{}", token.text);
    assert_eq!(token.header("cache-control"), Some("no-store"));
    assert_eq!(s(&token.body["token_type"]), "Bearer");
    assert_eq!(s(&token.body["scope"]), "confd.users.me.read");
    let value = s(&token.body["access_token"]);
    // alice's token, limited to the granted scope.
    let alice = srv.login_ok("alice", "alice-pw", json!({})).await;
    let uuid = s(&alice["metadata"]["uuid"]);
    let mine = format!("confd.users.{uuid}.read");
    assert_eq!(srv.head_token(&value, Some(&mine), None).await, 204);
    assert_eq!(
        srv.head_token(&value, Some("confd.users.read"), None).await,
        403
    );

    // Once only.
    srv.clock.advance(Duration::from_secs(5));
    assert_eq!(
        poll_error(&srv, &client_id, &device_code).await,
        "invalid_grant"
    );
    assert_eq!(
        poll_error(&srv, &client_id, "no-such-device-code").await,
        "invalid_grant"
    );
}

async fn polling_too_fast_slows_the_device_down(store: Store) {
    let srv = common::start(store).await;
    let client_id = device_app(&srv).await;
    let started = start_device(&srv, &client_id, "confd.#").await;
    let device_code = s(&started.body["device_code"]);
    let pending = "authorization_pending";
    // Sooner than 5 s after the answer: slow down, and keep 10 s from then on.
    assert_eq!(
        poll_error(&srv, &client_id, &device_code).await,
        "slow_down"
    );
    srv.clock.advance(Duration::from_secs(5));
    assert_eq!(
        poll_error(&srv, &client_id, &device_code).await,
        "slow_down"
    );
    srv.clock.advance(Duration::from_secs(10));
    assert_eq!(
        poll_error(&srv, &client_id, &device_code).await,
        "slow_down"
    );
    // Each slow_down added 5 s: 20 s now.
    srv.clock.advance(Duration::from_secs(19));
    assert_eq!(
        poll_error(&srv, &client_id, &device_code).await,
        "slow_down"
    );
    srv.clock.advance(Duration::from_secs(25));
    assert_eq!(poll_error(&srv, &client_id, &device_code).await, pending);
    srv.clock.advance(Duration::from_secs(25));
    assert_eq!(poll_error(&srv, &client_id, &device_code).await, pending);
}

async fn a_denied_device_gets_access_denied(store: Store) {
    let srv = common::start(store).await;
    srv.create_user("alice", "alice-pw").await;
    let client_id = device_app(&srv).await;
    let started = start_device(&srv, &client_id, "confd.#").await;
    let mut browser = Browser::new(&srv);
    // A wrong password: the page again, the login filled in.
    let login = browser.open(&srv.raw_url("/oauth2/device")).await;
    let wrong = [("username", "alice"), ("password", "nope")];
    let failed = post_device(&mut browser, &login, &wrong).await;
    assert!(
        failed.text.contains("Wrong username or password"),
        "{}",
        failed.text
    );
    assert!(failed.text.contains("value=\"alice\""), "{}", failed.text);
    let form = signed_in(&srv, &mut browser).await;
    let user_code = s(&started.body["user_code"]);
    let denied = decide(&mut browser, &form, &user_code, "deny").await;
    assert_eq!(denied.status, 200, "{}", denied.text);
    srv.clock.advance(Duration::from_secs(5));
    let device_code = s(&started.body["device_code"]);
    assert_eq!(
        poll_error(&srv, &client_id, &device_code).await,
        "access_denied"
    );
    // A decided code is no longer pending: typing it again finds nothing.
    let again = post_device(&mut browser, &form, &[("user_code", &user_code)]).await;
    assert_eq!(again.status, 400, "{}", again.text);
}

async fn device_codes_expire(store: Store) {
    let srv = common::start(store).await;
    srv.create_user("alice", "alice-pw").await;
    let client_id = device_app(&srv).await;
    let started = start_device(&srv, &client_id, "").await;
    let device_code = s(&started.body["device_code"]);
    srv.clock.advance(Duration::from_secs(601));
    assert_eq!(
        poll_error(&srv, &client_id, &device_code).await,
        "expired_token"
    );
    let mut browser = Browser::new(&srv);
    let form = signed_in(&srv, &mut browser).await;
    let user_code = s(&started.body["user_code"]);
    let late = post_device(&mut browser, &form, &[("user_code", &user_code)]).await;
    assert_eq!(late.status, 400, "{}", late.text);
    assert!(late.text.contains("name=\"user_code\""));
}

async fn wrong_user_codes_are_throttled_by_address(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_address_failures = 3;
    })
    .await;
    srv.create_user("alice", "alice-pw").await;
    let client_id = device_app(&srv).await;
    let started = start_device(&srv, &client_id, "").await;
    let user_code = s(&started.body["user_code"]);
    let mut browser = Browser::new(&srv);
    let form = signed_in(&srv, &mut browser).await;
    let mut statuses = Vec::new();
    for wrong in [
        "BBBB-BBBB",
        "not a code",
        "CCCCCCCC",
        "DDDD-DDDD",
        "FFFF-FFFF",
    ] {
        let reply = post_device(&mut browser, &form, &[("user_code", wrong)]).await;
        assert_page_hygiene(&reply);
        statuses.push(reply.status);
    }
    assert_eq!(&statuses[..3], &[400, 400, 400], "{statuses:?}");
    assert_eq!(statuses[4], 429, "{statuses:?}");
    // Held back, even the right code waits: guessing gains nothing.
    let held = post_device(&mut browser, &form, &[("user_code", &user_code)]).await;
    assert_eq!(held.status, 429, "{}", held.text);
    assert!(held.header("retry-after").is_some());
    assert!(held
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
}

async fn device_forms_need_their_csrf_token(store: Store) {
    let srv = common::start(store).await;
    srv.create_user("alice", "alice-pw").await;
    let client_id = device_app(&srv).await;
    let started = start_device(&srv, &client_id, "").await;
    let user_code = s(&started.body["user_code"]);
    let mut browser = Browser::new(&srv);
    let form = signed_in(&srv, &mut browser).await;
    let forged = Reply {
        text: form.text.replace("name=\"csrf\"", "name=\"not-csrf\""),
        ..form.clone()
    };
    let reply = post_device(&mut browser, &forged, &[("user_code", &user_code)]).await;
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert_page_hygiene(&reply);
    // Another browser (no cookie) posting the form's fields: refused too.
    let mut other = Browser::new(&srv);
    let reply = post_device(&mut other, &form, &[("user_code", &user_code)]).await;
    assert_eq!(reply.status, 403);
    // The consent form alike.
    let consent = post_device(&mut browser, &form, &[("user_code", &user_code)]).await;
    let forged = Reply {
        text: consent
            .text
            .replace("name=\"csrf\" value=\"", "name=\"csrf\" value=\"x"),
        ..consent.clone()
    };
    let reply = post_device(&mut browser, &forged, &[("decision", "allow")]).await;
    assert_eq!(reply.status, 403);
    srv.clock.advance(Duration::from_secs(5));
    let device_code = s(&started.body["device_code"]);
    assert_eq!(
        poll_error(&srv, &client_id, &device_code).await,
        "authorization_pending"
    );
}

async fn the_device_consent_is_always_asked(store: Store) {
    let srv = common::start(store).await;
    srv.create_user("alice", "alice-pw").await;
    let grants = ["authorization_code", DEVICE_GRANT];
    let client_id = s(&register(&srv, "public", &grants, "required").await.body["client_id"]);
    // alice allows the client in the code flow: remembered, the next request asks nothing.
    let mut browser = Browser::new(&srv);
    let page = browser.open(&authorize_url(&srv, &client_id, &[])).await;
    let consent = browser.login(&page, "alice", "alice-pw").await;
    assert!(
        consent.text.contains("name=\"decision\""),
        "{}",
        consent.text
    );
    browser.submit(&consent, &[("decision", "allow")]).await;
    let quiet = browser
        .open(&authorize_url(&srv, &client_id, &[("prompt", "none")]))
        .await;
    assert!(param(&redirected(&quiet), "code").is_some());
    // The same browser, signed in, on the device page: the consent page all the same.
    let started = start_device(&srv, &client_id, "").await;
    let form = browser.open(&srv.raw_url("/oauth2/device")).await;
    assert!(form.text.contains("name=\"user_code\""), "{}", form.text);
    let user_code = s(&started.body["user_code"]);
    let done = decide(&mut browser, &form, &user_code, "allow").await;
    assert_eq!(done.status, 200, "{}", done.text);
    srv.clock.advance(Duration::from_secs(5));
    let device_code = s(&started.body["device_code"]);
    let token = poll(&srv, &client_id, &device_code).await;
    assert_eq!(token.status, 200, "{}", token.text);
}

async fn only_clients_with_the_grant_may_use_it(store: Store) {
    let srv = common::start(store).await;
    let code_only = register(&srv, "public", &["authorization_code"], "required").await;
    let code_only = s(&code_only.body["client_id"]);
    let refused = start_device(&srv, &code_only, "").await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(s(&refused.body["error"]), "unauthorized_client");
    assert_eq!(
        poll_error(&srv, &code_only, "whatever").await,
        "unauthorized_client"
    );
    // A confidential client authenticates (Basic); a wrong secret is invalid_client.
    let confidential = register(&srv, "confidential", &[DEVICE_GRANT], "required").await;
    let id = s(&confidential.body["client_id"]);
    let secret = s(&confidential.body["client_secret"]);
    let url = srv.raw_url("/oauth2/device_authorization");
    let form = [("scope", "confd.#")];
    let ok = srv
        .send(
            srv.client
                .post(&url)
                .basic_auth(&id, Some(&secret))
                .form(&form),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let wrong = srv
        .send(
            srv.client
                .post(&url)
                .basic_auth(&id, Some("nope"))
                .form(&form),
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert_eq!(s(&wrong.body["error"]), "invalid_client");
    // Scope beyond the ceiling.
    let device = device_app(&srv).await;
    let wide = start_device(&srv, &device, "auth.#").await;
    assert_eq!(s(&wide.body["error"]), "invalid_scope");
}

async fn device_codes_are_digests_purged_a_day_after_their_end(store: Store) {
    let srv = common::start_with(store, |c| c.token_cleanup_interval = 1).await;
    let client_id = device_app(&srv).await;
    let started = start_device(&srv, &client_id, "").await;
    let device_code = s(&started.body["device_code"]);
    let user_code = s(&started.body["user_code"]);
    let dump = srv.database_dump().await;
    assert!(!dump.contains(&device_code));
    assert!(!dump.contains(&user_code) && !dump.contains(&user_code.replace('-', "")));
    srv.clock.advance(Duration::from_secs(601));
    assert_eq!(
        poll_error(&srv, &client_id, &device_code).await,
        "expired_token"
    );
    // A day later the purge has taken it: unknown now.
    srv.clock.advance(Duration::from_secs(86_400));
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    loop {
        let error = poll_error(&srv, &client_id, &device_code).await;
        if error == "invalid_grant" {
            break;
        }
        assert_eq!(error, "expired_token");
        assert!(std::time::Instant::now() < deadline, "not purged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client's undecided live device authorizations are bounded (a public client's id is no
/// secret): past the bound it is told to retry later; another client is not affected, and an
/// expired one frees its place.
async fn a_client_holds_a_bounded_number_of_pending_devices(store: Store) {
    let srv = std::sync::Arc::new(common::start(store).await);
    let client_id = device_app(&srv).await;
    // In parallel, past the bound: exactly the bound is accepted.
    let mut starts = Vec::new();
    for _ in 0..8 {
        let (srv, client_id) = (srv.clone(), client_id.clone());
        starts.push(tokio::spawn(async move {
            let mut accepted = 0;
            for _ in 0..130 {
                let started = start_device(&srv, &client_id, "").await;
                match started.status {
                    200 => accepted += 1,
                    status => assert_eq!(status, 429, "{}", started.text),
                }
            }
            accepted
        }));
    }
    let mut accepted = 0;
    for start in starts {
        accepted += start.await.unwrap();
    }
    assert_eq!(accepted, 1000);
    let refused = start_device(&srv, &client_id, "").await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert_eq!(refused.body["error"], "temporarily_unavailable");
    assert!(refused.header("retry-after").is_some());
    let other = device_app(&srv).await;
    assert_eq!(start_device(&srv, &other, "").await.status, 200);
    srv.clock.advance(Duration::from_secs(601));
    assert_eq!(start_device(&srv, &client_id, "").await.status, 200);
}

async fn a_device_granted_openid_gets_an_id_token(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let alice = srv
        .user_with_acl(&admin, "alice", "alice-pw", &["confd.users.me.read"])
        .await;
    let client_id = device_app(&srv).await;
    let started = start_device(&srv, &client_id, "openid confd.users.me.read").await;
    assert_eq!(started.status, 200, "{}", started.text);
    let mut browser = Browser::new(&srv);
    let form = signed_in(&srv, &mut browser).await;
    let user_code = s(&started.body["user_code"]);
    decide(&mut browser, &form, &user_code, "allow").await;
    srv.clock.advance(Duration::from_secs(5));
    let token = poll(&srv, &client_id, &s(&started.body["device_code"])).await;
    assert_eq!(token.status, 200, "{}", token.text);
    assert_eq!(s(&token.body["scope"]), "openid confd.users.me.read");
    let id_token = s(&token.body["id_token"]);
    let payload = id_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], alice["uuid"]);
    assert_eq!(s(&claims["aud"]), client_id);
    // When alice signed in on the device page, and in which browser session.
    assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());
    assert!(!s(&claims["sid"]).is_empty());
    assert!(claims.get("nonce").is_none(), "{claims}");
}
