//! Introspection (RFC 7662) and revocation (RFC 7009), SPEC §11.7. Any Tessera token can be
//! introspected, wazo-issued or OAuth2; everything inactive answers exactly `{"active": false}`.
//! A client revokes only its own tokens; another's gets the same 200 and nothing happens.

use std::sync::Arc;

use super::client_auth::{Authenticates, ClientAuth};
use super::error::{OAuthCode, OAuthError, OAuthResult};
use super::OAuth2;
use crate::domain::cache::Invalidation;
use crate::domain::caller::{Actor, Credentials};
use crate::domain::error::{DomainError, Refusal};
use crate::domain::secrets;
use crate::store::{ClientCredentials, OAuth2Client, RefreshToken, TokenOwner};

/// The access a Bearer token needs to introspect.
pub const INTROSPECT_ACCESS: &str = "auth.oauth2.introspect";

/// Who asks: a client (as at the token endpoint), or a Bearer access token.
#[derive(Clone, Debug)]
pub enum Introspector {
    Client(ClientAuth),
    Bearer(String),
}

/// POST /oauth2/introspect and /oauth2/revoke, as the HTTP face read the form.
#[derive(Clone, Debug)]
pub struct TokenQuery {
    pub token: Option<String>,
    pub caller: Introspector,
    pub remote_addr: String,
}

/// What introspection tells of an active token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveToken {
    pub scope: String,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub sub: String,
    /// Seconds since the epoch; `None` when the token has no end (a refresh token without
    /// lifetimes).
    pub exp: Option<i64>,
    pub iat: i64,
    pub token_type: &'static str,
    pub iss: String,
}

/// The digest a token value is found by: an access token in any spelling of its uuid (as
/// `/token/{token}` reads it); anything else (a refresh token) as given.
fn token_digest(value: &str) -> Vec<u8> {
    match crate::domain::parse_uuid(value) {
        Some(uuid) => secrets::digest(&uuid),
        None => secrets::digest(value),
    }
}

fn seconds(micros: i64) -> i64 {
    micros.div_euclid(1_000_000)
}

impl OAuth2<'_> {
    /// POST /oauth2/introspect: `None` is `{"active": false}`. A client caller and the token are
    /// read in one statement (the token is told only once the client authenticated).
    pub async fn introspect(
        &self,
        query: OAuthResult<TokenQuery>,
    ) -> OAuthResult<Option<ActiveToken>> {
        let query = query?;
        let value = query.token.as_deref().filter(|t| !t.is_empty());
        let digest = token_digest(value.unwrap_or_default());
        let now = self.0.clock.now_micros();
        // The introspecting client's id (`None` for a Bearer caller), and the token.
        let (client, token) = match (&query.caller, value) {
            (Introspector::Client(auth), Some(_)) => {
                let (found, token) = self.introspection_read(auth, &digest, now).await?;
                let client = self.check_client(auth, &query.remote_addr, found).await?;
                (Some(confidential(client)?.client_id.clone()), token)
            }
            _ => {
                let client = self.introspector(&query).await?;
                if value.is_none() {
                    return Err(OAuthError::invalid_request("token is missing."));
                }
                let token = self.0.store.find_token_owner(&digest, now).await?;
                (client.map(|c| c.client_id), token.map(Arc::new))
            }
        };
        let issuer = self.issuer()?;
        if let Some(token) = token {
            return Ok(Some(access_token(&token, issuer)));
        }
        // A refresh token, only for the client it belongs to.
        let Some(client) = client else {
            return Ok(None);
        };
        let Some(grant) = self.0.store.find_refresh_grant(&digest, None).await? else {
            return Ok(None);
        };
        let live = grant.user.as_ref().is_some_and(|u| u.enabled)
            && grant.refresh.client_id == client
            && !crate::domain::refresh_tokens::expired(
                &grant.refresh,
                crate::domain::refresh_tokens::cutoffs(&self.0.config, now),
            );
        Ok(live.then(|| {
            let username = grant.user.and_then(|u| u.username);
            refresh_token(grant.refresh, username, issuer)
        }))
    }

    /// The credentials of the client `auth` names and the live access token with `digest`: from
    /// the cache when it is on and holds both, else in one read of the store, which fills it.
    async fn introspection_read(
        &self,
        auth: &ClientAuth,
        digest: &[u8],
        now: i64,
    ) -> OAuthResult<(Option<Arc<ClientCredentials>>, Option<Arc<TokenOwner>>)> {
        let client_id = auth.stored_id();
        let store = &self.0.store;
        let Some(cache) = &self.0.cache else {
            let (client, token) = store
                .introspection_read(client_id.as_deref(), digest, now)
                .await?;
            return Ok((client.map(Arc::new), token.map(Arc::new)));
        };
        let client = client_id.as_deref().and_then(|id| cache.client(id));
        let token = cache.owner(digest);
        if client.is_some() && token.is_some() {
            return Ok((client, token));
        }
        let generation = cache.generation();
        let (client, token) = store
            .introspection_read(client_id.as_deref(), digest, now)
            .await?;
        let (client, token) = (client.map(Arc::new), token.map(Arc::new));
        if let Some(client) = &client {
            cache.insert_client(client.clone(), generation);
        }
        if let Some(token) = &token {
            cache.insert_owner(digest.to_vec(), token.clone(), generation);
        }
        Ok((client, token))
    }

    /// The introspecting client (`None` for a Bearer caller holding `auth.oauth2.introspect`).
    async fn introspector(&self, query: &TokenQuery) -> OAuthResult<Option<OAuth2Client>> {
        match &query.caller {
            Introspector::Client(auth) => {
                let client = self.authenticate_client(auth, &query.remote_addr).await?;
                Ok(Some(confidential(client)?))
            }
            Introspector::Bearer(token) => {
                let actor = Actor::Request(Credentials {
                    token: Some(token.clone()),
                    tenant: None,
                });
                match self.0.authorize(&actor, INTROSPECT_ACCESS).await {
                    Ok(_) => Ok(None),
                    Err(DomainError::Unauthorized { refusal, .. }) => Err(bearer_refused(refusal)),
                    Err(other) => Err(other.into()),
                }
            }
        }
    }

    /// POST /oauth2/revoke: always 200 for a client that authenticated; only its own tokens end.
    pub async fn revoke(&self, query: OAuthResult<TokenQuery>) -> OAuthResult<()> {
        let query = query?;
        let Introspector::Client(auth) = &query.caller else {
            return Err(OAuthError::invalid_client(false));
        };
        let client = self.authenticate_client(auth, &query.remote_addr).await?;
        let Some(value) = query.token.as_deref().filter(|t| !t.is_empty()) else {
            return Err(OAuthError::invalid_request("token is missing."));
        };
        let digest = token_digest(value);
        let now = self.0.clock.now_micros();
        if let Some(token) = self.0.store.find_token_owner(&digest, now).await? {
            let own = token.auth_id == client.client_id
                || token.client_id.as_deref() == Some(client.client_id.as_str());
            if own {
                self.0.store.revoke_token(&digest).await?;
                self.0
                    .invalidate(Invalidation::Token(hex::encode(&digest)))
                    .await;
            }
            return Ok(());
        }
        if let Some(chain) = self.own_refresh_token(&digest, &client).await? {
            let sessions = self.0.store.end_refresh_token(&chain.uuid).await?;
            self.0
                .invalidate(Invalidation::User(chain.user_uuid.clone()))
                .await;
            tracing::info!(client_id = %client.client_id, sessions, "oauth2 refresh token revoked");
        }
        Ok(())
    }

    /// The refresh token a value (current or superseded) names, when it is `client`'s.
    async fn own_refresh_token(
        &self,
        digest: &[u8],
        client: &OAuth2Client,
    ) -> OAuthResult<Option<RefreshToken>> {
        let store = &self.0.store;
        let chain = match store.find_refresh_grant(digest, None).await? {
            Some(grant) => Some(grant.refresh),
            None => store
                .find_superseded_refresh_token(digest)
                .await?
                .map(|superseded| superseded.chain),
        };
        Ok(chain.filter(|chain| chain.client_id == client.client_id))
    }
}

/// Introspection is for confidential clients.
fn confidential<C: Authenticates>(client: C) -> OAuthResult<C> {
    match client.confidential() {
        true => Ok(client),
        false => Err(OAuthError::invalid_client(false)),
    }
}

/// A Bearer caller refused: `invalid_token` (401) when its token is not live,
/// `insufficient_scope` (403) when it lacks the access (RFC 6750 §3.1).
fn bearer_refused(refusal: Refusal) -> OAuthError {
    match refusal {
        Refusal::NotFoundOrExpired => {
            OAuthError::new(OAuthCode::InvalidToken, "The Bearer token is not valid.")
        }
        Refusal::MissingPermissionOrInvalidTenant => OAuthError::new(
            OAuthCode::InsufficientScope,
            format!("The token does not grant {INTROSPECT_ACCESS}."),
        ),
    }
}

fn access_token(token: &TokenOwner, issuer: String) -> ActiveToken {
    let entries = token.scope.as_ref().unwrap_or(&token.acl);
    ActiveToken {
        scope: entries.join(" "),
        client_id: token.client_id.clone(),
        username: token.username.clone(),
        sub: token.auth_id.clone(),
        exp: Some(seconds(token.expires_at)),
        iat: seconds(token.issued_at),
        token_type: "Bearer",
        iss: issuer,
    }
}

fn refresh_token(refresh: RefreshToken, username: Option<String>, issuer: String) -> ActiveToken {
    ActiveToken {
        scope: refresh.scope.unwrap_or_default().join(" "),
        client_id: Some(refresh.client_id),
        username,
        sub: refresh.user_uuid,
        exp: None,
        iat: seconds(refresh.created_at),
        token_type: "refresh_token",
        iss: issuer,
    }
}
