//! The user use cases: create, list, read, edit, delete, change a password, and the bootstrap
//! administrator. Every change that ends sessions invalidates the validation cache here.

use super::cache::Invalidation;
use super::caller::Actor;
use super::context::Context;
use super::error::{DomainError, DomainResult, OnConflict};
use super::password::MAX_PASSWORD_BYTES;
use super::policies::BOOTSTRAP_POLICY;
use super::records::{ListParams, Page, UserView};
use super::throttle::Account;
use super::untrusted;
use crate::store::{NewUser, User, UserUpdate};

/// The settings key recording the bootstrap administrator's uuid: its identity, whatever its
/// username.
const BOOTSTRAP_ADMIN_KEY: &str = "bootstrap_admin_uuid";

pub const PURPOSES: &[&str] = &["user", "internal", "external_api"];
pub const AUTHENTICATION_METHODS: &[&str] = &["default", "native", "ldap", "saml"];
pub use crate::store::{USER_FILTERS, USER_ORDER};

/// A user to create (POST /users, `tessera user add`).
#[derive(Clone, Debug, Default)]
pub struct NewUserInput {
    pub uuid: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub email_address: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub purpose: Option<String>,
    pub enabled: Option<bool>,
    pub authentication_method: Option<String>,
}

/// Changes to a user: `None` keeps a field; `Some(None)` clears a nullable one.
#[derive(Clone, Debug, Default)]
pub struct UserChanges {
    pub username: Option<Option<String>>,
    pub firstname: Option<Option<String>>,
    pub lastname: Option<Option<String>>,
    pub purpose: Option<String>,
    pub enabled: Option<bool>,
    pub authentication_method: Option<String>,
}

/// GET /users: exact filters on `USER_FILTERS` columns, and the list parameters.
#[derive(Clone, Debug, Default)]
pub struct UserQuery {
    pub filters: Vec<(&'static str, String)>,
    pub params: ListParams,
}

#[derive(Clone, Debug)]
pub struct PasswordChange {
    pub old_password: String,
    pub new_password: String,
}

/// Passwords are limited in bytes, as POST /token checks them before hashing.
pub fn check_password(field: &str, password: &str) -> DomainResult<()> {
    if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
        return Err(DomainError::invalid(
            field,
            format!("Longer than {MAX_PASSWORD_BYTES} bytes."),
        ));
    }
    Ok(())
}

fn check_email(address: &str) -> DomainResult<()> {
    if !address.contains('@') || address.chars().any(char::is_whitespace) {
        return Err(DomainError::invalid(
            "email_address",
            "Not a valid email address.",
        ));
    }
    Ok(())
}

/// A username as stored: no control or invisible characters nor white space at the ends, in NFC.
fn check_username(username: Option<String>) -> DomainResult<Option<String>> {
    username
        .map(|name| {
            untrusted::username(&name)
                .map_err(|problem| DomainError::invalid("username", problem.to_string()))
        })
        .transpose()
}

fn check_choice(field: &str, value: &str, choices: &[&str]) -> DomainResult<()> {
    if !choices.contains(&value) {
        return Err(DomainError::invalid(
            field,
            format!("Must be one of: {}.", choices.join(", ")),
        ));
    }
    Ok(())
}

fn taken(field: &'static str) -> DomainError {
    DomainError::Conflict {
        resource: "users",
        field,
        message: format!("The {field} is already in use"),
    }
}

/// A unique constraint of the users tables, named by the field it protects.
fn conflict(constraint: &str) -> DomainError {
    taken(if constraint.contains("email") {
        "email_address"
    } else if constraint.contains("username") {
        "username"
    } else {
        "uuid"
    })
}

/// The user use cases.
pub struct Users<'a>(pub(super) &'a Context);

/// No self-promotion: a user cannot change its own purpose (escaping the session cap as
/// `internal`) nor its own enabled flag; another caller holding the ACL can.
fn no_self_promotion(
    purpose: Option<&str>,
    enabled: Option<bool>,
    current: &User,
) -> DomainResult<()> {
    if purpose.is_some_and(|p| p != current.purpose) {
        return Err(DomainError::OwnAccount("purpose"));
    }
    if enabled.is_some_and(|e| e != current.enabled) {
        return Err(DomainError::OwnAccount("enabled"));
    }
    Ok(())
}

impl Users<'_> {
    /// The user, or `UnknownUser`.
    async fn existing(&self, uuid: &str) -> DomainResult<User> {
        self.0.existing_user(uuid).await
    }

    /// Refuses a login that would clash with another user's username or e-mail (any case).
    async fn ensure_login_free(
        &self,
        login: Option<&str>,
        field: &'static str,
        except: Option<&str>,
    ) -> DomainResult<()> {
        let Some(login) = login else { return Ok(()) };
        let owner = self.0.store.find_login_owner(login).await?;
        if owner.is_some_and(|owner| Some(owner.as_str()) != except) {
            return Err(taken(field));
        }
        Ok(())
    }

    /// A new user's uuid: the one chosen (in its canonical spelling), or a new one. A user and an
    /// OAuth2 client are both token subjects (`auth_id`): never one uuid.
    async fn new_user_uuid(&self, chosen: Option<&str>) -> DomainResult<String> {
        let uuid = match chosen {
            Some(text) => uuid::Uuid::parse_str(text)
                .map_err(|_| DomainError::invalid("uuid", "Not a valid UUID."))?
                .hyphenated()
                .to_string(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        if self.0.store.get_client(&uuid).await?.is_some() {
            return Err(DomainError::Conflict {
                resource: "users",
                field: "uuid",
                message: "This uuid is an OAuth2 client's".into(),
            });
        }
        Ok(uuid)
    }

    /// POST /users: the user joins the top tenant.
    pub async fn create(
        &self,
        actor: &Actor,
        input: DomainResult<NewUserInput>,
    ) -> DomainResult<UserView> {
        self.0.authorize(actor, "auth.users.create").await?;
        let input = input?;
        let uuid = self.new_user_uuid(input.uuid.as_deref()).await?;
        if let Some(password) = &input.password {
            check_password("password", password)?;
        }
        let username = check_username(input.username)?;
        let email_address = input.email_address.as_deref().map(untrusted::nfc);
        if let Some(address) = &email_address {
            check_email(address)?;
        }
        let purpose = input.purpose.unwrap_or_else(|| "user".into());
        check_choice("purpose", &purpose, PURPOSES)?;
        let authentication_method = input
            .authentication_method
            .unwrap_or_else(|| "default".into());
        check_choice(
            "authentication_method",
            &authentication_method,
            AUTHENTICATION_METHODS,
        )?;
        let password_hash = match &input.password {
            Some(password) => Some(self.0.hasher.hash(password).await?),
            None => None,
        };
        let username_skeleton = username.as_deref().map(untrusted::skeleton);
        let new = NewUser {
            uuid,
            tenant_uuid: self.0.top_tenant.clone(),
            username,
            firstname: input.firstname,
            lastname: input.lastname,
            password_hash,
            purpose,
            enabled: input.enabled.unwrap_or(true),
            authentication_method,
            username_skeleton,
            email_address,
            created_at: self.0.clock.now_micros(),
        };
        self.ensure_login_free(new.username.as_deref(), "username", None)
            .await?;
        self.ensure_login_free(new.email_address.as_deref(), "email_address", None)
            .await?;
        self.0.store.create_user(&new).await.on_conflict(conflict)?;
        self.existing(&new.uuid).await.map(UserView::from)
    }

    /// GET /users
    pub async fn list(
        &self,
        actor: &Actor,
        query: DomainResult<UserQuery>,
    ) -> DomainResult<Page<UserView>> {
        self.0.authorize(actor, "auth.users.read").await?;
        let query = query?;
        // Usernames are stored in NFC: a filter spelled in NFD finds them too.
        let normalised: Vec<(&str, String)> = query
            .filters
            .iter()
            .map(|(column, value)| match *column {
                "username" => (*column, untrusted::nfc(value)),
                _ => (*column, value.clone()),
            })
            .collect();
        let filters: Vec<(&str, &str)> = normalised
            .iter()
            .map(|(column, value)| (*column, value.as_str()))
            .collect();
        let params = (&query.params).into();
        Ok(self.0.store.list_users(&filters, &params).await?.into())
    }

    /// GET /users/{uuid}
    pub async fn get(&self, actor: &Actor, uuid: &str) -> DomainResult<UserView> {
        self.0
            .authorize(actor, &format!("auth.users.{uuid}.read"))
            .await?;
        self.existing(uuid).await.map(UserView::from)
    }

    /// PUT /users/{uuid}: absent fields keep their value. Disabling a user ends its sessions.
    pub async fn update(
        &self,
        actor: &Actor,
        uuid: &str,
        changes: DomainResult<UserChanges>,
    ) -> DomainResult<UserView> {
        let caller = self
            .0
            .authorize(actor, &format!("auth.users.{uuid}.update"))
            .await?;
        let changes = changes?;
        let username = changes.username.map(check_username).transpose()?;
        let current = self.existing(uuid).await?;
        if caller.user_uuid() == Some(uuid) {
            no_self_promotion(changes.purpose.as_deref(), changes.enabled, &current)?;
        }
        let username = username.unwrap_or(current.username);
        let update = UserUpdate {
            username_skeleton: username.as_deref().map(untrusted::skeleton),
            username,
            firstname: changes.firstname.unwrap_or(current.firstname),
            lastname: changes.lastname.unwrap_or(current.lastname),
            purpose: changes.purpose.unwrap_or(current.purpose),
            enabled: changes.enabled.unwrap_or(current.enabled),
            authentication_method: changes
                .authentication_method
                .unwrap_or(current.authentication_method),
        };
        check_choice("purpose", &update.purpose, PURPOSES)?;
        check_choice(
            "authentication_method",
            &update.authentication_method,
            AUTHENTICATION_METHODS,
        )?;
        self.ensure_login_free(update.username.as_deref(), "username", Some(uuid))
            .await?;
        if !self
            .0
            .store
            .update_user(uuid, &update)
            .await
            .on_conflict(conflict)?
        {
            return Err(DomainError::UnknownUser(uuid.to_string()));
        }
        self.0
            .invalidate(Invalidation::User(uuid.to_string()))
            .await;
        self.existing(uuid).await.map(UserView::from)
    }

    /// DELETE /users/{uuid}: with its refresh tokens, sessions and policy links.
    pub async fn delete(&self, actor: &Actor, uuid: &str) -> DomainResult<()> {
        self.0
            .authorize(actor, &format!("auth.users.{uuid}.delete"))
            .await?;
        if !self.0.store.delete_user(uuid).await? {
            return Err(DomainError::UnknownUser(uuid.to_string()));
        }
        self.0
            .invalidate(Invalidation::User(uuid.to_string()))
            .await;
        Ok(())
    }

    /// PUT /users/{uuid}/password: `old_password` must match; ends the user's sessions.
    pub async fn change_password(
        &self,
        actor: &Actor,
        uuid: &str,
        change: DomainResult<PasswordChange>,
        remote_addr: &str,
    ) -> DomainResult<()> {
        self.0
            .authorize(actor, &format!("auth.users.{uuid}.password.update"))
            .await?;
        let change = change?;
        check_password("old_password", &change.old_password)?;
        check_password("new_password", &change.new_password)?;
        let user = self.existing(uuid).await?;
        // A wrong old password is a guess like a failed login: charged to the same account and
        // address before hashing, and held back alike.
        let throttle = &self.0.throttle;
        let charge = throttle
            .charge(Some(&Account::User(user.uuid.clone())), remote_addr)
            .await?;
        let matched = match self
            .0
            .hasher
            .verify(&change.old_password, user.password_hash.as_deref())
            .await
        {
            Ok(matched) => matched,
            Err(error) => {
                throttle.not_a_guess(charge).await;
                return Err(error.into());
            }
        };
        if !matched {
            tracing::info!(user = %user.uuid, remote_addr = %remote_addr, "password change: wrong old password");
            throttle.failed(charge).await;
            return Err(DomainError::AuthenticationFailed);
        }
        throttle.success(charge).await;
        self.set_password(uuid, &change.new_password).await
    }

    /// `tessera user passwd`: sets the password of the user named `username`.
    pub async fn reset_password(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
    ) -> DomainResult<UserView> {
        let user = self
            .0
            .store
            .find_user_by_username(&untrusted::nfc(username))
            .await?
            .ok_or_else(|| DomainError::Missing(format!("no user named {username}")))?;
        self.0
            .authorize(actor, &format!("auth.users.{}.password.update", user.uuid))
            .await?;
        check_password("password", password)?;
        self.set_password(&user.uuid, password).await?;
        Ok(user.into())
    }

    /// Sets a new password and ends the user's sessions everywhere (refresh tokens stay).
    async fn set_password(&self, uuid: &str, password: &str) -> DomainResult<()> {
        let hash = self.0.hasher.hash(password).await?;
        self.0.store.set_password(uuid, &hash).await?;
        self.0
            .invalidate(Invalidation::User(uuid.to_string()))
            .await;
        Ok(())
    }

    /// At start, with `bootstrap_username` and `bootstrap_password` (SPEC §6: created when
    /// missing, otherwise left as it is). The administrator's identity is its uuid, recorded in
    /// the settings (`BOOTSTRAP_ADMIN_KEY`), never its username: no existing user is ever
    /// promoted, enabled or changed here.
    /// - The recorded administrator exists: nothing is done (disabled, demoted, renamed or with
    ///   a new password, it stays so).
    /// - Otherwise, the username is free: the administrator is created (`internal`, the
    ///   password, the bootstrap policy) and recorded.
    /// - Nothing recorded yet (a database made before the record) and the username's user is
    ///   already `internal` with the bootstrap policy: it is adopted as it is.
    /// - Otherwise the username is someone else's: that user is left alone, with a warning.
    pub async fn ensure_bootstrap_admin(&self, username: &str, password: &str) -> DomainResult<()> {
        let policy = super::policies::Policies(self.0)
            .ensure_bootstrap_policy()
            .await?;
        let store = &self.0.store;
        let recorded = store.setting(BOOTSTRAP_ADMIN_KEY).await?;
        if let Some(uuid) = &recorded {
            if store.get_user(uuid).await?.is_some() {
                tracing::info!(user = %uuid, "bootstrap administrator exists; left as it is");
                return Ok(());
            }
        }
        let shown = untrusted::Untrusted(username);
        let owner = store
            .find_user_by_username(&untrusted::nfc(username))
            .await?;
        if let Some(user) = owner {
            let adoptable = recorded.is_none()
                && user.purpose == "internal"
                && store
                    .user_policies(&user.uuid)
                    .await?
                    .iter()
                    .any(|p| p.uuid == policy);
            if adoptable {
                store.set_setting(BOOTSTRAP_ADMIN_KEY, &user.uuid).await?;
                tracing::info!(username = %shown, user = %user.uuid, "bootstrap administrator recorded as it is");
            } else {
                tracing::warn!(username = %shown, user = %user.uuid, "bootstrap username belongs to a user that is not the bootstrap administrator: that user is left alone and no administrator is created");
            }
            return Ok(());
        }
        let input = NewUserInput {
            username: Some(username.to_string()),
            password: Some(password.to_string()),
            purpose: Some("internal".into()),
            ..NewUserInput::default()
        };
        let user = match self.create(&Actor::Operator, Ok(input)).await {
            Ok(user) => user,
            // Another user's e-mail address, or a look-alike username: not ours to touch.
            Err(DomainError::Conflict { field, .. }) => {
                tracing::warn!(username = %shown, field, "bootstrap username clashes with another user's: no administrator is created");
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        store.attach_policy(&user.uuid, &policy, None).await?;
        store.set_setting(BOOTSTRAP_ADMIN_KEY, &user.uuid).await?;
        tracing::info!(username = %shown, policy = BOOTSTRAP_POLICY, "bootstrap administrator created");
        Ok(())
    }
}
