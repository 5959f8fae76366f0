//! The token rules of SPEC §2–§3: password and refresh-token grants, issuing, validating.
//! No HTTP here: callers pass plain values and get domain errors.

use std::sync::Arc;

use serde_json::json;

use super::acl::{self, Holder};
use super::password::HashError;
use super::token;
use crate::app::App;
use crate::cache::Invalidation;
use crate::store::{IssueRequest, OfflineGrant, RefreshToken, StoreError, TokenRecord, User};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Every authentication failure, whatever its cause: nothing tells an attacker which.
    #[error("authentication failed")]
    Failed,
    #[error("user {0} has exceeded the maximum number of active sessions")]
    TooManySessions(String),
    /// Password hashing is saturated: come back shortly.
    #[error("password hashing is saturated")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<HashError> for AuthError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy => AuthError::Busy,
            HashError::Failed(message) => AuthError::Internal(anyhow::anyhow!(message)),
        }
    }
}

/// Where a request comes from, recorded on the session and token.
#[derive(Clone, Debug)]
pub struct ClientContext {
    pub remote_addr: String,
    pub user_agent: String,
    pub mobile: bool,
}

/// A freshly issued access token.
#[derive(Debug)]
pub struct Issued {
    pub token: String,
    pub record: TokenRecord,
    pub refresh_token: Option<String>,
    pub sessions_revoked: u64,
}

impl App {
    /// The user a password login names, when the password is right.
    pub async fn authenticate(&self, login: &str, password: &str) -> Result<User, AuthError> {
        let user = self.store.find_login_user(login).await?;
        let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
        // Always hash once, even for an unknown login, so timing tells nothing.
        let matched = self.hasher.verify(password, hash).await?;
        match user {
            Some(user) if matched => Ok(user),
            _ => Err(AuthError::Failed),
        }
    }

    /// The refresh token `value` of `client_id` (exact match), and its still-enabled user.
    pub async fn redeem_refresh_token(
        &self,
        value: &str,
        client_id: &str,
    ) -> Result<(RefreshToken, User), AuthError> {
        let redeemed = self.find_refresh_grant(value, client_id).await;
        self.metrics.refresh_grant(match &redeemed {
            Ok(_) => "success",
            Err(AuthError::Failed) => "failed",
            Err(_) => "error",
        });
        redeemed
    }

    async fn find_refresh_grant(
        &self,
        value: &str,
        client_id: &str,
    ) -> Result<(RefreshToken, User), AuthError> {
        let refresh = self
            .store
            .find_refresh_token(&token::digest(value))
            .await?
            .filter(|r| r.client_id == client_id)
            .ok_or(AuthError::Failed)?;
        let user = self
            .store
            .get_user_for_token(&refresh.user_uuid)
            .await?
            .filter(|u| u.enabled)
            .ok_or(AuthError::Failed)?;
        Ok((refresh, user))
    }

    /// The ACL a new token of `user` receives: the default policy's, then the user's policies'.
    pub async fn user_acl(&self, user: &User) -> Result<Vec<String>, StoreError> {
        let mut acl = Vec::new();
        if let Some(name) = &self.config.default_user_policy {
            match self.store.find_policy_by_name(name).await? {
                Some(policy) => acl.extend(policy.acl),
                None => tracing::warn!(policy = %name, "default_user_policy does not exist"),
            }
        }
        for policy in self.store.user_policies(&user.uuid).await? {
            acl.extend(policy.acl);
        }
        Ok(acl)
    }

    /// Issues an access token for `user`. `offline` (client_id, login) asks for a refresh token;
    /// `from_refresh` is the refresh token of a refresh grant.
    pub async fn issue(
        &self,
        user: &User,
        expiration: i64,
        ctx: &ClientContext,
        offline: Option<(&str, &str)>,
        from_refresh: Option<RefreshToken>,
    ) -> Result<Issued, AuthError> {
        let now = self.clock.now_micros();
        let session_limit = matches!(user.purpose.as_str(), "user" | "external_api")
            .then_some(i64::try_from(self.config.max_user_concurrent_sessions).unwrap_or(i64::MAX));
        let acl = self.user_acl(user).await?;
        let pbx_user_uuid = (user.purpose == "user").then(|| user.uuid.clone());
        let metadata = json!({
            "uuid": user.uuid,
            "tenant_uuid": user.tenant_uuid,
            "auth_id": user.uuid,
            "pbx_user_uuid": pbx_user_uuid,
            "xivo_uuid": self.config.xivo_uuid,
            "purpose": user.purpose,
        });
        let value = token::new_access_token();
        let offline = offline.map(|(client_id, login)| {
            let new_uuid = uuid::Uuid::new_v4().to_string();
            OfflineGrant {
                new_digest: token::digest(&self.refresh_key.value_for(&new_uuid)),
                new_uuid,
                client_id: client_id.to_string(),
                login: login.to_string(),
            }
        });
        let request = IssueRequest {
            token_digest: token::digest(&value),
            session_uuid: uuid::Uuid::new_v4().to_string(),
            user_uuid: user.uuid.clone(),
            tenant_uuid: user.tenant_uuid.clone(),
            mobile: ctx.mobile,
            issued_at: now,
            expires_at: now + expiration * 1_000_000,
            acl,
            metadata,
            remote_addr: ctx.remote_addr.clone(),
            user_agent: ctx.user_agent.clone(),
            from_refresh_token: from_refresh,
            offline,
            session_limit,
        };
        let issued = self
            .store
            .issue_token(&request)
            .await?
            .ok_or_else(|| AuthError::TooManySessions(user.uuid.clone()))?;
        if issued.sessions_revoked > 0 {
            self.invalidate(Invalidation::User(user.uuid.clone())).await;
        }
        let refresh_token = issued
            .refresh_token_uuid
            .map(|uuid| self.refresh_key.value_for(&uuid));
        Ok(Issued {
            token: value,
            record: TokenRecord {
                session_uuid: request.session_uuid,
                auth_id: request.user_uuid,
                issued_at: request.issued_at,
                expires_at: request.expires_at,
                acl: request.acl,
                metadata: request.metadata,
                remote_addr: request.remote_addr,
                user_agent: request.user_agent,
            },
            refresh_token,
            sessions_revoked: issued.sessions_revoked,
        })
    }

    /// The live access token with this value. Refresh tokens live elsewhere and never match.
    /// With the cache on, a hit costs no database round trip; a miss fills it.
    pub async fn validate(&self, value: &str) -> Result<Option<Arc<TokenRecord>>, StoreError> {
        let digest = token::digest(value);
        let now = self.clock.now_micros();
        let Some(cache) = &self.cache else {
            return Ok(self.store.find_token(&digest, now).await?.map(Arc::new));
        };
        if let Some(record) = cache.get(&digest, now) {
            return Ok(Some(record));
        }
        let generation = cache.generation();
        let record = self.store.find_token(&digest, now).await?.map(Arc::new);
        if let Some(record) = &record {
            cache.insert(digest, record.clone(), generation);
        }
        Ok(record)
    }

    /// Makes tokens stop validating at once here and, on PostgreSQL, on every instance.
    pub async fn invalidate(&self, invalidation: Invalidation) {
        if let Some(cache) = &self.cache {
            cache.apply(&invalidation);
        }
        if let Err(error) = self.store.notify_invalidation(&invalidation.encode()).await {
            tracing::warn!(%error, "could not notify other instances of an invalidation");
        }
    }
}

/// Whether `record`'s ACL grants `required`.
pub fn token_grants(record: &TokenRecord, required: &str) -> bool {
    acl::grants(
        &record.acl,
        required,
        Holder {
            auth_id: &record.auth_id,
            session_uuid: &record.session_uuid,
        },
    )
}
