//! The optional in-process cache of validation and introspection: token digest → token record,
//! client id → an introspecting client's credentials. Bounded, each entry living no longer than
//! its token nor `token_cache_ttl` by the domain clock. Every write that ends tokens or changes a
//! client invalidates it at once on this instance and, through PostgreSQL LISTEN/NOTIFY, on
//! every instance sharing the database.
//!
//! Built on `moka`, the maintained concurrent cache (TinyLFU admission, per-entry expiry).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;

use super::clock::{duration_to_micros, micros_to_duration, SharedClock};
use crate::store::{ClientCredentials, TokenOwner, TokenRecord};

/// What stopped being valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// One access token, by the hex of its digest.
    Token(String),
    /// Every token of a session.
    Session(String),
    /// Every token of a user (password change, disabled, deleted).
    User(String),
    /// A client's copy (its secret renewed, the client changed), and introspections of its
    /// tokens.
    Client(String),
    /// Everything (a lost notification channel).
    All,
}

impl Invalidation {
    pub fn encode(&self) -> String {
        match self {
            Invalidation::Token(digest) => format!("token:{digest}"),
            Invalidation::Session(uuid) => format!("session:{uuid}"),
            Invalidation::User(uuid) => format!("user:{uuid}"),
            Invalidation::Client(id) => format!("client:{id}"),
            Invalidation::All => "all".into(),
        }
    }

    /// Unknown payloads invalidate everything: erring on the side of a database read.
    pub fn decode(payload: &str) -> Invalidation {
        match payload.split_once(':') {
            Some(("token", digest)) => Invalidation::Token(digest.into()),
            Some(("session", uuid)) => Invalidation::Session(uuid.into()),
            Some(("user", uuid)) => Invalidation::User(uuid.into()),
            Some(("client", id)) => Invalidation::Client(id.into()),
            _ => Invalidation::All,
        }
    }
}

/// What a shelf of the cache holds: a record served until it expires by the domain clock, that
/// invalidations name by its session, user or client.
pub trait Cacheable: Send + Sync + 'static {
    /// When it stops being served (domain clock, µs since the epoch).
    fn expires_at(&self) -> i64;
    /// Whether a `Session`, `User` or `Client` invalidation names it (`Token` goes by key).
    fn named_by(&self, invalidation: &Invalidation) -> bool;
}

impl Cacheable for TokenRecord {
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
    fn named_by(&self, invalidation: &Invalidation) -> bool {
        match invalidation {
            Invalidation::Session(uuid) => self.session_uuid == *uuid,
            Invalidation::User(uuid) => self.auth_id == *uuid,
            _ => false,
        }
    }
}

impl Cacheable for TokenOwner {
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
    fn named_by(&self, invalidation: &Invalidation) -> bool {
        match invalidation {
            Invalidation::Session(uuid) => self.session_uuid == *uuid,
            Invalidation::User(uuid) => self.auth_id == *uuid,
            Invalidation::Client(id) => self.client_id.as_deref() == Some(id.as_str()),
            _ => false,
        }
    }
}

impl Cacheable for ClientCredentials {
    /// A client does not expire: only the TTL and invalidations bound its copy.
    fn expires_at(&self) -> i64 {
        i64::MAX
    }
    fn named_by(&self, invalidation: &Invalidation) -> bool {
        matches!(invalidation, Invalidation::Client(id) if self.client_id == *id)
    }
}

/// A cached record and when (domain clock) it was cached.
struct Entry<R> {
    record: Arc<R>,
    cached_at: i64,
}

impl<R> Clone for Entry<R> {
    fn clone(&self) -> Self {
        Entry {
            record: self.record.clone(),
            cached_at: self.cached_at,
        }
    }
}

/// Evicts entries from memory once they can no longer be served (a backstop on moka's own
/// clock: what is served is decided by the domain clock in `Shelf::get`).
struct UntilExpiry {
    max_ttl: Duration,
    clock: SharedClock,
}

impl<R: Cacheable> moka::Expiry<Vec<u8>, Entry<R>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &Vec<u8>,
        entry: &Entry<R>,
        _created_at: Instant,
    ) -> Option<Duration> {
        let now = self.clock.now_micros();
        let left = micros_to_duration(entry.record.expires_at().saturating_sub(now));
        Some(left.min(self.max_ttl))
    }
}

/// One kind of record, by key (a token's digest, a client's id).
struct Shelf<R: Cacheable>(Cache<Vec<u8>, Entry<R>>);

impl<R: Cacheable> Shelf<R> {
    fn new(capacity: u64, max_ttl: Duration, clock: SharedClock) -> Self {
        Shelf(
            Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry { max_ttl, clock })
                .support_invalidation_closures()
                .build(),
        )
    }

    fn apply(&self, invalidation: &Invalidation) {
        let outcome = match invalidation {
            Invalidation::Token(hex_digest) => {
                if let Ok(digest) = hex::decode(hex_digest) {
                    self.0.invalidate(&digest);
                }
                Ok(())
            }
            Invalidation::All => {
                self.0.invalidate_all();
                Ok(())
            }
            named => {
                let named = named.clone();
                self.0
                    .invalidate_entries_if(move |_, entry| entry.record.named_by(&named))
                    .map(|_| ())
            }
        };
        if outcome.is_err() {
            self.0.invalidate_all();
        }
    }
}

/// Clients that introspect are fewer than tokens: a bound on memory, not on correctness.
const CLIENT_COPIES: u64 = 1024;

pub struct TokenCache {
    /// What validation reads of a token.
    tokens: Shelf<TokenRecord>,
    /// What introspection reads of a token.
    owners: Shelf<TokenOwner>,
    /// What authenticates an introspecting client.
    clients: Shelf<ClientCredentials>,
    /// Bumped by every invalidation: a lookup that raced with one does not fill the cache.
    generation: AtomicU64,
    max_ttl_micros: i64,
    clock: SharedClock,
}

impl TokenCache {
    pub fn new(capacity: u64, max_ttl: Duration, clock: SharedClock) -> Self {
        TokenCache {
            tokens: Shelf::new(capacity, max_ttl, clock.clone()),
            owners: Shelf::new(capacity, max_ttl, clock.clone()),
            clients: Shelf::new(CLIENT_COPIES.min(capacity), max_ttl, clock.clone()),
            generation: AtomicU64::new(0),
            max_ttl_micros: duration_to_micros(max_ttl),
            clock,
        }
    }

    /// A cached record of an unexpired token, cached less than the TTL ago.
    pub fn get(&self, digest: &[u8]) -> Option<Arc<TokenRecord>> {
        self.serve(&self.tokens, digest)
    }

    /// A cached introspection record of an unexpired token, cached less than the TTL ago.
    pub fn owner(&self, digest: &[u8]) -> Option<Arc<TokenOwner>> {
        self.serve(&self.owners, digest)
    }

    /// A cached copy of a client's credentials, cached less than the TTL ago.
    pub fn client(&self, client_id: &str) -> Option<Arc<ClientCredentials>> {
        self.serve(&self.clients, client_id.as_bytes())
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a record read from the database, unless an invalidation happened since `generation`.
    pub fn insert(&self, digest: Vec<u8>, record: Arc<TokenRecord>, generation: u64) {
        self.keep(&self.tokens, digest, record, generation);
    }

    pub fn insert_owner(&self, digest: Vec<u8>, record: Arc<TokenOwner>, generation: u64) {
        self.keep(&self.owners, digest, record, generation);
    }

    pub fn insert_client(&self, record: Arc<ClientCredentials>, generation: u64) {
        let key = record.client_id.clone().into_bytes();
        self.keep(&self.clients, key, record, generation);
    }

    pub fn apply(&self, invalidation: &Invalidation) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.tokens.apply(invalidation);
        self.owners.apply(invalidation);
        self.clients.apply(invalidation);
    }

    fn serve<R: Cacheable>(&self, shelf: &Shelf<R>, key: &[u8]) -> Option<Arc<R>> {
        let now = self.clock.now_micros();
        shelf
            .0
            .get(key)
            .filter(|entry| {
                entry.record.expires_at() > now
                    && now.saturating_sub(entry.cached_at) < self.max_ttl_micros
            })
            .map(|entry| entry.record)
    }

    fn keep<R: Cacheable>(&self, shelf: &Shelf<R>, key: Vec<u8>, record: Arc<R>, generation: u64) {
        if self.generation() == generation {
            let cached_at = self.clock.now_micros();
            shelf.0.insert(key.clone(), Entry { record, cached_at });
            // An invalidation that slipped in between the check and the insert must still win.
            if self.generation() != generation {
                shelf.0.invalidate(&key);
            }
        }
    }
}
