//! The browser's side of sign-in (SPEC §11.3): its cookie, the CSRF token bound to it, its
//! session, and the login page's password check, by the same rules as `POST /token`'s (one
//! throttle, shared counts, the same answer for an unknown user and a wrong password).
//!
//! Every browser gets a cookie of 256 random bits on its first page; the CSRF token its forms
//! carry is a MAC of it, so a page of another site cannot post them. Signing in replaces the
//! cookie (no session fixation) and writes a session found by the new value's digest, which ends
//! when it expires, when it is signed out, or when its user is disabled, deleted, or given a new
//! password.

use sha2::Digest as _;
use subtle::ConstantTimeEq;

use crate::domain::context::Context;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::secrets;
use crate::domain::throttle::Outcome;
use crate::domain::untrusted::Untrusted;
use crate::store::{NewBrowserSession, SignIn};

/// The browser sessions one user keeps (the newest): sign-ins must not pile up without bound.
const MAX_BROWSER_SESSIONS: i64 = 20;

/// Whose browser it is, once signed in.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub user_uuid: String,
    /// When they signed in (microseconds).
    pub auth_time: i64,
    /// The session's digest.
    pub digest: Vec<u8>,
}

impl SignedIn {
    /// The sign-in, as an ID token tells of it.
    pub fn sign_in(&self) -> SignIn {
        SignIn {
            auth_time: self.auth_time,
            browser_session: self.digest.clone(),
        }
    }
}

/// A browser, by its cookie.
pub struct Browser {
    pub cookie: String,
    changed: bool,
    csrf: String,
}

/// What a password hash is fingerprinted as in a session: a new password ends it.
fn password_stamp(password_hash: Option<&str>) -> Vec<u8> {
    sha2::Sha256::digest(password_hash.unwrap_or_default()).to_vec()
}

/// A cookie value as Tessera makes them (43 base64url characters), else none.
fn well_formed(cookie: &str) -> bool {
    cookie.len() == 43
        && cookie
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Browser {
    /// The browser with `cookie`, or a new cookie when it has none (or not one of ours).
    pub(super) fn of(ctx: &Context, cookie: Option<&str>) -> Browser {
        match cookie.filter(|c| well_formed(c)) {
            Some(cookie) => Browser {
                cookie: cookie.to_string(),
                changed: false,
                csrf: ctx.refresh_key.csrf_for(cookie),
            },
            None => Browser::fresh(ctx),
        }
    }

    fn fresh(ctx: &Context) -> Browser {
        let cookie = secrets::new_secret_value();
        Browser {
            csrf: ctx.refresh_key.csrf_for(&cookie),
            cookie,
            changed: true,
        }
    }

    /// Whether the cookie must be set on the answer.
    pub fn changed(&self) -> bool {
        self.changed
    }

    /// The CSRF token of this browser's forms.
    pub fn csrf(&self) -> String {
        self.csrf.clone()
    }

    /// Whether a form carried this browser's CSRF token (a browser that had no cookie has none).
    pub fn csrf_matches(&self, sent: Option<&str>) -> bool {
        let sent = sent.unwrap_or_default();
        !self.changed && bool::from(sent.as_bytes().ct_eq(self.csrf.as_bytes()))
    }

    /// The browser's live session: unexpired, its user enabled, with the password it signed in
    /// with.
    pub(super) async fn session(&self, ctx: &Context, now: i64) -> DomainResult<Option<SignedIn>> {
        if self.changed {
            return Ok(None);
        }
        let digest = secrets::digest(&self.cookie);
        let Some(session) = ctx.store.find_browser_session(&digest, now).await? else {
            return Ok(None);
        };
        let user = ctx.store.get_user(&session.user_uuid).await?;
        let live = user.is_some_and(|user| {
            user.enabled
                && bool::from(
                    password_stamp(user.password_hash.as_deref()).ct_eq(&session.password_stamp),
                )
        });
        Ok(live.then_some(SignedIn {
            user_uuid: session.user_uuid,
            auth_time: session.auth_time,
            digest,
        }))
    }

    /// The login page's attempt: the same charge and check as `POST /token`'s password grant.
    /// `Err(None)`: wrong credentials; `Err(Some(seconds))`: held back.
    pub(super) async fn sign_in(
        &mut self,
        ctx: &Context,
        login: &str,
        password: &str,
        address: &str,
    ) -> DomainResult<Result<SignedIn, Option<u64>>> {
        let login = crate::domain::untrusted::nfc(login);
        let charged = match ctx.charge_password(&login, password, address).await {
            Ok(charged) => charged,
            Err(DomainError::HeldBack { retry_after }) => {
                tracing::info!(login = %Untrusted(&login), remote_addr = %Untrusted(address), "login page held back");
                return Ok(Err(Some(retry_after.as_secs().max(1))));
            }
            Err(other) => return Err(other),
        };
        let outcome = match charged.user {
            Ok(user) => ctx.authenticate(user, password).await,
            Err(refused) => Err(refused),
        };
        let user = match outcome {
            Ok(user) => user,
            Err(DomainError::AuthenticationFailed) => {
                tracing::info!(login = %Untrusted(&login), remote_addr = %Untrusted(address), "login page: login failed");
                charged.attempt.settle(Outcome::Failed).await;
                return Ok(Err(None));
            }
            Err(other) => {
                charged.attempt.settle(Outcome::NotAGuess).await;
                return Err(other);
            }
        };
        let signed_in = self.start_session(ctx, &user).await;
        let outcome = match &signed_in {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::NotAGuess,
        };
        charged.attempt.settle(outcome).await;
        tracing::info!(login = %Untrusted(&login), remote_addr = %Untrusted(address), "login page: signed in");
        signed_in.map(Ok)
    }

    /// A new cookie and its session for `user`, signed in now.
    async fn start_session(
        &mut self,
        ctx: &Context,
        user: &crate::store::User,
    ) -> DomainResult<SignedIn> {
        let now = ctx.clock.now_micros();
        let lifetime = i64::try_from(ctx.config.browser_session_lifetime).unwrap_or(i64::MAX);
        *self = Browser::fresh(ctx);
        let digest = secrets::digest(&self.cookie);
        ctx.store
            .create_browser_session(
                &NewBrowserSession {
                    digest: digest.clone(),
                    user_uuid: user.uuid.clone(),
                    auth_time: now,
                    expires_at: now.saturating_add(lifetime.saturating_mul(1_000_000)),
                    password_stamp: password_stamp(user.password_hash.as_deref()),
                },
                MAX_BROWSER_SESSIONS,
            )
            .await?;
        Ok(SignedIn {
            user_uuid: user.uuid.clone(),
            auth_time: now,
            digest,
        })
    }
}
