//! [`RefreshingCredential`]: a valid access token at every moment, from a refresh token alone.
//!
//! One background task owns the refresh token and is the only one that calls Tessera: it renews
//! the access token ahead of its expiry, backs off (exponentially, with jitter) while Tessera fails,
//! and follows rotation. Callers read the current token from a `watch` channel, so any number of
//! them cause at most one grant at a time.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::client::{GrantOptions, LoginOptions};
use crate::{Client, Error, Token};

/// How a [`RefreshingCredential`] renews.
#[derive(Clone, Debug)]
pub struct CredentialSettings {
    /// Lifetime in seconds asked for each access token (the server's default when `None`).
    pub expiration: Option<u64>,
    /// Renew this long before the access token expires (default 60 s); at most half its lifetime,
    /// so that short-lived tokens are renewed halfway.
    pub renew_before: Duration,
    /// Access tokens limited to these ACL entries: the refresh token's scope at [`RefreshingCredential::login`],
    /// and the narrowing asked at each grant.
    pub scope: Option<Vec<String>>,
    /// First delay after a failed renewal (default 500 ms); doubled at each failure in a row.
    pub min_backoff: Duration,
    /// Longest delay between two attempts (default 30 s).
    pub max_backoff: Duration,
}

impl Default for CredentialSettings {
    fn default() -> Self {
        CredentialSettings {
            expiration: None,
            renew_before: Duration::from_secs(60),
            scope: None,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// A long-lived application's session: hands out a valid access token and keeps it renewed.
/// Cheap to clone; the background task stops when the last clone is dropped. The password given to
/// [`RefreshingCredential::login`] is used once and never kept.
#[derive(Clone)]
pub struct RefreshingCredential {
    state: watch::Receiver<State>,
    refresh_token: watch::Receiver<String>,
    wake: Arc<Notify>,
    _task: Arc<AbortOnDrop>,
}

#[derive(Clone)]
enum State {
    /// The first grant is under way.
    Pending,
    Ready(Current),
    /// The last renewal failed for a reason that may pass; the task tries again after a back-off.
    Retrying {
        last: Option<Current>,
        error: Error,
    },
    /// The refresh token was refused (revoked, deleted, user disabled): the task has stopped.
    Failed(Error),
}

#[derive(Clone)]
struct Current {
    token: Arc<Token>,
    /// Handed out until then (a little before the server's expiry, measured from when the request
    /// was sent, so that no clock difference matters).
    valid_until: Instant,
    renew_at: Instant,
}

impl Current {
    fn new(token: Token, sent: Instant, settings: &CredentialSettings) -> Current {
        let lifetime = token.lifetime();
        let margin = settings.renew_before.min(lifetime / 2);
        let safety = (lifetime / 10).min(Duration::from_secs(1));
        Current {
            valid_until: sent + lifetime - safety,
            // Never sooner than the back-off: a token answered already expired cannot spin the task.
            renew_at: (sent + lifetime - margin).max(sent + settings.min_backoff),
            token: Arc::new(token),
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RefreshingCredential {
    /// Starts from a stored refresh token: the first grant starts at once in the background.
    /// Must be called inside a Tokio runtime.
    pub fn from_refresh_token(
        client: Client,
        refresh_token: impl Into<String>,
        client_id: impl Into<String>,
        settings: CredentialSettings,
    ) -> Result<RefreshingCredential, Error> {
        Self::start(
            client,
            refresh_token.into(),
            client_id.into(),
            settings,
            None,
        )
    }

    /// An offline password login that yields the refresh token, then as
    /// [`RefreshingCredential::from_refresh_token`]; the first access token is the login's own.
    pub async fn login(
        client: Client,
        username: &str,
        password: &str,
        client_id: impl Into<String>,
        settings: CredentialSettings,
    ) -> Result<RefreshingCredential, Error> {
        let client_id = client_id.into();
        let options = LoginOptions {
            expiration: settings.expiration,
            client_id: Some(client_id.clone()),
            scope: settings.scope.clone(),
            mobile: false,
        };
        let sent = Instant::now();
        let mut token = client.login_with(username, password, &options).await?;
        let refresh_token = token.refresh_token.take().ok_or_else(|| {
            Error::InvalidResponse("an offline login answered no refresh_token".into())
        })?;
        let current = Current::new(token, sent, &settings);
        Self::start(client, refresh_token, client_id, settings, Some(current))
    }

    fn start(
        client: Client,
        refresh_token: String,
        client_id: String,
        settings: CredentialSettings,
        current: Option<Current>,
    ) -> Result<RefreshingCredential, Error> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Config("a RefreshingCredential needs a Tokio runtime".into()))?;
        let initial = match &current {
            Some(current) => State::Ready(current.clone()),
            None => State::Pending,
        };
        let (state_tx, state) = watch::channel(initial);
        let (refresh_tx, refresh_rx) = watch::channel(refresh_token);
        let wake = Arc::new(Notify::new());
        let renewer = Renewer {
            client,
            client_id,
            settings,
            state: state_tx,
            refresh_token: refresh_tx,
            wake: wake.clone(),
        };
        let task = runtime.spawn(renewer.run(current));
        Ok(RefreshingCredential {
            state,
            refresh_token: refresh_rx,
            wake,
            _task: Arc::new(AbortOnDrop(task)),
        })
    }

    /// A valid access token: at once when the current one is valid; after the renewal under way
    /// otherwise. While Tessera fails and the token has expired, the last failure
    /// ([`Error::is_transient`] tells whether it may pass); once the refresh token is refused,
    /// that refusal for good.
    pub async fn access_token(&self) -> Result<String, Error> {
        self.token().await.map(|token| token.token.clone())
    }

    /// The same, with the whole token description (ACL, expiry, metadata).
    pub async fn token(&self) -> Result<Arc<Token>, Error> {
        let mut state = self.state.clone();
        loop {
            let expired = {
                let now = Instant::now();
                match &*state.borrow_and_update() {
                    State::Ready(current)
                    | State::Retrying {
                        last: Some(current),
                        ..
                    } if current.valid_until > now => return Ok(current.token.clone()),
                    State::Retrying { error, .. } | State::Failed(error) => {
                        return Err(error.clone())
                    }
                    State::Ready(_) => true,
                    State::Pending => false,
                }
            };
            if expired {
                // Normally renewed long before; a suspended process or a stalled timer lands here.
                self.wake.notify_one();
            }
            if state.changed().await.is_err() {
                // The task has stopped: its last state says why.
                if let State::Failed(error) = &*state.borrow() {
                    return Err(error.clone());
                }
                return Err(Error::Config(
                    "the credential's renewal task stopped".into(),
                ));
            }
        }
    }

    /// The refresh token in use now. With rotation on the server, it changes at each renewal:
    /// persist it (see [`RefreshingCredential::refresh_token_updates`]) to restart from it.
    pub fn refresh_token(&self) -> String {
        self.refresh_token.borrow().clone()
    }

    /// A receiver that wakes at each new refresh-token value (`changed().await`, then `borrow()`).
    pub fn refresh_token_updates(&self) -> watch::Receiver<String> {
        let mut updates = self.refresh_token.clone();
        updates.mark_unchanged();
        updates
    }
}

/// Never prints the tokens.
impl fmt::Debug for RefreshingCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.state.borrow() {
            State::Pending => "pending",
            State::Ready(_) => "ready",
            State::Retrying { .. } => "retrying",
            State::Failed(_) => "failed",
        };
        f.debug_struct("RefreshingCredential")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

/// The background task's side.
struct Renewer {
    client: Client,
    client_id: String,
    settings: CredentialSettings,
    state: watch::Sender<State>,
    refresh_token: watch::Sender<String>,
    wake: Arc<Notify>,
}

impl Renewer {
    async fn run(self, mut current: Option<Current>) {
        let grant = GrantOptions {
            expiration: self.settings.expiration,
            scope: self.settings.scope.clone(),
        };
        let mut backoff = self.settings.min_backoff;
        loop {
            if let Some(current) = &current {
                tokio::select! {
                    _ = tokio::time::sleep_until(current.renew_at) => {}
                    _ = self.wake.notified() => {
                        if Instant::now() < current.valid_until {
                            continue;
                        }
                    }
                }
            }
            let sent = Instant::now();
            let refresh_token = self.refresh_token.borrow().clone();
            match self
                .client
                .refresh_with(&refresh_token, &self.client_id, &grant)
                .await
            {
                Ok(mut token) => {
                    // Rotation (the server answers a successor): the old value is spent.
                    if let Some(next) = token.refresh_token.take() {
                        self.refresh_token.send_if_modified(|value| {
                            let changed = *value != next;
                            *value = next;
                            changed
                        });
                    }
                    let next = Current::new(token, sent, &self.settings);
                    current = Some(next.clone());
                    self.state.send_replace(State::Ready(next));
                    backoff = self.settings.min_backoff;
                }
                Err(error) if !error.is_transient() => {
                    tracing::warn!(%error, client_id = %self.client_id, "refresh token refused: renewal stopped");
                    self.state.send_replace(State::Failed(error));
                    return;
                }
                Err(error) => {
                    let delay = jittered(backoff)
                        .max(error.retry_after().unwrap_or_default())
                        .min(self.settings.max_backoff.max(self.settings.min_backoff));
                    tracing::warn!(%error, retry_in = ?delay, "token renewal failed");
                    self.state.send_replace(State::Retrying {
                        last: current.clone(),
                        error,
                    });
                    // Callers do not cut the back-off short: they get the error meanwhile.
                    tokio::time::sleep(delay).await;
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                }
            }
        }
    }
}

/// Between half of `backoff` and all of it, so that many clients do not retry in step.
fn jittered(backoff: Duration) -> Duration {
    let random = RandomState::new().hash_one(Instant::now());
    let half = backoff / 2;
    let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(random % nanos.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_the_backoff() {
        for _ in 0..100 {
            let delay = jittered(Duration::from_millis(800));
            assert!(delay >= Duration::from_millis(400) && delay < Duration::from_millis(800));
        }
        assert_eq!(jittered(Duration::ZERO), Duration::ZERO);
    }
}
