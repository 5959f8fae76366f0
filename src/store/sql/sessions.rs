//! Sessions: the session bound a limited user's new session must pass (`admit`), listing and
//! ending sessions (a session is one row of `tokens`).

use super::access_tokens::ShareSql;
use super::lists::ListQuery;
use super::{Conn, Store, FOR_UPDATE, INSERT_COUNTS_ITSELF};
use crate::store::columns::{Arg, Id, Micros};
use crate::store::{ListParams, Page, Session, SessionShare, StoreResult, SESSION_ORDER};

const SESSION_COLUMNS: &str =
    "uuid, user_uuid, tenant_uuid, mobile, created_at, user_agent, remote_addr, client_id";

/// Whether the user may open one more session of `share` under `limit`, in the caller's
/// transaction: the user's session bound of that share (an upper bound of their live sessions of
/// it, migrations 0008 and 0013) is raised while it is under the limit; at the limit, or when
/// it is not known yet (no row, or NULL), the live sessions of the share are counted exactly
/// under the bound's row lock, and the bound becomes that count plus this one.
pub(super) async fn admit(
    conn: &mut Conn,
    user_uuid: &str,
    share: SessionShare,
    limit: i64,
    now: i64,
) -> StoreResult<bool> {
    let bound = share.bound();
    // Where the token's insert raises the bound itself (SQLite's trigger, migration 0013), it is
    // only checked here.
    let raise = match INSERT_COUNTS_ITSELF {
        false => format!(
            "UPDATE session_bounds SET {bound} = {bound} + 1 WHERE user_uuid = $1 AND {bound} < $2"
        ),
        true => format!(
            "UPDATE session_bounds SET {bound} = {bound} WHERE user_uuid = $1 AND {bound} < $2"
        ),
    };
    let raised = sqlx::query(&raise)
        .bind(Id(user_uuid))
        .bind(limit)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if raised == 1 {
        return Ok(true);
    }
    admit_counting(conn, user_uuid, share, limit, now).await
}

/// [`admit`] at the limit, or with the bound not known yet: the live sessions of the share are
/// counted exactly under the bound's row lock, and the bound becomes that count plus this one.
async fn admit_counting(
    conn: &mut Conn,
    user_uuid: &str,
    share: SessionShare,
    limit: i64,
    now: i64,
) -> StoreResult<bool> {
    sqlx::query(
        "INSERT INTO session_bounds (user_uuid) VALUES ($1) ON CONFLICT (user_uuid) DO NOTHING",
    )
    .bind(Id(user_uuid))
    .execute(&mut *conn)
    .await?;
    // On PostgreSQL each statement takes a new snapshot: the counts below see every token
    // committed by a write that held this lock before.
    let other = share.other().bound();
    let other_bound: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT {other} FROM session_bounds WHERE user_uuid = $1{FOR_UPDATE}"
    ))
    .bind(Id(user_uuid))
    .fetch_optional(&mut *conn)
    .await?
    // (Gone: a change of the user dropped it meanwhile; the update below then writes nothing.)
    .flatten();
    let live = live_sessions(conn, user_uuid, share, now, limit).await?;
    if live >= limit {
        return Ok(false);
    }
    // Expired tokens never come back: the live ones and this one bound the user from now on
    // (or the insert adds this one).
    let bound = share.bound();
    let count = match INSERT_COUNTS_ITSELF {
        false => live.saturating_add(1),
        true => live,
    };
    // The other share's bound too, when it is not known yet (a new row): so that the next
    // session of that share (say the first grant after an offline login) is one statement.
    let other_count = match other_bound {
        Some(known) => known,
        None => live_sessions(conn, user_uuid, share.other(), now, limit).await?,
    };
    sqlx::query(&format!(
        "UPDATE session_bounds SET {bound} = $2, {other} = $3 WHERE user_uuid = $1"
    ))
    .bind(Id(user_uuid))
    .bind(count)
    .bind(other_count)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// The user's live sessions of `share`, counted up to `limit` (a user's thousands of tokens cost
/// no more than that).
async fn live_sessions(
    conn: &mut Conn,
    user_uuid: &str,
    share: SessionShare,
    now: i64,
    limit: i64,
) -> StoreResult<i64> {
    let rows = share.rows();
    Ok(sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM tokens WHERE auth_id = $1 AND expires_at > $2 \
         AND {rows} LIMIT $3) AS live"
    ))
    .bind(Id(user_uuid))
    .bind(Micros(now))
    .bind(limit)
    .fetch_one(&mut *conn)
    .await?)
}

impl Store {
    pub async fn list_sessions(
        &self,
        user_uuid: Option<&str>,
        params: &ListParams,
    ) -> StoreResult<Page<Session>> {
        let scope_binds: Vec<Arg> = user_uuid.into_iter().map(Arg::Id).collect();
        self.list_page(
            ListQuery {
                table: "sessions",
                select: SESSION_COLUMNS,
                scope: if user_uuid.is_some() {
                    "user_uuid = $1"
                } else {
                    ""
                },
                scope_binds: &scope_binds,
                order_columns: SESSION_ORDER,
                ..ListQuery::default()
            },
            params,
        )
        .await
    }

    /// Ends a session (its tokens go with it). Idempotent.
    pub async fn delete_session(&self, uuid: &str, user_uuid: Option<&str>) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        let query = match user_uuid {
            Some(user) => {
                sqlx::query("DELETE FROM tokens WHERE session_uuid = $1 AND auth_id = $2")
                    .bind(Id(uuid))
                    .bind(Id(user))
            }
            None => sqlx::query("DELETE FROM tokens WHERE session_uuid = $1").bind(Id(uuid)),
        };
        query.execute(&mut *w.tx).await?;
        // A session a browser signed in for ends that browser's sign-in too (the user's own).
        sqlx::query(
            "DELETE FROM oauth2_browser_sessions WHERE digest IN \
             (SELECT browser_session FROM oauth2_codes WHERE session_uuid = $1 \
              AND ($2 IS NULL OR user_uuid = $2))",
        )
        .bind(uuid.to_ascii_lowercase())
        .bind(user_uuid.map(Id))
        .execute(&mut *w.tx)
        .await?;
        w.commit().await
    }
}
