//! Who asks. A use case takes an [`Actor`] and decides authorization itself: a request's
//! credentials must name a live access token granting the required access; the operator (the
//! command line, the bootstrap) holds everything.

use std::sync::Arc;

use super::grant::{token_grants, token_holds};
use crate::store::TokenRecord;

/// What a request presents: its `X-Auth-Token` and `Wazo-Tenant` headers, as sent.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub token: Option<String>,
    pub tenant: Option<Vec<u8>>,
}

/// The one asking a use case to act.
#[derive(Clone, Debug)]
pub enum Actor {
    Request(Credentials),
    /// The operator at the command line, or the bootstrap at start: holds every access.
    Operator,
}

/// An actor once authorised.
#[derive(Clone, Debug)]
pub enum Caller {
    Token(Arc<TokenRecord>),
    Operator,
}

impl Caller {
    /// Whether the caller's token grants `access` (its ACL, within its scope).
    pub fn grants(&self, access: &str) -> bool {
        match self {
            Caller::Token(record) => token_grants(record, access),
            Caller::Operator => true,
        }
    }

    /// Whether the caller holds `entry`: its token grants every access string the entry can match
    /// (negatives included: a caller whose ACL or scope denies something does not hold it).
    pub fn holds(&self, entry: &str) -> bool {
        match self {
            Caller::Token(record) => token_holds(record, entry),
            Caller::Operator => true,
        }
    }

    /// The caller's own user, for `/users/me/…`.
    pub fn user_uuid(&self) -> Option<&str> {
        match self {
            Caller::Token(record) => Some(&record.auth_id),
            Caller::Operator => None,
        }
    }
}
