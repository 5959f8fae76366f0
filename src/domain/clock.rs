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

/// A clock that moves only when told to: tests advance it instead of sleeping.
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    /// Starts at the system's time, so that times look real in responses and logs.
    pub fn starting_now() -> Arc<ManualClock> {
        Arc::new(ManualClock {
            micros: AtomicI64::new(SystemClock.now_micros()),
        })
    }

    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.micros.fetch_add(micros, Ordering::AcqRel);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> i64 {
        self.micros.load(Ordering::Acquire)
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
    fn a_manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::starting_now();
        let start = clock.now_micros();
        assert_eq!(clock.now_micros(), start);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now_micros(), start + 2_000_000);
    }
}
