//! The POST /token body parser (SPEC §2): never panics; what it accepts obeys the contract's rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::http::token_request;

/// Ten years, the longest expiration (SPEC §2).
const MAX_EXPIRATION: i64 = 315_360_000;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = token_request(data) else {
        return;
    };
    if let Some(expiration) = request.expiration {
        assert!((1..=MAX_EXPIRATION).contains(&expiration));
    }
    if let Some(client_id) = &request.client_id {
        // A NUL is kept: in a refresh grant it matches nothing (401); offline logins refuse it.
        assert!(!client_id.is_empty() && client_id.chars().count() <= 1024);
    }
    if request.offline() {
        assert!(request.client_id.is_some() && request.refresh_token.is_none());
    }
    if request.refresh_token.is_some() {
        assert!(request.client_id.is_some());
    }
    // What parsed was JSON: an object, null or [].
    assert!(serde_json_is_object_like(data));
});

fn serde_json_is_object_like(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r']);
    trimmed.starts_with('{') || trimmed.starts_with('n') || trimmed.starts_with('[')
}
