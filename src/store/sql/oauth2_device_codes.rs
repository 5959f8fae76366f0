//! The device authorization grant (SPEC §11.8): a device's authorization, found by the digest
//! of its device code or of its user code. Every change is one conditional statement, so that two
//! polls or two decisions at once never both take effect.

use sqlx::types::Json;

use super::Store;
use crate::store::columns::{Id, Micros, UuidText};
use crate::store::{DeviceCode, DeviceStatus, NewDeviceCode, SignIn, StoreResult};

const COLUMNS: &str = "client_id, scope, expires_at, poll_interval, last_poll, status, user_uuid";
/// The columns read: the written ones and the sign-in the authorization was allowed in.
const READ_COLUMNS: &str = "client_id, scope, expires_at, poll_interval, last_poll, status, \
                            user_uuid, auth_time, browser_session";

#[derive(sqlx::FromRow)]
struct Row {
    client_id: UuidText,
    scope: Json<Vec<String>>,
    expires_at: Micros,
    poll_interval: i64,
    last_poll: Micros,
    status: String,
    user_uuid: Option<UuidText>,
    auth_time: Option<Micros>,
    browser_session: Option<Vec<u8>>,
}

impl From<Row> for DeviceCode {
    fn from(row: Row) -> DeviceCode {
        DeviceCode {
            client_id: row.client_id.into(),
            scope: row.scope.0,
            expires_at: row.expires_at.0,
            poll_interval: row.poll_interval,
            last_poll: row.last_poll.0,
            status: DeviceStatus::parse(&row.status),
            user_uuid: row.user_uuid.map(String::from),
            signed_in: match (row.auth_time, row.browser_session) {
                (Some(auth_time), Some(browser_session)) => Some(SignIn {
                    auth_time: auth_time.0,
                    browser_session,
                }),
                _ => None,
            },
        }
    }
}

impl Store {
    /// Writes a device's authorization, unless its client holds `pending` undecided live ones
    /// (at `last_poll`, when it is asked); false then, or when its client is gone. A user code
    /// digest taken already is a `Conflict`.
    pub async fn create_device_code(
        &self,
        code: &NewDeviceCode,
        pending: i64,
    ) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        // The client's row first: parallel requests of one client count one after the other.
        if !super::oauth2_clients::lock_client(&mut w.tx, &code.client_id, None).await? {
            return Ok(false);
        }
        let written = sqlx::query(&format!(
            "INSERT INTO oauth2_device_codes (device_digest, user_code_digest, {COLUMNS}) \
             SELECT $1, $2, $3, $4, $5, $6, $7, 'pending', NULL \
             WHERE EXISTS (SELECT 1 FROM oauth2_clients WHERE client_id = $3) \
             AND (SELECT COUNT(*) FROM oauth2_device_codes WHERE client_id = $3 \
                  AND status = 'pending' AND expires_at > $7) < $8"
        ))
        .bind(&code.device_digest)
        .bind(&code.user_code_digest)
        .bind(Id(&code.client_id))
        .bind(Json(&code.scope))
        .bind(Micros(code.expires_at))
        .bind(code.poll_interval)
        .bind(Micros(code.last_poll))
        .bind(pending)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(written > 0)
    }

    /// `client_id`'s device authorization with this device code digest (another client's is
    /// none).
    pub async fn find_device_code(
        &self,
        device_digest: &[u8],
        client_id: &str,
    ) -> StoreResult<Option<DeviceCode>> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {READ_COLUMNS} FROM oauth2_device_codes WHERE device_digest = $1 AND client_id = $2"
        ))
        .bind(device_digest)
        .bind(Id(client_id))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(DeviceCode::from))
    }

    /// The pending, unexpired device authorization with this user code digest.
    pub async fn find_pending_user_code(
        &self,
        user_code_digest: &[u8],
        now: i64,
    ) -> StoreResult<Option<DeviceCode>> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {READ_COLUMNS} FROM oauth2_device_codes \
             WHERE user_code_digest = $1 AND status = 'pending' AND expires_at > $2"
        ))
        .bind(user_code_digest)
        .bind(Micros(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(DeviceCode::from))
    }

    /// Records `user_uuid`'s decision, made in the sign-in `signed_in`, on a pending, unexpired
    /// authorization; false when it is not pending any more (decided, expired, gone) or the user
    /// is gone.
    pub async fn decide_device_code(
        &self,
        user_code_digest: &[u8],
        (user_uuid, signed_in): (&str, &SignIn),
        status: DeviceStatus,
        now: i64,
    ) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let written = sqlx::query(
            "UPDATE oauth2_device_codes SET status = $3, user_uuid = $2, auth_time = $5, \
             browser_session = $6 \
             WHERE user_code_digest = $1 AND status = 'pending' AND expires_at > $4 \
             AND EXISTS (SELECT 1 FROM users WHERE uuid = $2)",
        )
        .bind(user_code_digest)
        .bind(Id(user_uuid))
        .bind(status.as_str())
        .bind(Micros(now))
        .bind(Micros(signed_in.auth_time))
        .bind(&signed_in.browser_session)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(written > 0)
    }

    /// Records a poll at `now` with the interval to keep from then on, if no other poll came
    /// since the one at `last_poll` (false: one did).
    pub async fn record_device_poll(
        &self,
        device_digest: &[u8],
        last_poll: i64,
        now: i64,
        poll_interval: i64,
    ) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let written = sqlx::query(
            "UPDATE oauth2_device_codes SET last_poll = $3, poll_interval = $4 \
             WHERE device_digest = $1 AND last_poll = $2",
        )
        .bind(device_digest)
        .bind(Micros(last_poll))
        .bind(Micros(now))
        .bind(poll_interval)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(written > 0)
    }

    /// Marks an allowed authorization redeemed: true once only.
    pub async fn redeem_device_code(&self, device_digest: &[u8]) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let written = sqlx::query(
            "UPDATE oauth2_device_codes SET status = 'redeemed' \
             WHERE device_digest = $1 AND status = 'allowed'",
        )
        .bind(device_digest)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(written > 0)
    }
}
