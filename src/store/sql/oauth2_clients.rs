//! OAuth2 clients (SPEC §11.2): one row each; deleting one ends what it holds.

use super::lists::ListQuery;
use super::refresh_tokens::purge_refresh_token;
use super::{Store, FOR_UPDATE};
use sqlx::types::Json;

use crate::store::columns::{Id, Micros, UuidText};
use crate::store::{
    search_text, ClientCredentials, ClientToken, ListParams, OAuth2Client, Page, StoreResult,
    TokenOwner, CLIENT_ORDER,
};

use super::access_tokens::TOKEN_COLUMNS;

/// The insert of a client's own token where `condition` holds, bound by [`bind_client_token`]
/// (`$1`–`$12`; `$3` is the client).
pub(super) fn client_token_insert(condition: &str) -> String {
    format!(
        "INSERT INTO tokens ({TOKEN_COLUMNS}) SELECT $1, $2, $3, $4, FALSE, $5, $6, $7, $8, $9, \
         $10, $11, NULL, NULL, $12, FALSE WHERE {condition}"
    )
}

/// Locks a client's row for the rest of the transaction (PostgreSQL; SQLite's writers take
/// turns); false when there is no such client at `revision` (`None`: at any). Every write of a
/// client's tokens takes this lock or the bound's update of the same row, so none is missed by a
/// deletion.
pub(super) async fn lock_client(
    tx: &mut super::Conn,
    client_id: &str,
    revision: Option<i64>,
) -> StoreResult<bool> {
    let found: Option<UuidText> = sqlx::query_scalar(&format!(
        "SELECT client_id FROM oauth2_clients \
         WHERE client_id = $1 AND revision = COALESCE($2, revision){FOR_UPDATE}"
    ))
    .bind(Id(client_id))
    .bind(revision)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(found.is_some())
}

/// `sql` with `token`'s values bound as `$1`–`$12` ([`client_token_insert`]).
pub(super) fn bind_client_token<'q>(
    sql: &'q str,
    token: &'q ClientToken,
    search: &'q str,
) -> sqlx::query::Query<'q, super::Db, <super::Db as sqlx::Database>::Arguments<'q>> {
    sqlx::query(sql)
        .bind(&token.token_digest)
        .bind(Id(&token.session_uuid))
        .bind(Id(&token.client_id))
        .bind(Id(&token.tenant_uuid))
        .bind(Micros(token.issued_at))
        .bind(Micros(token.expires_at))
        .bind(Json(&token.acl))
        .bind(Json(&token.metadata))
        .bind(&token.remote_addr)
        .bind(&token.user_agent)
        .bind(&token.client_id)
        .bind(search)
}

/// What a client's token is found by in the session lists' search.
pub(super) fn client_token_search(token: &ClientToken) -> String {
    search_text(&[
        Some(&token.user_agent),
        Some(&token.remote_addr),
        Some(&token.client_id),
    ])
}

const CLIENT_COLUMNS: &str = "client_id, name, confidential, secret_digest, redirect_uris, \
     post_logout_redirect_uris, grant_types, scope, consent, created_at, revision";

fn client_search_text(client: &OAuth2Client) -> String {
    search_text(&[Some(&client.name), Some(&client.client_id)])
}

impl Store {
    pub async fn create_client(&self, client: &OAuth2Client) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO oauth2_clients ({CLIENT_COLUMNS}, search_text) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(Id(&client.client_id))
        .bind(&client.name)
        .bind(client.confidential)
        .bind(&client.secret_digest)
        .bind(Json(&client.redirect_uris))
        .bind(Json(&client.post_logout_redirect_uris))
        .bind(Json(&client.grant_types))
        .bind(Json(&client.scope))
        .bind(&client.consent)
        .bind(Micros(client.created_at))
        .bind(client.revision)
        .bind(client_search_text(client))
        .execute(&mut *w.tx)
        .await?;
        w.commit().await
    }

    pub async fn get_client(&self, client_id: &str) -> StoreResult<Option<OAuth2Client>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth2_clients WHERE client_id = $1"
        ))
        .bind(Id(client_id))
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn list_clients(&self, params: &ListParams) -> StoreResult<Page<OAuth2Client>> {
        self.list_page(
            ListQuery {
                table: "oauth2_clients",
                select: CLIENT_COLUMNS,
                order_columns: CLIENT_ORDER,
                ..ListQuery::default()
            },
            params,
        )
        .await
    }

    /// Replaces what may change of a client (everything but its id, type, secret and creation
    /// time). False when there is no such client.
    pub async fn update_client(&self, client: &OAuth2Client) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE oauth2_clients SET name = $2, redirect_uris = $3, \
             post_logout_redirect_uris = $4, grant_types = $5, scope = $6, consent = $7, \
             search_text = $8, revision = revision + 1 WHERE client_id = $1",
        )
        .bind(Id(&client.client_id))
        .bind(&client.name)
        .bind(Json(&client.redirect_uris))
        .bind(Json(&client.post_logout_redirect_uris))
        .bind(Json(&client.grant_types))
        .bind(Json(&client.scope))
        .bind(&client.consent)
        .bind(client_search_text(client))
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(updated > 0)
    }

    /// Replaces a confidential client's secret digest: the old secret stops working. False when
    /// there is no such confidential client.
    pub async fn set_client_secret(&self, client_id: &str, digest: &[u8]) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE oauth2_clients SET secret_digest = $2, revision = revision + 1 \
             WHERE client_id = $1 AND confidential = TRUE",
        )
        .bind(Id(client_id))
        .bind(digest)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(updated > 0)
    }

    /// Deletes a client and everything it holds: its own tokens (whose subject it is), and the
    /// refresh tokens issued to it with every session minted from them. False when there was no
    /// such client. The client's row is locked first: a grant in flight either wrote its token
    /// before (deleted here) or finds no client.
    pub async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        lock_client(&mut w.tx, client_id, None).await?;
        // Its own tokens (`auth_id`) and its users' (`client_id`, the authorization-code grant).
        sqlx::query("DELETE FROM tokens WHERE auth_id = $1 OR client_id = $2")
            .bind(Id(client_id))
            .bind(client_id)
            .execute(&mut *w.tx)
            .await?;
        let chains: Vec<UuidText> =
            sqlx::query_scalar("SELECT uuid FROM refresh_tokens WHERE client_id = $1")
                .bind(client_id)
                .fetch_all(&mut *w.tx)
                .await?;
        for chain in chains {
            purge_refresh_token(&mut w.tx, &String::from(chain)).await?;
        }
        let deleted = sqlx::query("DELETE FROM oauth2_clients WHERE client_id = $1")
            .bind(Id(client_id))
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        w.commit().await?;
        Ok(deleted > 0)
    }
}

/// One row of [`Store::introspection_read`]: what authenticates the client and the token's
/// columns, each NULL when there is no such row. Only what authentication needs of the client:
/// its lists are JSON, which costs the database and the service a conversion each.
#[derive(sqlx::FromRow)]
struct IntrospectionRow {
    client_id: Option<UuidText>,
    confidential: Option<bool>,
    secret_digest: Option<Vec<u8>>,
    session_uuid: Option<UuidText>,
    auth_id: Option<UuidText>,
    token_client_id: Option<String>,
    issued_at: Option<Micros>,
    expires_at: Option<Micros>,
    acl: Option<Json<Vec<String>>>,
    token_scope: Option<Json<Vec<String>>>,
    username: Option<String>,
}

impl IntrospectionRow {
    fn client(&mut self) -> Option<ClientCredentials> {
        Some(ClientCredentials {
            client_id: self.client_id.take()?.into(),
            confidential: self.confidential?,
            secret_digest: self.secret_digest.take(),
        })
    }

    fn token(self) -> Option<TokenOwner> {
        Some(TokenOwner {
            session_uuid: self.session_uuid?.into(),
            auth_id: self.auth_id?.into(),
            client_id: self.token_client_id,
            issued_at: self.issued_at?.into(),
            expires_at: self.expires_at?.into(),
            acl: self.acl?.0,
            scope: self.token_scope.map(|Json(scope)| scope),
            username: self.username,
        })
    }
}

impl Store {
    /// Introspection's one read (a round trip, not two): the client `client_id` names, and the
    /// unexpired token with this digest with its client and its user's username.
    pub async fn introspection_read(
        &self,
        client_id: Option<&str>,
        digest: &[u8],
        now: i64,
    ) -> StoreResult<(Option<ClientCredentials>, Option<TokenOwner>)> {
        let mut row: IntrospectionRow = sqlx::query_as(
            "SELECT c.client_id, c.confidential, c.secret_digest, \
             t.session_uuid, t.auth_id, t.client_id AS token_client_id, t.issued_at, \
             t.expires_at, t.acl, t.scope AS token_scope, u.username FROM (SELECT 1) AS one \
             LEFT JOIN oauth2_clients c ON c.client_id = $1 \
             LEFT JOIN tokens t ON t.digest = $2 AND t.expires_at > $3 \
             LEFT JOIN users u ON u.uuid = t.auth_id",
        )
        .bind(client_id.map(Id))
        .bind(digest)
        .bind(Micros(now))
        .fetch_one(&self.pool)
        .await?;
        Ok((row.client(), row.token()))
    }

    /// Writes a client's own token ([`ClientToken`]): how many of the client's live tokens it
    /// ended to keep its bound; `None` when the client is gone (or no longer at the token's
    /// revision). Under its
    /// token bound it is one statement where the backend allows (`client_token_in_one_write`);
    /// otherwise one transaction: the bound raised if under the limit, else the client's expired
    /// tokens and its live ones past the newest `keep - 1` deleted and the bound set to the exact
    /// count, then the token.
    pub async fn issue_client_token(&self, token: &ClientToken) -> StoreResult<Option<u64>> {
        let limit = token.keep.unwrap_or(i64::MAX).max(1);
        if self.client_token_in_one_write(token, limit).await? {
            return Ok(Some(0));
        }
        let search = client_token_search(token);
        let mut w = self.begin_write().await?;
        if !lock_client(&mut w.tx, &token.client_id, token.revision).await? {
            return Ok(None);
        }
        let raised = sqlx::query(
            "UPDATE oauth2_clients SET tokens = tokens + 1 \
             WHERE client_id = $1 AND tokens < $2",
        )
        .bind(Id(&token.client_id))
        .bind(limit)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        // On SQLite the insert's trigger raises the bound once more: it stays an upper bound.
        let ended = match raised {
            0 => end_client_tokens_beyond(&mut w.tx, token, limit - 1).await?,
            _ => 0,
        };
        bind_client_token(&client_token_insert("TRUE"), token, &search)
            .execute(&mut *w.tx)
            .await?;
        if raised == 0 {
            sqlx::query(
                "UPDATE oauth2_clients SET tokens = \
                 (SELECT COUNT(*) FROM tokens WHERE auth_id = $1) WHERE client_id = $1",
            )
            .bind(Id(&token.client_id))
            .execute(&mut *w.tx)
            .await?;
        }
        w.commit().await?;
        Ok(Some(ended))
    }
}

/// Deletes the client's expired tokens, and its live ones past the newest `kept`; how many live
/// ones.
async fn end_client_tokens_beyond(
    tx: &mut super::Conn,
    token: &ClientToken,
    kept: i64,
) -> StoreResult<u64> {
    sqlx::query("DELETE FROM tokens WHERE auth_id = $1 AND expires_at <= $2")
        .bind(Id(&token.client_id))
        .bind(Micros(token.issued_at))
        .execute(&mut *tx)
        .await?;
    let ended = sqlx::query(
        "DELETE FROM tokens WHERE digest IN (SELECT digest FROM tokens WHERE auth_id = $1 \
         ORDER BY expires_at DESC LIMIT $3 OFFSET $2)",
    )
    .bind(Id(&token.client_id))
    .bind(kept.max(0))
    .bind(i64::MAX)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(ended)
}
