//! The token use cases of SPEC §2–§3 and §7: POST /token, by grant (`password.rs`, the password
//! grant online and offline; `refresh.rs`, the refresh-token grant), validation and the scopes
//! check (`validation.rs`), revocation and the purge (`revocation.rs`). Every rule of issuance is
//! decided here (which sessions are limited, what an offline login replaces, rotation, scope),
//! and `issue.rs` hands the store a plan it only executes. Throttling, cache invalidation and
//! metrics happen here, so that no face can forget them.

mod issue;
mod password;
mod refresh;
mod revocation;
mod validation;

use std::sync::Arc;

use super::context::Context;
use super::error::{DomainError, DomainResult};
use super::grant;
use super::secrets::redacted;
use super::throttle::{Attempt, Outcome};
use super::untrusted::{self, Untrusted};
use crate::store::TokenRecord;

pub use issue::{AuthorizedToken, CodeToken};
pub use validation::{MAX_CHECKED_SCOPES, MAX_CHECKED_SCOPES_BYTES};

/// Where a request comes from, recorded on the session and token.
#[derive(Clone, Debug, Default)]
pub struct ClientContext {
    pub remote_addr: String,
    pub user_agent: String,
    pub mobile: bool,
}

/// A POST /token request, read and checked by the face.
#[derive(Clone, Debug, Default)]
pub struct TokenRequest {
    /// HTTP Basic credentials (login, password), when well-formed.
    pub credentials: Option<(String, String)>,
    pub expiration: Option<i64>,
    pub offline: bool,
    pub client_id: Option<String>,
    pub refresh_token: Option<String>,
    /// `scope` (SPEC §9): on an offline login, the refresh token's; on a refresh grant, a
    /// narrower one for this access token.
    pub scope: Option<Vec<String>>,
    pub client: ClientContext,
}

/// A live access token, as the token endpoints show it.
#[derive(Clone, Debug)]
pub struct TokenView {
    pub token: String,
    pub record: Arc<TokenRecord>,
    pub xivo_uuid: Option<String>,
    /// Only on an offline login.
    pub refresh_token: Option<String>,
}

/// A freshly issued access token.
#[derive(Debug)]
pub struct Issued {
    pub view: TokenView,
    /// Sessions this login ended (a mobile offline login may end some).
    pub sessions_revoked: u64,
}

/// `POST /token/{t}/scopes/check`, read by the face.
#[derive(Clone, Debug, Default)]
pub struct ScopesCheck {
    pub scopes: Vec<String>,
    pub tenant: Option<String>,
}

/// A token named in a path: token values are UUIDs, read in either case (SPEC §1); anything else
/// names no token.
fn token_value(segment: &str) -> DomainResult<String> {
    super::parse_uuid(segment).ok_or(DomainError::NoSuchToken)
}

/// The request as the grants read it: the login in NFC (the form usernames are stored in, so
/// that its spellings are one login for the throttle too), and, for an offline login, a client_id
/// without control or invisible characters or white space at its ends.
fn checked_request(mut request: TokenRequest) -> DomainResult<TokenRequest> {
    // Only a client_id a refresh token is created under is checked: in a refresh grant, one no
    // stored value can hold simply matches nothing (401, SPEC §2).
    let creates = request.offline && request.refresh_token.is_none();
    if let (true, Some(client_id)) = (creates, &request.client_id) {
        if untrusted::check_name(client_id).is_err() {
            return Err(DomainError::BadRequest(
                "Invalid value supplied for field: client_id".into(),
            ));
        }
    }
    if let Some(scope) = &request.scope {
        // A scope limits a refresh token, or narrows one grant; an online login has neither.
        if !request.offline && request.refresh_token.is_none() {
            return Err(DomainError::BadRequest(
                "Invalid value supplied for field: scope (only with access_type offline or a \
                 refresh_token)"
                    .into(),
            ));
        }
        grant::check_scope(scope)?;
    }
    if let Some((login, _)) = &mut request.credentials {
        *login = untrusted::nfc(login);
    }
    Ok(request)
}

/// The token use cases.
pub struct Tokens<'a>(pub(super) &'a Context);

impl Tokens<'_> {
    /// POST /token: the refresh-token grant when the body has both `refresh_token` and
    /// `client_id`, else the password grant. A malformed request arrives as `Err`, to be counted.
    pub async fn create(&self, request: DomainResult<TokenRequest>) -> DomainResult<Issued> {
        let outcome = match request.and_then(checked_request) {
            Ok(request) => self.grant(&request).await,
            Err(error) => Err(error),
        };
        self.0.metrics.login(match &outcome {
            Ok(_) => "success",
            Err(DomainError::AuthenticationFailed) => "failed",
            Err(DomainError::HeldBack { .. } | DomainError::TooManySessions(_)) => "too_many",
            Err(error) if error.is_client_error() => "invalid",
            Err(_) => "error",
        });
        outcome
    }

    async fn grant(&self, request: &TokenRequest) -> DomainResult<Issued> {
        let config = &self.0.config;
        let expiration = request
            .expiration
            .unwrap_or(i64::try_from(config.default_token_lifetime).unwrap_or(i64::MAX));
        match (
            &request.refresh_token,
            &request.client_id,
            &request.credentials,
        ) {
            (Some(value), Some(client_id), _) => {
                self.refresh_grant(request, value, client_id, expiration)
                    .await
            }
            (_, _, Some((login, password))) => {
                self.password_grant(request, login, password, expiration)
                    .await
            }
            (_, _, None) => self.no_credentials(&request.client).await,
        }
    }

    /// A password grant without credentials: charged to its address, and refused, but no guess.
    async fn no_credentials(&self, client: &ClientContext) -> DomainResult<Issued> {
        let attempt = self.0.throttle.attempt(None, &client.remote_addr).await;
        let attempt = attempt.inspect_err(|error| held_back(error, None, client))?;
        tracing::info!(
            remote_addr = %Untrusted(&client.remote_addr),
            "login failed: no credentials"
        );
        attempt.settle(Outcome::NotAGuess).await;
        Err(DomainError::AuthenticationFailed)
    }

    /// Settles a grant's attempt with its outcome (a wrong password or refresh token is a
    /// guess; any other refusal is not), and logs it.
    async fn settle(
        &self,
        attempt: Attempt<'_>,
        outcome: DomainResult<Issued>,
        login: &str,
        client: &ClientContext,
    ) -> DomainResult<Issued> {
        match &outcome {
            Ok(issued) => {
                attempt.settle(Outcome::Success).await;
                tracing::info!(
                    login = %Untrusted(login),
                    remote_addr = %Untrusted(&client.remote_addr),
                    token = %format!("XXXXXXXX-XXXX-XXXX-XXXX-XXXX{}", redacted(&issued.view.token)),
                    "token issued"
                );
            }
            Err(DomainError::AuthenticationFailed) => {
                tracing::info!(
                    login = %Untrusted(login),
                    remote_addr = %Untrusted(&client.remote_addr),
                    "login failed"
                );
                attempt.settle(Outcome::Failed).await;
            }
            Err(_) => attempt.settle(Outcome::NotAGuess).await,
        }
        outcome
    }
}

/// Logs an attempt held back (`login`: the password grant's).
fn held_back(error: &DomainError, login: Option<&str>, client: &ClientContext) {
    if matches!(error, DomainError::HeldBack { .. }) {
        tracing::info!(
            login = ?login.map(Untrusted),
            remote_addr = %Untrusted(&client.remote_addr),
            "login held back"
        );
    }
}
