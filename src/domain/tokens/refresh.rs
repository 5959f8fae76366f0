//! The refresh-token grant (SPEC §2, §9, §10). Two write paths:
//!
//! - the common grant (the current value, its own scope, no rotation) is one statement
//!   ([`Store::write_refresh_grant`]); when it writes nothing it says why ([`GrantRefusal`]),
//!   and that reason decides: an unknown value may be a superseded one (the reuse grace), a
//!   session bound at the limit is counted exactly, anything else is refused;
//! - every other grant (a narrower scope, a rotation, a superseded value within the grace, or
//!   one the statement sent here) reads the refresh token first, then writes the token
//!   conditionally ([`Store::issue_token`]); a grant that lost the race to rotate the value it
//!   presents reads it again: the value is then superseded, and the grace rule answers.
//!
//! [`Store::write_refresh_grant`]: crate::store::Store::write_refresh_grant
//! [`Store::issue_token`]: crate::store::Store::issue_token

use super::{ClientContext, Issued, TokenRequest, Tokens};
use crate::domain::acl::Holder;
use crate::domain::cache::Invalidation;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::grant;
use crate::domain::refresh_tokens;
use crate::domain::secrets;
use crate::domain::untrusted::Untrusted;
use crate::store::{
    GrantRefusal, IssueWrite, RefreshGrantOutcome, RefreshGrantWrite, RefreshToken, Rotation,
    StoreError, SupersededValue, TokenRecord, User,
};

use super::issue::LIMITED_PURPOSES;

/// Attempts of a refresh grant that keeps losing a race to write (each lost race reads the chain
/// again: a value another grant just rotated then answers its successor within the reuse grace,
/// or is a replay once the chain moved past that successor).
const GRANT_ATTEMPTS: usize = 20;

/// Where the read of a grant's value starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lookup {
    /// Among current values.
    Current,
    /// Among superseded values: the one statement found no current value.
    Superseded,
}

/// Which face redeems a value: each redeems only its own refresh tokens (SPEC §11). An OAuth2
/// chain always rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Face {
    Wazo,
    /// `pinned`: the revision of the remembered client copy the grant is for (`None`: the
    /// client as read).
    OAuth2 {
        pinned: Option<i64>,
    },
}

impl Face {
    /// Whether `refresh` is this face's.
    fn owns(self, refresh: &RefreshToken) -> bool {
        refresh.oauth2 == self.oauth2()
    }

    fn oauth2(self) -> bool {
        matches!(self, Face::OAuth2 { .. })
    }

    /// The revision of a remembered client copy, if the grant is for one.
    fn pinned(self) -> Option<i64> {
        match self {
            Face::OAuth2 { pinned } => pinned,
            Face::Wazo => None,
        }
    }
}

/// A refresh token value that may mint, once looked up.
struct Redeemed {
    refresh: RefreshToken,
    user: User,
    /// False: a superseded value presented within the reuse grace.
    current: bool,
}

impl Tokens<'_> {
    /// The refresh-token grant. A value that matches a refresh token is granted whatever its
    /// address's count (a held-back NAT must not stop the applications behind it); only one that
    /// matches nothing meets the address's hold-back, as a guess.
    pub(super) async fn refresh_grant(
        &self,
        request: &TokenRequest,
        value: &str,
        client_id: &str,
        expiration: i64,
    ) -> DomainResult<Issued> {
        let client = &request.client;
        let attempt = self.0.throttle.unguessable(&client.remote_addr);
        let asked = request.scope.as_deref();
        let outcome = match self
            .refresh(value, client_id, asked, expiration, client, Face::Wazo)
            .await
        {
            Err(DomainError::AuthenticationFailed) => attempt
                .refuse_if_held()
                .await
                .and(Err(DomainError::AuthenticationFailed)),
            outcome => outcome,
        };
        self.0.metrics.refresh_grant(match &outcome {
            Ok(Some(_)) => "success",
            Ok(None) => "replayed",
            Err(DomainError::AuthenticationFailed) => "failed",
            Err(DomainError::InvalidScope(_)) => "invalid",
            Err(DomainError::HeldBack { .. }) => "held_back",
            Err(_) => "error",
        });
        let outcome = outcome.and_then(|issued| issued.ok_or(DomainError::AuthenticationFailed));
        if let Err(DomainError::HeldBack { .. }) = &outcome {
            tracing::info!(remote_addr = %Untrusted(&client.remote_addr), "login held back");
        }
        let login = format!("refresh token of client {client_id}");
        self.settle(attempt, outcome, &login, client).await
    }

    /// An OAuth2 client's refresh grant (SPEC §11.4): its own chains only, always rotating.
    /// `None`: a replay (the chain and its sessions are revoked). With `pinned` (the revision of
    /// a remembered copy of the client), only a current value of a client still at that revision
    /// is granted; anything else fails with nothing written or revoked, to be decided again on the
    /// client as read.
    pub(crate) async fn oauth2_refresh(
        &self,
        value: &str,
        client_id: &str,
        asked: Option<&[String]>,
        (expiration, pinned): (i64, Option<i64>),
        client: &ClientContext,
    ) -> DomainResult<Option<Issued>> {
        let face = Face::OAuth2 { pinned };
        self.refresh(value, client_id, asked, expiration, client, face)
            .await
    }

    /// `None`: a replay.
    async fn refresh(
        &self,
        value: &str,
        client_id: &str,
        asked: Option<&[String]>,
        expiration: i64,
        client: &ClientContext,
        face: Face,
    ) -> DomainResult<Option<Issued>> {
        let digest = secrets::digest(value);
        // (No refresh token has a client_id with a NUL, which PostgreSQL refuses in text.)
        let common = face == Face::Wazo
            && asked.is_none()
            && !self.0.config.refresh_token_rotation
            && !client_id.contains('\0');
        let mut lookup = Lookup::Current;
        if common {
            match self
                .refresh_in_one_write(&digest, client_id, expiration, client)
                .await?
            {
                Ok(issued) => return Ok(Some(issued)),
                // Perhaps a superseded value, within the reuse grace or replayed.
                Err(GrantRefusal::UnknownValue) => lookup = Lookup::Superseded,
                // Read, then count exactly (or write again after a race).
                Err(GrantRefusal::SessionBound | GrantRefusal::Changed) => {}
                Err(
                    GrantRefusal::WrongClient | GrantRefusal::Expired | GrantRefusal::UserDisabled,
                ) => return Err(DomainError::AuthenticationFailed),
            }
        }
        for attempt in 0..GRANT_ATTEMPTS {
            let lookup = if attempt == 0 {
                lookup
            } else {
                Lookup::Current
            };
            let Some(redeemed) = self.redeem(&digest, client_id, lookup, face).await? else {
                return Ok(None);
            };
            let rotate = face.oauth2() || self.0.config.refresh_token_rotation;
            let minted = self.mint_from(redeemed, &digest, asked, (expiration, rotate), client);
            if let Some(issued) = minted.await? {
                return Ok(Some(issued));
            }
        }
        Err(DomainError::AuthenticationFailed)
    }

    /// The second path: a token from a redeemed value, for `expiration` seconds, with the scope
    /// asked (or the refresh token's), rotating the value when `rotate`. `None`: the refresh
    /// token changed meanwhile (read it again).
    async fn mint_from(
        &self,
        redeemed: Redeemed,
        digest: &[u8],
        asked: Option<&[String]>,
        (expiration, rotate): (i64, bool),
        client: &ClientContext,
    ) -> DomainResult<Option<Issued>> {
        let ctx = self.0;
        let Redeemed {
            refresh,
            user,
            current,
        } = redeemed;
        let session_uuid = uuid::Uuid::new_v4().to_string();
        let holder = Holder {
            auth_id: &user.uuid,
            session_uuid: &session_uuid,
        };
        let mut scope = grant::narrowed(refresh.scope.as_deref(), asked, holder)?;
        if refresh.oauth2 {
            scope = grant::keeping_oidc(refresh.scope.as_deref(), scope);
        }
        let next = refresh.generation.saturating_add(1);
        let now = ctx.clock.now_micros();
        let (write, answer) = match (rotate && current, current) {
            (true, _) => {
                let successor = ctx.refresh_key.value_for(&refresh.uuid, next);
                let rotation = Rotation {
                    old_digest: digest.to_vec(),
                    new_digest: secrets::digest(&successor),
                };
                let write = IssueWrite::Rotating {
                    from: &refresh,
                    rotation,
                };
                (write, Some(successor))
            }
            (false, current) => {
                let mark_used = refresh_tokens::use_worth_recording(&refresh, &ctx.config, now);
                let write = IssueWrite::Grant {
                    from: &refresh,
                    mark_used,
                };
                // A superseded value within the grace: its successor, which `redeem` found to be
                // the chain's current value (and the write checks it still is); no new one.
                (
                    write,
                    (!current).then(|| ctx.refresh_key.value_of(&refresh)),
                )
            }
        };
        let minted = self.mint(&user, expiration, client, session_uuid, &write, scope);
        self.issue(minted, write, answer).await
    }

    /// The common grant in one statement: the current value with the refresh token's own
    /// scope, without rotation. `Err`: why the statement wrote nothing.
    async fn refresh_in_one_write(
        &self,
        digest: &[u8],
        client_id: &str,
        expiration: i64,
        client: &ClientContext,
    ) -> DomainResult<Result<Issued, GrantRefusal>> {
        let ctx = self.0;
        let now = ctx.clock.now_micros();
        let value = secrets::new_access_token();
        let session_uuid = uuid::Uuid::new_v4().to_string();
        let expires_at = now.saturating_add(expiration.saturating_mul(1_000_000));
        let write = RefreshGrantWrite {
            refresh_digest: digest,
            client_id,
            token_digest: secrets::digest(&value),
            session_uuid: &session_uuid,
            mobile: client.mobile,
            issued_at: now,
            expires_at,
            remote_addr: &client.remote_addr,
            user_agent: &client.user_agent,
            cutoffs: refresh_tokens::cutoffs(&ctx.config, now),
            used_before: refresh_tokens::use_recorded_if_before(&ctx.config, now),
            session_limit: self.session_limit(),
            limited_purposes: LIMITED_PURPOSES,
            default_policy: ctx.config.default_user_policy.as_deref(),
            xivo_uuid: ctx.config.xivo_uuid.as_deref(),
        };
        let granted = match ctx.store.write_refresh_grant(&write).await {
            Ok(RefreshGrantOutcome::Granted(granted)) => granted,
            Ok(RefreshGrantOutcome::Refused(why)) => return Ok(Err(why)),
            // The user was deleted meanwhile: the read tells.
            Err(StoreError::Gone(_)) => return Ok(Err(GrantRefusal::Changed)),
            Err(error) => return Err(error.into()),
        };
        self.default_policy_found(granted.default_found);
        let record = TokenRecord {
            session_uuid,
            auth_id: granted.auth_id,
            issued_at: now,
            expires_at,
            acl: granted.acl,
            metadata: granted.metadata,
            remote_addr: client.remote_addr.clone(),
            user_agent: client.user_agent.clone(),
            scope: granted.scope,
        };
        Ok(Ok(Issued {
            view: self.new_view(value, record, None),
            sessions_revoked: 0,
        }))
    }

    /// The refresh token a value names, for `client_id` (exact match), with its still-enabled
    /// user; `current` is false for a superseded value within the reuse grace whose successor is
    /// the chain's current value. Any other superseded value is a replay ([`Self::replayed`]):
    /// `None`.
    async fn redeem(
        &self,
        digest: &[u8],
        client_id: &str,
        lookup: Lookup,
        face: Face,
    ) -> DomainResult<Option<Redeemed>> {
        let ctx = self.0;
        let pinned = face.pinned();
        let found = match lookup {
            Lookup::Current => {
                let client = pinned.map(|_| client_id);
                ctx.store.find_refresh_grant(digest, client).await?
            }
            Lookup::Superseded => None,
        };
        // A remembered client's copy serves only a current value, while the client is still at
        // its revision: a superseded value (the grace, or a replay that revokes) is decided on
        // the client as read.
        if pinned.is_some() && found.as_ref().map(|grant| grant.client_revision) != Some(pinned) {
            return Err(DomainError::AuthenticationFailed);
        }
        let (refresh, user, current) = match found {
            Some(grant) => (grant.refresh, grant.user, true),
            None => match self.within_grace(digest, client_id, face).await? {
                Some((refresh, user)) => (refresh, user, false),
                None => return Ok(None),
            },
        };
        let now = ctx.clock.now_micros();
        if refresh.client_id != client_id
            || !face.owns(&refresh)
            || refresh_tokens::expired(&refresh, refresh_tokens::cutoffs(&ctx.config, now))
        {
            return Err(DomainError::AuthenticationFailed);
        }
        let user = user
            .filter(|u| u.enabled)
            .ok_or(DomainError::AuthenticationFailed)?;
        Ok(Some(Redeemed {
            refresh,
            user,
            current,
        }))
    }

    /// The chain of a superseded value of `client_id`'s and its user, while the value answers
    /// its own successor: within the grace, and only while that is still the chain's current
    /// value (SPEC §10: the *same* successor). `None`: a replay (revoked). A value that matches
    /// nothing is refused.
    async fn within_grace(
        &self,
        digest: &[u8],
        client_id: &str,
        face: Face,
    ) -> DomainResult<Option<(RefreshToken, Option<User>)>> {
        let ctx = self.0;
        let Some(SupersededValue {
            chain,
            superseded_at,
            generation,
        }) = ctx.store.find_superseded_refresh_token(digest).await?
        else {
            return Err(DomainError::AuthenticationFailed);
        };
        if chain.client_id != client_id || !face.owns(&chain) {
            return Err(DomainError::AuthenticationFailed);
        }
        let grace = i64::try_from(ctx.config.refresh_token_reuse_grace)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000);
        // Once the chain moved past the successor, someone else holds a later value.
        let successor_current = chain.generation == generation.saturating_add(1);
        let now = ctx.clock.now_micros();
        if now.saturating_sub(superseded_at) >= grace || !successor_current {
            self.replayed(&chain, client_id).await?;
            return Ok(None);
        }
        let user = ctx.store.get_user_for_token(&chain.user_uuid).await?;
        Ok(Some((chain, user)))
    }

    /// A superseded value replayed: the whole chain and every session minted from it are
    /// revoked (RFC 9700 §4.14).
    async fn replayed(&self, chain: &RefreshToken, client_id: &str) -> DomainResult<()> {
        let ctx = self.0;
        let sessions = ctx.store.end_refresh_token(&chain.uuid).await?;
        ctx.invalidate(Invalidation::User(chain.user_uuid.clone()))
            .await;
        ctx.metrics.revoked("refresh_token");
        tracing::warn!(
            client_id = %Untrusted(client_id),
            user_uuid = %chain.user_uuid,
            sessions,
            "superseded refresh token replayed: its chain and sessions are revoked"
        );
        Ok(())
    }
}
