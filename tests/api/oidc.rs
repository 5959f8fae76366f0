//! OpenID Connect (SPEC §11.9) over HTTP: ID tokens (claims, signature against the JWKS, checked
//! by the `openidconnect` crate as a relying party), userinfo by scope, signing keys sealed in the
//! database and rotated, ES256 when configured, and RP-initiated logout. The whole flow in a real
//! browser is in `browser.rs`.

use std::time::Duration;

use base64::Engine as _;
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{ClientId, IssuerUrl, Nonce};
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{self, s, Reply, Store, TestServer};
use crate::oauth2_authorize::{
    assert_page_hygiene, code_for, exchange, post_page, Browser, REDIRECT,
};

/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const LOGGED_OUT: &str = "http://127.0.0.1:7777/bye";

both_stores!(
    an_id_token_says_who_signed_in_and_userinfo_tells_the_rest,
    openid_grants_no_access_and_survives_a_refresh,
    signing_keys_are_sealed_and_rotate_without_breaking_tokens,
    logout_ends_the_browser_session_after_a_confirmation,
    logout_never_redirects_where_it_was_not_registered,
    rotate_secret_seals_the_signing_keys_again,
);

/// A current key that does not open with `token_secret` (sealed under another secret) is replaced
/// at the next signing, and `rotate-secret` deletes it rather than refusing to rotate. PostgreSQL
/// only: the test writes the row from the server's own process, which on SQLite would drop the
/// server's file locks.
#[tokio::test]
async fn a_key_that_does_not_open_is_replaced_not_fatal() {
    const OLD: &str = "the-old-secret-0123456789abcdef";
    let srv = common::start_with(Store::Postgres, |c| c.token_secret = Some(OLD.into())).await;
    alice(&srv).await;
    let client_id = register_rp(&srv).await;
    let mut browser = Browser::new(&srv);
    let first = s(&sign_in(&srv, &mut browser, &client_id, "openid").await.body["id_token"]);
    let first_kid = s(&jws_parts(&first).0["kid"]);
    srv.execute_sql(&["UPDATE oauth2_signing_keys SET sealed_key = '\\x00ff'::bytea"])
        .await;
    srv.clock.advance(Duration::from_secs(61));
    let answer = sign_in(&srv, &mut browser, &client_id, "openid").await;
    let again = s(&answer.body["id_token"]);
    let kid = s(&jws_parts(&again).0["kid"]);
    assert_ne!(kid, first_kid);
    let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    assert!(verified(&srv, &client_id, &again, rs256).await.is_ok());
    let rotated = common::rotate(&srv, Some(OLD), "the-new-secret-fedcba9876543210\n");
    assert!(rotated.status.success(), "{}", common::stderr_of(&rotated));
    let said = String::from_utf8_lossy(&rotated.stdout);
    assert!(said.contains("and 1 signing keys"), "{said}");
}

/// Registers a public client that may sign users in and refresh, with a logout return URI.
async fn register_rp(srv: &TestServer) -> String {
    let admin = srv.admin_token().await;
    let reply = srv
        .call(
            Method::POST,
            "/oauth2/clients",
            Some(&admin),
            Some(json!({
                "name": "Notes <i>app</i>",
                "type": "public",
                "redirect_uris": [REDIRECT],
                "post_logout_redirect_uris": [LOGGED_OUT],
                "grant_types": ["authorization_code", "refresh_token"],
                "scope": ["confd.#"],
                "consent": "implicit",
            })),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    s(&reply.body["client_id"])
}

/// alice, with a name and a main e-mail address.
async fn alice(srv: &TestServer) -> Value {
    let admin = srv.admin_token().await;
    let body = json!({
        "username": "alice", "password": "alice-pw", "firstname": "Alice",
        "lastname": "Liddell", "email_address": "alice@example.com",
    });
    srv.create_user_with(&admin, body).await
}

/// Signs alice in for `scope` with `nonce`: the token endpoint's answer.
async fn sign_in(
    srv: &TestServer,
    browser: &mut Browser<'_>,
    client_id: &str,
    scope: &str,
) -> Reply {
    let extra = [("scope", scope), ("nonce", "n-0S6_WzA2Mj")];
    let code = code_for(srv, browser, client_id, &extra).await;
    let reply = exchange(srv, client_id, &code, VERIFIER).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply
}

/// A JWS's header and claims, read without checking anything.
fn jws_parts(jws: &str) -> (Value, Value) {
    let decode = |part: &str| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3, "{jws}");
    (decode(parts[0]), decode(parts[1]))
}

async fn jwks(srv: &TestServer) -> Value {
    let reply = srv.send(srv.client.get(srv.raw_url("/oauth2/jwks"))).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body
}

/// The `openidconnect` crate's verdict on an ID token, with the keys the JWKS serves now.
async fn verified(
    srv: &TestServer,
    client_id: &str,
    id_token: &str,
    alg: CoreJwsSigningAlgorithm,
) -> Result<String, String> {
    let keys: CoreJsonWebKeySet = serde_json::from_value(jwks(srv).await).unwrap();
    let issuer = IssuerUrl::new(format!("http://{}", srv.addr)).unwrap();
    let verifier =
        CoreIdTokenVerifier::new_public_client(ClientId::new(client_id.into()), issuer, keys)
            .set_allowed_algs([alg]);
    let token: CoreIdToken = id_token.parse().map_err(|e| format!("{e:?}"))?;
    let claims = token
        .claims(&verifier, &Nonce::new("n-0S6_WzA2Mj".into()))
        .map_err(|e| e.to_string())?;
    Ok(claims.subject().to_string())
}

async fn userinfo(srv: &TestServer, token: &str) -> Reply {
    let builder = srv
        .client
        .get(srv.raw_url("/oauth2/userinfo"))
        .bearer_auth(token);
    srv.send(builder).await
}

async fn an_id_token_says_who_signed_in_and_userinfo_tells_the_rest(store: Store) {
    let srv = common::start(store).await;
    let alice = alice(&srv).await;
    let uuid = s(&alice["uuid"]);
    let client_id = register_rp(&srv).await;
    let mut browser = Browser::new(&srv);
    let answer = sign_in(
        &srv,
        &mut browser,
        &client_id,
        "openid profile confd.users.me.read",
    )
    .await;
    assert_eq!(
        s(&answer.body["scope"]),
        "openid profile confd.users.me.read"
    );
    let id_token = s(&answer.body["id_token"]);
    let access_token = s(&answer.body["access_token"]);

    let (header, claims) = jws_parts(&id_token);
    assert_eq!(header["alg"], "RS256");
    let keys = jwks(&srv).await;
    assert_eq!(keys["keys"][0]["kid"], header["kid"]);
    assert!(keys["keys"][0].get("d").is_none(), "{keys}");
    assert_eq!(s(&claims["iss"]), format!("http://{}", srv.addr));
    assert_eq!(s(&claims["sub"]), uuid);
    assert_eq!(s(&claims["aud"]), client_id);
    assert_eq!(s(&claims["nonce"]), "n-0S6_WzA2Mj");
    let now = srv.clock_now_seconds();
    assert!(
        (claims["iat"].as_i64().unwrap() - now).abs() <= 5,
        "{claims}"
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());
    // at_hash: the left half of the access token's SHA-256 (OIDC Core §3.1.3.6).
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(access_token.as_bytes());
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
    assert_eq!(s(&claims["at_hash"]), expected);
    assert!(!s(&claims["sid"]).is_empty());
    // Profile claims are userinfo's (OIDC Core §5.4), not the ID token's.
    assert!(claims.get("preferred_username").is_none(), "{claims}");
    assert_eq!(
        verified(
            &srv,
            &client_id,
            &id_token,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
        )
        .await,
        Ok(uuid.clone())
    );
    // Another audience, or one altered byte, and the relying party refuses it.
    assert!(verified(
        &srv,
        REDIRECT,
        &id_token,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
    )
    .await
    .is_err());
    let (head, rest) = id_token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let forged = json!({"sub": s(&alice["uuid"]), "aud": client_id, "nonce": "n-0S6_WzA2Mj",
        "iss": format!("http://{}", srv.addr), "exp": 4_000_000_000i64, "iat": now, "admin": true});
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
    assert_ne!(forged, payload);
    let tampered = format!("{head}.{forged}.{signature}");
    assert!(verified(
        &srv,
        &client_id,
        &tampered,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
    )
    .await
    .is_err());

    // The profile claims by scope, as the user is now; no e-mail without `email`.
    let info = userinfo(&srv, &access_token).await;
    assert_eq!(info.status, 200, "{}", info.text);
    assert_eq!(info.header("cache-control"), Some("no-store"));
    assert_eq!(
        info.body,
        json!({"sub": uuid, "preferred_username": "alice", "name": "Alice Liddell",
               "given_name": "Alice", "family_name": "Liddell"})
    );
    let answer = sign_in(&srv, &mut browser, &client_id, "openid email").await;
    let info = userinfo(&srv, &s(&answer.body["access_token"])).await;
    assert_eq!(info.status, 200, "{}", info.text);
    let confirmed = alice["emails"][0]["confirmed"].as_bool().unwrap();
    assert_eq!(
        info.body,
        json!({"sub": uuid, "email": "alice@example.com", "email_verified": confirmed})
    );
    // POST answers the same.
    let builder = srv
        .client
        .post(srv.raw_url("/oauth2/userinfo"))
        .bearer_auth(s(&answer.body["access_token"]));
    assert_eq!(srv.send(builder).await.body, info.body);
}

async fn openid_grants_no_access_and_survives_a_refresh(store: Store) {
    let srv = common::start(store).await;
    let alice = alice(&srv).await;
    let client_id = register_rp(&srv).await;
    let mut browser = Browser::new(&srv);

    // Without openid: no ID token, and userinfo refuses the token (RFC 6750 §3.1).
    let answer = sign_in(&srv, &mut browser, &client_id, "confd.users.me.read").await;
    assert!(answer.body.get("id_token").is_none(), "{}", answer.text);
    let refused = userinfo(&srv, &s(&answer.body["access_token"])).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(s(&refused.body["error"]), "insufficient_scope");
    // A wazo token is no OpenID Connect token; an unknown one or none is invalid_token.
    let wazo = srv.token_of("alice", "alice-pw").await;
    assert_eq!(userinfo(&srv, &wazo).await.status, 403);
    let unknown = userinfo(&srv, "not-a-token").await;
    assert_eq!(unknown.status, 401, "{}", unknown.text);
    assert!(unknown
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer"));
    let bare = srv
        .send(srv.client.get(srv.raw_url("/oauth2/userinfo")))
        .await;
    assert_eq!(bare.status, 401, "{}", bare.text);

    // OpenID Connect values grant no access, not even the access string of the same name.
    let admin = srv.admin_token().await;
    let policy = srv.create_policy_as(&admin, "everything", &["#"]).await;
    srv.attach_policy_as(&admin, &s(&alice["uuid"]), &s(&policy["uuid"]))
        .await;
    let answer = sign_in(
        &srv,
        &mut browser,
        &client_id,
        "openid profile offline_access",
    )
    .await;
    let token = s(&answer.body["access_token"]);
    for access in ["openid", "profile", "offline_access", "confd.users.read"] {
        assert_eq!(
            srv.head_token(&token, Some(access), None).await,
            403,
            "{access}"
        );
    }
    assert_eq!(srv.head_token(&token, None, None).await, 204);

    // A refresh keeps what the chain was granted: openid included.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", &s(&answer.body["refresh_token"])),
        ("client_id", &client_id),
    ];
    let builder = srv.client.post(srv.raw_url("/oauth2/token")).form(&form);
    let refreshed = srv.send(builder).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let scope = s(&refreshed.body["scope"]);
    let mut values: Vec<&str> = scope.split(' ').collect();
    values.sort_unstable();
    assert_eq!(values, ["offline_access", "openid", "profile"], "{scope}");
    let info = userinfo(&srv, &s(&refreshed.body["access_token"])).await;
    assert_eq!(info.status, 200, "{}", info.text);
    assert_eq!(info.body["preferred_username"], "alice");
}

async fn signing_keys_are_sealed_and_rotate_without_breaking_tokens(store: Store) {
    let srv = common::start(store).await;
    alice(&srv).await;
    let client_id = register_rp(&srv).await;
    let mut browser = Browser::new(&srv);
    let first = s(&sign_in(&srv, &mut browser, &client_id, "openid").await.body["id_token"]);
    let (header, _) = jws_parts(&first);
    let first_kid = s(&header["kid"]);

    // A new current key, published before the running server signs with it.
    let said = srv.rotate_signing_key();
    // Published before it signs: once the server read the keys again, the JWKS holds both, and
    // the old key still signs until the new one has been published two minutes.
    srv.clock.advance(Duration::from_secs(61));
    let keys = jwks(&srv).await;
    let kids = key_ids(&keys);
    assert_eq!(kids.len(), 2, "{keys}");
    assert!(kids.contains(&first_kid));
    let during = s(&sign_in(&srv, &mut browser, &client_id, "openid").await.body["id_token"]);
    assert_eq!(s(&jws_parts(&during).0["kid"]), first_kid);
    srv.clock.advance(Duration::from_secs(60));
    let second = s(&sign_in(&srv, &mut browser, &client_id, "openid").await.body["id_token"]);
    let (header, _) = jws_parts(&second);
    let second_kid = s(&header["kid"]);
    assert_ne!(second_kid, first_kid);
    assert!(said.contains(&second_kid), "{said}");
    let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    assert!(verified(&srv, &client_id, &first, rs256.clone())
        .await
        .is_ok());
    assert!(verified(&srv, &client_id, &second, rs256).await.is_ok());

    // Once every token the old key signed has expired, it is no longer published.
    srv.clock.advance(Duration::from_secs(3600 + 121));
    let keys = jwks(&srv).await;
    let kids = key_ids(&keys);
    assert_eq!(kids, std::slice::from_ref(&second_kid), "{keys}");

    // Only the public half is anywhere in clear: the modulus is in no row, in no encoding. (Last:
    // reading SQLite's files from the server's process drops its locks.)
    let n = s(&keys["keys"][0]["n"]);
    let modulus = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&n)
        .unwrap();
    let dump = srv.database_bytes().await;
    assert!(!contains(&dump, &modulus), "the modulus is in the database");
    assert!(!contains(&dump, hex::encode(&modulus[..64]).as_bytes()));
    assert!(!contains(&dump, &n.as_bytes()[..64]));
    assert!(
        contains(&dump, second_kid.as_bytes()),
        "the key is stored, by its id"
    );
}

/// The key ids of a JWKS.
fn key_ids(keys: &Value) -> Vec<String> {
    let keys = keys["keys"].as_array().unwrap();
    keys.iter().map(|k| s(&k["kid"])).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Opens the logout page with `params`, from `browser`.
async fn logout_page(browser: &mut Browser<'_>, params: &[(&str, &str)]) -> Reply {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let url = format!("{}?{query}", browser.srv.raw_url("/oauth2/logout"));
    browser.open(&url).await
}

/// Posts the logout page's form with its hidden fields and `extra`.
async fn post_logout(browser: &mut Browser<'_>, page: &Reply, extra: &[(&str, &str)]) -> Reply {
    post_page(browser, "/oauth2/logout", page, extra).await
}

async fn logout_ends_the_browser_session_after_a_confirmation(store: Store) {
    let srv = common::start(store).await;
    alice(&srv).await;
    let client_id = register_rp(&srv).await;
    let mut browser = Browser::new(&srv);
    let id_token = s(&sign_in(&srv, &mut browser, &client_id, "openid").await.body["id_token"]);
    let params = [
        ("id_token_hint", id_token.as_str()),
        ("post_logout_redirect_uri", LOGGED_OUT),
        ("state", "bye&1"),
    ];
    let page = logout_page(&mut browser, &params).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_page_hygiene(&page);
    assert!(
        page.text.contains("Notes &#60;i&#62;app&#60;/i&#62;"),
        "{}",
        page.text
    );
    let csp = page.header("content-security-policy").unwrap().to_string();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:7777"),
        "{csp}"
    );
    // A GET alone ends nothing, and neither does a form without this browser's CSRF token.
    let authorize =
        crate::oauth2_authorize::authorize_url(&srv, &client_id, &[("scope", "openid")]);
    assert_eq!(browser.open(&authorize).await.status, 303);
    let mut forged = page.clone();
    forged.text = forged.text.replace("name=\"csrf\"", "name=\"other\"");
    assert_eq!(
        post_logout(&mut browser, &forged, &[("decision", "logout")])
            .await
            .status,
        403
    );
    assert_eq!(browser.open(&authorize).await.status, 303);

    let done = post_logout(&mut browser, &page, &[("decision", "logout")]).await;
    assert_eq!(done.status, 303, "{}", done.text);
    assert_eq!(
        done.header("location"),
        Some("http://127.0.0.1:7777/bye?state=bye%261")
    );
    let cleared = done.header("set-cookie").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The next authorization asks alice to sign in again, even with the old cookie.
    let next = browser.open(&authorize).await;
    assert_eq!(next.status, 200, "{}", next.text);
    assert!(next.text.contains("name=\"password\""));

    // Staying signed in goes back too, and ends nothing; without a return URI, a page says so.
    sign_in(&srv, &mut browser, &client_id, "openid").await;
    let page = logout_page(&mut browser, &[("client_id", client_id.as_str())]).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let stay = post_logout(&mut browser, &page, &[("decision", "stay")]).await;
    assert_eq!(stay.status, 200, "{}", stay.text);
    assert_eq!(browser.open(&authorize).await.status, 303);
    let out = post_logout(&mut browser, &page, &[("decision", "logout")]).await;
    assert_eq!(out.status, 200, "{}", out.text);
    assert!(out.text.contains("signed out"), "{}", out.text);
}

async fn logout_never_redirects_where_it_was_not_registered(store: Store) {
    let srv = common::start(store).await;
    alice(&srv).await;
    let client_id = register_rp(&srv).await;
    let mut browser = Browser::new(&srv);
    let id_token = s(&sign_in(&srv, &mut browser, &client_id, "openid").await.body["id_token"]);
    let (head, rest) = id_token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let other_aud = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"aud": "6e3b1bd4-9b51-4a3f-9c44-5c4b2b8e4a10", "iss": format!("http://{}", srv.addr)}).to_string());
    let tampered = format!("{head}.{other_aud}.{signature}");
    let refused: [&[(&str, &str)]; 5] = [
        // Not registered, or not exactly.
        &[
            ("client_id", &client_id),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        &[
            ("client_id", &client_id),
            ("post_logout_redirect_uri", "http://127.0.0.1:7777/bye/"),
        ],
        // No client to check it against.
        &[("post_logout_redirect_uri", LOGGED_OUT)],
        // A hint that is not Tessera's, or names another client than client_id.
        &[
            ("id_token_hint", &tampered),
            ("post_logout_redirect_uri", LOGGED_OUT),
        ],
        &[
            ("id_token_hint", &id_token),
            ("client_id", "6e3b1bd4-9b51-4a3f-9c44-5c4b2b8e4a10"),
        ],
    ];
    for params in refused {
        let page = logout_page(&mut browser, params).await;
        assert_eq!(page.status, 400, "{params:?}: {}", page.text);
        assert!(page.header("location").is_none());
        assert_page_hygiene(&page);
        assert!(!page.text.contains("name=\"decision\""), "{}", page.text);
    }
    // The browser is still signed in.
    let authorize =
        crate::oauth2_authorize::authorize_url(&srv, &client_id, &[("scope", "openid")]);
    assert_eq!(browser.open(&authorize).await.status, 303);
}

/// With `id_token_signing_alg = "ES256"`: discovery says so, and a relying party that allows
/// ES256 verifies the ID token.
#[tokio::test]
async fn es256_signs_when_configured() {
    let srv = common::start_with(Store::Sqlite, |c| c.id_token_signing_alg = "ES256".into()).await;
    alice(&srv).await;
    let client_id = register_rp(&srv).await;
    let discovery = srv
        .send(
            srv.client
                .get(srv.raw_url("/.well-known/openid-configuration")),
        )
        .await;
    assert_eq!(
        discovery.body["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    let mut browser = Browser::new(&srv);
    let id_token = s(&sign_in(&srv, &mut browser, &client_id, "openid").await.body["id_token"]);
    let (header, _) = jws_parts(&id_token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(jwks(&srv).await["keys"][0]["crv"], "P-256");
    assert!(verified(
        &srv,
        &client_id,
        &id_token,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256
    )
    .await
    .is_ok());
    assert!(verified(
        &srv,
        &client_id,
        &id_token,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
    )
    .await
    .is_err());
}

/// `tessera rotate-secret` seals the signing keys again under the new secret: the server started
/// with it signs with the same key.
async fn rotate_secret_seals_the_signing_keys_again(store: Store) {
    const OLD: &str = "the-old-secret-0123456789abcdef";
    const NEW: &str = "the-new-secret-fedcba9876543210";
    let srv = common::start_with(store, |c| c.token_secret = Some(OLD.into())).await;
    alice(&srv).await;
    let client_id = register_rp(&srv).await;
    let mut browser = Browser::new(&srv);
    let before = s(&sign_in(&srv, &mut browser, &client_id, "openid").await.body["id_token"]);
    let kid = s(&jws_parts(&before).0["kid"]);

    let rotated = common::rotate(&srv, Some(OLD), &format!("{NEW}\n"));
    assert!(rotated.status.success(), "{}", common::stderr_of(&rotated));
    let said = String::from_utf8_lossy(&rotated.stdout);
    assert!(said.contains("and 1 signing keys"), "{said}");

    let after = common::start_on(&srv, Some(NEW))
        .await
        .expect("the new secret starts");
    let mut browser = Browser::new(&after);
    let again = s(&sign_in(&after, &mut browser, &client_id, "openid")
        .await
        .body["id_token"]);
    assert_eq!(
        s(&jws_parts(&again).0["kid"]),
        kid,
        "the same key, opened with the new secret"
    );
    let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    assert!(verified(&after, &client_id, &again, rs256).await.is_ok());
}
