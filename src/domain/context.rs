//! The services and what they share: the store, the clock, the hasher, the throttle, the cache,
//! the metrics and the refresh-token key. [`Services::start`] composes them; the faces reach the
//! use cases through its accessors and nothing else.

use std::sync::Arc;
use std::time::Duration;

use super::cache::{Invalidation, TokenCache};
use super::caller::{Actor, Caller, Credentials};
use super::clock::SharedClock;
use super::error::{DomainError, DomainResult, Refusal};
use super::metrics::Metrics;
use super::password::PasswordHasher;
use super::policies::Policies;
use super::refresh_tokens::RefreshTokens;
use super::secrets::{self, RefreshKey};
use super::sessions::Sessions;
use super::throttle::{Throttle, ThrottlePolicy};
use super::token_secret::TokenSecret;
use super::tokens::Tokens;
use super::users::Users;
use crate::config::Config;
use crate::store::{Backend, Store, TokenRecord, User};

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
}

/// The domain, composed: one per running service.
pub struct Services {
    ctx: Context,
}

fn throttle_policy(config: &Config) -> ThrottlePolicy {
    ThrottlePolicy {
        login_failures: config.bruteforce_login_failures,
        address_failures: config.bruteforce_address_failures,
        base_delay: Duration::from_secs(config.bruteforce_base_delay),
        max_delay: Duration::from_secs(config.bruteforce_max_delay),
        account_max_delay: Duration::from_secs(config.bruteforce_account_max_delay),
        forget_after: Duration::from_secs(config.bruteforce_forget_after),
        trusted_for: Duration::from_secs(config.bruteforce_trusted_for),
    }
}

impl Services {
    /// Connects, migrates, loads keys and ensures the top tenant and the bootstrap administrator.
    pub async fn start(config: Config, clock: SharedClock) -> anyhow::Result<Services> {
        config.validate()?;
        secrets::check_secret_source(&config)?;
        let store = Store::connect_within(
            &config.database_url,
            Duration::from_secs(config.database_connect_timeout),
        )
        .await?;
        let refresh_key = secrets::load_refresh_key(&config, &store).await?;
        let top_tenant = store.ensure_top_tenant().await?;
        let left = store
            .backfill_username_skeletons(super::untrusted::skeleton)
            .await?;
        if left > 0 {
            tracing::warn!(
                users = left,
                "usernames that look like another user's, made before look-alikes were refused, \
                 are kept as they are"
            );
        }
        let metrics = Metrics::new();
        let services = Services {
            ctx: Context {
                hasher: PasswordHasher::new()?.with_timing(metrics.password_hash_histogram()),
                metrics,
                throttle: Throttle::new(throttle_policy(&config), store.clone(), clock.clone()),
                store,
                refresh_key,
                top_tenant,
                cache: (config.token_cache_size > 0).then(|| {
                    TokenCache::new(
                        config.token_cache_size,
                        Duration::from_secs(config.token_cache_ttl),
                        clock.clone(),
                    )
                }),
                clock,
                config,
            },
        };
        if let (Some(username), Some(password)) = (
            &services.ctx.config.bootstrap_username,
            &services.ctx.config.bootstrap_password,
        ) {
            services
                .users()
                .ensure_bootstrap_admin(username, password)
                .await
                .map_err(|e| anyhow::anyhow!("bootstrap administrator: {e}"))?;
        }
        Ok(services)
    }

    /// Connects (waiting for the database as `serve` does) and runs the migrations (`tessera migrate`).
    pub async fn migrate(config: &Config) -> anyhow::Result<()> {
        Store::connect_within(
            &config.database_url,
            Duration::from_secs(config.database_connect_timeout),
        )
        .await
        .map(|_| ())
    }

    pub fn tokens(&self) -> Tokens<'_> {
        Tokens(&self.ctx)
    }

    pub fn users(&self) -> Users<'_> {
        Users(&self.ctx)
    }

    pub fn policies(&self) -> Policies<'_> {
        Policies(&self.ctx)
    }

    pub fn sessions(&self) -> Sessions<'_> {
        Sessions(&self.ctx)
    }

    pub fn refresh_tokens(&self) -> RefreshTokens<'_> {
        RefreshTokens(&self.ctx)
    }

    pub fn token_secret(&self) -> TokenSecret<'_> {
        TokenSecret(&self.ctx)
    }

    pub fn config(&self) -> &Config {
        &self.ctx.config
    }

    pub fn clock(&self) -> &SharedClock {
        &self.ctx.clock
    }

    /// True when the database answers (bounded: health probes answer quickly without it).
    pub async fn database_answers(&self) -> bool {
        self.ctx.store.ping().await
    }

    /// Counts one finished HTTP request (by matched route) for the metrics.
    pub fn record_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.ctx.metrics.request(method, route, status, elapsed);
    }

    /// The Prometheus text exposition, pool gauges read now.
    pub fn metrics_text(&self) -> String {
        let (size, idle) = self.ctx.store.pool_stats();
        self.ctx.metrics.render(size, idle)
    }

    /// Applies the cache invalidations that other instances publish, for as long as the service
    /// runs (PostgreSQL with the cache on; returns at once otherwise).
    pub async fn follow_invalidations(&self) {
        let Some(cache) = &self.ctx.cache else { return };
        if self.ctx.store.backend() != Backend::Postgres {
            return;
        }
        self.ctx
            .store
            .follow_notifications(|notice| match notice {
                Some(payload) => cache.apply(&Invalidation::decode(payload)),
                // Notifications may have been lost: start afresh.
                None => cache.apply(&Invalidation::All),
            })
            .await;
    }
}

impl Context {
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
