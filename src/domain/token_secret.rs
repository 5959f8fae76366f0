//! `tessera rotate-secret`: moves the database to a new `token_secret` without breaking a single
//! refresh token. In one transaction, the recorded key fingerprint becomes the new key's and
//! every refresh token row keeps its current value sealed under the new key: the digests stay as
//! they are (every value a client holds keeps working) and a second offline login answers the
//! same value as before. The keys that sign ID tokens are sealed again under the new key in the
//! same transaction. Access tokens are random and owe nothing to the key.

use std::path::PathBuf;

use super::caller::Actor;
use super::context::Context;
use super::error::{DomainError, DomainResult};
use super::secrets::{self, RefreshKey, FINGERPRINT_SETTING};
use crate::store::{RefreshToken, Reseal, SigningKeyRow};

/// What a rotation did.
#[derive(Debug)]
pub struct Rotated {
    /// Refresh tokens moved to the new key.
    pub refresh_tokens: u64,
    /// Signing keys sealed again under the new key.
    pub signing_keys: u64,
    /// The new key's fingerprint, as messages show it.
    pub fingerprint: String,
    /// The key file that now holds the new secret (SQLite without `token_secret`).
    pub key_file: Option<PathBuf>,
}

/// The token-secret use case.
pub struct TokenSecret<'a>(pub(super) &'a Context);

impl TokenSecret<'_> {
    /// Moves the database from the running key to `new_secret`. The instances sharing the
    /// database must be stopped first, and started again with the new secret: one still running
    /// on the old key would derive values the database no longer answers to.
    pub async fn rotate(&self, actor: &Actor, new_secret: &str) -> DomainResult<Rotated> {
        self.0.authorize(actor, "auth.token_secret.rotate").await?;
        let new_secret = new_secret.trim();
        if new_secret.is_empty() {
            return Err(DomainError::Missing(
                "no new secret on standard input (`tessera gen-secret` makes one)".into(),
            ));
        }
        if let Some(short) = crate::config::short_token_secret("the new secret", new_secret) {
            return Err(DomainError::Missing(short));
        }
        let new = RefreshKey::from_secret(new_secret);
        let new_fingerprint = new.fingerprint();
        if secrets::same_fingerprint(&self.0.refresh_key.fingerprint(), &new_fingerprint) {
            return Err(DomainError::Missing(
                "the new secret is the current one".into(),
            ));
        }
        // The key file (if it holds the secret) is written beside, then renamed over once the
        // database moved: it never holds a key the database does not know.
        let key_file = secrets::rotation_key_file(&self.0.config);
        let staged = match &key_file {
            Some(path) => Some(
                secrets::stage_key_file(path, new_secret)
                    .map_err(|e| DomainError::Internal(e.to_string()))?,
            ),
            None => None,
        };
        let (moved, keys) = match self.rekey(&new).await {
            Ok(counts) => counts,
            Err(error) => {
                if let Some(staged) = &staged {
                    let _ = std::fs::remove_file(staged);
                }
                return Err(error);
            }
        };
        if let (Some(staged), Some(path)) = (&staged, &key_file) {
            secrets::install_key_file(staged, path)
                .map_err(|e| DomainError::Internal(e.to_string()))?;
        }
        tracing::info!(
            refresh_tokens = moved,
            signing_keys = keys,
            fingerprint = %secrets::short(&new_fingerprint),
            "token_secret rotated"
        );
        Ok(Rotated {
            refresh_tokens: moved,
            signing_keys: keys,
            fingerprint: secrets::short(&new_fingerprint),
            key_file,
        })
    }

    /// Moves every refresh token and signing key from the running key to `new`, and the
    /// recorded fingerprint with them, in one transaction: how many of each moved.
    async fn rekey(&self, new: &RefreshKey) -> DomainResult<(u64, u64)> {
        let old = &self.0.refresh_key;
        let moved = self
            .0
            .store
            .rekey_refresh_tokens(
                FINGERPRINT_SETTING,
                &old.fingerprint(),
                &new.fingerprint(),
                Reseal {
                    refresh_token: |row: &RefreshToken| old.resealed(row, new),
                    signing_key: |key: &SigningKeyRow| {
                        let opened = old.open(&key.kid, &key.sealed_key)?;
                        Some(new.seal(&key.kid, &opened))
                    },
                },
            )
            .await?;
        moved.ok_or_else(|| {
            DomainError::Missing(
                "the database's key changed meanwhile (another rotation?): nothing done".into(),
            )
        })
    }
}
