//! Argon2id password hashing, off the async runtime and bounded.
//!
//! Hashing runs on tokio's blocking threads behind a semaphore sized to the cores, so a login storm
//! queues here instead of starving the executor that serves token validation. An unknown login is
//! verified against a dummy hash, so it costs the same time as a wrong password.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Longest password accepted; longer ones are refused before any hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    dummy_hash: Arc<str>,
    /// Where the time of each Argon2 computation goes (the metrics' histogram), when set.
    timing: Option<prometheus_client::metrics::histogram::Histogram>,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Constant-time verification (the argon2 crate compares digests with `subtle`).
fn verify_now(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

impl PasswordHasher {
    pub fn new() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let dummy_hash = hash_now("tessera-dummy-password")
            .map_err(|e| anyhow::anyhow!("argon2 self-test failed: {e}"))?;
        Ok(PasswordHasher {
            permits: Arc::new(Semaphore::new(cores)),
            dummy_hash: dummy_hash.into(),
            timing: None,
        })
    }

    /// Records the time of every hash and verification into `histogram` (seconds).
    pub fn with_timing(
        mut self,
        histogram: prometheus_client::metrics::histogram::Histogram,
    ) -> Self {
        self.timing = Some(histogram);
        self
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await?;
        let timing = self.timing.clone();
        Ok(tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let result = work();
            if let Some(histogram) = timing {
                histogram.observe(started.elapsed().as_secs_f64());
            }
            result
        })
        .await?)
    }

    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let password = password.to_owned();
        self.run_blocking(move || hash_now(&password))
            .await?
            .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
    }

    /// Verifies `password` against `hash`; with no hash (unknown login, user without password)
    /// it spends the same time on the dummy hash and answers false.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> anyhow::Result<bool> {
        let password = password.to_owned();
        let (hash, real) = match hash {
            Some(hash) => (hash.to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        let matched = self
            .run_blocking(move || verify_now(&password, &hash))
            .await?;
        Ok(matched && real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_owasp_parameters() {
        let hasher = PasswordHasher::new().expect("hasher");
        let hash = hasher.hash("s3cret:with:colons").await.expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher
            .verify("s3cret:with:colons", Some(&hash))
            .await
            .expect("verify"));
        assert!(!hasher.verify("wrong", Some(&hash)).await.expect("verify"));
        assert!(!hasher
            .verify("tessera-dummy-password", None)
            .await
            .expect("verify"));
        assert!(!hasher
            .verify("x", Some("not a hash"))
            .await
            .expect("verify"));
    }
}
