//! Sessions, access tokens (by digest) and refresh tokens (by digest).

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row, Transaction};

use super::failures::HOLDS_BACK;
use super::lists::{ListParams, ListQuery, Page};
use super::policies::acl_parts_columns;
use super::users::{user_from_row, USER_COLUMNS};
use super::{
    placeholders_from, search_text, AclParts, Backend, Store, StoreError, StoreResult, User,
};

/// A live access token, as read back for validation.
#[derive(Clone, Debug)]
pub struct TokenRecord {
    pub session_uuid: String,
    pub auth_id: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub acl: Vec<String>,
    pub metadata: TokenMetadata,
    pub remote_addr: String,
    pub user_agent: String,
    /// The scope of the refresh token it was minted under (SPEC §9); `None`: unlimited.
    pub scope: Option<Vec<String>>,
}

/// What a token says of its user, fixed when it is issued (stored as JSON). Fields in
/// alphabetical order, as the first version wrote them.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TokenMetadata {
    pub auth_id: String,
    pub pbx_user_uuid: Option<String>,
    pub purpose: String,
    pub tenant_uuid: String,
    pub uuid: String,
    pub xivo_uuid: Option<String>,
}

#[derive(Clone, Debug)]
pub struct RefreshToken {
    pub uuid: String,
    pub client_id: String,
    pub user_uuid: String,
    pub tenant_uuid: String,
    pub mobile: bool,
    pub created_at: i64,
    /// The value sealed under the current key, after a rotation of the secret (else derived).
    pub sealed: Option<Vec<u8>>,
    /// `None`: unlimited.
    pub scope: Option<Vec<String>>,
    /// Times the value was rotated.
    pub generation: i64,
    /// The last offline login or refresh grant that used it.
    pub used_at: i64,
}

/// A superseded value of a rotating refresh token: its chain (the refresh token as it is now),
/// when the value was superseded and its generation (its successor's is one more).
#[derive(Clone, Debug)]
pub struct SupersededValue {
    pub chain: RefreshToken,
    pub superseded_at: i64,
    pub generation: i64,
}

/// Refresh tokens last used at or before `idle`, or created at or before `max`, have expired
/// (`i64::MIN`: no such limit).
#[derive(Clone, Copy, Debug)]
pub struct RefreshCutoffs {
    pub idle: i64,
    pub max: i64,
}

#[derive(Clone, Debug)]
pub struct Session {
    pub uuid: String,
    pub user_uuid: String,
    pub tenant_uuid: String,
    pub mobile: bool,
    pub created_at: i64,
    pub user_agent: String,
    pub remote_addr: String,
    pub client_id: Option<String>,
}

/// An offline login: find or create the (user, client_id) refresh token.
pub struct OfflineGrant {
    /// Uuid and value digest to use if a new refresh token is created.
    pub new_uuid: String,
    pub new_digest: Vec<u8>,
    pub client_id: String,
    pub login: String,
    /// The scope the refresh token gets (a second login sets it too); `None`: unlimited.
    pub scope: Option<Vec<String>>,
    /// When lifetimes apply: an expired (user, client_id) refresh token is replaced, not reused.
    pub expired: Option<RefreshCutoffs>,
}

/// A refresh grant that rotates: the value of `from_generation` (`old_digest`) is superseded by
/// the next (`new_digest`), unless another grant superseded it first.
pub struct Rotation {
    pub from_generation: i64,
    pub old_digest: Vec<u8>,
    pub new_digest: Vec<u8>,
}

/// Everything written when a token is issued, in one transaction.
pub struct IssueRequest {
    pub token_digest: Vec<u8>,
    pub session_uuid: String,
    pub user_uuid: String,
    pub tenant_uuid: String,
    pub mobile: bool,
    pub issued_at: i64,
    pub expires_at: i64,
    pub acl: Vec<String>,
    pub metadata: TokenMetadata,
    pub remote_addr: String,
    pub user_agent: String,
    /// The token's scope (SPEC §9); `None`: unlimited.
    pub scope: Option<Vec<String>>,
    /// The refresh token a refresh grant used.
    pub from_refresh_token: Option<RefreshToken>,
    /// Set when that grant rotates the refresh token.
    pub rotation: Option<Rotation>,
    pub offline: Option<OfflineGrant>,
    /// The share of the session cap the token counts in.
    pub session_share: SessionShare,
    /// Live sessions of that share the user may already hold; `None`: unlimited.
    pub session_limit: Option<i64>,
    /// Whether a refresh grant rewrites its refresh token's `used_at` (else only checks it).
    pub mark_refresh_token_used: bool,
}

pub struct IssuedToken {
    /// The refresh token row created or found by an offline login.
    pub refresh_token: Option<RefreshToken>,
    pub sessions_revoked: u64,
}

/// What [`Store::issue_token`] did.
pub enum Issue {
    Issued(IssuedToken),
    /// The user is at its session limit: nothing written.
    SessionLimit,
    /// The refresh token of the grant changed since it was read (another grant rotated it, or it
    /// was deleted), or its user was disabled or deleted: nothing written; read them again.
    Superseded,
}

const REFRESH_COLUMNS: &str =
    "uuid, client_id, user_uuid, tenant_uuid, mobile, created_at, sealed, scope, generation, used_at";
pub const REFRESH_ORDER: &[&str] = &["created_at", "client_id", "mobile"];
const SESSION_COLUMNS: &str =
    "uuid, user_uuid, tenant_uuid, mobile, created_at, user_agent, remote_addr, client_id";
pub const SESSION_ORDER: &[&str] = &["created_at", "mobile", "uuid", "user_uuid"];

fn refresh_from_row(row: &AnyRow) -> StoreResult<RefreshToken> {
    refresh_from_columns(row, &REFRESH_NAMES)
}

/// The columns of a refresh-token row, by name: as stored, or as the joined grant read renames them.
type RefreshNames = [&'static str; 10];
const REFRESH_NAMES: RefreshNames = [
    "uuid",
    "client_id",
    "user_uuid",
    "tenant_uuid",
    "mobile",
    "created_at",
    "sealed",
    "scope",
    "generation",
    "used_at",
];
const GRANT_REFRESH_NAMES: RefreshNames = [
    "r_uuid",
    "r_client_id",
    "r_user_uuid",
    "r_tenant_uuid",
    "r_mobile",
    "r_created_at",
    "r_sealed",
    "r_scope",
    "r_generation",
    "r_used_at",
];

fn refresh_from_columns(row: &AnyRow, names: &RefreshNames) -> StoreResult<RefreshToken> {
    let [uuid, client_id, user_uuid, tenant_uuid, mobile, created_at, sealed, scope, generation, used_at] =
        *names;
    Ok(RefreshToken {
        uuid: row.try_get(uuid)?,
        client_id: row.try_get(client_id)?,
        user_uuid: row.try_get(user_uuid)?,
        tenant_uuid: row.try_get(tenant_uuid)?,
        mobile: super::flag(row, mobile)?,
        created_at: row.try_get(created_at)?,
        sealed: row.try_get(sealed)?,
        scope: scope_from_json(row.try_get(scope)?)?,
        generation: row.try_get(generation)?,
        used_at: row.try_get(used_at)?,
    })
}

/// The refresh token columns of [`Store::find_refresh_grant`], renamed beside the user's.
const GRANT_REFRESH_COLUMNS: &str = "r.uuid AS r_uuid, r.client_id AS r_client_id, \
     r.user_uuid AS r_user_uuid, r.tenant_uuid AS r_tenant_uuid, r.mobile AS r_mobile, \
     r.created_at AS r_created_at, r.sealed AS r_sealed, r.scope AS r_scope, \
     r.generation AS r_generation, r.used_at AS r_used_at";

/// What [`Store::find_refresh_grant`] read: the grant, if the value is a current one, and the
/// throttle's hold-back of the grant's address.
pub struct RefreshGrantRead {
    pub held_until: Option<i64>,
    pub grant: Option<RefreshGrant>,
}

/// A refresh token found by its value, with its user (if any) and what a token of that user's
/// ACL is made of, read in one statement.
pub struct RefreshGrant {
    pub refresh: RefreshToken,
    pub user: Option<User>,
    pub acl: AclParts,
}

/// A scope column: a JSON list, or NULL for unlimited.
fn scope_from_json(text: Option<String>) -> StoreResult<Option<Vec<String>>> {
    text.map(|text| serde_json::from_str(&text).map_err(json_error))
        .transpose()
}

fn scope_to_json(scope: &Option<Vec<String>>) -> StoreResult<Option<String>> {
    scope
        .as_ref()
        .map(|scope| serde_json::to_string(scope).map_err(json_error))
        .transpose()
}

fn session_from_row(row: &AnyRow) -> StoreResult<Session> {
    Ok(Session {
        uuid: row.try_get("uuid")?,
        user_uuid: row.try_get("user_uuid")?,
        tenant_uuid: row.try_get("tenant_uuid")?,
        mobile: super::flag(row, "mobile")?,
        created_at: row.try_get("created_at")?,
        user_agent: row.try_get("user_agent")?,
        remote_addr: row.try_get("remote_addr")?,
        client_id: row.try_get("client_id")?,
    })
}

fn json_error(error: serde_json::Error) -> StoreError {
    StoreError::Other(error.to_string())
}

/// Ends the sessions of every token minted from a refresh token, then deletes the refresh token.
/// Returns the number of sessions ended.
async fn purge_refresh_token(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    uuid: &str,
) -> StoreResult<u64> {
    // Locked first (PostgreSQL): a grant minting from it meanwhile holds it FOR KEY SHARE, so it
    // either commits before (its session is ended here) or finds it gone, never leaves a session
    // the deletion missed.
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let user: Option<String> = sqlx::query_scalar(&format!(
        "SELECT user_uuid FROM refresh_tokens WHERE uuid = $1{lock}"
    ))
    .bind(uuid)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(user) = user else { return Ok(0) };
    // Through the user's index: a refresh token's tokens are all its user's.
    let ended = sqlx::query("DELETE FROM tokens WHERE auth_id = $1 AND refresh_token_uuid = $2")
        .bind(&user)
        .bind(uuid)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM refresh_tokens WHERE uuid = $1")
        .bind(uuid)
        .execute(&mut **tx)
        .await?;
    Ok(ended)
}

/// Supersedes the value of a rotating grant's refresh token (its digest is kept, for as long as
/// the chain lives) and marks it used (for the idle lifetime), conditional on the generation read: of concurrent grants presenting one value, one
/// rotates it (PostgreSQL's row lock makes the others wait, then match nothing; SQLite runs one
/// writer at a time). False: it changed since it was read (rotated by another grant, or
/// deleted); nothing was written. (A grant that does not rotate is marked in `insert_issued`.)
async fn rotate_refresh_token(
    tx: &mut Transaction<'static, Any>,
    from: &RefreshToken,
    rotation: &Rotation,
    now: i64,
) -> StoreResult<bool> {
    let rotated = sqlx::query(
        "UPDATE refresh_tokens SET digest = $3, generation = generation + 1, sealed = NULL, \
         used_at = $4 WHERE uuid = $1 AND generation = $2",
    )
    .bind(&from.uuid)
    .bind(rotation.from_generation)
    .bind(&rotation.new_digest)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if rotated != 1 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO superseded_refresh_tokens (digest, refresh_token_uuid, generation, \
         superseded_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&rotation.old_digest)
    .bind(&from.uuid)
    .bind(rotation.from_generation)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    // Every superseded value is kept while its chain lives (a forgotten one would be merely
    // unknown, and its replay would revoke nothing): they go with the chain, by the foreign key's
    // cascade, when it is deleted, expires or is purged, or its user is deleted.
    Ok(true)
}

/// What writing a token did.
enum Inserted {
    Yes,
    /// The user is at its session limit.
    SessionLimit,
    /// The refresh token of the grant changed since it was read, or the user was disabled:
    /// read them again.
    Superseded,
    /// PostgreSQL's one-statement write only: the user's session bound is at the limit, or not
    /// known; nothing was written: count exactly ([`admit`]).
    NotAdmitted,
}

/// A token row's values, bound as $1–$15 in the order of [`SessionShare::token_insert`].
struct TokenRow<'a> {
    request: &'a IssueRequest,
    acl: String,
    metadata: String,
    scope: Option<String>,
    search: String,
    client_id: Option<&'a str>,
    refresh_uuid: Option<&'a str>,
}

/// What makes the token with digest `$1` live at `$2` (microseconds): the one condition of every
/// validation's read (a `concat!` piece, so that the statements stay static strings).
macro_rules! live_token {
    () => {
        "digest = $1 AND expires_at > $2"
    };
}

/// The columns of a token row, in the order every insert gives them (a macro, for `concat!`); the
/// last, `refresh_grant`, is the token's share of the session cap, written as a literal.
macro_rules! token_columns {
    () => {
        "digest, session_uuid, auth_id, tenant_uuid, mobile, issued_at, expires_at, acl, metadata, \
         remote_addr, user_agent, client_id, refresh_token_uuid, scope, search_text, refresh_grant"
    };
}
const TOKEN_COLUMNS: &str = token_columns!();
macro_rules! token_insert {
    ($share:literal) => {
        concat!(
            "INSERT INTO tokens (",
            token_columns!(),
            ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, ",
            $share
        )
    };
}

/// The share of the session cap (`max_user_concurrent_sessions`) a session counts in, as the
/// domain decides (`Tokens::issue`): the sessions a password login opened (online or offline), or
/// those a refresh grant minted. Each share is bounded by the cap on its own (its column of
/// `session_bounds`, its rows of `tokens` by `refresh_grant`; migration 0013), so that grants
/// never take a password login's room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionShare {
    Logins,
    Grants,
}

impl SessionShare {
    /// Its column of `session_bounds`.
    fn bound(self) -> &'static str {
        match self {
            SessionShare::Logins => "logins",
            SessionShare::Grants => "grants",
        }
    }

    fn other(self) -> SessionShare {
        match self {
            SessionShare::Logins => SessionShare::Grants,
            SessionShare::Grants => SessionShare::Logins,
        }
    }

    /// Its rows of `tokens` (a condition).
    fn rows(self) -> &'static str {
        match self {
            SessionShare::Logins => "NOT refresh_grant",
            SessionShare::Grants => "refresh_grant",
        }
    }

    /// The insert of a token of this share (its values `$1`–`$15`, see [`TokenRow`]).
    fn token_insert(self) -> &'static str {
        match self {
            SessionShare::Logins => token_insert!("FALSE"),
            SessionShare::Grants => token_insert!("TRUE"),
        }
    }
}

/// The condition of every token insert: its user ($3) still enabled. On PostgreSQL the user's row
/// is locked (`FOR KEY SHARE`, which the foreign key takes anyway) after `after` (the checks whose
/// locks come first), and a change of the user in flight is waited for: `update_user` and
/// `set_password` lock the row `FOR UPDATE` before they end the user's sessions, so each token is
/// either written before (and ended by them) or checked after them. On SQLite the writers take
/// turns, and the check reads what the last one committed.
fn user_still_enabled(backend: Backend, after: Option<&str>) -> String {
    let after = after.map_or(String::new(), |check| format!(" AND {check}"));
    let lock = match backend {
        Backend::Postgres => " FOR KEY SHARE",
        Backend::Sqlite => "",
    };
    format!("EXISTS (SELECT 1 FROM users WHERE uuid = $3 AND enabled = TRUE{after}{lock})")
}

impl<'a> TokenRow<'a> {
    fn new(
        request: &'a IssueRequest,
        refresh_uuid: Option<&'a str>,
        client_id: Option<&'a str>,
    ) -> StoreResult<Self> {
        Ok(TokenRow {
            request,
            acl: serde_json::to_string(&request.acl).map_err(json_error)?,
            metadata: serde_json::to_string(&request.metadata).map_err(json_error)?,
            scope: scope_to_json(&request.scope)?,
            search: search_text(&[
                Some(&request.user_agent),
                Some(&request.remote_addr),
                client_id,
            ]),
            client_id,
            refresh_uuid,
        })
    }

    fn bind<'q>(&'q self, sql: &'q str) -> Query<'q, Any, AnyArguments<'q>> {
        let r = self.request;
        sqlx::query(sql)
            .bind(&r.token_digest)
            .bind(&r.session_uuid)
            .bind(&r.user_uuid)
            .bind(&r.tenant_uuid)
            .bind(r.mobile)
            .bind(r.issued_at)
            .bind(r.expires_at)
            .bind(&self.acl)
            .bind(&self.metadata)
            .bind(&r.remote_addr)
            .bind(&r.user_agent)
            .bind(self.client_id)
            .bind(self.refresh_uuid)
            .bind(&self.scope)
            .bind(&self.search)
    }
}

/// A grant's refresh token, checked (and on PostgreSQL locked) when the token is written: still
/// there, at `generation` (the one read: a grant answering a superseded value within the grace
/// answers its successor only while that is still the chain's current value, SPEC §10); marked
/// used when `mark_used`, else only locked (FOR KEY SHARE, which a deletion waits for), so that a
/// grant usually writes nothing to the refresh token's row.
struct RefreshCheck<'a> {
    from: &'a RefreshToken,
    generation: i64,
    mark_used: bool,
}

/// The PostgreSQL statement of a token with its checks, one round trip and its own transaction:
/// the user's session bound of the token's `share` raised if under `limit` ($16), then the refresh token checked ($17 or
/// $16 its generation), then the token. It answers whether the bound admitted it and whether the
/// token was written.
fn pg_issue_statement(share: SessionShare, limit: bool, refresh: Option<&RefreshCheck>) -> String {
    let mut ctes = Vec::new();
    let mut conditions = Vec::new();
    if limit {
        let bound = share.bound();
        ctes.push(format!(
            "admitted AS (UPDATE session_bounds SET {bound} = {bound} + 1 \
             WHERE user_uuid = $3 AND {bound} < $16 RETURNING 1)"
        ));
        conditions.push("EXISTS (SELECT 1 FROM admitted)");
    }
    if let Some(check) = refresh {
        let generation = if limit { "$17" } else { "$16" };
        // After the bound, never before: locks are taken in one order (no deadlock).
        let after_bound = if limit {
            " AND EXISTS (SELECT 1 FROM admitted)"
        } else {
            ""
        };
        ctes.push(match check.mark_used {
            true => format!(
                "current AS (UPDATE refresh_tokens SET used_at = $6 WHERE uuid = $13 \
                 AND generation = {generation}{after_bound} RETURNING 1)"
            ),
            false => format!(
                "current AS (SELECT 1 FROM refresh_tokens WHERE uuid = $13 \
                 AND generation = {generation}{after_bound} FOR KEY SHARE)"
            ),
        });
        conditions.push("EXISTS (SELECT 1 FROM current)");
    }
    // The user's row last (lock order: session bound, refresh token, user).
    let user = user_still_enabled(Backend::Postgres, conditions.last().copied());
    conditions.push(&user);
    let filter = format!(" WHERE {}", conditions.join(" AND "));
    let admitted = match limit {
        true => "EXISTS (SELECT 1 FROM admitted)",
        false => "TRUE",
    };
    let insert = share.token_insert();
    ctes.push(format!("new_token AS ({insert}{filter} RETURNING 1)"));
    format!(
        "WITH {} SELECT {admitted} AS admitted, EXISTS (SELECT 1 FROM new_token) AS issued",
        ctes.join(", ")
    )
}

/// Whether the user may open one more session of `share` under `limit`, in the caller's
/// transaction: the user's session bound of that share (an upper bound of their live sessions of
/// it, migrations 0008 and 0013) is raised while it is under the limit; at the limit, or when
/// it is not known yet (no row, or NULL), the live sessions of the share are counted exactly
/// under the bound's row lock, and the bound becomes that count plus this one.
async fn admit(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    user_uuid: &str,
    share: SessionShare,
    limit: i64,
    now: i64,
) -> StoreResult<bool> {
    let bound = share.bound();
    // On SQLite the token's insert raises the bound (its trigger, migration 0013): only checked here.
    let raise = match backend {
        Backend::Postgres => format!(
            "UPDATE session_bounds SET {bound} = {bound} + 1 WHERE user_uuid = $1 AND {bound} < $2"
        ),
        Backend::Sqlite => format!(
            "UPDATE session_bounds SET {bound} = {bound} WHERE user_uuid = $1 AND {bound} < $2"
        ),
    };
    let raised = sqlx::query(&raise)
        .bind(user_uuid)
        .bind(limit)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if raised == 1 {
        return Ok(true);
    }
    sqlx::query(
        "INSERT INTO session_bounds (user_uuid) VALUES ($1) ON CONFLICT (user_uuid) DO NOTHING",
    )
    .bind(user_uuid)
    .execute(&mut *conn)
    .await?;
    // On PostgreSQL each statement takes a new snapshot: the counts below see every token
    // committed by a write that held this lock before.
    let other = share.other().bound();
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let other_bound: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT {other} FROM session_bounds WHERE user_uuid = $1{lock}"
    ))
    .bind(user_uuid)
    .fetch_optional(&mut *conn)
    .await?
    // (Gone: a change of the user dropped it meanwhile; the update below then writes nothing.)
    .flatten();
    let live = live_sessions(conn, user_uuid, share, now, limit).await?;
    if live >= limit {
        return Ok(false);
    }
    // Expired tokens never come back: the live ones and this one bound the user from now on
    // (on SQLite the insert adds this one).
    let count = match backend {
        Backend::Postgres => live.saturating_add(1),
        Backend::Sqlite => live,
    };
    // The other share's bound too, when it is not known yet (a new row): so that the next
    // session of that share (say the first grant after an offline login) is one statement.
    let other_count = match other_bound {
        Some(known) => known,
        None => live_sessions(conn, user_uuid, share.other(), now, limit).await?,
    };
    sqlx::query(&format!(
        "UPDATE session_bounds SET {bound} = $2, {other} = $3 WHERE user_uuid = $1"
    ))
    .bind(user_uuid)
    .bind(count)
    .bind(other_count)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// The user's live sessions of `share`, counted up to `limit` (a user's thousands of tokens cost
/// no more than that).
async fn live_sessions(
    conn: &mut sqlx::AnyConnection,
    user_uuid: &str,
    share: SessionShare,
    now: i64,
    limit: i64,
) -> StoreResult<i64> {
    let rows = share.rows();
    Ok(sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM tokens WHERE auth_id = $1 AND expires_at > $2 \
         AND {rows} LIMIT $3) AS live"
    ))
    .bind(user_uuid)
    .bind(now)
    .bind(limit)
    .fetch_one(&mut *conn)
    .await?)
}

/// Writes a token in the caller's transaction, after its checks: the session limit (`limit`)
/// and the grant's refresh token (`refresh`). Nothing is written unless it answers `Yes` (the
/// caller rolls back otherwise).
async fn insert_token(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    row: &TokenRow<'_>,
    limit: Option<i64>,
    refresh: Option<&RefreshCheck<'_>>,
) -> StoreResult<Inserted> {
    let request = row.request;
    let share = request.session_share;
    if let Some(limit) = limit {
        if !admit(
            conn,
            backend,
            &request.user_uuid,
            share,
            limit,
            request.issued_at,
        )
        .await?
        {
            return Ok(Inserted::SessionLimit);
        }
    }
    let insert = share.token_insert();
    let sql = match refresh {
        None => format!("{insert} WHERE {}", user_still_enabled(backend, None)),
        Some(check) if check.mark_used => {
            let marked = sqlx::query(
                "UPDATE refresh_tokens SET used_at = $2 WHERE uuid = $1 AND generation = $3",
            )
            .bind(&check.from.uuid)
            .bind(request.issued_at)
            .bind(check.generation)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if marked != 1 {
                return Ok(Inserted::Superseded);
            }
            format!("{insert} WHERE {}", user_still_enabled(backend, None))
        }
        Some(_) => {
            let lock = match backend {
                Backend::Postgres => " FOR KEY SHARE",
                Backend::Sqlite => "",
            };
            // The refresh token inside the user's check: its lock is taken first.
            let current = format!(
                "EXISTS (SELECT 1 FROM refresh_tokens WHERE uuid = $13 \
                 AND generation = $16{lock})"
            );
            format!(
                "{insert} WHERE {}",
                user_still_enabled(backend, Some(&current))
            )
        }
    };
    let mut query = row.bind(&sql);
    if let Some(check) = refresh.filter(|check| !check.mark_used) {
        query = query.bind(check.generation);
    }
    match query.execute(&mut *conn).await?.rows_affected() {
        1 => Ok(Inserted::Yes),
        _ => Ok(Inserted::Superseded),
    }
}

/// The purposes of the users whose live sessions are limited (`max_user_concurrent_sessions`).
pub const LIMITED_PURPOSES: [&str; 2] = ["user", "external_api"];

/// A refresh grant written in one statement (SQL of [`refresh_grant_statement`]): the current
/// refresh token with this digest and client, unexpired, of an enabled user, from an address not
/// held back, with room under the user's session bound, mints a token with the user's ACL and
/// the refresh token's scope; the refresh token is marked used. Anything else writes nothing.
pub struct RefreshGrantWrite<'a> {
    pub refresh_digest: &'a [u8],
    pub client_id: &'a str,
    pub token_digest: Vec<u8>,
    pub session_uuid: &'a str,
    pub mobile: bool,
    pub issued_at: i64,
    pub expires_at: i64,
    pub remote_addr: &'a str,
    pub user_agent: &'a str,
    /// `None`: refresh tokens do not expire.
    pub cutoffs: Option<RefreshCutoffs>,
    /// A `used_at` at or before this is worth rewriting (PostgreSQL; SQLite's trigger always does).
    pub used_before: i64,
    /// Live sessions of the grants' share the user may already hold (limited purposes only).
    pub session_limit: i64,
    pub default_policy: Option<&'a str>,
    pub xivo_uuid: Option<&'a str>,
    /// The throttle keys whose hold-back refuses the grant.
    pub held_keys: &'a [String],
}

/// What the statement of a [`RefreshGrantWrite`] wrote.
pub struct RefreshGranted {
    pub auth_id: String,
    pub acl: Vec<String>,
    pub metadata: TokenMetadata,
    pub scope: Option<Vec<String>>,
}

/// The ACL of a new token as JSON text: the default policy's entries (`default_acl`, an SQL
/// expression, NULL for none), then the user's (`user_acl`: `users.acl`, their policies' entries
/// in attachment order, which migration 0010's triggers keep joined). Both are JSON arrays, so
/// they are joined as text. Copying the column instead of joining and sorting the user's policies
/// in every grant saves about 70 µs of PostgreSQL CPU per grant (pgbench, README "Performance").
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

/// The one statement of a refresh grant (`$1`–`$17`, then the default policy's name and the held
/// keys). It is the rules of the grant read in the domain (`Tokens::redeem`, `Tokens::issue`),
/// written as conditions: where one is not met nothing is written, and the domain's read tells
/// why. The ACL is the default policy's entries, then the user's policies' in their order (kept
/// joined in `users.acl`, see [`token_acl`]); the metadata as [`TokenMetadata`] has it. The
/// refresh token's use is written only when the recorded one is older than `$13` (PostgreSQL:
/// otherwise the update has no row to look up).
///
/// The token counts in the grants' share of the session cap ([`SessionShare::Grants`]): its
/// bound is the one raised or checked, and the token is written with `refresh_grant` true.
///
/// PostgreSQL: the user's session bound is raised first, then the refresh token and the user are
/// locked (`FOR KEY SHARE`: the lock order of every token write, see `pg_issue_statement`).
/// SQLite (writers take turns): one `INSERT … SELECT`; its trigger (migration 0013) counts the
/// token in the bound and marks the refresh token used.
fn refresh_grant_statement(backend: Backend, default_policy: bool, held_keys: usize) -> String {
    let (default_acl, default_exists) = match default_policy {
        true => (
            Some("(SELECT acl FROM policies WHERE name = $18 LIMIT 1)"),
            "EXISTS (SELECT 1 FROM policies WHERE name = $18)",
        ),
        false => (None, "TRUE"),
    };
    let first_key = if default_policy { 19 } else { 18 };
    let held = match held_keys {
        0 => "TRUE".to_string(),
        n => format!(
            "NOT EXISTS (SELECT 1 FROM login_failures WHERE key IN ({}) \
             AND {HOLDS_BACK} AND blocked_until > $3)",
            placeholders_from(first_key, n)
        ),
    };
    let bound = SessionShare::Grants.bound();
    match backend {
        Backend::Postgres => {
            let acl = token_acl(default_acl, "g.user_acl");
            format!(
                "WITH r0 AS (SELECT r.uuid, r.user_uuid, u.purpose IN ($16, $17) AS limited \
                 FROM refresh_tokens r JOIN users u ON u.uuid = r.user_uuid \
                 WHERE r.digest = $1 AND r.client_id = $2), \
                 admitted AS (UPDATE session_bounds SET {bound} = {bound} + 1 \
                 WHERE user_uuid = (SELECT user_uuid FROM r0 WHERE limited) AND {bound} < $14 \
                 RETURNING 1), \
                 g AS (SELECT r.uuid, r.user_uuid, r.client_id, r.scope, r.used_at, u.tenant_uuid, \
                 u.purpose, u.acl AS user_acl \
                 FROM refresh_tokens r JOIN users u ON u.uuid = r.user_uuid \
                 WHERE r.uuid = (SELECT uuid FROM r0) AND r.digest = $1 AND u.enabled = TRUE \
                 AND r.used_at > $11 AND r.created_at > $12 \
                 AND (u.purpose NOT IN ($16, $17) OR EXISTS (SELECT 1 FROM admitted)) \
                 AND {default_exists} AND {held} FOR KEY SHARE OF r, u), \
                 used AS (UPDATE refresh_tokens SET used_at = $3 \
                 WHERE uuid = (SELECT g.uuid FROM g WHERE g.used_at <= $13) AND used_at <= $13 \
                 RETURNING 1), \
                 new_token AS (INSERT INTO tokens ({TOKEN_COLUMNS}) \
                 SELECT $5, $6, g.user_uuid, g.tenant_uuid, $7, $3, $4, {acl}, \
                 json_build_object('auth_id', g.user_uuid, \
                 'pbx_user_uuid', CASE WHEN g.purpose = 'user' THEN g.user_uuid END, \
                 'purpose', g.purpose, 'tenant_uuid', g.tenant_uuid, 'uuid', g.user_uuid, \
                 'xivo_uuid', CAST($15 AS TEXT))::text, \
                 $8, $9, g.client_id, g.uuid, g.scope, $10, TRUE FROM g \
                 RETURNING auth_id, acl, metadata, scope) \
                 SELECT auth_id, acl, metadata, scope FROM new_token"
            )
        }
        Backend::Sqlite => {
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
                 WHERE r.digest = $1 AND r.client_id = $2 AND u.enabled = TRUE \
                 AND r.used_at > $11 AND r.created_at > $12 \
                 AND (u.purpose NOT IN ($16, $17) \
                 OR (SELECT {bound} FROM session_bounds WHERE user_uuid = r.user_uuid) < $14) \
                 AND {default_exists} AND {held} \
                 RETURNING auth_id, acl, metadata, scope"
            )
        }
    }
}

impl Store {
    /// A refresh grant in one statement ([`RefreshGrantWrite`]): `None` when a condition was not
    /// met and nothing was written.
    pub async fn write_refresh_grant(
        &self,
        grant: &RefreshGrantWrite<'_>,
    ) -> StoreResult<Option<RefreshGranted>> {
        let sql = refresh_grant_statement(
            self.backend,
            grant.default_policy.is_some(),
            grant.held_keys.len(),
        );
        let (idle, max) = grant
            .cutoffs
            .as_ref()
            .map_or((i64::MIN, i64::MIN), |c| (c.idle, c.max));
        let mut query = sqlx::query(&sql)
            .bind(grant.refresh_digest)
            .bind(grant.client_id)
            .bind(grant.issued_at)
            .bind(grant.expires_at)
            .bind(&grant.token_digest)
            .bind(grant.session_uuid)
            .bind(grant.mobile)
            .bind(grant.remote_addr)
            .bind(grant.user_agent)
            .bind(search_text(&[
                Some(grant.user_agent),
                Some(grant.remote_addr),
                Some(grant.client_id),
            ]))
            .bind(idle)
            .bind(max)
            .bind(grant.used_before)
            .bind(grant.session_limit)
            .bind(grant.xivo_uuid)
            .bind(LIMITED_PURPOSES[0])
            .bind(LIMITED_PURPOSES[1]);
        if let Some(name) = grant.default_policy {
            query = query.bind(name);
        }
        for key in grant.held_keys {
            query = query.bind(key);
        }
        let row = match self.backend {
            Backend::Postgres => query.fetch_optional(&self.pool).await?,
            Backend::Sqlite => {
                // The connection first, then the writer's turn (as `begin_write`).
                let mut conn = self.pool.acquire().await?;
                let _turn = self.writer_turn().await;
                // Stepped to its end, not stopped after the first row: SQLite runs its WAL
                // auto-checkpoint only when a committing statement returns SQLITE_DONE. A
                // statement reset after its first row commits without it, and a load of grants
                // alone grew the WAL without bound (every read then searched a longer WAL).
                query.fetch_all(&mut *conn).await?.into_iter().next()
            }
        };
        let Some(row) = row else { return Ok(None) };
        let acl: String = row.try_get("acl")?;
        let metadata: String = row.try_get("metadata")?;
        Ok(Some(RefreshGranted {
            auth_id: row.try_get("auth_id")?,
            acl: serde_json::from_str(&acl).map_err(json_error)?,
            metadata: serde_json::from_str(&metadata).map_err(json_error)?,
            scope: scope_from_json(row.try_get("scope")?)?,
        }))
    }
}

impl Store {
    /// Writes a session, its token and, for an offline login, the refresh token, applying the
    /// mobile rules of SPEC §2 and the rotation of §10: all or nothing.
    pub async fn issue_token(&self, request: &IssueRequest) -> StoreResult<Issue> {
        if request.offline.is_none() && request.rotation.is_none() {
            return self.issue_plain_token(request).await;
        }
        // Logins of one user that replace its mobile refresh token are serialised per user, so
        // that concurrent ones cannot each keep their own mobile token. (The session limit is
        // serialised by the user's session bound, in `admit`.)
        let mobile_offline = request.mobile && request.offline.is_some();
        let mut w = match mobile_offline {
            true => self.begin_user_write(&request.user_uuid).await?,
            false => self.begin_write().await?,
        };
        if let Some(limit) = request.session_limit {
            // Admitted before a mobile login ends other sessions: the limit applies to the login.
            if !admit(
                &mut w.tx,
                self.backend,
                &request.user_uuid,
                request.session_share,
                limit,
                request.issued_at,
            )
            .await?
            {
                return Ok(Issue::SessionLimit);
            }
        }
        let mut revoked = 0;
        let mut offline_row = None;
        let mut refresh_uuid = request.from_refresh_token.as_ref().map(|r| r.uuid.clone());
        let mut client_id = request
            .from_refresh_token
            .as_ref()
            .map(|r| r.client_id.clone());

        if let (Some(from), Some(rotation)) = (&request.from_refresh_token, &request.rotation) {
            if !rotate_refresh_token(&mut w.tx, from, rotation, request.issued_at).await? {
                return Ok(Issue::Superseded);
            }
        }
        if let Some(offline) = &request.offline {
            let replaced: Option<String> =
                match (request.mobile, offline.expired) {
                    // A mobile login replaces the (user, client_id) refresh token with a new one.
                    (true, _) => sqlx::query_scalar(
                        "SELECT uuid FROM refresh_tokens WHERE user_uuid = $1 AND client_id = $2",
                    )
                    .bind(&request.user_uuid)
                    .bind(&offline.client_id)
                    .fetch_optional(&mut *w.tx)
                    .await?,
                    // An expired one is replaced too: its value no longer works.
                    (false, Some(cutoffs)) => sqlx::query_scalar(
                        "SELECT uuid FROM refresh_tokens WHERE user_uuid = $1 AND client_id = $2 \
                         AND (used_at <= $3 OR created_at <= $4)",
                    )
                    .bind(&request.user_uuid)
                    .bind(&offline.client_id)
                    .bind(cutoffs.idle)
                    .bind(cutoffs.max)
                    .fetch_optional(&mut *w.tx)
                    .await?,
                    (false, None) => None,
                };
            if let Some(uuid) = replaced {
                revoked += purge_refresh_token(&mut w.tx, self.backend, &uuid).await?;
            }
            // A second login keeps the value and sets the scope to what it asked (SPEC §9).
            sqlx::query(
                "INSERT INTO refresh_tokens (uuid, digest, client_id, user_uuid, tenant_uuid, mobile, \
                 created_at, login, user_agent, remote_addr, search_text, scope, used_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $7) \
                 ON CONFLICT (user_uuid, client_id) DO UPDATE SET scope = excluded.scope, \
                 used_at = excluded.used_at",
            )
            .bind(&offline.new_uuid)
            .bind(&offline.new_digest)
            .bind(&offline.client_id)
            .bind(&request.user_uuid)
            .bind(&request.tenant_uuid)
            .bind(request.mobile)
            .bind(request.issued_at)
            .bind(&offline.login)
            .bind(&request.user_agent)
            .bind(&request.remote_addr)
            .bind(search_text(&[Some(&offline.client_id)]))
            .bind(scope_to_json(&offline.scope)?)
            .execute(&mut *w.tx)
            .await?;
            let row = sqlx::query(&format!(
                "SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE user_uuid = $1 AND client_id = $2"
            ))
            .bind(&request.user_uuid)
            .bind(&offline.client_id)
            .fetch_one(&mut *w.tx)
            .await?;
            let found = refresh_from_row(&row)?;
            let uuid = found.uuid.clone();
            offline_row = Some(found);
            if request.mobile {
                // Only one mobile refresh token per user: the others go, with their sessions.
                let others: Vec<String> = sqlx::query_scalar(
                    "SELECT uuid FROM refresh_tokens WHERE user_uuid = $1 AND mobile = $2 AND uuid <> $3",
                )
                .bind(&request.user_uuid)
                .bind(true)
                .bind(&uuid)
                .fetch_all(&mut *w.tx)
                .await?;
                for other in others {
                    revoked += purge_refresh_token(&mut w.tx, self.backend, &other).await?;
                }
            }
            refresh_uuid = Some(uuid);
            client_id = Some(offline.client_id.clone());
        }

        // Nothing left to check: the token (its session).
        let row = TokenRow::new(request, refresh_uuid.as_deref(), client_id.as_deref())?;
        if !matches!(
            insert_token(&mut w.tx, self.backend, &row, None, None).await?,
            Inserted::Yes
        ) {
            // The user was disabled meanwhile: nothing is kept (read again).
            return Ok(Issue::Superseded);
        }
        w.commit().await?;
        Ok(Issue::Issued(IssuedToken {
            refresh_token: offline_row,
            sessions_revoked: revoked,
        }))
    }

    /// The token of a password login online, or of a refresh grant that does not rotate. On
    /// PostgreSQL one statement, its own transaction, unless the user's session bound is at the
    /// limit (then a transaction counts exactly); on SQLite one transaction.
    async fn issue_plain_token(&self, request: &IssueRequest) -> StoreResult<Issue> {
        let from = request.from_refresh_token.as_ref();
        let row = TokenRow::new(
            request,
            from.map(|r| r.uuid.as_str()),
            from.map(|r| r.client_id.as_str()),
        )?;
        let refresh = from.map(|from| RefreshCheck {
            from,
            // At the generation read: for a superseded value within the grace, its successor
            // must still be current (if the chain moved on meanwhile, the read again says replay).
            generation: from.generation,
            mark_used: request.mark_refresh_token_used,
        });
        let limit = request.session_limit;
        let mut inserted = Inserted::NotAdmitted;
        if self.backend == Backend::Postgres {
            let sql = pg_issue_statement(request.session_share, limit.is_some(), refresh.as_ref());
            let mut query = row.bind(&sql);
            if let Some(limit) = limit {
                query = query.bind(limit);
            }
            if let Some(check) = &refresh {
                query = query.bind(check.generation);
            }
            let answer = query.fetch_one(&self.pool).await?;
            let admitted: bool = answer.try_get("admitted")?;
            let issued: bool = answer.try_get("issued")?;
            inserted = match (admitted, issued) {
                (_, true) => Inserted::Yes,
                (true, false) => Inserted::Superseded,
                (false, false) => Inserted::NotAdmitted,
            };
        }
        if matches!(inserted, Inserted::NotAdmitted) {
            let mut w = self.begin_write().await?;
            inserted = insert_token(&mut w.tx, self.backend, &row, limit, refresh.as_ref()).await?;
            if matches!(inserted, Inserted::Yes) {
                w.commit().await?;
            }
        }
        Ok(match inserted {
            Inserted::Yes => Issue::Issued(IssuedToken {
                refresh_token: None,
                sessions_revoked: 0,
            }),
            // (`insert_token` counts exactly: it never answers NotAdmitted.)
            Inserted::SessionLimit | Inserted::NotAdmitted => Issue::SessionLimit,
            Inserted::Superseded => Issue::Superseded,
        })
    }

    /// The unexpired token with this digest.
    pub async fn find_token(&self, digest: &[u8], now: i64) -> StoreResult<Option<TokenRecord>> {
        let row = sqlx::query(concat!(
            "SELECT session_uuid, auth_id, issued_at, expires_at, acl, metadata, remote_addr, \
             user_agent, scope FROM tokens WHERE ",
            live_token!()
        ))
        .bind(digest)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let acl: String = row.try_get("acl")?;
        let metadata: String = row.try_get("metadata")?;
        Ok(Some(TokenRecord {
            session_uuid: row.try_get("session_uuid")?,
            auth_id: row.try_get("auth_id")?,
            issued_at: row.try_get("issued_at")?,
            expires_at: row.try_get("expires_at")?,
            acl: serde_json::from_str(&acl).map_err(json_error)?,
            metadata: serde_json::from_str(&metadata).map_err(json_error)?,
            remote_addr: row.try_get("remote_addr")?,
            user_agent: row.try_get("user_agent")?,
            scope: scope_from_json(row.try_get("scope")?)?,
        }))
    }

    /// Whether an unexpired token has this digest (a validation that checks nothing else reads
    /// no column of the row).
    pub async fn token_is_live(&self, digest: &[u8], now: i64) -> StoreResult<bool> {
        let row = sqlx::query(concat!("SELECT 1 FROM tokens WHERE ", live_token!()))
            .bind(digest)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Revokes a token, which ends its session (one row).
    pub async fn revoke_token(&self, digest: &[u8]) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("DELETE FROM tokens WHERE digest = $1")
            .bind(digest)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await
    }

    /// Deletes up to `batch` expired tokens with their sessions; returns how many sessions went.
    pub async fn purge_expired(&self, now: i64, batch: i64) -> StoreResult<u64> {
        let mut w = self.begin_write().await?;
        let purged = sqlx::query(&format!(
            "DELETE FROM tokens WHERE digest IN \
             (SELECT digest FROM tokens WHERE expires_at <= $1 ORDER BY expires_at LIMIT {batch})"
        ))
        .bind(now)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(purged)
    }

    /// Moves every refresh token to a new key in one transaction: the recorded key fingerprint
    /// goes from `old` to `new`, and each row's value is sealed anew by `reseal`. `None` (and
    /// nothing written) when the database does not record `old`.
    pub async fn rekey_refresh_tokens(
        &self,
        setting: &str,
        old: &str,
        new: &str,
        reseal: impl Fn(&RefreshToken) -> Vec<u8>,
    ) -> StoreResult<Option<u64>> {
        let mut w = self.begin_write().await?;
        // The fingerprint first: a write, so that SQLite takes the writer's lock before reading.
        let moved = sqlx::query("UPDATE settings SET value = $3 WHERE key = $1 AND value = $2")
            .bind(setting)
            .bind(old)
            .bind(new)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if moved != 1 {
            return Ok(None);
        }
        let rows = sqlx::query(&format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens"))
            .fetch_all(&mut *w.tx)
            .await?;
        let mut count = 0;
        for row in rows {
            let token = refresh_from_row(&row)?;
            sqlx::query("UPDATE refresh_tokens SET sealed = $2 WHERE uuid = $1")
                .bind(&token.uuid)
                .bind(reseal(&token))
                .execute(&mut *w.tx)
                .await?;
            count += 1;
        }
        w.commit().await?;
        Ok(Some(count))
    }

    /// The refresh token of which this is a superseded value, when it was superseded and which
    /// generation it was.
    pub async fn find_superseded_refresh_token(
        &self,
        digest: &[u8],
    ) -> StoreResult<Option<SupersededValue>> {
        let found: Option<(String, i64, i64)> = sqlx::query_as(
            "SELECT refresh_token_uuid, superseded_at, generation FROM superseded_refresh_tokens \
             WHERE digest = $1",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        let Some((uuid, superseded_at, generation)) = found else {
            return Ok(None);
        };
        let row = sqlx::query(&format!(
            "SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE uuid = $1"
        ))
        .bind(&uuid)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(SupersededValue {
                chain: refresh_from_row(&row)?,
                superseded_at,
                generation,
            })
        })
        .transpose()
    }

    /// Deletes a refresh token (the whole chain of its values) and ends every session minted
    /// from it. Returns the number of sessions ended.
    pub async fn end_refresh_token(&self, uuid: &str) -> StoreResult<u64> {
        let mut w = self.begin_write().await?;
        let ended = purge_refresh_token(&mut w.tx, self.backend, uuid).await?;
        w.commit().await?;
        Ok(ended)
    }

    /// Deletes up to `batch` expired refresh tokens and the sessions minted from them; returns
    /// how many refresh tokens went, how many sessions, and the users they belonged to.
    pub async fn purge_expired_refresh_tokens(
        &self,
        cutoffs: RefreshCutoffs,
        batch: i64,
    ) -> StoreResult<(u64, u64, Vec<String>)> {
        let mut w = self.begin_write().await?;
        let expired: Vec<(String, String)> = sqlx::query_as(
            "SELECT uuid, user_uuid FROM refresh_tokens WHERE used_at <= $1 OR created_at <= $2 \
             LIMIT $3",
        )
        .bind(cutoffs.idle)
        .bind(cutoffs.max)
        .bind(batch)
        .fetch_all(&mut *w.tx)
        .await?;
        let mut sessions = 0;
        for (uuid, _) in &expired {
            sessions += purge_refresh_token(&mut w.tx, self.backend, uuid).await?;
        }
        w.commit().await?;
        let count = u64::try_from(expired.len()).unwrap_or(u64::MAX);
        Ok((
            count,
            sessions,
            expired.into_iter().map(|(_, user)| user).collect(),
        ))
    }

    /// The refresh token with this digest, its user and the user's ACL parts (`default_policy`:
    /// the default policy's name), and when the latest hold-back of the throttle's `held_keys`
    /// ends, counting settled failures only (password attempts still being checked from the same
    /// address do not hold its grants back): one statement, one row per policy of the user (one
    /// row when the value is unknown).
    pub async fn find_refresh_grant(
        &self,
        digest: &[u8],
        default_policy: Option<&str>,
        held_keys: &[String],
    ) -> StoreResult<RefreshGrantRead> {
        let user_columns = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let acl_columns = acl_parts_columns(default_policy);
        let first_key = if default_policy.is_some() { 3 } else { 2 };
        let held = match held_keys.len() {
            0 => "SELECT CAST(NULL AS BIGINT) AS held_until".to_string(),
            n => format!(
                "SELECT MAX(CASE WHEN {HOLDS_BACK} THEN blocked_until END) \
                 AS held_until FROM login_failures WHERE key IN ({})",
                placeholders_from(first_key, n)
            ),
        };
        let sql = format!(
            "SELECT h.held_until, {GRANT_REFRESH_COLUMNS}, {user_columns}, {acl_columns} \
             FROM ({held}) AS h LEFT JOIN refresh_tokens r ON r.digest = $1 \
             LEFT JOIN users u ON u.uuid = r.user_uuid \
             LEFT JOIN user_policies up ON up.user_uuid = r.user_uuid \
             LEFT JOIN policies p ON p.uuid = up.policy_uuid \
             ORDER BY up.position"
        );
        let mut query = sqlx::query(&sql).bind(digest);
        if let Some(name) = default_policy {
            query = query.bind(name);
        }
        for key in held_keys {
            query = query.bind(key);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let Some(first) = rows.first() else {
            return Ok(RefreshGrantRead {
                held_until: None,
                grant: None,
            });
        };
        let held_until = first.try_get::<Option<i64>, _>("held_until")?;
        if first.try_get::<Option<String>, _>("r_uuid")?.is_none() {
            return Ok(RefreshGrantRead {
                held_until,
                grant: None,
            });
        }
        let user = match first.try_get::<Option<String>, _>("uuid")? {
            Some(_) => Some(user_from_row(first)?),
            None => None,
        };
        Ok(RefreshGrantRead {
            held_until,
            grant: Some(RefreshGrant {
                refresh: refresh_from_columns(first, &GRANT_REFRESH_NAMES)?,
                user,
                acl: AclParts::from_rows(&rows)?,
            }),
        })
    }

    /// Refresh tokens, of one user or of all; `mobile` filters on the flag.
    pub async fn list_refresh_tokens(
        &self,
        user_uuid: Option<&str>,
        mobile: Option<bool>,
        params: &ListParams,
    ) -> StoreResult<Page<RefreshToken>> {
        let scope_binds: Vec<&str> = user_uuid.into_iter().collect();
        let narrow = match mobile {
            Some(true) => "mobile = TRUE",
            Some(false) => "mobile = FALSE",
            None => "",
        };
        self.list_page(
            ListQuery {
                table: "refresh_tokens",
                select: REFRESH_COLUMNS,
                scope: if user_uuid.is_some() {
                    "user_uuid = $1"
                } else {
                    ""
                },
                scope_binds: &scope_binds,
                narrow,
                order_columns: REFRESH_ORDER,
                ..ListQuery::default()
            },
            params,
            refresh_from_row,
        )
        .await
    }

    /// Deletes the (user, client_id) refresh token and ends the sessions minted from it;
    /// false when there is none.
    pub async fn delete_refresh_token(
        &self,
        user_uuid: &str,
        client_id: &str,
    ) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let uuid: Option<String> = sqlx::query_scalar(
            "SELECT uuid FROM refresh_tokens WHERE user_uuid = $1 AND client_id = $2",
        )
        .bind(user_uuid)
        .bind(client_id)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some(uuid) = uuid else { return Ok(false) };
        purge_refresh_token(&mut w.tx, self.backend, &uuid).await?;
        w.commit().await?;
        Ok(true)
    }

    /// Deletes the refresh token whose value (current or superseded) has this digest and ends the
    /// sessions minted from it (RFC 7009 §2.1). Returns its user, when there was one.
    pub async fn revoke_refresh_token(&self, digest: &[u8]) -> StoreResult<Option<String>> {
        let mut w = self.begin_write().await?;
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT uuid, user_uuid FROM refresh_tokens WHERE digest = $1 OR uuid = \
             (SELECT refresh_token_uuid FROM superseded_refresh_tokens WHERE digest = $1)",
        )
        .bind(digest)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some((uuid, user_uuid)) = row else {
            return Ok(None);
        };
        purge_refresh_token(&mut w.tx, self.backend, &uuid).await?;
        w.commit().await?;
        Ok(Some(user_uuid))
    }

    pub async fn list_sessions(
        &self,
        user_uuid: Option<&str>,
        params: &ListParams,
    ) -> StoreResult<Page<Session>> {
        let scope_binds: Vec<&str> = user_uuid.into_iter().collect();
        self.list_page(
            ListQuery {
                table: "sessions",
                select: SESSION_COLUMNS,
                scope: if user_uuid.is_some() {
                    "user_uuid = $1"
                } else {
                    ""
                },
                scope_binds: &scope_binds,
                order_columns: SESSION_ORDER,
                ..ListQuery::default()
            },
            params,
            session_from_row,
        )
        .await
    }

    /// Ends a session (its tokens go with it). Idempotent.
    pub async fn delete_session(&self, uuid: &str, user_uuid: Option<&str>) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        let query = match user_uuid {
            Some(user) => {
                sqlx::query("DELETE FROM tokens WHERE session_uuid = $1 AND auth_id = $2")
                    .bind(uuid)
                    .bind(user)
            }
            None => sqlx::query("DELETE FROM tokens WHERE session_uuid = $1").bind(uuid),
        };
        query.execute(&mut *w.tx).await?;
        w.commit().await
    }
}
