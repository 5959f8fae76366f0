//! Token values, their digests, and the refresh-token key.
//!
//! Access tokens are random UUIDv4 strings; the database keeps only their SHA-256 digest.
//! Refresh tokens must be handed out again, unchanged, on a second offline login with the same
//! client_id (SPEC §2), yet never be stored: their value is derived with HMAC-SHA256 from a
//! server key and the refresh token's row uuid, and only the value's digest is stored.

use std::path::PathBuf;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::store::{Backend, Store};

/// Seconds bounds of a token's `expiration` (ten years).
pub const MAX_EXPIRATION: i64 = 315_360_000;

pub fn new_access_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The only form in which a token value reaches the database.
pub fn digest(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// The last characters of a token: enough to correlate logs, never enough to use it.
pub fn redacted(value: &str) -> &str {
    let start = value.len().saturating_sub(8);
    value.get(start..).unwrap_or("")
}

#[derive(Clone)]
pub struct RefreshKey([u8; 32]);

impl RefreshKey {
    /// Any secret string becomes a 32-byte key.
    pub fn from_secret(secret: &str) -> Self {
        RefreshKey(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn generate_secret() -> String {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        hex::encode(bytes)
    }

    /// The refresh token value of the refresh token row `row_uuid`, shaped as a UUIDv4.
    pub fn value_for(&self, row_uuid: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(b"tessera refresh token\0");
        mac.update(row_uuid.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut bytes = [0u8; 16];
        for (byte, derived) in bytes.iter_mut().zip(out.iter()) {
            *byte = *derived;
        }
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }
}

/// The one-line refusal to start on PostgreSQL without `token_secret`.
pub const POSTGRES_NEEDS_SECRET: &str =
    "token_secret is required on PostgreSQL (a key kept in the \
     database would let a database dump forge refresh tokens): make one with `tessera gen-secret` \
     and set it as TESSERA_TOKEN_SECRET (the same on every instance)";

/// Refuses a configuration that would keep the refresh-token key beside the data it protects:
/// PostgreSQL without `token_secret`. Checked before connecting.
pub fn check_secret_source(config: &Config) -> anyhow::Result<()> {
    if config.token_secret.is_none() && Store::backend_of(&config.database_url) == Backend::Postgres
    {
        anyhow::bail!(POSTGRES_NEEDS_SECRET);
    }
    Ok(())
}

/// The refresh-token key: from `token_secret`; else (SQLite only) a key file beside the database
/// (created on first start, mode 0600). PostgreSQL requires `token_secret`.
pub async fn load_refresh_key(config: &Config, store: &Store) -> anyhow::Result<RefreshKey> {
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
        Backend::Postgres => anyhow::bail!(POSTGRES_NEEDS_SECRET),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_values_are_stable_per_row_and_key() {
        let key = RefreshKey::from_secret("k1");
        let a = key.value_for("row-a");
        assert_eq!(a, key.value_for("row-a"));
        assert_ne!(a, key.value_for("row-b"));
        assert_ne!(a, RefreshKey::from_secret("k2").value_for("row-a"));
        let parsed = uuid::Uuid::parse_str(&a).expect("uuid");
        assert_eq!(parsed.get_version_num(), 4);
    }

    #[test]
    fn redaction_keeps_the_last_eight_characters() {
        assert_eq!(redacted("0123456789abcdef"), "89abcdef");
        assert_eq!(redacted("abc"), "abc");
    }
}
