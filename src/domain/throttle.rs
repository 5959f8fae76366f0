//! Brute-force protection: failed logins are counted per login and per client address. Past a
//! threshold, further attempts for that login (or from that address) are refused until a delay
//! has passed; the delay doubles with every further failure, up to a cap, so that no attacker can
//! lock a user out for longer than the cap. A success clears the login's count and the address's.
//!
//! Time is the domain clock's. Counts live in this process (an attacker spread over several instances meets each instance's
//! limits); entries are forgotten after a quiet period and the table is bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::clock::{duration_to_micros, micros_to_duration, SharedClock};

#[derive(Clone, Debug, PartialEq)]
pub struct ThrottlePolicy {
    /// Failures of one login before its attempts are delayed.
    pub login_failures: u32,
    /// Failures from one address before its attempts are delayed.
    pub address_failures: u32,
    /// The first delay; each further failure doubles it.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// A count is forgotten after this long without failures.
    pub forget_after: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Login(String),
    Address(String),
}

/// Times are epoch microseconds of the domain clock.
#[derive(Debug)]
struct Entry {
    failures: u32,
    blocked_until: Option<i64>,
    last_failure: i64,
}

/// Entries kept at most; beyond, the quiet ones go first, then all (failing open, never growing).
const MAX_ENTRIES: usize = 100_000;

pub struct Throttle {
    policy: ThrottlePolicy,
    entries: Mutex<HashMap<Key, Entry>>,
    clock: SharedClock,
}

fn login_key(login: &str) -> Key {
    Key::Login(crate::store::fold(login))
}

impl Throttle {
    pub fn new(policy: ThrottlePolicy, clock: SharedClock) -> Self {
        Throttle {
            policy,
            entries: Mutex::new(HashMap::new()),
            clock,
        }
    }

    fn keys(login: Option<&str>, address: &str) -> Vec<Key> {
        let mut keys = vec![Key::Address(address.to_string())];
        keys.extend(login.map(login_key));
        keys
    }

    fn threshold(&self, key: &Key) -> u32 {
        match key {
            Key::Login(_) => self.policy.login_failures,
            Key::Address(_) => self.policy.address_failures,
        }
    }

    /// `Err(retry_after)` while the login or the address is held back.
    pub fn check(&self, login: Option<&str>, address: &str) -> Result<(), Duration> {
        let now = self.clock.now_micros();
        let Ok(entries) = self.entries.lock() else {
            return Ok(());
        };
        let wait = Self::keys(login, address)
            .iter()
            .filter_map(|key| entries.get(key)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| micros_to_duration(until - now))
            .max();
        match wait {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt (`login` is None when there was no login, e.g. a bad refresh token).
    pub fn failure(&self, login: Option<&str>, address: &str) {
        let now = self.clock.now_micros();
        let forget_after = duration_to_micros(self.policy.forget_after);
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| now - e.last_failure < forget_after);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        for key in Self::keys(login, address) {
            let threshold = self.threshold(&key);
            if threshold == 0 {
                continue;
            }
            let entry = entries.entry(key).or_insert(Entry {
                failures: 0,
                blocked_until: None,
                last_failure: now,
            });
            if now - entry.last_failure >= forget_after {
                entry.failures = 0;
            }
            entry.failures = entry.failures.saturating_add(1);
            entry.last_failure = now;
            if entry.failures >= threshold {
                let doublings = (entry.failures - threshold).min(30);
                let delay = self
                    .policy
                    .base_delay
                    .saturating_mul(1 << doublings)
                    .min(self.policy.max_delay);
                entry.blocked_until = Some(now.saturating_add(duration_to_micros(delay)));
            }
        }
    }

    /// A successful login clears its login's count and its address's.
    pub fn success(&self, login: &str, address: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            for key in Self::keys(Some(login), address) {
                entries.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(policy(), crate::domain::clock::ManualClock::starting_now())
    }

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            login_failures: 3,
            address_failures: 5,
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(40),
            forget_after: Duration::from_secs(600),
        }
    }

    #[test]
    fn a_login_is_held_back_after_its_threshold_with_growing_capped_delays() {
        let t = throttle();
        for _ in 0..2 {
            t.failure(Some("Alice"), "10.0.0.1");
        }
        assert!(t.check(Some("alice"), "10.0.0.2").is_ok());
        t.failure(Some("alice"), "10.0.0.2");
        let first = t.check(Some("ALICE"), "10.0.0.3").expect_err("held back");
        assert!(first <= Duration::from_secs(10) && first > Duration::from_secs(9));
        t.failure(Some("alice"), "10.0.0.4");
        let second = t.check(Some("alice"), "10.0.0.5").expect_err("held back");
        assert!(second > Duration::from_secs(19));
        for _ in 0..10 {
            t.failure(Some("alice"), "10.0.0.6");
        }
        let capped = t.check(Some("alice"), "10.0.0.7").expect_err("held back");
        assert!(capped <= Duration::from_secs(40));
        assert!(
            t.check(Some("bob"), "10.0.0.8").is_ok(),
            "other logins are free"
        );
    }

    #[test]
    fn an_address_is_held_back_separately_and_success_clears() {
        let t = throttle();
        for n in 0..5 {
            t.failure(Some(&format!("user{n}")), "10.9.9.9");
        }
        assert!(t.check(Some("someone"), "10.9.9.9").is_err());
        assert!(t.check(Some("someone"), "10.1.1.1").is_ok());
        t.success("user0", "10.9.9.9");
        assert!(t.check(Some("someone"), "10.9.9.9").is_ok());
    }

    #[test]
    fn a_zero_threshold_disables_that_limit() {
        let t = Throttle::new(
            ThrottlePolicy {
                login_failures: 0,
                address_failures: 0,
                ..policy()
            },
            crate::domain::clock::ManualClock::starting_now(),
        );
        for _ in 0..100 {
            t.failure(Some("x"), "1.1.1.1");
        }
        assert!(t.check(Some("x"), "1.1.1.1").is_ok());
    }
}
