//! `Authorization: Basic …` parsing (SPEC §2): any header value, and any bytes as a Basic payload.
//! Never panics; when credentials come out, they are the payload split at its first `:`, both halves
//! non-empty and without NUL.
#![no_main]

use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tessera::http::basic_credentials;

fn parse(value: &[u8]) -> Option<(String, String)> {
    let value = HeaderValue::from_bytes(value).ok()?;
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    basic_credentials(&headers)
}

fn check(credentials: &(String, String), decoded: Option<&[u8]>) {
    let (login, password) = credentials;
    assert!(!login.is_empty() && !password.is_empty());
    assert!(!login.contains(':'), "split at the first colon");
    assert!(!login.contains('\0') && !password.contains('\0'));
    if let Some(decoded) = decoded {
        let text = match std::str::from_utf8(decoded) {
            Ok(text) => text.to_string(),
            Err(_) => decoded.iter().map(|&b| b as char).collect(),
        };
        assert_eq!(format!("{login}:{password}"), text);
    }
}

fuzz_target!(|data: &[u8]| {
    // The bytes as the whole header value.
    if let Some(credentials) = parse(data) {
        check(&credentials, None);
    }
    // The bytes as the decoded payload of a well-formed header.
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let credentials = parse(format!("Basic {encoded}").as_bytes());
    if let Some(credentials) = &credentials {
        check(credentials, Some(data));
    }
    let has_colon_split = data
        .iter()
        .position(|&b| b == b':')
        .is_some_and(|i| i > 0 && i + 1 < data.len());
    if has_colon_split && !data.contains(&0) {
        assert!(credentials.is_some(), "a login:password payload must parse");
    }
});
