//! The OAuth2 face's configuration (SPEC §11.1): `public_url`, the issuer every OAuth2 URL is
//! built from, and what counts as a loopback host (where plain `http` is allowed, for
//! `public_url` and for redirect URIs alike).

use std::net::SocketAddr;

use super::Config;

/// Longest `oauth2_access_token_lifetime`: a day (a client that needs longer uses refresh tokens).
pub const MAX_ACCESS_TOKEN_LIFETIME: u64 = 86_400;

/// Longest `browser_session_lifetime`: thirty days.
pub const MAX_BROWSER_SESSION_LIFETIME: u64 = 30 * 86_400;

/// The algorithms ID tokens may be signed with (SPEC §11.9): never `none` nor an `HS*`.
pub const ID_TOKEN_SIGNING_ALGS: [&str; 2] = ["RS256", "ES256"];

/// Whether a URL's host is a loopback host: `localhost`, `127.0.0.0/8` or `[::1]`.
pub fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// The checks `serve` and `check-config` make of the OAuth2 settings.
pub(super) fn check(config: &Config) -> anyhow::Result<()> {
    if config.oauth2_access_token_lifetime == 0
        || config.oauth2_access_token_lifetime > MAX_ACCESS_TOKEN_LIFETIME
    {
        anyhow::bail!(
            "invalid configuration: oauth2_access_token_lifetime must be \
             1..={MAX_ACCESS_TOKEN_LIFETIME}"
        );
    }
    if config.browser_session_lifetime == 0
        || config.browser_session_lifetime > MAX_BROWSER_SESSION_LIFETIME
    {
        anyhow::bail!(
            "invalid configuration: browser_session_lifetime must be \
             1..={MAX_BROWSER_SESSION_LIFETIME}"
        );
    }
    if !ID_TOKEN_SIGNING_ALGS.contains(&config.id_token_signing_alg.as_str()) {
        anyhow::bail!(
            "invalid configuration: id_token_signing_alg must be one of {}",
            ID_TOKEN_SIGNING_ALGS.join(", ")
        );
    }
    if let Some(public_url) = &config.public_url {
        public_issuer(public_url)
            .map_err(|why| anyhow::anyhow!("invalid configuration: public_url: {why}"))?;
    }
    Ok(())
}

/// `public_url` as the issuer (no trailing slash), or why it cannot be one.
fn public_issuer(public_url: &str) -> Result<String, String> {
    let url = url::Url::parse(public_url.trim())
        .map_err(|e| format!("{public_url:?} is not an absolute URL ({e})"))?;
    let loopback = url.host().as_ref().is_some_and(is_loopback_host);
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "{public_url:?} is not https (plain http only on a loopback host: clients would \
                 send secrets and codes in clear)"
            ))
        }
        other => return Err(format!("{public_url:?}: the scheme {other:?} is not https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{public_url:?} holds credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{public_url:?} has a query or a fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

impl Config {
    /// The issuer, for a server listening on `listening_on`: `public_url`, or `http://` and the
    /// address when it is a loopback one; `None`: the OAuth2 face is off.
    pub fn issuer(&self, listening_on: SocketAddr) -> Option<String> {
        match &self.public_url {
            Some(public_url) => public_issuer(public_url).ok(),
            None if listening_on.ip().is_loopback() => Some(format!("http://{listening_on}")),
            None => None,
        }
    }
}

/// The OAuth2 settings in `Config`'s `Debug` (none of them is secret).
pub(super) fn debug_fields(config: &Config, out: &mut std::fmt::DebugStruct<'_, '_>) {
    out.field("public_url", &config.public_url)
        .field(
            "oauth2_access_token_lifetime",
            &config.oauth2_access_token_lifetime,
        )
        .field("browser_session_lifetime", &config.browser_session_lifetime)
        .field("id_token_signing_alg", &config.id_token_signing_alg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_is_https_or_loopback_http() {
        assert_eq!(
            public_issuer("https://auth.example.com/api/auth/").as_deref(),
            Ok("https://auth.example.com/api/auth")
        );
        assert!(public_issuer("http://127.0.0.1:9497").is_ok());
        assert!(public_issuer("http://[::1]:9497").is_ok());
        assert!(public_issuer("http://localhost:9497").is_ok());
        for refused in [
            "http://auth.example.com",
            "http://10.0.0.1",
            "ftp://auth.example.com",
            "https://user:pw@auth.example.com",
            "https://auth.example.com/?x=1",
            "https://auth.example.com/#f",
            "auth.example.com",
            "",
        ] {
            assert!(public_issuer(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn unset_public_url_is_the_loopback_listen_address_or_off() {
        let config = Config::default();
        assert_eq!(
            config.issuer("127.0.0.1:9497".parse().unwrap()).as_deref(),
            Some("http://127.0.0.1:9497")
        );
        assert_eq!(config.issuer("0.0.0.0:9497".parse().unwrap()), None);
    }
}
