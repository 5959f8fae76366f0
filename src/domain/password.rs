//! Argon2id password hashing, off the async runtime and bounded.
//!
//! Hashing runs on tokio's blocking threads behind a semaphore sized to the cores, so a login storm
//! queues here instead of starving the executor that serves token validation. An unknown login is
//! verified against a dummy hash, so it costs the same time as a wrong password.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::oneshot;

/// OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Longest password accepted; longer ones are refused before any hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes waiting for a worker, per core; past that, callers are told to come back later.
const QUEUE_PER_CORE: usize = 32;

/// Nice value of the hashing threads: idle cores still hash at full speed, but a busy machine
/// serves token validation first.
const WORKER_NICENESS: i32 = 19;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every worker is busy and the queue is full: retry shortly.
    #[error("password hashing is saturated")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed pool of hashing threads (one per core) fed through a bounded queue.
#[derive(Clone)]
pub struct PasswordHasher {
    jobs: SyncSender<Job>,
    dummy_hash: Arc<str>,
    /// Where the time of each Argon2 computation goes (the metrics' histogram), when set.
    timing: Option<Histogram>,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError::Failed(e.to_string()))
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

fn spawn_workers(count: usize, jobs: Receiver<Job>) -> std::io::Result<()> {
    let jobs = Arc::new(Mutex::new(jobs));
    for index in 0..count {
        let jobs = jobs.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{index}"))
            .spawn(move || {
                crate::os::lower_this_threads_priority(WORKER_NICENESS);
                loop {
                    // The pool ends when every PasswordHasher (every sender) is gone.
                    let job = match jobs.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })?;
    }
    Ok(())
}

impl PasswordHasher {
    /// One hashing thread per core.
    pub fn new() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_pool(cores, cores * QUEUE_PER_CORE)
    }

    /// `workers` hashing threads and at most `queue` hashes waiting for them.
    pub fn with_pool(workers: usize, queue: usize) -> anyhow::Result<Self> {
        crate::os::return_large_blocks_to_the_kernel();
        let (sender, receiver) = sync_channel(queue);
        spawn_workers(workers, receiver)?;
        let dummy_hash = hash_now("tessera-dummy-password")
            .map_err(|e| anyhow::anyhow!("argon2 self-test failed: {e}"))?;
        Ok(PasswordHasher {
            jobs: sender,
            dummy_hash: dummy_hash.into(),
            timing: None,
        })
    }

    /// Records the time of every hash and verification into `histogram` (seconds).
    pub fn with_timing(mut self, histogram: Histogram) -> Self {
        self.timing = Some(histogram);
        self
    }

    /// Runs `work` on a hashing thread; `Busy` at once when the queue is full.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (done, result) = oneshot::channel();
        let timing = self.timing.clone();
        let job: Job = Box::new(move || {
            // The request gave up (client gone, timeout): spend no hash on it.
            if done.is_closed() {
                return;
            }
            let started = std::time::Instant::now();
            let outcome = work();
            if let Some(histogram) = timing {
                histogram.observe(started.elapsed().as_secs_f64());
            }
            let _ = done.send(outcome);
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(HashError::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(HashError::Failed("hashing threads stopped".into()))
            }
        }
        result
            .await
            .map_err(|_| HashError::Failed("hashing thread failed".into()))
    }

    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = password.to_owned();
        self.run(move || hash_now(&password)).await?
    }

    /// Verifies `password` against `hash`; with no hash (unknown login, user without password)
    /// it spends the same time on the dummy hash and answers false.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, HashError> {
        let password = password.to_owned();
        let (hash, real) = match hash {
            Some(hash) => (hash.to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        let matched = self.run(move || verify_now(&password, &hash)).await?;
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
