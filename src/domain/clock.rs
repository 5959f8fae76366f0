//! The one source of time: every rule that reads "now" (token issue and expiry, the purge, the
//! validation cache, the brute-force throttle, error time stamps) reads it from a [`Clock`], so
//! that tests advance a [`ManualClock`] instead of sleeping.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Wall-clock time, in epoch microseconds.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now_micros(&self) -> i64;
}

/// The clock every service shares.
pub type SharedClock = Arc<dyn Clock>;

/// The system's clock: what `serve` runs on.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> i64 {
        chrono::Utc::now().timestamp_micros()
    }
}

pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that tests move forward instead of sleeping: the system's time plus everything
/// [`ManualClock::advance`] added. Between advances it runs with the system clock, so that
/// successive events keep their order (lists sorted by creation time stay deterministic).
#[derive(Debug, Default)]
pub struct ManualClock {
    offset_micros: AtomicI64,
}

impl ManualClock {
    pub fn starting_now() -> Arc<ManualClock> {
        Arc::new(ManualClock::default())
    }

    /// Moves time forward by `by`, at once.
    pub fn advance(&self, by: Duration) {
        self.offset_micros
            .fetch_add(duration_to_micros(by), Ordering::AcqRel);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> i64 {
        SystemClock
            .now_micros()
            .saturating_add(self.offset_micros.load(Ordering::Acquire))
    }
}

/// Microseconds as a `Duration` (zero when negative).
pub fn micros_to_duration(micros: i64) -> Duration {
    Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

/// A `Duration` as microseconds (saturating).
pub fn duration_to_micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_jumps_when_advanced() {
        let clock = ManualClock::starting_now();
        let start = clock.now_micros();
        clock.advance(Duration::from_secs(3600));
        let later = clock.now_micros();
        assert!(later >= start + 3_600_000_000, "advanced by an hour");
        assert!(later < start + 3_601_000_000, "and not much more");
    }
}
