//! Brute-force protection. Every password attempt is charged, before any hashing, to three counts:
//!
//! - the **account**: the user the login resolves to (so its username and its e-mail addresses
//!   share one count), or, for an unknown login, the typed login, folded;
//! - the **account from this address**;
//! - the **address** (alone, for grants without a login such as refresh tokens).
//!
//! From a count's threshold on, each further attempt holds that count back: first for the base
//! delay, then twice the previous delay, up to a cap. The account from one address and the address
//! are capped by `max_delay`; the account alone (what every other address meets) by
//! `account_max_delay`, so that one attacking address cannot keep the account's owner out for long.
//! An attempt held back is not charged. Charging before hashing means that parallel guesses meet the
//! limit too: the attempts in flight are already counted. An attempt refused while attempts charged
//! in the last second are still being checked waits for them (briefly, asking again): if they
//! succeed, the account is cleared and it goes ahead, so that a user's parallel logins are not
//! refused; if they fail, it is held back.
//!
//! A success clears the account's counts and takes back its own charge from the address (never the
//! address's earlier failures). An attempt that was not a guess (a store or hashing failure) takes
//! back all its charges.
//!
//! Counts live in the store, so that every instance sharing a database meets the same limits.
//! Time is the domain clock's; counts are forgotten after a quiet period, and the purge deletes
//! only counts both forgotten and no longer holding anything back.

use std::time::Duration;

use super::clock::{duration_to_micros, micros_to_duration, SharedClock};
use super::error::{DomainError, DomainResult};
use super::secrets;
use crate::store::{AttemptTimes, CountedKey, Store};

#[derive(Clone, Debug, PartialEq)]
pub struct ThrottlePolicy {
    /// Failures of one account (and of one account from one address) before its attempts are delayed.
    pub login_failures: u32,
    /// Failures from one address before its attempts are delayed.
    pub address_failures: u32,
    /// The first delay; each further failure doubles it.
    pub base_delay: Duration,
    /// The longest delay of an address, and of an account from the address that failed.
    pub max_delay: Duration,
    /// The longest delay of an account for every address (at most `max_delay`).
    pub account_max_delay: Duration,
    /// A count is forgotten after this long without failures.
    pub forget_after: Duration,
}

/// Whose attempts a password attempt is counted with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Account {
    /// A known user, by uuid.
    User(String),
    /// A login no user answers to, folded.
    Login(String),
}

impl Account {
    pub fn login(login: &str) -> Account {
        Account::Login(crate::store::fold(login))
    }

    fn id(&self) -> String {
        match self {
            Account::User(uuid) => format!("user\u{0}{uuid}"),
            Account::Login(login) => format!("login\u{0}{login}"),
        }
    }
}

/// The counts one attempt is charged to.
pub struct Charge {
    /// The account's and the account-from-address keys: cleared by a success.
    account: Vec<String>,
    /// The address key: a success takes back its own charge only.
    address: Option<String>,
    /// For an attempt admitted without a charge ([`Throttle::unguessable`]): the counts a
    /// failure is charged to afterwards.
    after_failure: Vec<CountedKey>,
}

impl Charge {
    /// The keys whose hold-back an uncharged attempt reads with its own statement.
    pub fn held_keys(&self) -> Vec<String> {
        self.after_failure.iter().map(|k| k.key.clone()).collect()
    }
}

fn key_of(text: &str) -> String {
    hex::encode(secrets::digest(text))
}

/// How long an attempt held back by attempts still being checked waits for them; pending charges
/// older than this are not waited for (an instance that stopped mid-check leaves them behind).
/// One hash takes tens of milliseconds, but a saturated hasher queues up to 32 per core: nearly a
/// second before the load of the machine, which a second did not cover (a burst of correct logins
/// from one address, more than its limit, was refused).
const IN_FLIGHT: Duration = Duration::from_secs(5);
/// How often a waiting attempt tries again.
const RETRY_EVERY: Duration = Duration::from_millis(100);

/// The longest a request waits for the bookkeeping after its attempt (settling, clearing, taking
/// back): a database that stopped answering must not hold the answer back longer.
const SETTLE_WITHIN: Duration = Duration::from_secs(1);

/// Runs the bookkeeping after an attempt on a task of its own, so that it completes even if the
/// request is dropped meanwhile; the request waits for it at most [`SETTLE_WITHIN`]. Failures are
/// logged.
async fn settle(
    what: &'static str,
    work: impl std::future::Future<Output = crate::store::StoreResult<()>> + Send + 'static,
) {
    let task = tokio::spawn(async move {
        if let Err(error) = work.await {
            tracing::warn!(%error, "brute-force counts: could not {what}");
        }
    });
    if tokio::time::timeout(SETTLE_WITHIN, task).await.is_err() {
        tracing::warn!("brute-force counts: could not {what} in time");
    }
}

/// Longest delays kept well inside i64 microseconds, so that doubling never overflows.
fn cap(duration: Duration) -> i64 {
    duration_to_micros(duration).min(i64::MAX / 4)
}

pub struct Throttle {
    policy: ThrottlePolicy,
    store: Store,
    clock: SharedClock,
}

impl Throttle {
    pub fn new(policy: ThrottlePolicy, store: Store, clock: SharedClock) -> Self {
        Throttle {
            policy,
            store,
            clock,
        }
    }

    /// The keys of an attempt for `account` (none for grants without a login) from `address`.
    fn keys(&self, account: Option<&Account>, address: &str) -> (Vec<CountedKey>, Charge) {
        let policy = &self.policy;
        let mut keys = Vec::new();
        let mut charge = Charge {
            account: Vec::new(),
            address: None,
            after_failure: Vec::new(),
        };
        if let (Some(account), true) = (account, policy.login_failures > 0) {
            let id = account.id();
            let threshold = i64::from(policy.login_failures);
            for (text, max_delay) in [
                (
                    format!("account\u{0}{id}"),
                    cap(policy.account_max_delay.min(policy.max_delay)),
                ),
                (
                    format!("account-address\u{0}{id}\u{0}{address}"),
                    cap(policy.max_delay),
                ),
            ] {
                let key = key_of(&text);
                charge.account.push(key.clone());
                keys.push(CountedKey {
                    key,
                    threshold,
                    max_delay,
                });
            }
        }
        if policy.address_failures > 0 {
            let key = key_of(&format!("address\u{0}{address}"));
            charge.address = Some(key.clone());
            keys.push(CountedKey {
                key,
                threshold: i64::from(policy.address_failures),
                max_delay: cap(policy.max_delay),
            });
        }
        (keys, charge)
    }

    /// Charges an attempt before it is checked; `HeldBack` (nothing charged) while the account,
    /// the account from this address, or the address is held back.
    pub async fn charge(&self, account: Option<&Account>, address: &str) -> DomainResult<Charge> {
        let (keys, charge) = self.keys(account, address);
        let digests: Vec<String> = keys.iter().map(|k| k.key.clone()).collect();
        let mut waited = Duration::ZERO;
        loop {
            let now = self.clock.now_micros();
            let times = AttemptTimes {
                now,
                base_delay: cap(self.policy.base_delay),
                forget_before: now.saturating_sub(duration_to_micros(self.policy.forget_after)),
            };
            let fresh_after = now.saturating_sub(duration_to_micros(IN_FLIGHT));
            let Some((until, in_flight)) =
                self.store.charge_attempt(&keys, times, fresh_after).await?
            else {
                return Ok(charge);
            };
            // Attempts in flight may yet clear the hold-back: wait for them, reading (a charge
            // is a write) until it is lifted, then charge again.
            let (mut until, mut in_flight) = (until, in_flight);
            loop {
                if !in_flight || waited >= IN_FLIGHT {
                    let now = self.clock.now_micros();
                    return Err(DomainError::HeldBack {
                        retry_after: micros_to_duration(until.saturating_sub(now)),
                    });
                }
                // Not a reading of the time: a pause before asking the store again.
                tokio::time::sleep(RETRY_EVERY).await;
                waited += RETRY_EVERY;
                let now = self.clock.now_micros();
                let fresh_after = now.saturating_sub(duration_to_micros(IN_FLIGHT));
                let (held, still) = self.store.hold_of(&digests, fresh_after).await?;
                match held.filter(|held| *held > now) {
                    None => break,
                    Some(held) => (until, in_flight) = (held, still),
                }
            }
        }
    }

    /// The attempt of a refresh grant: a refresh token cannot be guessed, so it is admitted
    /// uncharged, and parallel grants of one client are never taken for guesses in flight. It is
    /// refused only while its address is held back ([`Throttle::held_back`]), which the grant
    /// reads in its own statement ([`Charge::held_keys`]): no round trip of its own. A failure
    /// is charged afterwards ([`Throttle::failed`]), so unknown values still count against the
    /// address.
    pub fn unguessable(&self, address: &str) -> Charge {
        let (keys, _) = self.keys(None, address);
        Charge {
            account: Vec::new(),
            address: None,
            after_failure: keys,
        }
    }

    /// Refuses an attempt whose keys are held back past now (`held_until`: the latest end of
    /// their hold-backs, as read with the attempt).
    pub fn held_back(&self, held_until: Option<i64>) -> DomainResult<()> {
        let now = self.clock.now_micros();
        match held_until.filter(|until| *until > now) {
            Some(until) => Err(DomainError::HeldBack {
                retry_after: micros_to_duration(until.saturating_sub(now)),
            }),
            None => Ok(()),
        }
    }

    /// The attempt was checked and failed: its charges stay, no longer pending (an attempt
    /// admitted uncharged is charged now).
    pub async fn failed(&self, charge: Charge) {
        let store = self.store.clone();
        let Charge {
            account,
            address,
            after_failure: counted,
        } = charge;
        if !counted.is_empty() {
            let now = self.clock.now_micros();
            let times = AttemptTimes {
                now,
                base_delay: cap(self.policy.base_delay),
                forget_before: now.saturating_sub(duration_to_micros(self.policy.forget_after)),
            };
            settle("count a failure", async move {
                let keys: Vec<String> = counted.iter().map(|k| k.key.clone()).collect();
                // Already held back (by a parallel failure): nothing more to count.
                if store.charge_attempt(&counted, times, now).await?.is_none() {
                    store.settle_attempt(&keys).await?;
                }
                Ok(())
            })
            .await;
            return;
        }
        let mut keys = account;
        keys.extend(address);
        settle("settle a failure", async move {
            store.settle_attempt(&keys).await
        })
        .await;
    }

    /// The attempt succeeded: the account's counts are cleared; the address keeps its earlier
    /// failures and loses only this attempt's charge.
    pub async fn success(&self, charge: Charge) {
        let store = self.store.clone();
        let account = charge.account;
        let address: Vec<String> = charge.address.into_iter().collect();
        if account.is_empty() && address.is_empty() {
            // A refresh grant charges nothing: no task to run.
            return;
        }
        settle("clear after a success", async move {
            store.clear_failures(&account).await?;
            store.refund_attempt(&address).await
        })
        .await;
    }

    /// The attempt was not a guess (it failed for another reason): every charge is taken back.
    pub async fn not_a_guess(&self, charge: Charge) {
        let store = self.store.clone();
        let mut keys = charge.account;
        keys.extend(charge.address);
        if keys.is_empty() {
            return;
        }
        settle("take back a charge", async move {
            store.refund_attempt(&keys).await
        })
        .await;
    }

    /// Deletes the counts that are forgotten and hold nothing back; returns how many.
    pub async fn purge(&self) -> DomainResult<u64> {
        let now = self.clock.now_micros();
        let forget_before = now.saturating_sub(duration_to_micros(self.policy.forget_after));
        Ok(self.store.purge_failures(now, forget_before).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::ManualClock;
    use std::sync::Arc;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            login_failures: 3,
            address_failures: 5,
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(40),
            account_max_delay: Duration::from_secs(40),
            forget_after: Duration::from_secs(600),
        }
    }

    /// A throttle over a real SQLite store in a fresh directory.
    async fn throttle(policy: ThrottlePolicy) -> (Throttle, Arc<ManualClock>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::connect(&url).await.expect("store");
        let clock = ManualClock::starting_now();
        (Throttle::new(policy, store, clock.clone()), clock, dir)
    }

    fn user(name: &str) -> Account {
        Account::User(name.to_string())
    }

    async fn fail(t: &Throttle, account: &Account, address: &str) -> Result<(), Duration> {
        match t.charge(Some(account), address).await {
            Ok(charge) => {
                t.failed(charge).await;
                Ok(())
            }
            Err(DomainError::HeldBack { retry_after }) => Err(retry_after),
            Err(error) => panic!("store: {error}"),
        }
    }

    #[tokio::test]
    async fn an_account_is_held_back_after_its_threshold_with_growing_capped_delays() {
        let (t, clock, _dir) = throttle(policy()).await;
        let alice = user("alice");
        for _ in 0..3 {
            assert!(fail(&t, &alice, "10.0.0.1").await.is_ok());
        }
        let first = fail(&t, &alice, "10.0.0.2").await.expect_err("held back");
        assert!(first <= Duration::from_secs(10) && first > Duration::from_secs(9));
        clock.advance(Duration::from_secs(11));
        assert!(fail(&t, &alice, "10.0.0.1").await.is_ok());
        let second = fail(&t, &alice, "10.0.0.1").await.expect_err("held back");
        assert!(second > Duration::from_secs(19) && second <= Duration::from_secs(20));
        for _ in 0..4 {
            clock.advance(Duration::from_secs(41));
            assert!(fail(&t, &alice, "10.0.0.1").await.is_ok());
        }
        let capped = fail(&t, &alice, "10.0.0.1").await.expect_err("held back");
        assert!(capped <= Duration::from_secs(40) && capped > Duration::from_secs(39));
        assert!(
            fail(&t, &user("bob"), "10.0.0.8").await.is_ok(),
            "others are free"
        );
    }

    #[tokio::test]
    async fn other_addresses_meet_the_account_cap_only() {
        let (t, clock, _dir) = throttle(ThrottlePolicy {
            address_failures: 0,
            account_max_delay: Duration::from_secs(10),
            ..policy()
        })
        .await;
        let admin = user("admin");
        for _ in 0..4 {
            let _ = fail(&t, &admin, "203.0.113.9").await;
            clock.advance(Duration::from_secs(41));
        }
        assert!(fail(&t, &admin, "203.0.113.9").await.is_ok());
        let attacker = fail(&t, &admin, "203.0.113.9").await.expect_err("held");
        assert!(attacker > Duration::from_secs(39));
        let owner = fail(&t, &admin, "198.51.100.1").await.expect_err("held");
        assert!(owner <= Duration::from_secs(10));
        clock.advance(Duration::from_secs(11));
        assert!(fail(&t, &admin, "198.51.100.1").await.is_ok());
    }

    #[tokio::test]
    async fn a_success_clears_the_account_never_the_address() {
        let (t, _clock, _dir) = throttle(policy()).await;
        for n in 0..4 {
            assert!(fail(&t, &user(&format!("user{n}")), "10.9.9.9")
                .await
                .is_ok());
        }
        let own = t.charge(Some(&user("me")), "10.9.9.9").await.expect("free");
        t.success(own).await;
        assert!(fail(&t, &user("user7"), "10.9.9.9").await.is_ok());
        assert!(fail(&t, &user("someone"), "10.9.9.9").await.is_err());
        assert!(fail(&t, &user("someone"), "10.1.1.1").await.is_ok());
    }

    #[tokio::test]
    async fn a_zero_threshold_disables_that_limit() {
        let (t, _clock, _dir) = throttle(ThrottlePolicy {
            login_failures: 0,
            address_failures: 0,
            ..policy()
        })
        .await;
        for _ in 0..20 {
            assert!(fail(&t, &user("x"), "1.1.1.1").await.is_ok());
        }
    }

    #[tokio::test]
    async fn the_purge_keeps_active_hold_backs() {
        let (t, clock, _dir) = throttle(ThrottlePolicy {
            login_failures: 1,
            address_failures: 0,
            base_delay: Duration::from_secs(40),
            forget_after: Duration::from_secs(1),
            ..policy()
        })
        .await;
        for n in 0..50 {
            let _ = fail(&t, &Account::login(&format!("junk{n}")), "10.0.0.2").await;
        }
        clock.advance(Duration::from_secs(30));
        assert!(fail(&t, &user("victim"), "10.0.0.1").await.is_ok());
        clock.advance(Duration::from_secs(12));
        // The junk is forgotten and holds nothing back any more; the victim's hold runs on.
        assert_eq!(t.purge().await.expect("purge"), 100);
        assert!(fail(&t, &user("victim"), "10.0.0.3").await.is_err());
        clock.advance(Duration::from_secs(30));
        assert_eq!(t.purge().await.expect("purge"), 2);
    }
}
