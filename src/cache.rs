//! The optional in-process validation cache (issue 3): token digest → token record, bounded, each
//! entry living no longer than its token. Every write that ends tokens invalidates it at once on
//! this instance and, through PostgreSQL LISTEN/NOTIFY, on every instance sharing the database.
//!
//! Built on `moka`, the maintained concurrent cache (TinyLFU admission, per-entry expiry).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::store::TokenRecord;

/// What stopped being valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// One access token, by the hex of its digest.
    Token(String),
    /// Every token of a session.
    Session(String),
    /// Every token of a user (password change, disabled, deleted).
    User(String),
    /// Everything (a lost notification channel).
    All,
}

impl Invalidation {
    pub fn encode(&self) -> String {
        match self {
            Invalidation::Token(digest) => format!("token:{digest}"),
            Invalidation::Session(uuid) => format!("session:{uuid}"),
            Invalidation::User(uuid) => format!("user:{uuid}"),
            Invalidation::All => "all".into(),
        }
    }

    /// Unknown payloads invalidate everything: erring on the side of a database read.
    pub fn decode(payload: &str) -> Invalidation {
        match payload.split_once(':') {
            Some(("token", digest)) => Invalidation::Token(digest.into()),
            Some(("session", uuid)) => Invalidation::Session(uuid.into()),
            Some(("user", uuid)) => Invalidation::User(uuid.into()),
            _ => Invalidation::All,
        }
    }
}

struct UntilTokenExpiry {
    max_ttl: Duration,
}

impl moka::Expiry<Vec<u8>, Arc<TokenRecord>> for UntilTokenExpiry {
    fn expire_after_create(
        &self,
        _key: &Vec<u8>,
        record: &Arc<TokenRecord>,
        _created_at: Instant,
    ) -> Option<Duration> {
        let now = chrono::Utc::now().timestamp_micros();
        let left = u64::try_from(record.expires_at - now).unwrap_or(0);
        Some(Duration::from_micros(left).min(self.max_ttl))
    }
}

pub struct TokenCache {
    entries: Cache<Vec<u8>, Arc<TokenRecord>>,
    /// Bumped by every invalidation: a lookup that raced with one does not fill the cache.
    generation: AtomicU64,
}

impl TokenCache {
    pub fn new(capacity: u64, max_ttl: Duration) -> Self {
        TokenCache {
            entries: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilTokenExpiry { max_ttl })
                .support_invalidation_closures()
                .build(),
            generation: AtomicU64::new(0),
        }
    }

    /// A cached, unexpired record.
    pub fn get(&self, digest: &[u8], now: i64) -> Option<Arc<TokenRecord>> {
        self.entries
            .get(digest)
            .filter(|record| record.expires_at > now)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a record read from the database, unless an invalidation happened since `generation`.
    pub fn insert(&self, digest: Vec<u8>, record: Arc<TokenRecord>, generation: u64) {
        if self.generation() == generation {
            self.entries.insert(digest.clone(), record);
            // An invalidation that slipped in between the check and the insert must still win.
            if self.generation() != generation {
                self.entries.invalidate(&digest);
            }
        }
    }

    pub fn apply(&self, invalidation: &Invalidation) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let outcome = match invalidation.clone() {
            Invalidation::Token(hex_digest) => {
                if let Ok(digest) = hex::decode(hex_digest) {
                    self.entries.invalidate(&digest);
                }
                Ok(())
            }
            Invalidation::Session(uuid) => self
                .entries
                .invalidate_entries_if(move |_, record| record.session_uuid == uuid)
                .map(|_| ()),
            Invalidation::User(uuid) => self
                .entries
                .invalidate_entries_if(move |_, record| record.auth_id == uuid)
                .map(|_| ()),
            Invalidation::All => {
                self.entries.invalidate_all();
                Ok(())
            }
        };
        if outcome.is_err() {
            self.entries.invalidate_all();
        }
    }
}

/// Applies the invalidations other instances publish on PostgreSQL, for as long as the server
/// runs. Notifications sent while the connection was down are lost, so every reconnection
/// empties the cache.
pub async fn follow_invalidations(app: crate::AppState) {
    use sqlx::postgres::PgListener;
    let Some(cache) = &app.cache else { return };
    loop {
        let mut listener = match PgListener::connect(&app.config.database_url).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for cache invalidations; retrying");
                cache.apply(&Invalidation::All);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(crate::store::INVALIDATION_CHANNEL).await {
            tracing::warn!(%error, "cannot listen for cache invalidations; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Anything published before LISTEN took effect is unknown here.
        cache.apply(&Invalidation::All);
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    cache.apply(&Invalidation::decode(notification.payload()))
                }
                // The connection was lost (and will be re-established): start afresh.
                Ok(None) => cache.apply(&Invalidation::All),
                Err(error) => {
                    tracing::warn!(%error, "cache invalidation channel failed; reconnecting");
                    cache.apply(&Invalidation::All);
                    break;
                }
            }
        }
    }
}
