//! The token use cases of SPEC §2–§3 and §7: the password and refresh-token grants, validation,
//! revocation, the scopes check and the purge. Throttling, cache invalidation and metrics happen
//! here, so that no face can forget them.

use std::sync::Arc;

use super::acl::Holder;
use super::cache::Invalidation;
use super::context::Context;
use super::error::{DomainError, DomainResult};
use super::grant::{self, token_grants};
use super::password::MAX_PASSWORD_BYTES;
use super::refresh_tokens;
use super::secrets::{self, redacted};
use super::throttle::{Account, Charge};
use super::untrusted::{self, Untrusted};
use crate::store::{
    AclParts, Issue, IssueRequest, OfflineGrant, RefreshGrantWrite, RefreshToken, Rotation,
    SessionShare, StoreError, SupersededValue, TokenMetadata, TokenRecord, User, LIMITED_PURPOSES,
};

/// Attempts of a refresh grant that keeps losing a race to write (each lost race reads the chain
/// again: a value another grant just rotated then answers its successor within the reuse grace,
/// or is a replay once the chain moved past that successor).
const GRANT_ATTEMPTS: usize = 20;

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

/// Expired tokens deleted per purge statement; small batches keep write locks short.
const PURGE_BATCH: i64 = 1000;

/// How an access token is minted.
enum Minting<'a> {
    /// A password login, online.
    Password,
    /// A password login that creates (or finds) the (user, client_id) refresh token.
    Offline {
        client_id: &'a str,
        login: &'a str,
        scope: Option<Vec<String>>,
    },
    /// A refresh grant: the token's scope, the rotation (if any) and the refresh token value
    /// the answer carries (rotation on, or a superseded value within the grace).
    Refresh {
        refresh: Box<RefreshToken>,
        scope: Option<Vec<String>>,
        rotation: Option<Rotation>,
        answer: Option<String>,
    },
}

/// A refresh token value that may mint, once looked up.
struct Redeemed {
    refresh: RefreshToken,
    user: User,
    /// What the token's ACL is made of, when read with the refresh token.
    acl: Option<AclParts>,
    /// False: a superseded value presented within the reuse grace.
    current: bool,
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

/// Most scopes one `scopes/check` request may ask about, and most bytes in all: the matching work
/// of one request is bounded (scopes × ACL entries), so that one client cannot slow every other
/// request's validation.
pub const MAX_CHECKED_SCOPES: usize = 100;
pub const MAX_CHECKED_SCOPES_BYTES: usize = 16 * 1024;

/// The token use cases.
pub struct Tokens<'a>(pub(super) &'a Context);

impl Tokens<'_> {
    /// POST /token: the refresh-token grant when the body has both `refresh_token` and
    /// `client_id`, else the password grant. A malformed request arrives as `Err`, to be counted.
    pub async fn create(&self, request: DomainResult<TokenRequest>) -> DomainResult<Issued> {
        let outcome = match request.and_then(checked_request) {
            Ok(request) => self.grant(request).await,
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

    async fn grant(&self, request: TokenRequest) -> DomainResult<Issued> {
        let ctx = self.0;
        let client = &request.client;
        let expiration = request
            .expiration
            .unwrap_or(i64::try_from(ctx.config.default_token_lifetime).unwrap_or(i64::MAX));
        let refresh_grant = match (&request.refresh_token, &request.client_id) {
            (Some(refresh_token), Some(client_id)) => Some((refresh_token, client_id)),
            _ => None,
        };
        let password_login = match refresh_grant {
            Some(_) => None,
            None => request.credentials.as_ref(),
        };
        // The login resolved to its user first, so that its username and e-mail addresses share
        // one count; an unknown (or oversized) login counts as typed.
        let (account, user) = match password_login {
            Some((login, password))
                if password.len() <= MAX_PASSWORD_BYTES && login.len() <= 1024 =>
            {
                let user = ctx.store.find_login_user(login).await?;
                let account = match &user {
                    Some(user) => Account::User(user.uuid.clone()),
                    None => Account::login(login),
                };
                (Some(account), user)
            }
            Some((login, _)) => (Some(Account::login(login)), None),
            None => (None, None),
        };
        // Brute-force protection: a password attempt is charged before any hashing, so that
        // attempts in flight count; a refresh token cannot be guessed, so its grant is only
        // checked (with its own read, in `redeem`), and charged if it fails. A held-back attempt
        // is not checked at all.
        let admitted = match refresh_grant {
            Some(_) => Ok(ctx.throttle.unguessable(&client.remote_addr)),
            None => {
                ctx.throttle
                    .charge(account.as_ref(), &client.remote_addr)
                    .await
            }
        };
        let charge = match admitted {
            Ok(charge) => charge,
            Err(error) => {
                if matches!(error, DomainError::HeldBack { .. }) {
                    tracing::info!(
                        login = ?password_login.map(|(login, _)| Untrusted(login)),
                        remote_addr = %Untrusted(&client.remote_addr),
                        "login held back"
                    );
                }
                return Err(error);
            }
        };
        let (outcome, login) = match refresh_grant {
            Some((refresh_token, client_id)) => {
                let outcome = self
                    .refresh(
                        refresh_token,
                        client_id,
                        request.scope.as_deref(),
                        expiration,
                        client,
                        &charge,
                    )
                    .await;
                if let Err(DomainError::HeldBack { .. }) = &outcome {
                    tracing::info!(
                        remote_addr = %Untrusted(&client.remote_addr),
                        "login held back"
                    );
                }
                (outcome, format!("refresh token of client {client_id}"))
            }
            None => match &request.credentials {
                None => {
                    tracing::info!(
                        remote_addr = %Untrusted(&client.remote_addr),
                        "login failed: no credentials"
                    );
                    ctx.throttle.not_a_guess(charge).await;
                    return Err(DomainError::AuthenticationFailed);
                }
                Some((login, password)) => {
                    let outcome = async {
                        if password.len() > MAX_PASSWORD_BYTES || login.len() > 1024 {
                            return Err(DomainError::AuthenticationFailed);
                        }
                        let user = ctx.authenticate(user, password).await?;
                        let minting = match (&request.client_id, request.offline) {
                            (Some(client_id), true) => Minting::Offline {
                                client_id,
                                login,
                                scope: request.scope.clone(),
                            },
                            _ => Minting::Password,
                        };
                        let session_uuid = uuid::Uuid::new_v4().to_string();
                        let issued = self
                            .issue(&user, None, expiration, client, session_uuid, minting)
                            .await?
                            .ok_or(DomainError::AuthenticationFailed)?;
                        self.still_valid_login(&user, issued).await
                    }
                    .await;
                    (outcome, login.clone())
                }
            },
        };
        let issued = match outcome {
            Ok(issued) => issued,
            Err(DomainError::AuthenticationFailed) => {
                tracing::info!(
                    login = %Untrusted(&login),
                    remote_addr = %Untrusted(&client.remote_addr),
                    "login failed"
                );
                ctx.throttle.failed(charge).await;
                return Err(DomainError::AuthenticationFailed);
            }
            Err(error) => {
                ctx.throttle.not_a_guess(charge).await;
                return Err(error);
            }
        };
        ctx.throttle.success(charge).await;
        tracing::info!(
            login = %Untrusted(&login),
            remote_addr = %Untrusted(&client.remote_addr),
            token = %format!("XXXXXXXX-XXXX-XXXX-XXXX-XXXX{}", redacted(&issued.view.token)),
            "token issued"
        );
        Ok(issued)
    }

    /// `issued`, unless its user was disabled or given a new password while the password was
    /// being verified: that change ended the user's sessions, and this one, committed after it
    /// read them, must end too.
    async fn still_valid_login(&self, user: &User, issued: Issued) -> DomainResult<Issued> {
        let store = &self.0.store;
        let hash = user.password_hash.as_deref().unwrap_or_default();
        if store.user_unchanged(&user.uuid, hash).await? {
            return Ok(issued);
        }
        store
            .revoke_token(&secrets::digest(&issued.view.token))
            .await?;
        Err(DomainError::AuthenticationFailed)
    }

    /// The refresh-token grant (SPEC §2, §9, §10). A grant that lost the race to rotate the
    /// value it presents reads it again: the value is then superseded, and the grace rule
    /// answers. A value that matches a refresh token is granted whatever its address's count (a
    /// held-back NAT must not stop the applications behind it); only one that matches nothing
    /// meets the address's hold-back (`charge`), as a guess.
    async fn refresh(
        &self,
        value: &str,
        client_id: &str,
        asked: Option<&[String]>,
        expiration: i64,
        client: &ClientContext,
        charge: &Charge,
    ) -> DomainResult<Issued> {
        let outcome = match self
            .refresh_once_settled(value, client_id, asked, expiration, client, &[])
            .await
        {
            Err(DomainError::AuthenticationFailed) => self
                .0
                .throttle
                .refuse_if_held(charge)
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
        outcome?.ok_or(DomainError::AuthenticationFailed)
    }

    /// `None`: a replay.
    async fn refresh_once_settled(
        &self,
        value: &str,
        client_id: &str,
        asked: Option<&[String]>,
        expiration: i64,
        client: &ClientContext,
        held_keys: &[String],
    ) -> DomainResult<Option<Issued>> {
        let ctx = self.0;
        let digest = secrets::digest(value);
        // The common grant, written in one statement; any other (a narrower scope, a rotation,
        // or one the statement's conditions refuse) is read first, and the read says why. (No
        // refresh token has a client_id with a NUL, which PostgreSQL refuses in text.)
        if asked.is_none() && !ctx.config.refresh_token_rotation && !client_id.contains('\0') {
            if let Some(issued) = self
                .refresh_in_one_write(&digest, client_id, expiration, client, held_keys)
                .await?
            {
                return Ok(Some(issued));
            }
        }
        for attempt in 0..GRANT_ATTEMPTS {
            // The address's hold-back is read with the first attempt only.
            let held_keys = if attempt == 0 { held_keys } else { &[] };
            let Some(Redeemed {
                refresh,
                user,
                acl,
                current,
            }) = self.redeem(&digest, client_id, held_keys).await?
            else {
                return Ok(None);
            };
            let session_uuid = uuid::Uuid::new_v4().to_string();
            let holder = Holder {
                auth_id: &user.uuid,
                session_uuid: &session_uuid,
            };
            let scope = grant::narrowed(refresh.scope.as_deref(), asked, holder)?;
            let next = refresh.generation.saturating_add(1);
            let rotation = (ctx.config.refresh_token_rotation && current).then(|| Rotation {
                from_generation: refresh.generation,
                old_digest: digest.clone(),
                new_digest: secrets::digest(&ctx.refresh_key.value_for(&refresh.uuid, next)),
            });
            let answer = match (&rotation, current) {
                (Some(_), _) => Some(ctx.refresh_key.value_for(&refresh.uuid, next)),
                // A superseded value within the grace: its successor, which `redeem` found to be
                // the chain's current value (and the write checks it still is); no new one.
                (None, false) => Some(ctx.refresh_key.value_of(&refresh)),
                (None, true) => None,
            };
            let minting = Minting::Refresh {
                refresh: Box::new(refresh),
                scope,
                rotation,
                answer,
            };
            if let Some(issued) = self
                .issue(&user, acl, expiration, client, session_uuid, minting)
                .await?
            {
                return Ok(Some(issued));
            }
        }
        Err(DomainError::AuthenticationFailed)
    }

    /// A refresh grant of the current value with the refresh token's own scope, without
    /// rotation: [`Store::write_refresh_grant`] holds the rules of `redeem` and `issue` as the
    /// conditions of one statement. `None`: one was not met and nothing was written.
    ///
    /// [`Store::write_refresh_grant`]: crate::store::Store::write_refresh_grant
    async fn refresh_in_one_write(
        &self,
        digest: &[u8],
        client_id: &str,
        expiration: i64,
        client: &ClientContext,
        held_keys: &[String],
    ) -> DomainResult<Option<Issued>> {
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
            default_policy: ctx.config.default_user_policy.as_deref(),
            xivo_uuid: ctx.config.xivo_uuid.as_deref(),
            held_keys,
        };
        let granted = match ctx.store.write_refresh_grant(&write).await {
            Ok(Some(granted)) => granted,
            Ok(None) => return Ok(None),
            // The user was deleted meanwhile: the read tells.
            Err(StoreError::Gone(_)) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        Ok(Some(Issued {
            view: TokenView {
                token: value,
                record: Arc::new(TokenRecord {
                    session_uuid,
                    auth_id: granted.auth_id,
                    issued_at: now,
                    expires_at,
                    acl: granted.acl,
                    metadata: granted.metadata,
                    remote_addr: client.remote_addr.clone(),
                    user_agent: client.user_agent.clone(),
                    scope: granted.scope,
                }),
                xivo_uuid: ctx.config.xivo_uuid.clone(),
                refresh_token: None,
            },
            sessions_revoked: 0,
        }))
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
    fn session_limit(&self) -> i64 {
        i64::try_from(self.0.config.max_user_concurrent_sessions).unwrap_or(i64::MAX)
    }

    /// The refresh token a value names, for `client_id` (exact match), with its still-enabled
    /// user; `current` is false for a superseded value within the reuse grace whose successor is
    /// the chain's current value. Any other superseded value (presented after the grace, or once
    /// the chain has moved past its successor) is a replay: the whole chain and every session
    /// minted from it are revoked (RFC 9700 §4.14): `None`.
    async fn redeem(
        &self,
        digest: &[u8],
        client_id: &str,
        held_keys: &[String],
    ) -> DomainResult<Option<Redeemed>> {
        let ctx = self.0;
        let store = &ctx.store;
        let now = ctx.clock.now_micros();
        let default_policy = ctx.config.default_user_policy.as_deref();
        // The current value, its user and their ACL, and the address's hold-back, in one read;
        // a superseded value is rarer.
        let read = store
            .find_refresh_grant(digest, default_policy, held_keys)
            .await?;
        // Held back: nothing else is looked at (a replayed value revokes nothing).
        ctx.throttle.held_back(read.held_until)?;
        let (refresh, user, acl, current) = match read.grant {
            Some(grant) => (grant.refresh, grant.user, Some(grant.acl), true),
            None => match store.find_superseded_refresh_token(digest).await? {
                Some(SupersededValue {
                    chain: refresh,
                    superseded_at,
                    generation,
                }) if refresh.client_id == client_id => {
                    let grace = i64::try_from(ctx.config.refresh_token_reuse_grace)
                        .unwrap_or(i64::MAX)
                        .saturating_mul(1_000_000);
                    // Within the grace the value answers its own successor, and only while that
                    // is still the chain's current value (SPEC §10: the *same* successor); once
                    // the chain moved past it, someone else holds a later value: a replay.
                    let successor_current = refresh.generation == generation.saturating_add(1);
                    if now.saturating_sub(superseded_at) >= grace || !successor_current {
                        let sessions = store.end_refresh_token(&refresh.uuid).await?;
                        ctx.invalidate(Invalidation::User(refresh.user_uuid.clone()))
                            .await;
                        ctx.metrics.revoked("refresh_token");
                        tracing::warn!(
                            client_id = %Untrusted(client_id),
                            user_uuid = %refresh.user_uuid,
                            sessions,
                            "superseded refresh token replayed: its chain and sessions are revoked"
                        );
                        return Ok(None);
                    }
                    let user = store.get_user_for_token(&refresh.user_uuid).await?;
                    (refresh, user, None, false)
                }
                _ => return Err(DomainError::AuthenticationFailed),
            },
        };
        if refresh.client_id != client_id
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
            acl,
            current,
        }))
    }

    /// The ACL a new token receives: the default policy's, then the user's policies'.
    fn token_acl(&self, parts: AclParts) -> Vec<String> {
        let mut acl = Vec::new();
        if let Some(name) = &self.0.config.default_user_policy {
            match parts.default {
                Some(default) => acl.extend(default),
                None => tracing::warn!(
                    policy = %Untrusted(name),
                    "default_user_policy does not exist"
                ),
            }
        }
        acl.extend(parts.policies);
        acl
    }

    /// Issues an access token for `user` in session `session_uuid`, as `minting` says, with the
    /// ACL made of `acl` (read here when `None`). `None`:
    /// the refresh token of a grant changed meanwhile (read it again).
    async fn issue(
        &self,
        user: &User,
        acl: Option<AclParts>,
        expiration: i64,
        client: &ClientContext,
        session_uuid: String,
        minting: Minting<'_>,
    ) -> DomainResult<Option<Issued>> {
        let ctx = self.0;
        let now = ctx.clock.now_micros();
        let session_limit = LIMITED_PURPOSES
            .contains(&user.purpose.as_str())
            .then(|| self.session_limit());
        // Grants count in their own share of the session cap, never in the password logins'.
        let session_share = match &minting {
            Minting::Refresh { .. } => SessionShare::Grants,
            Minting::Password | Minting::Offline { .. } => SessionShare::Logins,
        };
        let acl = match acl {
            Some(parts) => parts,
            None => {
                let default_policy = ctx.config.default_user_policy.as_deref();
                ctx.store.acl_parts(&user.uuid, default_policy).await?
            }
        };
        let acl = self.token_acl(acl);
        let metadata = TokenMetadata {
            auth_id: user.uuid.clone(),
            pbx_user_uuid: (user.purpose == "user").then(|| user.uuid.clone()),
            purpose: user.purpose.clone(),
            tenant_uuid: user.tenant_uuid.clone(),
            uuid: user.uuid.clone(),
            xivo_uuid: ctx.config.xivo_uuid.clone(),
        };
        let value = secrets::new_access_token();
        let (scope, offline, from_refresh_token, rotation, answer) = match minting {
            Minting::Password => (None, None, None, None, None),
            Minting::Offline {
                client_id,
                login,
                scope,
            } => {
                let new_uuid = uuid::Uuid::new_v4().to_string();
                let offline = OfflineGrant {
                    new_digest: secrets::digest(&ctx.refresh_key.value_for(&new_uuid, 0)),
                    new_uuid,
                    client_id: client_id.to_string(),
                    login: login.to_string(),
                    scope: scope.clone(),
                    expired: refresh_tokens::cutoffs(&ctx.config, now),
                };
                (scope, Some(offline), None, None, None)
            }
            Minting::Refresh {
                refresh,
                scope,
                rotation,
                answer,
            } => (scope, None, Some(*refresh), rotation, answer),
        };
        let mark_refresh_token_used = from_refresh_token
            .as_ref()
            .is_some_and(|from| refresh_tokens::use_worth_recording(from, &ctx.config, now));
        let request = IssueRequest {
            token_digest: secrets::digest(&value),
            session_uuid,
            user_uuid: user.uuid.clone(),
            tenant_uuid: user.tenant_uuid.clone(),
            mobile: client.mobile,
            issued_at: now,
            expires_at: now.saturating_add(expiration.saturating_mul(1_000_000)),
            acl,
            metadata,
            remote_addr: client.remote_addr.clone(),
            user_agent: client.user_agent.clone(),
            scope,
            from_refresh_token,
            rotation,
            offline,
            session_share,
            session_limit,
            mark_refresh_token_used,
        };
        let issued = match ctx.store.issue_token(&request).await {
            Ok(Issue::Issued(issued)) => issued,
            Ok(Issue::SessionLimit) => return Err(DomainError::TooManySessions(user.uuid.clone())),
            Ok(Issue::Superseded) => return Ok(None),
            // The user was deleted since they were read: nobody to issue a token to.
            Err(StoreError::Gone(_)) => return Err(DomainError::AuthenticationFailed),
            Err(error) => return Err(error.into()),
        };
        if issued.sessions_revoked > 0 {
            ctx.invalidate(Invalidation::User(user.uuid.clone())).await;
        }
        let refresh_token = match issued.refresh_token {
            Some(row) => Some(ctx.refresh_key.value_of(&row)),
            None => answer,
        };
        Ok(Some(Issued {
            view: TokenView {
                token: value,
                record: Arc::new(TokenRecord {
                    session_uuid: request.session_uuid,
                    auth_id: request.user_uuid,
                    issued_at: request.issued_at,
                    expires_at: request.expires_at,
                    acl: request.acl,
                    metadata: request.metadata,
                    remote_addr: request.remote_addr,
                    user_agent: request.user_agent,
                    scope: request.scope,
                }),
                xivo_uuid: ctx.config.xivo_uuid.clone(),
                refresh_token,
            },
            sessions_revoked: issued.sessions_revoked,
        }))
    }

    /// HEAD/GET /token/{t}: the live token, checked in this order: unknown or expired, then the
    /// `scope`, then the `tenant` (SPEC §3).
    pub async fn validate(
        &self,
        value: &str,
        scope: Option<&str>,
        tenant: Option<&str>,
    ) -> DomainResult<TokenView> {
        let outcome = self.checked(value, scope, tenant).await;
        self.count_validation(&outcome);
        outcome
    }

    /// HEAD /token/{t}: the checks of [`Self::validate`], without the description. With neither
    /// scope nor tenant there is nothing to check but that the token is live, and (cache off)
    /// nothing else is read.
    pub async fn check(
        &self,
        value: &str,
        scope: Option<&str>,
        tenant: Option<&str>,
    ) -> DomainResult<()> {
        if scope.is_some() || tenant.is_some() {
            return self.validate(value, scope, tenant).await.map(drop);
        }
        let outcome = async {
            let value = token_value(value)?;
            match self.0.token_is_live(&value).await? {
                true => Ok(()),
                false => Err(DomainError::NoSuchToken),
            }
        }
        .await;
        self.count_validation(&outcome);
        outcome
    }

    fn count_validation<T>(&self, outcome: &DomainResult<T>) {
        self.0.metrics.validation(match outcome {
            Ok(_) => "valid",
            Err(DomainError::NoSuchToken) => "not_found",
            Err(DomainError::ScopeNotGranted(_) | DomainError::TenantNotGranted(_)) => "forbidden",
            Err(_) => "error",
        });
    }

    async fn checked(
        &self,
        value: &str,
        scope: Option<&str>,
        tenant: Option<&str>,
    ) -> DomainResult<TokenView> {
        let value = token_value(value)?;
        let record = self
            .0
            .lookup_token(&value)
            .await?
            .ok_or(DomainError::NoSuchToken)?;
        if let Some(scope) = scope {
            // A scope no access string can hold (control characters) is never granted.
            if scope.chars().any(char::is_control) || !token_grants(&record, scope) {
                return Err(DomainError::ScopeNotGranted(scope.to_string()));
            }
        }
        if let Some(tenant) = tenant {
            if record.metadata.tenant_uuid != tenant {
                return Err(DomainError::TenantNotGranted(tenant.to_string()));
            }
        }
        Ok(self.view(&value, record))
    }

    fn view(&self, value: &str, record: Arc<TokenRecord>) -> TokenView {
        TokenView {
            token: value.to_string(),
            record,
            xivo_uuid: self.0.config.xivo_uuid.clone(),
            refresh_token: None,
        }
    }

    /// DELETE /token/{t}: ends the access token's session, or revokes the refresh token with
    /// this value and the sessions minted from it; a success for unknown values too.
    pub async fn revoke(&self, value: &str) -> DomainResult<()> {
        let digest = secrets::digest(&token_value(value)?);
        self.0.store.revoke_token(&digest).await?;
        self.0
            .invalidate(Invalidation::Token(hex::encode(&digest)))
            .await;
        if let Some(user_uuid) = self.0.store.revoke_refresh_token(&digest).await? {
            self.0.invalidate(Invalidation::User(user_uuid)).await;
            self.0.metrics.revoked("refresh_token");
        }
        self.0.metrics.revoked("token");
        Ok(())
    }

    /// POST /token/{t}/scopes/check: for each scope, whether the token grants it.
    pub async fn check_scopes(
        &self,
        value: &str,
        request: DomainResult<ScopesCheck>,
    ) -> DomainResult<Vec<(String, bool)>> {
        let value = token_value(value)?;
        let request = request?;
        if request.scopes.len() > MAX_CHECKED_SCOPES
            || request.scopes.iter().map(String::len).sum::<usize>() > MAX_CHECKED_SCOPES_BYTES
        {
            return Err(DomainError::BadRequest(format!(
                "Invalid value supplied for field: scopes (at most {MAX_CHECKED_SCOPES} scopes \
                 of {MAX_CHECKED_SCOPES_BYTES} bytes in all)"
            )));
        }
        let record = self
            .0
            .lookup_token(&value)
            .await?
            .ok_or(DomainError::NoSuchToken)?;
        if let Some(tenant) = &request.tenant {
            if &record.metadata.tenant_uuid != tenant {
                return Err(DomainError::TenantNotGranted(tenant.clone()));
            }
        }
        Ok(request
            .scopes
            .into_iter()
            .map(|scope| {
                let granted = token_grants(&record, &scope);
                (scope, granted)
            })
            .collect())
    }

    /// Expired refresh tokens go with the sessions minted from them, whose access tokens may
    /// still be live: those stop validating at once (SPEC §10). Returns the number of sessions.
    async fn purge_expired_refresh_tokens(&self) -> DomainResult<u64> {
        let ctx = self.0;
        let mut sessions = 0;
        while let Some(cutoffs) = refresh_tokens::cutoffs(&ctx.config, ctx.clock.now_micros()) {
            let (purged, ended, users) = ctx
                .store
                .purge_expired_refresh_tokens(cutoffs, PURGE_BATCH)
                .await?;
            sessions += ended;
            let mut users = users;
            users.sort();
            users.dedup();
            for user in users {
                ctx.invalidate(Invalidation::User(user)).await;
            }
            if purged < PURGE_BATCH.unsigned_abs() {
                break;
            }
        }
        Ok(sessions)
    }

    /// Deletes every expired token and its session, and every expired refresh token with the
    /// sessions minted from it, in batches. Returns the number of sessions.
    pub async fn purge_expired(&self) -> DomainResult<u64> {
        let mut total = 0;
        loop {
            let now = self.0.clock.now_micros();
            let purged = self.0.store.purge_expired(now, PURGE_BATCH).await?;
            total += purged;
            if purged < PURGE_BATCH.unsigned_abs() {
                break;
            }
        }
        total += self.purge_expired_refresh_tokens().await?;
        // Brute-force counts go with the tokens: only those forgotten and holding nothing back.
        match self.0.throttle.purge().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(counts = n, "purged forgotten brute-force counts"),
            Err(error) => tracing::warn!(%error, "purge of brute-force counts failed"),
        }
        Ok(total)
    }
}
