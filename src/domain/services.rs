//! The domain, composed: [`Services::start`] builds the [`Context`] the use cases share, and the
//! faces reach each use case through its accessor here and nothing else. Above the use cases and
//! the context, so that imports only go down: a use case knows the context, never the services.

use std::time::Duration;

use super::cache::{Invalidation, TokenCache};
use super::clock::SharedClock;
use super::context::Context;
use super::metrics::Metrics;
use super::oauth2::clients::Clients;
use super::oauth2::OAuth2;
use super::password::PasswordHasher;
use super::policies::Policies;
use super::refresh_tokens::RefreshTokens;
use super::secrets;
use super::sessions::Sessions;
use super::throttle::{Throttle, ThrottlePolicy};
use super::token_secret::TokenSecret;
use super::tokens::Tokens;
use super::users::Users;
use crate::config::{Config, ValidConfig};
use crate::store::{Backend, Store};

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
    pub async fn start(config: ValidConfig, clock: SharedClock) -> anyhow::Result<Services> {
        let config = config.into_inner();
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
                issuer: None,
                known_clients: Default::default(),
                signing_keys: Default::default(),
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

    /// Sets the OAuth2 issuer for a server listening on `address` (SPEC §11.1); with none, the
    /// OAuth2 face is off, and the log says why once.
    pub fn serve_at(&mut self, address: std::net::SocketAddr) {
        self.ctx.issuer = self.ctx.config.issuer(address);
        if self
            .ctx
            .issuer
            .as_deref()
            .is_some_and(|i| i.starts_with("http://"))
        {
            // Cookies are not isolated by port: every program on this host's loopback receives
            // the browser's sign-in cookie (RFC 6265 §8.5).
            tracing::warn!(
                "the OAuth2 issuer is plain http on a loopback host: for development only; set \
                 public_url to an https URL for browsers in production"
            );
        }
        if self.ctx.issuer.is_none() {
            tracing::warn!(
                listen = %address,
                "the OAuth2 face is off: set public_url (TESSERA_PUBLIC_URL), the URL clients reach \
                 Tessera at, to serve /oauth2/ and /.well-known/ on a non-loopback address"
            );
        }
    }

    pub fn oauth2(&self) -> OAuth2<'_> {
        OAuth2(&self.ctx)
    }

    pub fn clients(&self) -> Clients<'_> {
        Clients(&self.ctx)
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
