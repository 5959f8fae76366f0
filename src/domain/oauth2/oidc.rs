//! OpenID Connect (SPEC §11.9): the ID token the code and device grants answer when `openid` is
//! granted, and userinfo. The profile and e-mail claims come from userinfo only (OIDC Core §5.4):
//! the ID token says who signed in, when, and in which browser session.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::error::{OAuthCode, OAuthError, OAuthResult};
use super::scope::OPENID;
use super::OAuth2;
use crate::domain::secrets;
use crate::store::{SignIn, TokenOwner, User};

/// How the user signed in, for the ID token of a grant: the browser's sign-in, and the
/// authorization request's `nonce`.
pub(super) struct Authentication {
    pub sign_in: SignIn,
    pub nonce: Option<String>,
}

/// The claims of an ID token.
#[derive(serde::Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    at_hash: String,
    sid: String,
}

/// What an ID token is minted for.
pub(super) struct IdTokenFor<'a> {
    pub client_id: &'a str,
    pub user_uuid: &'a str,
    pub authentication: &'a Authentication,
    pub access_token: &'a str,
}

/// The claims userinfo answers (OIDC Core §5.1), by scope.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct UserInfo {
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// The claims discovery lists (`claims_supported`).
pub const CLAIMS: [&str; 15] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "sid",
    "preferred_username",
    "name",
    "given_name",
    "family_name",
    "email",
    "email_verified",
];

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the access token's SHA-256, base64url (both
/// RS256 and ES256 hash with SHA-256).
fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    base64url(digest.get(..16).unwrap_or_default())
}

/// A browser session's `sid`: derived one way from its cookie's digest, so that it names the
/// session without opening it.
pub fn sid_of(browser_session: &[u8]) -> String {
    let digest = Sha256::digest([b"tessera sid\0".as_slice(), browser_session].concat());
    base64url(digest.get(..16).unwrap_or_default())
}

fn seconds(micros: i64) -> i64 {
    micros.div_euclid(1_000_000)
}

/// Whether a granted scope names `openid`.
pub(super) fn asks_identity(scope: &[String]) -> bool {
    scope.iter().any(|v| v == OPENID)
}

impl OAuth2<'_> {
    /// The ID token of a grant: signed with the current key, living as long as the access token.
    pub(super) async fn id_token(&self, minted: IdTokenFor<'_>) -> OAuthResult<String> {
        let issuer = self.issuer()?;
        let now = self.0.clock.now_micros();
        let lifetime = i64::try_from(self.0.config.oauth2_access_token_lifetime).unwrap_or(0);
        let auth = minted.authentication;
        let claims = IdTokenClaims {
            iss: &issuer,
            sub: minted.user_uuid,
            aud: minted.client_id,
            exp: seconds(now).saturating_add(lifetime),
            iat: seconds(now),
            auth_time: seconds(auth.sign_in.auth_time),
            nonce: auth.nonce.as_deref(),
            at_hash: at_hash(minted.access_token),
            sid: sid_of(&auth.sign_in.browser_session),
        };
        Ok(self.sign(&claims).await?)
    }

    /// GET or POST /oauth2/userinfo: the claims a Bearer access token granted `openid` allows,
    /// of its user as they are now. Another token is `invalid_token` (RFC 6750 §3.1), a token
    /// without `openid` `insufficient_scope`.
    pub async fn userinfo(&self, bearer: Option<&str>) -> OAuthResult<UserInfo> {
        self.issuer()?;
        let invalid = || OAuthError::new(OAuthCode::InvalidToken, "The access token is not valid.");
        let value = bearer.filter(|v| !v.is_empty()).ok_or_else(invalid)?;
        let digest = secrets::digest(value);
        let now = self.0.clock.now_micros();
        let token = self.0.store.find_token_owner(&digest, now).await?;
        let token = token.ok_or_else(invalid)?;
        let scope = token.scope.as_deref().unwrap_or_default();
        if !asks_identity(scope) || !self.issued_by_a_client(&token).await? {
            return Err(OAuthError::new(
                OAuthCode::InsufficientScope,
                "The access token was not granted openid.",
            ));
        }
        let user = self.0.store.get_user(&token.auth_id).await?;
        let user = user.filter(|u| u.enabled).ok_or_else(invalid)?;
        Ok(claims_of(&user, scope))
    }

    /// Whether a token was issued through the OAuth2 face (its client is a registered client).
    async fn issued_by_a_client(&self, token: &TokenOwner) -> OAuthResult<bool> {
        let Some(client_id) = token.client_id.as_deref() else {
            return Ok(false);
        };
        if crate::domain::parse_uuid(client_id).is_none() {
            return Ok(false);
        }
        Ok(self.0.store.get_client(client_id).await?.is_some())
    }
}

/// The userinfo claims of `user` that `scope` allows.
fn claims_of(user: &User, scope: &[String]) -> UserInfo {
    let has = |value: &str| scope.iter().any(|v| v == value);
    let mut info = UserInfo {
        sub: user.uuid.clone(),
        ..UserInfo::default()
    };
    if has("profile") {
        let given = user.firstname.clone().filter(|n| !n.trim().is_empty());
        let family = user.lastname.clone().filter(|n| !n.trim().is_empty());
        let name: Vec<&str> = given
            .iter()
            .chain(family.iter())
            .map(String::as_str)
            .collect();
        info.name = (!name.is_empty()).then(|| name.join(" "));
        info.given_name = given;
        info.family_name = family;
        info.preferred_username = user.username.clone();
    }
    if has("email") {
        if let Some(main) = user.emails.iter().find(|e| e.main) {
            info.email = Some(main.address.clone());
            info.email_verified = Some(main.confirmed);
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_sha256_base64url() {
        // OIDC Core §A.3's example access token and at_hash (RS256: SHA-256).
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn sid_names_a_session_without_its_digest() {
        let sid = sid_of(b"digest");
        assert_eq!(sid.len(), 22);
        assert_ne!(sid, sid_of(b"another"));
        assert!(!sid.contains(&base64url(b"digest")));
    }
}
