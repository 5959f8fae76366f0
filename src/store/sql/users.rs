//! Users and their e-mail addresses.

use super::lists::ListQuery;
use super::{Conn, Store, FOR_SHARE};
use crate::store::columns::{Arg, Id, Micros, UuidText};
use crate::store::{
    fold, search_text, ListParams, NewUser, Page, StoreResult, User, UserUpdate, USER_ORDER,
};

pub(super) const USER_COLUMNS: &str =
    "uuid, tenant_uuid, username, firstname, lastname, password_hash, \
                            purpose, enabled, authentication_method";

impl Store {
    pub async fn create_user(&self, new: &NewUser) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO users (uuid, tenant_uuid, username, firstname, lastname, password_hash, \
             purpose, enabled, authentication_method, created_at, username_key, search_text, \
             username_skeleton) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(Id(&new.uuid))
        .bind(Id(&new.tenant_uuid))
        .bind(&new.username)
        .bind(&new.firstname)
        .bind(&new.lastname)
        .bind(&new.password_hash)
        .bind(&new.purpose)
        .bind(new.enabled)
        .bind(&new.authentication_method)
        .bind(Micros(new.created_at))
        .bind(new.username.as_deref().map(fold))
        .bind(search_text(&[
            new.username.as_deref(),
            new.firstname.as_deref(),
            new.lastname.as_deref(),
            Some(&new.uuid),
            new.email_address.as_deref(),
        ]))
        .bind(&new.username_skeleton)
        .execute(&mut *w.tx)
        .await?;
        if let Some(address) = &new.email_address {
            sqlx::query(
                "INSERT INTO emails (uuid, user_uuid, address, main, confirmed, address_key) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(Id(&uuid::Uuid::new_v4().to_string()))
            .bind(Id(&new.uuid))
            .bind(address)
            .bind(true)
            .bind(true)
            .bind(fold(address))
            .execute(&mut *w.tx)
            .await?;
        }
        w.commit().await
    }

    async fn with_emails(&self, mut user: User) -> StoreResult<User> {
        user.emails = sqlx::query_as(
            "SELECT uuid, address, main, confirmed FROM emails WHERE user_uuid = $1 ORDER BY address",
        )
        .bind(Id(&user.uuid))
        .fetch_all(&self.pool)
        .await?;
        Ok(user)
    }

    pub async fn get_user(&self, uuid: &str) -> StoreResult<Option<User>> {
        match self.get_user_for_token(uuid).await? {
            Some(user) => Ok(Some(self.with_emails(user).await?)),
            None => Ok(None),
        }
    }

    /// The user without its e-mail addresses: all a token needs.
    pub async fn get_user_for_token(&self, uuid: &str) -> StoreResult<Option<User>> {
        Ok(
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE uuid = $1"))
                .bind(Id(uuid))
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username_key = $1"
        ))
        .bind(fold(username))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The enabled user whose username, or a confirmed e-mail address, is `login` (any case).
    pub async fn find_login_user(&self, login: &str) -> StoreResult<Option<User>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE enabled = $2 AND (username_key = $1 \
             OR uuid IN (SELECT user_uuid FROM emails WHERE address_key = $1 AND confirmed = $2)) \
             LIMIT 1"
        ))
        .bind(fold(login))
        .bind(true)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Users matching every `(column, value)` filter exactly (columns checked by the caller).
    pub async fn list_users(
        &self,
        filters: &[(&str, &str)],
        params: &ListParams,
    ) -> StoreResult<Page<User>> {
        let narrow = filters
            .iter()
            .enumerate()
            .map(|(i, (column, _))| format!("{column} = ${}", i + 1))
            .collect::<Vec<_>>()
            .join(" AND ");
        let narrow_binds: Vec<Arg> = filters
            .iter()
            .map(|(column, value)| match *column {
                "uuid" => Arg::Id(value),
                _ => Arg::Text(value),
            })
            .collect();
        let page = self
            .list_page(
                ListQuery {
                    table: "users",
                    select: USER_COLUMNS,
                    narrow: &narrow,
                    narrow_binds: &narrow_binds,
                    order_columns: USER_ORDER,
                    ..ListQuery::default()
                },
                params,
            )
            .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for user in page.items {
            items.push(self.with_emails(user).await?);
        }
        Ok(Page { items, ..page })
    }

    /// Replaces the editable fields. Disabling a user ends its sessions in the same transaction.
    pub async fn update_user(&self, uuid: &str, update: &UserUpdate) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        // The purpose may change: tokens issued while unlimited were not bounded, so the session
        // bound goes.
        drop_bound_and_lock(&mut w.tx, uuid).await?;
        let addresses: Vec<String> =
            sqlx::query_scalar("SELECT address FROM emails WHERE user_uuid = $1")
                .bind(Id(uuid))
                .fetch_all(&mut *w.tx)
                .await?;
        let mut searched = vec![
            update.username.as_deref(),
            update.firstname.as_deref(),
            update.lastname.as_deref(),
            Some(uuid),
        ];
        searched.extend(addresses.iter().map(|a| Some(a.as_str())));
        let changed = sqlx::query(
            "UPDATE users SET username = $2, firstname = $3, lastname = $4, purpose = $5, enabled = $6, \
             authentication_method = $7, username_key = $8, search_text = $9, \
             username_skeleton = CASE WHEN username_key = $8 THEN username_skeleton ELSE $10 END \
             WHERE uuid = $1",
        )
        .bind(Id(uuid))
        .bind(&update.username)
        .bind(&update.firstname)
        .bind(&update.lastname)
        .bind(&update.purpose)
        .bind(update.enabled)
        .bind(&update.authentication_method)
        .bind(update.username.as_deref().map(fold))
        .bind(search_text(&searched))
        .bind(&update.username_skeleton)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        if changed > 0 && !update.enabled {
            // Its sessions end, its browsers' sign-ins too: enabling it again revives none.
            for statement in [
                "DELETE FROM tokens WHERE auth_id = $1",
                "DELETE FROM oauth2_browser_sessions WHERE user_uuid = $1",
            ] {
                sqlx::query(statement)
                    .bind(Id(uuid))
                    .execute(&mut *w.tx)
                    .await?;
            }
        }
        w.commit().await?;
        Ok(changed > 0)
    }

    /// Whether the user is still enabled with this password hash. On PostgreSQL the read waits
    /// for a change of the user in flight (`FOR SHARE`): a change that has not yet reached the
    /// user's row will delete, after it, the tokens committed before this read. On SQLite the
    /// writers take turns, so a committed read is enough.
    pub async fn user_unchanged(&self, uuid: &str, password_hash: &str) -> StoreResult<bool> {
        let found = sqlx::query(&format!(
            "SELECT uuid FROM users WHERE uuid = $1 AND enabled = TRUE AND password_hash = $2{FOR_SHARE}"
        ))
        .bind(Id(uuid))
        .bind(password_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Sets a new password hash and ends the user's sessions; refresh tokens stay.
    pub async fn set_password(&self, uuid: &str, password_hash: &str) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        super::lock_for_change(&mut w.tx, uuid).await?;
        sqlx::query("UPDATE users SET password_hash = $2 WHERE uuid = $1")
            .bind(Id(uuid))
            .bind(password_hash)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query("DELETE FROM tokens WHERE auth_id = $1")
            .bind(Id(uuid))
            .execute(&mut *w.tx)
            .await?;
        w.commit().await
    }

    /// Deletes a user with its e-mails, sessions, tokens, refresh tokens and policy links.
    pub async fn delete_user(&self, uuid: &str) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        // No token is written after the user's are deleted (on PostgreSQL no foreign key holds
        // tokens to their user: migration 0009).
        drop_bound_and_lock(&mut w.tx, uuid).await?;
        // Nothing of an unknown user is touched: a client's tokens share the `auth_id` column.
        let known: Option<UuidText> = sqlx::query_scalar("SELECT uuid FROM users WHERE uuid = $1")
            .bind(Id(uuid))
            .fetch_optional(&mut *w.tx)
            .await?;
        if known.is_none() {
            return Ok(false);
        }
        for statement in [
            "DELETE FROM tokens WHERE auth_id = $1",
            "DELETE FROM refresh_tokens WHERE user_uuid = $1",
            "DELETE FROM emails WHERE user_uuid = $1",
            "DELETE FROM user_policies WHERE user_uuid = $1",
        ] {
            sqlx::query(statement)
                .bind(Id(uuid))
                .execute(&mut *w.tx)
                .await?;
        }
        let deleted = sqlx::query("DELETE FROM users WHERE uuid = $1")
            .bind(Id(uuid))
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        w.commit().await?;
        Ok(deleted > 0)
    }
}

impl Store {
    /// Fills the look-alike key of every username without one (rows from before the column),
    /// in one transaction. A username whose key another user already holds keeps none: start
    /// never fails on names that collided before the rule. The number of such usernames.
    pub async fn backfill_username_skeletons(
        &self,
        skeleton: impl Fn(&str) -> String,
    ) -> StoreResult<u64> {
        let rows: Vec<(UuidText, String)> = sqlx::query_as(
            "SELECT uuid, username FROM users \
             WHERE username IS NOT NULL AND username_skeleton IS NULL ORDER BY created_at, uuid",
        )
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut w = self.begin_write().await?;
        let mut left = 0;
        for (uuid, username) in rows {
            let filled = sqlx::query(
                "UPDATE users SET username_skeleton = $2 WHERE uuid = $1 \
                 AND username_skeleton IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM users other WHERE other.username_skeleton = $2)",
            )
            .bind(Id(&String::from(uuid)))
            .bind(skeleton(&username))
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
            if filled == 0 {
                left += 1;
            }
        }
        w.commit().await?;
        Ok(left)
    }

    /// The uuid of the user whose username or any e-mail address is `login` (any case).
    pub async fn find_login_owner(&self, login: &str) -> StoreResult<Option<String>> {
        let owner: Option<UuidText> = sqlx::query_scalar(
            "SELECT uuid FROM users WHERE username_key = $1 \
             UNION SELECT user_uuid FROM emails WHERE address_key = $1 LIMIT 1",
        )
        .bind(fold(login))
        .fetch_optional(&self.pool)
        .await?;
        Ok(owner.map(String::from))
    }
}

/// Drops the user's session bound, then locks the user for a change that ends its sessions: in
/// the order in which grants lock them (the bound, then the refresh token, then the user).
async fn drop_bound_and_lock(tx: &mut Conn, uuid: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM session_bounds WHERE user_uuid = $1")
        .bind(Id(uuid))
        .execute(&mut *tx)
        .await?;
    super::lock_for_change(tx, uuid).await
}
