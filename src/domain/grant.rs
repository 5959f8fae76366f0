//! What a token grants, in one place (SPEC §4, §9): its ACL and, for a token minted under a
//! scope-limited refresh token, only what that scope grants too (a negative in either denies).
//! Validation, `scopes/check`, every protected endpoint (`Caller::grants`) and the no-escalation
//! rule (`Caller::holds`) all ask here. The scope is stored with each token, fixed when it is
//! minted, so the validation cache holds it with the rest of the record.

use std::borrow::Cow;

use super::acl::{self, Holder};
use super::error::{DomainError, DomainResult};
use super::oauth2::scope::OIDC_SCOPES;
use crate::store::TokenRecord;

/// Most entries of a scope, and most characters of one entry (SPEC §9).
pub const MAX_SCOPE_ENTRIES: usize = 100;
pub const MAX_SCOPE_ENTRY_CHARS: usize = 1024;

fn holder(record: &TokenRecord) -> Holder<'_> {
    Holder {
        auth_id: &record.auth_id,
        session_uuid: &record.session_uuid,
    }
}

/// Whether `record` grants the access string `required`.
pub fn token_grants(record: &TokenRecord, required: &str) -> bool {
    let holder = holder(record);
    acl::grants(&record.acl, required, holder)
        && record
            .scope
            .as_deref()
            .is_none_or(|scope| acl::grants(&access_entries(scope), required, holder))
}

/// Whether `record` grants every access string `entry` can match (judged between patterns).
pub fn token_holds(record: &TokenRecord, entry: &str) -> bool {
    let holder = holder(record);
    acl::covers(&record.acl, entry, holder)
        && record
            .scope
            .as_deref()
            .is_none_or(|scope| acl::covers(&access_entries(scope), entry, holder))
}

/// A scope's ACL entries: an OAuth2 token's scope also names the OpenID Connect scopes it was
/// granted (SPEC §11.5), which grant no access (not even the access string of the same name).
fn access_entries(scope: &[String]) -> Cow<'_, [String]> {
    match scope.iter().any(|v| is_oidc_scope(v)) {
        true => scope
            .iter()
            .filter(|v| !is_oidc_scope(v))
            .cloned()
            .collect(),
        false => Cow::Borrowed(scope),
    }
}

fn is_oidc_scope(value: &str) -> bool {
    OIDC_SCOPES.contains(&value)
}

/// The scope an OAuth2 refresh grant mints with: `narrowed` (its ACL entries) and the OpenID
/// Connect values of the chain's scope `held`, which a narrowing never drops.
pub fn keeping_oidc(held: Option<&[String]>, narrowed: Option<Vec<String>>) -> Option<Vec<String>> {
    let kept = held.unwrap_or_default().iter().filter(|v| is_oidc_scope(v));
    let mut scope: Vec<String> = kept.cloned().collect();
    match narrowed {
        Some(entries) => scope.extend(entries.into_iter().filter(|v| !is_oidc_scope(v))),
        None => return held.map(<[String]>::to_vec),
    }
    Some(scope)
}

/// A scope as a request gives it: at most [`MAX_SCOPE_ENTRIES`] entries of at most
/// [`MAX_SCOPE_ENTRY_CHARS`] characters, without control characters (no access string holds
/// one). An empty scope is allowed: it grants nothing.
pub fn check_scope(scope: &[String]) -> DomainResult<()> {
    let bad = scope.len() > MAX_SCOPE_ENTRIES
        || scope.iter().any(|entry| {
            entry.chars().count() > MAX_SCOPE_ENTRY_CHARS || !acl::entry_is_writable(entry)
        });
    if bad {
        return Err(DomainError::BadRequest(format!(
            "Invalid value supplied for field: scope (at most {MAX_SCOPE_ENTRIES} ACL entries of \
             at most {MAX_SCOPE_ENTRY_CHARS} characters)"
        )));
    }
    Ok(())
}

/// The scope of a token minted by a refresh grant: the refresh token's own (`held`, `None`:
/// unlimited), or the narrower one the grant asks for. Every positive entry asked for must be
/// covered by `held`, apart from what the request's own negatives take away (negatives only
/// narrow); else `InvalidScope`. What is asked is then the whole answer: it grants nothing
/// `held` does not.
pub fn narrowed(
    held: Option<&[String]>,
    asked: Option<&[String]>,
    holder: Holder<'_>,
) -> DomainResult<Option<Vec<String>>> {
    let Some(asked) = asked else {
        return Ok(held.map(<[String]>::to_vec));
    };
    if let Some(held) = held {
        let negatives: Vec<&str> = asked.iter().filter_map(|e| e.strip_prefix('!')).collect();
        if let Some(entry) = asked.iter().find(|entry| {
            !entry.starts_with('!') && !acl::covers_except(held, entry, &negatives, holder)
        }) {
            return Err(DomainError::InvalidScope(entry.clone()));
        }
    }
    Ok(Some(asked.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TokenMetadata;

    fn record(acl: &[&str], scope: Option<&[&str]>) -> TokenRecord {
        TokenRecord {
            session_uuid: "s".into(),
            auth_id: "u1".into(),
            issued_at: 0,
            expires_at: 1,
            acl: acl.iter().map(|e| e.to_string()).collect(),
            metadata: TokenMetadata::default(),
            remote_addr: String::new(),
            user_agent: String::new(),
            scope: scope.map(|s| s.iter().map(|e| e.to_string()).collect()),
        }
    }

    #[test]
    fn a_scoped_token_grants_the_intersection_with_negatives_on_either_side() {
        let unlimited = record(&["#"], None);
        assert!(token_grants(&unlimited, "anything.at.all"));
        let scoped = record(
            &["confd.#", "!confd.secret.#"],
            Some(&["confd.users.me.#", "auth.#"]),
        );
        assert!(
            token_grants(&scoped, "confd.users.u1.read"),
            "me is the holder"
        );
        assert!(
            !token_grants(&scoped, "confd.lines.read"),
            "outside the scope"
        );
        assert!(!token_grants(&scoped, "auth.users.read"), "outside the ACL");
        let negative_in_scope = record(&["#"], Some(&["confd.#", "!confd.secret.#"]));
        assert!(token_grants(&negative_in_scope, "confd.users.read"));
        assert!(!token_grants(&negative_in_scope, "confd.secret.x"));
        let empty = record(&["#"], Some(&[]));
        assert!(
            !token_grants(&empty, "confd.users.read"),
            "empty scope: nothing"
        );
    }

    #[test]
    fn holding_needs_both_the_acl_and_the_scope() {
        let scoped = record(&["#"], Some(&["confd.users.#"]));
        assert!(token_holds(&scoped, "confd.users.read"));
        assert!(!token_holds(&scoped, "confd.#"));
        assert!(!token_holds(
            &record(&["confd.users.read"], None),
            "confd.users.#"
        ));
    }

    #[test]
    fn narrowing_must_be_covered_and_negatives_always_narrow() {
        let holder = Holder {
            auth_id: "u1",
            session_uuid: "s",
        };
        let held = vec!["confd.users.me.#".to_string()];
        let asked = vec!["confd.users.u1.read".to_string(), "!confd.x".to_string()];
        assert_eq!(
            narrowed(Some(&held), Some(&asked), holder).ok().flatten(),
            Some(asked.clone())
        );
        let (with_negative, without) = (
            vec!["confd.#".to_string(), "!confd.secret.#".to_string()],
            vec!["confd.#".to_string()],
        );
        assert!(
            narrowed(Some(&with_negative), Some(&with_negative), holder).is_ok(),
            "a scope covers itself, negatives and all"
        );
        assert!(narrowed(Some(&with_negative), Some(&without), holder).is_err());
        let over = vec!["confd.#".to_string()];
        assert!(matches!(
            narrowed(Some(&held), Some(&over), holder),
            Err(DomainError::InvalidScope(entry)) if entry == "confd.#"
        ));
        assert_eq!(
            narrowed(None, Some(&over), holder).ok().flatten(),
            Some(over),
            "an unlimited refresh token covers everything"
        );
        assert_eq!(
            narrowed(Some(&held), None, holder).ok().flatten(),
            Some(held)
        );
        assert_eq!(narrowed(None, None, holder).ok().flatten(), None);
    }

    #[test]
    fn scope_limits() {
        assert!(check_scope(&[]).is_ok());
        assert!(check_scope(&vec!["a".to_string(); 100]).is_ok());
        assert!(check_scope(&vec!["a".to_string(); 101]).is_err());
        assert!(check_scope(&["é".repeat(1024)]).is_ok());
        assert!(check_scope(&["a".repeat(1025)]).is_err());
        assert!(check_scope(&["a\u{0}b".to_string()]).is_err());
    }
}
