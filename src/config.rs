//! One configuration struct, layered: built-in defaults < config file (TOML) < `TESSERA_*` environment
//! < command-line flags. Layering is done by `figment`, the crate Rocket uses for the same job.

use std::fmt;
use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Every key a config file or a `TESSERA_*` variable may set.
pub const KEYS: &[&str] = &[
    "listen",
    "database_url",
    "default_token_lifetime",
    "max_user_concurrent_sessions",
    "token_cleanup_interval",
    "default_user_policy",
    "xivo_uuid",
    "num_proxies",
    "bootstrap_username",
    "bootstrap_password",
    "token_secret",
    "metrics_listen",
    "bruteforce_login_failures",
    "bruteforce_address_failures",
    "bruteforce_base_delay",
    "bruteforce_max_delay",
    "bruteforce_account_max_delay",
    "bruteforce_forget_after",
    "token_cache_size",
    "token_cache_ttl",
    "cors_enabled",
    "cors_allow_origins",
    "http_header_read_timeout",
    "http_idle_timeout",
    "http_max_connections",
    "refresh_token_idle_lifetime",
    "refresh_token_max_lifetime",
    "refresh_token_rotation",
    "refresh_token_reuse_grace",
];

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: String,
    /// `sqlite://FILE` (embedded, the default) or `postgres://…`.
    pub database_url: String,
    /// Seconds an access token lives when the request names no `expiration`.
    pub default_token_lifetime: u64,
    /// Live sessions a `user` or `external_api` user may hold before logins get 429.
    pub max_user_concurrent_sessions: u64,
    /// Seconds between two purges of expired tokens.
    pub token_cleanup_interval: u64,
    /// Name of a policy whose ACL every token receives first.
    pub default_user_policy: Option<String>,
    /// Reported as `xivo_uuid` in token responses.
    pub xivo_uuid: Option<String>,
    /// Reverse proxies in front of Tessera whose `X-Forwarded-For` entries are trusted.
    pub num_proxies: usize,
    /// With `bootstrap_password`: an `internal` administrator (ACL `#`) ensured at start.
    pub bootstrap_username: Option<String>,
    pub bootstrap_password: Option<String>,
    /// Key from which refresh-token values are derived (`tessera gen-secret` makes one). Unset: a
    /// key file beside the SQLite database; required on PostgreSQL (see README).
    pub token_secret: Option<String>,
    /// Address of the Prometheus `/metrics` listener (e.g. `127.0.0.1:9498`); unset: no metrics
    /// listener. Never the public port.
    pub metrics_listen: Option<String>,
    /// Failed logins of one account (a user, by username or e-mail, or an unknown login) before its
    /// attempts get 429 (0: no per-account limit).
    pub bruteforce_login_failures: u32,
    /// Failed logins from one address before its attempts get 429 (0: no per-address limit).
    pub bruteforce_address_failures: u32,
    /// Seconds of the first delay; it doubles with each further failure…
    pub bruteforce_base_delay: u64,
    /// …up to this many seconds (for the failing address).
    pub bruteforce_max_delay: u64,
    /// Longest seconds an account's failures from some addresses hold it back for every other
    /// address (never more than `bruteforce_max_delay`).
    pub bruteforce_account_max_delay: u64,
    /// Seconds without failures after which a count is forgotten.
    pub bruteforce_forget_after: u64,
    /// Token records kept in the in-process validation cache (0: no cache).
    pub token_cache_size: u64,
    /// Longest seconds a token stays cached (never past its expiry).
    pub token_cache_ttl: u64,
    /// Answer CORS preflights and add CORS headers, as wazo-auth does.
    pub cors_enabled: bool,
    /// `*` or a comma-separated list of allowed origins.
    pub cors_allow_origins: String,
    /// Seconds a request head has to arrive whole, from its first byte.
    pub http_header_read_timeout: u64,
    /// Seconds a connection without a request in flight may stay silent before it is closed.
    pub http_idle_timeout: u64,
    /// Connections served at once; more wait in the listen backlog.
    pub http_max_connections: u32,
    /// Seconds a refresh token may go unused before it stops working (0: never).
    pub refresh_token_idle_lifetime: u64,
    /// Seconds after its creation a refresh token stops working (0: never).
    pub refresh_token_max_lifetime: u64,
    /// Every refresh grant answers a new refresh token value and supersedes the one presented.
    pub refresh_token_rotation: bool,
    /// Seconds a superseded refresh token value may still be presented (it answers the current
    /// value); later it is a replay, which revokes the whole chain. 0..=300.
    pub refresh_token_reuse_grace: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:9497".into(),
            database_url: "sqlite://tessera.db".into(),
            default_token_lifetime: 7200,
            max_user_concurrent_sessions: 100,
            token_cleanup_interval: 60,
            default_user_policy: None,
            xivo_uuid: None,
            num_proxies: 0,
            bootstrap_username: None,
            bootstrap_password: None,
            token_secret: None,
            metrics_listen: None,
            bruteforce_login_failures: 5,
            bruteforce_address_failures: 30,
            bruteforce_base_delay: 1,
            bruteforce_max_delay: 300,
            bruteforce_account_max_delay: 5,
            bruteforce_forget_after: 900,
            token_cache_size: 0,
            token_cache_ttl: 60,
            cors_enabled: true,
            cors_allow_origins: "*".into(),
            http_header_read_timeout: 10,
            http_idle_timeout: 60,
            http_max_connections: 512,
            refresh_token_idle_lifetime: 0,
            refresh_token_max_lifetime: 0,
            refresh_token_rotation: false,
            refresh_token_reuse_grace: 0,
        }
    }
}

/// Secrets are never printed, not even in debug logs.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("default_token_lifetime", &self.default_token_lifetime)
            .field(
                "max_user_concurrent_sessions",
                &self.max_user_concurrent_sessions,
            )
            .field("token_cleanup_interval", &self.token_cleanup_interval)
            .field("default_user_policy", &self.default_user_policy)
            .field("xivo_uuid", &self.xivo_uuid)
            .field("num_proxies", &self.num_proxies)
            .field("bootstrap_username", &self.bootstrap_username)
            .field("bootstrap_password", &redact(&self.bootstrap_password))
            .field("token_secret", &redact(&self.token_secret))
            .field("metrics_listen", &self.metrics_listen)
            .field("bruteforce_login_failures", &self.bruteforce_login_failures)
            .field(
                "bruteforce_address_failures",
                &self.bruteforce_address_failures,
            )
            .field("bruteforce_base_delay", &self.bruteforce_base_delay)
            .field("bruteforce_max_delay", &self.bruteforce_max_delay)
            .field(
                "bruteforce_account_max_delay",
                &self.bruteforce_account_max_delay,
            )
            .field("bruteforce_forget_after", &self.bruteforce_forget_after)
            .field("token_cache_size", &self.token_cache_size)
            .field("token_cache_ttl", &self.token_cache_ttl)
            .field("cors_enabled", &self.cors_enabled)
            .field("cors_allow_origins", &self.cors_allow_origins)
            .field("http_header_read_timeout", &self.http_header_read_timeout)
            .field("http_idle_timeout", &self.http_idle_timeout)
            .field("http_max_connections", &self.http_max_connections)
            .field(
                "refresh_token_idle_lifetime",
                &self.refresh_token_idle_lifetime,
            )
            .field(
                "refresh_token_max_lifetime",
                &self.refresh_token_max_lifetime,
            )
            .field("refresh_token_rotation", &self.refresh_token_rotation)
            .field("refresh_token_reuse_grace", &self.refresh_token_reuse_grace)
            .finish()
    }
}

/// Hides the password of a database URL (`postgres://user:pw@host` → `postgres://user:***@host`).
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Keys whose environment values are taken verbatim: figment would read `TESSERA_BOOTSTRAP_PASSWORD=0123`
/// as the number 123.
const TEXT_KEYS: &[&str] = &[
    "listen",
    "database_url",
    "default_user_policy",
    "xivo_uuid",
    "bootstrap_username",
    "bootstrap_password",
    "token_secret",
    "metrics_listen",
    "cors_allow_origins",
];

/// The text keys set in the environment. wazo deployments set `XIVO_UUID`; `TESSERA_XIVO_UUID` wins.
fn text_environment() -> std::collections::BTreeMap<&'static str, String> {
    let mut values = std::collections::BTreeMap::new();
    if let Ok(value) = std::env::var("XIVO_UUID") {
        values.insert("xivo_uuid", value);
    }
    for key in TEXT_KEYS {
        if let Ok(value) = std::env::var(format!("TESSERA_{}", key.to_ascii_uppercase())) {
            values.insert(*key, value);
        }
    }
    values
}

/// Values given on the command line: the top layer.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

impl Config {
    /// Builds the configuration from every layer. Errors name the problem in one line.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                anyhow::bail!("cannot read config file {}", path.display());
            }
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment
            .merge(Env::prefixed("TESSERA_").filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                KEYS.contains(&key.as_str()) && !TEXT_KEYS.contains(&key.as_str())
            }))
            .merge(Serialized::defaults(text_environment()))
            .merge(Serialized::defaults(overrides));
        let config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {}", one_line(&e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values `serve` relies on (also at start, for a configuration built in code).
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.metrics_listen.as_deref() == Some(self.listen.as_str())
            && !self.listen.ends_with(":0")
        {
            anyhow::bail!("invalid configuration: metrics_listen must not be the listen address");
        }
        if self.default_token_lifetime == 0 || self.default_token_lifetime > 315_360_000 {
            anyhow::bail!("invalid configuration: default_token_lifetime must be 1..=315360000");
        }
        if self.bruteforce_base_delay > self.bruteforce_max_delay {
            anyhow::bail!(
                "invalid configuration: bruteforce_base_delay must not exceed bruteforce_max_delay"
            );
        }
        if self.token_cleanup_interval == 0 {
            anyhow::bail!("invalid configuration: token_cleanup_interval must be at least 1");
        }
        for (key, value) in [
            ("http_header_read_timeout", self.http_header_read_timeout),
            ("http_idle_timeout", self.http_idle_timeout),
        ] {
            if !(1..=86_400).contains(&value) {
                anyhow::bail!("invalid configuration: {key} must be 1..=86400");
            }
        }
        for (key, value) in [
            (
                "refresh_token_idle_lifetime",
                self.refresh_token_idle_lifetime,
            ),
            (
                "refresh_token_max_lifetime",
                self.refresh_token_max_lifetime,
            ),
        ] {
            if value > 315_360_000 {
                anyhow::bail!("invalid configuration: {key} must be 0..=315360000 (0: never)");
            }
        }
        if self.refresh_token_reuse_grace > 300 {
            anyhow::bail!("invalid configuration: refresh_token_reuse_grace must be 0..=300");
        }
        if !(1..=1_000_000).contains(&self.http_max_connections) {
            anyhow::bail!("invalid configuration: http_max_connections must be 1..=1000000");
        }
        if self.bootstrap_username.is_some() != self.bootstrap_password.is_some() {
            anyhow::bail!(
                "invalid configuration: bootstrap_username and bootstrap_password go together"
            );
        }
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            anyhow::bail!(
                "invalid configuration: database_url must start with sqlite: or postgres://"
            );
        }
        Ok(())
    }
}

fn one_line(error: &figment::Error) -> String {
    error.to_string().replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_loads_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tessera.toml");
        let from_file: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file_exact(&path))
            .extract()
            .expect("example configuration loads");
        assert_eq!(from_file, Config::default());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string("bogus = 1"))
            .extract::<Config>();
        assert!(error.is_err());
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://tessera:hunter2@db:5432/auth"),
            "postgres://tessera:***@db:5432/auth"
        );
        assert_eq!(redact_url("sqlite://tessera.db"), "sqlite://tessera.db");
    }
}
