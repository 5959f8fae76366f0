//! One configuration struct, layered: built-in defaults < config file (TOML) < `TESSERA_*` environment
//! < command-line flags. The file is read with the `toml` crate (its errors know the line and
//! column), the environment by hand (an unknown `TESSERA_*` variable is refused), and the layers
//! are merged by `figment`, the crate Rocket uses for the same job. [`Config::validated`] checks a
//! configuration once and makes it a [`ValidConfig`], which is what the service starts from.
//!
//! A leaf: nothing here reads the domain or the store (they read it).

pub mod database;
pub mod oauth2;

use std::fmt;
use std::path::Path;

use figment::providers::Serialized;
use figment::Figment;
use serde::{Deserialize, Serialize};

use database::Backend;

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: String,
    /// `sqlite://FILE` (embedded, the default) or `postgres://…`.
    pub database_url: String,
    /// Seconds `serve` and `migrate` keep trying the first PostgreSQL connection while the server is
    /// not accepting connections yet (refused, unknown host, starting up); each retry is logged.
    /// 0: one attempt (as operator commands always make).
    pub database_connect_timeout: u64,
    /// Seconds an access token lives when the request names no `expiration`.
    pub default_token_lifetime: u64,
    /// Live sessions a `user` or `external_api` user may hold before logins get 429 (password
    /// logins and refresh grants counted apart, each up to this).
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
    /// key file (`token_secret_file`) on SQLite; required on PostgreSQL (see README).
    pub token_secret: Option<String>,
    /// SQLite without `token_secret`: the key file's path (created on first start). Unset:
    /// `DATABASE.key` beside the database file, inside the directory a backup copies.
    pub token_secret_file: Option<String>,
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
    /// Seconds a user stays trusted at an address after logging in there: their attempts from it
    /// are not held back by failures from other addresses or of other users (0: never trusted).
    pub bruteforce_trusted_for: u64,
    /// Token records kept in the in-process validation cache (0: no cache).
    pub token_cache_size: u64,
    /// Longest seconds a token stays cached (never past its expiry).
    pub token_cache_ttl: u64,
    /// Answer CORS preflights and add CORS headers for the origins of `cors_allow_origins`.
    pub cors_enabled: bool,
    /// The origins whose pages may call the API from a browser: empty (the default: none), a
    /// comma-separated list of origins, or `*` (any page on the web).
    pub cors_allow_origins: String,
    /// Seconds a request head has to arrive whole, from its first byte.
    pub http_header_read_timeout: u64,
    /// Seconds a connection without a request in flight may stay silent before it is closed.
    pub http_idle_timeout: u64,
    /// Connections served at once; more wait in the listen backlog.
    pub http_max_connections: u32,
    /// Connections served at once from one client address (the TCP peer: an IPv4 address or an
    /// IPv6 /64); more are closed at once. Unset: see [`Config::max_connections_per_address`].
    pub http_max_connections_per_address: Option<u32>,
    /// Seconds a request may take, its body's arrival included, before it is answered 503.
    pub http_request_timeout: u64,
    /// Seconds a refresh token may go unused before it stops working (0: never).
    pub refresh_token_idle_lifetime: u64,
    /// Seconds after its creation a refresh token stops working (0: never).
    pub refresh_token_max_lifetime: u64,
    /// Every refresh grant answers a new refresh token value and supersedes the one presented.
    pub refresh_token_rotation: bool,
    /// Seconds a superseded refresh token value may still be presented (it answers its successor
    /// while that is the current value); later it is a replay, which revokes the whole chain.
    /// 0..=300.
    pub refresh_token_reuse_grace: u64,
    /// How clients reach Tessera's root: the OAuth2 issuer (SPEC §11.1). `https`, or `http` on a
    /// loopback host. Unset: `http://<listen>` when `listen` is a loopback address, otherwise the
    /// OAuth2 face is off (its paths answer 404).
    pub public_url: Option<String>,
    /// Seconds an access token issued at `/oauth2/token` lives.
    pub oauth2_access_token_lifetime: u64,
    /// Seconds a browser session (signed in at the OAuth2 login page) lives.
    pub browser_session_lifetime: u64,
    /// The algorithm ID tokens are signed with: `RS256` (what relying parties expect when they
    /// name none) or `ES256`.
    pub id_token_signing_alg: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:9497".into(),
            database_url: "sqlite://tessera.db".into(),
            database_connect_timeout: 30,
            default_token_lifetime: 7200,
            max_user_concurrent_sessions: 100,
            token_cleanup_interval: 60,
            default_user_policy: None,
            xivo_uuid: None,
            num_proxies: 0,
            bootstrap_username: None,
            bootstrap_password: None,
            token_secret: None,
            token_secret_file: None,
            metrics_listen: None,
            bruteforce_login_failures: 5,
            bruteforce_address_failures: 30,
            bruteforce_base_delay: 1,
            bruteforce_max_delay: 300,
            bruteforce_account_max_delay: 5,
            bruteforce_forget_after: 900,
            bruteforce_trusted_for: 2_592_000,
            token_cache_size: 0,
            token_cache_ttl: 60,
            cors_enabled: true,
            cors_allow_origins: String::new(),
            http_header_read_timeout: 10,
            http_idle_timeout: 60,
            http_max_connections: 512,
            http_max_connections_per_address: None,
            http_request_timeout: 30,
            refresh_token_idle_lifetime: 0,
            refresh_token_max_lifetime: 0,
            refresh_token_rotation: false,
            refresh_token_reuse_grace: 0,
            public_url: None,
            oauth2_access_token_lifetime: 3600,
            browser_session_lifetime: 28_800,
            id_token_signing_alg: "RS256".into(),
        }
    }
}

/// Secrets are never printed, not even in debug logs.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        let mut config = f.debug_struct("Config");
        config
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("database_connect_timeout", &self.database_connect_timeout)
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
            .field("token_secret_file", &self.token_secret_file)
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
            .field("bruteforce_trusted_for", &self.bruteforce_trusted_for)
            .field("token_cache_size", &self.token_cache_size)
            .field("token_cache_ttl", &self.token_cache_ttl)
            .field("cors_enabled", &self.cors_enabled)
            .field("cors_allow_origins", &self.cors_allow_origins)
            .field("http_header_read_timeout", &self.http_header_read_timeout)
            .field("http_idle_timeout", &self.http_idle_timeout)
            .field("http_max_connections", &self.http_max_connections)
            .field(
                "http_max_connections_per_address",
                &self.http_max_connections_per_address,
            )
            .field("http_request_timeout", &self.http_request_timeout)
            .field(
                "refresh_token_idle_lifetime",
                &self.refresh_token_idle_lifetime,
            )
            .field(
                "refresh_token_max_lifetime",
                &self.refresh_token_max_lifetime,
            )
            .field("refresh_token_rotation", &self.refresh_token_rotation)
            .field("refresh_token_reuse_grace", &self.refresh_token_reuse_grace);
        oauth2::debug_fields(self, &mut config);
        config.finish()
    }
}

/// Where a database URL holds a password: the userinfo's (`postgres://user:pw@host/db`), and the
/// value of every query parameter named `password` or `…password` (`?password=pw`,
/// `sslpassword=pw`), whose names sqlx and libpq accept.
#[derive(Debug, PartialEq)]
enum Password {
    /// `:pw` before the `@` of the authority: the colon's and the `@`'s offsets.
    UserInfo { colon: usize, at: usize },
    /// `name=pw`: the parameter's start, its value's start, its end (exclusive).
    Parameter {
        start: usize,
        value: usize,
        end: usize,
    },
}

/// Every password of `url`, in order. SQLite URLs hold none.
/// Whether a URL query parameter's name, percent-decoded as the driver decodes it
/// (`pass%77ord` is `password`), names a password.
fn names_a_password(name: &str) -> bool {
    let decoded: String = form_urlencoded::parse(name.as_bytes())
        .map(|(key, _)| key.into_owned())
        .collect();
    decoded.to_lowercase().contains("pass")
}

fn passwords(url: &str) -> Vec<Password> {
    let mut found = Vec::new();
    if url.starts_with("sqlite:") {
        return found;
    }
    let query_start = url.find('?').unwrap_or(url.len());
    if let Some(authority) = url.find("://").map(|scheme| scheme + 3) {
        // The last `@` before the query: a password may hold a raw `@` or `/`.
        let userinfo = url
            .get(authority..query_start)
            .and_then(|rest| rest.rfind('@'))
            .and_then(|at| Some((url.get(authority..authority + at)?, authority + at)));
        if let Some((userinfo, at)) = userinfo {
            if let Some(colon) = userinfo.find(':') {
                found.push(Password::UserInfo {
                    colon: authority + colon,
                    at,
                });
            }
        }
    }
    let mut start = query_start + 1;
    for parameter in url.get(start..).unwrap_or("").split('&') {
        let end = start + parameter.len();
        if let Some((name, _)) = parameter.split_once('=') {
            if names_a_password(name) {
                found.push(Password::Parameter {
                    start,
                    value: start + name.len() + 1,
                    end,
                });
            }
        }
        start = end + 1;
    }
    found
}

/// `url` with each password replaced by `replace(password)`, which says what to cut out and what to
/// write instead: `(from, to, text)` offsets into `url`.
fn rewrite_passwords(
    url: &str,
    replace: impl Fn(&Password) -> (usize, usize, &'static str),
) -> String {
    let mut out = String::with_capacity(url.len());
    let mut copied = 0;
    for password in passwords(url) {
        let (from, to, text) = replace(&password);
        if let Some(kept) = url.get(copied..from) {
            out.push_str(kept);
            out.push_str(text);
            copied = to;
        }
    }
    out.push_str(url.get(copied..).unwrap_or(""));
    out
}

/// A database URL as every message and log shows it: each password replaced by `***`
/// (`postgres://user:***@host/db`, `postgres://user@host/db?password=***`); the user, host and
/// database stay visible. The one function through which a database URL is displayed.
pub fn redact_url(url: &str) -> String {
    rewrite_passwords(url, |password| match *password {
        Password::UserInfo { colon, at } => (colon + 1, at, "***"),
        Password::Parameter { value, end, .. } => (value, end, "***"),
    })
}

/// A database URL without its passwords, for a configuration printed to be loaded back
/// (`check-config`): a placeholder would be taken for the password.
fn without_passwords(url: &str) -> String {
    let stripped = rewrite_passwords(url, |password| match *password {
        Password::UserInfo { colon, at } => (colon, at, ""),
        // The `&` after it goes too; a trailing `&` or `?` is trimmed below.
        Password::Parameter { start, end, .. } => (start, (end + 1).min(url.len()), ""),
    });
    stripped.trim_end_matches(['&', '?']).to_string()
}

/// The logging variables (read by `cli::init_logging`).
pub const LOG_LEVEL_VARIABLE: &str = "TESSERA_LOG_LEVEL";
pub const LOG_FORMAT_VARIABLE: &str = "TESSERA_LOG_FORMAT";

/// The `TESSERA_*` variables that are not configuration keys, and the only ones accepted besides
/// them (any other is refused as a typo): the logging variables, and two that the project's own
/// scripts and tests read and pass on to the binary (`.ci/schemathesis`, `tests/api/db_faults.rs`).
pub const OTHER_VARIABLES: &[&str] = &[
    LOG_LEVEL_VARIABLE,
    LOG_FORMAT_VARIABLE,
    "TESSERA_BINARY",
    "TESSERA_TEST_PG_BINDIR",
];

const PREFIX: &str = "TESSERA_";

/// Every key a config file or a `TESSERA_*` variable may set: the field names serde derives for
/// [`Config`] (what `deny_unknown_fields` accepts), so that a new field is a new key.
pub fn keys() -> &'static [&'static str] {
    use serde::de::{self, Visitor};

    /// A deserializer that only records the field names a struct asks for.
    struct FieldNames<'a>(&'a mut &'static [&'static str]);

    impl<'de> de::Deserializer<'de> for FieldNames<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("names recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = Config::deserialize(FieldNames(&mut fields));
    fields
}

/// The configuration key a `TESSERA_*` variable sets (`TESSERA_DATABASE_URL` → `database_url`).
fn key_of_variable(name: &str) -> Option<String> {
    let prefix = name.get(..PREFIX.len())?;
    prefix.eq_ignore_ascii_case(PREFIX).then(|| {
        name.get(PREFIX.len()..)
            .unwrap_or_default()
            .to_ascii_lowercase()
    })
}

/// ` (did you mean "listen"?)` when one candidate is close to what was written.
fn suggestion<'a>(written: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    candidates
        .map(|candidate| (strsim::jaro_winkler(written, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| format!(" (did you mean {candidate:?}?)"))
        .unwrap_or_default()
}

/// An I/O error's reason in a few words: `permission denied`, not `Permission denied (os error 13)`.
pub fn reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error ") {
        Some(end) => text.get(..end).unwrap_or(&text).to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// The configuration values set in the environment, by key, with the variable that set each.
/// wazo deployments set `XIVO_UUID`; `TESSERA_XIVO_UUID` wins. Values are taken as text here (figment
/// would read `TESSERA_BOOTSTRAP_PASSWORD=0123` as the number 123) and converted to each key's type
/// when the layers are merged. An unknown `TESSERA_*` variable is refused, like an unknown file key.
fn environment() -> anyhow::Result<std::collections::BTreeMap<String, (String, String)>> {
    let mut values = std::collections::BTreeMap::new();
    let text = |name: &str, value: std::ffi::OsString| {
        value
            .into_string()
            .map_err(|_| anyhow::anyhow!("invalid configuration: {name} is not valid UTF-8"))
    };
    if let Some(value) = std::env::var_os("XIVO_UUID") {
        values.insert(
            "xivo_uuid".to_string(),
            ("XIVO_UUID".to_string(), text("XIVO_UUID", value)?),
        );
    }
    let mut variables: Vec<_> = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value)))
        .collect();
    // Deterministic: the first unknown variable in name order is the one reported.
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, value) in variables {
        let Some(key) = key_of_variable(&name) else {
            continue;
        };
        if keys().contains(&key.as_str()) {
            let value = text(&name, value)?;
            values.insert(key, (name, value));
        } else if !OTHER_VARIABLES
            .iter()
            .any(|other| other.eq_ignore_ascii_case(&name))
        {
            let known: Vec<String> = keys()
                .iter()
                .map(|key| format!("{PREFIX}{}", key.to_ascii_uppercase()))
                .chain(OTHER_VARIABLES.iter().map(|name| name.to_string()))
                .collect();
            anyhow::bail!(
                "unknown environment variable {name}: not a configuration key{}",
                suggestion(&name.to_ascii_uppercase(), known.iter().map(String::as_str))
            );
        }
    }
    Ok(values)
}

/// Line and column (from 1) of a byte offset in `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

/// The top-level keys of a TOML document, with where each is written.
type FileKeys = std::collections::BTreeMap<toml::Spanned<String>, toml::Value>;

/// Reads the config file layer: every problem in one line naming the file, the line and column,
/// and the key as written.
fn from_file(path: &Path) -> anyhow::Result<Config> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config file {shown}: {}", reason(&e)))?;
    let located = |error: &toml::de::Error, key: Option<&str>| {
        let message = error
            .message()
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let at = match error.span() {
            Some(span) => {
                let (line, column) = position(&text, span.start);
                format!(", line {line}, column {column}")
            }
            None => String::new(),
        };
        match key {
            Some(key) => anyhow::anyhow!("invalid value for {key} in {shown}{at}: {message}"),
            None => anyhow::anyhow!("invalid TOML in {shown}{at}: {message}"),
        }
    };
    let written: FileKeys = toml::from_str(&text).map_err(|e| located(&e, None))?;
    for key in written.keys() {
        if !keys().contains(&key.get_ref().as_str()) {
            let (line, _) = position(&text, key.span().start);
            anyhow::bail!(
                "unknown configuration key {:?} in {shown}, line {line}{}",
                key.get_ref(),
                suggestion(key.get_ref(), keys().iter().copied())
            );
        }
    }
    toml::from_str::<Config>(&text).map_err(|error| {
        // The key whose value failed: the last one written before the error.
        let key = error.span().and_then(|span| {
            written
                .keys()
                .filter(|key| key.span().start <= span.start)
                .max_by_key(|key| key.span().start)
                .map(|key| key.get_ref().as_str())
        });
        located(&error, key)
    })
}

/// Values given on the command line: the top layer.
#[derive(Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

/// The database URL's password is never printed.
impl fmt::Debug for Overrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Overrides")
            .field("listen", &self.listen)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .finish()
    }
}

impl Overrides {
    /// The flag that sets `key`, if one does.
    fn flag_for(&self, key: &str) -> Option<&'static str> {
        match key {
            "listen" if self.listen.is_some() => Some("--listen"),
            "database_url" if self.database_url.is_some() => Some("--database-url"),
            _ => None,
        }
    }
}

/// The one-line refusal to start on PostgreSQL without `token_secret`.
pub const POSTGRES_NEEDS_SECRET: &str =
    "token_secret is required on PostgreSQL (a key kept in the \
     database would let a database dump forge refresh tokens): make one with `tessera gen-secret` \
     and set it as TESSERA_TOKEN_SECRET (the same on every instance)";

/// Fewest bytes a `token_secret` holds (white space at its ends not counted). Refresh-token
/// values derive from it: an empty or trivial one (say a variable set from an unset shell
/// variable) would let anyone holding a database dump compute every refresh token.
pub const MIN_TOKEN_SECRET_BYTES: usize = 16;

/// The refusal of a `token_secret` (the configured one, or `rotate-secret`'s new one) shorter than
/// [`MIN_TOKEN_SECRET_BYTES`], if it is.
pub fn short_token_secret(what: &str, secret: &str) -> Option<String> {
    (secret.trim().len() < MIN_TOKEN_SECRET_BYTES).then(|| {
        format!(
            "{what} holds fewer than {MIN_TOKEN_SECRET_BYTES} bytes (refresh-token values derive \
             from it): make one with `tessera gen-secret`"
        )
    })
}

/// A configuration that passed every check ([`Config::validated`]), made once where it is loaded:
/// what starts the service, which reads it and never checks it again.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidConfig(Config);

impl std::ops::Deref for ValidConfig {
    type Target = Config;

    fn deref(&self) -> &Config {
        &self.0
    }
}

impl ValidConfig {
    pub fn into_inner(self) -> Config {
        self.0
    }

    /// The same configuration, trying the database once (operator commands never wait for it;
    /// no wait is always valid).
    pub fn connecting_once(mut self) -> ValidConfig {
        self.0.database_connect_timeout = 0;
        self
    }
}

/// What a server starts from: a [`ValidConfig`] as it is, or a [`Config`] checked first.
pub trait IntoValid {
    fn into_valid(self) -> anyhow::Result<ValidConfig>;
}

impl IntoValid for ValidConfig {
    fn into_valid(self) -> anyhow::Result<ValidConfig> {
        Ok(self)
    }
}

impl IntoValid for Config {
    fn into_valid(self) -> anyhow::Result<ValidConfig> {
        self.validated()
    }
}

impl Config {
    /// Builds the configuration from every layer and validates it ([`Config::validated`]). Errors
    /// name the problem in one line, and where it was written (file and line, variable or flag).
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<ValidConfig> {
        let base = match file {
            Some(path) => from_file(path)?,
            None => Config::default(),
        };
        let environment = environment()?;
        let texts: std::collections::BTreeMap<&str, &str> = environment
            .iter()
            .map(|(key, (_, value))| (key.as_str(), value.as_str()))
            .collect();
        // The file layer is typed already; lossy extraction only converts the environment's texts
        // to numbers and booleans where a key wants one.
        let config: Config = Figment::from(Serialized::defaults(base))
            .merge(Serialized::defaults(texts))
            .merge(Serialized::defaults(&overrides))
            .extract_lossy()
            .map_err(|error| {
                let key = error.path.join(".");
                let source = match (overrides.flag_for(&key), environment.get(&key)) {
                    (Some(flag), _) => flag.to_string(),
                    (None, Some((variable, _))) => variable.clone(),
                    (None, None) => key,
                };
                anyhow::anyhow!("invalid value for {source}: {}", error.kind)
            })?;
        config.validated()
    }

    /// This configuration, once it passed every check that needs no database and no socket. A
    /// configuration `check-config` accepts is then one `serve` starts with, checked once.
    pub fn validated(self) -> anyhow::Result<ValidConfig> {
        self.validate()?;
        Ok(ValidConfig(self))
    }

    /// The checks of [`Config::validated`].
    fn validate(&self) -> anyhow::Result<()> {
        // In this order: the first problem found is the one reported.
        self.check_addresses()?;
        self.check_durations()?;
        self.check_connections()?;
        self.check_cors_origins()?;
        oauth2::check(self)?;
        if self.bootstrap_username.is_some() != self.bootstrap_password.is_some() {
            anyhow::bail!(
                "invalid configuration: bootstrap_username and bootstrap_password go together"
            );
        }
        self.check_database_url()?;
        self.check_secret_source()
    }

    /// `listen` and `metrics_listen` name addresses, and not the same one.
    fn check_addresses(&self) -> anyhow::Result<()> {
        use std::net::ToSocketAddrs;
        let address = |key: &str, value: &str| match value.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => anyhow::bail!("invalid configuration: {key} {value:?} names no address"),
            Err(e) => anyhow::bail!(
                "invalid configuration: {key} {value:?} is not an address (HOST:PORT): {}",
                reason(&e)
            ),
        };
        address("listen", &self.listen)?;
        if let Some(metrics_listen) = &self.metrics_listen {
            address("metrics_listen", metrics_listen)?;
        }
        if self.metrics_listen.as_deref() == Some(self.listen.as_str())
            && !self.listen.ends_with(":0")
        {
            anyhow::bail!("invalid configuration: metrics_listen must not be the listen address");
        }
        Ok(())
    }

    /// Lifetimes, delays and timeouts within their ranges.
    fn check_durations(&self) -> anyhow::Result<()> {
        if self.default_token_lifetime == 0 || self.default_token_lifetime > 315_360_000 {
            anyhow::bail!("invalid configuration: default_token_lifetime must be 1..=315360000");
        }
        if self.bruteforce_base_delay > self.bruteforce_max_delay {
            anyhow::bail!(
                "invalid configuration: bruteforce_base_delay must not exceed bruteforce_max_delay"
            );
        }
        if self.database_connect_timeout > 3600 {
            anyhow::bail!("invalid configuration: database_connect_timeout must be 0..=3600");
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
        if !(1..=3_600).contains(&self.http_request_timeout) {
            anyhow::bail!("invalid configuration: http_request_timeout must be 1..=3600");
        }
        if self.refresh_token_reuse_grace > 300 {
            anyhow::bail!("invalid configuration: refresh_token_reuse_grace must be 0..=300");
        }
        Ok(())
    }

    fn check_connections(&self) -> anyhow::Result<()> {
        if !(1..=1_000_000).contains(&self.http_max_connections) {
            anyhow::bail!("invalid configuration: http_max_connections must be 1..=1000000");
        }
        if self
            .http_max_connections_per_address
            .is_some_and(|max| !(1..=1_000_000).contains(&max))
        {
            anyhow::bail!(
                "invalid configuration: http_max_connections_per_address must be 1..=1000000"
            );
        }
        Ok(())
    }

    /// `cors_allow_origins`: empty, `*`, or a list of origins.
    fn check_cors_origins(&self) -> anyhow::Result<()> {
        let origins = self.cors_allow_origins.trim();
        if origins == "*" || origins.is_empty() {
            return Ok(());
        }
        for origin in self.cors_allow_origins.split(',').map(str::trim) {
            // An origin is scheme://host[:port]: what a browser sends in `Origin`.
            let well_formed = (origin.starts_with("http://") || origin.starts_with("https://"))
                && origin.bytes().all(|b| b.is_ascii_graphic())
                && !origin.ends_with('/');
            if !well_formed {
                anyhow::bail!(
                    "invalid configuration: cors_allow_origins: {origin:?} is not an origin \
                     (http://host[:port] or https://host[:port]), nor is the list \"*\" or empty"
                );
            }
        }
        Ok(())
    }

    /// A `sqlite:` or PostgreSQL URL the driver accepts.
    fn check_database_url(&self) -> anyhow::Result<()> {
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            anyhow::bail!(
                "invalid configuration: database_url must start with sqlite: or postgres://"
            );
        }
        database::check_url(&self.database_url)
            .map_err(|e| anyhow::anyhow!("invalid configuration: database_url: {e}"))
    }

    /// Refuses a configuration that would keep the refresh-token key beside the data it protects
    /// (PostgreSQL without `token_secret`), name a key file that would not be read
    /// (`token_secret_file` with `token_secret`, or on PostgreSQL), or hold a `token_secret` too
    /// short to be a key. Checked before connecting.
    fn check_secret_source(&self) -> anyhow::Result<()> {
        let postgres = Backend::of(&self.database_url) == Backend::Postgres;
        if self.token_secret.is_none() && postgres {
            anyhow::bail!(POSTGRES_NEEDS_SECRET);
        }
        if let Some(file) = &self.token_secret_file {
            if self.token_secret.is_some() || postgres {
                anyhow::bail!(
                    "invalid configuration: token_secret_file is only read on SQLite without \
                     token_secret; unset one of them"
                );
            }
            if file.trim().is_empty() {
                anyhow::bail!("invalid configuration: token_secret_file is empty");
            }
        }
        if let Some(short) = self
            .token_secret
            .as_deref()
            .and_then(|secret| short_token_secret("token_secret", secret))
        {
            anyhow::bail!("invalid configuration: {short}");
        }
        Ok(())
    }

    /// Connections one client address may hold at once (never more than `http_max_connections`).
    /// Unset: a quarter of `http_max_connections`, at most 64, so that one client always leaves
    /// room for the others; behind reverse proxies (`num_proxies` > 0), whose connections all come
    /// from the proxies' addresses, `http_max_connections`.
    pub fn max_connections_per_address(&self) -> u32 {
        let max = self.http_max_connections;
        match self.http_max_connections_per_address {
            Some(set) => set.min(max),
            None if self.num_proxies > 0 => max,
            None => (max / 4).clamp(1, 64),
        }
    }

    /// The configuration as a TOML file that loads back as it is, secrets left out: a
    /// `token_secret` or `bootstrap_password` that is set is only named in a comment (with it,
    /// `bootstrap_username`, which needs it), and a password in `database_url` is taken out.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        let mut shown = self.clone();
        let mut notes = vec![
            "# The effective configuration (tessera check-config). Secrets are not shown: give them"
                .to_string(),
            "# in their TESSERA_* variables, or add them here.".to_string(),
        ];
        if shown.token_secret.take().is_some() {
            notes.push("# token_secret is set (not shown)".into());
        }
        if shown.bootstrap_password.take().is_some() {
            notes.push(
                "# bootstrap_password is set (not shown); bootstrap_username needs it:".into(),
            );
            if let Some(username) = shown.bootstrap_username.take() {
                notes.push(format!(
                    "# bootstrap_username = {}",
                    toml::Value::from(username)
                ));
            }
        }
        if !passwords(&self.database_url).is_empty() {
            shown.database_url = without_passwords(&self.database_url);
            notes.push("# database_url has a password (not shown)".into());
        }
        let table = toml::Table::try_from(&shown)
            .map_err(|e| anyhow::anyhow!("cannot print the configuration as TOML: {e}"))?;
        let unset: Vec<&str> = keys()
            .iter()
            .copied()
            .filter(|key| !table.contains_key(*key))
            .filter(|key| !notes.iter().any(|note| note.contains(key)))
            .collect();
        if !unset.is_empty() {
            notes.push(format!("# unset: {}", unset.join(", ")));
        }
        let body = toml::to_string(&shown)
            .map_err(|e| anyhow::anyhow!("cannot print the configuration as TOML: {e}"))?;
        Ok(format!("{}\n{body}", notes.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_loads_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tessera.toml");
        let from_file = from_file(&path).expect("example configuration loads");
        assert_eq!(from_file, Config::default());
    }

    #[test]
    fn the_keys_are_the_fields() {
        let keys = keys();
        assert!(keys.contains(&"listen") && keys.contains(&"http_max_connections"));
        let serialized = toml::Table::try_from(Config {
            default_user_policy: Some("p".into()),
            xivo_uuid: Some("x".into()),
            bootstrap_username: Some("u".into()),
            bootstrap_password: Some("p".into()),
            token_secret: Some("s".into()),
            token_secret_file: Some("/k".into()),
            metrics_listen: Some("127.0.0.1:0".into()),
            http_max_connections_per_address: Some(8),
            public_url: Some("https://auth.example.com".into()),
            ..Config::default()
        })
        .expect("serializes");
        let mut fields: Vec<&str> = serialized.keys().map(String::as_str).collect();
        let mut keys = keys.to_vec();
        fields.sort_unstable();
        keys.sort_unstable();
        assert_eq!(keys, fields);
    }

    #[test]
    fn one_address_leaves_room_for_the_others() {
        let with = |max, per_address, proxies| {
            Config {
                http_max_connections: max,
                http_max_connections_per_address: per_address,
                num_proxies: proxies,
                ..Config::default()
            }
            .max_connections_per_address()
        };
        assert_eq!(with(512, None, 0), 64);
        assert_eq!(with(100, None, 0), 25);
        assert_eq!(with(2, None, 0), 1);
        assert_eq!(with(512, None, 1), 512, "behind a proxy");
        assert_eq!(with(512, Some(8), 1), 8);
        assert_eq!(with(16, Some(100), 0), 16, "never over the cap");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<Config>("bogus = 1").is_err());
    }

    #[test]
    fn near_misses_are_suggested() {
        let keys = || keys().iter().copied();
        assert_eq!(suggestion("lisen", keys()), " (did you mean \"listen\"?)");
        assert_eq!(suggestion("colour", keys()), "");
    }

    #[test]
    fn positions_count_from_one() {
        assert_eq!(position("a = 1\nbé = 2\n", 0), (1, 1));
        assert_eq!(position("a = 1\nbé = 2\n", 6), (2, 1));
        assert_eq!(position("a = 1\nbé = 2\n", 9), (2, 3));
    }

    #[test]
    fn io_reasons_are_short() {
        let error = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(reason(&error), "connection refused");
    }

    #[test]
    fn cors_origins_must_be_origins() {
        for good in [
            "",
            " ",
            "*",
            " * ",
            "https://a.example",
            "https://a.example, http://b.example:8080",
        ] {
            let config = Config {
                cors_allow_origins: good.into(),
                ..Config::default()
            };
            assert!(config.validate().is_ok(), "{good}");
        }
        for bad in [
            "a.example",
            "https://a.example/",
            "https://a.example,",
            "https://a b",
            "*, https://a.example",
        ] {
            let config = Config {
                cors_allow_origins: bad.into(),
                ..Config::default()
            };
            let error = config.validate().expect_err(bad).to_string();
            assert!(error.contains("cors_allow_origins"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_configuration_is_checked_once_into_a_valid_one() {
        let bad = Config {
            listen: "nowhere".into(),
            ..Config::default()
        };
        let refused = bad.clone().into_valid().expect_err("refused").to_string();
        assert_eq!(refused, bad.validated().expect_err("refused").to_string());
        assert!(
            refused.starts_with("invalid configuration: listen"),
            "{refused}"
        );
        let valid = Config::default().validated().expect("valid");
        let once = valid.clone().connecting_once();
        assert_eq!(once.database_connect_timeout, 0);
        assert_eq!(
            once.into_valid().expect("taken as it is").into_inner(),
            Config {
                database_connect_timeout: 0,
                ..valid.into_inner()
            }
        );
    }

    #[test]
    fn printed_configuration_loads_back_without_its_secrets() {
        let config = Config {
            database_url: "postgres://tessera:hunter2@db:5432/auth".into(),
            bootstrap_username: Some("root".into()),
            bootstrap_password: Some("0123-very-secret".into()),
            token_secret: Some("s3cr3t-key".into()),
            cors_allow_origins: "https://a.example, \"quoted\"".into(),
            ..Config::default()
        };
        let printed = config.to_toml().expect("prints");
        for secret in ["hunter2", "0123-very-secret", "s3cr3t-key"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        let loaded: Config = toml::from_str(&printed).expect("loads back");
        assert_eq!(
            loaded,
            Config {
                database_url: "postgres://tessera@db:5432/auth".into(),
                bootstrap_username: None,
                bootstrap_password: None,
                token_secret: None,
                ..config
            }
        );
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://tessera:hunter2@db:5432/auth"),
            "postgres://tessera:***@db:5432/auth"
        );
        assert_eq!(
            redact_url("postgres://tessera@db/auth"),
            "postgres://tessera@db/auth"
        );
        assert_eq!(redact_url("sqlite://tessera.db"), "sqlite://tessera.db");
        assert_eq!(
            redact_url("postgres://tessera@db/auth?sslmode=require&password=hunter2"),
            "postgres://tessera@db/auth?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("postgresql://t:p@ss/w@rd@db/auth?PassWord=x&sslpassword=y&user=a@b"),
            "postgresql://t:***@db/auth?PassWord=***&sslpassword=***&user=a@b"
        );
        assert_eq!(
            redact_url("postgres://t:@db/auth"),
            "postgres://t:***@db/auth"
        );
    }

    #[test]
    fn printed_urls_lose_their_passwords() {
        for (url, printed) in [
            ("postgres://t:pw@db/auth", "postgres://t@db/auth"),
            ("postgres://t@db/auth?password=pw", "postgres://t@db/auth"),
            (
                "postgres://t@db/auth?password=pw&sslmode=require",
                "postgres://t@db/auth?sslmode=require",
            ),
            (
                "postgres://t:a@db/auth?sslmode=require&password=pw",
                "postgres://t@db/auth?sslmode=require",
            ),
            (
                "sqlite://tessera.db?mode=rwc",
                "sqlite://tessera.db?mode=rwc",
            ),
            // Names as the driver decodes them.
            ("postgres://t@db/auth?pass%77ord=pw", "postgres://t@db/auth"),
            (
                "postgres://t@db/auth?sslmode=require&SSLPASS%77ORD=pw",
                "postgres://t@db/auth?sslmode=require",
            ),
        ] {
            assert_eq!(without_passwords(url), printed, "{url}");
        }
    }
}
