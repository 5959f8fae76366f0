//! The refresh-token grant at `/oauth2/token` (SPEC §11, §11.4): a client redeems only its own
//! chains (never a wazo offline login's), every grant rotates the value, and a replayed value
//! revokes its chain and the sessions minted from it (RFC 9700 §4.14). An optional `scope`
//! narrows, by §9's rule.

use std::sync::Arc;

use super::client_auth::ClientAuth;
use super::clients::REFRESH_TOKEN;
use super::error::{grant_held_back, OAuthCode, OAuthError, OAuthResult};
use super::scope::{self, OFFLINE_ACCESS};
use super::token::{TokenAnswer, TokenRequest};
use super::OAuth2;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::throttle::Outcome;
use crate::domain::tokens::{ClientContext, Issued, Tokens};
use crate::store::OAuth2Client;

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(OAuthCode::InvalidGrant, description)
}

impl OAuth2<'_> {
    /// `grant_type=refresh_token`. A client that authenticated lately is not read again: its
    /// grant is issued only while the client is still at the revision remembered, and anything
    /// else (an error too) is decided again on the client as read.
    pub(super) async fn refresh_token(&self, request: &TokenRequest) -> OAuthResult<TokenAnswer> {
        let auth = request.client.clone().unwrap_or(ClientAuth::Missing);
        let known = &self.0.known_clients;
        if let Some(client) = known.get(&auth) {
            if let Ok(Some(answer)) = self.refresh_for(&client, request, true).await {
                return Ok(answer);
            }
            known.forget(&client.client_id);
        }
        let client = self
            .authenticate_client(&auth, &request.remote_addr)
            .await?;
        let client = Arc::new(client);
        known.remember(Arc::clone(&client));
        let answer = self.refresh_for(&client, request, false).await?;
        answer.ok_or_else(|| {
            invalid_grant("The refresh token is unknown, expired or not this client's.")
        })
    }

    /// The grant to an authenticated client, at its revision when `pinned`. `None` (only when
    /// `pinned`): nothing was granted; decide again on the client as read.
    async fn refresh_for(
        &self,
        client: &OAuth2Client,
        request: &TokenRequest,
        pinned: bool,
    ) -> OAuthResult<Option<TokenAnswer>> {
        if !client.grant_types.iter().any(|g| g == REFRESH_TOKEN) {
            return match pinned {
                true => Ok(None),
                false => Err(OAuthError::new(
                    OAuthCode::UnauthorizedClient,
                    "This client may not use the refresh_token grant.",
                )),
            };
        }
        let value = request.refresh_token.as_deref().filter(|v| !v.is_empty());
        let value =
            value.ok_or_else(|| OAuthError::invalid_request("refresh_token is missing."))?;
        // OpenID Connect values narrow nothing: only ACL entries do.
        let asked = scope::parse(request.scope.as_deref())?
            .entries
            .filter(|entries| !entries.is_empty());
        let ctx = self.0;
        let lifetime = ctx.config.oauth2_access_token_lifetime;
        let origin = ClientContext {
            remote_addr: request.remote_addr.clone(),
            user_agent: request.user_agent.clone(),
            mobile: false,
        };
        let expiration = (
            i64::try_from(lifetime).unwrap_or(i64::MAX),
            pinned.then_some(client.revision),
        );
        let outcome = Tokens(ctx)
            .oauth2_refresh(
                value,
                &client.client_id,
                asked.as_deref(),
                expiration,
                &origin,
            )
            .await;
        let issued = match (pinned, outcome) {
            (true, Ok(Some(issued))) => issued,
            (true, _) => return Ok(None),
            (false, outcome) => self.refreshed(outcome, &request.remote_addr).await?,
        };
        let entries = issued.view.record.scope.clone().unwrap_or_default();
        tracing::info!(client_id = %client.client_id, "oauth2 token issued (refresh token)");
        Ok(Some(TokenAnswer {
            access_token: issued.view.token,
            expires_in: lifetime,
            // Chains made before their scope kept its OpenID Connect values lack offline_access.
            scope: match entries.iter().any(|v| v == OFFLINE_ACCESS) {
                true => entries.join(" "),
                false => std::iter::once(OFFLINE_ACCESS.to_string())
                    .chain(entries)
                    .collect::<Vec<_>>()
                    .join(" "),
            },
            refresh_token: issued.view.refresh_token,
            id_token: None,
        }))
    }

    /// The grant's outcome, in RFC 6749's terms: a replay or an unknown value is
    /// `invalid_grant`, and an unknown one counts against the address.
    async fn refreshed(
        &self,
        outcome: DomainResult<Option<Issued>>,
        address: &str,
    ) -> OAuthResult<Issued> {
        match outcome {
            Ok(Some(issued)) => Ok(issued),
            Ok(None) => Err(invalid_grant(
                "The refresh token was used before: its chain is revoked.",
            )),
            Err(DomainError::AuthenticationFailed) => {
                // Refresh tokens cannot be guessed; an unknown one still counts against the address.
                let attempt = self.0.throttle.unguessable(address);
                attempt.refuse_if_held().await.map_err(grant_held_back)?;
                attempt.settle(Outcome::Failed).await;
                Err(invalid_grant(
                    "The refresh token is unknown, expired or not this client's.",
                ))
            }
            Err(other) => Err(other.into()),
        }
    }
}
