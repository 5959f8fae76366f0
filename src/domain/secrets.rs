//! Token values, their digests, and the refresh-token key.
//!
//! Access tokens are random UUIDv4 strings; the database keeps only their SHA-256 digest.
//! Refresh tokens must be handed out again, unchanged, on a second offline login with the same
//! client_id (SPEC §2), yet never be stored: their value is derived with HMAC-SHA256 from a
//! server key and the refresh token's row uuid, and only the value's digest is stored.
//!
//! The database records the key's fingerprint, so that a start with another key is refused
//! rather than handing out values that match nothing. `tessera rotate-secret` moves a database
//! to a new key: each existing row then keeps its value *sealed* (XOR-masked with an HMAC of the
//! new key), so that its stored digest, and the value a second offline login answers, stay the
//! same. A sealed value is no more usable than a derived one without the key.

use std::path::PathBuf;

use aws_lc_rs::aead;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{Config, POSTGRES_NEEDS_SECRET};
use crate::store::{Backend, RefreshToken, Store};

/// The `settings` key under which the database records its key's fingerprint.
pub const FINGERPRINT_SETTING: &str = "token_secret_fingerprint";

/// Seconds bounds of a token's `expiration` (ten years).
pub const MAX_EXPIRATION: i64 = 315_360_000;

pub fn new_access_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A new value of 256 random bits (a code, a browser's cookie), base64url.
pub fn new_secret_value() -> String {
    use base64::Engine as _;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
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

    /// HMAC-SHA256 of `parts` under this key, after a domain-separating `label`.
    fn mac(&self, label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(label);
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The value of generation `generation` of the refresh token row `row_uuid` (each rotation
    /// makes the next), shaped as a UUIDv4. Generation 0 is the value rows had before rotation
    /// existed.
    pub fn value_for(&self, row_uuid: &str, generation: i64) -> String {
        uuid::Uuid::from_bytes(self.derived(row_uuid, generation)).to_string()
    }

    fn derived(&self, row_uuid: &str, generation: i64) -> [u8; 16] {
        let out = self.per_generation(b"tessera refresh token\0", row_uuid, generation);
        uuid::Builder::from_random_bytes(first_16(&out))
            .into_uuid()
            .into_bytes()
    }

    /// HMAC of `label`, the row and the generation (generation 0: the row alone, as before).
    fn per_generation(&self, label: &[u8], row_uuid: &str, generation: i64) -> [u8; 32] {
        if generation == 0 {
            return self.mac(label, &[row_uuid.as_bytes()]);
        }
        let generation = generation.to_string();
        self.mac(label, &[row_uuid.as_bytes(), b"\0", generation.as_bytes()])
    }

    /// The CSRF token of a browser's pages (SPEC §11.3): a MAC of its cookie's value, so that only
    /// a page served to that browser holds it.
    pub fn csrf_for(&self, cookie: &str) -> String {
        hex::encode(self.mac(b"tessera csrf\0", &[cookie.as_bytes()]))
    }

    /// What the database records of this key: HMAC-SHA256(key, a fixed label), in hex. Guessing
    /// a secret from it costs what guessing one from any refresh token's digest costs.
    pub fn fingerprint(&self) -> String {
        hex::encode(self.mac(b"tessera key fingerprint", &[]))
    }

    /// `plain` (a signing key) sealed under this key: AES-256-GCM with a random nonce, bound to
    /// `label` (the key's id) so that a sealed blob cannot stand in for another.
    pub fn seal(&self, label: &str, plain: &[u8]) -> Vec<u8> {
        use rand::RngCore;
        let mut nonce = [0u8; aead::NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut sealed = plain.to_vec();
        let aad = aead::Aad::from(label.as_bytes());
        let nonce_value = aead::Nonce::assume_unique_for_key(nonce);
        if self
            .sealing_key()
            .seal_in_place_append_tag(nonce_value, aad, &mut sealed)
            .is_err()
        {
            unreachable!("AES-GCM seals any input under 64 GiB");
        }
        [nonce.as_slice(), &sealed].concat()
    }

    /// A blob [`RefreshKey::seal`] sealed under this key with `label`; `None` when it does not
    /// open (another key, another label, or altered).
    pub fn open(&self, label: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, body) = sealed.split_at_checked(aead::NONCE_LEN)?;
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let aad = aead::Aad::from(label.as_bytes());
        let plain = self
            .sealing_key()
            .open_in_place(nonce, aad, &mut body)
            .ok()?;
        Some(plain.to_vec())
    }

    fn sealing_key(&self) -> aead::LessSafeKey {
        let key = self.mac(b"tessera key seal\0", &[]);
        match aead::UnboundKey::new(&aead::AES_256_GCM, &key) {
            Ok(key) => aead::LessSafeKey::new(key),
            Err(_) => unreachable!("a 32-byte key is an AES-256 key"),
        }
    }

    /// `bytes` XOR a mask unique to this key, row and generation: seals a value, and opens a
    /// sealed one.
    fn masked(&self, bytes: &[u8], row_uuid: &str, generation: i64) -> [u8; 16] {
        let mask = self.per_generation(b"tessera refresh seal\0", row_uuid, generation);
        let mut out = [0u8; 16];
        for ((byte, b), m) in out.iter_mut().zip(bytes.iter()).zip(mask.iter()) {
            *byte = b ^ m;
        }
        out
    }

    /// The 16 bytes of the value a refresh token row answers: sealed under this key after a
    /// rotation of the secret, else derived from this key.
    fn value_bytes(&self, row: &RefreshToken) -> [u8; 16] {
        match &row.sealed {
            Some(sealed) => self.masked(sealed, &row.uuid, row.generation),
            None => self.derived(&row.uuid, row.generation),
        }
    }

    /// The value a refresh token row answers.
    pub fn value_of(&self, row: &RefreshToken) -> String {
        uuid::Uuid::from_bytes(self.value_bytes(row)).to_string()
    }

    /// `row`'s value (opened with this key), sealed under `new` for the same row.
    pub fn resealed(&self, row: &RefreshToken, new: &RefreshKey) -> Vec<u8> {
        new.masked(&self.value_bytes(row), &row.uuid, row.generation)
            .to_vec()
    }
}

fn first_16(bytes: &[u8; 32]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (byte, derived) in out.iter_mut().zip(bytes.iter()) {
        *byte = *derived;
    }
    out
}

/// Whether two fingerprints are equal (compared in constant time, out of habit).
pub fn same_fingerprint(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A fingerprint as messages show it: its first eight hex digits.
pub fn short(fingerprint: &str) -> String {
    format!("{}…", fingerprint.get(..8).unwrap_or(fingerprint))
}

/// The one-line refusal to start with a key other than the database's.
pub fn mismatch(recorded: &str) -> String {
    format!(
        "token_secret does not match the one this database was created with (fingerprint {}); \
         to change it, run `tessera rotate-secret` with the old one",
        short(recorded)
    )
}

/// The refresh-token key: from `token_secret`; else (SQLite only) the key file
/// ([`key_file_path`]: `token_secret_file`, or beside the database), created on first start
/// (mode 0600). PostgreSQL requires `token_secret`. The key must be the
/// one whose fingerprint the database records; the first start records it.
pub async fn load_refresh_key(config: &Config, store: &Store) -> anyhow::Result<RefreshKey> {
    let recorded = store.setting(FINGERPRINT_SETTING).await?;
    let key = match (&config.token_secret, store.backend()) {
        (Some(secret), _) => RefreshKey::from_secret(secret),
        (None, Backend::Sqlite) => {
            let path = key_file_path(config);
            match std::fs::read_to_string(&path) {
                Ok(secret) => RefreshKey::from_secret(secret.trim()),
                // A lost key file is not replaced by a fresh one: this database's refresh tokens
                // would all stop matching.
                Err(_) if recorded.is_some() => anyhow::bail!(
                    "key file {} is missing, and this database was created with a key \
                     (fingerprint {}): restore the file, or set token_secret to its secret",
                    path.display(),
                    short(recorded.as_deref().unwrap_or(""))
                ),
                Err(_) => {
                    let secret = RefreshKey::generate_secret();
                    write_private(&path, &secret).map_err(|e| {
                        anyhow::anyhow!("cannot write key file {}: {e}", path.display())
                    })?;
                    RefreshKey::from_secret(&secret)
                }
            }
        }
        (None, Backend::Postgres) => anyhow::bail!(POSTGRES_NEEDS_SECRET),
    };
    let fingerprint = key.fingerprint();
    let recorded = match recorded {
        Some(recorded) => recorded,
        // First start (or first since fingerprints exist): record this key, unless another
        // instance starting at the same moment recorded its own first.
        None => {
            store
                .setting_or_insert(FINGERPRINT_SETTING, || fingerprint.clone())
                .await?
        }
    };
    if !same_fingerprint(&recorded, &fingerprint) {
        anyhow::bail!(mismatch(&recorded));
    }
    Ok(key)
}

/// Where the new secret of a rotation goes: the key file of a SQLite database that has no
/// `token_secret`, or nowhere (the operator sets `token_secret`).
pub fn rotation_key_file(config: &Config) -> Option<PathBuf> {
    (config.token_secret.is_none() && Backend::of(&config.database_url) == Backend::Sqlite)
        .then(|| key_file_path(config))
}

/// Writes `secret` to `path` + `.new` (mode 0600), for [`install_key_file`] once the database
/// moved to it.
pub fn stage_key_file(path: &std::path::Path, secret: &str) -> anyhow::Result<PathBuf> {
    let staged = PathBuf::from(format!("{}.new", path.display()));
    let _ = std::fs::remove_file(&staged);
    write_private(&staged, secret)
        .map_err(|e| anyhow::anyhow!("cannot write key file {}: {e}", staged.display()))?;
    Ok(staged)
}

/// Puts the staged key file in place (one rename: never a half-written key file).
pub fn install_key_file(staged: &std::path::Path, path: &std::path::Path) -> anyhow::Result<()> {
    std::fs::rename(staged, path).map_err(|e| {
        anyhow::anyhow!(
            "the database now uses the new secret, but {} could not replace {}: {e}; \
             move it there by hand",
            staged.display(),
            path.display()
        )
    })
}

/// The SQLite key file: `token_secret_file` when set, else beside the database
/// (`sqlite://dir/tessera.db?mode=rwc` → `dir/tessera.db.key`), as before the key existed.
fn key_file_path(config: &Config) -> PathBuf {
    if let Some(file) = &config.token_secret_file {
        return PathBuf::from(file);
    }
    let path = config
        .database_url
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
        let a = key.value_for("row-a", 0);
        assert_eq!(a, key.value_for("row-a", 0));
        assert_ne!(a, key.value_for("row-b", 0));
        assert_ne!(
            a,
            key.value_for("row-a", 1),
            "each generation its own value"
        );
        assert_ne!(a, RefreshKey::from_secret("k2").value_for("row-a", 0));
        let parsed = uuid::Uuid::parse_str(&a).expect("uuid");
        assert_eq!(parsed.get_version_num(), 4);
    }

    #[test]
    fn a_sealed_blob_opens_under_its_key_and_label_only() {
        let key = RefreshKey::from_secret("one");
        let sealed = key.seal("kid-1", b"private key");
        assert_eq!(
            key.open("kid-1", &sealed).as_deref(),
            Some(&b"private key"[..])
        );
        assert!(!sealed.windows(11).any(|w| w == b"private key"));
        assert!(key.open("kid-2", &sealed).is_none());
        assert!(RefreshKey::from_secret("two")
            .open("kid-1", &sealed)
            .is_none());
        let mut altered = sealed.clone();
        if let Some(last) = altered.last_mut() {
            *last ^= 1;
        }
        assert!(key.open("kid-1", &altered).is_none());
        assert!(key.open("kid-1", &sealed[..5]).is_none());
    }

    #[test]
    fn a_sealed_value_opens_under_its_key_only() {
        let (old, new) = (RefreshKey::from_secret("k1"), RefreshKey::from_secret("k2"));
        let value = old.value_for("row-a", 3);
        let mut row = RefreshToken {
            uuid: "row-a".into(),
            client_id: "c".into(),
            user_uuid: "u".into(),
            tenant_uuid: "t".into(),
            mobile: false,
            created_at: 0,
            sealed: None,
            scope: None,
            generation: 3,
            used_at: 0,
            oauth2: false,
        };
        assert_eq!(old.value_of(&row), value);
        row.sealed = Some(old.resealed(&row, &new));
        assert_eq!(new.value_of(&row), value, "sealed under the new key");
        assert_ne!(old.value_of(&row), value, "the old key opens nothing");
        let third = RefreshKey::from_secret("k3");
        row.sealed = Some(new.resealed(&row, &third));
        assert_eq!(
            third.value_of(&row),
            value,
            "a second rotation keeps it too"
        );
        let parsed = uuid::Uuid::parse_str(&value).expect("uuid");
        assert_ne!(row.sealed.as_deref(), Some(&parsed.as_bytes()[..]));
    }

    #[test]
    fn fingerprints_differ_per_key_and_never_show_the_secret() {
        let key = RefreshKey::from_secret("a-secret");
        assert_eq!(
            key.fingerprint(),
            RefreshKey::from_secret("a-secret").fingerprint()
        );
        assert_ne!(
            key.fingerprint(),
            RefreshKey::from_secret("b-secret").fingerprint()
        );
        assert_ne!(key.fingerprint(), hex::encode(Sha256::digest(b"a-secret")));
        assert_eq!(short(&key.fingerprint()).chars().count(), 9);
    }

    #[test]
    fn a_key_file_path_is_used_only_where_it_is_read() {
        let sqlite = Config {
            database_url: "sqlite://data/tessera.db?mode=rwc".into(),
            ..Config::default()
        };
        assert_eq!(key_file_path(&sqlite), PathBuf::from("data/tessera.db.key"));
        let elsewhere = Config {
            token_secret_file: Some("/etc/tessera/refresh.key".into()),
            ..sqlite.clone()
        };
        assert!(elsewhere.clone().validated().is_ok());
        assert_eq!(
            key_file_path(&elsewhere),
            PathBuf::from("/etc/tessera/refresh.key")
        );
        assert_eq!(
            rotation_key_file(&elsewhere),
            Some(PathBuf::from("/etc/tessera/refresh.key"))
        );
        for refused in [
            Config {
                token_secret: Some("s".into()),
                ..elsewhere.clone()
            },
            Config {
                database_url: "postgres://t@db/auth".into(),
                token_secret: Some("s".into()),
                ..elsewhere.clone()
            },
            Config {
                token_secret_file: Some(" ".into()),
                ..sqlite.clone()
            },
        ] {
            let error = refused.validated().expect_err("refused");
            assert!(error.to_string().contains("token_secret_file"), "{error}");
        }
    }

    #[test]
    fn redaction_keeps_the_last_eight_characters() {
        assert_eq!(redacted("0123456789abcdef"), "89abcdef");
        assert_eq!(redacted("abc"), "abc");
    }
}
