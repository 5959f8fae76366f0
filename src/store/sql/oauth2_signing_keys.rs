//! The keys that sign ID tokens (SPEC §11.9): their private halves sealed under `token_secret`,
//! one current key per algorithm, the retired ones kept while tokens they signed may live.

use super::Store;
use crate::store::columns::Micros;
use crate::store::{SigningKeyRow, StoreResult};

const COLUMNS: &str = "kid, alg, sealed_key, created_at, retired_at, publish_until";

#[derive(sqlx::FromRow)]
struct Row {
    kid: String,
    alg: String,
    sealed_key: Vec<u8>,
    created_at: Micros,
    retired_at: Option<Micros>,
    publish_until: Option<Micros>,
}

impl From<Row> for SigningKeyRow {
    fn from(row: Row) -> SigningKeyRow {
        SigningKeyRow {
            kid: row.kid,
            alg: row.alg,
            sealed_key: row.sealed_key,
            created_at: row.created_at.0,
            retired_at: row.retired_at.map(|m| m.0),
            publish_until: row.publish_until.map(|m| m.0),
        }
    }
}

impl Store {
    /// Every signing key, current and retired, oldest first.
    pub async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRow>> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM oauth2_signing_keys ORDER BY created_at, kid"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(SigningKeyRow::from).collect())
    }

    /// Writes `key` as its algorithm's current key, retiring the current one (published until
    /// `retire`) when asked; without, false when its algorithm has a current key already (another
    /// instance made it first). `None`, and nothing written, when the setting `fingerprint.0` no
    /// longer holds `fingerprint.1`: the secret the key is sealed under is not the database's any
    /// more. The setting's row is written first, so that a rotation of the secret (which writes
    /// it first too) and this write take turns.
    pub async fn add_signing_key(
        &self,
        key: &SigningKeyRow,
        retire: Option<i64>,
        fingerprint: (&str, &str),
    ) -> StoreResult<Option<bool>> {
        let mut w = self.begin_write().await?;
        let same_secret =
            sqlx::query("UPDATE settings SET value = $2 WHERE key = $1 AND value = $2")
                .bind(fingerprint.0)
                .bind(fingerprint.1)
                .execute(&mut *w.tx)
                .await?
                .rows_affected();
        if same_secret != 1 {
            return Ok(None);
        }
        if let Some(publish_until) = retire {
            sqlx::query(
                "UPDATE oauth2_signing_keys SET retired_at = $2, publish_until = $3 \
                 WHERE alg = $1 AND retired_at IS NULL",
            )
            .bind(&key.alg)
            .bind(Micros(key.created_at))
            .bind(Micros(publish_until))
            .execute(&mut *w.tx)
            .await?;
        }
        let written = sqlx::query(&format!(
            "INSERT INTO oauth2_signing_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, NULL, NULL) \
             ON CONFLICT DO NOTHING"
        ))
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.sealed_key)
        .bind(Micros(key.created_at))
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(Some(written > 0))
    }
}

/// Seals every signing key again (`reseal`: its key sealed under the new secret), inside the
/// transaction that moves the refresh tokens to that secret; the number of keys.
pub(super) async fn reseal_signing_keys(
    tx: &mut sqlx::Transaction<'_, super::Db>,
    reseal: impl Fn(&SigningKeyRow) -> Option<Vec<u8>>,
) -> StoreResult<u64> {
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM oauth2_signing_keys"))
        .fetch_all(&mut **tx)
        .await?;
    let mut count = 0;
    for key in rows.into_iter().map(SigningKeyRow::from) {
        // A key that does not open with the current secret signs nothing and never will:
        // it goes, rather than keeping the secret from ever rotating again.
        let Some(sealed) = reseal(&key) else {
            tracing::warn!(kid = %key.kid, "a signing key that does not open is deleted");
            sqlx::query("DELETE FROM oauth2_signing_keys WHERE kid = $1")
                .bind(&key.kid)
                .execute(&mut **tx)
                .await?;
            continue;
        };
        sqlx::query("UPDATE oauth2_signing_keys SET sealed_key = $2 WHERE kid = $1")
            .bind(&key.kid)
            .bind(sealed)
            .execute(&mut **tx)
            .await?;
        count += 1;
    }
    Ok(count)
}
