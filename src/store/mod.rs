//! Persistence: one [`Store`], PostgreSQL or SQLite chosen by the URL scheme, each on its own typed
//! pool (`postgres.rs`, `sqlite.rs`). The SQL both dialects accept (`$n` parameters,
//! `ON CONFLICT`, `RETURNING`) is written once, in `sql/`: each backend module compiles those files
//! as its own submodules, against its own `Db` (one query body, instantiated for both pools);
//! what the dialects do differently lives in the backend's file. `Store` is the one interface the
//! domain calls: it hands each call to the backend the URL chose.

mod columns;
mod issuance;
mod postgres;
mod records;
mod sqlite;

use std::time::Duration;

use crate::config::database::driver_url;
pub use crate::config::database::Backend;
pub use issuance::*;
pub use records::*;

/// The PostgreSQL NOTIFY channel carrying validation-cache invalidations between instances.
pub const INVALIDATION_CHANNEL: &str = "tessera_invalidation";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (the constraint's name).
    #[error("conflict on {0}")]
    Conflict(String),
    /// The request carried a value the database refuses (a client error).
    #[error("invalid value: {0}")]
    Invalid(String),
    /// A row the write refers to was deleted meanwhile (a foreign key refused it): a user
    /// deleted while one of their logins or grants was in flight, say.
    #[error("gone: {0}")]
    Gone(String),
    /// The database cannot be reached or did not answer in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            // SQLite names no constraint: its message names the column, which says which field.
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(
                db.constraint()
                    .map_or_else(|| db.message().to_string(), str::to_string),
            ),
            sqlx::Error::Database(db) if db.message().contains("UNIQUE constraint failed") => {
                StoreError::Conflict(db.message().to_string())
            }
            sqlx::Error::Database(db)
                if db.code().as_deref() == Some("23503")
                    || db.message().contains("FOREIGN KEY constraint failed") =>
            {
                StoreError::Gone(db.message().to_string())
            }
            // Text PostgreSQL cannot hold (NUL bytes) or values past its limits: the client's fault.
            sqlx::Error::Database(db)
                if matches!(
                    db.code().as_deref(),
                    Some("22021" | "22P05" | "54000" | "22001")
                ) =>
            {
                StoreError::Invalid(db.message().to_string())
            }
            // PostgreSQL going away under a session: a connection exception (class 08),
            // admin/crash shutdown or "cannot connect now" (57P01–57P03, what `pg_ctl stop` sends to
            // open sessions), too many connections (53300). The database is unavailable, not broken.
            sqlx::Error::Database(db)
                if db.code().as_deref().is_some_and(|code| {
                    (code.len() == 5 && code.starts_with("08"))
                        || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
                }) =>
            {
                StoreError::Unavailable(db.message().to_string())
            }
            // SQLite's write lock held past `busy_timeout` by something outside this process (a
            // `sqlite3` shell, a backup): busy, not broken.
            sqlx::Error::Database(db) if sqlite_busy(db.as_ref()) => {
                StoreError::Unavailable(db.message().to_string())
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
            _ => StoreError::Other(error.to_string()),
        }
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED, with any of their extended codes (the low byte is the primary).
fn sqlite_busy(error: &dyn sqlx::error::DatabaseError) -> bool {
    use sqlx::error::DatabaseError as _;
    error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .and_then(|sqlite| sqlite.code()?.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The case-folded form of a login, e-mail or name, computed here rather than with SQL `lower()`,
/// which SQLite applies to ASCII only: both stores then compare exactly alike.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// `$first, $first+1, …`: the placeholders of `count` values bound from `$first` on.
fn placeholders_from(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `search` matches: the searchable fields of a row, folded, one per line.
fn search_text(fields: &[Option<&str>]) -> String {
    fields
        .iter()
        .flatten()
        .map(|field| fold(field))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `search` as a LIKE pattern: a case-insensitive substring, with `%`, `_` and `\` taken literally.
pub(crate) fn like_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in fold(search).chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The file of a `sqlite:` URL (`sqlite://dir/tessera.db?mode=rwc` → `dir/tessera.db`); `None`
/// for an in-memory database.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

/// Creates a missing SQLite database file readable by its owner only (0600). SQLite gives its
/// `-wal` and `-shm` files the mode of the database file, so they are private too. An existing
/// file is kept as it is.
fn create_private_sqlite_file(url: &str) -> anyhow::Result<()> {
    let Some(path) = sqlite_file(url) else {
        return Ok(());
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => anyhow::bail!(
            "cannot create database file {}: {}",
            path.display(),
            crate::config::reason(&e)
        ),
        _ => Ok(()),
    }
}

/// A connection error in the words of its cause: `connection refused`, `database "x" does not
/// exist`, `attempt to write a readonly database`, not sqlx's wrapping of it.
fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Io(e) => crate::config::reason(e),
        sqlx::Error::Database(db) => {
            let message = db.message().to_string();
            // SQLITE_READONLY, SQLITE_CANTOPEN: say what to look at.
            if message.contains("readonly") {
                format!("{message} (the file, or its directory, is not writable)")
            } else if message.contains("unable to open database file") {
                format!("{message} (does its directory exist, and is it writable?)")
            } else {
                message
            }
        }
        sqlx::Error::Configuration(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// How long the first connection may take before the database is called unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest pause between two attempts of the first connection.
const RETRY_DELAY_MAX: Duration = Duration::from_secs(5);

/// Whether a failed first connection may succeed later without anyone changing anything: the
/// server does not accept connections yet (refused, its host name not resolvable yet, a reset),
/// or says it is starting up or full. A wrong password, a missing database or a bad URL is final.
fn worth_retrying(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => db.code().as_deref().is_some_and(|code| {
            (code.len() == 5 && code.starts_with("08"))
                || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// A pooled connection idle this long is pinged before use; a busier one is used as it is.
const IDLE_CHECK_AFTER: Duration = Duration::from_millis(100);

/// The store: one backend, on its own typed pool.
#[derive(Clone)]
pub struct Store(Typed);

#[derive(Clone)]
enum Typed {
    Postgres(postgres::Store),
    Sqlite(sqlite::Store),
}

impl Store {
    /// Connects (creating a SQLite file when missing) and runs the embedded migrations, failing at
    /// once when the database does not answer ([`Store::connect_within`] with no wait).
    #[cfg(test)]
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        Self::connect_within(url, Duration::ZERO).await
    }

    /// Connects (creating a SQLite file when missing) and runs the embedded migrations.
    /// One connection is opened first, so that a database that is unusable (missing, read-only,
    /// wrong password) fails at once in one line, rather than after the pool's retries. A
    /// PostgreSQL server that does not accept connections yet (refused, no such host yet, starting
    /// up) is tried again, each retry logged, for up to `wait` (`sql/pool.rs`, `open`).
    pub async fn connect_within(url: &str, wait: Duration) -> anyhow::Result<Store> {
        let shown = crate::config::redact_url(url);
        let typed = match Backend::of(url) {
            Backend::Postgres => {
                Typed::Postgres(postgres::Store::connect(url, &shown, wait).await?)
            }
            Backend::Sqlite => {
                create_private_sqlite_file(url)?;
                // A file is there or not: nothing to wait for.
                Typed::Sqlite(sqlite::Store::connect(&driver_url(url), &shown).await?)
            }
        };
        Ok(Store(typed))
    }

    /// Connections open in the pool, and how many of them are idle.
    pub fn pool_stats(&self) -> (u32, usize) {
        match &self.0 {
            Typed::Postgres(db) => db.pool_stats(),
            Typed::Sqlite(db) => db.pool_stats(),
        }
    }

    pub fn backend(&self) -> Backend {
        match &self.0 {
            Typed::Postgres(_) => Backend::Postgres,
            Typed::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// How `rekey_refresh_tokens` seals again: a refresh token's value, and a signing key (`None`:
/// it does not open with the current secret).
pub struct Reseal<T, K> {
    pub refresh_token: T,
    pub signing_key: K,
}

/// The interface: each method is the backend's own, handed on as it is.
macro_rules! interface {
    ($(
        $(#[$doc:meta])*
        async fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
    )*) => {
        impl Store {$(
            $(#[$doc])*
            pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                match &self.0 {
                    Typed::Postgres(db) => db.$name($($arg),*).await,
                    Typed::Sqlite(db) => db.$name($($arg),*).await,
                }
            }
        )*}
    };
}

interface! {
    /// True when the database answers, within a bound: health probes answer quickly while the
    /// database is away.
    async fn ping(&self) -> bool;
    /// Follows the invalidation channel on PostgreSQL for ever, handing each payload to `apply`;
    /// `None` whenever notifications may have been lost (at every (re)connection). Returns at
    /// once on SQLite.
    async fn follow_notifications(&self, apply: impl Fn(Option<&str>)) -> ();
    /// Tells every instance listening on PostgreSQL that tokens stopped being valid (no-op on SQLite).
    async fn notify_invalidation(&self, payload: &str) -> StoreResult<()>;

    /// The value of a setting, if set.
    async fn setting(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets a setting, replacing its value.
    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()>;
    /// The value of a setting, created with `make` on first use (safe when instances race).
    async fn setting_or_insert(&self, key: &str, make: impl FnOnce() -> String) -> StoreResult<String>;
    /// The uuid of the top tenant, created at first start.
    async fn ensure_top_tenant(&self) -> StoreResult<String>;

    async fn create_user(&self, new: &NewUser) -> StoreResult<()>;
    async fn get_user(&self, uuid: &str) -> StoreResult<Option<User>>;
    /// The user without its e-mail addresses: all a token needs.
    async fn get_user_for_token(&self, uuid: &str) -> StoreResult<Option<User>>;
    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    /// The enabled user whose username, or a confirmed e-mail address, is `login` (any case).
    async fn find_login_user(&self, login: &str) -> StoreResult<Option<User>>;
    /// The uuid of the user whose username or any e-mail address is `login` (any case).
    async fn find_login_owner(&self, login: &str) -> StoreResult<Option<String>>;
    /// Users matching every `(column, value)` filter exactly (columns checked by the caller).
    async fn list_users(&self, filters: &[(&str, &str)], params: &ListParams) -> StoreResult<Page<User>>;
    /// Replaces the editable fields. Disabling a user ends its sessions in the same transaction.
    async fn update_user(&self, uuid: &str, update: &UserUpdate) -> StoreResult<bool>;
    /// Whether the user is still enabled with this password hash (waiting for a change of the
    /// user in flight).
    async fn user_unchanged(&self, uuid: &str, password_hash: &str) -> StoreResult<bool>;
    /// Sets a new password hash and ends the user's sessions; refresh tokens stay.
    async fn set_password(&self, uuid: &str, password_hash: &str) -> StoreResult<()>;
    /// Deletes a user with its e-mails, sessions, tokens, refresh tokens and policy links.
    async fn delete_user(&self, uuid: &str) -> StoreResult<bool>;
    /// Fills the look-alike key of every username without one; the number of usernames left
    /// without one (their key was taken).
    async fn backfill_username_skeletons(&self, skeleton: impl Fn(&str) -> String) -> StoreResult<u64>;

    async fn create_policy(&self, new: &NewPolicy) -> StoreResult<()>;
    /// The policy with this uuid (never a slug: a slug cannot name another policy's uuid).
    async fn get_policy_by_uuid(&self, uuid: &str) -> StoreResult<Option<Policy>>;
    /// The policy with this slug, in any case (slugs are unique case-insensitively).
    async fn get_policy_by_slug(&self, slug: &str) -> StoreResult<Option<Policy>>;
    /// The policy with exactly this name (configuration and the command line name policies so).
    async fn find_policy_by_name(&self, name: &str) -> StoreResult<Option<Policy>>;
    async fn list_policies(&self, params: &ListParams) -> StoreResult<Page<Policy>>;
    /// Replaces name, description and ACL, if its ACL is still `checked` (under the row's lock).
    async fn update_policy(&self, uuid: &str, name: &str, description: Option<&str>, acl: &[String], checked: &[String]) -> StoreResult<PolicyWrite>;
    /// Adds (`add`) or removes one ACL entry, read under the row's lock and written in one
    /// transaction (two edits at once never lose one). False when there is no such policy.
    async fn edit_policy_acl(&self, uuid: &str, access: &str, add: bool) -> StoreResult<bool>;
    /// Marks a policy read-only (the bootstrap policy, on databases made before it was).
    async fn make_policy_read_only(&self, uuid: &str) -> StoreResult<()>;
    /// Deletes a policy and its attachments, if its ACL is still `checked`.
    async fn delete_policy(&self, uuid: &str, checked: &[String]) -> StoreResult<PolicyWrite>;
    /// The user's policies, in the order they were attached.
    async fn user_policies(&self, user_uuid: &str) -> StoreResult<Vec<Policy>>;
    /// Attaches a policy to a user (last in order), if its ACL is still `checked` (`None`:
    /// unchecked, the bootstrap's own attachment).
    async fn attach_policy(&self, user_uuid: &str, policy_uuid: &str, checked: Option<&[String]>) -> StoreResult<PolicyWrite>;
    /// Detaches a policy from a user, if its ACL is still `checked`.
    async fn detach_policy(&self, user_uuid: &str, policy_uuid: &str, checked: &[String]) -> StoreResult<PolicyWrite>;

    /// Writes a browser session; its user keeps only the `keep` newest.
    async fn create_browser_session(&self, session: &NewBrowserSession, keep: i64) -> StoreResult<()>;
    /// The unexpired browser session with this digest.
    async fn find_browser_session(&self, digest: &[u8], now: i64) -> StoreResult<Option<BrowserSession>>;
    /// Ends a browser session (RP-initiated logout): false when there was none.
    async fn end_browser_session(&self, digest: &[u8]) -> StoreResult<bool>;
    /// The scope a user allowed a client, if they did.
    async fn consent(&self, user_uuid: &str, client_id: &str) -> StoreResult<Option<Vec<String>>>;
    /// Remembers the scope a user allowed a client, replacing what they allowed before.
    async fn remember_consent(&self, user_uuid: &str, client_id: &str, scope: &[String], now: i64) -> StoreResult<()>;
    /// Forgets what a user allowed a client; false when there was nothing.
    async fn forget_consent(&self, user_uuid: &str, client_id: &str) -> StoreResult<bool>;
    /// Writes an authorization code by its digest; false when its client or user is gone.
    async fn create_code(&self, digest: &[u8], code: &AuthorizationCode, pending: i64, now: i64) -> StoreResult<bool>;
    /// Whether a second redemption of a code came.
    async fn code_replayed(&self, digest: &[u8]) -> StoreResult<bool>;
    /// Redeems a code for a session (once, before it expires, with its proof) and writes its
    /// token with it ([`CodeTokenWrite`]); `Err`: no token was written, and what the redemption
    /// found (`Fresh`: redeemed without its token, which the second path writes).
    async fn redeem_code_minting(&self, redeem: &CodeRedeem<'_>, token: &CodeTokenWrite<'_>) -> StoreResult<Result<CodeMinted, CodeRedemption>>;
    /// Deletes expired browser sessions, unredeemed codes that expired, redeemed codes and
    /// device codes that expired before `codes_before`, and signing keys no longer published.
    async fn purge_authorizations(&self, now: i64, codes_before: i64) -> StoreResult<u64>;
    /// Writes a device's authorization by its codes' digests, unless its client holds `pending`
    /// undecided live ones; false then, or when its client is gone.
    async fn create_device_code(&self, code: &NewDeviceCode, pending: i64) -> StoreResult<bool>;
    /// A client's device authorization by its device code's digest.
    async fn find_device_code(&self, device_digest: &[u8], client_id: &str) -> StoreResult<Option<DeviceCode>>;
    /// The pending, unexpired device authorization by its user code's digest.
    async fn find_pending_user_code(&self, user_code_digest: &[u8], now: i64) -> StoreResult<Option<DeviceCode>>;
    /// Records a user's decision on a pending device authorization; false when it is not pending.
    async fn decide_device_code(&self, user_code_digest: &[u8], decided_by: (&str, &SignIn), status: DeviceStatus, now: i64) -> StoreResult<bool>;
    /// Records a device's poll if none came since `last_poll`; false when one did.
    async fn record_device_poll(&self, device_digest: &[u8], last_poll: i64, now: i64, poll_interval: i64) -> StoreResult<bool>;
    /// Marks an allowed device authorization redeemed: true once only.
    async fn redeem_device_code(&self, device_digest: &[u8]) -> StoreResult<bool>;
    /// Every signing key, current and retired, oldest first.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRow>>;
    /// Writes a signing key as its algorithm's current one, retiring the current one (published
    /// until `retire`) when asked; without, false when its algorithm has a current key already;
    /// `None` when the setting `fingerprint.0` no longer holds `fingerprint.1`.
    async fn add_signing_key(&self, key: &SigningKeyRow, retire: Option<i64>, fingerprint: (&str, &str)) -> StoreResult<Option<bool>>;
    async fn create_client(&self, client: &OAuth2Client) -> StoreResult<()>;
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<OAuth2Client>>;
    async fn list_clients(&self, params: &ListParams) -> StoreResult<Page<OAuth2Client>>;
    /// Replaces what may change of a client; false when there is none.
    async fn update_client(&self, client: &OAuth2Client) -> StoreResult<bool>;
    /// Replaces a confidential client's secret digest; false when there is no such client.
    async fn set_client_secret(&self, client_id: &str, digest: &[u8]) -> StoreResult<bool>;
    /// Deletes a client with its tokens, refresh tokens and their sessions; false when none.
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool>;
    /// The client `client_id` names and the unexpired token with this digest (with its client and
    /// its user's username), in one read.
    async fn introspection_read(&self, client_id: Option<&str>, digest: &[u8], now: i64) -> StoreResult<(Option<ClientCredentials>, Option<TokenOwner>)>;
    /// Writes a client's own token ([`ClientToken`]) under its bound of `keep` tokens: how many
    /// live ones it ended; `None` when the client is gone.
    async fn issue_client_token(&self, token: &ClientToken) -> StoreResult<Option<u64>>;

    /// Writes a session and its token as `write` says (and, for an offline login, the refresh
    /// token): all or nothing.
    async fn issue_token(&self, token: &NewToken, write: IssueWrite<'_>) -> StoreResult<Issue>;
    /// A refresh grant in one statement ([`RefreshGrantWrite`]), or why it wrote nothing.
    async fn write_refresh_grant(&self, grant: &RefreshGrantWrite<'_>) -> StoreResult<RefreshGrantOutcome>;
    /// The refresh token whose current value has this digest, with its user: one statement.
    async fn find_refresh_grant(&self, digest: &[u8], client_id: Option<&str>) -> StoreResult<Option<RefreshGrant>>;
    /// The unexpired token with this digest.
    async fn find_token(&self, digest: &[u8], now: i64) -> StoreResult<Option<TokenRecord>>;
    /// The unexpired token with this digest, with its client and its user's username.
    async fn find_token_owner(&self, digest: &[u8], now: i64) -> StoreResult<Option<TokenOwner>>;
    /// Whether an unexpired token has this digest (reads no column of the row).
    async fn token_is_live(&self, digest: &[u8], now: i64) -> StoreResult<bool>;
    /// Revokes a token, which ends its session (one row).
    async fn revoke_token(&self, digest: &[u8]) -> StoreResult<()>;
    /// Deletes up to `batch` expired tokens with their sessions; returns how many sessions went.
    async fn purge_expired(&self, now: i64, batch: i64) -> StoreResult<u64>;
    /// Moves every refresh token and signing key to a new key in one transaction: how many of
    /// each (`None`, and nothing written, when the database does not record `old`).
    async fn rekey_refresh_tokens(&self, setting: &str, old: &str, new: &str, reseal: Reseal<impl Fn(&RefreshToken) -> Vec<u8>, impl Fn(&SigningKeyRow) -> Option<Vec<u8>>>) -> StoreResult<Option<(u64, u64)>>;
    /// The refresh token of which this is a superseded value, when it was superseded and which
    /// generation it was.
    async fn find_superseded_refresh_token(&self, digest: &[u8]) -> StoreResult<Option<SupersededValue>>;
    /// Deletes a refresh token (the whole chain of its values) and ends every session minted
    /// from it. Returns the number of sessions ended.
    async fn end_refresh_token(&self, uuid: &str) -> StoreResult<u64>;
    /// Deletes up to `batch` expired refresh tokens and the sessions minted from them; returns
    /// how many refresh tokens went, how many sessions, and the users they belonged to.
    async fn purge_expired_refresh_tokens(&self, cutoffs: RefreshCutoffs, batch: i64) -> StoreResult<(u64, u64, Vec<String>)>;
    /// Refresh tokens, of one user or of all; `mobile` filters on the flag.
    async fn list_refresh_tokens(&self, user_uuid: Option<&str>, mobile: Option<bool>, params: &ListParams) -> StoreResult<Page<RefreshToken>>;
    /// Deletes the (user, client_id) refresh token and ends the sessions minted from it;
    /// false when there is none.
    async fn delete_refresh_token(&self, user_uuid: &str, client_id: &str) -> StoreResult<bool>;
    /// Deletes the refresh token whose value (current or superseded) has this digest and ends the
    /// sessions minted from it (RFC 7009 §2.1). Returns its user, when there was one.
    async fn revoke_refresh_token(&self, digest: &[u8]) -> StoreResult<Option<String>>;
    async fn list_sessions(&self, user_uuid: Option<&str>, params: &ListParams) -> StoreResult<Page<Session>>;
    /// Ends a session (its tokens go with it). Idempotent.
    async fn delete_session(&self, uuid: &str, user_uuid: Option<&str>) -> StoreResult<()>;

    /// Charges one attempt to every key, unless a key is held back or busy (then nothing).
    async fn charge_attempt(&self, keys: &[CountedKey], times: AttemptTimes) -> StoreResult<Admission>;
    /// What a charge of these keys would find now, read without writing (an attempt waiting for
    /// attempts in flight asks with a read, never queueing behind them).
    async fn admission(&self, keys: &[CountedKey], times: AttemptTimes) -> StoreResult<Admission>;
    /// The latest end of these keys' hold-backs, if any was set.
    async fn held_until(&self, keys: &[String]) -> StoreResult<Option<i64>>;
    /// A failed attempt: releases `release`, counts one failure to every key of `failed`.
    async fn record_failure(&self, release: &[String], failed: &[CountedKey], times: AttemptTimes) -> StoreResult<()>;
    /// Attempts that did not fail: releases `release`, forgets the counts of `clear`, and records
    /// `trust` (a key and until when), in one transaction.
    async fn release_attempt(&self, release: &[String], clear: &[String], trust: Option<(&str, i64)>) -> StoreResult<()>;
    /// Until when `key` (a user from an address) is trusted, if it still is at `now`.
    async fn trusted_until(&self, key: &str, now: i64) -> StoreResult<Option<i64>>;
    /// Deletes the counts forgotten and no longer held back, and the places trusted no longer.
    async fn purge_failures(&self, now: i64, forget_before: i64) -> StoreResult<u64>;
}

#[cfg(test)]
mod tests {
    #[test]
    fn search_patterns_escape_wildcards() {
        assert_eq!(super::like_pattern("A_b%"), "%a\\_b\\%%");
    }
}
