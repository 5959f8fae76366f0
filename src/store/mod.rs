//! Persistence: one `Store` over sqlx's `Any` driver, PostgreSQL or SQLite chosen by the URL scheme.
//! The SQL is written once, in the dialect both accept (`$n` parameters, `ON CONFLICT`, `RETURNING`).

mod failures;
mod lists;
mod policies;
mod tokens;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{Mutex, MutexGuard};

pub use failures::{Admission, AttemptTimes, CountedKey};
pub use lists::{ListParams, Page};
pub use policies::POLICY_ORDER;
pub use policies::{AclParts, NewPolicy, Policy, PolicyWrite};
pub use tokens::{
    Issue, IssueRequest, OfflineGrant, RefreshCutoffs, RefreshGrantWrite, RefreshToken, Rotation,
    Session, SessionShare, SupersededValue, TokenMetadata, TokenRecord, LIMITED_PURPOSES,
    REFRESH_ORDER, SESSION_ORDER,
};
pub use users::{Email, NewUser, User, UserUpdate};
pub use users::{USER_FILTERS, USER_ORDER};

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

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
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
            _ => StoreError::Other(error.to_string()),
        }
    }
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

/// A boolean column: BOOLEAN on PostgreSQL, INTEGER 0/1 on SQLite (which `Any` cannot map).
fn flag(row: &sqlx::any::AnyRow, column: &str) -> StoreResult<bool> {
    use sqlx::Row;
    match row.try_get::<bool, _>(column) {
        Ok(value) => Ok(value),
        Err(_) => Ok(row.try_get::<i64, _>(column)? != 0),
    }
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

/// The URL sqlx opens: a SQLite file is created when missing (`mode=rwc`) unless the URL names a
/// mode. Internal: messages show the URL as the user wrote it.
fn driver_url(url: &str) -> String {
    match Store::backend_of(url) {
        Backend::Sqlite if !url.contains("mode=") => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rwc")
        }
        _ => url.to_string(),
    }
}

/// Checks that the driver accepts a database URL (its options, port, mode…), without connecting.
pub fn check_url(url: &str) -> anyhow::Result<()> {
    use sqlx::postgres::PgConnectOptions;
    use sqlx::sqlite::SqliteConnectOptions;
    let parsed = match Store::backend_of(url) {
        Backend::Postgres => PgConnectOptions::from_str(url).map(|_| ()),
        Backend::Sqlite => SqliteConnectOptions::from_str(&driver_url(url)).map(|_| ()),
    };
    parsed.map_err(|e| anyhow::anyhow!("{}", describe(&e)))
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

/// Opens, prepares and closes one connection. On PostgreSQL, an attempt that fails in a way worth
/// retrying ([`worth_retrying`]), or gets no answer within [`CONNECT_TIMEOUT`], is repeated after
/// a pause (0.5 s, doubling up to 5 s) until `wait` has passed since the first; each retry is
/// logged at WARN with the URL's password hidden. Then the last failure is the one-line error.
async fn first_connection(
    options: &AnyConnectOptions,
    backend: Backend,
    shown: &str,
    wait: Duration,
) -> anyhow::Result<()> {
    use sqlx::{ConnectOptions, Connection};
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(500);
    let mut attempt: u32 = 1;
    loop {
        let once = async {
            let mut conn = options.connect().await?;
            prepare(&mut conn, backend).await?;
            conn.close().await
        };
        let (reason, retry) = match tokio::time::timeout(CONNECT_TIMEOUT, once).await {
            Ok(Ok(())) => {
                if attempt > 1 {
                    tracing::info!(database = %shown, attempt, "database connection established");
                }
                return Ok(());
            }
            Ok(Err(error)) => (describe(&error), worth_retrying(&error)),
            Err(_) => (
                format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                true,
            ),
        };
        let elapsed = started.elapsed();
        let left = wait.saturating_sub(elapsed);
        if !(retry && backend == Backend::Postgres) || left.is_zero() {
            let waited = if attempt > 1 {
                format!(
                    " (still failing after {attempt} attempts in {} s: database_connect_timeout)",
                    elapsed.as_secs()
                )
            } else {
                String::new()
            };
            anyhow::bail!("cannot connect to database {shown}: {reason}{waited}");
        }
        let pause = delay.min(left);
        tracing::warn!(
            database = %shown,
            error = %reason,
            attempt,
            retry_in_ms = pause.as_millis() as u64,
            waited_s = elapsed.as_secs(),
            "database not accepting connections yet; retrying"
        );
        tokio::time::sleep(pause).await;
        delay = (delay * 2).min(RETRY_DELAY_MAX);
        attempt += 1;
    }
}

/// A pooled connection idle this long is pinged before use; a busier one is used as it is.
const IDLE_CHECK_AFTER: Duration = Duration::from_millis(100);

/// SQLite's per-connection settings (PostgreSQL needs none). `journal_size_limit`: the WAL file
/// is cut back to 64 MiB when a checkpoint restarts it, rather than keeping its largest size.
/// `cache_size`: 1 MiB of pages per connection, not 2 (the operating system caches the file
/// anyway): the storm's peak RSS fell from 64.3 to 61.0 MiB, validation unchanged (README).
async fn prepare(conn: &mut sqlx::AnyConnection, backend: Backend) -> sqlx::Result<()> {
    if backend == Backend::Sqlite {
        use sqlx::Executor;
        conn.execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
             PRAGMA journal_size_limit = 67108864; PRAGMA cache_size = -1024;",
        )
        .await?;
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The PostgreSQL URL, for the notification listener's own connection.
    url: Option<String>,
    /// SQLite allows one writer: writes queue here rather than failing with SQLITE_BUSY when a
    /// read transaction upgrades. PostgreSQL needs no such lock.
    write_lock: Option<Arc<Mutex<()>>>,
}

/// The advisory lock key of a user's writes: the first 8 bytes of the SHA-256 of its uuid. A
/// number, so that it can be written into the `BEGIN` statement (which takes no parameters).
pub(super) fn user_lock_key(user_uuid: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(user_uuid.as_bytes());
    digest
        .first_chunk::<8>()
        .map_or(0, |bytes| i64::from_be_bytes(*bytes))
}

/// A write transaction (and, on SQLite, the writer's turn).
pub struct WriteTx<'a> {
    pub tx: Transaction<'static, Any>,
    _turn: Option<MutexGuard<'a, ()>>,
}

impl WriteTx<'_> {
    pub async fn commit(self) -> StoreResult<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// The backend a database URL selects: `sqlite:` is SQLite, anything else PostgreSQL.
    pub fn backend_of(url: &str) -> Backend {
        if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }

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
    /// up) is tried again, each retry logged, for up to `wait` ([`first_connection`]).
    pub async fn connect_within(url: &str, wait: Duration) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Self::backend_of(url);
        let shown = crate::config::redact_url(url);
        if backend == Backend::Sqlite {
            create_private_sqlite_file(url)?;
        }
        let options = AnyConnectOptions::from_str(&driver_url(url))
            .map_err(|e| anyhow::anyhow!("invalid database URL {shown}: {}", describe(&e)))?;
        let cannot = |e: sqlx::Error| {
            anyhow::anyhow!("cannot connect to database {shown}: {}", describe(&e))
        };
        first_connection(&options, backend, &shown, wait).await?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Postgres => (cores * 4).max(8),
                Backend::Sqlite => (cores * 2).max(4),
            })
            .acquire_timeout(Duration::from_secs(5))
            // No `SELECT 1` before every use (a round trip per statement under load): only a
            // connection that sat idle is checked, since the database may have restarted meanwhile.
            // The pool's idle timeout and lifetime still apply.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    use sqlx::Connection;
                    Ok(meta.idle_for < IDLE_CHECK_AFTER || conn.ping().await.is_ok())
                })
            })
            .after_connect(move |conn, _meta| Box::pin(prepare(conn, backend)))
            .connect_with(options)
            .await
            .map_err(cannot)?;
        let store = Store {
            pool,
            backend,
            url: (backend == Backend::Postgres).then(|| url.to_string()),
            write_lock: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        let _turn = self.writer_turn().await;
        migrator.run(&self.pool).await.map_err(|e| match &e {
            sqlx::migrate::MigrateError::Execute(cause)
            | sqlx::migrate::MigrateError::ExecuteMigration(cause, _) => {
                anyhow::anyhow!("database migration failed: {}", describe(cause))
            }
            _ => anyhow::anyhow!("database migration failed: {e}"),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Connections open in the pool, and how many of them are idle.
    pub fn pool_stats(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// Follows the invalidation channel on PostgreSQL for ever, handing each payload to `apply`;
    /// `None` whenever notifications may have been lost (at every (re)connection).
    pub async fn follow_notifications(&self, apply: impl Fn(Option<&str>)) {
        use sqlx::postgres::PgListener;
        let Some(url) = &self.url else { return };
        loop {
            let mut listener = match PgListener::connect(url).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for cache invalidations; retrying");
                    apply(None);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(error) = listener.listen(INVALIDATION_CHANNEL).await {
                tracing::warn!(%error, "cannot listen for cache invalidations; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            // Anything published before LISTEN took effect is unknown here.
            apply(None);
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => apply(Some(notification.payload())),
                    // The connection was lost (and will be re-established): start afresh.
                    Ok(None) => apply(None),
                    Err(error) => {
                        tracing::warn!(%error, "cache invalidation channel failed; reconnecting");
                        apply(None);
                        break;
                    }
                }
            }
        }
    }

    async fn writer_turn(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }

    /// Begins a write transaction: every multi-row write goes through one.
    pub async fn begin_write(&self) -> StoreResult<WriteTx<'_>> {
        self.begin_write_with(None).await
    }

    /// The statement opening a write transaction: on SQLite `BEGIN IMMEDIATE`, which takes the
    /// write lock at once, so that a transaction that reads before it writes never has to
    /// upgrade a read snapshot (SQLITE_BUSY_SNAPSHOT when it is stale); plain `BEGIN` on
    /// PostgreSQL.
    fn begin_statement(&self) -> Option<String> {
        (self.backend == Backend::Sqlite).then(|| "BEGIN IMMEDIATE".to_string())
    }

    /// Begins a write transaction in which the writes of one user are serialised (the session
    /// limit, the mobile refresh token): on PostgreSQL a per-user advisory lock, taken in the
    /// round trip of `BEGIN` (unlike FOR UPDATE it writes nothing to the user's row); SQLite
    /// serialises every writer already.
    pub async fn begin_user_write(&self, user_uuid: &str) -> StoreResult<WriteTx<'_>> {
        let statement = (self.backend == Backend::Postgres).then(|| {
            format!(
                "BEGIN; SELECT pg_advisory_xact_lock({})",
                user_lock_key(user_uuid)
            )
        });
        self.begin_write_with(statement).await
    }

    async fn begin_write_with(&self, begin: Option<String>) -> StoreResult<WriteTx<'_>> {
        // The connection first, then the writer's turn: the turn (SQLite's one writer) is not
        // held while a connection is found. Whoever holds the turn needs no second connection.
        let conn = self.pool.acquire().await?;
        let turn = self.writer_turn().await;
        let begin = begin.or_else(|| self.begin_statement());
        let tx = Transaction::begin(conn, begin.map(std::borrow::Cow::Owned)).await?;
        Ok(WriteTx { tx, _turn: turn })
    }

    /// Tells every instance listening on PostgreSQL that tokens stopped being valid (no-op on SQLite).
    pub async fn notify_invalidation(&self, payload: &str) -> StoreResult<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(INVALIDATION_CHANNEL)
                .bind(payload)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// True when the database answers.
    /// Bounded, so that health probes answer quickly while the database is away.
    pub async fn ping(&self) -> bool {
        let probe = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(
            tokio::time::timeout(Duration::from_secs(2), probe).await,
            Ok(Ok(_))
        )
    }

    /// The value of a setting, if set.
    pub async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Sets a setting, replacing its value.
    pub async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await
    }

    /// The value of a setting, created with `make` on first use (safe when instances race).
    pub async fn setting_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> StoreResult<String> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(make())
        .execute(&mut *w.tx)
        .await?;
        let value: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(value)
    }

    /// The uuid of the top tenant, created at first start.
    pub async fn ensure_top_tenant(&self) -> StoreResult<String> {
        let uuid = self
            .setting_or_insert("top_tenant_uuid", || uuid::Uuid::new_v4().to_string())
            .await?;
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO tenants (uuid, name, parent_uuid) VALUES ($1, 'master', $1) \
             ON CONFLICT (uuid) DO NOTHING",
        )
        .bind(&uuid)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(uuid)
    }
}
