//! Sessions, access tokens (by digest) and refresh tokens (by digest).

use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::Database;

use super::failures::HOLDS_BACK;
use super::lists::ListQuery;
use super::policies::{acl_parts, acl_parts_columns, AclRow};
use super::users::USER_COLUMNS;
use super::{Conn, Db, Store, FOR_KEY_SHARE, FOR_UPDATE, INSERT_COUNTS_ITSELF};
use crate::store::columns::{Arg, Id, Micros, UuidText};
use crate::store::{
    placeholders_from, search_text, Issue, IssueRequest, IssuedToken, ListParams, Page,
    RefreshCutoffs, RefreshGrant, RefreshGrantRead, RefreshGrantWrite, RefreshGranted,
    RefreshToken, Rotation, Session, SessionShare, StoreResult, SupersededValue, TokenRecord, User,
    LIMITED_PURPOSES, REFRESH_ORDER, SESSION_ORDER,
};

const REFRESH_COLUMNS: &str =
    "uuid, client_id, user_uuid, tenant_uuid, mobile, created_at, sealed, scope, generation, used_at";
const SESSION_COLUMNS: &str =
    "uuid, user_uuid, tenant_uuid, mobile, created_at, user_agent, remote_addr, client_id";

/// The refresh token columns of [`Store::find_refresh_grant`], renamed beside the user's.
const GRANT_REFRESH_COLUMNS: &str = "r.uuid AS r_uuid, r.client_id AS r_client_id, \
     r.user_uuid AS r_user_uuid, r.tenant_uuid AS r_tenant_uuid, r.mobile AS r_mobile, \
     r.created_at AS r_created_at, r.sealed AS r_sealed, r.scope AS r_scope, \
     r.generation AS r_generation, r.used_at AS r_used_at";

/// A row of [`Store::find_refresh_grant`]: the hold-back, the refresh token (renamed, NULL when
/// the value is unknown), its user (NULL when gone) and one of the user's policies' ACL.
#[derive(sqlx::FromRow)]
struct GrantRow {
    held_until: Option<i64>,
    r_uuid: Option<UuidText>,
    r_client_id: Option<String>,
    r_user_uuid: Option<UuidText>,
    r_tenant_uuid: Option<UuidText>,
    r_mobile: Option<bool>,
    r_created_at: Option<Micros>,
    r_sealed: Option<Vec<u8>>,
    #[sqlx(json(nullable))]
    r_scope: Option<Vec<String>>,
    r_generation: Option<i64>,
    r_used_at: Option<Micros>,
    #[sqlx(flatten)]
    user: GrantUserRow,
    #[sqlx(flatten)]
    acl: AclRow,
}

/// The user columns of a [`GrantRow`] (all NULL when the user is gone).
#[derive(sqlx::FromRow)]
struct GrantUserRow {
    uuid: Option<UuidText>,
    tenant_uuid: Option<UuidText>,
    username: Option<String>,
    firstname: Option<String>,
    lastname: Option<String>,
    password_hash: Option<String>,
    purpose: Option<String>,
    enabled: Option<bool>,
    authentication_method: Option<String>,
}

impl GrantRow {
    /// The refresh token, when the value is a current one.
    fn refresh(&mut self) -> Option<RefreshToken> {
        Some(RefreshToken {
            uuid: self.r_uuid.take()?.into(),
            client_id: self.r_client_id.take()?,
            user_uuid: self.r_user_uuid.take()?.into(),
            tenant_uuid: self.r_tenant_uuid.take()?.into(),
            mobile: self.r_mobile?,
            created_at: self.r_created_at?.into(),
            sealed: self.r_sealed.take(),
            scope: self.r_scope.take(),
            generation: self.r_generation?,
            used_at: self.r_used_at?.into(),
        })
    }
}

impl GrantUserRow {
    fn user(self) -> Option<User> {
        Some(User {
            uuid: self.uuid?.into(),
            tenant_uuid: self.tenant_uuid?.into(),
            username: self.username,
            firstname: self.firstname,
            lastname: self.lastname,
            password_hash: self.password_hash,
            purpose: self.purpose?,
            enabled: self.enabled?,
            authentication_method: self.authentication_method?,
            emails: Vec::new(),
        })
    }
}

/// Ends the sessions of every token minted from a refresh token, then deletes the refresh token.
/// Returns the number of sessions ended.
async fn purge_refresh_token(tx: &mut Conn, uuid: &str) -> StoreResult<u64> {
    // Locked first (PostgreSQL): a grant minting from it meanwhile holds it FOR KEY SHARE, so it
    // either commits before (its session is ended here) or finds it gone, never leaves a session
    // the deletion missed.
    let user: Option<UuidText> = sqlx::query_scalar(&format!(
        "SELECT user_uuid FROM refresh_tokens WHERE uuid = $1{FOR_UPDATE}"
    ))
    .bind(Id(uuid))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user) = user else { return Ok(0) };
    // Through the user's index: a refresh token's tokens are all its user's.
    let ended = sqlx::query("DELETE FROM tokens WHERE auth_id = $1 AND refresh_token_uuid = $2")
        .bind(Id(&String::from(user)))
        .bind(Id(uuid))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM refresh_tokens WHERE uuid = $1")
        .bind(Id(uuid))
        .execute(&mut *tx)
        .await?;
    Ok(ended)
}

/// Supersedes the value of a rotating grant's refresh token (its digest is kept, for as long as
/// the chain lives) and marks it used (for the idle lifetime), conditional on the generation read: of concurrent grants presenting one value, one
/// rotates it (PostgreSQL's row lock makes the others wait, then match nothing; SQLite runs one
/// writer at a time). False: it changed since it was read (rotated by another grant, or
/// deleted); nothing was written. (A grant that does not rotate is marked in `insert_issued`.)
async fn rotate_refresh_token(
    tx: &mut Conn,
    from: &RefreshToken,
    rotation: &Rotation,
    now: i64,
) -> StoreResult<bool> {
    let rotated = sqlx::query(
        "UPDATE refresh_tokens SET digest = $3, generation = generation + 1, sealed = NULL, \
         used_at = $4 WHERE uuid = $1 AND generation = $2",
    )
    .bind(Id(&from.uuid))
    .bind(rotation.from_generation)
    .bind(&rotation.new_digest)
    .bind(Micros(now))
    .execute(&mut *tx)
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
    .bind(Id(&from.uuid))
    .bind(rotation.from_generation)
    .bind(Micros(now))
    .execute(&mut *tx)
    .await?;
    // Every superseded value is kept while its chain lives (a forgotten one would be merely
    // unknown, and its replay would revoke nothing): they go with the chain, by the foreign key's
    // cascade, when it is deleted, expires or is purged, or its user is deleted.
    Ok(true)
}

/// What writing a token did.
pub(super) enum Inserted {
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
pub(super) struct TokenRow<'a> {
    pub request: &'a IssueRequest,
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
pub(super) const TOKEN_COLUMNS: &str = token_columns!();
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

/// The SQL of a [`SessionShare`].
pub(super) trait ShareSql: Copy {
    /// Its column of `session_bounds`.
    fn bound(self) -> &'static str;
    fn other(self) -> SessionShare;
    /// Its rows of `tokens` (a condition).
    fn rows(self) -> &'static str;
    /// The insert of a token of this share (its values `$1`–`$15`, see [`TokenRow`]).
    fn token_insert(self) -> &'static str;
}

impl ShareSql for SessionShare {
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

    fn rows(self) -> &'static str {
        match self {
            SessionShare::Logins => "NOT refresh_grant",
            SessionShare::Grants => "refresh_grant",
        }
    }

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
pub(super) fn user_still_enabled(after: Option<&str>) -> String {
    let after = after.map_or(String::new(), |check| format!(" AND {check}"));
    format!("EXISTS (SELECT 1 FROM users WHERE uuid = $3 AND enabled = TRUE{after}{FOR_KEY_SHARE})")
}

impl<'a> TokenRow<'a> {
    fn new(
        request: &'a IssueRequest,
        refresh_uuid: Option<&'a str>,
        client_id: Option<&'a str>,
    ) -> Self {
        TokenRow {
            request,
            search: search_text(&[
                Some(&request.user_agent),
                Some(&request.remote_addr),
                client_id,
            ]),
            client_id,
            refresh_uuid,
        }
    }

    pub(super) fn bind<'q>(
        &'q self,
        sql: &'q str,
    ) -> Query<'q, Db, <Db as Database>::Arguments<'q>> {
        let r = self.request;
        sqlx::query(sql)
            .bind(&r.token_digest)
            .bind(Id(&r.session_uuid))
            .bind(Id(&r.user_uuid))
            .bind(Id(&r.tenant_uuid))
            .bind(r.mobile)
            .bind(Micros(r.issued_at))
            .bind(Micros(r.expires_at))
            .bind(Json(&r.acl))
            .bind(Json(&r.metadata))
            .bind(&r.remote_addr)
            .bind(&r.user_agent)
            .bind(self.client_id)
            .bind(self.refresh_uuid.map(Id))
            .bind(r.scope.as_ref().map(Json))
            .bind(&self.search)
    }
}

/// A grant's refresh token, checked (and on PostgreSQL locked) when the token is written: still
/// there, at `generation` (the one read: a grant answering a superseded value within the grace
/// answers its successor only while that is still the chain's current value, SPEC §10); marked
/// used when `mark_used`, else only locked (FOR KEY SHARE, which a deletion waits for), so that a
/// grant usually writes nothing to the refresh token's row.
pub(super) struct RefreshCheck<'a> {
    pub from: &'a RefreshToken,
    pub generation: i64,
    pub mark_used: bool,
}

/// Whether the user may open one more session of `share` under `limit`, in the caller's
/// transaction: the user's session bound of that share (an upper bound of their live sessions of
/// it, migrations 0008 and 0013) is raised while it is under the limit; at the limit, or when
/// it is not known yet (no row, or NULL), the live sessions of the share are counted exactly
/// under the bound's row lock, and the bound becomes that count plus this one.
async fn admit(
    conn: &mut Conn,
    user_uuid: &str,
    share: SessionShare,
    limit: i64,
    now: i64,
) -> StoreResult<bool> {
    let bound = share.bound();
    // Where the token's insert raises the bound itself (SQLite's trigger, migration 0013), it is
    // only checked here.
    let raise = match INSERT_COUNTS_ITSELF {
        false => format!(
            "UPDATE session_bounds SET {bound} = {bound} + 1 WHERE user_uuid = $1 AND {bound} < $2"
        ),
        true => format!(
            "UPDATE session_bounds SET {bound} = {bound} WHERE user_uuid = $1 AND {bound} < $2"
        ),
    };
    let raised = sqlx::query(&raise)
        .bind(Id(user_uuid))
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
    .bind(Id(user_uuid))
    .execute(&mut *conn)
    .await?;
    // On PostgreSQL each statement takes a new snapshot: the counts below see every token
    // committed by a write that held this lock before.
    let other = share.other().bound();
    let other_bound: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT {other} FROM session_bounds WHERE user_uuid = $1{FOR_UPDATE}"
    ))
    .bind(Id(user_uuid))
    .fetch_optional(&mut *conn)
    .await?
    // (Gone: a change of the user dropped it meanwhile; the update below then writes nothing.)
    .flatten();
    let live = live_sessions(conn, user_uuid, share, now, limit).await?;
    if live >= limit {
        return Ok(false);
    }
    // Expired tokens never come back: the live ones and this one bound the user from now on
    // (or the insert adds this one).
    let count = match INSERT_COUNTS_ITSELF {
        false => live.saturating_add(1),
        true => live,
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
    .bind(Id(user_uuid))
    .bind(count)
    .bind(other_count)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// The user's live sessions of `share`, counted up to `limit` (a user's thousands of tokens cost
/// no more than that).
async fn live_sessions(
    conn: &mut Conn,
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
    .bind(Id(user_uuid))
    .bind(Micros(now))
    .bind(limit)
    .fetch_one(&mut *conn)
    .await?)
}

/// Writes a token in the caller's transaction, after its checks: the session limit (`limit`)
/// and the grant's refresh token (`refresh`). Nothing is written unless it answers `Yes` (the
/// caller rolls back otherwise).
pub(super) async fn insert_token(
    conn: &mut Conn,
    row: &TokenRow<'_>,
    limit: Option<i64>,
    refresh: Option<&RefreshCheck<'_>>,
) -> StoreResult<Inserted> {
    let request = row.request;
    let share = request.session_share;
    if let Some(limit) = limit {
        if !admit(conn, &request.user_uuid, share, limit, request.issued_at).await? {
            return Ok(Inserted::SessionLimit);
        }
    }
    let insert = share.token_insert();
    let sql = match refresh {
        None => format!("{insert} WHERE {}", user_still_enabled(None)),
        Some(check) if check.mark_used => {
            let marked = sqlx::query(
                "UPDATE refresh_tokens SET used_at = $2 WHERE uuid = $1 AND generation = $3",
            )
            .bind(Id(&check.from.uuid))
            .bind(Micros(request.issued_at))
            .bind(check.generation)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if marked != 1 {
                return Ok(Inserted::Superseded);
            }
            format!("{insert} WHERE {}", user_still_enabled(None))
        }
        Some(_) => {
            // The refresh token inside the user's check: its lock is taken first.
            let current = format!(
                "EXISTS (SELECT 1 FROM refresh_tokens WHERE uuid = $13 \
                 AND generation = $16{FOR_KEY_SHARE})"
            );
            format!("{insert} WHERE {}", user_still_enabled(Some(&current)))
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

/// The conditions of a refresh grant's one statement both dialects write alike (see
/// `refresh_grant_statement` in each backend): the default policy's ACL (`$18`, an SQL
/// expression; `None` without a default policy), that it exists, and that none of the held keys
/// holds the grant back at the time after it (`$18` or `$19`, then the keys).
pub(super) struct GrantParts {
    pub default_acl: Option<&'static str>,
    pub default_exists: &'static str,
    pub held: String,
}

impl GrantParts {
    pub(super) fn new(default_policy: bool, held_keys: usize) -> GrantParts {
        let (default_acl, default_exists) = match default_policy {
            true => (
                Some("(SELECT acl FROM policies WHERE name = $18 LIMIT 1)"),
                "EXISTS (SELECT 1 FROM policies WHERE name = $18)",
            ),
            false => (None, "TRUE"),
        };
        // The throttle's times are epoch microseconds on both stores: `now` is bound as one.
        let now = if default_policy { 19 } else { 18 };
        let held = match held_keys {
            0 => "TRUE".to_string(),
            n => format!(
                "NOT EXISTS (SELECT 1 FROM login_failures WHERE key IN ({}) \
                 AND {HOLDS_BACK} AND blocked_until > ${now})",
                placeholders_from(now + 1, n)
            ),
        };
        GrantParts {
            default_acl,
            default_exists,
            held,
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
        let sql =
            super::refresh_grant_statement(grant.default_policy.is_some(), grant.held_keys.len());
        let (idle, max) = grant
            .cutoffs
            .as_ref()
            .map_or((i64::MIN, i64::MIN), |c| (c.idle, c.max));
        let mut query = sqlx::query_as(&sql)
            .bind(grant.refresh_digest)
            .bind(grant.client_id)
            .bind(Micros(grant.issued_at))
            .bind(Micros(grant.expires_at))
            .bind(&grant.token_digest)
            .bind(Id(grant.session_uuid))
            .bind(grant.mobile)
            .bind(grant.remote_addr)
            .bind(grant.user_agent)
            .bind(search_text(&[
                Some(grant.user_agent),
                Some(grant.remote_addr),
                Some(grant.client_id),
            ]))
            .bind(Micros(idle))
            .bind(Micros(max))
            .bind(Micros(grant.used_before))
            .bind(grant.session_limit)
            .bind(grant.xivo_uuid)
            .bind(LIMITED_PURPOSES[0])
            .bind(LIMITED_PURPOSES[1]);
        if let Some(name) = grant.default_policy {
            query = query.bind(name);
        }
        if !grant.held_keys.is_empty() {
            query = query.bind(grant.issued_at);
        }
        for key in grant.held_keys {
            query = query.bind(key);
        }
        self.run_refresh_grant(query).await
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
            let replaced: Option<UuidText> =
                match (request.mobile, offline.expired) {
                    // A mobile login replaces the (user, client_id) refresh token with a new one.
                    (true, _) => sqlx::query_scalar(
                        "SELECT uuid FROM refresh_tokens WHERE user_uuid = $1 AND client_id = $2",
                    )
                    .bind(Id(&request.user_uuid))
                    .bind(&offline.client_id)
                    .fetch_optional(&mut *w.tx)
                    .await?,
                    // An expired one is replaced too: its value no longer works.
                    (false, Some(cutoffs)) => sqlx::query_scalar(
                        "SELECT uuid FROM refresh_tokens WHERE user_uuid = $1 AND client_id = $2 \
                         AND (used_at <= $3 OR created_at <= $4)",
                    )
                    .bind(Id(&request.user_uuid))
                    .bind(&offline.client_id)
                    .bind(Micros(cutoffs.idle))
                    .bind(Micros(cutoffs.max))
                    .fetch_optional(&mut *w.tx)
                    .await?,
                    (false, None) => None,
                };
            if let Some(uuid) = replaced {
                revoked += purge_refresh_token(&mut w.tx, &String::from(uuid)).await?;
            }
            // A second login keeps the value and sets the scope to what it asked (SPEC §9).
            sqlx::query(
                "INSERT INTO refresh_tokens (uuid, digest, client_id, user_uuid, tenant_uuid, mobile, \
                 created_at, login, user_agent, remote_addr, search_text, scope, used_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $7) \
                 ON CONFLICT (user_uuid, client_id) DO UPDATE SET scope = excluded.scope, \
                 used_at = excluded.used_at",
            )
            .bind(Id(&offline.new_uuid))
            .bind(&offline.new_digest)
            .bind(&offline.client_id)
            .bind(Id(&request.user_uuid))
            .bind(Id(&request.tenant_uuid))
            .bind(request.mobile)
            .bind(Micros(request.issued_at))
            .bind(&offline.login)
            .bind(&request.user_agent)
            .bind(&request.remote_addr)
            .bind(search_text(&[Some(&offline.client_id)]))
            .bind(offline.scope.as_ref().map(Json))
            .execute(&mut *w.tx)
            .await?;
            let found: RefreshToken = sqlx::query_as(&format!(
                "SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE user_uuid = $1 AND client_id = $2"
            ))
            .bind(Id(&request.user_uuid))
            .bind(&offline.client_id)
            .fetch_one(&mut *w.tx)
            .await?;
            let uuid = found.uuid.clone();
            offline_row = Some(found);
            if request.mobile {
                // Only one mobile refresh token per user: the others go, with their sessions.
                let others: Vec<UuidText> = sqlx::query_scalar(
                    "SELECT uuid FROM refresh_tokens WHERE user_uuid = $1 AND mobile = $2 AND uuid <> $3",
                )
                .bind(Id(&request.user_uuid))
                .bind(true)
                .bind(Id(&uuid))
                .fetch_all(&mut *w.tx)
                .await?;
                for other in others {
                    revoked += purge_refresh_token(&mut w.tx, &String::from(other)).await?;
                }
            }
            refresh_uuid = Some(uuid);
            client_id = Some(offline.client_id.clone());
        }

        // Nothing left to check: the token (its session).
        let row = TokenRow::new(request, refresh_uuid.as_deref(), client_id.as_deref());
        if !matches!(
            insert_token(&mut w.tx, &row, None, None).await?,
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
        );
        let refresh = from.map(|from| RefreshCheck {
            from,
            // At the generation read: for a superseded value within the grace, its successor
            // must still be current (if the chain moved on meanwhile, the read again says replay).
            generation: from.generation,
            mark_used: request.mark_refresh_token_used,
        });
        let limit = request.session_limit;
        let mut inserted = self
            .insert_token_in_one_statement(&row, limit, refresh.as_ref())
            .await?;
        if matches!(inserted, Inserted::NotAdmitted) {
            let mut w = self.begin_write().await?;
            inserted = insert_token(&mut w.tx, &row, limit, refresh.as_ref()).await?;
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
        Ok(sqlx::query_as(concat!(
            "SELECT session_uuid, auth_id, issued_at, expires_at, acl, metadata, remote_addr, \
             user_agent, scope FROM tokens WHERE ",
            live_token!()
        ))
        .bind(digest)
        .bind(Micros(now))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Whether an unexpired token has this digest (a validation that checks nothing else reads
    /// no column of the row).
    pub async fn token_is_live(&self, digest: &[u8], now: i64) -> StoreResult<bool> {
        let row = sqlx::query(concat!("SELECT 1 FROM tokens WHERE ", live_token!()))
            .bind(digest)
            .bind(Micros(now))
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
        .bind(Micros(now))
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
        let tokens: Vec<RefreshToken> =
            sqlx::query_as(&format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens"))
                .fetch_all(&mut *w.tx)
                .await?;
        let mut count = 0;
        for token in tokens {
            sqlx::query("UPDATE refresh_tokens SET sealed = $2 WHERE uuid = $1")
                .bind(Id(&token.uuid))
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
        let found: Option<(UuidText, Micros, i64)> = sqlx::query_as(
            "SELECT refresh_token_uuid, superseded_at, generation FROM superseded_refresh_tokens \
             WHERE digest = $1",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        let Some((uuid, Micros(superseded_at), generation)) = found else {
            return Ok(None);
        };
        let chain: Option<RefreshToken> = sqlx::query_as(&format!(
            "SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE uuid = $1"
        ))
        .bind(Id(&String::from(uuid)))
        .fetch_optional(&self.pool)
        .await?;
        Ok(chain.map(|chain| SupersededValue {
            chain,
            superseded_at,
            generation,
        }))
    }

    /// Deletes a refresh token (the whole chain of its values) and ends every session minted
    /// from it. Returns the number of sessions ended.
    pub async fn end_refresh_token(&self, uuid: &str) -> StoreResult<u64> {
        let mut w = self.begin_write().await?;
        let ended = purge_refresh_token(&mut w.tx, uuid).await?;
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
        let expired: Vec<(UuidText, UuidText)> = sqlx::query_as(
            "SELECT uuid, user_uuid FROM refresh_tokens WHERE used_at <= $1 OR created_at <= $2 \
             LIMIT $3",
        )
        .bind(Micros(cutoffs.idle))
        .bind(Micros(cutoffs.max))
        .bind(batch)
        .fetch_all(&mut *w.tx)
        .await?;
        let mut sessions = 0;
        let expired: Vec<(String, String)> = expired
            .into_iter()
            .map(|(uuid, user)| (uuid.into(), user.into()))
            .collect();
        for (uuid, _) in &expired {
            sessions += purge_refresh_token(&mut w.tx, uuid).await?;
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
        let mut query = sqlx::query_as(&sql).bind(digest);
        if let Some(name) = default_policy {
            query = query.bind(name);
        }
        for key in held_keys {
            query = query.bind(key);
        }
        let mut rows: Vec<GrantRow> = query.fetch_all(&self.pool).await?;
        let acl = acl_parts(rows.iter().map(|row| &row.acl));
        let Some(mut first) = rows.drain(..).next() else {
            return Ok(RefreshGrantRead {
                held_until: None,
                grant: None,
            });
        };
        Ok(RefreshGrantRead {
            held_until: first.held_until,
            grant: first.refresh().map(|refresh| RefreshGrant {
                refresh,
                user: first.user.user(),
                acl,
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
        let scope_binds: Vec<Arg> = user_uuid.into_iter().map(Arg::Id).collect();
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
        let uuid: Option<UuidText> = sqlx::query_scalar(
            "SELECT uuid FROM refresh_tokens WHERE user_uuid = $1 AND client_id = $2",
        )
        .bind(Id(user_uuid))
        .bind(client_id)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some(uuid) = uuid else { return Ok(false) };
        purge_refresh_token(&mut w.tx, &String::from(uuid)).await?;
        w.commit().await?;
        Ok(true)
    }

    /// Deletes the refresh token whose value (current or superseded) has this digest and ends the
    /// sessions minted from it (RFC 7009 §2.1). Returns its user, when there was one.
    pub async fn revoke_refresh_token(&self, digest: &[u8]) -> StoreResult<Option<String>> {
        let mut w = self.begin_write().await?;
        let row: Option<(UuidText, UuidText)> = sqlx::query_as(
            "SELECT uuid, user_uuid FROM refresh_tokens WHERE digest = $1 OR uuid = \
             (SELECT refresh_token_uuid FROM superseded_refresh_tokens WHERE digest = $1)",
        )
        .bind(digest)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some((uuid, user_uuid)) = row else {
            return Ok(None);
        };
        purge_refresh_token(&mut w.tx, &String::from(uuid)).await?;
        w.commit().await?;
        Ok(Some(user_uuid.into()))
    }

    pub async fn list_sessions(
        &self,
        user_uuid: Option<&str>,
        params: &ListParams,
    ) -> StoreResult<Page<Session>> {
        let scope_binds: Vec<Arg> = user_uuid.into_iter().map(Arg::Id).collect();
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
        )
        .await
    }

    /// Ends a session (its tokens go with it). Idempotent.
    pub async fn delete_session(&self, uuid: &str, user_uuid: Option<&str>) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        let query = match user_uuid {
            Some(user) => {
                sqlx::query("DELETE FROM tokens WHERE session_uuid = $1 AND auth_id = $2")
                    .bind(Id(uuid))
                    .bind(Id(user))
            }
            None => sqlx::query("DELETE FROM tokens WHERE session_uuid = $1").bind(Id(uuid)),
        };
        query.execute(&mut *w.tx).await?;
        w.commit().await
    }
}
