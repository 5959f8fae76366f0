//! Token values, their digests, and time stamps.
//!
//! Access tokens are random UUIDv4 strings; the database keeps only their SHA-256 digest.
//! Refresh tokens must be handed out again, unchanged, on a second offline login with the same
//! client_id (SPEC §2), yet never be stored: their value is derived with HMAC-SHA256 from a
//! server key and the refresh token's row uuid, and only the value's digest is stored.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

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
        bytes.copy_from_slice(&out[..16]);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }
}

/// Wall-clock time in epoch microseconds. A struct so tests and future code can inject time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock;

impl Clock {
    pub fn now_micros(&self) -> i64 {
        chrono::Utc::now().timestamp_micros()
    }
}

const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

/// `2026-05-05T12:05:31.123456`, in UTC.
pub fn format_utc(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format(TIME_FORMAT)
        .to_string()
}

/// The same instant in the server's local time zone, as the original's `issued_at`.
pub fn format_local(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .with_timezone(&chrono::Local)
        .format(TIME_FORMAT)
        .to_string()
}

/// ISO 8601 with an explicit UTC offset, for `created_at` fields.
pub fn format_rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
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
    fn times_have_microseconds_and_no_zone() {
        assert_eq!(
            format_utc(1_778_000_000_123_456),
            "2026-05-05T16:53:20.123456"
        );
        assert_eq!(redacted("0123456789abcdef"), "89abcdef");
        assert_eq!(redacted("abc"), "abc");
    }
}
