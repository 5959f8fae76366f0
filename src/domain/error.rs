//! One error for every use case. It says what went wrong in the domain's words; the faces decide
//! how to show it (`src/http/error.rs` renders the contract's three shapes, the command line one
//! line of text). Internal details are logged where they are rendered, never shown to a client.

use std::time::Duration;

use super::password::HashError;
use crate::store::{StoreError, StoreResult};

/// Why a protected endpoint refused the caller's token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No token, an unknown, expired or refresh token.
    NotFoundOrExpired,
    /// A valid token without the required access, or asking for another tenant.
    MissingPermissionOrInvalidTenant,
}

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Every authentication failure, whatever its cause: nothing tells an attacker which.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// A login or address held back by the brute-force throttle.
    #[error("too many failed attempts")]
    HeldBack { retry_after: Duration },
    #[error("user {0} has exceeded the maximum number of active sessions")]
    TooManySessions(String),
    /// Password hashing is saturated: come back shortly.
    #[error("password hashing is saturated")]
    Busy,
    /// An unknown or expired access token (refresh tokens included) on the token endpoints.
    #[error("no such token")]
    NoSuchToken,
    /// Validation asked for a scope the token does not grant.
    #[error("scope {0} not granted")]
    ScopeNotGranted(String),
    /// Validation asked for a tenant that is not the token's.
    #[error("tenant {0} not granted")]
    TenantNotGranted(String),
    /// A protected endpoint's caller lacks a live token granting `required`.
    #[error("unauthorized for {required}")]
    Unauthorized {
        token: Option<String>,
        refusal: Refusal,
        required: String,
        /// The tenant the request asked for (`Wazo-Tenant`), if any.
        tenant: Option<String>,
    },
    /// A user tried to change its own `purpose` or `enabled` flag.
    #[error("a user cannot change its own {0}")]
    OwnAccount(&'static str),
    /// The caller tried to hand out (or take away) an ACL entry it does not hold.
    #[error("{0} is not granted to the caller")]
    NotHeld(String),
    /// A refresh grant asked for a scope its refresh token does not cover (the entry).
    #[error("scope entry {0} is not covered by the refresh token")]
    InvalidScope(String),
    /// A malformed request to the token endpoints: the message says what.
    #[error("{0}")]
    BadRequest(String),
    /// A malformed field of a request to the other endpoints.
    #[error("invalid {field}: {message}")]
    InvalidField { field: String, message: String },
    /// A malformed list parameter (`limit`, `offset`, `order`, `direction`).
    #[error("invalid {param}: {message}")]
    InvalidListParam { param: String, message: String },
    /// The request body was larger than allowed.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The request body could not be read.
    #[error("unreadable request body")]
    UnreadableBody,
    #[error("not found")]
    NotFound,
    #[error("no such user: {0}")]
    UnknownUser(String),
    #[error("no such policy: {0}")]
    UnknownPolicy(String),
    #[error("no refresh token for client_id {0}")]
    UnknownRefreshToken(String),
    /// A unique name is taken: `field` of `resource`.
    #[error("conflict on {resource}.{field}")]
    Conflict {
        resource: &'static str,
        field: &'static str,
        message: String,
    },
    #[error("this policy is read-only")]
    ReadOnlyPolicy,
    /// The configuration names this policy (`default_user_policy`): it may not be renamed or
    /// deleted.
    #[error("the configuration refers to policy {0} by name")]
    ConfiguredPolicy(String),
    /// The command line names something that is not there.
    #[error("{0}")]
    Missing(String),
    /// A write clashed with a unique constraint no rule names a field for (the constraint).
    #[error("conflict on {0}")]
    UnnamedConflict(String),
    /// The database refused a value the request carried (a client error; the database's words).
    #[error("invalid value: {0}")]
    RefusedValue(String),
    /// A row the write refers to was deleted meanwhile: a user deleted while one of their logins
    /// or grants was in flight, say.
    #[error("gone: {0}")]
    Gone(String),
    /// The database cannot be reached or did not answer in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database failed otherwise.
    #[error("database error: {0}")]
    Database(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<HashError> for DomainError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy => DomainError::Busy,
            HashError::Failed(message) => DomainError::Internal(message),
        }
    }
}

/// Where the store meets the domain: a store failure in the domain's words. A unique constraint
/// that a rule names a field for is mapped by that rule first ([`OnConflict`]).
impl From<StoreError> for DomainError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(constraint) => DomainError::UnnamedConflict(constraint),
            StoreError::Invalid(message) => DomainError::RefusedValue(message),
            StoreError::Gone(message) => DomainError::Gone(message),
            StoreError::Unavailable(message) => DomainError::Unavailable(message),
            StoreError::Other(message) => DomainError::Database(message),
        }
    }
}

/// Maps a unique-constraint conflict of a store result to the domain error its rule names
/// (realworld-axum-sqlx's `on_constraint`): `conflict` is given the constraint (SQLite: the
/// message naming the column). Any other failure is mapped as [`From<StoreError>`] maps it.
pub(super) trait OnConflict<T> {
    fn on_conflict(self, conflict: impl FnOnce(&str) -> DomainError) -> DomainResult<T>;
}

impl<T> OnConflict<T> for StoreResult<T> {
    fn on_conflict(self, conflict: impl FnOnce(&str) -> DomainError) -> DomainResult<T> {
        self.map_err(|error| match error {
            StoreError::Conflict(constraint) => conflict(&constraint),
            other => other.into(),
        })
    }
}

impl DomainError {
    /// An invalid field of a request body or query.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        DomainError::InvalidField {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// Whether the request itself was at fault (a 4xx), as opposed to the service.
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            DomainError::Busy
                | DomainError::Unavailable(_)
                | DomainError::Database(_)
                | DomainError::Internal(_)
        )
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conflict_a_rule_names_is_that_rule_s_error() {
        let taken = |_: &str| DomainError::Conflict {
            resource: "users",
            field: "username",
            message: "taken".into(),
        };
        let named: StoreResult<()> = Err(StoreError::Conflict("users_username_key".into()));
        assert!(matches!(
            OnConflict::on_conflict(named, taken),
            Err(DomainError::Conflict {
                field: "username",
                ..
            })
        ));
        let unavailable: DomainResult<()> =
            StoreResult::<()>::Err(StoreError::Unavailable("down".into())).on_conflict(taken);
        assert!(matches!(unavailable, Err(DomainError::Unavailable(_))));
    }

    #[test]
    fn store_failures_keep_their_words_and_their_blame() {
        let conflict = DomainError::from(StoreError::Conflict("c".into()));
        assert_eq!(conflict.to_string(), "conflict on c");
        assert!(conflict.is_client_error());
        let down = DomainError::from(StoreError::Unavailable("gone away".into()));
        assert_eq!(down.to_string(), "database unavailable: gone away");
        assert!(!down.is_client_error());
        assert!(!DomainError::from(StoreError::Other("x".into())).is_client_error());
        assert!(DomainError::from(StoreError::Gone("x".into())).is_client_error());
    }
}
