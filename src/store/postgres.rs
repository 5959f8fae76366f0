//! PostgreSQL: the store on its own `PgPool`. The SQL shared with SQLite is compiled here from
//! `sql/` against `Db = Postgres`; this file holds what only PostgreSQL does: row locks, the
//! per-user advisory lock, the one-statement token writes (data-modifying `WITH`), and the
//! invalidation channel (LISTEN/NOTIFY).

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool};
use tokio::sync::MutexGuard;

use crate::store::{
    describe, AuthorizationCode, ClientToken, CodeMinted, CodeRedeem, CodeRedemption,
    CodeTokenWrite, NewToken, RefreshGrantWrite, RefreshToken, Rotation, SessionShare, StoreResult,
    INVALIDATION_CHANNEL,
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
    bind_grant, grant_default_acl, grant_refusal_statement, user_still_enabled, GrantRow, Inserted,
    RefreshCheck, Written,
};
use oauth2_authorizations::{
    bind_code_token, bind_redemption, code_token_search, redeem_code_statement, refused_redemption,
    MintedRow, CODE_COLUMNS, CODE_REDEEMABLE,
};

type Db = sqlx::Postgres;
type Conn = sqlx::PgConnection;
type Options = PgConnectOptions;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The advisory lock key of a user's writes: the first 8 bytes of the SHA-256 of its uuid. A
/// number, so that it can be written into the `BEGIN` statement (which takes no parameters).
fn user_lock_key(user_uuid: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(user_uuid.as_bytes());
    digest
        .first_chunk::<8>()
        .map_or(0, |bytes| i64::from_be_bytes(*bytes))
}

/// Row locks, spliced after a `SELECT`: PostgreSQL serialises concurrent writers by them.
const FOR_UPDATE: &str = " FOR UPDATE";
const FOR_SHARE: &str = " FOR SHARE";
const FOR_KEY_SHARE: &str = " FOR KEY SHARE";
/// A token's insert does not raise its user's session bound itself: the writer does.
const INSERT_COUNTS_ITSELF: bool = false;
/// Write transactions begin with a plain `BEGIN`.
const BEGIN_WRITE: Option<&str> = None;

fn max_connections(cores: u32) -> u32 {
    (cores * 4).max(8)
}

/// A new connection needs no settings.
async fn prepare(_conn: &mut Conn) -> sqlx::Result<()> {
    Ok(())
}

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    /// For the notification listener's own connection.
    url: String,
}

impl Store {
    /// `wait`: how long a server that does not accept connections yet is waited for.
    pub async fn connect(url: &str, shown: &str, wait: Duration) -> anyhow::Result<Store> {
        use std::str::FromStr;
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| anyhow::anyhow!("invalid database URL {shown}: {}", describe(&e)))?;
        let store = Store {
            pool: pool::open(options, shown, wait).await?,
            url: url.to_string(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Writers need no turn: PostgreSQL runs them side by side.
    async fn writer_turn(&self) -> Option<MutexGuard<'_, ()>> {
        None
    }

    /// Begins a write transaction in which the writes of one user are serialised (the session
    /// limit, the mobile refresh token): a per-user advisory lock, taken in the round trip of
    /// `BEGIN` (unlike FOR UPDATE it writes nothing to the user's row).
    async fn begin_user_write(&self, user_uuid: &str) -> StoreResult<pool::WriteTx<'_>> {
        let begin = format!(
            "BEGIN; SELECT pg_advisory_xact_lock({})",
            user_lock_key(user_uuid)
        );
        self.begin_write_with(Some(begin)).await
    }

    pub async fn notify_invalidation(&self, payload: &str) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(INVALIDATION_CHANNEL)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn follow_notifications(&self, apply: impl Fn(Option<&str>)) {
        use sqlx::postgres::PgListener;
        loop {
            let mut listener = match PgListener::connect(&self.url).await {
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

    /// A token with its checks in one statement, its own transaction (see [`issue_statement`]):
    /// `NotAdmitted` when the user's session bound is at the limit or not known (then a
    /// transaction counts exactly).
    async fn insert_token_in_one_statement(
        &self,
        row: &TokenRow<'_>,
        limit: Option<i64>,
        refresh: Option<&RefreshCheck<'_>>,
    ) -> StoreResult<Inserted> {
        use sqlx::FromRow;
        let sql = issue_statement(row.token, limit.is_some(), refresh);
        let mut query = row.bind(&sql);
        if let Some(limit) = limit {
            query = query.bind(limit);
        }
        if let Some(check) = refresh {
            query = query.bind(check.from.generation);
        }
        let written = query
            .try_map(|row| OneStatementRow::from_row(&row))
            .fetch_one(&self.pool)
            .await?;
        Ok(written.inserted())
    }

    /// A rotating grant's token in one statement, its own transaction ([`rotating_statement`]):
    /// `NotAdmitted` when the user's session bound is at the limit or not known (then a
    /// transaction counts exactly).
    async fn rotating_in_one_statement(
        &self,
        row: &TokenRow<'_>,
        limit: Option<i64>,
        (from, rotation): (&RefreshToken, &Rotation),
    ) -> StoreResult<Inserted> {
        use sqlx::FromRow;
        let sql = rotating_statement(row.token, limit.is_some());
        let written = row
            .bind_rotating(&sql, limit, from, rotation)
            .try_map(|row| OneStatementRow::from_row(&row))
            .fetch_one(&self.pool)
            .await?;
        Ok(written.inserted())
    }

    /// A client's token under its bound, in one statement: the bound raised, then the token
    /// (`$13` the limit). False: the bound is at the limit, or the client is gone.
    async fn client_token_in_one_write(
        &self,
        token: &ClientToken,
        limit: i64,
    ) -> StoreResult<bool> {
        let sql = format!(
            "WITH bound AS (UPDATE oauth2_clients SET tokens = tokens + 1 \
             WHERE client_id = $3 AND tokens < $13 AND revision = COALESCE($14, revision) \
             RETURNING 1) {}",
            oauth2_clients::client_token_insert("EXISTS (SELECT 1 FROM bound)")
        );
        let search = oauth2_clients::client_token_search(token);
        let written = oauth2_clients::bind_client_token(&sql, token, &search)
            .bind(limit)
            .bind(token.revision)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(written == 1)
    }

    /// A code's redemption and its token in one statement ([`code_token_statement`]), which
    /// writes both or neither: a second redemption waits for the first one's row lock and finds
    /// its session to end. When it wrote nothing, the code is redeemed (or refused) alone.
    pub async fn redeem_code_minting(
        &self,
        redeem: &CodeRedeem<'_>,
        token: &CodeTokenWrite<'_>,
    ) -> StoreResult<Result<CodeMinted, CodeRedemption>> {
        use sqlx::FromRow;
        let sql = code_token_statement(token.default_policy.is_some());
        let search = code_token_search(redeem, token);
        let row = bind_code_token(&sql, redeem, token, &search)
            .try_map(|row| MintedRow::from_row(&row))
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Ok(row.minted())),
            None => {
                let mut conn = self.pool.acquire().await?;
                Ok(Err(redeem_code(&mut conn, redeem).await?))
            }
        }
    }

    /// Runs a refresh grant's statement; when it wrote nothing, reads why.
    async fn run_refresh_grant(
        &self,
        sql: &str,
        grant: &RefreshGrantWrite<'_>,
    ) -> StoreResult<GrantRow> {
        if let Some(row) = bind_grant(sql, grant).fetch_optional(&self.pool).await? {
            return Ok(row);
        }
        let why = grant_refusal_statement();
        Ok(bind_grant(&why, grant).fetch_one(&self.pool).await?)
    }
}

/// Locks a user's row before a change that ends the user's sessions (PostgreSQL: `FOR UPDATE`,
/// which waits for the token inserts holding it `FOR KEY SHARE`): a login or grant in flight
/// then either wrote its token before, and the change deletes it, or waits and sees the change
/// What a token's one statement answers ([`issue_statement`], [`rotating_statement`]): whether
/// the session bound admitted it, and the token's ACL and default-policy check when written.
#[derive(sqlx::FromRow)]
struct OneStatementRow {
    admitted: bool,
    acl: Option<sqlx::types::Json<Vec<String>>>,
    default_found: Option<bool>,
}

impl OneStatementRow {
    fn inserted(self) -> Inserted {
        match (self.admitted, self.acl) {
            (_, Some(acl)) => Inserted::Yes(Written {
                acl: acl.0,
                default_found: self.default_found.unwrap_or(true),
            }),
            (true, None) => Inserted::Superseded,
            (false, None) => Inserted::NotAdmitted,
        }
    }
}

/// Redeems `client_id`'s code with this digest, presented with its proof (the PKCE challenge of
/// the verifier, the redirect URI), for session `session_uuid` (and the chain `chain_uuid` it
/// may start): once only, before it expires, only with its proof, and only while the client is at
/// the revision given ([`CODE_REDEEMABLE`]); one statement, its own transaction. A code redeemed
/// before is answered with what its first redemption recorded; another client's code, or one
/// presented without its proof, stays unused.
async fn redeem_code(conn: &mut Conn, redeem: &CodeRedeem<'_>) -> StoreResult<CodeRedemption> {
    use sqlx::FromRow;
    let sql = redeem_code_statement();
    let fresh = bind_redemption(&sql, redeem)
        .try_map(|row| AuthorizationCode::from_row(&row))
        .fetch_optional(&mut *conn)
        .await?;
    match fresh {
        Some(code) => Ok(CodeRedemption::Fresh(code)),
        None => refused_redemption(conn, redeem).await,
    }
}

/// (`user_still_enabled` in sql/issuance.rs). SQLite's writers take turns already.
async fn lock_for_change(conn: &mut Conn, uuid: &str) -> StoreResult<()> {
    sqlx::query("SELECT uuid FROM users WHERE uuid = $1 FOR UPDATE")
        .bind(crate::store::columns::Id(uuid))
        .fetch_optional(&mut *conn)
        .await?;
    Ok(())
}

/// The statement of a token with its checks, one round trip and its own transaction: the user's
/// session bound of the token's share raised if under `limit` ($16), then the refresh token
/// checked ($17 or $16 its generation), then the token. It answers whether the bound admitted it,
/// and the token's ACL and whether the default policy was found (NULL: no token written).
fn issue_statement(token: &NewToken, limit: bool, refresh: Option<&RefreshCheck>) -> String {
    let mut ctes = Vec::new();
    let mut conditions = Vec::new();
    if limit {
        let bound = token.share.bound();
        ctes.push(format!(
            "admitted AS (UPDATE session_bounds SET {bound} = {bound} + 1 \
             WHERE user_uuid = $3 AND {bound} < $16 RETURNING 1)"
        ));
        conditions.push("EXISTS (SELECT 1 FROM admitted)");
    }
    if let Some(check) = refresh {
        ctes.push(refresh_check(check, limit));
        conditions.push("EXISTS (SELECT 1 FROM current)");
    }
    // The user's row last (lock order: session bound, refresh token, user).
    let user = user_still_enabled(conditions.last().copied());
    conditions.push(&user);
    let admitted = match limit {
        true => "EXISTS (SELECT 1 FROM admitted)",
        false => "TRUE",
    };
    let insert = token_insert(token, &conditions.join(" AND "));
    ctes.push(format!("new_token AS ({insert})"));
    format!(
        "WITH {} SELECT {admitted} AS admitted, n.acl, n.default_found \
         FROM (SELECT 1) AS one LEFT JOIN new_token n ON TRUE",
        ctes.join(", ")
    )
}

/// The statement of a rotating grant's token, one round trip and its own transaction: the
/// user's session bound raised if under `limit` ($16), the user locked (`FOR KEY SHARE`) and
/// checked, the refresh token rotated from the generation read to the next (the generation, the
/// new digest and the superseded one bound after the limit), the superseded value kept, then the
/// token; nothing but the bound when a step finds nothing (the bound is an upper bound). The
/// user is locked before the refresh token here, as `update_user` and `delete_user` lock them:
/// the rotation is then written only with its token. It answers as [`issue_statement`].
fn rotating_statement(token: &NewToken, limit: bool) -> String {
    let first = if limit { 17 } else { 16 };
    let (generation, new_digest, old_digest) = (first, first + 1, first + 2);
    let mut ctes = Vec::new();
    let mut admitted = "TRUE";
    let mut after_bound = "";
    if limit {
        let bound = token.share.bound();
        ctes.push(format!(
            "admitted AS (UPDATE session_bounds SET {bound} = {bound} + 1 \
             WHERE user_uuid = $3 AND {bound} < $16 RETURNING 1)"
        ));
        admitted = "EXISTS (SELECT 1 FROM admitted)";
        after_bound = " AND EXISTS (SELECT 1 FROM admitted)";
    }
    ctes.push(format!(
        "u AS (SELECT 1 FROM users WHERE uuid = $3 AND enabled = TRUE{after_bound} FOR KEY SHARE)"
    ));
    ctes.push(format!(
        "rotated AS (UPDATE refresh_tokens SET digest = ${new_digest}, \
         generation = generation + 1, sealed = NULL, used_at = $6 \
         WHERE uuid = $13 AND generation = ${generation} AND EXISTS (SELECT 1 FROM u) RETURNING 1)"
    ));
    ctes.push(format!(
        "superseded AS (INSERT INTO superseded_refresh_tokens (digest, refresh_token_uuid, \
         generation, superseded_at) SELECT ${old_digest}, $13, ${generation}, $6 FROM rotated)"
    ));
    let insert = token_insert(token, "EXISTS (SELECT 1 FROM rotated)");
    ctes.push(format!("new_token AS ({insert})"));
    format!(
        "WITH {} SELECT {admitted} AS admitted, n.acl, n.default_found \
         FROM (SELECT 1) AS one LEFT JOIN new_token n ON TRUE",
        ctes.join(", ")
    )
}

/// The `current` step of [`issue_statement`]: the grant's refresh token at the generation read
/// ($17, or $16 without a session limit), marked used or only locked.
fn refresh_check(check: &RefreshCheck, limit: bool) -> String {
    let generation = if limit { "$17" } else { "$16" };
    // After the bound, never before: locks are taken in one order (no deadlock).
    let after_bound = if limit {
        " AND EXISTS (SELECT 1 FROM admitted)"
    } else {
        ""
    };
    match check.mark_used {
        true => format!(
            "current AS (UPDATE refresh_tokens SET used_at = $6 WHERE uuid = $13 \
             AND generation = {generation}{after_bound} RETURNING 1)"
        ),
        false => format!(
            "current AS (SELECT 1 FROM refresh_tokens WHERE uuid = $13 \
             AND generation = {generation}{after_bound} FOR KEY SHARE)"
        ),
    }
}

/// The ACL of a new token, the one expression every token insert uses: the default policy's
/// entries (`default_acl`, an SQL expression, NULL for none), then the user's (`user_acl`:
/// `users.acl`, their policies' entries in attachment order, which the triggers of migrations
/// 0010 and 0015 keep joined): two `jsonb` arrays, one after the other.
fn token_acl(default_acl: Option<&str>, user_acl: &str) -> String {
    match default_acl {
        None => user_acl.to_string(),
        Some(default) => format!("(COALESCE({default}, '[]'::jsonb) || {user_acl})"),
    }
}

/// The one statement of a refresh grant (`$1`–`$18`, see `bind_grant` in sql/issuance.rs). It
/// writes the token when the refresh token with digest `$1` is `$2`'s, unexpired, of an enabled
/// user with room under its session bound; when it answers no row, [`grant_refusal_statement`]
/// says why. The ACL is the one of every token ([`token_acl`]); the metadata as
/// [`TokenMetadata`](crate::store::TokenMetadata) has it. The refresh token's use is written only
/// when the recorded one is older than `$13` (otherwise the update has no row to look up).
///
/// The token counts in the grants' share of the session cap ([`SessionShare::Grants`]): its
/// bound is the one raised, only for a grant whose conditions held as read (`r0` holds no row
/// otherwise), and the token is written with `refresh_grant` true. The user's session bound is
/// raised first, then the refresh token and the user are locked (`FOR KEY SHARE`: the lock order
/// of every token write, see [`issue_statement`]), and the conditions checked again under those
/// locks. The refusal is read by a second statement rather than answered by this one: answering it
/// here (a row whatever happened, the conditions as columns) cost PostgreSQL measurably more CPU
/// per grant (docs/performance.md, "Before and after the store redesign").
fn refresh_grant_statement(default_policy: bool) -> String {
    let (default_acl, default_found) = grant_default_acl(default_policy);
    let bound = SessionShare::Grants.bound();
    let acl = token_acl(default_acl, "g.user_acl");
    format!(
        "WITH r0 AS (SELECT r.uuid, r.user_uuid, u.purpose IN ($16, $17) AS limited \
         FROM refresh_tokens r JOIN users u ON u.uuid = r.user_uuid \
         WHERE r.digest = $1 AND r.client_id = $2 AND r.oauth2 = FALSE AND u.enabled = TRUE \
         AND r.used_at > $11 AND r.created_at > $12), \
         admitted AS (UPDATE session_bounds SET {bound} = {bound} + 1 \
         WHERE user_uuid = (SELECT user_uuid FROM r0 WHERE limited) AND {bound} < $14 \
         RETURNING 1), \
         g AS (SELECT r.uuid, r.user_uuid, r.client_id, r.scope, r.used_at, u.tenant_uuid, \
         u.purpose, u.acl AS user_acl \
         FROM refresh_tokens r JOIN users u ON u.uuid = r.user_uuid \
         WHERE r.uuid = (SELECT uuid FROM r0) AND r.digest = $1 \
         AND u.enabled = TRUE AND r.used_at > $11 AND r.created_at > $12 \
         AND (u.purpose NOT IN ($16, $17) OR EXISTS (SELECT 1 FROM admitted)) \
         FOR KEY SHARE OF r, u), \
         used AS (UPDATE refresh_tokens SET used_at = $3 \
         WHERE uuid = (SELECT g.uuid FROM g WHERE g.used_at <= $13) AND used_at <= $13 \
         RETURNING 1), \
         new_token AS (INSERT INTO tokens ({TOKEN_COLUMNS}) \
         SELECT $5, $6, g.user_uuid, g.tenant_uuid, $7, $3, $4, {acl}, \
         jsonb_build_object('auth_id', g.user_uuid, \
         'pbx_user_uuid', CASE WHEN g.purpose = 'user' THEN g.user_uuid END, \
         'purpose', g.purpose, 'tenant_uuid', g.tenant_uuid, 'uuid', g.user_uuid, \
         'xivo_uuid', CAST($15 AS TEXT)), \
         $8, $9, g.client_id, g.uuid, g.scope, $10, TRUE FROM g \
         RETURNING auth_id, acl, metadata, scope) \
         SELECT auth_id, acl, metadata, scope, {default_found} AS default_found, \
         NULL AS refused FROM new_token"
    )
}

/// A code's redemption with its token ([`CodeTokenWrite`]; `$1`–`$21`, see `bind_code_token` in
/// sql/oauth2_authorizations.rs), one statement and its own transaction, in the lock order of
/// every token write (the session bound, then the user), the code's row last: the code is read,
/// its user's logins bound raised (for a limited purpose), the user locked (`FOR KEY SHARE`) and
/// checked again, then the code redeemed and the token written, or neither (the bound may stay
/// raised: it is an upper bound). The token's scope is the code's less the values `$21` drops.
fn code_token_statement(default_policy: bool) -> String {
    let default_acl =
        default_policy.then_some("(SELECT acl FROM policies WHERE name = $18 LIMIT 1)");
    let acl = token_acl(default_acl, "g.acl");
    let found = default_found(default_policy, "$18");
    let bound = SessionShare::Logins.bound();
    format!(
        "WITH c0 AS (SELECT user_uuid FROM oauth2_codes WHERE {CODE_REDEEMABLE} \
         AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(scope) AS v(value) \
         WHERE v.value = $20)), \
         u0 AS (SELECT uuid, purpose IN ($16, $17) AS limited FROM users \
         WHERE uuid = (SELECT user_uuid FROM c0) AND enabled = TRUE), \
         admitted AS (UPDATE session_bounds SET {bound} = {bound} + 1 \
         WHERE user_uuid = (SELECT uuid FROM u0 WHERE limited) AND {bound} < $15 RETURNING 1), \
         g AS (SELECT uuid, tenant_uuid, purpose, acl FROM users \
         WHERE uuid = (SELECT uuid FROM u0) AND enabled = TRUE \
         AND (purpose NOT IN ($16, $17) OR EXISTS (SELECT 1 FROM admitted)) FOR KEY SHARE), \
         code AS (UPDATE oauth2_codes SET session_uuid = $2, refresh_uuid = $5 \
         WHERE {CODE_REDEEMABLE} AND user_uuid = (SELECT uuid FROM g) \
         RETURNING {CODE_COLUMNS}), \
         new_token AS (INSERT INTO tokens ({TOKEN_COLUMNS}) \
         SELECT $9, $10, g.uuid, g.tenant_uuid, FALSE, $3, $11, {acl}, \
         jsonb_build_object('auth_id', g.uuid, \
         'pbx_user_uuid', CASE WHEN g.purpose = 'user' THEN g.uuid END, \
         'purpose', g.purpose, 'tenant_uuid', g.tenant_uuid, 'uuid', g.uuid, \
         'xivo_uuid', CAST($19 AS TEXT)), \
         $12, $13, CAST(code.client_id AS TEXT), NULL, \
         (SELECT COALESCE(jsonb_agg(e.value ORDER BY e.n), '[]'::jsonb) \
         FROM jsonb_array_elements_text(code.scope) WITH ORDINALITY AS e(value, n) \
         WHERE e.value NOT IN (SELECT jsonb_array_elements_text($21))), \
         $14, FALSE FROM g, code RETURNING 1) \
         SELECT {CODE_COLUMNS}, {found} AS default_found FROM code \
         WHERE EXISTS (SELECT 1 FROM new_token)"
    )
}
