//! Issuance writes, as the domain planned them ([`IssueWrite`]): a token with its checks, the
//! refresh grant's one statement, the rotation of a refresh token and the offline login's refresh
//! token, each all or nothing. The rules are the domain's; what is here is how to write them
//! atomically under concurrency (locks, conditional writes, the session bound).

use sqlx::types::Json;

use super::access_tokens::{default_found, token_insert, ShareSql, TokenRow};
use super::refresh_tokens::{purge_refresh_token, REFRESH_COLUMNS};
use super::sessions::admit;
use super::{Conn, Db, Store, FOR_KEY_SHARE};
use crate::store::columns::{Id, Micros, UuidText};
use crate::store::{
    search_text, GrantRefusal, Issue, IssueWrite, IssuedToken, NewChain, NewToken, OfflineWrite,
    RefreshGrantOutcome, RefreshGrantWrite, RefreshGranted, RefreshToken, Replace, Rotation,
    SessionShare, StoreResult, TokenMetadata,
};

/// Supersedes the value of a rotating grant's refresh token (its digest is kept, for as long as
/// the chain lives) and marks it used (for the idle lifetime), conditional on the generation
/// read: of concurrent grants presenting one value, one rotates it (PostgreSQL's row lock makes
/// the others wait, then match nothing; SQLite runs one writer at a time). False: it changed
/// since it was read (rotated by another grant, or deleted); nothing was written. (A grant that
/// does not rotate is marked in `insert_token`.)
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
    .bind(from.generation)
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
    .bind(from.generation)
    .bind(Micros(now))
    .execute(&mut *tx)
    .await?;
    // Every superseded value is kept while its chain lives (a forgotten one would be merely
    // unknown, and its replay would revoke nothing): they go with the chain, by the foreign key's
    // cascade, when it is deleted, expires or is purged, or its user is deleted.
    Ok(true)
}

/// What a token's insert answers: its ACL, and whether the default policy was found.
pub(super) struct Written {
    pub acl: Vec<String>,
    pub default_found: bool,
}

/// What writing a token did.
pub(super) enum Inserted {
    Yes(Written),
    /// The user is at its session limit.
    SessionLimit,
    /// The refresh token of the grant changed since it was read, or the user was disabled:
    /// read them again.
    Superseded,
    /// PostgreSQL's one-statement write only: the user's session bound is at the limit, or not
    /// known; nothing was written: count exactly ([`admit`]).
    NotAdmitted,
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

/// A grant's refresh token, checked (and on PostgreSQL locked) when the token is written: still
/// there, at the generation read (a grant answering a superseded value within the grace answers
/// its successor only while that is still the chain's current value, SPEC §10); marked used when
/// `mark_used`, else only locked (FOR KEY SHARE, which a deletion waits for), so that a grant
/// usually writes nothing to the refresh token's row.
pub(super) struct RefreshCheck<'a> {
    pub from: &'a RefreshToken,
    pub mark_used: bool,
}

/// Whether `token` may open its session under `limit` (`None`: unlimited), in the caller's
/// transaction ([`admit`], for the token's user and share).
async fn admit_token(conn: &mut Conn, token: &NewToken, limit: Option<i64>) -> StoreResult<bool> {
    match limit {
        Some(limit) => admit(conn, &token.user_uuid, token.share, limit, token.issued_at).await,
        None => Ok(true),
    }
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
    use sqlx::FromRow;
    let token = row.token;
    if !admit_token(conn, token, limit).await? {
        return Ok(Inserted::SessionLimit);
    }
    let condition = match refresh {
        None => user_still_enabled(None),
        Some(check) if check.mark_used => {
            if !mark_used(conn, check.from, token.issued_at).await? {
                return Ok(Inserted::Superseded);
            }
            user_still_enabled(None)
        }
        // The refresh token inside the user's check: its lock is taken first.
        Some(_) => user_still_enabled(Some(&format!(
            "EXISTS (SELECT 1 FROM refresh_tokens WHERE uuid = $13 \
             AND generation = $16{FOR_KEY_SHARE})"
        ))),
    };
    let sql = token_insert(token, &condition);
    let mut query = row.bind(&sql);
    if let Some(check) = refresh.filter(|check| !check.mark_used) {
        query = query.bind(check.from.generation);
    }
    let written = query
        .try_map(|row| <(Json<Vec<String>>, bool)>::from_row(&row))
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match written {
        Some((Json(acl), default_found)) => Inserted::Yes(Written { acl, default_found }),
        None => Inserted::Superseded,
    })
}

/// Records a grant's use of its refresh token, while it is at the generation read.
async fn mark_used(conn: &mut Conn, from: &RefreshToken, now: i64) -> StoreResult<bool> {
    let marked =
        sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE uuid = $1 AND generation = $3")
            .bind(Id(&from.uuid))
            .bind(Micros(now))
            .bind(from.generation)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    Ok(marked == 1)
}

/// What a refresh grant found of the refresh token with digest `$1` and its user (a `d` of
/// [`grant_refusal_statement`]): `uuid` NULL when the value is unknown.
const GRANT_CHECK: &str = "SELECT r.uuid, r.user_uuid, r.client_id = $2 AS same_client, \
     u.enabled, (r.used_at > $11 AND r.created_at > $12) AS live, \
     u.purpose IN ($16, $17) AS limited \
     FROM refresh_tokens r LEFT JOIN users u ON u.uuid = r.user_uuid WHERE r.digest = $1";

/// Why a refresh grant's statement wrote nothing, read right after it with the same values bound
/// and the same row shape: the first condition not met, in the order the domain reads them,
/// spelled as [`GrantRefusal::from_sql`] reads it. Only a refusal pays for this read. On SQLite it
/// runs in the same writer's turn, so nothing changed between; on PostgreSQL a write in between
/// can only turn the answer into another one the domain handles safely (every reason but a
/// refusal of the value sends the grant to the second path, which reads everything again).
pub(super) fn grant_refusal_statement() -> String {
    let bound = SessionShare::Grants.bound();
    format!(
        "SELECT NULL AS auth_id, NULL AS acl, NULL AS metadata, NULL AS scope, \
         NULL AS default_found, \
         CASE WHEN d.uuid IS NULL THEN 'unknown' \
         WHEN NOT d.same_client THEN 'wrong_client' \
         WHEN d.enabled IS NOT TRUE THEN 'user_disabled' \
         WHEN NOT d.live THEN 'expired' \
         WHEN d.limited AND NOT COALESCE((SELECT {bound} FROM session_bounds \
         WHERE user_uuid = d.user_uuid) < $14, FALSE) THEN 'session_bound' \
         ELSE 'changed' END AS refused \
         FROM (SELECT 1) AS one LEFT JOIN ({GRANT_CHECK}) AS d ON TRUE"
    )
}

/// The columns every refresh grant's statement answers: the token written (NULLs when none) and
/// why none was (NULL when one was).
#[derive(sqlx::FromRow)]
pub(super) struct GrantRow {
    auth_id: Option<UuidText>,
    acl: Option<Json<Vec<String>>>,
    metadata: Option<Json<TokenMetadata>>,
    scope: Option<Json<Vec<String>>>,
    default_found: Option<bool>,
    refused: Option<String>,
}

impl GrantRow {
    fn outcome(self) -> RefreshGrantOutcome {
        match (self.auth_id, self.acl, self.metadata) {
            (Some(auth_id), Some(Json(acl)), Some(Json(metadata))) => {
                RefreshGrantOutcome::Granted(Box::new(RefreshGranted {
                    auth_id: auth_id.into(),
                    acl,
                    metadata,
                    scope: self.scope.map(|Json(scope)| scope),
                    default_found: self.default_found.unwrap_or(true),
                }))
            }
            _ => RefreshGrantOutcome::Refused(GrantRefusal::from_sql(
                self.refused.as_deref().unwrap_or_default(),
            )),
        }
    }
}

/// A bound refresh grant statement, answering [`GrantRow`]s.
pub(super) type GrantQuery<'q> =
    sqlx::query::QueryAs<'q, Db, GrantRow, <Db as sqlx::Database>::Arguments<'q>>;

/// `sql` with the values of `grant` bound as `$1`–`$18` (see `refresh_grant_statement` of each
/// backend).
pub(super) fn bind_grant<'q>(sql: &'q str, grant: &'q RefreshGrantWrite<'_>) -> GrantQuery<'q> {
    let (idle, max) = grant
        .cutoffs
        .as_ref()
        .map_or((i64::MIN, i64::MIN), |c| (c.idle, c.max));
    sqlx::query_as(sql)
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
        .bind(grant.limited_purposes[0])
        .bind(grant.limited_purposes[1])
        .bind(grant.default_policy)
}

/// The default policy's ACL in a refresh grant's statement, by the name bound as `$18`.
pub(super) fn grant_default_acl(default: bool) -> (Option<&'static str>, String) {
    let acl = default.then_some("(SELECT acl FROM policies WHERE name = $18 LIMIT 1)");
    (acl, default_found(default, "$18"))
}

/// The (user, client_id) refresh token an offline login replaces, as `replace` says.
async fn replaced_refresh_token(
    tx: &mut Conn,
    user_uuid: &str,
    client_id: &str,
    replace: Replace,
) -> StoreResult<Option<UuidText>> {
    let sql = match replace {
        Replace::Never => return Ok(None),
        Replace::Always => {
            "SELECT uuid FROM refresh_tokens WHERE user_uuid = $1 AND client_id = $2 \
             AND oauth2 = FALSE"
        }
        Replace::IfExpired(_) => {
            "SELECT uuid FROM refresh_tokens WHERE user_uuid = $1 AND client_id = $2 \
             AND oauth2 = FALSE AND (used_at <= $3 OR created_at <= $4)"
        }
    };
    let mut query = sqlx::query_scalar(sql).bind(Id(user_uuid)).bind(client_id);
    if let Replace::IfExpired(cutoffs) = replace {
        query = query.bind(Micros(cutoffs.idle)).bind(Micros(cutoffs.max));
    }
    Ok(query.fetch_optional(&mut *tx).await?)
}

/// Creates the (user, client_id) refresh token of an offline login, or keeps the one there and
/// sets its scope and use; returns it.
async fn upsert_refresh_token(
    tx: &mut Conn,
    token: &NewToken,
    offline: &OfflineWrite,
) -> StoreResult<RefreshToken> {
    sqlx::query(
        "INSERT INTO refresh_tokens (uuid, digest, client_id, user_uuid, tenant_uuid, mobile, \
         created_at, login, user_agent, remote_addr, search_text, scope, used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $7) \
         ON CONFLICT (user_uuid, client_id) WHERE oauth2 = FALSE DO UPDATE SET scope = excluded.scope, \
         used_at = excluded.used_at",
    )
    .bind(Id(&offline.new_uuid))
    .bind(&offline.new_digest)
    .bind(&offline.client_id)
    .bind(Id(&token.user_uuid))
    .bind(Id(&token.tenant_uuid))
    .bind(token.mobile)
    .bind(Micros(token.issued_at))
    .bind(&offline.login)
    .bind(&token.user_agent)
    .bind(&token.remote_addr)
    .bind(search_text(&[Some(&offline.client_id)]))
    .bind(offline.scope.as_ref().map(Json))
    .execute(&mut *tx)
    .await?;
    Ok(sqlx::query_as(&format!(
        "SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE user_uuid = $1 AND client_id = $2 \
         AND oauth2 = FALSE"
    ))
    .bind(Id(&token.user_uuid))
    .bind(&offline.client_id)
    .fetch_one(&mut *tx)
    .await?)
}

/// Writes a new OAuth2 refresh-token chain of `client_id` for `token`'s user; returns it.
async fn insert_chain(
    tx: &mut Conn,
    token: &NewToken,
    client_id: &str,
    chain: &NewChain,
) -> StoreResult<RefreshToken> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO refresh_tokens (uuid, digest, client_id, user_uuid, tenant_uuid, mobile, \
         created_at, login, user_agent, remote_addr, search_text, scope, used_at, oauth2) \
         VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7, $8, $9, $10, $11, $6, TRUE) \
         RETURNING {REFRESH_COLUMNS}"
    ))
    .bind(Id(&chain.uuid))
    .bind(&chain.digest)
    .bind(client_id)
    .bind(Id(&token.user_uuid))
    .bind(Id(&token.tenant_uuid))
    .bind(Micros(token.issued_at))
    .bind(&chain.login)
    .bind(&token.user_agent)
    .bind(&token.remote_addr)
    .bind(search_text(&[Some(client_id)]))
    .bind(Json(&chain.scope))
    .fetch_one(&mut *tx)
    .await?)
}

/// Ends the user's mobile refresh tokens other than `kept`, with their sessions; returns how
/// many sessions.
async fn end_other_mobile(tx: &mut Conn, user_uuid: &str, kept: &str) -> StoreResult<u64> {
    let others: Vec<UuidText> = sqlx::query_scalar(
        "SELECT uuid FROM refresh_tokens WHERE user_uuid = $1 AND mobile = $2 AND uuid <> $3",
    )
    .bind(Id(user_uuid))
    .bind(true)
    .bind(Id(kept))
    .fetch_all(&mut *tx)
    .await?;
    let mut ended = 0;
    for other in others {
        ended += purge_refresh_token(tx, &String::from(other)).await?;
    }
    Ok(ended)
}

/// The refresh token of an offline login, written in its transaction: the one replaced ends
/// first, then the (user, client_id) one is created or kept, then the other mobile ones end.
/// Returns it and the sessions ended.
async fn write_offline_refresh_token(
    tx: &mut Conn,
    token: &NewToken,
    offline: &OfflineWrite,
) -> StoreResult<(RefreshToken, u64)> {
    let mut ended = 0;
    let replaced =
        replaced_refresh_token(tx, &token.user_uuid, &offline.client_id, offline.replace).await?;
    if let Some(uuid) = replaced {
        ended += purge_refresh_token(tx, &String::from(uuid)).await?;
    }
    let refresh = upsert_refresh_token(tx, token, offline).await?;
    if offline.end_other_mobile {
        ended += end_other_mobile(tx, &token.user_uuid, &refresh.uuid).await?;
    }
    Ok((refresh, ended))
}

impl Store {
    /// A refresh grant in one statement ([`RefreshGrantWrite`]), or why it wrote nothing.
    pub async fn write_refresh_grant(
        &self,
        grant: &RefreshGrantWrite<'_>,
    ) -> StoreResult<RefreshGrantOutcome> {
        let sql = super::refresh_grant_statement(grant.default_policy.is_some());
        let row = self.run_refresh_grant(&sql, grant).await?;
        Ok(row.outcome())
    }

    /// Writes a session and its token as `write` says (and, for an offline login, the refresh
    /// token): all or nothing.
    pub async fn issue_token(&self, token: &NewToken, write: IssueWrite<'_>) -> StoreResult<Issue> {
        match write {
            IssueWrite::Login => self.issue_plain_token(token, None, None).await,
            IssueWrite::Authorized {
                client_id,
                chain: None,
            } => self.issue_plain_token(token, None, Some(client_id)).await,
            IssueWrite::Authorized {
                client_id,
                chain: Some(chain),
            } => self.issue_with_chain(token, client_id, &chain).await,
            IssueWrite::Grant { from, mark_used } => {
                let check = RefreshCheck { from, mark_used };
                let client_id = Some(from.client_id.as_str());
                self.issue_plain_token(token, Some(&check), client_id).await
            }
            IssueWrite::Rotating { from, rotation } => {
                self.issue_rotating(token, from, &rotation).await
            }
            IssueWrite::Offline(offline) => self.issue_offline(token, &offline).await,
        }
    }

    /// A refresh grant that rotates its refresh token: the rotation and the token in one
    /// statement on PostgreSQL while the user's session bound admits it; otherwise the rotation,
    /// then the token, in one transaction.
    async fn issue_rotating(
        &self,
        token: &NewToken,
        from: &RefreshToken,
        rotation: &Rotation,
    ) -> StoreResult<Issue> {
        let row = TokenRow::new(token, Some(&from.uuid), Some(&from.client_id));
        let limit = token.session_limit;
        match self
            .rotating_in_one_statement(&row, limit, (from, rotation))
            .await?
        {
            Inserted::Yes(written) => return Ok(issued(written, None, 0)),
            Inserted::Superseded => return Ok(Issue::Superseded),
            // Counted exactly below (or SQLite, whose writers take turns anyway).
            Inserted::NotAdmitted | Inserted::SessionLimit => {}
        }
        let mut w = self.begin_write().await?;
        if !admit_token(&mut w.tx, token, token.session_limit).await? {
            return Ok(Issue::SessionLimit);
        }
        if !rotate_refresh_token(&mut w.tx, from, rotation, token.issued_at).await? {
            return Ok(Issue::Superseded);
        }
        let Inserted::Yes(written) = insert_token(&mut w.tx, &row, None, None).await? else {
            // The user was disabled meanwhile: nothing is kept (read again).
            return Ok(Issue::Superseded);
        };
        w.commit().await?;
        Ok(issued(written, None, 0))
    }

    /// An OAuth2 authorization with `offline_access`: its new chain, then the token, in one
    /// transaction.
    async fn issue_with_chain(
        &self,
        token: &NewToken,
        client_id: &str,
        chain: &NewChain,
    ) -> StoreResult<Issue> {
        let mut w = self.begin_write().await?;
        if !admit_token(&mut w.tx, token, token.session_limit).await? {
            return Ok(Issue::SessionLimit);
        }
        let refresh = insert_chain(&mut w.tx, token, client_id, chain).await?;
        let row = TokenRow::new(token, Some(&chain.uuid), Some(client_id));
        let Inserted::Yes(written) = insert_token(&mut w.tx, &row, None, None).await? else {
            // The user was disabled meanwhile: nothing is kept.
            return Ok(Issue::Superseded);
        };
        w.commit().await?;
        Ok(issued(written, Some(Box::new(refresh)), 0))
    }

    /// An offline login: its refresh token (as [`write_offline_refresh_token`]), then the token,
    /// in one transaction.
    async fn issue_offline(&self, token: &NewToken, offline: &OfflineWrite) -> StoreResult<Issue> {
        // Logins of one user that end its other mobile refresh tokens are serialised per user,
        // so that concurrent ones cannot each keep their own. (The session limit is serialised
        // by the user's session bound, in `admit`.)
        let mut w = match offline.end_other_mobile {
            true => self.begin_user_write(&token.user_uuid).await?,
            false => self.begin_write().await?,
        };
        // Admitted before a mobile login ends other sessions: the limit applies to the login.
        if !admit_token(&mut w.tx, token, token.session_limit).await? {
            return Ok(Issue::SessionLimit);
        }
        let (refresh, ended) = write_offline_refresh_token(&mut w.tx, token, offline).await?;
        let row = TokenRow::new(token, Some(&refresh.uuid), Some(&offline.client_id));
        let Inserted::Yes(written) = insert_token(&mut w.tx, &row, None, None).await? else {
            // The user was disabled meanwhile: nothing is kept (read again).
            return Ok(Issue::Superseded);
        };
        w.commit().await?;
        Ok(issued(written, Some(Box::new(refresh)), ended))
    }

    /// The token of a password login online, or of a refresh grant that does not rotate. On
    /// PostgreSQL one statement, its own transaction, unless the user's session bound is at the
    /// limit (then a transaction counts exactly); on SQLite one transaction.
    async fn issue_plain_token(
        &self,
        token: &NewToken,
        refresh: Option<&RefreshCheck<'_>>,
        client_id: Option<&str>,
    ) -> StoreResult<Issue> {
        let from = refresh.map(|check| check.from.uuid.as_str());
        let row = TokenRow::new(token, from, client_id);
        let limit = token.session_limit;
        let mut inserted = self
            .insert_token_in_one_statement(&row, limit, refresh)
            .await?;
        if matches!(inserted, Inserted::NotAdmitted) {
            let mut w = self.begin_write().await?;
            inserted = insert_token(&mut w.tx, &row, limit, refresh).await?;
            if matches!(inserted, Inserted::Yes(_)) {
                w.commit().await?;
            }
        }
        Ok(match inserted {
            Inserted::Yes(written) => issued(written, None, 0),
            // (`insert_token` counts exactly: it never answers NotAdmitted.)
            Inserted::SessionLimit | Inserted::NotAdmitted => Issue::SessionLimit,
            Inserted::Superseded => Issue::Superseded,
        })
    }
}

fn issued(written: Written, refresh_token: Option<Box<RefreshToken>>, ended: u64) -> Issue {
    Issue::Issued(IssuedToken {
        acl: written.acl,
        default_found: written.default_found,
        refresh_token,
        sessions_revoked: ended,
    })
}
