//! The ACL matcher (SPEC §4): the input, read as UTF-8 (lossily), is split into lines; the last line
//! is the required access, the others are the ACL entries. Never panics, and a few laws hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::domain::acl::{entry_matches, grants, Holder};

const HOLDER: Holder<'static> = Holder {
    auth_id: "123",
    session_uuid: "sess-1",
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines: Vec<&str> = text.split('\n').collect();
    let required = lines.pop().unwrap_or("");
    let acl: Vec<String> = lines.iter().map(|line| line.to_string()).collect();

    let granted = grants(&acl, required, HOLDER);
    for entry in &acl {
        let _ = entry_matches(entry, required, HOLDER);
        let _ = entry_matches(entry, entry, HOLDER);
    }

    // `#` alone grants everything (within the length bound), unless a negative entry matches.
    let mut with_hash = acl.clone();
    with_hash.push("#".to_string());
    let negated = acl.iter().any(|e| {
        e.strip_prefix('!')
            .is_some_and(|n| entry_matches(n, required, HOLDER))
    });
    if required.len() <= tessera::domain::acl::MAX_REQUIRED_LEN {
        assert_eq!(grants(&with_hash, required, HOLDER), !negated);
    }
    // A negative entry for the exact access always wins.
    if !required.contains(['*', '#']) {
        let mut denied = acl.clone();
        denied.push(format!("!{required}"));
        assert!(!grants(&denied, required, HOLDER));
    }
    // Granted only if some positive entry matches; adding entries never revokes without a `!`.
    if granted {
        assert!(acl
            .iter()
            .any(|e| !e.starts_with('!') && entry_matches(e, required, HOLDER)));
        let mut more = acl.clone();
        more.push("more.entries".to_string());
        assert!(grants(&more, required, HOLDER));
    }
    // A literal entry (no wildcard, no alias word) matches itself.
    let literal = |e: &str| {
        !e.contains(['*', '#'])
            && e.split('.')
                .all(|w| !matches!(w, "me" | "my_session" | "edit"))
    };
    if literal(required) {
        assert!(entry_matches(required, required, HOLDER));
    }
});
