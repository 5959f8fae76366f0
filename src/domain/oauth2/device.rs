//! The device authorization grant (SPEC §11.8, RFC 8628): a device without a browser asks for
//! a pair of codes, shows the user code, and polls the token endpoint with the device code while
//! the user signs in on another screen (the code flow's login page and browser session), types
//! the user code, and allows or denies. Only the codes' digests are stored.
//!
//! A user code has about 34 bits: unlike the other codes it could be guessed, so every wrong one
//! counts against the address, and a held-back address is refused before any look-up (even a
//! right code then waits), so that the throttle bounds guessing.

use rand::Rng as _;

use super::authorize::{granted_values, Step};
use super::browser::{Browser, SignedIn};
use super::client_auth::ClientAuth;
use super::clients::DEVICE_CODE;
use super::code_grant::{invalid_grant, UserGrant};
use super::error::{grant_held_back, OAuthCode, OAuthError, OAuthResult};
use super::oidc::Authentication;
use super::scope;
use super::token::{TokenAnswer, TokenRequest};
use super::OAuth2;
use crate::domain::acl::Holder;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::secrets;
use crate::domain::throttle::Outcome;
use crate::domain::untrusted::Untrusted;
use crate::store::{DeviceCode, DeviceStatus, NewDeviceCode, OAuth2Client, StoreError};

/// How long a device's codes live (SPEC §11.8).
pub const DEVICE_CODE_LIFETIME_SECONDS: u64 = 600;

/// The interval a device starts with, and what each `slow_down` adds (RFC 8628 §3.5).
pub const POLL_INTERVAL_SECONDS: i64 = 5;

/// Undecided live authorizations a client may hold: a bound on the table, and on how many user
/// codes a guess could hit (RFC 8628 §5.1).
pub const MAX_PENDING_DEVICE_CODES: i64 = 1000;

/// RFC 8628 §6.1's alphabet: no vowels (no words), no look-alike letters.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// The letters of a user code; it is shown in two halves.
const USER_CODE_LETTERS: usize = 8;

/// A device authorization request, as the HTTP face read its form.
#[derive(Clone, Debug)]
pub struct DeviceRequest {
    pub client: ClientAuth,
    pub scope: Option<String>,
    pub remote_addr: String,
}

/// The answer to a device authorization request (RFC 8628 §3.2).
#[derive(Clone, Debug)]
pub struct DeviceAuthorization {
    pub device_code: String,
    /// As shown: `XXXX-XXXX`.
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    /// Seconds.
    pub expires_in: u64,
    /// Seconds.
    pub interval: i64,
}

/// What the browser sent to the device page.
#[derive(Clone, Debug, Default)]
pub struct DeviceInput {
    pub cookie: Option<String>,
    /// A form post (which needs the CSRF token); a GET only shows a page.
    pub post: bool,
    pub step: Option<Step>,
    pub user_code: Option<String>,
    pub csrf: Option<String>,
    pub remote_addr: String,
}

/// What the device page shows.
#[derive(Debug)]
pub enum DeviceAnswer {
    /// A form post without the page's CSRF token: 403.
    Forbidden,
    /// The login page (as the code flow's: `failed` 401, `retry_after` 429, `typed` the login
    /// to fill in again).
    Login {
        failed: bool,
        retry_after: Option<u64>,
        typed: Option<String>,
    },
    /// The form to type the user code in; `wrong`: the last one matched nothing pending.
    EnterCode { wrong: bool },
    /// Too many wrong codes from this address: 429 with `Retry-After`.
    HeldBack { retry_after: u64 },
    /// The consent page, always shown for a device, with its warning.
    Consent {
        client_name: String,
        scope: Vec<String>,
        /// The code as shown, carried by the form.
        user_code: String,
    },
    /// The decision is recorded: the user may go back to their device.
    Decided { allowed: bool },
    /// The code expired or was decided meanwhile.
    Gone,
}

/// The device page's answer and the browser's cookie (the value to set when it changed).
#[derive(Debug)]
pub struct DevicePage {
    pub answer: DeviceAnswer,
    pub cookie: String,
    pub set_cookie: bool,
    pub csrf: String,
    /// The user code as typed (or given in `verification_uri_complete`), to fill the forms in.
    pub user_code: Option<String>,
}

/// A new user code, as shown.
fn new_user_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let letters: String = (0..USER_CODE_LETTERS)
        .map(|_| {
            let index = rng.gen_range(0..USER_CODE_ALPHABET.len());
            char::from(USER_CODE_ALPHABET.get(index).copied().unwrap_or(b'B'))
        })
        .collect();
    shown(&letters)
}

/// The code as typed, in any case, with or without its dash (and spaces): its eight letters, if
/// it is one.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let letters: String = typed
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = letters.len() == USER_CODE_LETTERS
        && letters.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    valid.then_some(letters)
}

/// Eight letters shown in two halves.
fn shown(letters: &str) -> String {
    let (first, second) = letters.split_at(letters.len() / 2);
    format!("{first}-{second}")
}

/// The client holds [`MAX_PENDING_DEVICE_CODES`] (or was deleted since it authenticated).
fn too_many_pending() -> OAuthError {
    OAuthError {
        retry_after: Some(std::time::Duration::from_secs(60)),
        ..OAuthError::new(
            OAuthCode::TemporarilyUnavailable,
            "Too many device authorizations are pending for this client: retry later.",
        )
    }
}

fn expired_token() -> OAuthError {
    OAuthError::new(OAuthCode::ExpiredToken, "The device code has expired.")
}

impl OAuth2<'_> {
    /// POST /oauth2/device_authorization.
    pub async fn device_authorization(
        &self,
        request: OAuthResult<DeviceRequest>,
    ) -> OAuthResult<DeviceAuthorization> {
        let request = request?;
        let issuer = self.issuer()?;
        let client = self
            .authenticate_client(&request.client, &request.remote_addr)
            .await?;
        may_use_device_grant(&client)?;
        let requested = scope::parse(request.scope.as_deref())?;
        // The user is not known yet: `me` and `my_session` are judged as written.
        let holder = Holder {
            auth_id: "me",
            session_uuid: "my_session",
        };
        let granted = scope::granted(&client.scope, requested, holder)?;
        let device_code = secrets::new_secret_value();
        let user_code = self
            .write_device_code(&client, &device_code, granted_values(&granted))
            .await?;
        tracing::info!(client_id = %client.client_id, "oauth2 device authorization started");
        let verification_uri = format!("{issuer}/oauth2/device");
        Ok(DeviceAuthorization {
            verification_uri_complete: format!("{verification_uri}?user_code={user_code}"),
            verification_uri,
            device_code,
            user_code,
            expires_in: DEVICE_CODE_LIFETIME_SECONDS,
            interval: POLL_INTERVAL_SECONDS,
        })
    }

    /// Writes the device's authorization with a new user code (another one when the first is
    /// taken): the user code, as shown.
    async fn write_device_code(
        &self,
        client: &OAuth2Client,
        device_code: &str,
        scope: Vec<String>,
    ) -> OAuthResult<String> {
        let now = self.0.clock.now_micros();
        let lifetime = i64::try_from(DEVICE_CODE_LIFETIME_SECONDS).unwrap_or(i64::MAX);
        let mut row = NewDeviceCode {
            device_digest: secrets::digest(device_code),
            user_code_digest: Vec::new(),
            client_id: client.client_id.clone(),
            scope,
            expires_at: now.saturating_add(lifetime.saturating_mul(1_000_000)),
            poll_interval: POLL_INTERVAL_SECONDS,
            last_poll: now,
        };
        // A pending user code is rarely taken: a few draws always find a free one.
        for _ in 0..4 {
            let user_code = new_user_code();
            let letters = normalize_user_code(&user_code).unwrap_or_default();
            row.user_code_digest = secrets::digest(&letters);
            let written = self
                .0
                .store
                .create_device_code(&row, MAX_PENDING_DEVICE_CODES)
                .await;
            match written {
                Ok(true) => return Ok(user_code),
                Ok(false) => return Err(too_many_pending()),
                Err(StoreError::Conflict(_)) => continue,
                Err(other) => return Err(DomainError::from(other).into()),
            }
        }
        Err(OAuthError::new(
            OAuthCode::TemporarilyUnavailable,
            "No user code is free: retry later.",
        ))
    }

    /// `grant_type=urn:ietf:params:oauth:grant-type:device_code`: pending until the user
    /// decides, paced by the interval, then the user's token once.
    pub(super) async fn device_code(&self, request: &TokenRequest) -> OAuthResult<TokenAnswer> {
        let auth = request.client.clone().unwrap_or(ClientAuth::Missing);
        let client = self
            .authenticate_client(&auth, &request.remote_addr)
            .await?;
        may_use_device_grant(&client)?;
        let value = request.device_code.as_deref().filter(|c| !c.is_empty());
        let value = value.ok_or_else(|| OAuthError::invalid_request("device_code is missing."))?;
        let digest = secrets::digest(value);
        let found = self
            .0
            .store
            .find_device_code(&digest, &client.client_id)
            .await?;
        let Some(code) = found else {
            // Device codes cannot be guessed; an unknown one still counts against the address.
            let attempt = self.0.throttle.unguessable(&request.remote_addr);
            attempt.refuse_if_held().await.map_err(grant_held_back)?;
            attempt.settle(Outcome::Failed).await;
            return Err(invalid_grant(
                "The device code is unknown or not this client's.",
            ));
        };
        let now = self.0.clock.now_micros();
        match code.status {
            DeviceStatus::Redeemed => return Err(invalid_grant("The device code was used.")),
            _ if now >= code.expires_at => return Err(expired_token()),
            DeviceStatus::Denied => {
                return Err(OAuthError::new(
                    OAuthCode::AccessDenied,
                    "The user denied the request.",
                ))
            }
            DeviceStatus::Pending | DeviceStatus::Allowed => {}
        }
        self.keep_pace(&digest, &code, now).await?;
        if code.status == DeviceStatus::Pending {
            return Err(OAuthError::new(
                OAuthCode::AuthorizationPending,
                "The user has not decided yet.",
            ));
        }
        self.redeem_device_code(&client, &digest, &code, request)
            .await
    }

    /// Records the poll; `slow_down` when it came sooner than the interval after the previous
    /// one (which adds to the interval from then on), or raced another poll.
    async fn keep_pace(&self, digest: &[u8], code: &DeviceCode, now: i64) -> OAuthResult<()> {
        let due = code
            .last_poll
            .saturating_add(code.poll_interval.saturating_mul(1_000_000));
        let early = now < due;
        let interval = match early {
            true => code.poll_interval.saturating_add(POLL_INTERVAL_SECONDS),
            false => code.poll_interval,
        };
        let recorded = self
            .0
            .store
            .record_device_poll(digest, code.last_poll, now, interval)
            .await?;
        if early || !recorded {
            return Err(OAuthError::new(
                OAuthCode::SlowDown,
                format!("Poll at most every {interval} seconds."),
            ));
        }
        Ok(())
    }

    /// The allowed authorization's token, once.
    async fn redeem_device_code(
        &self,
        client: &OAuth2Client,
        digest: &[u8],
        code: &DeviceCode,
        request: &TokenRequest,
    ) -> OAuthResult<TokenAnswer> {
        let user_uuid = code.user_uuid.as_deref().unwrap_or_default();
        if !self.0.store.redeem_device_code(digest).await? {
            return Err(invalid_grant("The device code was used."));
        }
        let grant = UserGrant {
            user_uuid,
            scope: &code.scope,
            session_uuid: uuid::Uuid::new_v4().to_string(),
            chain_uuid: uuid::Uuid::new_v4().to_string(),
            grant: "device code",
            // A device's authorization request carries no nonce.
            authentication: code.signed_in.clone().map(|sign_in| Authentication {
                sign_in,
                nonce: None,
            }),
        };
        self.mint_for_user(client, grant, request).await
    }

    /// GET or POST /oauth2/device.
    pub async fn device_page(&self, input: DeviceInput) -> DomainResult<DevicePage> {
        let mut browser = Browser::of(self.0, input.cookie.as_deref());
        let answer = self.device_steps(&input, &mut browser).await?;
        Ok(DevicePage {
            answer,
            csrf: browser.csrf(),
            set_cookie: browser.changed(),
            cookie: browser.cookie,
            user_code: input.user_code,
        })
    }

    /// The browser's steps: sign in, type the code, decide.
    async fn device_steps(
        &self,
        input: &DeviceInput,
        browser: &mut Browser,
    ) -> DomainResult<DeviceAnswer> {
        if input.post && !browser.csrf_matches(input.csrf.as_deref()) {
            return Ok(DeviceAnswer::Forbidden);
        }
        if let Some(Step::Login { username, password }) = &input.step {
            let signed_in = browser
                .sign_in(self.0, username, password, &input.remote_addr)
                .await?;
            return Ok(match signed_in {
                // The code (as the link gave it, if it did) is typed or confirmed next.
                Ok(_) => DeviceAnswer::EnterCode { wrong: false },
                Err(retry_after) => DeviceAnswer::Login {
                    failed: retry_after.is_none(),
                    retry_after,
                    typed: Some(username.clone()),
                },
            });
        }
        let now = self.0.clock.now_micros();
        let Some(signed_in) = browser.session(self.0, now).await? else {
            return Ok(DeviceAnswer::Login {
                failed: false,
                retry_after: None,
                typed: None,
            });
        };
        // A GET only shows the form (filled in from the link): a code is looked up when posted.
        match (input.post, input.user_code.as_deref()) {
            (true, Some(typed)) => {
                let decision = match input.step {
                    Some(Step::Decision { allow }) => Some(allow),
                    _ => None,
                };
                self.user_code_step(typed, decision, &signed_in, &input.remote_addr)
                    .await
            }
            _ => Ok(DeviceAnswer::EnterCode { wrong: false }),
        }
    }

    /// A typed user code: the consent page for it, or the decision on it. A wrong one counts
    /// against the address; a held-back address is refused before the look-up.
    async fn user_code_step(
        &self,
        typed: &str,
        decision: Option<bool>,
        signed_in: &SignedIn,
        address: &str,
    ) -> DomainResult<DeviceAnswer> {
        let attempt = self.0.throttle.unguessable(address);
        match attempt.refuse_if_held().await {
            Err(DomainError::HeldBack { retry_after }) => {
                tracing::info!(remote_addr = %Untrusted(address), "device page held back");
                return Ok(DeviceAnswer::HeldBack {
                    retry_after: retry_after.as_secs().max(1),
                });
            }
            other => other?,
        }
        let now = self.0.clock.now_micros();
        let letters = normalize_user_code(typed);
        let digest = letters.as_deref().map(secrets::digest);
        let found = match &digest {
            Some(digest) => self.0.store.find_pending_user_code(digest, now).await?,
            None => None,
        };
        let (Some(code), Some(digest), Some(letters)) = (found, digest, letters) else {
            attempt.settle(Outcome::Failed).await;
            tracing::info!(remote_addr = %Untrusted(address), "device page: wrong user code");
            return Ok(DeviceAnswer::EnterCode { wrong: true });
        };
        attempt.settle(Outcome::Success).await;
        let Some(allow) = decision else {
            let client = self.0.store.get_client(&code.client_id).await?;
            return Ok(match client {
                Some(client) => DeviceAnswer::Consent {
                    client_name: client.name,
                    scope: code.scope,
                    user_code: shown(&letters),
                },
                None => DeviceAnswer::Gone,
            });
        };
        let status = match allow {
            true => DeviceStatus::Allowed,
            false => DeviceStatus::Denied,
        };
        let sign_in = signed_in.sign_in();
        let decided_by = (signed_in.user_uuid.as_str(), &sign_in);
        let decided = self
            .0
            .store
            .decide_device_code(&digest, decided_by, status, now);
        Ok(match decided.await? {
            true => DeviceAnswer::Decided { allowed: allow },
            false => DeviceAnswer::Gone,
        })
    }
}

/// A client may ask for device codes only with the device grant among its grant types.
fn may_use_device_grant(client: &OAuth2Client) -> OAuthResult<()> {
    match client.grant_types.iter().any(|g| g == DEVICE_CODE) {
        true => Ok(()),
        false => Err(OAuthError::new(
            OAuthCode::UnauthorizedClient,
            "This client may not use the device_code grant.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_compared_in_any_case_with_or_without_the_dash() {
        let code = new_user_code();
        assert_eq!(code.len(), 9);
        assert_eq!(code.as_bytes()[4], b'-');
        let letters = normalize_user_code(&code).unwrap();
        assert_eq!(shown(&letters), code);
        assert_eq!(
            normalize_user_code(&letters.to_lowercase()).as_deref(),
            Some(letters.as_str())
        );
        assert_eq!(
            normalize_user_code("bcdf-ghjk").as_deref(),
            Some("BCDFGHJK")
        );
        // Vowels are not in the alphabet; nor are seven or nine letters.
        assert!(normalize_user_code("BCDF-GHJA").is_none());
        assert!(normalize_user_code("BCDFGHJ").is_none());
        assert!(normalize_user_code("BCDFGHJKL").is_none());
    }
}
