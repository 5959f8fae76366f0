//! The OAuth2 face (SPEC §11): a second face on the same tokens. Its protocol logic lives here,
//! as the rest of the rules do: clients, redirect URIs, scopes, client authentication, the token
//! endpoint's grants (the device grant and its page among them), introspection and revocation, and the metadata document. Its errors are
//! RFC 6749's ([`error::OAuthError`]), not the wazo API's.

pub mod authorize;
pub mod browser;
pub mod client_auth;
pub mod clients;
mod code_grant;
pub mod device;
pub mod error;
pub mod introspection;
pub mod keys;
pub mod logout;
pub mod metadata;
pub mod oidc;
pub mod redirect;
mod refresh_grant;
pub mod scope;
pub mod token;

use crate::domain::context::Context;
use error::{OAuthError, OAuthResult};

/// The OAuth2 use cases: the token endpoint, introspection, revocation, metadata.
pub struct OAuth2<'a>(pub(in crate::domain) &'a Context);

impl OAuth2<'_> {
    /// Whether the OAuth2 face is on: it needs an issuer (`public_url`, or a loopback `listen`).
    pub fn enabled(&self) -> bool {
        self.0.issuer.is_some()
    }

    /// The issuer (`None`: the face is off).
    pub fn issuer_url(&self) -> Option<String> {
        self.0.issuer.clone()
    }

    fn issuer(&self) -> OAuthResult<String> {
        self.0
            .issuer
            .clone()
            .ok_or_else(|| OAuthError::invalid_request("The OAuth2 face is off."))
    }
}
