//! The authorization endpoint and its pages (SPEC §11.3): the code flow with PKCE driven by a
//! real third-party client (the `oauth2` crate) and a browser-like HTTP client that keeps its
//! cookie and follows no redirect; then every rule by hand: redirect URIs never redirected to,
//! PKCE required, codes bound and single-use, CSRF, the login page's throttle, sessions ended by
//! a password change, consent remembered or denied, and the pages' headers.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{self, s, Reply, Store, TestServer};

pub(crate) const REDIRECT: &str = "http://127.0.0.1:7777/cb";
/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Registers a public code-flow client with `ceiling`.
async fn register_app(srv: &TestServer, consent: &str, ceiling: &[&str]) -> String {
    register_with(srv, consent, ceiling, &["authorization_code"]).await
}

/// Registers a public client with `ceiling` and `grant_types`.
async fn register_with(
    srv: &TestServer,
    consent: &str,
    ceiling: &[&str],
    grants: &[&str],
) -> String {
    let admin = srv.admin_token().await;
    let reply = srv
        .call(
            Method::POST,
            "/oauth2/clients",
            Some(&admin),
            Some(json!({
                "name": "Photo <b>app</b>",
                "type": "public",
                "redirect_uris": [REDIRECT],
                "grant_types": grants,
                "scope": ceiling,
                "consent": consent,
            })),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    s(&reply.body["client_id"])
}

/// A browser: one cookie jar of Tessera's cookie, no redirects followed.
pub(crate) struct Browser<'a> {
    pub(crate) srv: &'a TestServer,
    pub(crate) http: reqwest::Client,
    pub(crate) cookie: Option<String>,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(srv: &'a TestServer) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            srv,
            http,
            cookie: None,
        }
    }

    pub(crate) async fn send(&mut self, builder: reqwest::RequestBuilder) -> Reply {
        let builder = match &self.cookie {
            Some(cookie) => builder.header("Cookie", format!("tessera={cookie}")),
            None => builder,
        };
        let reply = self.srv.send(builder).await;
        if let Some(set) = reply.header("set-cookie") {
            let value = set
                .split(';')
                .next()
                .unwrap()
                .trim_start_matches("tessera=");
            self.cookie = Some(value.to_string());
        }
        reply
    }

    pub(crate) async fn open(&mut self, url: &str) -> Reply {
        let builder = self.http.get(url);
        self.send(builder).await
    }

    /// Submits the page's form with its hidden fields and `extra`.
    pub(crate) async fn submit(&mut self, page: &Reply, extra: &[(&str, &str)]) -> Reply {
        let mut form = hidden_fields(&page.text);
        for (name, value) in extra {
            form.push((name.to_string(), value.to_string()));
        }
        let builder = self
            .http
            .post(self.srv.raw_url("/oauth2/authorize"))
            .form(&form);
        self.send(builder).await
    }

    pub(crate) async fn login(&mut self, page: &Reply, username: &str, password: &str) -> Reply {
        self.submit(page, &[("username", username), ("password", password)])
            .await
    }
}

/// Posts a page's form to `path`: its hidden fields, with `extra` in place of any of the same name.
pub(crate) async fn post_page(
    browser: &mut Browser<'_>,
    path: &str,
    page: &Reply,
    extra: &[(&str, &str)],
) -> Reply {
    let mut form = hidden_fields(&page.text);
    for (name, value) in extra {
        form.retain(|(n, _)| n != name);
        form.push((name.to_string(), value.to_string()));
    }
    let builder = browser.http.post(browser.srv.raw_url(path)).form(&form);
    browser.send(builder).await
}

/// The hidden inputs of a page's form, HTML entities decoded.
pub(crate) fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|rest| {
            let name = between(rest, "name=\"", "\"");
            let value = between(rest, "value=\"", "\"");
            (unescape(&name), unescape(&value))
        })
        .collect()
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text.find(start).unwrap() + start.len();
    let to = text[from..].find(end).unwrap() + from;
    text[from..to].to_string()
}

fn unescape(text: &str) -> String {
    text.replace("&#43;", "+")
        .replace("&#x2b;", "+")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

/// The authorization URL for `client_id` with `extra` parameters (PKCE S256 unless replaced).
pub(crate) fn authorize_url(srv: &TestServer, client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("state", "st&te"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in extra {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{}?{query}", srv.raw_url("/oauth2/authorize"))
}

/// The query parameters of a redirect's `Location`, which must be at `REDIRECT`.
pub(crate) fn redirected(reply: &Reply) -> Vec<(String, String)> {
    assert_eq!(reply.status, 303, "{}", reply.text);
    let location = url::Url::parse(reply.header("location").unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT), "{location}");
    location.query_pairs().into_owned().collect()
}

pub(crate) fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// Goes through the pages as alice (signing in and allowing when asked): the code redirected with.
pub(crate) async fn code_for(
    srv: &TestServer,
    browser: &mut Browser<'_>,
    client_id: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut reply = browser.open(&authorize_url(srv, client_id, extra)).await;
    for _ in 0..2 {
        if reply.text.contains("name=\"password\"") {
            reply = browser.login(&reply, "alice", "alice-pw").await;
        } else if reply.text.contains("name=\"decision\"") {
            reply = browser.submit(&reply, &[("decision", "allow")]).await;
        }
    }
    param(&redirected(&reply), "code").expect("code")
}

pub(crate) async fn exchange(
    srv: &TestServer,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> Reply {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
        ("client_id", client_id),
    ];
    let builder = srv.client.post(srv.raw_url("/oauth2/token")).form(&form);
    srv.send(builder).await
}

pub(crate) fn assert_page_hygiene(reply: &Reply) {
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    let csp = reply.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(reply.header("access-control-allow-origin").is_none());
}

both_stores!(
    a_third_party_client_signs_a_user_in_with_pkce,
    requests_that_cannot_be_redirected_get_a_page,
    request_errors_redirect_with_state_and_iss,
    codes_are_bound_single_use_and_short_lived,
    forms_need_their_csrf_token,
    the_login_page_keeps_the_password_rules,
    sessions_and_consents_are_remembered_until_they_end,
    ending_a_session_signs_its_browser_out,
    offline_access_gives_a_rotating_refresh_token_chain,
    each_face_redeems_only_its_own_refresh_tokens,
    each_authorization_is_a_chain_listed_and_deleted_with_its_consent,
    a_remembered_consent_covers_by_meaning,
    what_a_client_deletion_or_a_disabled_user_ends,
    parallel_redemptions_of_one_code_leave_nothing_alive,
    one_browser_cannot_pile_up_codes,
    hostile_parameters_get_clear_answers,
    confidential_clients_introspect_and_revoke_only_their_own_chains,
    unknown_refresh_tokens_are_held_back_as_grants,
);

async fn a_third_party_client_signs_a_user_in_with_pkce(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let acl = ["confd.users.me.read", "auth.users.read"];
    srv.user_with_acl(&admin, "alice", "alice-pw", &acl).await;
    let client_id = register_app(&srv, "required", &["confd.users.me.read", "auth.#"]).await;
    let issuer = format!("http://{}", srv.addr);
    let oauth = BasicClient::new(ClientId::new(client_id.clone()))
        .set_auth_uri(AuthUrl::new(format!("{issuer}/oauth2/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{issuer}/oauth2/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("confd.users.me.read".into()))
        .set_pkce_challenge(challenge)
        .url();

    let mut browser = Browser::new(&srv);
    let login = browser.open(url.as_str()).await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_page_hygiene(&login);
    assert!(login.text.contains("name=\"username\"") && login.text.contains("name=\"password\""));
    assert!(
        login.text.contains("Photo &#60;b&#62;app&#60;/b&#62;")
            || login.text.contains("Photo &lt;b&gt;app&lt;/b&gt;"),
        "{}",
        login.text
    );
    let cookie = login.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let consent = browser.login(&login, "alice", "alice-pw").await;
    assert_eq!(consent.status, 200, "{}", consent.text);
    assert_page_hygiene(&consent);
    assert!(consent.text.contains("confd.users.me.read"));
    let csp = consent.header("content-security-policy").unwrap();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:7777"),
        "{csp}"
    );
    let done = browser.submit(&consent, &[("decision", "allow")]).await;
    let params = redirected(&done);
    assert_eq!(
        param(&params, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(param(&params, "iss").as_deref(), Some(issuer.as_str()));
    let code = param(&params, "code").unwrap();

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = oauth
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    assert!(token.refresh_token().is_none());
    let value = token.access_token().secret().clone();
    // An ordinary Tessera token of alice, limited to the granted scope.
    let alice = srv.login_ok("alice", "alice-pw", json!({})).await;
    let uuid = s(&alice["metadata"]["uuid"]);
    assert_eq!(
        srv.head_token(&value, Some(&format!("confd.users.{uuid}.read")), None)
            .await,
        204
    );
    assert_eq!(
        srv.head_token(&value, Some("auth.users.read"), None).await,
        403
    );
}

async fn requests_that_cannot_be_redirected_get_a_page(store: Store) {
    let srv = common::start(store).await;
    let client_id = register_app(&srv, "required", &["confd.#"]).await;
    let mut browser = Browser::new(&srv);
    for url in [
        authorize_url(&srv, &uuid::Uuid::new_v4().to_string(), &[]),
        authorize_url(&srv, "not-a-client", &[]),
        authorize_url(
            &srv,
            &client_id,
            &[("redirect_uri", "https://evil.example/cb")],
        ),
        authorize_url(
            &srv,
            &client_id,
            &[("redirect_uri", "http://127.0.0.1:7777/cb/../x")],
        ),
        // A confidential-style loopback port change is allowed only for public clients: this one is.
        authorize_url(
            &srv,
            &client_id,
            &[("redirect_uri", "http://localhost:7777/cb")],
        ),
    ] {
        let reply = browser.open(&url).await;
        assert_eq!(reply.status, 400, "{url}: {}", reply.text);
        assert!(reply.header("location").is_none());
        assert!(reply
            .header("content-type")
            .unwrap()
            .starts_with("text/html"));
        assert_page_hygiene(&reply);
    }
}

async fn request_errors_redirect_with_state_and_iss(store: Store) {
    let srv = common::start(store).await;
    let client_id = register_app(&srv, "required", &["confd.#"]).await;
    let issuer = format!("http://{}", srv.addr);
    let mut browser = Browser::new(&srv);
    for (extra, error) in [
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge", "")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "auth.#")], "invalid_scope"),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("prompt", "none")], "login_required"),
    ] {
        let reply = browser.open(&authorize_url(&srv, &client_id, &extra)).await;
        let params = redirected(&reply);
        assert_eq!(param(&params, "error").as_deref(), Some(error), "{extra:?}");
        assert_eq!(param(&params, "state").as_deref(), Some("st&te"));
        assert_eq!(param(&params, "iss").as_deref(), Some(issuer.as_str()));
    }
}

async fn codes_are_bound_single_use_and_short_lived(store: Store) {
    let srv = common::start(store).await;
    srv.create_user("alice", "alice-pw").await;
    let client_id = register_app(&srv, "implicit", &["confd.#"]).await;
    let other = register_app(&srv, "implicit", &["confd.#"]).await;
    let mut browser = Browser::new(&srv);

    // Another client's code, a wrong verifier, a wrong redirect URI.
    let code = code_for(&srv, &mut browser, &client_id, &[]).await;
    let reply = exchange(&srv, &other, &code, VERIFIER).await;
    assert_eq!(
        (reply.status, s(&reply.body["error"])),
        (400, "invalid_grant".into())
    );
    let reply = exchange(&srv, &client_id, &code, &"x".repeat(43)).await;
    assert_eq!(
        (reply.status, s(&reply.body["error"])),
        (400, "invalid_grant".into())
    );
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", VERIFIER),
        ("client_id", client_id.as_str()),
    ];
    let builder = srv.client.post(srv.raw_url("/oauth2/token")).form(&form);
    let no_redirect = srv.send(builder).await;
    assert_eq!(no_redirect.status, 400, "{}", no_redirect.text);
    // None of those spent it: its client, with its proof, redeems it.
    let right = exchange(&srv, &client_id, &code, VERIFIER).await;
    assert_eq!(right.status, 200, "{}", right.text);

    // A second redemption revokes what the first one issued.
    let code = code_for(&srv, &mut browser, &client_id, &[]).await;
    let first = exchange(&srv, &client_id, &code, VERIFIER).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.header("cache-control"), Some("no-store"));
    let token = s(&first.body["access_token"]);
    assert_eq!(srv.head_token(&token, None, None).await, 204);
    let again = exchange(&srv, &client_id, &code, VERIFIER).await;
    assert_eq!(
        (again.status, s(&again.body["error"])),
        (400, "invalid_grant".into())
    );
    assert_eq!(srv.head_token(&token, None, None).await, 404);

    // A code lives 60 seconds.
    let code = code_for(&srv, &mut browser, &client_id, &[]).await;
    srv.clock.advance(Duration::from_secs(61));
    let late = exchange(&srv, &client_id, &code, VERIFIER).await;
    assert_eq!(
        (late.status, s(&late.body["error"])),
        (400, "invalid_grant".into())
    );
    let unknown = exchange(&srv, &client_id, "no-such-code", VERIFIER).await;
    assert_eq!(unknown.status, 400);
}

async fn forms_need_their_csrf_token(store: Store) {
    let srv = common::start(store).await;
    srv.create_user("alice", "alice-pw").await;
    let client_id = register_app(&srv, "required", &["confd.#"]).await;
    let mut browser = Browser::new(&srv);
    let page = browser.open(&authorize_url(&srv, &client_id, &[])).await;
    let mut forged = page
        .text
        .replace("name=\"csrf\" value=\"", "name=\"csrf\" value=\"x");
    let reply = browser
        .login(
            &Reply {
                text: forged.clone(),
                ..page.clone()
            },
            "alice",
            "alice-pw",
        )
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert_page_hygiene(&reply);
    // Another browser (no cookie) posting a page's fields: refused too.
    let mut other = Browser::new(&srv);
    let reply = other.login(&page, "alice", "alice-pw").await;
    assert_eq!(reply.status, 403);
    // The consent form alike.
    let consent = browser.login(&page, "alice", "alice-pw").await;
    assert_eq!(consent.status, 200);
    forged = consent
        .text
        .replace("name=\"csrf\" value=\"", "name=\"csrf\" value=\"x");
    let reply = browser
        .submit(
            &Reply {
                text: forged,
                ..consent.clone()
            },
            &[("decision", "allow")],
        )
        .await;
    assert_eq!(reply.status, 403);
}

async fn the_login_page_keeps_the_password_rules(store: Store) {
    // The server's clock follows real time: a hold-back that outlasts a slow machine.
    let srv = common::start_with(store, |c| {
        c.bruteforce_login_failures = 3;
        c.bruteforce_base_delay = 60;
    })
    .await;
    srv.create_user("alice", "alice-pw").await;
    let client_id = register_app(&srv, "required", &["confd.#"]).await;
    let mut browser = Browser::new(&srv);
    let page = browser.open(&authorize_url(&srv, &client_id, &[])).await;
    let wrong = browser.login(&page, "alice", "nope").await;
    let unknown = browser.login(&page, "nobody", "nope").await;
    assert_eq!((wrong.status, unknown.status), (200, 200));
    assert!(wrong.text.contains("Wrong username or password"));
    // The login typed is filled in again, escaped; the password never is.
    assert!(wrong.text.contains("value=\"alice\""), "{}", wrong.text);
    assert!(!wrong.text.contains("nope"), "{}", wrong.text);
    let markup = browser.login(&page, "\"><b>x", "nope").await;
    assert!(!markup.text.contains("<b>x"), "{}", markup.text);
    let strip = |text: &str| text.split("name=\"csrf\"").next().unwrap().to_string();
    assert_eq!(strip(&wrong.text), strip(&unknown.text));
    browser.login(&page, "alice", "nope").await;
    browser.login(&page, "alice", "nope").await;
    // The account's count is shared with POST /token: held back there and here.
    let held = browser.login(&page, "alice", "alice-pw").await;
    assert_eq!(held.status, 429, "{}", held.text);
    assert!(held.header("retry-after").is_some());
    assert_eq!(
        srv.login("alice", "alice-pw", json!({})).await.status(),
        429
    );
    // A disabled user cannot sign in.
    let admin = srv.admin_token().await;
    let bob = srv.create_user("bob", "bob-pw").await;
    let uuid = s(&bob["uuid"]);
    let update = srv
        .call(
            Method::PUT,
            &format!("/users/{uuid}"),
            Some(&admin),
            Some(json!({"username": "bob", "enabled": false})),
        )
        .await;
    assert_eq!(update.status, 200, "{}", update.text);
    let disabled = browser.login(&page, "bob", "bob-pw").await;
    assert!(disabled.text.contains("Wrong username or password"));
}

async fn sessions_and_consents_are_remembered_until_they_end(store: Store) {
    let srv = common::start(store).await;
    let alice = srv.create_user("alice", "alice-pw").await;
    let client_id = register_app(&srv, "required", &["confd.#"]).await;
    let mut browser = Browser::new(&srv);
    // Deny: access_denied.
    let page = browser.open(&authorize_url(&srv, &client_id, &[])).await;
    let consent = browser.login(&page, "alice", "alice-pw").await;
    let denied = browser.submit(&consent, &[("decision", "deny")]).await;
    assert_eq!(
        param(&redirected(&denied), "error").as_deref(),
        Some("access_denied")
    );
    // Signed in: the consent page comes without a login; allowed, it is remembered.
    let consent = browser.open(&authorize_url(&srv, &client_id, &[])).await;
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
    // prompt=consent and prompt=login ask again.
    let asked = browser
        .open(&authorize_url(&srv, &client_id, &[("prompt", "consent")]))
        .await;
    assert!(asked.text.contains("name=\"decision\""));
    let login = browser
        .open(&authorize_url(&srv, &client_id, &[("prompt", "login")]))
        .await;
    assert!(login.text.contains("name=\"password\""));
    let relogged = browser.login(&login, "alice", "alice-pw").await;
    assert!(param(&redirected(&relogged), "code").is_some());
    // A wider scope than the one remembered asks again; prompt=none says so.
    let wider = browser
        .open(&authorize_url(
            &srv,
            &client_id,
            &[("scope", "confd.# openid"), ("prompt", "none")],
        ))
        .await;
    assert_eq!(
        param(&redirected(&wider), "error").as_deref(),
        Some("consent_required")
    );
    // A password change ends the browser session.
    let admin = srv.admin_token().await;
    let uuid = s(&alice["uuid"]);
    let changed = srv
        .call(
            Method::PUT,
            &format!("/users/{uuid}/password"),
            Some(&admin),
            Some(json!({"old_password": "alice-pw", "new_password": "alice-pw2"})),
        )
        .await;
    assert!(changed.status < 300, "{}", changed.text);
    let after = browser
        .open(&authorize_url(&srv, &client_id, &[("prompt", "none")]))
        .await;
    assert_eq!(
        param(&redirected(&after), "error").as_deref(),
        Some("login_required")
    );
    let _: Value = json!({});
}

async fn ending_a_session_signs_its_browser_out(store: Store) {
    let srv = common::start(store).await;
    let alice = srv.create_user("alice", "alice-pw").await;
    let uuid = s(&alice["uuid"]);
    let client_id = register_app(&srv, "implicit", &["confd.#"]).await;
    let mut browser = Browser::new(&srv);
    let code = code_for(&srv, &mut browser, &client_id, &[]).await;
    let token = exchange(&srv, &client_id, &code, VERIFIER).await;
    let token = s(&token.body["access_token"]);
    let admin = srv.admin_token().await;
    let session = s(&srv.get(&format!("/token/{token}"), &admin).await.data()["session_uuid"]);
    let still = browser
        .open(&authorize_url(&srv, &client_id, &[("prompt", "none")]))
        .await;
    assert!(param(&redirected(&still), "code").is_some());
    // Another user's path names no session of alice's: her sign-in stays.
    let bob = srv.create_user("bob", "bob-pw").await;
    let path = format!("/users/{}/sessions/{session}", s(&bob["uuid"]));
    srv.call(Method::DELETE, &path, Some(&admin), None).await;
    let kept = browser
        .open(&authorize_url(&srv, &client_id, &[("prompt", "none")]))
        .await;
    assert!(param(&redirected(&kept), "code").is_some());
    let path = format!("/users/{uuid}/sessions/{}", session.to_uppercase());
    let ended = srv.call(Method::DELETE, &path, Some(&admin), None).await;
    assert!(ended.status < 300, "{}", ended.text);
    assert_eq!(srv.head_token(&token, None, None).await, 404);
    let after = browser
        .open(&authorize_url(&srv, &client_id, &[("prompt", "none")]))
        .await;
    assert_eq!(
        param(&redirected(&after), "error").as_deref(),
        Some("login_required")
    );
}

/// POST /oauth2/token's refresh grant of a public client.
async fn refresh(srv: &TestServer, client_id: &str, value: &str, scope: Option<&str>) -> Reply {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", value),
        ("client_id", client_id),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let builder = srv.client.post(srv.raw_url("/oauth2/token")).form(&form);
    srv.send(builder).await
}

fn assert_invalid_grant(reply: &Reply) {
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.body["error"], "invalid_grant", "{}", reply.text);
}

/// A user with `acl` and an offline code-flow client; the first exchange's answer.
async fn offline_start(srv: &TestServer, browser: &mut Browser<'_>, client_id: &str) -> Reply {
    let code = code_for(
        srv,
        browser,
        client_id,
        &[("scope", "offline_access confd.#")],
    )
    .await;
    let first = exchange(srv, client_id, &code, VERIFIER).await;
    assert_eq!(first.status, 200, "{}", first.text);
    first
}

async fn offline_access_gives_a_rotating_refresh_token_chain(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.user_with_acl(&admin, "alice", "alice-pw", &["confd.#"])
        .await;
    let grants = ["authorization_code", "refresh_token"];
    let client_id = register_with(&srv, "implicit", &["confd.#"], &grants).await;
    let mut browser = Browser::new(&srv);
    let first = offline_start(&srv, &mut browser, &client_id).await;
    assert_eq!(first.body["scope"], "offline_access confd.#");
    let value = s(&first.body["refresh_token"]);
    // Without offline_access, or for a client without the grant: no refresh token.
    let code = code_for(&srv, &mut browser, &client_id, &[("scope", "confd.#")]).await;
    let online = exchange(&srv, &client_id, &code, VERIFIER).await;
    assert!(
        online.body.get("refresh_token").is_none(),
        "{}",
        online.text
    );

    // Every grant rotates; a narrower scope narrows this token only.
    let second = refresh(&srv, &client_id, &value, Some("confd.users.read")).await;
    assert_eq!(second.status, 200, "{}", second.text);
    let next = s(&second.body["refresh_token"]);
    assert_ne!(next, value);
    let narrow = s(&second.body["access_token"]);
    assert_eq!(
        srv.head_token(&narrow, Some("confd.users.read"), None)
            .await,
        204
    );
    assert_eq!(
        srv.head_token(&narrow, Some("confd.lines.read"), None)
            .await,
        403
    );
    let beyond = refresh(&srv, &client_id, &next, Some("auth.#")).await;
    assert_eq!(beyond.body["error"], "invalid_scope", "{}", beyond.text);
    let third = refresh(&srv, &client_id, &next, None).await;
    assert_eq!(third.status, 200, "{}", third.text);
    let wide = s(&third.body["access_token"]);
    assert_eq!(
        srv.head_token(&wide, Some("confd.lines.read"), None).await,
        204
    );
    let latest = s(&third.body["refresh_token"]);

    // A replayed value revokes the chain and the sessions minted from it.
    assert_invalid_grant(&refresh(&srv, &client_id, &value, None).await);
    assert_invalid_grant(&refresh(&srv, &client_id, &latest, None).await);
    assert_eq!(srv.head_token(&wide, None, None).await, 404);

    // A code redeemed twice revokes the chain its first exchange started.
    let first = offline_start(&srv, &mut browser, &client_id).await;
    let value = s(&first.body["refresh_token"]);
    let code = code_for(
        &srv,
        &mut browser,
        &client_id,
        &[("scope", "offline_access confd.#")],
    )
    .await;
    let once = exchange(&srv, &client_id, &code, VERIFIER).await;
    let chain = s(&once.body["refresh_token"]);
    assert_invalid_grant(&exchange(&srv, &client_id, &code, VERIFIER).await);
    assert_invalid_grant(&refresh(&srv, &client_id, &chain, None).await);
    assert_eq!(refresh(&srv, &client_id, &value, None).await.status, 200);
}

async fn each_face_redeems_only_its_own_refresh_tokens(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.user_with_acl(&admin, "alice", "alice-pw", &["confd.#"])
        .await;
    let grants = ["authorization_code", "refresh_token"];
    let client_id = register_with(&srv, "implicit", &["confd.#"], &grants).await;
    let other = register_with(&srv, "implicit", &["confd.#"], &grants).await;
    let mut browser = Browser::new(&srv);
    let first = offline_start(&srv, &mut browser, &client_id).await;
    let value = s(&first.body["refresh_token"]);
    // The wazo refresh grant refuses an OAuth2 refresh token, even naming its client.
    let wazo = srv
        .request(Method::POST, "/token")
        .json(&json!({"refresh_token": value, "client_id": client_id}));
    assert_eq!(srv.send(wazo).await.status, 401);
    // Another client cannot redeem it (and does not revoke it).
    assert_invalid_grant(&refresh(&srv, &other, &value, None).await);
    // /oauth2/token refuses a wazo offline login's refresh token, even under the client's id.
    let offline = srv
        .login_ok(
            "alice",
            "alice-pw",
            json!({"access_type": "offline", "client_id": "my-app"}),
        )
        .await;
    let wazo_value = s(&offline["refresh_token"]);
    assert_invalid_grant(&refresh(&srv, &client_id, &wazo_value, None).await);
    // Both still work on their own face.
    assert_eq!(refresh(&srv, &client_id, &value, None).await.status, 200);
    let wazo = srv
        .request(Method::POST, "/token")
        .json(&json!({"refresh_token": wazo_value, "client_id": "my-app"}));
    assert_eq!(srv.send(wazo).await.status, 200);
}

async fn each_authorization_is_a_chain_listed_and_deleted_with_its_consent(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let alice = srv
        .user_with_acl(&admin, "alice", "alice-pw", &["confd.#"])
        .await;
    let uuid = s(&alice["uuid"]);
    let grants = ["authorization_code", "refresh_token"];
    let client_id = register_with(&srv, "required", &["confd.#"], &grants).await;
    // Two devices, two chains.
    let mut phone = Browser::new(&srv);
    let mut laptop = Browser::new(&srv);
    let a = s(&offline_start(&srv, &mut phone, &client_id).await.body["refresh_token"]);
    let b = s(&offline_start(&srv, &mut laptop, &client_id).await.body["refresh_token"]);
    let listed = srv.get(&format!("/users/{uuid}/tokens"), &admin).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let items = listed.body["items"].as_array().unwrap();
    let chains = items
        .iter()
        .filter(|i| i["client_id"] == client_id.as_str())
        .count();
    assert_eq!(chains, 2, "{}", listed.text);
    // Deleting the client's refresh tokens revokes every chain and forgets the consent.
    let path = format!("/users/{uuid}/tokens/{client_id}");
    let deleted = srv.call(Method::DELETE, &path, Some(&admin), None).await;
    assert!(deleted.status < 300, "{}", deleted.text);
    assert_invalid_grant(&refresh(&srv, &client_id, &a, None).await);
    assert_invalid_grant(&refresh(&srv, &client_id, &b, None).await);
    let asked = phone.open(&authorize_url(&srv, &client_id, &[])).await;
    assert!(asked.text.contains("name=\"decision\""), "{}", asked.text);
}

async fn a_remembered_consent_covers_by_meaning(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.user_with_acl(&admin, "alice", "alice-pw", &["confd.#"])
        .await;
    let client_id = register_app(&srv, "required", &["confd.#"]).await;
    let mut browser = Browser::new(&srv);
    let narrow = [("scope", "confd.# !confd.secret.#")];
    code_for(&srv, &mut browser, &client_id, &narrow).await;
    // Dropping the remembered negative widens the grant: asked again.
    let wider = [("scope", "confd.#"), ("prompt", "none")];
    let reply = browser.open(&authorize_url(&srv, &client_id, &wider)).await;
    assert_eq!(
        param(&redirected(&reply), "error").as_deref(),
        Some("consent_required")
    );
    // Narrower in meaning: covered.
    let within = [("scope", "confd.users.read"), ("prompt", "none")];
    let reply = browser
        .open(&authorize_url(&srv, &client_id, &within))
        .await;
    assert!(param(&redirected(&reply), "code").is_some());
    let same = [("scope", "!confd.secret.# confd.#"), ("prompt", "none")];
    let reply = browser.open(&authorize_url(&srv, &client_id, &same)).await;
    assert!(param(&redirected(&reply), "code").is_some());
}

async fn what_a_client_deletion_or_a_disabled_user_ends(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let alice = srv
        .user_with_acl(&admin, "alice", "alice-pw", &["confd.#"])
        .await;
    let client_id = register_app(&srv, "implicit", &["confd.#"]).await;
    let mut browser = Browser::new(&srv);
    // Disabled, then enabled again: the browser's sign-in does not come back.
    code_for(&srv, &mut browser, &client_id, &[]).await;
    let path = format!("/users/{}", s(&alice["uuid"]));
    for enabled in [false, true] {
        let body = json!({"username": "alice", "enabled": enabled});
        let reply = srv.call(Method::PUT, &path, Some(&admin), Some(body)).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let quiet = [("prompt", "none")];
    let reply = browser.open(&authorize_url(&srv, &client_id, &quiet)).await;
    assert_eq!(
        param(&redirected(&reply), "error").as_deref(),
        Some("login_required")
    );
    // Deleting the client ends its users' tokens.
    let code = code_for(&srv, &mut browser, &client_id, &[]).await;
    let token = s(&exchange(&srv, &client_id, &code, VERIFIER).await.body["access_token"]);
    assert_eq!(srv.head_token(&token, None, None).await, 204);
    let deleted = srv
        .call(
            Method::DELETE,
            &format!("/oauth2/clients/{client_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_eq!(srv.head_token(&token, None, None).await, 404);
}

async fn parallel_redemptions_of_one_code_leave_nothing_alive(store: Store) {
    let srv = common::start(store).await;
    srv.create_user("alice", "alice-pw").await;
    let client_id = register_app(&srv, "implicit", &["confd.#"]).await;
    let mut browser = Browser::new(&srv);
    for _ in 0..8 {
        let code = code_for(&srv, &mut browser, &client_id, &[]).await;
        let (a, b) = tokio::join!(
            exchange(&srv, &client_id, &code, VERIFIER),
            exchange(&srv, &client_id, &code, VERIFIER)
        );
        let won: Vec<&Reply> = [&a, &b].into_iter().filter(|r| r.status == 200).collect();
        assert!(won.len() <= 1, "{} {}", a.text, b.text);
        for reply in won {
            let token = s(&reply.body["access_token"]);
            assert_eq!(
                srv.head_token(&token, None, None).await,
                404,
                "{}",
                reply.text
            );
        }
    }
}

async fn one_browser_cannot_pile_up_codes(store: Store) {
    let srv = common::start(store).await;
    srv.create_user("alice", "alice-pw").await;
    let client_id = register_app(&srv, "implicit", &["confd.#"]).await;
    let mut browser = Browser::new(&srv);
    for _ in 0..20 {
        code_for(&srv, &mut browser, &client_id, &[]).await;
    }
    let reply = browser.open(&authorize_url(&srv, &client_id, &[])).await;
    let error = param(&redirected(&reply), "error");
    assert_eq!(error.as_deref(), Some("temporarily_unavailable"));
    // Redeemed or expired codes make room again.
    srv.clock.advance(Duration::from_secs(61));
    code_for(&srv, &mut browser, &client_id, &[]).await;
}

async fn hostile_parameters_get_clear_answers(store: Store) {
    let srv = common::start(store).await;
    srv.create_user("alice", "alice-pw").await;
    let client_id = register_app(&srv, "required", &["confd.#"]).await;
    let mut browser = Browser::new(&srv);
    // A NUL in the login is a failed sign-in (counted), never a server error.
    let page = browser.open(&authorize_url(&srv, &client_id, &[])).await;
    let reply = browser.login(&page, "al\u{0}ice", "alice-pw").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.text.contains("Wrong username or password"));
    for (extra, error) in [
        (vec![("nonce", "a\u{0}b")], "invalid_request"),
        (vec![("state", "x\ny")], "invalid_request"),
        (vec![("scope", "auth.\"quoted\"")], "invalid_scope"),
    ] {
        let reply = browser.open(&authorize_url(&srv, &client_id, &extra)).await;
        let params = redirected(&reply);
        assert_eq!(param(&params, "error").as_deref(), Some(error), "{extra:?}");
        let description = param(&params, "error_description").unwrap_or_default();
        assert!(!description.contains('"'), "{description}");
    }
    // Repeated parameters: a repeated client_id or redirect_uri is never redirected to.
    let base = authorize_url(&srv, &client_id, &[]);
    let reply = browser.open(&format!("{base}&redirect_uri=")).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    let reply = browser
        .open(&format!("{base}&code_challenge_method=plain"))
        .await;
    assert_eq!(
        param(&redirected(&reply), "error").as_deref(),
        Some("invalid_request")
    );
    // Other methods: 405, as a page with its headers.
    let put = srv.client.put(srv.raw_url("/oauth2/authorize"));
    let reply = srv.send(put).await;
    assert_eq!(reply.status, 405);
    assert_page_hygiene(&reply);
}

/// Registers a confidential code-flow client with refresh tokens: (id, secret).
async fn register_confidential(srv: &TestServer) -> (String, String) {
    let admin = srv.admin_token().await;
    let body = json!({
        "name": "web backend",
        "type": "confidential",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": ["confd.#"],
        "consent": "implicit",
    });
    let reply = srv
        .call(Method::POST, "/oauth2/clients", Some(&admin), Some(body))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    (s(&reply.body["client_id"]), s(&reply.body["client_secret"]))
}

/// POSTs a form to an OAuth2 endpoint as a confidential client (HTTP Basic).
async fn as_client(
    srv: &TestServer,
    (id, secret): &(String, String),
    path: &str,
    form: &[(&str, &str)],
) -> Reply {
    let builder = srv
        .client
        .post(srv.raw_url(path))
        .basic_auth(id, Some(secret))
        .form(form);
    srv.send(builder).await
}

async fn confidential_clients_introspect_and_revoke_only_their_own_chains(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.user_with_acl(&admin, "alice", "alice-pw", &["confd.#"])
        .await;
    let mine = register_confidential(&srv).await;
    let theirs = register_confidential(&srv).await;
    let mut browser = Browser::new(&srv);
    let code = code_for(
        &srv,
        &mut browser,
        &mine.0,
        &[("scope", "offline_access confd.#")],
    )
    .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    // A confidential client must authenticate.
    let anonymous = exchange(&srv, &mine.0, &code, VERIFIER).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    let answer = as_client(&srv, &mine, "/oauth2/token", &form).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let refresh_token = s(&answer.body["refresh_token"]);
    let seen = as_client(
        &srv,
        &mine,
        "/oauth2/introspect",
        &[("token", &refresh_token)],
    )
    .await;
    assert_eq!(seen.body["active"], true, "{}", seen.text);
    assert_eq!(seen.body["token_type"], "refresh_token");
    let other = as_client(
        &srv,
        &theirs,
        "/oauth2/introspect",
        &[("token", &refresh_token)],
    )
    .await;
    assert_eq!(other.body, json!({"active": false}));
    // Another client's revocation is silent and does nothing; the owner's revokes the chain.
    let revoke = [("token", refresh_token.as_str())];
    assert_eq!(
        as_client(&srv, &theirs, "/oauth2/revoke", &revoke)
            .await
            .status,
        200
    );
    let grant = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
    ];
    let next = as_client(&srv, &mine, "/oauth2/token", &grant).await;
    assert_eq!(next.status, 200, "{}", next.text);
    let current = s(&next.body["refresh_token"]);
    let revoke = [("token", current.as_str())];
    assert_eq!(
        as_client(&srv, &mine, "/oauth2/revoke", &revoke)
            .await
            .status,
        200
    );
    let grant = [
        ("grant_type", "refresh_token"),
        ("refresh_token", current.as_str()),
    ];
    let gone = as_client(&srv, &mine, "/oauth2/token", &grant).await;
    assert_invalid_grant(&gone);
    let access = s(&next.body["access_token"]);
    assert_eq!(srv.head_token(&access, None, None).await, 404);
}

/// Unknown refresh tokens count against the address; held back, the grant (not the client,
/// which authenticated) is refused: 429 `invalid_grant` with `Retry-After`.
async fn unknown_refresh_tokens_are_held_back_as_grants(store: Store) {
    let srv = common::start_with(store, |c| {
        c.bruteforce_address_failures = 3;
        c.bruteforce_base_delay = 60;
    })
    .await;
    let client_id = register_with(
        &srv,
        "implicit",
        &["confd.#"],
        &["authorization_code", "refresh_token"],
    )
    .await;
    for _ in 0..3 {
        assert_invalid_grant(&refresh(&srv, &client_id, "no-such-value", None).await);
    }
    let held = refresh(&srv, &client_id, "no-such-value", None).await;
    assert_eq!(held.status, 429, "{}", held.text);
    assert_eq!(held.body["error"], "invalid_grant", "{}", held.text);
    assert!(held.header("retry-after").is_some());
}

/// PUT /oauth2/clients/{id}: the test's public client with these grants.
async fn change_grants(srv: &TestServer, client_id: &str, grants: &[&str]) {
    let admin = srv.admin_token().await;
    let body = json!({
        "name": "Photo app",
        "type": "public",
        "redirect_uris": [REDIRECT],
        "grant_types": grants,
        "scope": ["confd.#"],
        "consent": "implicit",
    });
    let path = format!("/oauth2/clients/{client_id}");
    let changed = srv.call(Method::PUT, &path, Some(&admin), Some(body)).await;
    assert_eq!(changed.status, 200, "{}", changed.text);
}

/// An instance remembers a client that authenticated there, and its code and refresh grants hold
/// only while the client is as remembered: a change made on another instance is read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_client_changed_on_another_instance_is_read_again() {
    let first = common::start(Store::Postgres).await;
    let database_url = first.database_url.clone();
    let second = common::start_with(Store::Postgres, move |c| c.database_url = database_url).await;
    let admin = first.admin_token().await;
    first
        .user_with_acl(&admin, "alice", "alice-pw", &["confd.#"])
        .await;
    let grants = ["authorization_code", "refresh_token"];
    let client_id = register_with(&first, "implicit", &["confd.#"], &grants).await;
    let mut browser = Browser::new(&second);
    let start = offline_start(&second, &mut browser, &client_id).await;
    let next = refresh(&second, &client_id, &s(&start.body["refresh_token"]), None).await;
    assert_eq!(next.status, 200, "{}", next.text);
    let value = s(&next.body["refresh_token"]);
    let code = code_for(&second, &mut browser, &client_id, &[("scope", "confd.#")]).await;

    change_grants(&first, &client_id, &["authorization_code"]).await;
    let refused = refresh(&second, &client_id, &value, None).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(
        refused.body["error"], "unauthorized_client",
        "{}",
        refused.text
    );
    change_grants(
        &first,
        &client_id,
        &["urn:ietf:params:oauth:grant-type:device_code"],
    )
    .await;
    let refused = exchange(&second, &client_id, &code, VERIFIER).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(
        refused.body["error"], "unauthorized_client",
        "{}",
        refused.text
    );
    // Given back, the code and the chain still work: nothing was spent.
    change_grants(&first, &client_id, &grants).await;
    let exchanged = exchange(&second, &client_id, &code, VERIFIER).await;
    assert_eq!(exchanged.status, 200, "{}", exchanged.text);
    let refreshed = refresh(&second, &client_id, &value, None).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
}
