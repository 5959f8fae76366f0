//! The rules of the service, in one place: no axum, no sqlx, no HTTP status and no wire JSON here.
//!
//! Every use case takes the [`Actor`] who asks and decides authorization itself; throttling,
//! cache invalidation and metrics happen inside it. The HTTP face (`crate::http`) and the command
//! line (`crate::cli`) call the same use cases, reached through [`Services`].

pub mod acl;
mod cache;
mod caller;
pub mod clock;
mod context;
pub mod error;
mod grant;
mod metrics;
pub mod oauth2;
pub mod password;
pub mod policies;
pub mod records;
pub mod refresh_tokens;
mod secrets;
mod services;
pub mod sessions;
mod throttle;
mod token_details;
pub mod token_secret;
pub mod tokens;
pub mod untrusted;
pub mod users;

#[cfg(test)]
mod tests;

pub use caller::{Actor, Caller, Credentials};

/// A UUID as the contract reads one in a path: the hyphenated form, in either case, answered in
/// canonical lower case. Other spellings (braces, `urn:uuid:`, no hyphens) are not UUIDs.
pub fn parse_uuid(text: &str) -> Option<String> {
    if text.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(text)
        .ok()
        .map(|uuid| uuid.hyphenated().to_string())
}
pub use error::{DomainError, DomainResult, Refusal};
pub use grant::{MAX_SCOPE_ENTRIES, MAX_SCOPE_ENTRY_CHARS};
pub use secrets::MAX_EXPIRATION;
pub use services::Services;

/// A fresh random secret for `token_secret` (`tessera gen-secret`).
pub fn generate_secret() -> String {
    secrets::RefreshKey::generate_secret()
}

pub use records::{
    EmailView, ListParams, Page, PolicyView, RefreshTokenView, SessionView, UserView,
};
