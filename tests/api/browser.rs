//! The login, consent and device pages in a real browser (SPEC §11.3, §11.8): headless Chromium
//! driven over WebDriver (fantoccini) through the code flow with PKCE and a remembered consent, a
//! denial, `prompt=none`, the login page's failures and hold-back, a framing attempt, and a device
//! connected from the link it shows to its token. The client application is a loopback listener
//! in the test, registered as the redirect URI.
//!
//! One chromedriver serves every test of the run: started on first use, killed with the test
//! process. Each test opens its own browser session (its own profile, so its own cookies: cookies
//! ignore ports, and every test server is on 127.0.0.1). Missing Chromium fails, never skips.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};
use openidconnect as oidc;
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims};
use openidconnect::TokenResponse as _;
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream as AsyncStream};
use tokio::sync::mpsc;

use crate::both_stores;
use crate::common::{self, s, Store, TestServer};

const INSTALL: &str =
    "the browser tests need Chromium and its driver: apt-get install chromium chromium-driver";
/// RFC 7636 appendix B's challenge, for flows that redeem no code.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// Generous: a loaded CI machine runs the browser beside the rest of the suite.
const WAIT: Duration = Duration::from_secs(20);

/// The shared chromedriver: its port and the Chromium it drives, or why it cannot run.
static DRIVER: OnceLock<Result<(u16, PathBuf), String>> = OnceLock::new();

fn on_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Starts chromedriver on a free port. PR_SET_PDEATHSIG fires when the spawning *thread* ends,
/// so a thread that lives as long as the test process spawns it and waits on it.
fn start_driver() -> Result<(u16, PathBuf), String> {
    let (Some(driver), Some(chromium)) = (on_path("chromedriver"), on_path("chromium")) else {
        return Err(INSTALL.into());
    };
    let port = common::free_port();
    let (started, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut command = Command::new(driver);
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe, the only call between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        match command.spawn() {
            Ok(mut child) => {
                let _ = started.send(Ok(()));
                let _ = child.wait();
            }
            Err(e) => {
                let _ = started.send(Err(format!("chromedriver did not start: {e}")));
            }
        }
    });
    outcome.recv().map_err(|e| e.to_string())??;
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "chromedriver did not listen on port {port} in {WAIT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((port, chromium))
}

fn driver() -> (u16, PathBuf) {
    match DRIVER.get_or_init(start_driver) {
        Ok(driver) => driver.clone(),
        Err(why) => panic!("{why}"),
    }
}

/// One browser session, ended when dropped, even by a failing test: an open session keeps its
/// Chromium running.
struct Browser {
    client: Client,
    driver_port: u16,
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Blocking: after a panic the test's runtime may no longer run fantoccini's task.
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.driver_port)) {
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n",
                self.session
            );
            let _ = stream.set_read_timeout(Some(WAIT));
            let _ = stream.write_all(request.as_bytes());
            // chromedriver answers once Chromium has quit, and keeps the connection open.
            let _ = stream.read(&mut [0u8; 1024]);
        }
    }
}

impl Browser {
    /// A fresh headless Chromium with the flags a root container needs.
    async fn open() -> Browser {
        let (driver_port, chromium) = driver();
        let capabilities = json!({
            "browserName": "chrome",
            "timeouts": {"pageLoad": 30000, "script": 5000, "implicit": 0},
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--no-first-run", "--window-size=800,600"],
            },
        });
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(serde_json::from_value(capabilities).unwrap())
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
            .unwrap_or_else(|e| panic!("a headless Chromium session: {e}"));
        let session = client.session_id().await.unwrap().expect("a session id");
        Browser {
            client,
            driver_port,
            session,
        }
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// The page's visible text.
    async fn text(&self) -> String {
        let body = self.client.find(Locator::Css("body")).await.unwrap();
        body.text().await.unwrap()
    }

    /// The HTTP status of the page shown (Navigation Timing's `responseStatus`).
    async fn status(&self) -> u64 {
        let script = "return performance.getEntriesByType('navigation')[0].responseStatus";
        let status = self.client.execute(script, vec![]).await.unwrap();
        status
            .as_u64()
            .unwrap_or_else(|| panic!("a status: {status}"))
    }

    /// The URLs of what the page loaded besides itself (Resource Timing).
    async fn resources(&self) -> Vec<String> {
        let script = "return performance.getEntriesByType('resource').map(e => e.name)";
        let names = self.client.execute(script, vec![]).await.unwrap();
        serde_json::from_value(names).unwrap()
    }

    async fn fill(&self, name: &str, value: &str) {
        let css = format!("input[name=\"{name}\"]");
        let input = self.client.find(Locator::Css(&css)).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }

    /// Clicks a button and waits until the page it was on is gone.
    async fn click(&self, css: &str) {
        let page = self.client.find(Locator::Css("html")).await.unwrap();
        let button = self.client.find(Locator::Css(css)).await.unwrap();
        button.click().await.unwrap();
        let deadline = Instant::now() + WAIT;
        while page.tag_name().await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "no navigation after clicking {css} (CSP form-action?)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn sign_in(&self, username: &str, password: &str) {
        self.fill("username", username).await;
        self.fill("password", password).await;
        self.click("button[type=submit]").await;
    }

    async fn decide(&self, decision: &str) {
        let css = format!("button[name=decision][value={decision}]");
        self.click(&css).await;
    }
}

/// The client application: a loopback HTTP listener whose `/cb` is the redirect URI (each call's
/// query is handed to the test) and which serves the test's own pages.
struct App {
    port: u16,
    pages: Arc<Mutex<HashMap<String, String>>>,
    callbacks: mpsc::UnboundedReceiver<Vec<(String, String)>>,
}

impl App {
    async fn start() -> App {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let pages = Arc::new(Mutex::new(HashMap::new()));
        let (sender, callbacks) = mpsc::unbounded_channel();
        let served = pages.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, served.clone(), sender.clone()));
            }
        });
        App {
            port,
            pages,
            callbacks,
        }
    }

    fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/cb", self.port)
    }

    fn serve(&self, path: &str, html: &str) -> String {
        self.pages.lock().unwrap().insert(path.into(), html.into());
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The query of the next call to the redirect URI.
    async fn callback(&mut self) -> Vec<(String, String)> {
        tokio::time::timeout(WAIT, self.callbacks.recv())
            .await
            .expect("the browser reached the redirect URI")
            .unwrap()
    }
}

/// Answers one request: `/cb` is recorded, a served page is sent, anything else is 404.
async fn answer(
    mut stream: AsyncStream,
    pages: Arc<Mutex<HashMap<String, String>>>,
    callbacks: mpsc::UnboundedSender<Vec<(String, String)>>,
) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split(' ').nth(1).unwrap_or("/");
    let url = url::Url::parse(&format!("http://app{target}")).unwrap();
    let page = match url.path() {
        "/cb" => {
            let _ = callbacks.send(url.query_pairs().into_owned().collect());
            Some("<!doctype html><title>Back at the app</title><p>Signed in.</p>".to_string())
        }
        path => pages.lock().unwrap().get(path).cloned(),
    };
    let (status, body) = match page {
        Some(body) => ("200 OK", body),
        None => ("404 Not Found", String::new()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
}

fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// Registers a public code-flow client of `app`; returns its id.
async fn register_app(srv: &TestServer, app: &App, consent: &str) -> String {
    let admin = srv.admin_token().await;
    let body = json!({
        "name": "Photo app",
        "type": "public",
        "redirect_uris": [app.redirect_uri()],
        "grant_types": ["authorization_code"],
        "scope": ["confd.#"],
        "consent": consent,
    });
    let reply = srv
        .call(Method::POST, "/oauth2/clients", Some(&admin), Some(body))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    s(&reply.body["client_id"])
}

/// An authorization URL (PKCE S256, a fixed challenge) with `extra` parameters.
fn authorize_url(srv: &TestServer, app: &App, client_id: &str, extra: &[(&str, &str)]) -> String {
    let redirect_uri = app.redirect_uri();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", &redirect_uri),
        ("scope", "confd.users.me.read"),
        ("state", "st&te"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    params.retain(|(name, _)| extra.iter().all(|(replaced, _)| replaced != name));
    params.extend_from_slice(extra);
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{}?{query}", srv.raw_url("/oauth2/authorize"))
}

both_stores!(
    a_relying_party_signs_in_from_the_issuer_url_alone,
    the_code_flow_with_pkce_ends_at_the_redirect_uri,
    denying_redirects_with_access_denied,
    prompt_none_needs_a_browser_session,
    the_login_page_tells_nothing_and_holds_back,
    a_device_is_connected_in_the_browser,
);

/// An unmodified OpenID Connect relying party (the `openidconnect` crate) given the issuer URL
/// alone: discovery, the code flow through the browser, the ID token checked its own way
/// (signature from the JWKS, `iss`, `aud`, `nonce`, `at_hash`), userinfo; then the same after
/// `tessera rotate-signing-key`, the earlier ID token still verifying.
async fn a_relying_party_signs_in_from_the_issuer_url_alone(store: Store) {
    let (srv, browser) = tokio::join!(common::start(store), Browser::open());
    let mut app = App::start().await;
    let admin = srv.admin_token().await;
    let body = json!({"username": "alice", "password": "alice-pw", "firstname": "Alice",
        "lastname": "Liddell", "email_address": "alice@example.com"});
    let alice = srv.create_user_with(&admin, body).await;
    let client_id = register_app(&srv, &app, "required").await;
    let (rp, http) = relying_party(&srv, &app, &client_id).await;

    let (challenge, verifier) = oidc::PkceCodeChallenge::new_random_sha256();
    let flow = oidc::AuthenticationFlow::<CoreResponseType>::AuthorizationCode;
    let (url, state, nonce) = rp
        .authorize_url(flow, oidc::CsrfToken::new_random, oidc::Nonce::new_random)
        .add_scope(oidc::Scope::new("profile".into()))
        .add_scope(oidc::Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    browser.goto(url.as_str()).await;
    browser.sign_in("alice", "alice-pw").await;
    assert!(browser.text().await.contains("openid"));
    browser.decide("allow").await;
    let params = app.callback().await;
    assert_eq!(
        param(&params, "state").as_deref(),
        Some(state.secret().as_str())
    );
    let code = oidc::AuthorizationCode::new(param(&params, "code").expect("a code"));
    let token = rp.exchange_code(code).unwrap().set_pkce_verifier(verifier);
    let token = token.request_async(&http).await.expect("code exchange");
    let first = token.id_token().expect("an ID token").clone();
    let claims = verified_claims(&rp, &first, token.access_token(), &nonce);
    assert_eq!(claims.subject().as_str(), s(&alice["uuid"]));
    assert!(claims.auth_time().is_some());
    let info: CoreUserInfoClaims = rp
        .user_info(token.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), s(&alice["uuid"]));
    let username = info.preferred_username().map(|u| u.as_str().to_string());
    assert_eq!(username.as_deref(), Some("alice"));
    let email = info.email().map(|e| e.as_str().to_string());
    assert_eq!(email.as_deref(), Some("alice@example.com"));

    // A new signing key; the server signs with it once it has been published two minutes.
    srv.rotate_signing_key();
    srv.clock.advance(Duration::from_secs(121));
    let (rp, http) = relying_party(&srv, &app, &client_id).await;
    let again = verified_claims(&rp, &first, token.access_token(), &nonce);
    assert_eq!(again.subject().as_str(), s(&alice["uuid"]));
    let (challenge, verifier) = oidc::PkceCodeChallenge::new_random_sha256();
    let flow = oidc::AuthenticationFlow::<CoreResponseType>::AuthorizationCode;
    let (url, _, nonce) = rp
        .authorize_url(flow, oidc::CsrfToken::new_random, oidc::Nonce::new_random)
        .set_pkce_challenge(challenge)
        .url();
    // Signed in, the consent remembered: straight back to the app.
    browser.goto(url.as_str()).await;
    let code = oidc::AuthorizationCode::new(param(&app.callback().await, "code").unwrap());
    let token = rp.exchange_code(code).unwrap().set_pkce_verifier(verifier);
    let token = token.request_async(&http).await.expect("code exchange");
    let second = token.id_token().expect("an ID token");
    verified_claims(&rp, second, token.access_token(), &nonce);
    assert_ne!(key_id(second), key_id(&first), "signed with the new key");
}

/// A relying party that knows nothing but Tessera's issuer URL (discovery fetches the rest).
async fn relying_party(
    srv: &TestServer,
    app: &App,
    client_id: &str,
) -> (RelyingParty, reqwest::Client) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let issuer = oidc::IssuerUrl::new(format!("http://{}", srv.addr)).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .expect("discovery from the issuer URL");
    let rp =
        CoreClient::from_provider_metadata(metadata, oidc::ClientId::new(client_id.into()), None)
            .set_redirect_uri(oidc::RedirectUrl::new(app.redirect_uri()).unwrap());
    (rp, http)
}

type RelyingParty = CoreClient<
    oidc::EndpointSet,
    oidc::EndpointNotSet,
    oidc::EndpointNotSet,
    oidc::EndpointNotSet,
    oidc::EndpointMaybeSet,
    oidc::EndpointMaybeSet,
>;

/// The ID token's claims as the relying party checks them, `at_hash` included.
fn verified_claims<'a>(
    rp: &RelyingParty,
    id_token: &'a oidc::core::CoreIdToken,
    access_token: &oidc::AccessToken,
    nonce: &oidc::Nonce,
) -> &'a oidc::core::CoreIdTokenClaims {
    let verifier = rp.id_token_verifier();
    let claims = id_token.claims(&verifier, nonce).expect("a valid ID token");
    let alg = id_token.signing_alg().unwrap();
    let key = id_token.signing_key(&verifier).unwrap();
    let actual = oidc::AccessTokenHash::from_token(access_token, alg, key).unwrap();
    assert_eq!(claims.access_token_hash(), Some(&actual));
    claims
}

/// The `kid` of a JWS's header.
fn key_id(id_token: &oidc::core::CoreIdToken) -> String {
    use base64::Engine as _;
    let text = id_token.to_string();
    let header = text.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    s(&header["kid"])
}

async fn the_code_flow_with_pkce_ends_at_the_redirect_uri(store: Store) {
    // Chromium starts while the server does.
    let (srv, browser) = tokio::join!(common::start(store), Browser::open());
    let mut app = App::start().await;
    let admin = srv.admin_token().await;
    let alice = srv
        .user_with_acl(&admin, "alice", "alice-pw", &["confd.users.me.read"])
        .await;
    let client_id = register_app(&srv, &app, "required").await;
    let issuer = format!("http://{}", srv.addr);
    let oauth = BasicClient::new(ClientId::new(client_id.clone()))
        .set_auth_uri(AuthUrl::new(format!("{issuer}/oauth2/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{issuer}/oauth2/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(app.redirect_uri()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("confd.users.me.read".into()))
        .set_pkce_challenge(challenge)
        .url();

    browser.goto(url.as_str()).await;
    assert!(browser.text().await.contains("Photo app"));
    // The stylesheet loads (CSP `style-src 'self'`), and nothing comes from elsewhere.
    let loaded = browser.resources().await;
    assert!(loaded
        .iter()
        .any(|url| url.ends_with("/oauth2/static/tessera.css")));
    let origin = format!("{issuer}/");
    assert!(
        loaded.iter().all(|url| url.starts_with(&origin)),
        "{loaded:?}"
    );
    browser.sign_in("alice", "alice-pw").await;
    assert!(browser.text().await.contains("confd.users.me.read"));
    // The consent form's 303 leaves for the app's origin: CSP form-action must allow it.
    browser.decide("allow").await;
    let params = app.callback().await;
    assert!(browser.url().await.starts_with(&app.redirect_uri()));
    assert_eq!(
        param(&params, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(param(&params, "iss").as_deref(), Some(issuer.as_str()));
    let code = param(&params, "code").expect("a code");

    // As the oauth2 crate advises: a token request follows no redirect (SSRF).
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    let token = oauth
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http.build().unwrap())
        .await
        .expect("code exchange");
    let token = token.access_token().secret();
    let scope = format!("confd.users.{}.read", s(&alice["uuid"]));
    assert_eq!(srv.head_token(token, Some(&scope), None).await, 204);
    comes_back_without_a_page(&srv, &mut app, &browser, &client_id).await;
}

async fn denying_redirects_with_access_denied(store: Store) {
    let (srv, browser) = tokio::join!(common::start(store), Browser::open());
    let mut app = App::start().await;
    srv.create_user("alice", "alice-pw").await;
    let client_id = register_app(&srv, &app, "required").await;
    browser
        .goto(&authorize_url(&srv, &app, &client_id, &[]))
        .await;
    browser.sign_in("alice", "alice-pw").await;
    browser.decide("deny").await;
    let params = app.callback().await;
    assert_eq!(param(&params, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&params, "state").as_deref(), Some("st&te"));
    assert!(param(&params, "code").is_none());
}

/// A second authorization of the same scope in the same browser: the consent is remembered, so
/// the browser comes straight back to the app, no page in between.
async fn comes_back_without_a_page(srv: &TestServer, app: &mut App, browser: &Browser, id: &str) {
    browser
        .goto(&authorize_url(srv, app, id, &[("state", "again")]))
        .await;
    let params = app.callback().await;
    assert!(param(&params, "code").is_some(), "{params:?}");
    assert_eq!(param(&params, "state").as_deref(), Some("again"));
    assert!(browser.url().await.starts_with(&app.redirect_uri()));
}

async fn prompt_none_needs_a_browser_session(store: Store) {
    let (srv, browser) = tokio::join!(common::start(store), Browser::open());
    let mut app = App::start().await;
    srv.create_user("alice", "alice-pw").await;
    let client_id = register_app(&srv, &app, "required").await;
    let quiet = authorize_url(&srv, &app, &client_id, &[("prompt", "none")]);
    // A fresh browser: no session.
    browser.goto(&quiet).await;
    let params = app.callback().await;
    assert_eq!(param(&params, "error").as_deref(), Some("login_required"));
    browser
        .goto(&authorize_url(&srv, &app, &client_id, &[]))
        .await;
    browser.sign_in("alice", "alice-pw").await;
    browser.decide("allow").await;
    assert!(param(&app.callback().await, "code").is_some());
    browser.goto(&quiet).await;
    assert!(param(&app.callback().await, "code").is_some());
    // Cookies cleared (on Tessera's host): no session again.
    browser
        .goto(&srv.raw_url("/oauth2/static/tessera.css"))
        .await;
    browser.client.delete_all_cookies().await.unwrap();
    browser.goto(&quiet).await;
    let params = app.callback().await;
    assert_eq!(param(&params, "error").as_deref(), Some("login_required"));
}

async fn the_login_page_tells_nothing_and_holds_back(store: Store) {
    // The server's clock follows real time: a hold-back long enough to outlast a slow browser.
    let throttled = |c: &mut tessera::Config| {
        c.bruteforce_login_failures = 3;
        c.bruteforce_base_delay = 60;
    };
    let (srv, browser) = tokio::join!(common::start_with(store, throttled), Browser::open());
    let app = App::start().await;
    srv.create_user("alice", "alice-pw").await;
    let client_id = register_app(&srv, &app, "required").await;
    browser
        .goto(&authorize_url(&srv, &app, &client_id, &[]))
        .await;
    assert_eq!(browser.status().await, 200);
    browser.sign_in("alice", "wrong").await;
    let (wrong, wrong_status) = (browser.text().await, browser.status().await);
    browser.sign_in("nobody", "wrong").await;
    let (unknown, unknown_status) = (browser.text().await, browser.status().await);
    assert_eq!((wrong_status, unknown_status), (200, 200));
    assert_eq!(wrong, unknown);
    assert!(wrong.contains("Wrong username or password."), "{wrong}");
    browser.sign_in("alice", "wrong").await;
    browser.sign_in("alice", "wrong").await;
    // Held back, even with the right password: a page saying to retry later.
    browser.sign_in("alice", "alice-pw").await;
    assert_eq!(browser.status().await, 429);
    let held = browser.text().await;
    assert!(
        held.contains("Too many failed attempts. Try again in"),
        "{held}"
    );
    assert!(!held.contains(" 1 seconds"), "{held}");
    assert!(browser
        .url()
        .await
        .starts_with(&srv.raw_url("/oauth2/authorize")));
}

/// Store-independent (headers only): run once, on SQLite, under a name the CI's per-store count
/// ignores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_origin_cannot_frame_the_pages() {
    let (srv, browser) = tokio::join!(common::start(Store::Sqlite), Browser::open());
    let app = App::start().await;
    let client_id = register_app(&srv, &app, "required").await;
    let target = authorize_url(&srv, &app, &client_id, &[]);
    // A control frame of the app's own, holding a username input, shows the check can see one.
    let control = app.serve("/own", "<!doctype html><input name=\"username\">");
    let framing = format!(
        "<!doctype html><iframe src=\"{control}\"></iframe><iframe src=\"{}\"></iframe>",
        target.replace('&', "&amp;")
    );
    let page = app.serve("/framing", &framing);
    browser.goto(&page).await;
    let frame_url = "return document.URL";
    let username = Locator::Css("input[name=username]");

    browser.client.enter_frame(0).await.unwrap();
    assert!(browser.client.find(username).await.is_ok());
    browser.client.enter_parent_frame().await.unwrap();

    browser.client.enter_frame(1).await.unwrap();
    let url = browser.client.execute(frame_url, vec![]).await.unwrap();
    assert!(browser.client.find(username).await.is_err());
    assert_eq!(url.as_str(), Some("chrome-error://chromewebdata/"), "{url}");
}

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The device grant (SPEC §11.8): the device shows a link; the user follows it, signs in, finds
/// the code filled in, allows the device on the consent page; the device's poll gets the token.
async fn a_device_is_connected_in_the_browser(store: Store) {
    let (srv, browser) = tokio::join!(common::start(store), Browser::open());
    let admin = srv.admin_token().await;
    srv.user_with_acl(&admin, "alice", "alice-pw", &["confd.users.me.read"])
        .await;
    let tv = json!({
        "name": "Living-room TV",
        "type": "public",
        "grant_types": [DEVICE_GRANT],
        "scope": ["confd.#"],
    });
    let registered = srv
        .call(Method::POST, "/oauth2/clients", Some(&admin), Some(tv))
        .await;
    assert_eq!(registered.status, 200, "{}", registered.text);
    let client_id = s(&registered.body["client_id"]);
    let asked = [
        ("client_id", client_id.as_str()),
        ("scope", "confd.users.me.read"),
    ];
    let started = srv
        .send(
            srv.client
                .post(srv.raw_url("/oauth2/device_authorization"))
                .form(&asked),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text);
    browser
        .goto(&s(&started.body["verification_uri_complete"]))
        .await;
    browser.sign_in("alice", "alice-pw").await;
    // The code form, filled in from the link.
    browser.click("button[type=submit]").await;
    let consent = browser.text().await;
    assert!(consent.contains("Living-room TV"), "{consent}");
    assert!(consent.contains("confd.users.me.read"), "{consent}");
    browser.decide("allow").await;
    assert_eq!(browser.status().await, 200);
    srv.clock.advance(Duration::from_secs(5));
    let poll = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", &s(&started.body["device_code"])),
        ("client_id", &client_id),
    ];
    let token = srv
        .send(srv.client.post(srv.raw_url("/oauth2/token")).form(&poll))
        .await;
    assert_eq!(token.status, 200, "{}", token.text);
    assert_eq!(token.body["scope"], "confd.users.me.read");
    let access = s(&token.body["access_token"]);
    assert_eq!(srv.head_token(&access, None, None).await, 204);
}
