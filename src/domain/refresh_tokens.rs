//! The refresh-token use cases: list them (never their values, which are not stored) and
//! delete one; and the lifetimes of SPEC §10.

use super::acl::acl_word;
use super::cache::Invalidation;
use super::caller::Actor;
use super::context::Context;
use super::error::{DomainError, DomainResult};
use super::records::{ListParams, Page, RefreshTokenView};
use crate::config::Config;
use crate::store::{RefreshCutoffs, RefreshToken};

/// The lifetimes (`refresh_token_idle_lifetime`, `refresh_token_max_lifetime`) at `now`, as the
/// cutoffs the store applies; `None` when neither is set (refresh tokens never expire).
pub(super) fn cutoffs(config: &Config, now: i64) -> Option<RefreshCutoffs> {
    let before = |seconds: u64| match seconds {
        0 => i64::MIN,
        seconds => now.saturating_sub(
            i64::try_from(seconds)
                .unwrap_or(i64::MAX)
                .saturating_mul(1_000_000),
        ),
    };
    let (idle, max) = (
        config.refresh_token_idle_lifetime,
        config.refresh_token_max_lifetime,
    );
    (idle > 0 || max > 0).then(|| RefreshCutoffs {
        idle: before(idle),
        max: before(max),
    })
}

/// Whether `token` has expired: unused since the idle cutoff, or created before the max one.
pub(super) fn expired(token: &RefreshToken, cutoffs: Option<RefreshCutoffs>) -> bool {
    cutoffs.is_some_and(|c| token.used_at <= c.idle || token.created_at <= c.max)
}

/// A refresh token's `used_at` is rewritten only once it lags behind by this much: a hundredth of
/// the idle lifetime, at most a minute (a minute with none), so that most grants write nothing to
/// the refresh token's row. The idle lifetime may then end up to that much early, never late.
pub(super) fn use_worth_recording(token: &RefreshToken, config: &Config, now: i64) -> bool {
    token.used_at <= use_recorded_if_before(config, now)
}

/// A refresh token's `used_at` at or before this is worth rewriting now.
pub(super) fn use_recorded_if_before(config: &Config, now: i64) -> i64 {
    const MINUTE: i64 = 60_000_000;
    let idle = i64::try_from(config.refresh_token_idle_lifetime)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000);
    let step = match idle {
        0 => MINUTE,
        idle => (idle / 100).min(MINUTE),
    };
    now.saturating_sub(step)
}

pub use crate::store::REFRESH_ORDER;

/// A refresh-token list query: the list parameters and the `mobile` filter.
#[derive(Clone, Debug, Default)]
pub struct RefreshTokenQuery {
    pub mobile: Option<bool>,
    pub params: ListParams,
}

/// The refresh-token use cases.
pub struct RefreshTokens<'a>(pub(super) &'a Context);

impl RefreshTokens<'_> {
    async fn page(
        &self,
        user_uuid: Option<&str>,
        query: DomainResult<RefreshTokenQuery>,
    ) -> DomainResult<Page<RefreshTokenView>> {
        let query = query?;
        let params = (&query.params).into();
        Ok(self
            .0
            .store
            .list_refresh_tokens(user_uuid, query.mobile, &params)
            .await?
            .into())
    }

    /// GET /tokens
    pub async fn list_all(
        &self,
        actor: &Actor,
        query: DomainResult<RefreshTokenQuery>,
    ) -> DomainResult<Page<RefreshTokenView>> {
        self.0.authorize(actor, "auth.tokens.read").await?;
        self.page(None, query).await
    }

    /// GET /users/{uuid}/tokens
    pub async fn list_for_user(
        &self,
        actor: &Actor,
        user_uuid: &str,
        query: DomainResult<RefreshTokenQuery>,
    ) -> DomainResult<Page<RefreshTokenView>> {
        self.0
            .authorize(actor, &format!("auth.users.{user_uuid}.tokens.read"))
            .await?;
        self.0.existing_user(user_uuid).await?;
        self.page(Some(user_uuid), query).await
    }

    /// GET /users/me/tokens
    pub async fn list_mine(
        &self,
        actor: &Actor,
        query: DomainResult<RefreshTokenQuery>,
    ) -> DomainResult<Page<RefreshTokenView>> {
        let caller = self.0.authorize(actor, "auth.users.me.tokens.read").await?;
        let user_uuid = caller.user_uuid().ok_or(DomainError::NotFound)?;
        self.page(Some(user_uuid), query).await
    }

    /// DELETE /users/{uuid}/tokens/{client_id}
    pub async fn delete_for_user(
        &self,
        actor: &Actor,
        user_uuid: &str,
        client_id: &str,
    ) -> DomainResult<()> {
        let required = format!(
            "auth.users.{user_uuid}.tokens.{}.delete",
            acl_word(client_id)
        );
        self.0.authorize(actor, &required).await?;
        self.delete(user_uuid, client_id).await
    }

    /// DELETE /users/me/tokens/{client_id}
    pub async fn delete_mine(&self, actor: &Actor, client_id: &str) -> DomainResult<()> {
        let required = format!("auth.users.me.tokens.{}.delete", acl_word(client_id));
        let caller = self.0.authorize(actor, &required).await?;
        let user_uuid = caller.user_uuid().ok_or(DomainError::NotFound)?;
        self.delete(user_uuid, client_id).await
    }

    /// Deletes the refresh token and ends the sessions minted from it, so that a client that
    /// logs out really is logged out.
    async fn delete(&self, user_uuid: &str, client_id: &str) -> DomainResult<()> {
        self.0.existing_user(user_uuid).await?;
        let store = &self.0.store;
        let deleted = store.delete_refresh_token(user_uuid, client_id).await?;
        // An OAuth2 client's consent goes with its refresh tokens (SPEC §11.3).
        let forgotten = match crate::domain::parse_uuid(client_id) {
            Some(uuid) => store.forget_consent(user_uuid, &uuid).await?,
            None => false,
        };
        if !deleted && !forgotten {
            return Err(DomainError::UnknownRefreshToken(client_id.to_string()));
        }
        self.0
            .invalidate(Invalidation::User(user_uuid.to_string()))
            .await;
        self.0.metrics.revoked("refresh_token");
        Ok(())
    }
}
