//! Issuance writes: a token with its checks, the refresh grant's one statement, the rotation of a
//! refresh token and the offline login's refresh token, each all or nothing.

use sqlx::types::Json;

use super::access_tokens::{ShareSql, TokenRow};
use super::failures::HOLDS_BACK;
use super::refresh_tokens::{purge_refresh_token, REFRESH_COLUMNS};
use super::sessions::admit;
use super::{Conn, Store, FOR_KEY_SHARE};
use crate::store::columns::{Id, Micros, UuidText};
use crate::store::{
    placeholders_from, search_text, Issue, IssueRequest, IssuedToken, RefreshGrantWrite,
    RefreshGranted, RefreshToken, Rotation, StoreResult, LIMITED_PURPOSES,
};

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
/// there, at `generation` (the one read: a grant answering a superseded value within the grace
/// answers its successor only while that is still the chain's current value, SPEC §10); marked
/// used when `mark_used`, else only locked (FOR KEY SHARE, which a deletion waits for), so that a
/// grant usually writes nothing to the refresh token's row.
pub(super) struct RefreshCheck<'a> {
    pub from: &'a RefreshToken,
    pub generation: i64,
    pub mark_used: bool,
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
}
