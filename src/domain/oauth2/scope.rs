//! The `scope` parameter (SPEC §11.5): space-separated values, each an OpenID Connect scope or an
//! ACL entry. ACL entries are judged against the client's ceiling by coverage between patterns,
//! the rule of §9's narrowing (`grant::narrowed`): `confd.*` does not cover `confd.#`.

use super::error::{OAuthCode, OAuthError, OAuthResult};
use crate::domain::acl::Holder;
use crate::domain::grant::{self, MAX_SCOPE_ENTRIES, MAX_SCOPE_ENTRY_CHARS};

/// The OpenID Connect scopes: recognised, never ACL entries.
pub const OIDC_SCOPES: [&str; 4] = [OPENID, "profile", "email", OFFLINE_ACCESS];

/// The scope that asks for an ID token (SPEC §11.9).
pub const OPENID: &str = "openid";

/// The scope that asks for a refresh token.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// A requested scope, split.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requested {
    /// The OpenID Connect scopes asked for.
    pub oidc: Vec<String>,
    /// The ACL entries asked for; `None`: none named (the client's whole ceiling).
    pub entries: Option<Vec<String>>,
}

/// What was granted: the ACL entries a token holds, and the OpenID Connect scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    pub entries: Vec<String>,
    pub oidc: Vec<String>,
}

impl Granted {
    /// The `scope` of an answer: every value, space-separated.
    pub fn to_scope_string(&self) -> String {
        self.oidc
            .iter()
            .chain(&self.entries)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Splits a `scope` parameter; `None` (absent) asks for the client's ceiling, a scope of OpenID
/// Connect values only for no ACL entry. Values are separated by spaces only (RFC 6749 §3.3);
/// repeated values count once.
pub fn parse(scope: Option<&str>) -> OAuthResult<Requested> {
    let Some(scope) = scope else {
        return Ok(Requested::default());
    };
    let mut requested = Requested::default();
    let mut entries = Vec::new();
    for value in scope.split(' ').filter(|v| !v.is_empty()) {
        if OIDC_SCOPES.contains(&value) {
            if !requested.oidc.iter().any(|v| v == value) {
                requested.oidc.push(value.to_string());
            }
        } else if !entries.iter().any(|v| v == value) {
            entries.push(value.to_string());
        }
    }
    grant::check_scope(&entries).map_err(|_| {
        OAuthError::new(
            OAuthCode::InvalidScope,
            format!(
                "At most {MAX_SCOPE_ENTRIES} values of at most {MAX_SCOPE_ENTRY_CHARS} \
                 characters, without control characters."
            ),
        )
    })?;
    if entries
        .iter()
        .any(|e| e.strip_prefix('!').unwrap_or(e).is_empty())
    {
        return Err(OAuthError::new(
            OAuthCode::InvalidScope,
            "An empty ACL entry.",
        ));
    }
    requested.entries = (!entries.is_empty() || !requested.oidc.is_empty()).then_some(entries);
    Ok(requested)
}

/// The ACL entries granted from `ceiling` for `requested` (none named: the whole ceiling),
/// judged for `holder` (its `me` and `my_session`); an entry the ceiling does not cover is
/// `invalid_scope`.
pub fn granted(
    ceiling: &[String],
    requested: Requested,
    holder: Holder<'_>,
) -> OAuthResult<Granted> {
    let entries =
        grant::narrowed(Some(ceiling), requested.entries.as_deref(), holder)?.unwrap_or_default();
    Ok(Granted {
        entries,
        oidc: requested.oidc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder() -> Holder<'static> {
        Holder {
            auth_id: "c",
            session_uuid: "s",
        }
    }

    fn ceiling(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn values_split_on_spaces_oidc_apart() {
        let r = parse(Some("openid  confd.users.read openid confd.users.read")).unwrap();
        assert_eq!(r.oidc, vec!["openid"]);
        assert_eq!(r.entries, Some(vec!["confd.users.read".to_string()]));
        assert_eq!(parse(None).unwrap(), Requested::default());
        assert_eq!(parse(Some("")).unwrap().entries, None);
        assert!(parse(Some("a\u{1}b")).is_err());
        assert!(parse(Some("!")).is_err());
    }

    #[test]
    fn a_pattern_never_covers_a_wider_one() {
        let c = ceiling(&["confd.*"]);
        let asked = |s: &str| granted(&c, parse(Some(s)).unwrap(), holder());
        assert!(asked("confd.users").is_ok());
        assert_eq!(asked("confd.#").unwrap_err().code, OAuthCode::InvalidScope);
        assert_eq!(
            asked("confd.*.x").unwrap_err().code,
            OAuthCode::InvalidScope
        );
        assert_eq!(asked("#").unwrap_err().code, OAuthCode::InvalidScope);
        let c = ceiling(&["confd.#", "!confd.secret.#"]);
        assert!(granted(&c, parse(Some("confd.#")).unwrap(), holder()).is_err());
        assert!(granted(
            &c,
            parse(Some("confd.# !confd.secret.#")).unwrap(),
            holder()
        )
        .is_ok());
    }

    #[test]
    fn no_scope_is_the_whole_ceiling() {
        let c = ceiling(&["a.#", "!a.b"]);
        let g = granted(&c, parse(None).unwrap(), holder()).unwrap();
        assert_eq!(g.entries, c);
        assert_eq!(g.to_scope_string(), "a.# !a.b");
    }
}
