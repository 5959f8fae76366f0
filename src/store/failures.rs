//! Brute-force counts (`login_failures`), shared by every instance on the database. The rules
//! (what is counted, thresholds, delays) are the domain's (`domain::throttle`); this file applies
//! them atomically, one upsert per attempt.

use super::{Store, StoreResult, WriteTx};

/// One count an attempt is charged to, with the policy of its kind. Times are microseconds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CountedKey {
    /// Opaque (a digest): the store never sees what is counted.
    pub key: String,
    /// Failures before attempts are held back (at least 1).
    pub threshold: i64,
    /// The longest hold-back.
    pub max_delay: i64,
}

/// An attempt to charge: `now`, the first delay, and the time before which a count is forgotten.
#[derive(Clone, Copy, Debug)]
pub struct AttemptTimes {
    pub now: i64,
    pub base_delay: i64,
    pub forget_before: i64,
}

/// Rows purged per statement: small batches keep write locks short.
const PURGE_BATCH: i64 = 1000;

fn capped(value: i64, cap: i64) -> i64 {
    value.min(cap).max(0)
}

impl Store {
    /// Charges one attempt to every key, in one statement, unless one of them is held back at
    /// `now`: then nothing is charged and the answer says when the hold-back ends, and whether
    /// attempts charged since `fresh_after` are still being checked (they may yet clear it). A key's count
    /// restarts when its last failure is older than `forget_before`; from its threshold on, each
    /// charge holds the key back, first for the base delay, then twice the previous, up to its cap.
    pub async fn charge_attempt(
        &self,
        keys: &[CountedKey],
        times: AttemptTimes,
        fresh_after: i64,
    ) -> StoreResult<Option<(i64, bool)>> {
        if keys.is_empty() {
            return Ok(None);
        }
        // Failures after this charge, and the delay it sets (old values: SET reads the row as it was).
        let failures = "(CASE WHEN login_failures.last_failure <= $3 THEN 1 \
                        ELSE login_failures.failures + 1 END)";
        let first = "(CASE WHEN $2 < excluded.max_delay THEN $2 ELSE excluded.max_delay END)";
        let doubled = "(CASE WHEN login_failures.delay < $2 THEN $2 \
                       WHEN login_failures.delay * 2 < excluded.max_delay THEN login_failures.delay * 2 \
                       ELSE excluded.max_delay END)";
        let delay = format!(
            "(CASE WHEN {failures} < excluded.threshold THEN 0 \
             WHEN {failures} = excluded.threshold THEN {first} ELSE {doubled} END)"
        );
        let rows = (0..keys.len())
            .map(|i| {
                let p = 4 + 5 * i;
                format!(
                    "(${}, 1, ${}, ${}, $1, ${}, ${}, 1)",
                    p,
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO login_failures (key, failures, delay, blocked_until, last_failure, threshold, \
             max_delay, pending) VALUES {rows} \
             ON CONFLICT (key) DO UPDATE SET failures = {failures}, delay = {delay}, \
             blocked_until = CASE WHEN {failures} < excluded.threshold THEN 0 ELSE $1 + {delay} END, \
             last_failure = $1, threshold = excluded.threshold, max_delay = excluded.max_delay, \
             pending = login_failures.pending + 1 \
             WHERE login_failures.blocked_until <= $1 \
             RETURNING key"
        );
        // Rows in key order: concurrent charges lock them in the same order (no deadlock).
        let mut sorted = keys.to_vec();
        sorted.sort();
        sorted.dedup_by(|a, b| a.key == b.key);
        let mut query = sqlx::query(&sql)
            .bind(times.now)
            .bind(times.base_delay)
            .bind(times.forget_before);
        for key in &sorted {
            // A first failure that reaches the threshold (1) holds back at once.
            let delay = if key.threshold <= 1 {
                capped(times.base_delay, key.max_delay)
            } else {
                0
            };
            let blocked_until = if key.threshold <= 1 {
                times.now.saturating_add(delay)
            } else {
                0
            };
            query = query
                .bind(key.key.clone())
                .bind(delay)
                .bind(blocked_until)
                .bind(key.threshold)
                .bind(key.max_delay);
        }
        let mut w = self.begin_write().await?;
        let charged = query.fetch_all(&mut *w.tx).await?.len();
        if charged == sorted.len() {
            w.commit().await?;
            return Ok(None);
        }
        // A key is held back: the charges of the others are undone, and the writer's turn given
        // back before reading on another connection.
        let WriteTx { tx, _turn: turn } = w;
        tx.rollback().await?;
        drop(turn);
        let keys: Vec<String> = sorted.into_iter().map(|k| k.key).collect();
        let (until, in_flight) = self.hold_of(&keys, fresh_after).await?;
        Ok(Some((until.unwrap_or(times.now).max(times.now), in_flight)))
    }

    /// When the latest hold-back of these keys ends (if any was set), and whether attempts
    /// charged to them since `fresh_after` are still being checked: a read, for an attempt that
    /// waits for those.
    pub async fn hold_of(
        &self,
        keys: &[String],
        fresh_after: i64,
    ) -> StoreResult<(Option<i64>, bool)> {
        if keys.is_empty() {
            return Ok((None, false));
        }
        let sql = format!(
            "SELECT MAX(blocked_until), \
             MAX(CASE WHEN pending > 0 AND last_failure > ${} THEN 1 ELSE 0 END) \
             FROM login_failures WHERE key IN ({})",
            keys.len() + 1,
            placeholders(keys.len())
        );
        let mut query = sqlx::query_as::<_, (Option<i64>, Option<i64>)>(&sql);
        for key in keys {
            query = query.bind(key.clone());
        }
        let (until, in_flight) = query.bind(fresh_after).fetch_one(&self.pool).await?;
        Ok((until, in_flight.unwrap_or(0) > 0))
    }

    /// The attempts charged to these keys are checked (they failed): no longer pending.
    pub async fn settle_attempt(&self, keys: &[String]) -> StoreResult<()> {
        self.update_keys(
            "UPDATE login_failures SET pending = pending - 1 WHERE pending > 0 AND key IN ({keys})",
            keys,
        )
        .await
    }

    /// Takes back one charge of each key (an attempt that was not a failed guess): a key then
    /// below its threshold is no longer held back.
    pub async fn refund_attempt(&self, keys: &[String]) -> StoreResult<()> {
        self.update_keys(
            "UPDATE login_failures SET failures = failures - 1, \
             pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END, \
             delay = CASE WHEN failures - 1 < threshold THEN 0 ELSE delay END, \
             blocked_until = CASE WHEN failures - 1 < threshold THEN 0 ELSE blocked_until END \
             WHERE failures > 0 AND key IN ({keys})",
            keys,
        )
        .await
    }

    /// Forgets the counts of these keys.
    pub async fn clear_failures(&self, keys: &[String]) -> StoreResult<()> {
        self.update_keys("DELETE FROM login_failures WHERE key IN ({keys})", keys)
            .await
    }

    /// Runs one write statement over the rows of `keys`: `{keys}` in `sql` becomes their
    /// placeholders. Nothing to do without keys.
    async fn update_keys(&self, sql: &str, keys: &[String]) -> StoreResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let sql = sql.replace("{keys}", &placeholders(keys.len()));
        let mut query = sqlx::query(&sql);
        for key in keys {
            query = query.bind(key.clone());
        }
        let mut w = self.begin_write().await?;
        query.execute(&mut *w.tx).await?;
        w.commit().await
    }

    /// Deletes the counts that are both forgotten (last failure before `forget_before`) and no
    /// longer held back at `now`, in batches; returns how many went. Active hold-backs stay.
    pub async fn purge_failures(&self, now: i64, forget_before: i64) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let mut w = self.begin_write().await?;
            let purged = sqlx::query(&format!(
                "DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures \
                 WHERE last_failure <= $1 AND blocked_until <= $2 LIMIT {PURGE_BATCH})"
            ))
            .bind(forget_before)
            .bind(now)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
            w.commit().await?;
            total += purged;
            if purged < PURGE_BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}

/// The condition of a `login_failures` row that holds its key back (until `blocked_until`):
/// its settled failures reach the threshold (attempts still being checked do not count).
pub(super) const HOLDS_BACK: &str = "failures - pending >= threshold";

/// `$1, $2, …, $n`.
fn placeholders(count: usize) -> String {
    super::placeholders_from(1, count)
}
