//! The keys that sign ID tokens (SPEC §11.9). Made when first needed, stored only sealed under
//! `token_secret` (AES-256-GCM, `secrets::RefreshKey::seal`), one current key per algorithm.
//! `tessera rotate-signing-key` makes a new current key, published two minutes before it signs,
//! and keeps the previous one published until every ID token it signed has expired. An instance
//! reads the keys again a minute after it last did, so that a rotation made elsewhere reaches it.

use std::sync::{Arc, RwLock};

use aws_lc_rs::encoding::AsDer;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::OAuth2;
use crate::domain::caller::Actor;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::secrets::{RefreshKey, FINGERPRINT_SETTING};
use crate::store::SigningKeyRow;

/// How long an instance signs with the keys it read before it reads them again.
const RELOAD_AFTER_MICROS: i64 = 60 * 1_000_000;

/// How long a new key is published before it signs (when an older key can sign meanwhile): every
/// instance has read it again (a minute) and every JWKS cached before it existed has expired
/// (`max-age` a minute), so no relying party meets a token whose key it cannot find (OIDC Core
/// §10.1.1).
const PUBLISHED_BEFORE_USE_MICROS: i64 = 2 * RELOAD_AFTER_MICROS;

/// A key that signs, opened.
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    key: EncodingKey,
    created_at: i64,
}

/// The keys as an instance last read them: every published key that opens (oldest first), and
/// their public halves.
pub struct Keyring {
    keys: Vec<Arc<SigningKey>>,
    pub published: JwkSet,
    /// An algorithm whose current key does not open with `token_secret`: it must be replaced.
    unopened_current: Vec<String>,
    loaded_at: i64,
}

/// The keyring an instance holds, read again when it is older than a minute, and the turn to
/// make the first key (requests that find none at once make one, not one each).
#[derive(Default)]
pub struct SigningKeys {
    ring: RwLock<Option<Arc<Keyring>>>,
    making: tokio::sync::Mutex<()>,
}

/// What `tessera rotate-signing-key` did.
#[derive(Debug)]
pub struct KeyRotation {
    /// The new current key's id.
    pub kid: String,
    pub alg: String,
    /// When (microseconds) it starts signing.
    pub signs_from: i64,
    /// Until when (microseconds) the previous keys stay published.
    pub previous_published_until: i64,
}

fn algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "RS256" => Some(Algorithm::RS256),
        "ES256" => Some(Algorithm::ES256),
        _ => None,
    }
}

/// A new private key for `alg`, as PKCS#8 DER.
fn generate(alg: Algorithm) -> DomainResult<Vec<u8>> {
    let failed = |_| DomainError::Internal("the signing key could not be made".into());
    match alg {
        Algorithm::ES256 => {
            let signing = &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let document = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(signing, &rng)
                .map_err(failed)?;
            Ok(document.as_ref().to_vec())
        }
        _ => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(failed)?;
            let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).map_err(failed)?;
            Ok(der.as_ref().to_vec())
        }
    }
}

/// The signing key a PKCS#8 document holds, as jsonwebtoken takes it: ECDSA keys as PKCS#8, RSA
/// keys as the RFC 8017 `RSAPrivateKey` the document wraps.
fn encoding_key(alg: Algorithm, pkcs8: &[u8]) -> Option<EncodingKey> {
    match alg {
        Algorithm::ES256 => Some(EncodingKey::from_ec_der(pkcs8)),
        Algorithm::RS256 => Some(EncodingKey::from_rsa_der(pkcs8_private_key(pkcs8)?)),
        _ => None,
    }
}

/// The `privateKey` octet string of a PKCS#8 `PrivateKeyInfo` (RFC 5208): SEQUENCE { INTEGER
/// version, SEQUENCE algorithm, OCTET STRING privateKey, ... }. Only ever given documents this
/// module made.
fn pkcs8_private_key(pkcs8: &[u8]) -> Option<&[u8]> {
    let (info, _) = skip(pkcs8, 0x30)?;
    let (_version, rest) = skip(info, 0x02)?;
    let (_algorithm, rest) = skip(rest, 0x30)?;
    let (key, _) = skip(rest, 0x04)?;
    Some(key)
}

/// Skips one element tagged `tag`: (its content, what follows it).
fn skip(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, content, rest) = der_element(input)?;
    (found == tag).then_some((content, rest))
}

/// One DER element: (tag, content, what follows it).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = match first {
        short if short < 0x80 => (usize::from(short), rest),
        long => {
            let count = usize::from(long & 0x7f);
            let (bytes, rest) = rest.split_at_checked(count).filter(|_| count <= 4)?;
            let length = bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
            (length, rest)
        }
    };
    let (content, rest) = rest.split_at_checked(length)?;
    Some((tag, content, rest))
}

/// The public half of a key, as JWKS publishes it.
fn public_jwk(kid: &str, alg: Algorithm, key: &EncodingKey) -> Option<Jwk> {
    let mut jwk = Jwk::from_encoding_key(key, alg).ok()?;
    jwk.common.key_id = Some(kid.to_string());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Some(jwk)
}

/// A new key for `alg`, sealed under `sealer`; its id is its public key's RFC 7638 thumbprint.
fn new_key(sealer: &RefreshKey, alg_name: &str, now: i64) -> DomainResult<SigningKeyRow> {
    let alg = algorithm(alg_name)
        .ok_or_else(|| DomainError::Internal(format!("no signing algorithm {alg_name}")))?;
    let pkcs8 = generate(alg)?;
    let jwk = encoding_key(alg, &pkcs8).and_then(|key| public_jwk("", alg, &key));
    let jwk = jwk.ok_or_else(|| DomainError::Internal("the new signing key is unusable".into()))?;
    let kid = jwk.thumbprint(ThumbprintHash::SHA256);
    Ok(SigningKeyRow {
        sealed_key: sealer.seal(&kid, &pkcs8),
        kid,
        alg: alg_name.to_string(),
        created_at: now,
        retired_at: None,
        publish_until: None,
    })
}

impl Keyring {
    /// The published keys of `rows` that open under `sealer`; one that does not is logged and
    /// left out.
    fn open(rows: Vec<SigningKeyRow>, sealer: &RefreshKey, now: i64) -> Keyring {
        let mut ring = Keyring {
            keys: Vec::new(),
            published: JwkSet { keys: Vec::new() },
            unopened_current: Vec::new(),
            loaded_at: now,
        };
        for row in rows {
            if row.publish_until.is_some_and(|until| until <= now) {
                continue;
            }
            let alg = algorithm(&row.alg);
            let opened = sealer.open(&row.kid, &row.sealed_key);
            let key = alg
                .zip(opened)
                .and_then(|(alg, der)| encoding_key(alg, &der));
            let jwk = alg
                .zip(key.as_ref())
                .and_then(|(a, k)| public_jwk(&row.kid, a, k));
            let (Some(alg), Some(key), Some(jwk)) = (alg, key, jwk) else {
                tracing::error!(kid = %row.kid, "a signing key does not open with token_secret");
                if row.retired_at.is_none() {
                    ring.unopened_current.push(row.alg);
                }
                continue;
            };
            ring.published.keys.push(jwk);
            let (kid, created_at) = (row.kid, row.created_at);
            let opened = SigningKey {
                kid,
                alg,
                key,
                created_at,
            };
            ring.keys.push(Arc::new(opened));
        }
        ring
    }

    /// The key that signs for `alg` at `now`: the newest published for long enough, or, when
    /// none is yet (the first key), the oldest.
    fn signer(&self, alg: Algorithm, now: i64) -> Option<Arc<SigningKey>> {
        let mut keys = self.keys.iter().filter(|k| k.alg == alg);
        let ripe =
            |k: &&Arc<SigningKey>| now.saturating_sub(k.created_at) >= PUBLISHED_BEFORE_USE_MICROS;
        let newest_ripe = keys.clone().filter(ripe).max_by_key(|k| k.created_at);
        newest_ripe.or_else(|| keys.next()).cloned()
    }
}

impl OAuth2<'_> {
    /// Makes the configured algorithm's first key, unless it has one: the first time a key is
    /// needed (an RSA key takes a moment to make; a service that never signs makes none). Two
    /// instances at once make one. A current key that does not open with `token_secret` is
    /// replaced (it can sign nothing).
    async fn ensure_signing_key(&self) -> DomainResult<Arc<Keyring>> {
        let ctx = self.0;
        let _turn = ctx.signing_keys.making.lock().await;
        let ring = self.reload_keys().await?;
        let alg_name = ctx.config.id_token_signing_alg.as_str();
        let now = ctx.clock.now_micros();
        if ring.signer(self.configured_alg()?, now).is_some() {
            return Ok(ring);
        }
        let replace = ring.unopened_current.iter().any(|a| a == alg_name);
        let key = new_key(&ctx.refresh_key, alg_name, now)?;
        let write = self.write_key(&key, replace.then_some(now)).await?;
        if write {
            tracing::info!(kid = %key.kid, alg = alg_name, replace, "signing key made");
        }
        self.reload_keys().await
    }

    /// Writes `key` as current, retiring the current ones (published until `retire`) when asked;
    /// false when its algorithm has a current key already. Refused when `token_secret` changed
    /// since this instance started (a rotation of the secret ran): it would be sealed under the
    /// old one.
    async fn write_key(&self, key: &SigningKeyRow, retire: Option<i64>) -> DomainResult<bool> {
        let fingerprint = self.0.refresh_key.fingerprint();
        let guard = (FINGERPRINT_SETTING, fingerprint.as_str());
        match self.0.store.add_signing_key(key, retire, guard).await? {
            Some(written) => Ok(written),
            None => Err(DomainError::Missing(
                "token_secret changed meanwhile (rotate-secret ran): start again with the new one"
                    .into(),
            )),
        }
    }

    /// `tessera rotate-signing-key`: a new current key for the configured algorithm, which signs
    /// once it has been published for two minutes; every current key is retired, and stays
    /// published until every ID token it signed (until then) has expired.
    pub async fn rotate_signing_key(&self, actor: &Actor) -> DomainResult<KeyRotation> {
        let ctx = self.0;
        ctx.authorize(actor, "auth.oauth2.signing_keys.rotate")
            .await?;
        let alg = ctx.config.id_token_signing_alg.as_str();
        let now = ctx.clock.now_micros();
        let key = new_key(&ctx.refresh_key, alg, now)?;
        let lifetime = i64::try_from(ctx.config.oauth2_access_token_lifetime).unwrap_or(i64::MAX);
        let until = now
            .saturating_add(PUBLISHED_BEFORE_USE_MICROS)
            .saturating_add(lifetime.saturating_mul(1_000_000))
            .saturating_add(RELOAD_AFTER_MICROS);
        if !self.write_key(&key, Some(until)).await? {
            // Another rotation made its key between this one's two statements.
            return Err(DomainError::Missing(
                "another signing key was made at the same moment; run the rotation again".into(),
            ));
        }
        self.reload_keys().await?;
        tracing::info!(kid = %key.kid, alg, "signing key rotated");
        Ok(KeyRotation {
            kid: key.kid,
            alg: alg.to_string(),
            signs_from: now.saturating_add(PUBLISHED_BEFORE_USE_MICROS),
            previous_published_until: until,
        })
    }

    /// The keyring, read again when this instance read it over a minute ago, with a current key
    /// for the configured algorithm (made now if there is none).
    pub(super) async fn keyring(&self) -> DomainResult<Arc<Keyring>> {
        let now = self.0.clock.now_micros();
        let held = match self.0.signing_keys.ring.read() {
            Ok(held) => held.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let ring = match held {
            Some(ring) if now.saturating_sub(ring.loaded_at) < RELOAD_AFTER_MICROS => ring,
            _ => self.reload_keys().await?,
        };
        match ring.signer(self.configured_alg()?, now) {
            Some(_) => Ok(ring),
            None => self.ensure_signing_key().await,
        }
    }

    fn configured_alg(&self) -> DomainResult<Algorithm> {
        let name = &self.0.config.id_token_signing_alg;
        algorithm(name).ok_or_else(|| DomainError::Internal(format!("no signing algorithm {name}")))
    }

    async fn reload_keys(&self) -> DomainResult<Arc<Keyring>> {
        let ctx = self.0;
        let rows = ctx.store.signing_keys().await?;
        let ring = Arc::new(Keyring::open(
            rows,
            &ctx.refresh_key,
            ctx.clock.now_micros(),
        ));
        match ctx.signing_keys.ring.write() {
            Ok(mut held) => *held = Some(ring.clone()),
            Err(poisoned) => *poisoned.into_inner() = Some(ring.clone()),
        }
        Ok(ring)
    }

    /// GET /oauth2/jwks: the public keys, current and still published.
    pub async fn jwks(&self) -> DomainResult<JwkSet> {
        self.issuer().map_err(|_| DomainError::NotFound)?;
        Ok(self.keyring().await?.published.clone())
    }

    /// `claims` signed with the configured algorithm's current key, as a compact JWS.
    pub(super) async fn sign(&self, claims: &impl serde::Serialize) -> DomainResult<String> {
        let ring = self.keyring().await?;
        let key = ring.signer(self.configured_alg()?, self.0.clock.now_micros());
        let key = key.ok_or_else(|| DomainError::Internal("no current signing key".into()))?;
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.key)
            .map_err(|e| DomainError::Internal(format!("signing failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_sign_and_publish_their_public_half_only() {
        let sealer = RefreshKey::from_secret("a secret of enough length for tests");
        for alg in ["RS256", "ES256"] {
            let row = new_key(&sealer, alg, 1).unwrap();
            let ring = Keyring::open(vec![row.clone()], &sealer, 2);
            let jwk = &ring.published.keys[0];
            assert_eq!(jwk.common.key_id.as_deref(), Some(row.kid.as_str()));
            let text = serde_json::to_string(jwk).unwrap();
            assert!(!text.contains("\"d\""), "no private part: {text}");
            let key = ring.signer(algorithm(alg).unwrap(), 2).unwrap();
            let mut header = Header::new(key.alg);
            header.kid = Some(key.kid.clone());
            let token = jsonwebtoken::encode(&header, &serde_json::json!({"a": 1}), &key.key);
            let token = token.unwrap();
            let decoding = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
            let mut validation = jsonwebtoken::Validation::new(key.alg);
            validation.required_spec_claims.clear();
            validation.validate_exp = false;
            let decoded = jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation);
            assert_eq!(decoded.unwrap().claims["a"], 1);
            // Another secret opens nothing.
            let other = RefreshKey::from_secret("another secret of enough length too");
            assert!(Keyring::open(vec![row], &other, 2).keys.is_empty());
        }
    }

    #[test]
    fn der_reading_refuses_truncated_input() {
        assert!(pkcs8_private_key(&[]).is_none());
        assert!(pkcs8_private_key(&[0x30, 0x82, 0xff]).is_none());
        assert!(pkcs8_private_key(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_none());
    }
}
