//! Access tokens: their columns and insert (shared by every issuance write), validation's reads,
//! revocation and the purge of expired ones.

use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::Database;

use super::{Db, Store};
use crate::store::columns::{Id, Micros};
use crate::store::{
    search_text, NewToken, RefreshToken, Rotation, SessionShare, StoreResult, TokenOwner,
    TokenRecord,
};

/// A token row's values, bound as $1–$15 in the order of [`token_insert`]; `$8`, where the row's
/// ACL goes, is the default policy's name, which the insert's ACL expression reads.
pub(super) struct TokenRow<'a> {
    pub token: &'a NewToken,
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

/// The columns of a token row, in the order every insert gives them; the last,
/// `refresh_grant`, is the token's share of the session cap, written as a literal.
pub(super) const TOKEN_COLUMNS: &str = "digest, session_uuid, auth_id, tenant_uuid, mobile, \
     issued_at, expires_at, acl, metadata, remote_addr, user_agent, client_id, refresh_token_uuid, \
     scope, search_text, refresh_grant";

/// The insert of `token` (see [`TokenRow`]) where `condition` holds, answering its ACL and
/// whether the default policy was found. The ACL is composed here, in SQL, for every token
/// (`token_acl` of the backend): the default policy's entries ($8 names it), then the user's
/// policies' (`users.acl`, which the triggers of migration 0010 keep joined).
pub(super) fn token_insert(token: &NewToken, condition: &str) -> String {
    let default = token.default_policy.is_some();
    let acl = super::token_acl(
        default.then_some(DEFAULT_POLICY_ACL),
        "(SELECT acl FROM users WHERE uuid = $3)",
    );
    let found = default_found(default, "$8");
    let share = match token.share {
        SessionShare::Logins => "FALSE",
        SessionShare::Grants => "TRUE",
    };
    format!(
        "INSERT INTO tokens ({TOKEN_COLUMNS}) SELECT $1, $2, $3, $4, $5, $6, $7, {acl}, $9, $10, \
         $11, $12, $13, $14, $15, {share} WHERE {condition} RETURNING acl, {found} AS default_found"
    )
}

/// The default policy's ACL, by the name bound as `$8` (NULL when there is no such policy).
const DEFAULT_POLICY_ACL: &str = "(SELECT acl FROM policies WHERE name = $8 LIMIT 1)";

/// Whether the default policy named by `name` (a parameter) exists; without one (`default`
/// false), true, and no lookup at all (`name` has no index of its own).
pub(super) fn default_found(default: bool, name: &str) -> String {
    match default {
        true => format!("EXISTS (SELECT 1 FROM policies WHERE name = {name})"),
        false => format!("({name} IS NULL)"),
    }
}

/// The SQL of a [`SessionShare`].
pub(super) trait ShareSql: Copy {
    /// Its column of `session_bounds`.
    fn bound(self) -> &'static str;
    fn other(self) -> SessionShare;
    /// Its rows of `tokens` (a condition).
    fn rows(self) -> &'static str;
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
}

impl<'a> TokenRow<'a> {
    pub(super) fn new(
        token: &'a NewToken,
        refresh_uuid: Option<&'a str>,
        client_id: Option<&'a str>,
    ) -> Self {
        TokenRow {
            token,
            search: search_text(&[Some(&token.user_agent), Some(&token.remote_addr), client_id]),
            client_id,
            refresh_uuid,
        }
    }

    pub(super) fn bind<'q>(
        &'q self,
        sql: &'q str,
    ) -> Query<'q, Db, <Db as Database>::Arguments<'q>> {
        let r = self.token;
        sqlx::query(sql)
            .bind(&r.token_digest)
            .bind(Id(&r.session_uuid))
            .bind(Id(&r.user_uuid))
            .bind(Id(&r.tenant_uuid))
            .bind(r.mobile)
            .bind(Micros(r.issued_at))
            .bind(Micros(r.expires_at))
            .bind(r.default_policy.as_deref())
            .bind(Json(&r.metadata))
            .bind(&r.remote_addr)
            .bind(&r.user_agent)
            .bind(self.client_id)
            .bind(self.refresh_uuid.map(Id))
            .bind(r.scope.as_ref().map(Json))
            .bind(&self.search)
    }

    /// `sql`, a rotating grant's write, with this token bound (`$1`–`$15`), then the session
    /// limit when there is one, the generation read, the new digest and the superseded one.
    pub(super) fn bind_rotating<'q>(
        &'q self,
        sql: &'q str,
        limit: Option<i64>,
        from: &'q RefreshToken,
        rotation: &'q Rotation,
    ) -> Query<'q, Db, <Db as Database>::Arguments<'q>> {
        let mut query = self.bind(sql);
        if let Some(limit) = limit {
            query = query.bind(limit);
        }
        query
            .bind(from.generation)
            .bind(&rotation.new_digest)
            .bind(&rotation.old_digest)
    }
}

impl Store {
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

    /// The unexpired token with this digest, with its client and its user's username.
    pub async fn find_token_owner(
        &self,
        digest: &[u8],
        now: i64,
    ) -> StoreResult<Option<TokenOwner>> {
        Ok(sqlx::query_as(
            "SELECT t.session_uuid, t.auth_id, t.client_id, t.issued_at, t.expires_at, t.acl, t.scope, \
             u.username FROM tokens t LEFT JOIN users u ON u.uuid = t.auth_id \
             WHERE t.digest = $1 AND t.expires_at > $2",
        )
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
}
