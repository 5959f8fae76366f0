//! Revocation (DELETE /token/{t}: an access token's session, or a refresh token and the sessions
//! minted from it) and the purge of expired tokens, refresh tokens and brute-force counts.

use super::{token_value, Tokens};
use crate::domain::cache::Invalidation;
use crate::domain::error::DomainResult;
use crate::domain::refresh_tokens;
use crate::domain::secrets;

/// Expired tokens deleted per purge statement; small batches keep write locks short.
const PURGE_BATCH: i64 = 1000;

impl Tokens<'_> {
    /// DELETE /token/{t}: ends the access token's session, or revokes the refresh token with
    /// this value and the sessions minted from it; a success for unknown values too.
    pub async fn revoke(&self, value: &str) -> DomainResult<()> {
        let digest = secrets::digest(&token_value(value)?);
        self.0.store.revoke_token(&digest).await?;
        self.0
            .invalidate(Invalidation::Token(hex::encode(&digest)))
            .await;
        if let Some(user_uuid) = self.0.store.revoke_refresh_token(&digest).await? {
            self.0.invalidate(Invalidation::User(user_uuid)).await;
            self.0.metrics.revoked("refresh_token");
        }
        self.0.metrics.revoked("token");
        Ok(())
    }

    /// Expired refresh tokens go with the sessions minted from them, whose access tokens may
    /// still be live: those stop validating at once (SPEC §10). Returns the number of sessions.
    async fn purge_expired_refresh_tokens(&self) -> DomainResult<u64> {
        let ctx = self.0;
        let mut sessions = 0;
        while let Some(cutoffs) = refresh_tokens::cutoffs(&ctx.config, ctx.clock.now_micros()) {
            let (purged, ended, users) = ctx
                .store
                .purge_expired_refresh_tokens(cutoffs, PURGE_BATCH)
                .await?;
            sessions += ended;
            let mut users = users;
            users.sort();
            users.dedup();
            for user in users {
                ctx.invalidate(Invalidation::User(user)).await;
            }
            if purged < PURGE_BATCH.unsigned_abs() {
                break;
            }
        }
        Ok(sessions)
    }

    /// Deletes every expired token and its session, and every expired refresh token with the
    /// sessions minted from it, in batches. Returns the number of sessions.
    pub async fn purge_expired(&self) -> DomainResult<u64> {
        let mut total = 0;
        loop {
            let now = self.0.clock.now_micros();
            let purged = self.0.store.purge_expired(now, PURGE_BATCH).await?;
            total += purged;
            if purged < PURGE_BATCH.unsigned_abs() {
                break;
            }
        }
        total += self.purge_expired_refresh_tokens().await?;
        // Browser sessions, authorization and device codes: a code is kept a day past its end, so
        // that a late replay still ends what it issued and a late poll hears `expired_token`.
        let now = self.0.clock.now_micros();
        let codes_before = now.saturating_sub(86_400 * 1_000_000);
        if let Err(error) = self.0.store.purge_authorizations(now, codes_before).await {
            tracing::warn!(%error, "purge of browser sessions and codes failed");
        }
        // Brute-force counts go with the tokens: only those forgotten and holding nothing back.
        match self.0.throttle.purge().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(counts = n, "purged forgotten brute-force counts"),
            Err(error) => tracing::warn!(%error, "purge of brute-force counts failed"),
        }
        Ok(total)
    }
}
