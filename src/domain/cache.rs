//! The optional in-process validation cache: token digest → token record, bounded, each
//! entry living no longer than its token nor `token_cache_ttl` by the domain clock. Every write that ends tokens invalidates it at once on
//! this instance and, through PostgreSQL LISTEN/NOTIFY, on every instance sharing the database.
//!
//! Built on `moka`, the maintained concurrent cache (TinyLFU admission, per-entry expiry).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;

use super::clock::{duration_to_micros, micros_to_duration, SharedClock};
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

/// A cached record and when (domain clock) it was cached.
#[derive(Clone)]
struct Entry {
    record: Arc<TokenRecord>,
    cached_at: i64,
}

/// Evicts entries from memory once they can no longer be served (a backstop on moka's own
/// clock: what is served is decided by the domain clock in `get`).
struct UntilTokenExpiry {
    max_ttl: Duration,
    clock: SharedClock,
}

impl moka::Expiry<Vec<u8>, Entry> for UntilTokenExpiry {
    fn expire_after_create(
        &self,
        _key: &Vec<u8>,
        entry: &Entry,
        _created_at: Instant,
    ) -> Option<Duration> {
        let left = micros_to_duration(entry.record.expires_at - self.clock.now_micros());
        Some(left.min(self.max_ttl))
    }
}

pub struct TokenCache {
    entries: Cache<Vec<u8>, Entry>,
    /// Bumped by every invalidation: a lookup that raced with one does not fill the cache.
    generation: AtomicU64,
    max_ttl_micros: i64,
    clock: SharedClock,
}

impl TokenCache {
    pub fn new(capacity: u64, max_ttl: Duration, clock: SharedClock) -> Self {
        TokenCache {
            entries: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilTokenExpiry {
                    max_ttl,
                    clock: clock.clone(),
                })
                .support_invalidation_closures()
                .build(),
            generation: AtomicU64::new(0),
            max_ttl_micros: duration_to_micros(max_ttl),
            clock,
        }
    }

    /// A cached record of an unexpired token, cached less than the TTL ago.
    pub fn get(&self, digest: &[u8]) -> Option<Arc<TokenRecord>> {
        let now = self.clock.now_micros();
        self.entries
            .get(digest)
            .filter(|entry| {
                entry.record.expires_at > now
                    && now.saturating_sub(entry.cached_at) < self.max_ttl_micros
            })
            .map(|entry| entry.record)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a record read from the database, unless an invalidation happened since `generation`.
    pub fn insert(&self, digest: Vec<u8>, record: Arc<TokenRecord>, generation: u64) {
        if self.generation() == generation {
            let cached_at = self.clock.now_micros();
            self.entries
                .insert(digest.clone(), Entry { record, cached_at });
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
                .invalidate_entries_if(move |_, entry| entry.record.session_uuid == uuid)
                .map(|_| ()),
            Invalidation::User(uuid) => self
                .entries
                .invalidate_entries_if(move |_, entry| entry.record.auth_id == uuid)
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
