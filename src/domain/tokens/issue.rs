//! What every grant shares when it mints a token: the token's values and session rules (which
//! users are limited, in which share of the cap), the store's write and what it answers.

use std::sync::Arc;

use super::{ClientContext, Issued, TokenView, Tokens};
use crate::domain::cache::Invalidation;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::secrets;
use crate::domain::untrusted::Untrusted;
use crate::store::{
    AuthorizationCode, CodeRedeem, CodeRedemption, CodeTokenWrite, Issue, IssueWrite, NewChain,
    NewToken, SessionShare, StoreError, TokenMetadata, TokenRecord, User,
};

/// The purposes of the users whose live sessions are limited (`max_user_concurrent_sessions`).
pub(super) const LIMITED_PURPOSES: [&str; 2] = ["user", "external_api"];

/// The share of the session cap a token counts in: the sessions password logins open (online or
/// offline), or those refresh grants mint (the one-statement grant's too), so that grants never
/// take a password login's room.
pub(super) fn share_of(write: &IssueWrite<'_>) -> SessionShare {
    match write {
        IssueWrite::Login | IssueWrite::Authorized { .. } | IssueWrite::Offline(_) => {
            SessionShare::Logins
        }
        IssueWrite::Grant { .. } | IssueWrite::Rotating { .. } => SessionShare::Grants,
    }
}

/// A token about to be written: its value (never stored) and its row.
pub(super) struct Minted {
    pub value: String,
    pub token: NewToken,
}

impl Tokens<'_> {
    /// A new token of `user` in session `session_uuid`, for `expiration` seconds, with `scope`,
    /// to be written as `write` says (which decides its share of the session cap, [`share_of`]).
    pub(super) fn mint(
        &self,
        user: &User,
        expiration: i64,
        client: &ClientContext,
        session_uuid: String,
        write: &IssueWrite<'_>,
        scope: Option<Vec<String>>,
    ) -> Minted {
        let config = &self.0.config;
        let now = self.0.clock.now_micros();
        let value = secrets::new_access_token();
        let session_limit = LIMITED_PURPOSES
            .contains(&user.purpose.as_str())
            .then(|| self.session_limit());
        let token = NewToken {
            token_digest: secrets::digest(&value),
            session_uuid,
            user_uuid: user.uuid.clone(),
            tenant_uuid: user.tenant_uuid.clone(),
            mobile: client.mobile,
            issued_at: now,
            expires_at: now.saturating_add(expiration.saturating_mul(1_000_000)),
            default_policy: config.default_user_policy.clone(),
            metadata: TokenMetadata {
                auth_id: user.uuid.clone(),
                pbx_user_uuid: (user.purpose == "user").then(|| user.uuid.clone()),
                purpose: user.purpose.clone(),
                tenant_uuid: user.tenant_uuid.clone(),
                uuid: user.uuid.clone(),
                xivo_uuid: config.xivo_uuid.clone(),
            },
            remote_addr: client.remote_addr.clone(),
            user_agent: client.user_agent.clone(),
            scope,
            share: share_of(write),
            session_limit,
        };
        Minted { value, token }
    }

    /// Writes `minted` as `write` says. `answer`: the refresh token value the answer carries,
    /// when the write creates none. `None`: the refresh token of a grant changed meanwhile (read
    /// it again).
    pub(super) async fn issue(
        &self,
        minted: Minted,
        write: IssueWrite<'_>,
        answer: Option<String>,
    ) -> DomainResult<Option<Issued>> {
        let ctx = self.0;
        let Minted { value, token } = minted;
        let issued = match ctx.store.issue_token(&token, write).await {
            Ok(Issue::Issued(issued)) => issued,
            Ok(Issue::SessionLimit) => return Err(DomainError::TooManySessions(token.user_uuid)),
            Ok(Issue::Superseded) => return Ok(None),
            // The user was deleted since they were read: nobody to issue a token to.
            Err(StoreError::Gone(_)) => return Err(DomainError::AuthenticationFailed),
            Err(error) => return Err(error.into()),
        };
        if issued.sessions_revoked > 0 {
            ctx.invalidate(Invalidation::User(token.user_uuid.clone()))
                .await;
        }
        self.default_policy_found(issued.default_found);
        let refresh_token = match issued.refresh_token {
            Some(row) => Some(ctx.refresh_key.value_of(&row)),
            None => answer,
        };
        let record = TokenRecord {
            session_uuid: token.session_uuid,
            auth_id: token.user_uuid,
            issued_at: token.issued_at,
            expires_at: token.expires_at,
            acl: issued.acl,
            metadata: token.metadata,
            remote_addr: token.remote_addr,
            user_agent: token.user_agent,
            scope: token.scope,
        };
        Ok(Some(Issued {
            view: self.new_view(value, record, refresh_token),
            sessions_revoked: issued.sessions_revoked,
        }))
    }

    /// The view of a token just issued.
    pub(super) fn new_view(
        &self,
        value: String,
        record: TokenRecord,
        refresh_token: Option<String>,
    ) -> TokenView {
        TokenView {
            token: value,
            record: Arc::new(record),
            xivo_uuid: self.0.config.xivo_uuid.clone(),
            refresh_token,
        }
    }

    /// Warns when the policy `default_user_policy` names was not found by a token's insert
    /// (the token then holds its user's policies only).
    pub(super) fn default_policy_found(&self, found: bool) {
        if let (false, Some(name)) = (found, &self.0.config.default_user_policy) {
            tracing::warn!(policy = %Untrusted(name), "default_user_policy does not exist");
        }
    }

    /// The most live sessions of each share a user of a limited purpose ([`LIMITED_PURPOSES`])
    /// may hold: `max_user_concurrent_sessions` for the sessions password logins opened, and as
    /// many again for those refresh grants minted ([`SessionShare`]). Counted together, the
    /// grants of one refresh token (say a narrow one handed to a gadget, with ten-year access
    /// tokens) could fill the cap and make its user's own password logins 429. Separate shares
    /// keep the common grant one statement (it raises its own share's bound; no other session is
    /// read or ended) and exact under races (one row lock per user, as before), and the user
    /// still holds at most twice the cap. (Ending the oldest session of the same refresh token at
    /// the cap instead would still leave password logins refused once grants filled the cap.)
    pub(super) fn session_limit(&self) -> i64 {
        i64::try_from(self.0.config.max_user_concurrent_sessions).unwrap_or(i64::MAX)
    }
}

/// A user's token for an OAuth2 client (the authorization-code grant), as that grant decided it.
pub struct AuthorizedToken<'a> {
    pub user: &'a User,
    pub client_id: &'a str,
    pub session_uuid: String,
    /// The granted ACL entries: the token grants what both they and the user's ACL grant.
    pub scope: Vec<String>,
    /// Seconds.
    pub expiration: i64,
    pub client: &'a ClientContext,
    /// With `offline_access`: the uuid of the refresh-token chain to start, and the login.
    pub chain: Option<(String, String)>,
}

impl Tokens<'_> {
    /// Writes a user's token for an OAuth2 client, with the session rules of a login, and the
    /// refresh-token chain it starts, if any (its value is the answer's `refresh_token`).
    pub async fn issue_authorized(&self, token: AuthorizedToken<'_>) -> DomainResult<Issued> {
        let chain = token.chain.map(|(uuid, login)| NewChain {
            digest: secrets::digest(&self.0.refresh_key.value_for(&uuid, 0)),
            uuid,
            scope: token.scope.clone(),
            login,
        });
        let write = IssueWrite::Authorized {
            client_id: token.client_id,
            chain,
        };
        let minted = self.mint(
            token.user,
            token.expiration,
            token.client,
            token.session_uuid,
            &write,
            Some(token.scope),
        );
        // Superseded: the user was disabled or deleted meanwhile.
        let issued = self.issue(minted, write, None).await?;
        issued.ok_or(DomainError::AuthenticationFailed)
    }
}

/// The token a code's redemption writes with it, as the authorization-code grant decided it
/// ([`Tokens::redeem_minting`]).
pub struct CodeToken<'a> {
    /// Seconds.
    pub expiration: i64,
    pub remote_addr: &'a str,
    pub user_agent: &'a str,
    /// A scope value that starts a refresh-token chain: a code holding it is left to the second
    /// path.
    pub chain_scope: Option<&'a str>,
    /// Scope values that grant no access: not in the token's scope.
    pub dropped: &'a [&'a str],
}

impl Tokens<'_> {
    /// Redeems a code and writes its user's token with it, with the session rules of a login (as
    /// [`Self::issue_authorized`] without a chain); the token's value and the code. `Err`: no
    /// token was written (a chain to start, the user disabled, gone or at the session bound),
    /// and the redemption as the store answered it: the second path decides.
    pub async fn redeem_minting(
        &self,
        redeem: &CodeRedeem<'_>,
        token: CodeToken<'_>,
    ) -> DomainResult<Result<(String, AuthorizationCode), CodeRedemption>> {
        let config = &self.0.config;
        let value = secrets::new_access_token();
        let write = CodeTokenWrite {
            token_digest: secrets::digest(&value),
            expires_at: redeem
                .now
                .saturating_add(token.expiration.saturating_mul(1_000_000)),
            remote_addr: token.remote_addr,
            user_agent: token.user_agent,
            session_limit: self.session_limit(),
            limited_purposes: LIMITED_PURPOSES,
            default_policy: config.default_user_policy.as_deref(),
            xivo_uuid: config.xivo_uuid.as_deref(),
            chain_scope: token.chain_scope,
            dropped: token.dropped,
        };
        let minted = match self.0.store.redeem_code_minting(redeem, &write).await? {
            Ok(minted) => minted,
            Err(redemption) => return Ok(Err(redemption)),
        };
        self.default_policy_found(minted.default_found);
        Ok(Ok((value, minted.code)))
    }
}
