//! The password grant (SPEC §2): online, one token; offline, a token and the (user, client_id)
//! refresh token, with the mobile rules.

use super::{held_back, ClientContext, Issued, TokenRequest, Tokens};
use crate::domain::context::Context;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::password::MAX_PASSWORD_BYTES;
use crate::domain::refresh_tokens;
use crate::domain::secrets;
use crate::domain::throttle::Account;
use crate::domain::throttle::Attempt;
use crate::store::{IssueWrite, OfflineWrite, Replace, User};

/// Longest login looked up: a longer one names no user (and is never hashed against).
const MAX_LOGIN_BYTES: usize = 1024;

/// A password attempt the throttle admitted, with the user its login names.
pub(crate) struct ChargedPassword<'a> {
    pub attempt: Attempt<'a>,
    /// The user the login names (`None`: none, so the password is checked against nobody);
    /// `Err` for a login or password too long to be checked at all.
    pub user: DomainResult<Option<User>>,
}

impl Context {
    /// Charges a password attempt (SPEC §8), before any hashing, so that attempts in flight
    /// count, to the user the login resolves to (so that its username and e-mail addresses share
    /// one count); an unknown (or oversized) login counts as typed. `HeldBack` is not charged.
    /// Every password face (`POST /token`, the login page) starts here.
    pub(crate) async fn charge_password(
        &self,
        login: &str,
        password: &str,
        address: &str,
    ) -> DomainResult<ChargedPassword<'_>> {
        // A NUL names no user (PostgreSQL's text cannot even hold it): counted, never looked up.
        let oversized = password.len() > MAX_PASSWORD_BYTES
            || login.len() > MAX_LOGIN_BYTES
            || login.contains('\0');
        let user = match oversized {
            true => None,
            false => self.store.find_login_user(login).await?,
        };
        let account = match &user {
            Some(user) => Account::User(user.uuid.clone()),
            None => Account::login(login),
        };
        let attempt = self.throttle.attempt(Some(&account), address).await?;
        Ok(ChargedPassword {
            attempt,
            user: match oversized {
                true => Err(DomainError::AuthenticationFailed),
                false => Ok(user),
            },
        })
    }
}

impl Tokens<'_> {
    /// The password grant. Brute-force protection: the attempt is charged before any hashing,
    /// so that attempts in flight count, to the user the login resolves to (so that its username
    /// and e-mail addresses share one count); an unknown (or oversized) login counts as typed. A
    /// held-back attempt is not checked at all.
    pub(super) async fn password_grant(
        &self,
        request: &TokenRequest,
        login: &str,
        password: &str,
        expiration: i64,
    ) -> DomainResult<Issued> {
        let client = &request.client;
        let charged = self
            .0
            .charge_password(login, password, &client.remote_addr)
            .await;
        let charged = charged.inspect_err(|error| held_back(error, Some(login), client))?;
        let outcome = match charged.user {
            Ok(user) => self.login(request, user, login, password, expiration).await,
            Err(refused) => Err(refused),
        };
        self.settle(charged.attempt, outcome, login, client).await
    }

    /// A login whose password is checked against `user` (hashed even when there is none).
    async fn login(
        &self,
        request: &TokenRequest,
        user: Option<User>,
        login: &str,
        password: &str,
        expiration: i64,
    ) -> DomainResult<Issued> {
        let user = self.0.authenticate(user, password).await?;
        if let (Some(client_id), true) = (&request.client_id, request.offline) {
            self.refuse_oauth2_client(client_id).await?;
        }
        let client = &request.client;
        let session_uuid = uuid::Uuid::new_v4().to_string();
        let write = match (&request.client_id, request.offline) {
            (Some(client_id), true) => {
                let scope = request.scope.clone();
                IssueWrite::Offline(self.offline_write(client_id, login, scope, client))
            }
            _ => IssueWrite::Login,
        };
        // An offline login's token has the scope of its refresh token (SPEC §9).
        let scope = match &write {
            IssueWrite::Offline(offline) => offline.scope.clone(),
            _ => None,
        };
        let minted = self.mint(&user, expiration, client, session_uuid, &write, scope);
        let issued = self.issue(minted, write, None).await?;
        let issued = issued.ok_or(DomainError::AuthenticationFailed)?;
        self.still_valid_login(&user, issued).await
    }

    /// Refuses an offline login naming a registered OAuth2 client, in any spelling of its uuid
    /// (SPEC §11: each face redeems only its own refresh tokens). Checked once the password is,
    /// so that it tells nothing to a caller without one.
    async fn refuse_oauth2_client(&self, client_id: &str) -> DomainResult<()> {
        let Some(uuid) = crate::domain::parse_uuid(client_id) else {
            return Ok(());
        };
        match self.0.store.get_client(&uuid).await? {
            Some(_) => Err(DomainError::invalid(
                "client_id",
                "This client_id names a registered OAuth2 client: its tokens come from \
                 /oauth2/token.",
            )),
            None => Ok(()),
        }
    }

    /// The refresh token of an offline login, by the rules of SPEC §2: a mobile login replaces
    /// the (user, client_id) refresh token with a new one, and its user keeps only one mobile
    /// refresh token; an expired one is replaced too (its value no longer works); otherwise a
    /// second login keeps the value and sets the scope it asked.
    fn offline_write(
        &self,
        client_id: &str,
        login: &str,
        scope: Option<Vec<String>>,
        client: &ClientContext,
    ) -> OfflineWrite {
        let ctx = self.0;
        let now = ctx.clock.now_micros();
        let replace = match (client.mobile, refresh_tokens::cutoffs(&ctx.config, now)) {
            (true, _) => Replace::Always,
            (false, Some(cutoffs)) => Replace::IfExpired(cutoffs),
            (false, None) => Replace::Never,
        };
        let new_uuid = uuid::Uuid::new_v4().to_string();
        OfflineWrite {
            new_digest: secrets::digest(&ctx.refresh_key.value_for(&new_uuid, 0)),
            new_uuid,
            client_id: client_id.to_string(),
            login: login.to_string(),
            scope,
            replace,
            end_other_mobile: client.mobile,
        }
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
}
