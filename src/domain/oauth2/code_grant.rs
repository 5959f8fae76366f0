//! The authorization-code grant (SPEC §11.3–§11.4, RFC 6749 §4.1.3, RFC 7636 §4.6): a code is
//! redeemed once, by its client, at its redirect URI, with the verifier of its challenge. A
//! second redemption is `invalid_grant` and ends what the first one issued (RFC 9700 §4.2.4).

use std::sync::Arc;

use super::authorize::challenge_of;
use super::client_auth::ClientAuth;
use super::clients::{AUTHORIZATION_CODE, REFRESH_TOKEN};
use super::error::{grant_held_back, OAuthCode, OAuthError, OAuthResult};
use super::oidc::{asks_identity, Authentication, IdTokenFor};
use super::scope::OFFLINE_ACCESS;
use super::token::{TokenAnswer, TokenRequest};
use super::OAuth2;
use crate::domain::cache::Invalidation;
use crate::domain::error::DomainError;
use crate::domain::secrets;
use crate::domain::throttle::Outcome;
use crate::domain::tokens::{AuthorizedToken, ClientContext, CodeToken, Tokens};
use crate::store::{AuthorizationCode, CodeRedeem, CodeRedemption, OAuth2Client, SignIn};

/// What a user granted a client, to mint their token from (the code and device grants).
pub(super) struct UserGrant<'a> {
    pub user_uuid: &'a str,
    /// The granted scope values (OpenID Connect scopes and ACL entries).
    pub scope: &'a [String],
    pub session_uuid: String,
    /// The refresh-token chain to start, with `offline_access` (for a client that may use
    /// refresh tokens).
    pub chain_uuid: String,
    /// Which grant, for the log.
    pub grant: &'static str,
    /// How the user signed in: the ID token's, when `openid` is granted.
    pub authentication: Option<Authentication>,
}

/// How the user signed in for a code: the ID token's `auth_time`, `sid` and `nonce`.
fn authentication_of(code: &AuthorizationCode) -> Authentication {
    Authentication {
        sign_in: SignIn {
            auth_time: code.auth_time,
            browser_session: code.browser_session.clone(),
        },
        nonce: code.nonce.clone(),
    }
}

pub(super) fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(OAuthCode::InvalidGrant, description)
}

impl OAuth2<'_> {
    /// `grant_type=authorization_code`. A client that authenticated lately is not read again:
    /// its code is redeemed only while the client is still as remembered, and anything but a
    /// redemption is decided again on the client as read.
    pub(super) async fn authorization_code(
        &self,
        request: &TokenRequest,
    ) -> OAuthResult<TokenAnswer> {
        let auth = request.client.clone().unwrap_or(ClientAuth::Missing);
        let known = &self.0.known_clients;
        if let Some(client) = known.get(&auth) {
            if let Some(answer) = self.exchange(&client, request, true).await? {
                return Ok(answer);
            }
            known.forget(&client.client_id);
        }
        let client = self
            .authenticate_client(&auth, &request.remote_addr)
            .await?;
        let client = Arc::new(client);
        known.remember(Arc::clone(&client));
        let answer = self.exchange(&client, request, false).await?;
        answer.ok_or_else(|| invalid_grant("The code is unknown, expired or not this client's."))
    }

    /// The exchange of the request's code by `client`, at its revision when `pinned`. `None`
    /// (only when `pinned`): nothing was redeemed; decide again on the client as read.
    async fn exchange(
        &self,
        client: &OAuth2Client,
        request: &TokenRequest,
        pinned: bool,
    ) -> OAuthResult<Option<TokenAnswer>> {
        if !client.grant_types.iter().any(|g| g == AUTHORIZATION_CODE) {
            return match pinned {
                true => Ok(None),
                false => Err(OAuthError::new(
                    OAuthCode::UnauthorizedClient,
                    "This client may not use the authorization_code grant.",
                )),
            };
        }
        let value = request.code.as_deref().filter(|c| !c.is_empty());
        let value = value.ok_or_else(|| OAuthError::invalid_request("code is missing."))?;
        let session_uuid = uuid::Uuid::new_v4().to_string();
        let chain_uuid = uuid::Uuid::new_v4().to_string();
        let digest = secrets::digest(value);
        // The proof is checked by the redemption itself, so that a wrong one spends nothing.
        let verifier = request.code_verifier.as_deref().unwrap_or_default();
        let challenge = challenge_of(verifier).unwrap_or_default();
        let redeem = CodeRedeem {
            digest: &digest,
            client_id: &client.client_id,
            challenge: &challenge,
            redirect_uri: request.redirect_uri.as_deref(),
            session_uuid: &session_uuid,
            chain_uuid: &chain_uuid,
            now: self.0.clock.now_micros(),
            revision: pinned.then_some(client.revision),
        };
        match self.redeem_minting(client, &redeem, request).await? {
            Ok(answer) => Ok(Some(answer)),
            Err(CodeRedemption::Fresh(code)) => {
                let session = (session_uuid, chain_uuid);
                self.redeemed(client, code, session, &digest, request)
                    .await
                    .map(Some)
            }
            Err(_) if pinned => Ok(None),
            Err(refused) => Err(self.refused(refused, request).await),
        }
    }

    /// A code redeemed and its token written with it: no chain to start, and the user enabled
    /// with room under the session bound. `Err`: no token was written, and the redemption as the
    /// store answered it (the second path decides).
    async fn redeem_minting(
        &self,
        client: &OAuth2Client,
        redeem: &CodeRedeem<'_>,
        request: &TokenRequest,
    ) -> OAuthResult<Result<TokenAnswer, CodeRedemption>> {
        let lifetime = self.0.config.oauth2_access_token_lifetime;
        let may_refresh = client.grant_types.iter().any(|g| g == REFRESH_TOKEN);
        let code_token = CodeToken {
            expiration: i64::try_from(lifetime).unwrap_or(i64::MAX),
            remote_addr: &request.remote_addr,
            user_agent: &request.user_agent,
            // With it, a chain starts: the second path writes it.
            chain_scope: may_refresh.then_some(OFFLINE_ACCESS),
            // The whole granted scope: its OpenID Connect values grant no access
            // (`grant::token_grants`), and tell userinfo what it may answer.
            dropped: &[],
        };
        let (value, code) = match Tokens(self.0).redeem_minting(redeem, code_token).await? {
            Ok(minted) => minted,
            Err(redemption) => return Ok(Err(redemption)),
        };
        let id_token = match asks_identity(&code.scope) {
            true => Some(
                self.id_token(IdTokenFor {
                    client_id: &client.client_id,
                    user_uuid: &code.user_uuid,
                    authentication: &authentication_of(&code),
                    access_token: &value,
                })
                .await?,
            ),
            false => None,
        };
        tracing::info!(client_id = %client.client_id, user = %code.user_uuid, grant = "authorization code", "oauth2 token issued");
        Ok(Ok(TokenAnswer {
            access_token: value,
            expires_in: lifetime,
            scope: code.scope.join(" "),
            refresh_token: None,
            id_token,
        }))
    }

    /// Why a code was not redeemed, as an error (a replay ends what the first redemption
    /// issued; an unknown code counts against the address).
    async fn refused(&self, redemption: CodeRedemption, request: &TokenRequest) -> OAuthError {
        match redemption {
            CodeRedemption::Replayed(code) => match self.end_first_redemption(&code).await {
                Ok(()) => invalid_grant("The code was used before: what it issued is revoked."),
                Err(error) => error,
            },
            CodeRedemption::Expired => invalid_grant("The code expired."),
            // (`Fresh` is the caller's.)
            CodeRedemption::Mismatch | CodeRedemption::Fresh(_) => {
                invalid_grant("code_verifier or redirect_uri is not the authorization request's.")
            }
            CodeRedemption::Unknown => {
                // Codes cannot be guessed; an unknown one still counts against the address.
                let attempt = self.0.throttle.unguessable(&request.remote_addr);
                if let Err(held) = attempt.refuse_if_held().await {
                    return grant_held_back(held);
                }
                attempt.settle(Outcome::Failed).await;
                invalid_grant("The code is unknown, expired or not this client's.")
            }
        }
    }

    /// A code redeemed now: checked against the request, then minted for as `session` (its
    /// session and chain).
    async fn redeemed(
        &self,
        client: &OAuth2Client,
        code: AuthorizationCode,
        (session_uuid, chain_uuid): (String, String),
        digest: &[u8],
        request: &TokenRequest,
    ) -> OAuthResult<TokenAnswer> {
        let grant = UserGrant {
            user_uuid: &code.user_uuid,
            scope: &code.scope,
            session_uuid: session_uuid.clone(),
            chain_uuid: chain_uuid.clone(),
            grant: "authorization code",
            authentication: Some(authentication_of(&code)),
        };
        let answer = self.mint_for_user(client, grant, request).await?;
        // A second redemption that came while this one minted found nothing to end yet: this
        // one ends what it minted (one of the two always sees the other).
        if self.0.store.code_replayed(digest).await? {
            let minted = AuthorizationCode {
                session_uuid: Some(session_uuid),
                refresh_uuid: Some(chain_uuid),
                ..code
            };
            self.end_first_redemption(&minted).await?;
            return Err(invalid_grant(
                "The code was used twice: what it issued is revoked.",
            ));
        }
        Ok(answer)
    }

    /// Ends the session and the refresh-token chain a code's first redemption minted.
    async fn end_first_redemption(&self, code: &AuthorizationCode) -> OAuthResult<()> {
        if let Some(chain) = &code.refresh_uuid {
            self.0.store.end_refresh_token(chain).await?;
        }
        if let Some(session) = &code.session_uuid {
            self.0.store.delete_session(session, None).await?;
            self.0
                .invalidate(Invalidation::User(code.user_uuid.clone()))
                .await;
            tracing::warn!(client_id = %code.client_id, "oauth2 code replayed: its tokens are revoked");
        }
        Ok(())
    }

    /// The user's token for the scope they granted the client, and with `offline_access` (for a
    /// client that may use refresh tokens) a new chain of refresh tokens.
    pub(super) async fn mint_for_user(
        &self,
        client: &OAuth2Client,
        grant: UserGrant<'_>,
        request: &TokenRequest,
    ) -> OAuthResult<TokenAnswer> {
        let ctx = self.0;
        // Without its e-mail addresses: a token needs none (one round trip fewer).
        let user = ctx.store.get_user_for_token(grant.user_uuid).await?;
        let user = user.filter(|u| u.enabled);
        let user = user.ok_or_else(|| invalid_grant("The user is gone or disabled."))?;
        let lifetime = ctx.config.oauth2_access_token_lifetime;
        let offline = grant.scope.iter().any(|v| v == OFFLINE_ACCESS)
            && client.grant_types.iter().any(|g| g == REFRESH_TOKEN);
        let login = user.username.clone().unwrap_or_else(|| user.uuid.clone());
        let issued = Tokens(ctx)
            .issue_authorized(AuthorizedToken {
                user: &user,
                client_id: &client.client_id,
                session_uuid: grant.session_uuid,
                // The whole granted scope: its OpenID Connect values grant no access
                // (`grant::token_grants`), and tell userinfo what it may answer.
                scope: grant.scope.to_vec(),
                expiration: i64::try_from(lifetime).unwrap_or(i64::MAX),
                client: &ClientContext {
                    remote_addr: request.remote_addr.clone(),
                    user_agent: request.user_agent.clone(),
                    mobile: false,
                },
                chain: offline.then_some((grant.chain_uuid, login)),
            })
            .await;
        let issued = match issued {
            Err(DomainError::AuthenticationFailed) => {
                return Err(invalid_grant("The user is gone or disabled."))
            }
            other => other?,
        };
        let id_token = match (&grant.authentication, asks_identity(grant.scope)) {
            (Some(authentication), true) => Some(
                self.id_token(IdTokenFor {
                    client_id: &client.client_id,
                    user_uuid: &user.uuid,
                    authentication,
                    access_token: &issued.view.token,
                })
                .await?,
            ),
            _ => None,
        };
        tracing::info!(client_id = %client.client_id, user = %user.uuid, grant = grant.grant, "oauth2 token issued");
        Ok(TokenAnswer {
            access_token: issued.view.token,
            expires_in: lifetime,
            scope: grant.scope.join(" "),
            refresh_token: issued.view.refresh_token,
            id_token,
        })
    }
}
