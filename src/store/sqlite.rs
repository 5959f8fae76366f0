//! SQLite: the store on its own `SqlitePool`. The SQL shared with PostgreSQL is compiled here
//! from `sql/` against `Db = Sqlite`; this file holds what only SQLite does: the connection's
//! pragmas, the one writer's turn, and the refresh grant's `INSERT … SELECT` (whose trigger counts
//! the token, migration 0013).

use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tokio::sync::{Mutex, MutexGuard};

use crate::store::{
    describe, AuthorizationCode, ClientToken, CodeMinted, CodeRedeem, CodeRedemption,
    CodeTokenWrite, NewToken, RefreshGrantWrite, RefreshToken, Rotation, SessionShare, StoreResult,
};

// Each backend compiles the shared SQL against its own `Db`: loaded twice on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "sql/access_tokens.rs"]
mod access_tokens;
#[allow(clippy::duplicate_mod)]
#[path = "sql/failures.rs"]
mod failures;
#[allow(clippy::duplicate_mod)]
#[path = "sql/issuance.rs"]
mod issuance;
#[allow(clippy::duplicate_mod)]
#[path = "sql/lists.rs"]
mod lists;
#[allow(clippy::duplicate_mod)]
#[path = "sql/oauth2_authorizations.rs"]
mod oauth2_authorizations;
#[allow(clippy::duplicate_mod)]
#[path = "sql/oauth2_clients.rs"]
mod oauth2_clients;
#[allow(clippy::duplicate_mod)]
#[path = "sql/oauth2_device_codes.rs"]
mod oauth2_device_codes;
#[allow(clippy::duplicate_mod)]
#[path = "sql/oauth2_signing_keys.rs"]
mod oauth2_signing_keys;
#[allow(clippy::duplicate_mod)]
#[path = "sql/policies.rs"]
mod policies;
#[allow(clippy::duplicate_mod)]
#[path = "sql/pool.rs"]
mod pool;
#[allow(clippy::duplicate_mod)]
#[path = "sql/refresh_tokens.rs"]
mod refresh_tokens;
#[allow(clippy::duplicate_mod)]
#[path = "sql/sessions.rs"]
mod sessions;
#[allow(clippy::duplicate_mod)]
#[path = "sql/users.rs"]
mod users;

use access_tokens::{default_found, token_insert, ShareSql, TokenRow, TOKEN_COLUMNS};
use issuance::{
    bind_grant, grant_default_acl, grant_refusal_statement, GrantRow, Inserted, RefreshCheck,
    Written,
};
use oauth2_authorizations::{
    bind_code_token, code_token_search, redeem_code_statement, refused_redemption, MintedRow,
};

type Db = sqlx::Sqlite;
type Conn = sqlx::SqliteConnection;
type Options = SqliteConnectOptions;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// No row locks: the writers take turns (the writer's turn, then `BEGIN IMMEDIATE`).
const FOR_UPDATE: &str = "";
const FOR_SHARE: &str = "";
const FOR_KEY_SHARE: &str = "";
/// A token's insert raises its user's session bound itself (its trigger, migration 0013).
const INSERT_COUNTS_ITSELF: bool = true;
/// `BEGIN IMMEDIATE` takes the write lock at once, so that a transaction that reads before it
/// writes never has to upgrade a read snapshot (SQLITE_BUSY_SNAPSHOT when it is stale).
const BEGIN_WRITE: Option<&str> = Some("BEGIN IMMEDIATE");

fn max_connections(cores: u32) -> u32 {
    (cores * 2).max(4)
}

/// Each connection's settings. `journal_size_limit`: the WAL file is cut back to 64 MiB when a
/// checkpoint restarts it, rather than keeping its largest size. `cache_size`: 1 MiB of pages per
/// connection, not 2 (the operating system caches the file anyway): the storm's peak RSS fell,
/// validation unchanged (README).
async fn prepare(conn: &mut Conn) -> sqlx::Result<()> {
    use sqlx::Executor;
    conn.execute(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
         PRAGMA journal_size_limit = 67108864; PRAGMA cache_size = -1024;",
    )
    .await?;
    Ok(())
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    /// SQLite allows one writer: writes queue here rather than failing with SQLITE_BUSY when a
    /// read transaction upgrades.
    write_lock: Arc<Mutex<()>>,
}

impl Store {
    /// `url`: as the driver reads it (with its `mode`).
    pub async fn connect(url: &str, shown: &str) -> anyhow::Result<Store> {
        use std::str::FromStr;
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| anyhow::anyhow!("invalid database URL {shown}: {}", describe(&e)))?;
        let store = Store {
            pool: pool::open(options, shown, std::time::Duration::ZERO).await?,
            write_lock: Arc::new(Mutex::new(())),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn writer_turn(&self) -> Option<MutexGuard<'_, ()>> {
        Some(self.write_lock.lock().await)
    }

    /// The writers take turns already: a user's writes are serialised like any other.
    async fn begin_user_write(&self, _user_uuid: &str) -> StoreResult<pool::WriteTx<'_>> {
        self.begin_write().await
    }

    /// No other instance shares the file: nothing to tell.
    pub async fn notify_invalidation(&self, _payload: &str) -> StoreResult<()> {
        Ok(())
    }

    /// No channel to follow.
    pub async fn follow_notifications(&self, _apply: impl Fn(Option<&str>)) {}

    /// A client's token under its bound, in the writer's turn: one `INSERT … SELECT` whose
    /// condition reads the bound (and the client's revision), whose trigger raises the bound
    /// (migration 0017). False: the bound is at the limit, or the client is gone or changed.
    async fn client_token_in_one_write(
        &self,
        token: &ClientToken,
        limit: i64,
    ) -> StoreResult<bool> {
        let sql = oauth2_clients::client_token_insert(
            "EXISTS (SELECT 1 FROM oauth2_clients WHERE client_id = $3 AND tokens < $13 \
             AND revision = COALESCE($14, revision))",
        );
        let search = oauth2_clients::client_token_search(token);
        let mut conn = self.pool.acquire().await?;
        let _turn = self.writer_turn().await;
        let written = oauth2_clients::bind_client_token(&sql, token, &search)
            .bind(limit)
            .bind(token.revision)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        Ok(written == 1)
    }

    /// Tokens are written in a transaction only (the writers take turns anyway).
    async fn insert_token_in_one_statement(
        &self,
        _row: &TokenRow<'_>,
        _limit: Option<i64>,
        _refresh: Option<&RefreshCheck<'_>>,
    ) -> StoreResult<Inserted> {
        Ok(Inserted::NotAdmitted)
    }

    /// A code's redemption, then its token ([`code_token_insert`], which finds the code only once
    /// redeemed), each its own commit, sent as one query in one writer's turn: no other write
    /// comes between, so a second redemption always finds the session to end; a crash between
    /// leaves the code spent without a token, never a token of an unspent code. A code not
    /// redeemed is answered why, in the same turn.
    pub async fn redeem_code_minting(
        &self,
        redeem: &CodeRedeem<'_>,
        token: &CodeTokenWrite<'_>,
    ) -> StoreResult<Result<CodeMinted, CodeRedemption>> {
        use sqlx::{FromRow, Row};
        let sql = format!(
            "{}; {}",
            redeem_code_statement(),
            code_token_insert(token.default_policy.is_some())
        );
        let search = code_token_search(redeem, token);
        let mut conn = self.pool.acquire().await?;
        let _turn = self.writer_turn().await;
        // One query, not two: the worker thread that runs a connection's statements is reached
        // once in the writer's turn. Stepped to its end: SQLite checkpoints its WAL only when a
        // committing statement returns SQLITE_DONE (see `run_refresh_grant`).
        let rows = bind_code_token(&sql, redeem, token, &search)
            .fetch_all(&mut *conn)
            .await?;
        let mut rows = rows.iter();
        let Some(code) = rows.next() else {
            return Ok(Err(refused_redemption(&mut conn, redeem).await?));
        };
        let code = AuthorizationCode::from_row(code)?;
        Ok(match rows.next() {
            Some(token) => Ok(MintedRow {
                code,
                default_found: token.try_get(0)?,
            }
            .minted()),
            None => Err(CodeRedemption::Fresh(code)),
        })
    }

    /// A rotating grant's rotation and token in one transaction ([`rotating_batch`]), sent as one
    /// query: one round trip to the connection's worker thread in the writer's turn, where the
    /// steps one by one take six. When it wrote no token it wrote nothing, and the grant takes
    /// the path that counts the bound exactly and says why.
    async fn rotating_in_one_statement(
        &self,
        row: &TokenRow<'_>,
        limit: Option<i64>,
        (from, rotation): (&RefreshToken, &Rotation),
    ) -> StoreResult<Inserted> {
        use sqlx::types::Json;
        use sqlx::FromRow;
        let sql = rotating_batch(row.token, limit.is_some());
        let query = row.bind_rotating(&sql, limit, from, rotation);
        let mut batch = Batch::new(self.pool.acquire().await?);
        let _turn = self.writer_turn().await;
        let written = query
            .try_map(|row| <(Json<Vec<String>>, bool)>::from_row(&row))
            .fetch_all(batch.conn())
            .await?;
        batch.completed();
        Ok(match written.into_iter().next() {
            Some((Json(acl), default_found)) => Inserted::Yes(Written { acl, default_found }),
            None => Inserted::NotAdmitted,
        })
    }

    /// Runs a refresh grant's statement in the writer's turn; when it wrote nothing, reads why
    /// ([`grant_refusal_statement`]) in the same turn, before any other write.
    async fn run_refresh_grant(
        &self,
        sql: &str,
        grant: &RefreshGrantWrite<'_>,
    ) -> StoreResult<GrantRow> {
        // The connection first, then the writer's turn (as `begin_write`).
        let mut conn = self.pool.acquire().await?;
        let _turn = self.writer_turn().await;
        // Stepped to its end, not stopped after the first row: SQLite runs its WAL
        // auto-checkpoint only when a committing statement returns SQLITE_DONE. A statement reset
        // after its first row commits without it, and a load of grants alone grew the WAL
        // without bound (every read then searched a longer WAL).
        let written = bind_grant(sql, grant).fetch_all(&mut *conn).await?;
        if let Some(row) = written.into_iter().next() {
            return Ok(row);
        }
        let why = grant_refusal_statement();
        Ok(bind_grant(&why, grant).fetch_one(&mut *conn).await?)
    }
}

/// A rotating grant as one query, its own transaction (`$1`–`$15` its token as [`TokenRow`]
/// binds it, then the session limit `$16` when there is one, the generation read, the new digest
/// and the superseded one): the refresh token rotated from the generation read, while its user is
/// enabled and under the limit (the token's trigger raises the bound, migration 0013); the
/// superseded value kept; the token, answering as [`token_insert`]. Each step writes only when the
/// one before it wrote its row (`changes()`, the rows of the last statement completed): the new
/// digest alone would not tell, since concurrent grants of one value within the grace derive the
/// same successor. Run through a [`Batch`].
fn rotating_batch(token: &NewToken, limit: bool) -> String {
    let first = if limit { 17 } else { 16 };
    let (generation, new_digest, old_digest) = (first, first + 1, first + 2);
    let under_limit = match limit {
        true => format!(
            " AND (SELECT {} FROM session_bounds WHERE user_uuid = $3) < $16",
            token.share.bound()
        ),
        false => String::new(),
    };
    let insert = token_insert(token, "changes() = 1");
    format!(
        "BEGIN IMMEDIATE; \
         UPDATE refresh_tokens SET digest = ${new_digest}, generation = generation + 1, \
         sealed = NULL, used_at = $6 WHERE uuid = $13 AND generation = ${generation} \
         AND EXISTS (SELECT 1 FROM users WHERE uuid = $3 AND enabled = TRUE){under_limit}; \
         INSERT INTO superseded_refresh_tokens (digest, refresh_token_uuid, generation, \
         superseded_at) SELECT ${old_digest}, $13, ${generation}, $6 WHERE changes() = 1; \
         {insert}; COMMIT"
    )
}

/// A pool connection running a query that begins and commits its own transaction. Until the
/// query has completed, dropping it (an error, or the request's future dropped mid-query) closes
/// the connection instead of returning it to the pool: the close rolls the transaction back, and
/// the next user never finds it open.
struct Batch {
    conn: PoolConnection<Db>,
    completed: bool,
}

impl Batch {
    fn new(conn: PoolConnection<Db>) -> Batch {
        Batch {
            conn,
            completed: false,
        }
    }

    fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// The query ran to its end (its `COMMIT` included): the connection goes back to the pool.
    fn completed(mut self) {
        self.completed = true;
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if !self.completed {
            self.conn.close_on_drop();
        }
    }
}

/// The writers take turns: a change of a user needs no lock of its row.
async fn lock_for_change(_conn: &mut Conn, _uuid: &str) -> StoreResult<()> {
    Ok(())
}

/// The ACL of a new token as JSON text, the one expression every token insert uses: the default
/// policy's entries (`default_acl`, an SQL expression, NULL for none), then the user's
/// (`user_acl`: `users.acl`, their policies' entries in attachment order, which migration 0010's
/// triggers keep joined). Both are JSON arrays, so they are joined as text.
fn token_acl(default_acl: Option<&str>, user_acl: &str) -> String {
    match default_acl {
        None => user_acl.to_string(),
        Some(default) => format!(
            "(SELECT CASE WHEN d.acl IS NULL OR d.acl = '[]' THEN {user_acl} \
             WHEN {user_acl} = '[]' THEN d.acl \
             ELSE substr(d.acl, 1, length(d.acl) - 1) || ',' || substr({user_acl}, 2) END \
             FROM (SELECT {default} AS acl) AS d)"
        ),
    }
}

/// The one statement of a refresh grant (`$1`–`$18`, see `bind_grant` in sql/issuance.rs): one
/// `INSERT … SELECT` (the writers take turns), whose trigger (migration 0013) counts the token in
/// the user's session bound and marks the refresh token used. It writes the token when the
/// refresh token with digest `$1` is `$2`'s, unexpired, of an enabled user with room under its
/// session bound; when it returns no row, [`grant_refusal_statement`] says why. The ACL is the one
/// of every token ([`token_acl`]); the metadata as [`TokenMetadata`](crate::store::TokenMetadata)
/// has it. The token counts in the grants' share of the session cap ([`SessionShare::Grants`]),
/// written with `refresh_grant` true.
fn refresh_grant_statement(default_policy: bool) -> String {
    let (default_acl, default_found) = grant_default_acl(default_policy);
    let bound = SessionShare::Grants.bound();
    let acl = token_acl(default_acl, "u.acl");
    format!(
        "INSERT INTO tokens ({TOKEN_COLUMNS}) \
         SELECT $5, $6, r.user_uuid, u.tenant_uuid, $7, $3, $4, {acl}, \
         json_object('auth_id', r.user_uuid, \
         'pbx_user_uuid', CASE WHEN u.purpose = 'user' THEN r.user_uuid END, \
         'purpose', u.purpose, 'tenant_uuid', u.tenant_uuid, 'uuid', r.user_uuid, \
         'xivo_uuid', $15), \
         $8, $9, r.client_id, r.uuid, r.scope, $10, TRUE \
         FROM refresh_tokens r JOIN users u ON u.uuid = r.user_uuid \
         WHERE r.digest = $1 AND r.client_id = $2 AND r.oauth2 = FALSE AND u.enabled = TRUE \
         AND r.used_at > $11 AND r.created_at > $12 \
         AND (u.purpose NOT IN ($16, $17) \
         OR (SELECT {bound} FROM session_bounds WHERE user_uuid = r.user_uuid) < $14) \
         RETURNING auth_id, acl, metadata, scope, {default_found} AS default_found, \
         NULL AS refused"
    )
}

/// The token of a code just redeemed ([`CodeTokenWrite`]; `$1`–`$21`, see `bind_code_token` in
/// sql/oauth2_authorizations.rs): one `INSERT … SELECT` from the code redeemed for session `$2`
/// and its enabled user with room under the logins' session bound, whose trigger (migration
/// 0013) counts the token. The token's scope is the code's less the values `$21` drops.
fn code_token_insert(default_policy: bool) -> String {
    let default_acl =
        default_policy.then_some("(SELECT acl FROM policies WHERE name = $18 LIMIT 1)");
    let acl = token_acl(default_acl, "u.acl");
    let found = default_found(default_policy, "$18");
    let bound = SessionShare::Logins.bound();
    format!(
        "INSERT INTO tokens ({TOKEN_COLUMNS}) \
         SELECT $9, $10, u.uuid, u.tenant_uuid, FALSE, $3, $11, {acl}, \
         json_object('auth_id', u.uuid, \
         'pbx_user_uuid', CASE WHEN u.purpose = 'user' THEN u.uuid END, \
         'purpose', u.purpose, 'tenant_uuid', u.tenant_uuid, 'uuid', u.uuid, \
         'xivo_uuid', $19), \
         $12, $13, c.client_id, NULL, \
         (SELECT json_group_array(e.value) FROM json_each(c.scope) AS e \
         WHERE e.value NOT IN (SELECT value FROM json_each($21))), \
         $14, FALSE \
         FROM (SELECT client_id, user_uuid, scope FROM oauth2_codes \
         WHERE digest = $1 AND session_uuid = $2) AS c \
         JOIN users u ON u.uuid = c.user_uuid \
         WHERE u.enabled = TRUE \
         AND NOT EXISTS (SELECT 1 FROM json_each(c.scope) AS v WHERE v.value = $20) \
         AND (u.purpose NOT IN ($16, $17) \
         OR (SELECT {bound} FROM session_bounds WHERE user_uuid = u.uuid) < $15) \
         RETURNING {found} AS default_found"
    )
}
