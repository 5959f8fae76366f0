//! Property-based hostile input: random Authorization headers, POST /token bodies of
//! every JSON type, raw bytes, percent-encoded path segments, list query strings and `X-Auth-Token`
//! values, thrown at ONE real server per property and store. Every case must answer below 500, with a
//! JSON error in the contract's shape (SPEC §5) when it is a 4xx; after each property the server must
//! still answer `HEAD /status` with 200. Failures are shrunk to a minimal input by proptest.
//!
//! Cases per property: `PROPTEST_CASES` (default below); a failing seed replays with
//! `PROPTEST_RNG_SEED=<n>`.
//! `cargo test --test api proptests` runs them all.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use base64::Engine as _;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestCaseResult, TestRunner};
use reqwest::header::HeaderValue;
use reqwest::Method;
use serde_json::{json, Map, Number, Value};

use crate::common::{self, Store, TestServer, ADMIN_PASSWORD, ADMIN_USERNAME};

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 128;

/// One `#[test]` per store for each property: `NAME::sqlite` and `NAME::postgres` (the names CI counts).
macro_rules! both_stores_sync {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name($crate::common::Store::Sqlite)
            }
            #[test]
            fn postgres() {
                super::$name($crate::common::Store::Postgres)
            }
        }
    )+};
}

both_stores_sync!(
    authorization_headers,
    token_bodies,
    raw_bodies,
    path_segments,
    list_queries,
    x_auth_tokens,
);

// ---------------------------------------------------------------------------------------------
// The harness: one runtime and one server per property; proptest drives cases synchronously.
// ---------------------------------------------------------------------------------------------

struct Harness {
    // Dropped before the runtime (fields drop in declaration order).
    srv: TestServer,
    admin: String,
    tenant: String,
    /// A sacrificial user and policy, so that paths also reach existing rows.
    user: String,
    policy: String,
    store: Store,
    /// Statuses seen during the current property, to show what the cases reached.
    seen: std::sync::Mutex<std::collections::BTreeMap<u16, u32>>,
    rt: tokio::runtime::Runtime,
}

impl Harness {
    fn start(store: Store) -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (srv, admin, tenant, user, policy) = rt.block_on(async {
            let srv = common::start_with(store, |c| {
                c.bruteforce_login_failures = 0;
                c.bruteforce_address_failures = 0;
            })
            .await;
            let login = srv
                .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
                .await;
            let admin = common::s(&login["token"]);
            let tenant = common::s(&login["metadata"]["tenant_uuid"]);
            let user = srv
                .create_user_as(&admin, "prop-user", Some("prop-pw"))
                .await;
            let policy = srv.create_policy_as(&admin, "prop-policy", &["a.b"]).await;
            (
                srv,
                admin,
                tenant,
                common::s(&user["uuid"]),
                common::s(&policy["uuid"]),
            )
        });
        Harness {
            srv,
            admin,
            tenant,
            user,
            policy,
            store,
            seen: Default::default(),
            rt,
        }
    }

    /// Runs `test` on the property's cases, then checks the server still answers.
    fn run<S>(&self, name: &str, strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
    where
        S: Strategy,
        S::Value: Debug,
    {
        let mut config = Config::default();
        if std::env::var_os("PROPTEST_CASES").is_none() {
            config.cases = DEFAULT_CASES;
        }
        config.failure_persistence = None;
        // Shrinking sends requests too: bound it.
        config.max_shrink_iters = 512;
        let cases = config.cases;
        let started = Instant::now();
        let mut runner = TestRunner::new(config);
        if let Err(error) = runner.run(&strategy, test) {
            panic!("{name} on {:?}: {error}", self.store);
        }
        let status = self.rt.block_on(async {
            self.srv
                .client
                .head(self.srv.url("/status"))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .map(|r| r.status().as_u16())
        });
        assert!(
            matches!(status, Ok(200)),
            "{name} on {:?}: HEAD /status afterwards: {status:?}",
            self.store
        );
        let seen = std::mem::take(&mut *self.seen.lock().expect("lock"));
        eprintln!(
            "{name} on {:?}: {cases} cases in {:.1?}, statuses {seen:?}",
            self.store,
            started.elapsed()
        );
    }

    /// Sends one request and reads the whole answer; a dropped connection (a panic) fails the case.
    async fn send(&self, builder: reqwest::RequestBuilder) -> Result<Answer, TestCaseError> {
        let response = builder
            .timeout(Duration::from_secs(40))
            .send()
            .await
            .map_err(|e| TestCaseError::fail(format!("no answer (server panic?): {e:?}")))?;
        let status = response.status().as_u16();
        *self.seen.lock().expect("lock").entry(status).or_default() += 1;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| TestCaseError::fail(format!("status {status}, body cut: {e:?}")))?;
        Ok(Answer {
            status,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            body: serde_json::from_slice(&bytes).ok(),
        })
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.srv.client.request(method, self.srv.url(path))
    }
}

struct Answer {
    status: u16,
    text: String,
    body: Option<Value>,
}

/// Which error body a route answers (SPEC §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// `{reason: [..], timestamp: [..], status_code}`: POST/GET/HEAD/DELETE `/token…`.
    Token,
    /// `{message, error_id, details, timestamp}`: every other endpoint.
    Api,
}

/// Below 500; a 4xx is JSON in `shape` (HEAD answers carry no body).
fn verdict(answer: &Answer, method: &Method, shape: Shape) -> TestCaseResult {
    let (status, text) = (answer.status, &answer.text);
    prop_assert!(status < 500, "server error {status}: {text}");
    if status < 400 || *method == Method::HEAD {
        return Ok(());
    }
    let body = answer
        .body
        .as_ref()
        .filter(|b| b.is_object())
        .ok_or_else(|| TestCaseError::fail(format!("{status} without a JSON object: {text:?}")))?;
    match shape {
        Shape::Token => {
            let reason_ok = body["reason"]
                .as_array()
                .is_some_and(|r| !r.is_empty() && r.iter().all(Value::is_string));
            let timestamp_ok = body["timestamp"]
                .as_array()
                .is_some_and(|t| t.len() == 1 && t[0].is_number());
            prop_assert!(
                reason_ok && timestamp_ok && body["status_code"] == json!(status),
                "{status}: not the token error shape: {text}"
            );
        }
        Shape::Api => {
            prop_assert!(
                body["message"].is_string()
                    && body["error_id"].is_string()
                    && body["details"].is_object()
                    && body["timestamp"].is_number(),
                "{status}: not the API error shape: {text}"
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------------------------

/// Bytes a header value may hold (no control characters but tab).
fn header_safe(bytes: Vec<u8>) -> Vec<u8> {
    bytes
        .into_iter()
        .filter(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
        .collect()
}

fn header_value(bytes: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(bytes).expect("header-safe bytes")
}

/// Characters attackers like: separators, wildcards, quotes, NUL, Latin-1, astral, RTL, whitespace.
fn odd_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        2 => prop::sample::select(vec![
            ':', '\0', '.', '#', '*', '!', '%', '_', '\'', '"', '\\', '/', '?', '&', '=', '+', ' ',
            '\t', '\n', '\r', 'é', '\u{ff}', '\u{80}', '\u{200b}', '\u{202e}', '\u{feff}', '\u{1F600}',
            '\u{10FFFF}', 'İ', 'ß', 'a', 'Z', '0', '9', '-',
        ]),
        2 => prop::char::range('a', 'z'),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(odd_char(), 0..=max).prop_map(String::from_iter)
}

fn uuid_like() -> impl Strategy<Value = String> {
    (any::<u128>(), 0..6usize).prop_map(|(n, form)| {
        let uuid = uuid::Uuid::from_u128(n);
        match form {
            0 => uuid.to_string(),
            1 => uuid.to_string().to_uppercase(),
            2 => uuid.simple().to_string(),
            3 => format!("{{{uuid}}}"),
            4 => format!("urn:uuid:{uuid}"),
            _ => uuid::Uuid::nil().to_string(),
        }
    })
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        text(24).prop_map(Value::from),
        any::<i64>().prop_map(|n| Value::from(n.to_string())),
        any::<f64>().prop_map(|f| Value::from(f.to_string())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((text(8), inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn expiration() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => prop::sample::select(vec![
            json!(0),
            json!(1),
            json!(60),
            json!(315360000),
            json!(315360001),
            json!(-1),
            json!(i64::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(60.0),
            json!(60.5),
            json!(-0.0),
            json!(1e15),
            json!(1e16),
            json!(1e300),
            json!(" 60 "),
            json!("60.0"),
            json!("1e3"),
            json!("+60"),
            json!("0x10"),
            json!("inf"),
            json!("NaN"),
            json!("-0"),
            json!("\u{661}\u{662}"),
            json!(""),
        ]),
        3 => (1..=315_360_000i64).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => json_value(),
    ]
}

fn client_id_like() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::collection::vec(prop::char::range('a', 'z'), 1..24)
            .prop_map(|c| Value::from(String::from_iter(c))),
        3 => text(40).prop_map(Value::from),
        1 => (prop::sample::select(vec![0usize, 1, 1023, 1024, 1025, 4096]), odd_char())
            .prop_map(|(n, c)| Value::from(std::iter::repeat_n(c, n).collect::<String>())),
        1 => uuid_like().prop_map(Value::from),
        2 => json_value(),
    ]
}

/// A whole POST /token body: every known field absent or of a random type, plus unknown keys.
fn token_body() -> impl Strategy<Value = Value> {
    let object = (
        prop::option::weighted(0.5, expiration()),
        prop::option::weighted(
            0.6,
            prop_oneof![
                3 => prop::sample::select(vec!["online", "offline"]).prop_map(Value::from),
                1 => prop::sample::select(vec!["OFFLINE", "Offline ", "", "online\0"])
                    .prop_map(Value::from),
                1 => json_value(),
            ],
        ),
        prop::option::weighted(0.6, client_id_like()),
        prop::option::weighted(0.15, client_id_like()),
        prop::option::weighted(0.1, client_id_like()),
        prop::option::weighted(0.1, client_id_like()),
        prop::option::weighted(0.2, json_value()),
        prop::collection::vec((text(8), json_value()), 0..3),
    )
        .prop_map(
            |(
                expiration,
                access_type,
                client_id,
                refresh_token,
                tenant,
                domain,
                backend,
                extra,
            )| {
                let mut body = Map::new();
                for (key, value) in extra {
                    body.insert(key, value);
                }
                for (key, value) in [
                    ("expiration", expiration),
                    ("access_type", access_type),
                    ("client_id", client_id),
                    ("refresh_token", refresh_token),
                    ("tenant_id", tenant),
                    ("domain_name", domain),
                    ("backend", backend),
                ] {
                    if let Some(value) = value {
                        body.insert(key.to_string(), value);
                    }
                }
                Value::Object(body)
            },
        );
    prop_oneof![9 => object, 1 => json_value()]
}

fn content_type() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        2 => Just(None),
        5 => prop::sample::select(vec![
            "application/json",
            "APPLICATION/JSON; charset=utf-8",
            "application/vnd.api+json",
            "text/plain",
            "application/octet-stream",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/html",
            "",
            ";;;",
            "application/json; charset=latin1",
        ])
        .prop_map(|s| Some(s.as_bytes().to_vec())),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| Some(header_safe(b))),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Credentials {
    None,
    Admin,
    WrongPassword,
    RandomLogin,
}

fn credentials() -> impl Strategy<Value = Credentials> {
    prop::sample::select(vec![
        Credentials::None,
        Credentials::Admin,
        Credentials::WrongPassword,
        Credentials::RandomLogin,
    ])
}

/// Raw body bytes: random bytes, or JSON-ish fragments glued together.
fn raw_body() -> impl Strategy<Value = Vec<u8>> {
    const FRAGMENTS: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b":",
        b",",
        b"\"expiration\"",
        b"\"access_type\"",
        b"\"client_id\"",
        b"\"refresh_token\"",
        b"\"username\"",
        b"\"password\"",
        b"\"old_password\"",
        b"\"new_password\"",
        b"\"name\"",
        b"\"acl\"",
        b"\"scopes\"",
        b"\"tenant_uuid\"",
        b"\"offline\"",
        b"\"#\"",
        b"\"!a.*\"",
        b"1e999",
        b"-0",
        b"0.5",
        b"18446744073709551616",
        b"null",
        b"true",
        b"\"\\u0000\"",
        b"\"\\ud800\"",
        b"\"\\\\\"",
        b"\"x\"",
        b" ",
        b"\n",
        b"\xff",
        b"\xc3\x28",
        b"\xef\xbb\xbf",
        b"\x00",
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        prop::collection::vec(prop::sample::select(FRAGMENTS), 0..24)
            .prop_map(|parts| parts.concat()),
        json_value().prop_map(|v| v.to_string().into_bytes()),
    ]
}

/// A path segment: arbitrary bytes, percent-encoded (hex case random), unreserved ones sometimes raw.
fn segment() -> impl Strategy<Value = String> {
    let encoded = prop::collection::vec(
        (
            prop_oneof![
                any::<u8>(),
                prop::sample::select(b"abcdef0123456789-.:%#*!".to_vec()),
            ],
            any::<bool>(),
            any::<bool>(),
        ),
        1..40,
    )
    .prop_filter_map("dot segments and empty ones change the route", |bytes| {
        let decoded: Vec<u8> = bytes.iter().map(|(b, _, _)| *b).collect();
        if decoded == b"." || decoded == b".." {
            return None;
        }
        let mut out = String::new();
        for (byte, raw, upper) in bytes {
            if raw && (byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&byte)) {
                out.push(byte as char);
            } else if upper {
                out.push_str(&format!("%{byte:02X}"));
            } else {
                out.push_str(&format!("%{byte:02x}"));
            }
        }
        Some(out)
    });
    prop_oneof![
        4 => encoded,
        1 => uuid_like(),
        1 => Just("me".to_string()),
    ]
}

fn encode_all(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// A query string: known keys with junk values, unknown keys, raw junk.
fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        5 => prop::sample::select(vec![
            "limit", "offset", "order", "direction", "search", "recurse", "LIMIT", "limit[]", "",
        ])
        .prop_map(str::to_string),
        1 => prop::collection::vec(any::<u8>(), 0..8).prop_map(|b| encode_all(&b)),
    ];
    let value = prop_oneof![
        prop::sample::select(vec![
            "0",
            "1",
            "-1",
            "+1",
            " 5",
            "1.5",
            "1e3",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "99999999999999999999",
            "asc",
            "desc",
            "DESC",
            "username",
            "name",
            "uuid",
            "client_id",
            "created_at",
            "email",
            "%",
            "_",
            "'",
            "\\",
            "%25",
            "%00",
            "%zz",
            "%",
            "'; DROP TABLE users; --",
            "true",
            "",
        ])
        .prop_map(str::to_string),
        any::<i64>().prop_map(|n| n.to_string()),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(|b| encode_all(&b)),
        text(16).prop_map(|s| encode_all(s.as_bytes())),
        prop::collection::vec(prop::char::range(' ', '~'), 0..16).prop_map(String::from_iter),
    ];
    prop::collection::vec((key, value, any::<bool>()), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v, with_eq)| if with_eq { format!("{k}={v}") } else { k })
            .collect::<Vec<_>>()
            .join("&")
    })
}

// ---------------------------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------------------------

/// What the server must make of an Authorization header (SPEC §2), for the "only the right
/// password logs in" check.
fn decode_basic(value: &[u8]) -> Option<(String, String)> {
    // HTTP drops the blanks around a header value before the server sees it.
    let encoded = value.trim_ascii().strip_prefix(b"Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim_ascii())
        .ok()?;
    let text = String::from_utf8(decoded)
        .unwrap_or_else(|e| e.into_bytes().iter().map(|&b| b as char).collect());
    let (login, password) = text.split_once(':')?;
    Some((login.to_string(), password.to_string()))
}

#[derive(Debug, Clone)]
struct AuthCase {
    authorization: Vec<u8>,
    session_type: Option<Vec<u8>>,
    user_agent: Option<Vec<u8>>,
    body: &'static str,
}

fn authorization() -> impl Strategy<Value = Vec<u8>> {
    let prefix = prop_oneof![
        6 => Just(b"Basic ".to_vec()),
        3 => prop::sample::select(vec![
            &b"basic "[..], b"BASIC ", b"Basic", b"Basic  ", b" Basic ", b"Bearer ", b"",
            b"Basic\t", b"Digest ", b"Basic Basic ",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 0..8),
    ];
    let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(bytes);
    let credentials_text = || {
        (text(12), text(12), any::<bool>()).prop_map(|(login, password, admin)| {
            if admin {
                format!("{ADMIN_USERNAME}:{password}")
            } else {
                format!("{login}:{password}")
            }
        })
    };
    let latin1 = (
        prop::collection::vec(any::<u8>(), 0..12),
        prop::collection::vec(any::<u8>(), 0..12),
    )
        .prop_map(|(mut login, password)| {
            login.push(b':');
            login.extend(password);
            login
        });
    let payload = prop_oneof![
        3 => credentials_text().prop_map(move |t| b64(t.into_bytes()).into_bytes()),
        2 => latin1.prop_map(move |b| b64(b).into_bytes()),
        1 => Just(b64(format!("{ADMIN_USERNAME}:{ADMIN_PASSWORD}").into_bytes()).into_bytes()),
        1 => Just(b64(format!("ADMIN:{ADMIN_PASSWORD}").into_bytes()).into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..48).prop_map(move |b| b64(b).into_bytes()),
        // Broken base64: padding dropped or doubled, URL-safe alphabet, whitespace inside.
        2 => (credentials_text(), 0..4usize).prop_map(move |(t, how)| {
            let mut s = b64(t.into_bytes());
            match how {
                0 => s = s.trim_end_matches('=').to_string(),
                1 => s.push_str("=="),
                2 => s = s.replace('+', "-").replace('/', "_"),
                _ => s.insert(s.len() / 2, ' '),
            }
            s.into_bytes()
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ];
    (prefix, payload, prop::collection::vec(any::<u8>(), 0..4)).prop_map(
        |(mut prefix, payload, suffix)| {
            prefix.extend(payload);
            prefix.extend(if suffix.len() == 3 { suffix } else { vec![] });
            header_safe(prefix)
        },
    )
}

fn authorization_headers(store: Store) {
    let h = Harness::start(store);
    let strategy = (
        authorization(),
        prop::option::of(
            prop_oneof![
                Just(b"mobile".to_vec()),
                Just(b"MOBILE".to_vec()),
                prop::collection::vec(any::<u8>(), 0..16)
            ]
            .prop_map(header_safe),
        ),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..64).prop_map(header_safe)),
        prop::sample::select(vec![
            "{}",
            "",
            "null",
            r#"{"expiration": 60}"#,
            r#"{"access_type": "offline", "client_id": "prop-auth"}"#,
            r#"{"refresh_token": "x", "client_id": "prop-auth"}"#,
        ]),
    )
        .prop_map(|(authorization, session_type, user_agent, body)| AuthCase {
            authorization,
            session_type,
            user_agent,
            body,
        });
    h.run("authorization headers", strategy, |case| {
        h.rt.block_on(async {
            let mut builder = h
                .request(Method::POST, "/token")
                .header("Authorization", header_value(&case.authorization))
                .header("Content-Type", "application/json")
                .body(case.body);
            if let Some(v) = &case.session_type {
                builder = builder.header("Wazo-Session-Type", header_value(v));
            }
            if let Some(v) = &case.user_agent {
                builder = builder.header("User-Agent", header_value(v));
            }
            let answer = h.send(builder).await?;
            verdict(&answer, &Method::POST, Shape::Token)?;
            if answer.status == 200 {
                // Only the right password logs in.
                let credentials = decode_basic(&case.authorization);
                prop_assert!(
                    credentials.as_ref().is_some_and(|(login, password)| {
                        login.eq_ignore_ascii_case(ADMIN_USERNAME) && password == ADMIN_PASSWORD
                    }),
                    "200 for credentials {credentials:?}: {}",
                    answer.text
                );
            }
            Ok(())
        })
    });
}

fn token_bodies(store: Store) {
    let h = Harness::start(store);
    let strategy = (
        token_body(),
        content_type(),
        credentials(),
        prop::option::of(Just("mobile")),
    );
    h.run(
        "POST /token bodies",
        strategy,
        |(body, content_type, credentials, session_type)| {
            h.rt.block_on(async {
                let mut builder = h.request(Method::POST, "/token").body(body.to_string());
                if let Some(ct) = &content_type {
                    builder = builder.header("Content-Type", header_value(ct));
                }
                if let Some(st) = session_type {
                    builder = builder.header("Wazo-Session-Type", st);
                }
                builder = match credentials {
                    Credentials::None => builder,
                    Credentials::Admin => builder.basic_auth(ADMIN_USERNAME, Some(ADMIN_PASSWORD)),
                    Credentials::WrongPassword => builder.basic_auth(ADMIN_USERNAME, Some("nope")),
                    Credentials::RandomLogin => builder.basic_auth("prop-nobody", Some("pw")),
                };
                let answer = h.send(builder).await?;
                verdict(&answer, &Method::POST, Shape::Token)?;
                if answer.status == 200 {
                    prop_assert_eq!(credentials, Credentials::Admin, "200: {}", answer.text);
                    let data = &answer.body.as_ref().expect("json")["data"];
                    prop_assert!(common::is_uuid(&data["token"]), "200: {}", answer.text);
                }
                Ok(())
            })
        },
    );
}

/// Endpoints that read a body: (method, path template, shape). `{user}`, `{policy}` and `{admin}` are
/// filled with the harness's rows.
const BODY_ROUTES: &[(&str, &str, Shape)] = &[
    ("POST", "/token", Shape::Token),
    ("POST", "/token/{admin}/scopes/check", Shape::Token),
    ("POST", "/users", Shape::Api),
    ("PUT", "/users/{user}", Shape::Api),
    ("PUT", "/users/{user}/password", Shape::Api),
    ("POST", "/policies", Shape::Api),
    ("PUT", "/policies/{policy}", Shape::Api),
];

impl Harness {
    fn fill(&self, template: &str) -> String {
        template
            .replace("{admin}", &self.admin)
            .replace("{user}", &self.user)
            .replace("{policy}", &self.policy)
    }
}

fn raw_bodies(store: Store) {
    let h = Harness::start(store);
    let strategy = (
        0..BODY_ROUTES.len(),
        raw_body(),
        content_type(),
        any::<bool>(),
    );
    h.run(
        "raw bodies",
        strategy,
        |(route, body, content_type, with_admin_credentials)| {
            let (method, template, shape) = BODY_ROUTES[route];
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            h.rt.block_on(async {
                let mut builder = h
                    .request(method.clone(), &h.fill(template))
                    .header("X-Auth-Token", &h.admin)
                    .body(body);
                if let Some(ct) = &content_type {
                    builder = builder.header("Content-Type", header_value(ct));
                }
                if with_admin_credentials {
                    builder = builder.basic_auth(ADMIN_USERNAME, Some(ADMIN_PASSWORD));
                }
                let answer = h.send(builder).await?;
                verdict(&answer, &method, shape)
            })
        },
    );
}

/// Routes with path parameters: (method, template with `{}` for each random segment, shape).
const PATH_ROUTES: &[(&str, &str, Shape)] = &[
    ("HEAD", "/token/{}", Shape::Token),
    ("GET", "/token/{}", Shape::Token),
    ("DELETE", "/token/{}", Shape::Token),
    ("POST", "/token/{}/scopes/check", Shape::Token),
    ("GET", "/users/{}", Shape::Api),
    ("PUT", "/users/{}", Shape::Api),
    ("DELETE", "/users/{}", Shape::Api),
    ("PUT", "/users/{}/password", Shape::Api),
    ("GET", "/users/{}/tokens", Shape::Api),
    ("GET", "/users/{}/sessions", Shape::Api),
    ("GET", "/users/{}/policies", Shape::Api),
    ("DELETE", "/users/{}/tokens/{}", Shape::Api),
    ("DELETE", "/users/{user}/tokens/{}", Shape::Api),
    ("DELETE", "/users/me/tokens/{}", Shape::Api),
    ("DELETE", "/users/{}/sessions/{}", Shape::Api),
    ("DELETE", "/sessions/{}", Shape::Api),
    ("PUT", "/users/{user}/policies/{}", Shape::Api),
    ("DELETE", "/users/{}/policies/{}", Shape::Api),
    ("GET", "/policies/{}", Shape::Api),
    ("PUT", "/policies/{}", Shape::Api),
    ("DELETE", "/policies/{}", Shape::Api),
    ("PUT", "/policies/{}/acl/{}", Shape::Api),
    ("PUT", "/policies/{policy}/acl/{}", Shape::Api),
    ("DELETE", "/policies/{policy}/acl/{}", Shape::Api),
];

fn path_segments(store: Store) {
    let h = Harness::start(store);
    let strategy = (
        0..PATH_ROUTES.len(),
        segment(),
        segment(),
        prop::option::of(query()),
    );
    h.run(
        "path segments",
        strategy,
        |(route, first, second, query)| {
            let (method, template, shape) = PATH_ROUTES[route];
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            let mut path = h
                .fill(template)
                .replacen("{}", &first, 1)
                .replacen("{}", &second, 1);
            if let Some(query) = query {
                path = format!("{path}?scope={query}");
            }
            let body = match template {
                "/users/{}" => json!({"username": "prop-renamed"}),
                "/policies/{}" => json!({"name": "prop-renamed", "acl": []}),
                "/users/{}/password" => json!({"old_password": "a", "new_password": "b"}),
                _ => json!({"scopes": ["a.b", "#"]}),
            };
            h.rt.block_on(async {
                let builder = h
                    .request(method.clone(), &path)
                    .header("X-Auth-Token", &h.admin)
                    .json(&body);
                let answer = h
                    .send(builder)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("{method} {path}: {e}")))?;
                verdict(&answer, &method, shape)
                    .map_err(|e| TestCaseError::fail(format!("{method} {path}: {e}")))
            })
        },
    );
}

const LIST_ROUTES: &[&str] = &[
    "/users",
    "/policies",
    "/tokens",
    "/sessions",
    "/users/me/tokens",
    "/users/{user}/tokens",
    "/users/{user}/sessions",
    "/users/{user}/policies",
];

fn list_queries(store: Store) {
    let h = Harness::start(store);
    h.run(
        "list queries",
        (0..LIST_ROUTES.len(), query()),
        |(route, query)| {
            let path = format!("{}?{query}", h.fill(LIST_ROUTES[route]));
            h.rt.block_on(async {
                let builder = h
                    .request(Method::GET, &path)
                    .header("X-Auth-Token", &h.admin);
                let answer = h.send(builder).await?;
                verdict(&answer, &Method::GET, Shape::Api)
                    .map_err(|e| TestCaseError::fail(format!("GET {path}: {e}")))?;
                prop_assert!(
                    answer.status == 200 || answer.status == 400,
                    "GET {path}: {} {}",
                    answer.status,
                    answer.text
                );
                if answer.status == 200 {
                    let body = answer.body.as_ref().expect("json");
                    prop_assert!(
                        body["items"].is_array() && body["total"].is_u64(),
                        "GET {path}: not a list: {}",
                        answer.text
                    );
                }
                Ok(())
            })
        },
    );
}

/// Mostly blanks (which HTTP drops), sometimes any bytes.
fn blanks() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(prop::sample::select(b" \t".to_vec()), 0..3),
        1 => prop::collection::vec(any::<u8>(), 0..4),
    ]
}

const PROTECTED_ROUTES: &[&str] = &[
    "/users",
    "/policies",
    "/tokens",
    "/sessions",
    "/users/me/tokens",
    "/users/{user}",
    "/policies/{policy}",
];

fn x_auth_tokens(store: Store) {
    let h = Harness::start(store);
    let admin = h.admin.clone();
    let token = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..200),
        2 => text(40).prop_map(String::into_bytes),
        1 => uuid_like().prop_map(String::into_bytes),
        2 => (blanks(), blanks(), 0..4usize)
            .prop_map(move |(before, after, how)| {
                let core = match how {
                    0 => admin.to_uppercase(),
                    1 => admin.replace('-', ""),
                    2 => format!("{{{admin}}}"),
                    _ => admin.clone(),
                };
                [before, core.into_bytes(), after].concat()
            }),
    ]
    .prop_map(header_safe);
    let tenant = prop::option::weighted(
        0.3,
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40).prop_map(header_safe),
            uuid_like().prop_map(String::into_bytes),
        ],
    );
    h.run(
        "X-Auth-Token headers",
        (0..PROTECTED_ROUTES.len(), token, tenant),
        |(route, token, tenant)| {
            let path = h.fill(PROTECTED_ROUTES[route]);
            h.rt.block_on(async {
                let mut builder = h
                    .request(Method::GET, &path)
                    .header("X-Auth-Token", header_value(&token));
                if let Some(tenant) = &tenant {
                    builder = builder.header("Wazo-Tenant", header_value(tenant));
                }
                let answer = h.send(builder).await?;
                verdict(&answer, &Method::GET, Shape::Api)
                    .map_err(|e| TestCaseError::fail(format!("GET {path}: {e}")))?;
                if answer.status == 200 {
                    // Only the administrator's token itself (surrounding blanks aside) opens it,
                    // and only for its own tenant.
                    let sent = String::from_utf8_lossy(&token);
                    prop_assert_eq!(sent.trim(), h.admin.as_str(), "200 for {:?}", sent);
                    prop_assert!(
                        tenant.as_deref().is_none_or(|t| t == h.tenant.as_bytes()),
                        "200 for tenant {:?}",
                        tenant.as_deref().map(String::from_utf8_lossy)
                    );
                }
                Ok(())
            })
        },
    );
}
