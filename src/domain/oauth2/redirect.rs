//! Redirect URIs (SPEC §11.2, RFC 8252): which may be registered, and how a requested one is
//! matched against the registered ones.

use crate::config::oauth2::is_loopback_host;

/// The longest redirect URI.
pub const MAX_REDIRECT_URI_BYTES: usize = 2048;

/// Why `uri` cannot be registered, if it cannot: it must be absolute, without a fragment, and
/// `https`, `http` on a loopback host, or (for a public client, a native application) a
/// private-use scheme in reverse-domain form (`com.example.app:/callback`).
pub fn check_redirect_uri(uri: &str, public: bool) -> Result<(), String> {
    if uri.len() > MAX_REDIRECT_URI_BYTES || uri.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!(
            "A redirect URI holds at most {MAX_REDIRECT_URI_BYTES} bytes, no spaces or control \
             characters."
        ));
    }
    let url = url::Url::parse(uri).map_err(|_| format!("{uri:?} is not an absolute URI."))?;
    // Written as a browser would read it back (a bare origin may lack its `/`): no second reading
    // of one string, for a parser that differs from the browser's to exploit.
    let normal = url.as_str() == uri || url.as_str() == format!("{uri}/");
    if !normal {
        return Err(format!(
            "{uri:?} is not in its normal form (as browsers read it: {:?}).",
            url.as_str()
        ));
    }
    if url.fragment().is_some() || uri.contains('#') {
        return Err(format!("{uri:?} has a fragment."));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{uri:?} holds credentials."));
    }
    let loopback = url.host().as_ref().is_some_and(is_loopback_host);
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "{uri:?}: plain http only on a loopback host (127.0.0.1, [::1], localhost)."
        )),
        scheme if public && private_use_scheme(scheme) => Ok(()),
        _ => Err(format!(
            "{uri:?}: https, http on a loopback host, or (public clients) a private-use scheme \
             such as com.example.app:/callback."
        )),
    }
}

/// A private-use URI scheme (RFC 8252 §7.1): a reverse domain name, so at least one dot, and
/// none of the schemes a browser would run or fetch.
fn private_use_scheme(scheme: &str) -> bool {
    const DANGEROUS: [&str; 6] = ["javascript", "data", "file", "blob", "about", "vbscript"];
    scheme.contains('.') && !DANGEROUS.contains(&scheme)
}

/// Whether `requested` is one of `registered`: exact string comparison, except, for a public
/// client, the port of a loopback `http` URI (RFC 8252 §7.3: a native app listens on any port).
pub fn redirect_uri_matches(registered: &[String], requested: &str, public: bool) -> bool {
    registered
        .iter()
        .any(|uri| uri == requested || (public && same_but_loopback_port(uri, requested)))
}

fn same_but_loopback_port(registered: &str, requested: &str) -> bool {
    match (
        without_loopback_port(registered),
        without_loopback_port(requested),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// A loopback `http` URI as written, its port taken out of the authority: `None` for any other.
fn without_loopback_port(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    if url.scheme() != "http" || !url.host().as_ref().is_some_and(is_loopback_host) {
        return None;
    }
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    Some(format!("http://{host}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_may_be_registered() {
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1/cb",
            "http://localhost:8080/cb",
            "http://[::1]:1234/cb",
        ] {
            assert!(check_redirect_uri(ok, false).is_ok(), "{ok}");
        }
        assert!(check_redirect_uri("com.example.app:/callback", true).is_ok());
        for refused in [
            "com.example.app:/callback",
            "http://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "/relative",
            "javascript:alert(1)",
            "https://user:pw@app.example.com/cb",
            "https:///nohost",
            "HTTPS://app.example.com/cb",
            "https://app.example.com/a/../cb",
            "https://app.example.com\\cb",
        ] {
            assert!(check_redirect_uri(refused, false).is_err(), "{refused}");
        }
        assert!(check_redirect_uri("javascript:alert(1)", true).is_err());
        assert!(check_redirect_uri("data.x:/", true).is_ok());
        assert!(check_redirect_uri("data:text/html,x", true).is_err());
    }

    #[test]
    fn matching_is_exact_but_for_a_public_clients_loopback_port() {
        let registered = vec![
            "http://127.0.0.1/cb".to_string(),
            "https://a.example/cb".into(),
        ];
        assert!(redirect_uri_matches(
            &registered,
            "https://a.example/cb",
            false
        ));
        assert!(!redirect_uri_matches(
            &registered,
            "https://a.example/cb/",
            false
        ));
        assert!(!redirect_uri_matches(
            &registered,
            "https://A.example/cb",
            false
        ));
        assert!(!redirect_uri_matches(
            &registered,
            "http://127.0.0.1:5000/cb",
            false
        ));
        assert!(redirect_uri_matches(
            &registered,
            "http://127.0.0.1:5000/cb",
            true
        ));
        assert!(!redirect_uri_matches(
            &registered,
            "http://127.0.0.1:5000/cb2",
            true
        ));
        assert!(!redirect_uri_matches(
            &registered,
            "http://localhost:5000/cb",
            true
        ));
        assert!(!redirect_uri_matches(
            &registered,
            "https://a.example:444/cb",
            true
        ));
    }
}
