//! What the use cases share: the store, the clock, the hasher, the throttle, the cache, the
//! metrics and the refresh-token key, and the checks every use case makes with them (who the
//! caller is, which token a value is, whether a user exists). It knows no use case: the use cases
//! are built from it by `services.rs`, above them.

use std::sync::Arc;

use super::cache::{Invalidation, TokenCache};
use super::caller::{Actor, Caller, Credentials};
use super::clock::SharedClock;
use super::error::{DomainError, DomainResult, Refusal};
use super::metrics::Metrics;
use super::password::PasswordHasher;
use super::secrets::{self, RefreshKey};
use super::throttle::Throttle;
use crate::config::Config;
use crate::store::{Store, TokenRecord, User};

/// Everything the use cases share; private to the domain.
pub(super) struct Context {
    pub(super) config: Config,
    pub(super) store: Store,
    pub(super) clock: SharedClock,
    pub(super) hasher: PasswordHasher,
    pub(super) refresh_key: RefreshKey,
    pub(super) top_tenant: String,
    pub(super) throttle: Throttle,
    pub(super) cache: Option<TokenCache>,
    pub(super) metrics: Metrics,
    /// The OAuth2 issuer (SPEC §11.1), once the server knows where it listens; `None`: the OAuth2
    /// face is off.
    pub(super) issuer: Option<String>,
    /// Clients that authenticated lately (the client-credentials grant's guess).
    pub(super) known_clients: super::oauth2::client_auth::KnownClients,
    /// The keys that sign ID tokens, as this instance last read them.
    pub(super) signing_keys: super::oauth2::keys::SigningKeys,
}

impl Context {
    /// The user, or `UnknownUser`.
    pub(super) async fn existing_user(&self, uuid: &str) -> DomainResult<User> {
        self.store
            .get_user(uuid)
            .await?
            .ok_or_else(|| DomainError::UnknownUser(uuid.to_string()))
    }

    /// `user` (the one a password login names, if any), when the password is right.
    pub(super) async fn authenticate(
        &self,
        user: Option<User>,
        password: &str,
    ) -> DomainResult<User> {
        let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
        // Always hash once, even for an unknown login, so timing tells nothing.
        let matched = self.hasher.verify(password, hash).await?;
        match user {
            Some(user) if matched => Ok(user),
            _ => Err(DomainError::AuthenticationFailed),
        }
    }

    /// The live access token with this value. Refresh tokens live elsewhere and never match.
    /// With the cache on, a hit costs no database round trip; a miss fills it.
    pub(super) async fn lookup_token(&self, value: &str) -> DomainResult<Option<Arc<TokenRecord>>> {
        let digest = secrets::digest(value);
        let now = self.clock.now_micros();
        let Some(cache) = &self.cache else {
            return Ok(self.store.find_token(&digest, now).await?.map(Arc::new));
        };
        if let Some(record) = cache.get(&digest) {
            return Ok(Some(record));
        }
        let generation = cache.generation();
        let record = self.store.find_token(&digest, now).await?.map(Arc::new);
        if let Some(record) = &record {
            cache.insert(digest, record.clone(), generation);
        }
        Ok(record)
    }

    /// Whether the token is live, reading no more than that when the cache is off (with it on,
    /// the record is read and cached, as for every validation).
    pub(super) async fn token_is_live(&self, value: &str) -> DomainResult<bool> {
        if self.cache.is_some() {
            return Ok(self.lookup_token(value).await?.is_some());
        }
        let digest = secrets::digest(value);
        Ok(self
            .store
            .token_is_live(&digest, self.clock.now_micros())
            .await?)
    }

    /// Makes tokens stop validating at once here and, on PostgreSQL, on every instance.
    pub(super) async fn invalidate(&self, invalidation: Invalidation) {
        if let Some(cache) = &self.cache {
            cache.apply(&invalidation);
        }
        if let Err(error) = self.store.notify_invalidation(&invalidation.encode()).await {
            tracing::warn!(%error, "could not notify other instances of an invalidation");
        }
    }

    /// Checks that `actor` may act with `required` access: a live token granting it, and a
    /// `Wazo-Tenant`, if any, naming the token's tenant.
    pub(super) async fn authorize(&self, actor: &Actor, required: &str) -> DomainResult<Caller> {
        let credentials = match actor {
            Actor::Operator => return Ok(Caller::Operator),
            Actor::Request(credentials) => credentials,
        };
        let Credentials { token, tenant } = credentials;
        let asked_tenant = tenant
            .as_ref()
            .map(|t| String::from_utf8_lossy(t).into_owned());
        let refused = |refusal| DomainError::Unauthorized {
            token: token.clone(),
            refusal,
            required: required.to_string(),
            tenant: asked_tenant.clone(),
        };
        let Some(value) = token else {
            return Err(refused(Refusal::NotFoundOrExpired));
        };
        let record = self
            .lookup_token(value)
            .await?
            .ok_or_else(|| refused(Refusal::NotFoundOrExpired))?;
        let caller = Caller::Token(record);
        if !caller.grants(required) {
            return Err(refused(Refusal::MissingPermissionOrInvalidTenant));
        }
        if let (Some(tenant), Caller::Token(record)) = (tenant, &caller) {
            if tenant.as_slice() != record.metadata.tenant_uuid.as_bytes() {
                return Err(refused(Refusal::MissingPermissionOrInvalidTenant));
            }
        }
        Ok(caller)
    }
}
