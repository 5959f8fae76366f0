//! Sign-in through a browser (SPEC §11.3): browser sessions, remembered consents and
//! authorization codes. Values are found by their digests only.

use sqlx::types::Json;

use super::{Conn, Db, Store};
use crate::store::columns::{Id, Micros};
use crate::store::{
    search_text, AuthorizationCode, BrowserSession, CodeMinted, CodeRedeem, CodeRedemption,
    CodeTokenWrite, NewBrowserSession, StoreResult,
};

const SESSION_COLUMNS: &str = "user_uuid, auth_time, password_stamp";

pub(super) const CODE_COLUMNS: &str =
    "client_id, user_uuid, redirect_uri, code_challenge, scope, nonce, \
     browser_session, auth_time, expires_at, session_uuid, refresh_uuid";

impl Store {
    /// Writes a browser session; its user keeps only the `keep` newest.
    pub async fn create_browser_session(
        &self,
        session: &NewBrowserSession,
        keep: i64,
    ) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO oauth2_browser_sessions (digest, {SESSION_COLUMNS}, expires_at) \
             VALUES ($1, $2, $3, $4, $5)"
        ))
        .bind(&session.digest)
        .bind(Id(&session.user_uuid))
        .bind(Micros(session.auth_time))
        .bind(&session.password_stamp)
        .bind(Micros(session.expires_at))
        .execute(&mut *w.tx)
        .await?;
        sqlx::query(
            "DELETE FROM oauth2_browser_sessions WHERE user_uuid = $1 AND digest NOT IN \
             (SELECT digest FROM oauth2_browser_sessions WHERE user_uuid = $1 \
              ORDER BY auth_time DESC LIMIT $2)",
        )
        .bind(Id(&session.user_uuid))
        .bind(keep)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await
    }

    /// The unexpired browser session with this digest.
    pub async fn find_browser_session(
        &self,
        digest: &[u8],
        now: i64,
    ) -> StoreResult<Option<BrowserSession>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {SESSION_COLUMNS} FROM oauth2_browser_sessions \
             WHERE digest = $1 AND expires_at > $2"
        ))
        .bind(digest)
        .bind(Micros(now))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The scope `user_uuid` allowed `client_id`, if they did.
    pub async fn consent(
        &self,
        user_uuid: &str,
        client_id: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        let found: Option<Json<Vec<String>>> = sqlx::query_scalar(
            "SELECT scope FROM oauth2_consents WHERE user_uuid = $1 AND client_id = $2",
        )
        .bind(Id(user_uuid))
        .bind(Id(client_id))
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.map(|Json(scope)| scope))
    }

    /// Remembers that `user_uuid` allowed `client_id` `scope` (replacing what they allowed before).
    pub async fn remember_consent(
        &self,
        user_uuid: &str,
        client_id: &str,
        scope: &[String],
        now: i64,
    ) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO oauth2_consents (user_uuid, client_id, scope, granted_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_uuid, client_id) \
             DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
        )
        .bind(Id(user_uuid))
        .bind(Id(client_id))
        .bind(Json(scope))
        .bind(Micros(now))
        .execute(&mut *w.tx)
        .await?;
        w.commit().await
    }

    /// Whether a second redemption of the code with this digest came.
    pub async fn code_replayed(&self, digest: &[u8]) -> StoreResult<bool> {
        let replayed: Option<bool> =
            sqlx::query_scalar("SELECT replayed FROM oauth2_codes WHERE digest = $1")
                .bind(digest)
                .fetch_optional(&self.pool)
                .await?;
        Ok(replayed.unwrap_or(false))
    }

    /// Forgets what `user_uuid` allowed `client_id`; false when there was nothing.
    pub async fn forget_consent(&self, user_uuid: &str, client_id: &str) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let forgotten =
            sqlx::query("DELETE FROM oauth2_consents WHERE user_uuid = $1 AND client_id = $2")
                .bind(Id(user_uuid))
                .bind(Id(client_id))
                .execute(&mut *w.tx)
                .await?
                .rows_affected();
        w.commit().await?;
        Ok(forgotten > 0)
    }

    /// Writes a code, unless its browser session holds `pending` unredeemed live codes at `now`;
    /// false then, or when its client or user is gone.
    pub async fn create_code(
        &self,
        digest: &[u8],
        code: &AuthorizationCode,
        pending: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let written = sqlx::query(&format!(
            "INSERT INTO oauth2_codes (digest, {CODE_COLUMNS}) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL \
             WHERE EXISTS (SELECT 1 FROM oauth2_clients WHERE client_id = $2) \
             AND EXISTS (SELECT 1 FROM users WHERE uuid = $3) \
             AND (SELECT COUNT(*) FROM oauth2_codes WHERE browser_session = $8 \
                  AND session_uuid IS NULL AND expires_at > $11) < $12"
        ))
        .bind(digest)
        .bind(Id(&code.client_id))
        .bind(Id(&code.user_uuid))
        .bind(&code.redirect_uri)
        .bind(&code.code_challenge)
        .bind(Json(&code.scope))
        .bind(&code.nonce)
        .bind(&code.browser_session)
        .bind(Micros(code.auth_time))
        .bind(Micros(code.expires_at))
        .bind(Micros(now))
        .bind(pending)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(written > 0)
    }

    /// Ends a browser session (RP-initiated logout): false when there was none.
    pub async fn end_browser_session(&self, digest: &[u8]) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let ended = sqlx::query("DELETE FROM oauth2_browser_sessions WHERE digest = $1")
            .bind(digest)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        w.commit().await?;
        Ok(ended > 0)
    }

    /// Deletes browser sessions that expired before `now`, codes never redeemed that expired,
    /// redeemed ones that expired before `codes_before` (kept a while after their end, so that a
    /// late replay is still recognised), and device codes that expired before `codes_before` (a
    /// late poll is still answered `expired_token`).
    pub async fn purge_authorizations(&self, now: i64, codes_before: i64) -> StoreResult<u64> {
        let mut w = self.begin_write().await?;
        let sessions = sqlx::query("DELETE FROM oauth2_browser_sessions WHERE expires_at <= $1")
            .bind(Micros(now))
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        // A redeemed code links its session to the browser session (ending the one ends the
        // other): kept while that browser session lives.
        let codes = sqlx::query(
            "DELETE FROM oauth2_codes WHERE (session_uuid IS NULL AND expires_at <= $2) \
             OR (expires_at <= $1 AND NOT EXISTS (SELECT 1 FROM oauth2_browser_sessions s \
                 WHERE s.digest = oauth2_codes.browser_session))",
        )
        .bind(Micros(codes_before))
        .bind(Micros(now))
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        let devices = sqlx::query("DELETE FROM oauth2_device_codes WHERE expires_at <= $1")
            .bind(Micros(codes_before))
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        let keys = sqlx::query("DELETE FROM oauth2_signing_keys WHERE publish_until <= $1")
            .bind(Micros(now))
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        w.commit().await?;
        Ok(sessions + codes + devices + keys)
    }
}

/// What makes a code redeemable by a [`CodeRedeem`] bound as `$1`–`$7` and `$20` (see
/// [`bind_code_token`]): its client's, unused, unexpired, with its proof, and its client still at
/// the revision authenticated.
pub(super) const CODE_REDEEMABLE: &str = "digest = $1 AND client_id = $4 \
     AND session_uuid IS NULL AND expires_at > $3 AND code_challenge = $6 \
     AND (redirect_uri IS NULL OR redirect_uri = $7) AND EXISTS (SELECT 1 FROM oauth2_clients k \
     WHERE k.client_id = $4 AND k.revision = COALESCE($8, k.revision))";

type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>;

/// `sql` with a code's redemption bound as `$1`–`$8`: the code's digest, the session it starts
/// (and the chain, `$5`), the time, the client, the PKCE challenge of the verifier, the redirect
/// URI and the client's revision.
pub(super) fn bind_redemption<'q>(sql: &'q str, redeem: &'q CodeRedeem<'_>) -> Query<'q> {
    sqlx::query(sql)
        .bind(redeem.digest)
        .bind(redeem.session_uuid)
        .bind(Micros(redeem.now))
        .bind(Id(redeem.client_id))
        .bind(redeem.chain_uuid)
        .bind(redeem.challenge)
        .bind(redeem.redirect_uri)
        .bind(redeem.revision)
}

/// The redemption (`$1`–`$8`, [`bind_redemption`]), answering the code redeemed.
pub(super) fn redeem_code_statement() -> String {
    format!(
        "UPDATE oauth2_codes SET session_uuid = $2, refresh_uuid = $5 \
         WHERE {CODE_REDEEMABLE} RETURNING {CODE_COLUMNS}"
    )
}

/// Why a code was not redeemed, read right after its redemption in the same writer's turn; a
/// code redeemed before is marked replayed (its first redemption, still minting, ends what it
/// minted).
pub(super) async fn refused_redemption(
    conn: &mut Conn,
    redeem: &CodeRedeem<'_>,
) -> StoreResult<CodeRedemption> {
    let earlier: Option<AuthorizationCode> = sqlx::query_as(&format!(
        "SELECT {CODE_COLUMNS} FROM oauth2_codes WHERE digest = $1 AND client_id = $2"
    ))
    .bind(redeem.digest)
    .bind(Id(redeem.client_id))
    .fetch_optional(&mut *conn)
    .await?;
    if earlier
        .as_ref()
        .is_some_and(|code| code.session_uuid.is_some())
    {
        sqlx::query("UPDATE oauth2_codes SET replayed = TRUE WHERE digest = $1")
            .bind(redeem.digest)
            .execute(&mut *conn)
            .await?;
    }
    Ok(match earlier {
        Some(code) if code.session_uuid.is_some() => CodeRedemption::Replayed(code),
        Some(code) if code.expires_at <= redeem.now => CodeRedemption::Expired,
        Some(_) => CodeRedemption::Mismatch,
        None => CodeRedemption::Unknown,
    })
}

/// A code redeemed with its token, as the write answers it.
#[derive(sqlx::FromRow)]
pub(super) struct MintedRow {
    #[sqlx(flatten)]
    pub code: AuthorizationCode,
    pub default_found: bool,
}

impl MintedRow {
    pub(super) fn minted(self) -> CodeMinted {
        CodeMinted {
            code: self.code,
            default_found: self.default_found,
        }
    }
}

/// The search text of a code's token (as `TokenRow`'s: user agent, address, client).
pub(super) fn code_token_search(redeem: &CodeRedeem<'_>, token: &CodeTokenWrite<'_>) -> String {
    search_text(&[
        Some(token.user_agent),
        Some(token.remote_addr),
        Some(redeem.client_id),
    ])
}

/// `sql` with a code's redemption bound as `$1`–`$8` (as [`Store::redeem_code`] binds it) and its
/// token as `$9`–`$21`: the token's digest, session (as a token's uuid), expiry, address, user
/// agent and search text, the session limit, the limited purposes, the default policy's name,
/// `xivo_uuid`, the scope value that starts a chain, the scope values dropped (a JSON array).
pub(super) fn bind_code_token<'q>(
    sql: &'q str,
    redeem: &'q CodeRedeem<'_>,
    token: &'q CodeTokenWrite<'_>,
    search: &'q str,
) -> Query<'q> {
    bind_redemption(sql, redeem)
        .bind(&token.token_digest)
        .bind(Id(redeem.session_uuid))
        .bind(Micros(token.expires_at))
        .bind(token.remote_addr)
        .bind(token.user_agent)
        .bind(search)
        .bind(token.session_limit)
        .bind(token.limited_purposes[0])
        .bind(token.limited_purposes[1])
        .bind(token.default_policy)
        .bind(token.xivo_uuid)
        .bind(token.chain_scope)
        .bind(Json(token.dropped))
}
