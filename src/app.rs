//! The service's shared state and its start-up: database, keys, top tenant, bootstrap admin.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::password::PasswordHasher;
use crate::auth::throttle::{Throttle, ThrottlePolicy};
use crate::auth::token::{Clock, RefreshKey};
use crate::cache::TokenCache;
use crate::config::Config;
use crate::store::{Backend, NewPolicy, NewUser, Store};

pub struct App {
    pub config: Config,
    pub store: Store,
    pub hasher: PasswordHasher,
    pub(crate) refresh_key: RefreshKey,
    pub top_tenant: String,
    pub clock: Clock,
    /// Counters and histograms, exposed on `metrics_listen` when set.
    pub metrics: crate::metrics::Metrics,
    /// Failed-login counts (brute-force protection).
    pub throttle: Throttle,
    /// The optional validation cache.
    pub cache: Option<TokenCache>,
}

pub type AppState = Arc<App>;

const BOOTSTRAP_POLICY: &str = "tessera-bootstrap-admin";

impl App {
    /// Connects, migrates, loads keys and ensures the bootstrap administrator.
    pub async fn new(config: Config) -> anyhow::Result<App> {
        let store = Store::connect(&config.database_url).await?;
        let refresh_key = refresh_key(&config, &store).await?;
        let top_tenant = store.ensure_top_tenant().await?;
        let metrics = crate::metrics::Metrics::new();
        let app = App {
            hasher: PasswordHasher::new()?.with_timing(metrics.password_hash_histogram()),
            metrics,
            store,
            refresh_key,
            top_tenant,
            clock: Clock,
            throttle: Throttle::new(throttle_policy(&config)),
            cache: (config.token_cache_size > 0).then(|| {
                TokenCache::new(
                    config.token_cache_size,
                    Duration::from_secs(config.token_cache_ttl),
                )
            }),
            config,
        };
        app.bootstrap().await?;
        Ok(app)
    }

    /// With `bootstrap_username` and `bootstrap_password`, makes sure that user exists, is an
    /// enabled `internal` user with that password, and holds a policy granting `#`. Idempotent.
    async fn bootstrap(&self) -> anyhow::Result<()> {
        let (Some(username), Some(password)) = (
            &self.config.bootstrap_username,
            &self.config.bootstrap_password,
        ) else {
            return Ok(());
        };
        let policy = match self.store.find_policy_by_name(BOOTSTRAP_POLICY).await? {
            Some(policy) => policy.uuid,
            None => {
                let uuid = uuid::Uuid::new_v4().to_string();
                self.store
                    .create_policy(&NewPolicy {
                        uuid: uuid.clone(),
                        tenant_uuid: self.top_tenant.clone(),
                        name: BOOTSTRAP_POLICY.into(),
                        slug: BOOTSTRAP_POLICY.replace('-', "_"),
                        description: Some(
                            "Everything: the bootstrap administrator's policy".into(),
                        ),
                        acl: vec!["#".into()],
                        shared: false,
                    })
                    .await?;
                uuid
            }
        };
        let user = match self.store.find_user_by_username(username).await? {
            Some(user) => {
                let current = user.password_hash.as_deref();
                if !self.hasher.verify(password, current).await? {
                    let hash = self.hasher.hash(password).await?;
                    self.store.set_password(&user.uuid, &hash).await?;
                }
                if !user.enabled || user.purpose != "internal" {
                    self.store
                        .update_user(
                            &user.uuid,
                            &crate::store::UserUpdate {
                                username: user.username.clone(),
                                firstname: user.firstname.clone(),
                                lastname: user.lastname.clone(),
                                purpose: "internal".into(),
                                enabled: true,
                                authentication_method: user.authentication_method.clone(),
                            },
                        )
                        .await?;
                }
                user.uuid
            }
            None => {
                let uuid = uuid::Uuid::new_v4().to_string();
                self.store
                    .create_user(&NewUser {
                        uuid: uuid.clone(),
                        tenant_uuid: self.top_tenant.clone(),
                        username: Some(username.clone()),
                        firstname: None,
                        lastname: None,
                        password_hash: Some(self.hasher.hash(password).await?),
                        purpose: "internal".into(),
                        enabled: true,
                        authentication_method: "default".into(),
                        email_address: None,
                        created_at: self.clock.now_micros(),
                    })
                    .await?;
                uuid
            }
        };
        self.store.attach_policy(&user, &policy).await?;
        tracing::info!(username = %username, "bootstrap administrator ready");
        Ok(())
    }
}

fn throttle_policy(config: &Config) -> ThrottlePolicy {
    ThrottlePolicy {
        login_failures: config.bruteforce_login_failures,
        address_failures: config.bruteforce_address_failures,
        base_delay: Duration::from_secs(config.bruteforce_base_delay),
        max_delay: Duration::from_secs(config.bruteforce_max_delay),
        forget_after: Duration::from_secs(config.bruteforce_forget_after),
    }
}

/// The refresh-token key: from `token_secret`; else a key file beside the SQLite database
/// (created on first start, mode 0600); else (PostgreSQL) a key kept in the database.
async fn refresh_key(config: &Config, store: &Store) -> anyhow::Result<RefreshKey> {
    if let Some(secret) = &config.token_secret {
        return Ok(RefreshKey::from_secret(secret));
    }
    match store.backend() {
        Backend::Sqlite => {
            let path = key_file_path(&config.database_url);
            if let Ok(secret) = std::fs::read_to_string(&path) {
                return Ok(RefreshKey::from_secret(secret.trim()));
            }
            let secret = RefreshKey::generate_secret();
            write_private(&path, &secret)
                .map_err(|e| anyhow::anyhow!("cannot write key file {}: {e}", path.display()))?;
            Ok(RefreshKey::from_secret(&secret))
        }
        Backend::Postgres => {
            tracing::warn!(
                "token_secret is not set: the refresh-token key is kept in the database; \
                 set TESSERA_TOKEN_SECRET so that a leaked database yields no refresh token"
            );
            let secret = store
                .setting_or_insert("refresh_token_key", RefreshKey::generate_secret)
                .await?;
            Ok(RefreshKey::from_secret(&secret))
        }
    }
}

/// `sqlite://dir/tessera.db?mode=rwc` → `dir/tessera.db.key`.
fn key_file_path(database_url: &str) -> PathBuf {
    let path = database_url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    PathBuf::from(format!("{path}.key"))
}

fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
}
