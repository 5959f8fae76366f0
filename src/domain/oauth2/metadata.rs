//! The authorization server's metadata (RFC 8414, OpenID Connect Discovery 1.0), SPEC §11.1: one
//! document, served at both well-known paths, every URL built from the issuer. An endpoint is
//! listed once it exists, and so is a grant type.

use super::clients::{AUTHORIZATION_CODE, CLIENT_CREDENTIALS, DEVICE_CODE, REFRESH_TOKEN};
use super::error::OAuthResult;
use super::scope::OIDC_SCOPES;
use super::OAuth2;

/// The client authentication methods of the token, introspection and revocation endpoints.
pub const AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

/// The grants `/oauth2/token` serves now.
pub const SUPPORTED_GRANTS: [&str; 4] = [
    AUTHORIZATION_CODE,
    REFRESH_TOKEN,
    CLIENT_CREDENTIALS,
    DEVICE_CODE,
];

/// The metadata document's fields, in the order they are answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub device_authorization_endpoint: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub end_session_endpoint: String,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub code_challenge_methods_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub scopes_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub claims_supported: Vec<&'static str>,
    pub authorization_response_iss_parameter_supported: bool,
}

impl OAuth2<'_> {
    /// GET /.well-known/oauth-authorization-server and /.well-known/openid-configuration.
    pub fn metadata(&self) -> OAuthResult<Metadata> {
        let issuer = self.issuer()?;
        let endpoint = |path: &str| format!("{issuer}/oauth2/{path}");
        Ok(Metadata {
            authorization_endpoint: endpoint("authorize"),
            token_endpoint: endpoint("token"),
            device_authorization_endpoint: endpoint("device_authorization"),
            introspection_endpoint: endpoint("introspect"),
            revocation_endpoint: endpoint("revoke"),
            userinfo_endpoint: endpoint("userinfo"),
            jwks_uri: endpoint("jwks"),
            end_session_endpoint: endpoint("logout"),
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query"],
            grant_types_supported: SUPPORTED_GRANTS.to_vec(),
            code_challenge_methods_supported: vec!["S256"],
            token_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            // Introspection is for confidential clients (or a Bearer token).
            introspection_endpoint_auth_methods_supported: AUTH_METHODS[..2].to_vec(),
            revocation_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            scopes_supported: OIDC_SCOPES.to_vec(),
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: vec![self.0.config.id_token_signing_alg.clone()],
            claims_supported: super::oidc::CLAIMS.to_vec(),
            authorization_response_iss_parameter_supported: true,
            issuer,
        })
    }
}
