//! The pool, write transactions and settings: the same for both backends, compiled by each
//! against its own `Db`.

use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::{ConnectOptions, Connection, Pool, Transaction};
use tokio::sync::MutexGuard;

use super::{Db, Options, Store};
use crate::store::{
    describe, worth_retrying, StoreResult, CONNECT_TIMEOUT, IDLE_CHECK_AFTER, RETRY_DELAY_MAX,
};

/// Opens the pool: one connection first ([`first_connection`]), so that a database that is
/// unusable (missing, read-only, wrong password) fails at once in one line, rather than after the
/// pool's retries, and a server that does not accept connections yet is waited for up to `wait`.
pub(super) async fn open(
    options: Options,
    shown: &str,
    wait: Duration,
) -> anyhow::Result<Pool<Db>> {
    let cannot =
        |e: sqlx::Error| anyhow::anyhow!("cannot connect to database {shown}: {}", describe(&e));
    first_connection(&options, shown, wait).await?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
    PoolOptions::<Db>::new()
        .max_connections(super::max_connections(cores))
        .acquire_timeout(Duration::from_secs(5))
        // No `SELECT 1` before every use (a round trip per statement under load): only a
        // connection that sat idle is checked, since the database may have restarted meanwhile.
        // The pool's idle timeout and lifetime still apply.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(
                async move { Ok(meta.idle_for < IDLE_CHECK_AFTER || conn.ping().await.is_ok()) },
            )
        })
        .after_connect(|conn, _meta| Box::pin(super::prepare(conn)))
        .connect_with(options)
        .await
        .map_err(cannot)
}

/// Opens, prepares and closes one connection. An attempt that fails in a way worth retrying
/// ([`worth_retrying`]), or gets no answer within [`CONNECT_TIMEOUT`], is repeated after a pause
/// (0.5 s, doubling up to 5 s) until `wait` has passed since the first (SQLite is given no wait);
/// each retry is logged at WARN with the URL's password hidden. Then the last failure is the
/// one-line error.
async fn first_connection(options: &Options, shown: &str, wait: Duration) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(500);
    let mut attempt: u32 = 1;
    loop {
        let once = async {
            let mut conn = options.connect().await?;
            super::prepare(&mut conn).await?;
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
        if !retry || left.is_zero() {
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

/// A write transaction (and, on SQLite, the writer's turn).
pub(super) struct WriteTx<'a> {
    pub tx: Transaction<'static, Db>,
    pub turn: Option<MutexGuard<'a, ()>>,
}

impl WriteTx<'_> {
    pub async fn commit(self) -> StoreResult<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Runs the embedded migrations, in the writer's turn.
    pub(super) async fn migrate(&self) -> anyhow::Result<()> {
        let _turn = self.writer_turn().await;
        super::MIGRATIONS
            .run(&self.pool)
            .await
            .map_err(|e| match &e {
                sqlx::migrate::MigrateError::Execute(cause)
                | sqlx::migrate::MigrateError::ExecuteMigration(cause, _) => {
                    anyhow::anyhow!("database migration failed: {}", describe(cause))
                }
                _ => anyhow::anyhow!("database migration failed: {e}"),
            })
    }

    pub fn pool_stats(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// Begins a write transaction: every multi-row write goes through one.
    pub(super) async fn begin_write(&self) -> StoreResult<WriteTx<'_>> {
        self.begin_write_with(super::BEGIN_WRITE.map(String::from))
            .await
    }

    /// Begins a write transaction with its own `BEGIN` statement (the backend's default without).
    pub(super) async fn begin_write_with(&self, begin: Option<String>) -> StoreResult<WriteTx<'_>> {
        // The connection first, then the writer's turn: the turn (SQLite's one writer) is not
        // held while a connection is found. Whoever holds the turn needs no second connection.
        let conn = self.pool.acquire().await?;
        let turn = self.writer_turn().await;
        let tx = Transaction::begin(conn, begin.map(std::borrow::Cow::Owned)).await?;
        Ok(WriteTx { tx, turn })
    }

    pub async fn ping(&self) -> bool {
        let probe = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(
            tokio::time::timeout(Duration::from_secs(2), probe).await,
            Ok(Ok(_))
        )
    }

    pub async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

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

    pub async fn ensure_top_tenant(&self) -> StoreResult<String> {
        let uuid = self
            .setting_or_insert("top_tenant_uuid", || uuid::Uuid::new_v4().to_string())
            .await?;
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO tenants (uuid, name, parent_uuid) VALUES ($1, 'master', $1) \
             ON CONFLICT (uuid) DO NOTHING",
        )
        .bind(crate::store::columns::Id(&uuid))
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(uuid)
    }
}
