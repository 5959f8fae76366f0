//! Brute-force protection. Every password attempt is charged, before any hashing, to three counts:
//!
//! - the **account**: the user the login resolves to (so its username and its e-mail addresses
//!   share one count), or, for an unknown login, the typed login, folded;
//! - the **account from this address**;
//! - the **address** (alone, for grants without a login such as refresh tokens).
//!
//! A count holds back only after settled failures: from its threshold on, each further failure
//! holds it back, first for the base delay, then twice the previous delay, up to a cap. The
//! account from one address and the address are capped by `max_delay`; the account alone (what
//! every other address meets) by `account_max_delay`, so that one attacking address cannot keep
//! the account's owner out for long. An attempt held back is not charged, and neither an attempt
//! in flight nor a success ever arms or re-arms a hold-back: a crowd logging in correctly from one
//! address is never held back.
//!
//! Charging before hashing bounds parallel guesses: a count admits at once only as many attempts
//! as it may still fail before its threshold (one at a time past it). An attempt beyond that waits
//! briefly for those in flight, asking again, and goes ahead when they end, or as soon as one of
//! them trusted its user at the address (below).
//!
//! A user who logged in successfully from an address is **trusted** there for
//! `trusted_for`: their attempts from it are checked against the account-from-this-address count
//! only, so that failures from other addresses (the account's count) or of other users (the
//! address's count) do not hold them back. Their failures still count against all three.
//!
//! A success clears the account's counts and ends its own charges (never the address's earlier
//! failures). An attempt that was not a guess (a store or hashing failure) ends its charges.
//!
//! Counts live in the store, so that every instance sharing a database meets the same limits.
//! Time is the domain clock's; counts are forgotten after a quiet period, and the purge deletes
//! only counts both forgotten and no longer holding anything back.

use std::time::Duration;

use super::clock::{duration_to_micros, micros_to_duration, SharedClock};
use super::error::{DomainError, DomainResult};
use super::secrets;
use crate::store::{Admission, AttemptTimes, CountedKey, Store};

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
    /// How long a user stays trusted at an address after logging in there (zero: never).
    pub trusted_for: Duration,
}

/// Whose attempts a password attempt is counted with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Account {
    /// A known user, by uuid.
    User(String),
    /// A login no user answers to, folded.
    Login(String),
    /// An OAuth2 client authenticating with its secret, by the client_id it sent.
    Client(String),
}

impl Account {
    pub fn login(login: &str) -> Account {
        Account::Login(crate::store::fold(login))
    }

    fn id(&self) -> String {
        match self {
            Account::User(uuid) => format!("user\u{0}{uuid}"),
            Account::Login(login) => format!("login\u{0}{login}"),
            Account::Client(client_id) => format!("client\u{0}{client_id}"),
        }
    }
}

/// The counts one admitted attempt is charged to, and what its outcome does to them.
#[derive(Debug, Default)]
pub struct Charge {
    /// Charged before the check: in flight until the outcome.
    charged: Vec<String>,
    /// A failure counts against these (the charged ones and, for a trusted or uncharged
    /// attempt, the counts it was not checked against).
    on_failure: Vec<CountedKey>,
    /// A success clears these (the account's counts).
    on_success: Vec<String>,
    /// A success trusts the user at the address: this key (when the trust is missing or past
    /// half its time, so that most logins write no trust).
    trust: Option<String>,
}

/// How an attempt ended, for its counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The credentials were right.
    Success,
    /// The credentials were wrong: a guess.
    Failed,
    /// It failed for another reason (a store or hashing failure, a limit): no guess.
    NotAGuess,
}

/// An attempt the throttle admitted, settled once with its [`Outcome`] ([`Attempt::settle`]).
/// One dropped unsettled (its task cancelled) still ends its charges, as an attempt that was
/// not a guess, so that a count never keeps attempts in flight that nobody will settle.
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    charge: Option<Charge>,
}

impl Attempt<'_> {
    /// Settles the attempt's counts with its outcome.
    pub async fn settle(mut self, outcome: Outcome) {
        let Some(charge) = self.charge.take() else {
            return;
        };
        match outcome {
            Outcome::Success => self.throttle.success(charge).await,
            Outcome::Failed => self.throttle.failed(charge).await,
            Outcome::NotAGuess => self.throttle.not_a_guess(charge).await,
        }
    }

    /// Refuses an uncharged attempt ([`Throttle::unguessable`]) whose counts are held back now.
    pub async fn refuse_if_held(&self) -> DomainResult<()> {
        match &self.charge {
            Some(charge) => self.throttle.refuse_if_held(charge).await,
            None => Ok(()),
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let Some(charge) = self.charge.take() else {
            return;
        };
        if charge.charged.is_empty() {
            return;
        }
        // No await in a drop: the charges end on a task of their own.
        let store = self.throttle.store.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = store.release_attempt(&charge.charged, &[], None).await {
                    tracing::warn!(%error, "brute-force counts: could not take back a charge");
                }
            });
        }
    }
}

fn key_of(text: &str) -> String {
    hex::encode(secrets::digest(text))
}

/// How old a pending charge may be before it is taken for stale (an instance stopped
/// mid-check). One hash takes tens of milliseconds, but a saturated hasher queues up to 32 per
/// core.
const IN_FLIGHT: Duration = Duration::from_secs(5);
/// How long an attempt waits for attempts in flight before it is held back: a crowd of
/// correct logins behind one address, one at a time past its failures, takes its turn.
const WAIT_FOR_IN_FLIGHT: Duration = Duration::from_secs(15);
/// How often a waiting attempt asks again.
const RETRY_EVERY: Duration = Duration::from_millis(50);

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

/// The three counts of one attempt (each absent when its limit is off).
struct Keys {
    account: Option<CountedKey>,
    account_address: Option<CountedKey>,
    address: Option<CountedKey>,
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

    fn times(&self) -> AttemptTimes {
        let now = self.clock.now_micros();
        AttemptTimes {
            now,
            base_delay: cap(self.policy.base_delay),
            forget_before: now.saturating_sub(duration_to_micros(self.policy.forget_after)),
            stale_before: now.saturating_sub(duration_to_micros(IN_FLIGHT)),
        }
    }

    /// The counts of an attempt for `account` (none for grants without a login) from `address`.
    fn keys(&self, account: Option<&Account>, address: &str) -> Keys {
        let policy = &self.policy;
        let counted = |text: String, threshold: u32, max_delay: Duration| CountedKey {
            key: key_of(&text),
            threshold: i64::from(threshold),
            max_delay: cap(max_delay),
        };
        let account = account
            .filter(|_| policy.login_failures > 0)
            .map(Account::id);
        Keys {
            account: account.as_ref().map(|id| {
                counted(
                    format!("account\u{0}{id}"),
                    policy.login_failures,
                    policy.account_max_delay.min(policy.max_delay),
                )
            }),
            account_address: account.as_ref().map(|id| {
                counted(
                    format!("account-address\u{0}{id}\u{0}{address}"),
                    policy.login_failures,
                    policy.max_delay,
                )
            }),
            address: (policy.address_failures > 0).then(|| {
                counted(
                    format!("address\u{0}{address}"),
                    policy.address_failures,
                    policy.max_delay,
                )
            }),
        }
    }

    /// The key that says `account` logged in successfully from `address` (known users only).
    fn trust_key(&self, account: Option<&Account>, address: &str) -> Option<String> {
        match account {
            Some(Account::User(uuid)) if !self.policy.trusted_for.is_zero() => {
                Some(key_of(&format!("trusted\u{0}{uuid}\u{0}{address}")))
            }
            _ => None,
        }
    }

    /// Charges an attempt before it is checked; `HeldBack` (nothing charged) while a count it
    /// is checked against is held back, or still busy with attempts in flight after a wait.
    pub async fn charge(&self, account: Option<&Account>, address: &str) -> DomainResult<Charge> {
        let keys = self.keys(account, address);
        let trust = self.trust_key(account, address);
        let all: Vec<CountedKey> = [&keys.account, &keys.account_address, &keys.address]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let mut waited = Duration::ZERO;
        loop {
            let now = self.clock.now_micros();
            let trusted_until = match &trust {
                Some(key) => self.store.trusted_until(key, now).await?,
                None => None,
            };
            let checked: Vec<CountedKey> = if trusted_until.is_some() {
                keys.account_address.iter().cloned().collect()
            } else {
                all.clone()
            };
            if !self.admit(&checked, waited).await? {
                // Busy with attempts in flight. Trust is read again: one of them may be this
                // user's success at this address, which lets the rest of a crowd go ahead.
                tokio::time::sleep(RETRY_EVERY).await;
                waited += RETRY_EVERY;
                continue;
            }
            let renew_after = now.saturating_add(duration_to_micros(self.policy.trusted_for) / 2);
            return Ok(Charge {
                charged: checked.into_iter().map(|k| k.key).collect(),
                on_failure: all,
                on_success: [keys.account, keys.account_address]
                    .into_iter()
                    .flatten()
                    .map(|k| k.key)
                    .collect(),
                trust: trust.filter(|_| trusted_until.is_none_or(|until| until < renew_after)),
            });
        }
    }

    /// Charges an attempt, as [`Throttle::charge`], as a guard to settle with its outcome.
    pub async fn attempt(
        &self,
        account: Option<&Account>,
        address: &str,
    ) -> DomainResult<Attempt<'_>> {
        let charge = self.charge(account, address).await?;
        Ok(Attempt {
            throttle: self,
            charge: Some(charge),
        })
    }

    /// Charges `checked` (after `waited` in line): `false` while they are busy with attempts in
    /// flight; `HeldBack` when a count holds the attempt back, or is still busy after
    /// [`WAIT_FOR_IN_FLIGHT`].
    async fn admit(&self, checked: &[CountedKey], waited: Duration) -> DomainResult<bool> {
        let admission = if waited.is_zero() {
            self.store.charge_attempt(checked, self.times()).await?
        } else {
            // A read first: the charge is tried again only once there is room.
            match self.store.admission(checked, self.times()).await? {
                Admission::Admitted => self.store.charge_attempt(checked, self.times()).await?,
                other => other,
            }
        };
        match admission {
            Admission::Admitted => Ok(true),
            Admission::HeldUntil(until) => {
                let now = self.clock.now_micros();
                Err(DomainError::HeldBack {
                    retry_after: micros_to_duration(until.saturating_sub(now)),
                })
            }
            Admission::Busy if waited >= WAIT_FOR_IN_FLIGHT => Err(DomainError::HeldBack {
                retry_after: Duration::from_secs(1),
            }),
            Admission::Busy => Ok(false),
        }
    }

    /// The attempt of a refresh grant: a refresh token cannot be guessed, so it is admitted
    /// uncharged, and parallel grants of one client are never taken for guesses in flight. It is
    /// refused only once it failed, while its address is held back
    /// ([`Attempt::refuse_if_held`]): a grant that succeeds reads nothing of the throttle. A
    /// failure is counted afterwards ([`Outcome::Failed`]), so unknown values still count
    /// against the address.
    pub fn unguessable(&self, address: &str) -> Attempt<'_> {
        let charge = Charge {
            on_failure: self.keys(None, address).address.into_iter().collect(),
            ..Charge::default()
        };
        Attempt {
            throttle: self,
            charge: Some(charge),
        }
    }

    /// The attempt of an OAuth2 client's authentication: a client secret (256 random bits) cannot
    /// be guessed either, so it is admitted uncharged like [`Throttle::unguessable`], and a
    /// failure counts against the client, the client from this address, and the address.
    pub fn unguessable_for(&self, account: &Account, address: &str) -> Attempt<'_> {
        let keys = self.keys(Some(account), address);
        let charge = Charge {
            on_failure: [keys.account, keys.account_address, keys.address]
                .into_iter()
                .flatten()
                .collect(),
            ..Charge::default()
        };
        Attempt {
            throttle: self,
            charge: Some(charge),
        }
    }

    /// Refuses an uncharged attempt ([`Throttle::unguessable`]) whose counts are held back now.
    async fn refuse_if_held(&self, charge: &Charge) -> DomainResult<()> {
        // The counts its failure would count against.
        let keys: Vec<String> = charge.on_failure.iter().map(|k| k.key.clone()).collect();
        if keys.is_empty() {
            return Ok(());
        }
        let until = self.store.held_until(&keys).await?;
        self.held_back(until)
    }

    /// Refuses an attempt whose keys are held back past now (`held_until`: the latest end of
    /// their hold-backs, as read with the attempt).
    fn held_back(&self, held_until: Option<i64>) -> DomainResult<()> {
        let now = self.clock.now_micros();
        match held_until.filter(|until| *until > now) {
            Some(until) => Err(DomainError::HeldBack {
                retry_after: micros_to_duration(until.saturating_sub(now)),
            }),
            None => Ok(()),
        }
    }

    /// The attempt was checked and failed: one failure counts against each of its counts.
    pub async fn failed(&self, charge: Charge) {
        if charge.on_failure.is_empty() && charge.charged.is_empty() {
            return;
        }
        let store = self.store.clone();
        let times = self.times();
        settle("count a failure", async move {
            store
                .record_failure(&charge.charged, &charge.on_failure, times)
                .await
        })
        .await;
    }

    /// The attempt succeeded: the account's counts are cleared, its charges end (the address
    /// keeps its earlier failures), and the user is trusted at the address.
    pub async fn success(&self, charge: Charge) {
        if charge.charged.is_empty() && charge.on_success.is_empty() {
            // A refresh grant charges nothing: no task to run.
            return;
        }
        let store = self.store.clone();
        let trusted_until = self
            .clock
            .now_micros()
            .saturating_add(duration_to_micros(self.policy.trusted_for));
        settle("clear after a success", async move {
            let trust = charge.trust.as_deref().map(|key| (key, trusted_until));
            store
                .release_attempt(&charge.charged, &charge.on_success, trust)
                .await
        })
        .await;
    }

    /// The attempt was not a guess (it failed for another reason): its charges end.
    pub async fn not_a_guess(&self, charge: Charge) {
        if charge.charged.is_empty() {
            return;
        }
        let store = self.store.clone();
        settle("take back a charge", async move {
            store.release_attempt(&charge.charged, &[], None).await
        })
        .await;
    }

    /// Deletes the counts that are forgotten and hold nothing back, and the trusts that ended;
    /// returns how many.
    pub async fn purge(&self) -> DomainResult<u64> {
        let times = self.times();
        Ok(self
            .store
            .purge_failures(times.now, times.forget_before)
            .await?)
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
            trusted_for: Duration::ZERO,
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

    async fn succeed(t: &Throttle, account: &Account, address: &str) -> Result<(), Duration> {
        match t.charge(Some(account), address).await {
            Ok(charge) => {
                t.success(charge).await;
                Ok(())
            }
            Err(DomainError::HeldBack { retry_after }) => Err(retry_after),
            Err(error) => panic!("store: {error}"),
        }
    }

    #[tokio::test]
    async fn a_success_never_re_arms_a_hold_back() {
        let (t, clock, _dir) = throttle(policy()).await;
        for n in 0..5 {
            assert!(fail(&t, &user(&format!("user{n}")), "10.9.9.9")
                .await
                .is_ok());
        }
        assert!(succeed(&t, &user("me"), "10.9.9.9").await.is_err(), "held");
        clock.advance(Duration::from_secs(11));
        for _ in 0..10 {
            assert!(succeed(&t, &user("me"), "10.9.9.9").await.is_ok());
        }
        // The correct logins set no new hold-back; the next failure doubles the old one.
        assert!(fail(&t, &user("user9"), "10.9.9.9").await.is_ok());
        let held = fail(&t, &user("user9"), "10.9.9.9")
            .await
            .expect_err("held");
        assert!(held > Duration::from_secs(19) && held <= Duration::from_secs(20));
    }

    #[tokio::test]
    async fn an_attempt_dropped_unsettled_ends_its_charges() {
        let (t, _clock, _dir) = throttle(policy()).await;
        let me = user("me");
        // As many in flight as the account may still fail, dropped as a cancelled task drops
        // them: none is settled.
        for _ in 0..3 {
            drop(t.attempt(Some(&me), "10.0.0.1").await.expect("admitted"));
        }
        // Their charges end on tasks of their own; a fourth then goes ahead at once instead of
        // waiting for attempts nobody will settle.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let fourth = tokio::time::timeout(Duration::from_secs(3), t.attempt(Some(&me), "10.0.0.1"))
            .await
            .expect("admitted at once, not after the wait for attempts in flight");
        fourth.expect("admitted").settle(Outcome::Success).await;
    }

    #[tokio::test]
    async fn attempts_in_flight_never_hold_back_but_bound_parallel_guesses() {
        let (t, _clock, _dir) = throttle(policy()).await;
        let me = user("me");
        // Three in flight: as many as the account may still fail.
        let mut charges = Vec::new();
        for _ in 0..3 {
            charges.push(t.charge(Some(&me), "10.0.0.1").await.expect("admitted"));
        }
        // A fourth waits for them; they succeed, so it goes ahead.
        let (fourth, ()) = tokio::join!(t.charge(Some(&me), "10.0.0.1"), async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            for charge in charges.drain(..) {
                t.success(charge).await;
            }
        });
        t.success(fourth.expect("admitted after the others succeeded"))
            .await;
        // Had they failed, the fourth would be held back.
        for _ in 0..3 {
            charges.push(t.charge(Some(&me), "10.0.0.1").await.expect("admitted"));
        }
        let (fourth, ()) = tokio::join!(t.charge(Some(&me), "10.0.0.1"), async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            for charge in charges.drain(..) {
                t.failed(charge).await;
            }
        });
        assert!(matches!(fourth, Err(DomainError::HeldBack { .. })));
    }

    #[tokio::test]
    async fn a_user_is_not_held_back_by_others_where_they_logged_in_before() {
        let (t, _clock, _dir) = throttle(ThrottlePolicy {
            trusted_for: Duration::from_secs(3600),
            ..policy()
        })
        .await;
        let me = user("me");
        assert!(succeed(&t, &me, "10.0.0.1").await.is_ok());
        // Others fail as `me` from elsewhere, and as other users from my address.
        for _ in 0..6 {
            let _ = fail(&t, &me, "203.0.113.9").await;
        }
        for n in 0..6 {
            let _ = fail(&t, &user(&format!("other{n}")), "10.0.0.1").await;
        }
        assert!(fail(&t, &me, "198.51.100.7").await.is_err(), "account held");
        assert!(
            fail(&t, &user("new"), "10.0.0.1").await.is_err(),
            "address held"
        );
        assert!(succeed(&t, &me, "10.0.0.1").await.is_ok(), "trusted here");
        // Guessing my password from my own address stays bounded.
        for _ in 0..3 {
            assert!(fail(&t, &me, "10.0.0.1").await.is_ok());
        }
        assert!(fail(&t, &me, "10.0.0.1").await.is_err());
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
