//! The token endpoint (SPEC §11.4): one small use case per grant, each minting through one way
//! to write and answer a token: the client-credentials grant, the authorization-code grant (with
//! PKCE), the refresh-token grant and the device grant (`device.rs`); `password` does not exist
//! here (RFC 9700 §2.4).

use std::sync::Arc;

use super::client_auth::ClientAuth;
use super::clients::{AUTHORIZATION_CODE, CLIENT_CREDENTIALS, DEVICE_CODE, REFRESH_TOKEN};
use super::error::{OAuthCode, OAuthError, OAuthResult};
use super::scope::{self, Granted};
use super::OAuth2;
use crate::domain::acl::Holder;
use crate::domain::cache::Invalidation;
use crate::domain::secrets;
use crate::domain::untrusted::Untrusted;
use crate::store::{ClientToken, OAuth2Client, TokenMetadata};

/// wazo's purpose for applications: a client's own token carries it.
pub const CLIENT_PURPOSE: &str = "external_api";

/// A request to the token endpoint, as the HTTP face read its form.
#[derive(Clone, Debug, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub scope: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub device_code: Option<String>,
    pub client: Option<ClientAuth>,
    pub remote_addr: String,
    pub user_agent: String,
}

/// A successful answer (RFC 6749 §5.1).
#[derive(Clone, Debug)]
pub struct TokenAnswer {
    pub access_token: String,
    /// Seconds.
    pub expires_in: u64,
    pub scope: String,
    pub refresh_token: Option<String>,
    /// The OpenID Connect ID token, when `openid` was granted (code and device grants).
    pub id_token: Option<String>,
}

impl OAuth2<'_> {
    /// POST /oauth2/token.
    pub async fn token(&self, request: OAuthResult<TokenRequest>) -> OAuthResult<TokenAnswer> {
        let request = request?;
        let grant_type = request
            .grant_type
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("grant_type is missing."))?;
        match grant_type {
            CLIENT_CREDENTIALS => self.client_credentials(&request).await,
            AUTHORIZATION_CODE => self.authorization_code(&request).await,
            REFRESH_TOKEN => self.refresh_token(&request).await,
            DEVICE_CODE => self.device_code(&request).await,
            other => Err(OAuthError::new(
                OAuthCode::UnsupportedGrantType,
                format!("The grant type {:?} is not supported.", Untrusted(other)),
            )),
        }
    }

    /// The client-credentials grant: the client as the token's subject, with the entries of its
    /// ceiling it asks for (all of them when it names none). A client that authenticated lately
    /// is not read again: its token is written only while the client is still as remembered, and
    /// anything else (an error too) is decided again on the client as read.
    async fn client_credentials(&self, request: &TokenRequest) -> OAuthResult<TokenAnswer> {
        let auth = request.client.clone().unwrap_or(ClientAuth::Missing);
        let known = &self.0.known_clients;
        if let Some(client) = known.get(&auth) {
            if let Ok(Some(answer)) = self.grant_to_client(&client, request, true).await {
                return Ok(answer);
            }
            known.forget(&client.client_id);
        }
        let client = self
            .authenticate_client(&auth, &request.remote_addr)
            .await?;
        let Some(answer) = self.grant_to_client(&client, request, false).await? else {
            // Deleted since it authenticated.
            return Err(OAuthError::invalid_client(false));
        };
        known.remember(Arc::new(client));
        Ok(answer)
    }

    /// The grant to an authenticated client; `None` when its token was not written (the client
    /// is gone, or, when `pinned`, no longer at the revision read).
    async fn grant_to_client(
        &self,
        client: &OAuth2Client,
        request: &TokenRequest,
        pinned: bool,
    ) -> OAuthResult<Option<TokenAnswer>> {
        if !client.confidential || !client.grant_types.iter().any(|g| g == CLIENT_CREDENTIALS) {
            return Err(OAuthError::new(
                OAuthCode::UnauthorizedClient,
                "This client may not use the client_credentials grant.",
            ));
        }
        let session_uuid = uuid::Uuid::new_v4().to_string();
        let holder = Holder {
            auth_id: &client.client_id,
            session_uuid: &session_uuid,
        };
        let mut requested = scope::parse(request.scope.as_deref())?;
        // A client's own token signs no one in: OpenID Connect scopes do not apply.
        requested.oidc.clear();
        let granted = scope::granted(&client.scope, requested, holder)?;
        let revision = pinned.then_some(client.revision);
        self.mint_for_client(client, session_uuid, granted, request, revision)
            .await
    }

    /// Writes a client's own token (SPEC §11.4: `auth_id` the client, purpose `external_api`)
    /// while the client is still at `revision` (`None`: at any); `None` when it wrote nothing.
    async fn mint_for_client(
        &self,
        client: &OAuth2Client,
        session_uuid: String,
        granted: Granted,
        request: &TokenRequest,
        revision: Option<i64>,
    ) -> OAuthResult<Option<TokenAnswer>> {
        let ctx = self.0;
        let value = secrets::new_access_token();
        let now = ctx.clock.now_micros();
        let lifetime = ctx.config.oauth2_access_token_lifetime;
        let lifetime_micros = i64::try_from(lifetime)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000);
        let token = ClientToken {
            token_digest: secrets::digest(&value),
            session_uuid,
            client_id: client.client_id.clone(),
            tenant_uuid: ctx.top_tenant.clone(),
            issued_at: now,
            expires_at: now.saturating_add(lifetime_micros),
            acl: granted.entries.clone(),
            metadata: TokenMetadata {
                auth_id: client.client_id.clone(),
                pbx_user_uuid: None,
                purpose: CLIENT_PURPOSE.to_string(),
                tenant_uuid: ctx.top_tenant.clone(),
                uuid: client.client_id.clone(),
                xivo_uuid: ctx.config.xivo_uuid.clone(),
            },
            remote_addr: request.remote_addr.clone(),
            user_agent: request.user_agent.clone(),
            keep: i64::try_from(ctx.config.max_user_concurrent_sessions).ok(),
            revision,
        };
        let Some(ended) = ctx.store.issue_client_token(&token).await? else {
            return Ok(None);
        };
        if ended > 0 {
            // The oldest tokens it ended may be cached, here and on other instances.
            ctx.invalidate(Invalidation::User(client.client_id.clone()))
                .await;
        }
        tracing::info!(
            client_id = %client.client_id,
            remote_addr = %Untrusted(&request.remote_addr),
            token = %format!("XXXXXXXX-XXXX-XXXX-XXXX-XXXX{}", secrets::redacted(&value)),
            "oauth2 token issued (client credentials)"
        );
        Ok(Some(TokenAnswer {
            access_token: value,
            expires_in: lifetime,
            scope: granted.to_scope_string(),
            refresh_token: None,
            id_token: None,
        }))
    }
}
