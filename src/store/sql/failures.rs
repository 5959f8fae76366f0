//! Brute-force counts (`login_failures`) and the places users recently logged in from
//! (`trusted_logins`), shared by every instance on the database. The rules (what is counted,
//! thresholds, delays) are the domain's (`domain::throttle`); this file applies them atomically.
//!
//! A row's `failures` are settled failures only; `pending` counts attempts admitted and still
//! being checked (since `last_charge`). A hold-back (`blocked_until`) is armed only when a failure
//! is settled, never by an attempt in flight nor by a success.

use super::pool::WriteTx;
use super::{Db, Store};
use crate::store::{placeholders_from, Admission, AttemptTimes, CountedKey, StoreResult};

/// Rows purged per statement: small batches keep write locks short.
const PURGE_BATCH: i64 = 1000;

/// A row's settled failures, restarted when its last failure is before `forget_before`.
fn settled(forget_before: &str) -> String {
    format!(
        "(CASE WHEN login_failures.last_failure <= {forget_before} THEN 0 \
         ELSE login_failures.failures END)"
    )
}

/// A row's attempts in flight, none when its last charge is before `stale_before`.
fn in_flight(stale_before: &str) -> String {
    format!(
        "(CASE WHEN login_failures.last_charge <= {stale_before} THEN 0 \
         ELSE login_failures.pending END)"
    )
}

/// How many attempts a row admits in flight at once: as many as it may still fail before its
/// `threshold`, one at a time past it. The charge and the waiting attempt's read share it.
fn room(settled: &str, threshold: &str) -> String {
    format!("(CASE WHEN {settled} < {threshold} THEN {threshold} - {settled} ELSE 1 END)")
}

fn capped(value: i64, cap: i64) -> i64 {
    value.min(cap).max(0)
}

impl Store {
    /// Charges one attempt to every key, in one statement, unless a key is held back at `now`
    /// or already has as many attempts in flight as it may still fail before its threshold
    /// (one at a time past it): then nothing is charged.
    pub async fn charge_attempt(
        &self,
        keys: &[CountedKey],
        times: AttemptTimes,
    ) -> StoreResult<Admission> {
        if keys.is_empty() {
            return Ok(Admission::Admitted);
        }
        // $1 now, $2 forget_before, $3 stale_before.
        let (settled, in_flight) = (settled("$2"), in_flight("$3"));
        let rows = values(keys.len(), 3, |p| {
            format!("(${p}, 0, 0, 0, $1, ${}, ${}, 1, $1)", p + 1, p + 2)
        });
        let sql = format!(
            "INSERT INTO login_failures (key, failures, delay, blocked_until, last_failure, \
             threshold, max_delay, pending, last_charge) VALUES {rows} \
             ON CONFLICT (key) DO UPDATE SET failures = {settled}, \
             delay = CASE WHEN login_failures.last_failure <= $2 THEN 0 ELSE login_failures.delay END, \
             pending = {in_flight} + 1, last_charge = $1, \
             threshold = excluded.threshold, max_delay = excluded.max_delay \
             WHERE login_failures.blocked_until <= $1 AND {in_flight} < {room} \
             RETURNING key",
            room = room(&settled, "excluded.threshold")
        );
        let sorted = in_lock_order(keys);
        let mut query = sqlx::query(&sql)
            .bind(times.now)
            .bind(times.forget_before)
            .bind(times.stale_before);
        for key in &sorted {
            query = query
                .bind(key.key.clone())
                .bind(key.threshold)
                .bind(key.max_delay);
        }
        let mut w = self.begin_write().await?;
        let charged = query.fetch_all(&mut *w.tx).await?.len();
        if charged == sorted.len() {
            w.commit().await?;
            return Ok(Admission::Admitted);
        }
        // Some key refused: the others' charges are undone, and the writer's turn given back
        // before reading on another connection.
        let WriteTx { tx, turn } = w;
        tx.rollback().await?;
        drop(turn);
        let keys: Vec<String> = sorted.into_iter().map(|k| k.key).collect();
        match self.held_until(&keys).await? {
            Some(until) if until > times.now => Ok(Admission::HeldUntil(until)),
            _ => Ok(Admission::Busy),
        }
    }

    /// What a charge of these keys would find now, read without writing: for an attempt that
    /// waits for attempts in flight (a charge is a write: asking with writes would queue behind
    /// the very attempts it waits for).
    pub async fn admission(
        &self,
        keys: &[CountedKey],
        times: AttemptTimes,
    ) -> StoreResult<Admission> {
        if keys.is_empty() {
            return Ok(Admission::Admitted);
        }
        let (settled, in_flight) = (settled("$2"), in_flight("$3"));
        // The typed pools decode strictly: the busy flag is a BIGINT on both (a bare 1 is an
        // int4 on PostgreSQL).
        let sql = format!(
            "SELECT MAX(CASE WHEN blocked_until > $1 THEN blocked_until END), \
             MAX(CASE WHEN {in_flight} >= {room} \
             THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END) \
             FROM login_failures WHERE key IN ({})",
            placeholders_from(4, keys.len()),
            room = room(&settled, "threshold")
        );
        let mut query = sqlx::query_as::<_, (Option<i64>, Option<i64>)>(&sql)
            .bind(times.now)
            .bind(times.forget_before)
            .bind(times.stale_before);
        for key in keys {
            query = query.bind(key.key.clone());
        }
        Ok(match query.fetch_one(&self.pool).await? {
            (Some(until), _) => Admission::HeldUntil(until),
            (None, Some(busy)) if busy > 0 => Admission::Busy,
            _ => Admission::Admitted,
        })
    }

    /// The latest end of these keys' hold-backs, if any was set.
    pub async fn held_until(&self, keys: &[String]) -> StoreResult<Option<i64>> {
        let sql = format!(
            "SELECT MAX(blocked_until) FROM login_failures WHERE key IN ({})",
            placeholders(keys.len())
        );
        let mut query = sqlx::query_scalar::<_, Option<i64>>(&sql);
        for key in keys {
            query = query.bind(key.clone());
        }
        Ok(query.fetch_one(&self.pool).await?)
    }

    /// A failed attempt: the charges of `release` are no longer in flight, and one failure is
    /// counted to every key of `failed` (charged or not). A key reaching its threshold is held
    /// back, first for the base delay, then twice the previous, up to its cap.
    pub async fn record_failure(
        &self,
        release: &[String],
        failed: &[CountedKey],
        times: AttemptTimes,
    ) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        if !release.is_empty() {
            sqlx::query(&release_sql(release.len()))
                .bind_all(release)
                .execute(&mut *w.tx)
                .await?;
        }
        if !failed.is_empty() {
            let sql = failure_upsert_sql(failed.len());
            let mut query = sqlx::query(&sql)
                .bind(times.now)
                .bind(times.base_delay)
                .bind(times.forget_before);
            for key in in_lock_order(failed) {
                // A first failure that reaches the threshold (1) holds back at once.
                let (delay, blocked_until) = if key.threshold <= 1 {
                    let delay = capped(times.base_delay, key.max_delay);
                    (delay, times.now.saturating_add(delay))
                } else {
                    (0, 0)
                };
                query = query
                    .bind(key.key)
                    .bind(delay)
                    .bind(blocked_until)
                    .bind(key.threshold)
                    .bind(key.max_delay);
            }
            query.execute(&mut *w.tx).await?;
        }
        w.commit().await
    }

    /// Attempts that did not fail: their charges are no longer in flight, the counts of `clear`
    /// are forgotten (hold-backs included), and `trust` (a key and until when) is recorded.
    pub async fn release_attempt(
        &self,
        release: &[String],
        clear: &[String],
        trust: Option<(&str, i64)>,
    ) -> StoreResult<()> {
        if release.is_empty() && clear.is_empty() && trust.is_none() {
            return Ok(());
        }
        let mut w = self.begin_write().await?;
        if !release.is_empty() {
            sqlx::query(&release_sql(release.len()))
                .bind_all(release)
                .execute(&mut *w.tx)
                .await?;
        }
        if !clear.is_empty() {
            let sql = format!(
                "UPDATE login_failures SET failures = 0, delay = 0, blocked_until = 0 \
                 WHERE key IN ({})",
                placeholders(clear.len())
            );
            sqlx::query(&sql)
                .bind_all(clear)
                .execute(&mut *w.tx)
                .await?;
        }
        if let Some((key, until)) = trust {
            sqlx::query(
                "INSERT INTO trusted_logins (key, trusted_until) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET trusted_until = excluded.trusted_until",
            )
            .bind(key.to_string())
            .bind(until)
            .execute(&mut *w.tx)
            .await?;
        }
        w.commit().await
    }

    /// Until when `key` (a user from an address) is trusted, if it still is at `now`.
    pub async fn trusted_until(&self, key: &str, now: i64) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT trusted_until FROM trusted_logins WHERE key = $1 AND trusted_until > $2",
        )
        .bind(key.to_string())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Deletes the counts that are both forgotten (last failure before `forget_before`) and no
    /// longer held back at `now`, and the places trusted no longer, in batches; returns how many
    /// rows went. Active hold-backs stay.
    pub async fn purge_failures(&self, now: i64, forget_before: i64) -> StoreResult<u64> {
        let mut total = 0;
        for (sql, first, second) in [
            (
                format!(
                    "DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures \
                     WHERE last_failure <= $1 AND blocked_until <= $2 LIMIT {PURGE_BATCH})"
                ),
                forget_before,
                now,
            ),
            (
                format!(
                    "DELETE FROM trusted_logins WHERE key IN (SELECT key FROM trusted_logins \
                     WHERE trusted_until <= $1 AND trusted_until <= $2 LIMIT {PURGE_BATCH})"
                ),
                now,
                now,
            ),
        ] {
            loop {
                let mut w = self.begin_write().await?;
                let purged = sqlx::query(&sql)
                    .bind(first)
                    .bind(second)
                    .execute(&mut *w.tx)
                    .await?
                    .rows_affected();
                w.commit().await?;
                total += purged;
                if purged < PURGE_BATCH.unsigned_abs() {
                    break;
                }
            }
        }
        Ok(total)
    }
}

/// Counts one failure to each of `keys` rows (`$1` now, `$2` base_delay, `$3` forget_before,
/// then five values a key): a key reaching its threshold is held back for the base delay, and
/// each failure past it doubles the previous delay, up to the key's cap.
fn failure_upsert_sql(keys: usize) -> String {
    let settled = format!("({} + 1)", settled("$3"));
    let previous =
        "(CASE WHEN login_failures.last_failure <= $3 THEN 0 ELSE login_failures.delay END)";
    let first = "(CASE WHEN $2 < excluded.max_delay THEN $2 ELSE excluded.max_delay END)";
    let doubled = format!(
        "(CASE WHEN {previous} < $2 THEN {first} \
         WHEN {previous} * 2 < excluded.max_delay THEN {previous} * 2 \
         ELSE excluded.max_delay END)"
    );
    let delay = format!(
        "(CASE WHEN {settled} < excluded.threshold THEN 0 \
         WHEN {settled} = excluded.threshold THEN {first} ELSE {doubled} END)"
    );
    let rows = values(keys, 5, |p| {
        format!(
            "(${p}, 1, ${}, ${}, $1, ${}, ${}, 0, 0)",
            p + 1,
            p + 2,
            p + 3,
            p + 4
        )
    });
    format!(
        "INSERT INTO login_failures (key, failures, delay, blocked_until, last_failure, \
         threshold, max_delay, pending, last_charge) VALUES {rows} \
         ON CONFLICT (key) DO UPDATE SET failures = {settled}, delay = {delay}, \
         blocked_until = CASE WHEN {settled} < excluded.threshold \
         THEN login_failures.blocked_until ELSE $1 + {delay} END, \
         last_failure = $1, threshold = excluded.threshold, max_delay = excluded.max_delay"
    )
}

/// Takes one attempt in flight off each key.
fn release_sql(count: usize) -> String {
    format!(
        "UPDATE login_failures SET pending = pending - 1 WHERE pending > 0 AND key IN ({})",
        placeholders(count)
    )
}

/// Rows in key order, each once: concurrent writers lock them in the same order (no deadlock).
fn in_lock_order(keys: &[CountedKey]) -> Vec<CountedKey> {
    let mut sorted = keys.to_vec();
    sorted.sort();
    sorted.dedup_by(|a, b| a.key == b.key);
    sorted
}

/// `count` rows of VALUES, the placeholders of row i starting at `4 + width * i`.
fn values(count: usize, width: usize, row: impl Fn(usize) -> String) -> String {
    (0..count)
        .map(|i| row(4 + width * i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$1, $2, …, $n`.
fn placeholders(count: usize) -> String {
    placeholders_from(1, count)
}

/// Binds every string of a list in order.
trait BindAll<'q> {
    fn bind_all(self, values: &[String]) -> Self;
}

impl<'q> BindAll<'q> for sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>> {
    fn bind_all(mut self, values: &[String]) -> Self {
        for value in values {
            self = self.bind(value.clone());
        }
        self
    }
}
