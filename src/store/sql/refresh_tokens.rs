//! Refresh tokens: the grant's read, superseded values, revocation, listing, the purge of expired
//! ones and the rekeying of their sealed values.

use super::lists::ListQuery;
use super::oauth2_signing_keys::reseal_signing_keys;
use super::users::USER_COLUMNS;
use super::{Conn, Store, FOR_UPDATE};
use crate::store::columns::{Arg, Id, Micros, UuidText};
use crate::store::{
    ListParams, Page, RefreshCutoffs, RefreshGrant, RefreshToken, Reseal, SigningKeyRow,
    StoreResult, SupersededValue, User, REFRESH_ORDER,
};

pub(super) const REFRESH_COLUMNS: &str =
    "uuid, client_id, user_uuid, tenant_uuid, mobile, created_at, sealed, scope, generation, used_at, \
     oauth2";

/// The refresh token columns of [`Store::find_refresh_grant`], renamed beside the user's.
const GRANT_REFRESH_COLUMNS: &str = "r.uuid AS r_uuid, r.client_id AS r_client_id, \
     r.user_uuid AS r_user_uuid, r.tenant_uuid AS r_tenant_uuid, r.mobile AS r_mobile, \
     r.created_at AS r_created_at, r.sealed AS r_sealed, r.scope AS r_scope, \
     r.generation AS r_generation, r.used_at AS r_used_at, r.oauth2 AS r_oauth2";

/// The row of [`Store::find_refresh_grant`]: the refresh token (renamed) and its user (NULL when
/// gone).
#[derive(sqlx::FromRow)]
struct GrantRow {
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
    r_oauth2: Option<bool>,
    client_revision: Option<i64>,
    #[sqlx(flatten)]
    user: GrantUserRow,
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
            oauth2: self.r_oauth2?,
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
pub(super) async fn purge_refresh_token(tx: &mut Conn, uuid: &str) -> StoreResult<u64> {
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

impl Store {
    /// Moves every refresh token to a new key in one transaction: the recorded key fingerprint
    /// goes from `old` to `new`, and each row's value is sealed anew by `reseal`. `None` (and
    /// nothing written) when the database does not record `old`.
    pub async fn rekey_refresh_tokens(
        &self,
        setting: &str,
        old: &str,
        new: &str,
        reseal: Reseal<
            impl Fn(&RefreshToken) -> Vec<u8>,
            impl Fn(&SigningKeyRow) -> Option<Vec<u8>>,
        >,
    ) -> StoreResult<Option<(u64, u64)>> {
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
                .bind((reseal.refresh_token)(&token))
                .execute(&mut *w.tx)
                .await?;
            count += 1;
        }
        let keys = reseal_signing_keys(&mut w.tx, reseal.signing_key).await?;
        w.commit().await?;
        Ok(Some((count, keys)))
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

    /// The refresh token whose current value has this digest, with its user, and the revision
    /// of the OAuth2 client `client_id` if one is named: one statement.
    pub async fn find_refresh_grant(
        &self,
        digest: &[u8],
        client_id: Option<&str>,
    ) -> StoreResult<Option<RefreshGrant>> {
        let user_columns = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let row: Option<GrantRow> = sqlx::query_as(&format!(
            "SELECT {GRANT_REFRESH_COLUMNS}, {user_columns}, \
             (SELECT revision FROM oauth2_clients WHERE client_id = $2) AS client_revision \
             FROM refresh_tokens r LEFT JOIN users u ON u.uuid = r.user_uuid WHERE r.digest = $1"
        ))
        .bind(digest)
        .bind(client_id.map(Id))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|mut row| {
            let refresh = row.refresh()?;
            Some(RefreshGrant {
                refresh,
                client_revision: row.client_revision,
                user: row.user.user(),
            })
        }))
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

    /// Deletes the user's refresh tokens of `client_id` (one of the wazo face; an OAuth2 client
    /// may hold several chains) and ends the sessions minted from them; false when there is none.
    pub async fn delete_refresh_token(
        &self,
        user_uuid: &str,
        client_id: &str,
    ) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let uuids: Vec<UuidText> = sqlx::query_scalar(
            "SELECT uuid FROM refresh_tokens WHERE user_uuid = $1 AND client_id = $2",
        )
        .bind(Id(user_uuid))
        .bind(client_id)
        .fetch_all(&mut *w.tx)
        .await?;
        let found = !uuids.is_empty();
        for uuid in uuids {
            purge_refresh_token(&mut w.tx, &String::from(uuid)).await?;
        }
        w.commit().await?;
        Ok(found)
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
}
