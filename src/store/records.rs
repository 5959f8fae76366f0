//! The records the store reads and writes, one type for both backends: rows map to them with
//! `FromRow`, whichever pool read them. A uuid is read through `UuidText`, a time through
//! `Micros`, JSON through `sqlx::types::Json` (`store/columns.rs`).

use super::columns::{Micros, UuidText};

// Users.

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Email {
    #[sqlx(try_from = "UuidText")]
    pub uuid: String,
    pub address: String,
    pub main: bool,
    pub confirmed: bool,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct User {
    #[sqlx(try_from = "UuidText")]
    pub uuid: String,
    #[sqlx(try_from = "UuidText")]
    pub tenant_uuid: String,
    pub username: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub password_hash: Option<String>,
    pub purpose: String,
    pub enabled: bool,
    pub authentication_method: String,
    #[sqlx(skip)]
    pub emails: Vec<Email>,
}

pub struct NewUser {
    pub uuid: String,
    pub tenant_uuid: String,
    pub username: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub password_hash: Option<String>,
    pub purpose: String,
    pub enabled: bool,
    pub authentication_method: String,
    pub email_address: Option<String>,
    pub created_at: i64,
    /// The username's look-alike key (`domain::untrusted::skeleton`), unique.
    pub username_skeleton: Option<String>,
}

pub struct UserUpdate {
    pub username: Option<String>,
    /// The new username's look-alike key; kept as it is when the username keeps its key.
    pub username_skeleton: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub purpose: String,
    pub enabled: bool,
    pub authentication_method: String,
}

pub const USER_ORDER: &[&str] = &["username", "firstname", "lastname", "uuid", "purpose"];

pub const USER_FILTERS: &[&str] = &["uuid", "username", "firstname", "lastname", "purpose"];

// Policies.

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Policy {
    #[sqlx(try_from = "UuidText")]
    pub uuid: String,
    #[sqlx(try_from = "UuidText")]
    pub tenant_uuid: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    #[sqlx(json)]
    pub acl: Vec<String>,
    pub read_only: bool,
    pub shared: bool,
}

pub struct NewPolicy {
    pub uuid: String,
    pub tenant_uuid: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub acl: Vec<String>,
    pub shared: bool,
    pub read_only: bool,
}

/// What a write conditional on a policy's ACL found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyWrite {
    Done,
    /// No such policy.
    Gone,
    /// Its ACL is no longer the one the caller was checked against: nothing written.
    Changed,
}

pub const POLICY_ORDER: &[&str] = &["name", "slug", "description", "uuid", "read_only"];

// OAuth2 clients.

/// A registered OAuth2 client (SPEC §11.2). Its secret is only a digest.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OAuth2Client {
    #[sqlx(try_from = "UuidText")]
    pub client_id: String,
    pub name: String,
    pub confidential: bool,
    pub secret_digest: Option<Vec<u8>>,
    #[sqlx(json)]
    pub redirect_uris: Vec<String>,
    #[sqlx(json)]
    pub post_logout_redirect_uris: Vec<String>,
    #[sqlx(json)]
    pub grant_types: Vec<String>,
    /// The ceiling: ACL entries.
    #[sqlx(json)]
    pub scope: Vec<String>,
    pub consent: String,
    #[sqlx(try_from = "Micros")]
    pub created_at: i64,
    /// Raised by every change of the client (migration 0017).
    pub revision: i64,
}

/// What authenticating a client needs of it: its id, its type and its secret's digest.
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    pub confidential: bool,
    pub secret_digest: Option<Vec<u8>>,
}

/// A browser session (SPEC §11.3), found by its cookie's digest.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BrowserSession {
    #[sqlx(try_from = "UuidText")]
    pub user_uuid: String,
    #[sqlx(try_from = "Micros")]
    pub auth_time: i64,
    /// A fingerprint of the password hash the user signed in with.
    pub password_stamp: Vec<u8>,
}

/// A browser session to write, by its cookie's digest.
pub struct NewBrowserSession {
    pub digest: Vec<u8>,
    pub user_uuid: String,
    pub auth_time: i64,
    pub expires_at: i64,
    pub password_stamp: Vec<u8>,
}

/// An authorization code (found by its value's digest) and what it is bound to.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuthorizationCode {
    #[sqlx(try_from = "UuidText")]
    pub client_id: String,
    #[sqlx(try_from = "UuidText")]
    pub user_uuid: String,
    /// The redirect URI the request named (`None`: it named none).
    pub redirect_uri: Option<String>,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// The granted scope values (OpenID Connect scopes and ACL entries).
    #[sqlx(json)]
    pub scope: Vec<String>,
    pub nonce: Option<String>,
    /// The digest of the browser session it was issued in.
    pub browser_session: Vec<u8>,
    #[sqlx(try_from = "Micros")]
    pub auth_time: i64,
    #[sqlx(try_from = "Micros")]
    pub expires_at: i64,
    /// The session its redemption minted; `None` until redeemed.
    pub session_uuid: Option<String>,
    /// The refresh-token chain its redemption may have started.
    pub refresh_uuid: Option<String>,
}

/// What redeeming a code found.
#[derive(Debug)]
pub enum CodeRedemption {
    /// Redeemed now, for the first time.
    Fresh(AuthorizationCode),
    /// Redeemed before: its `session_uuid` is the first redemption's.
    Replayed(AuthorizationCode),
    Expired,
    /// Live and unused, but the proof (verifier, redirect URI) is not its: it stays unused.
    Mismatch,
    Unknown,
}

/// A device's authorization (SPEC §11.8), found by its device code's or user code's digest.
#[derive(Clone, Debug)]
pub struct DeviceCode {
    pub client_id: String,
    /// The granted scope values (OpenID Connect scopes and ACL entries).
    pub scope: Vec<String>,
    pub expires_at: i64,
    /// Seconds the device keeps between polls.
    pub poll_interval: i64,
    pub last_poll: i64,
    pub status: DeviceStatus,
    /// The user who decided, once they did.
    pub user_uuid: Option<String>,
    /// The sign-in they decided in, once they did.
    pub signed_in: Option<SignIn>,
}

/// A key that signs ID tokens, as stored: its private half sealed under `token_secret`.
#[derive(Clone, Debug)]
pub struct SigningKeyRow {
    pub kid: String,
    /// `RS256` or `ES256`.
    pub alg: String,
    pub sealed_key: Vec<u8>,
    pub created_at: i64,
    /// When a newer key of its algorithm became current; `None`: it is current.
    pub retired_at: Option<i64>,
    /// Until when a retired key stays published.
    pub publish_until: Option<i64>,
}

/// A browser's sign-in, as an ID token tells of it (SPEC §11.9): when, and in which browser
/// session (the digest of its cookie).
#[derive(Clone, Debug)]
pub struct SignIn {
    pub auth_time: i64,
    pub browser_session: Vec<u8>,
}

/// Where a device's authorization stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceStatus {
    Pending,
    Allowed,
    Denied,
    /// The device got its token.
    Redeemed,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Allowed => "allowed",
            DeviceStatus::Denied => "denied",
            DeviceStatus::Redeemed => "redeemed",
        }
    }

    /// The status a row spells; an unknown spelling reads as redeemed (it grants nothing).
    pub fn parse(text: &str) -> DeviceStatus {
        match text {
            "pending" => DeviceStatus::Pending,
            "allowed" => DeviceStatus::Allowed,
            "denied" => DeviceStatus::Denied,
            _ => DeviceStatus::Redeemed,
        }
    }
}

/// A device's authorization to write, by the digests of its two codes.
pub struct NewDeviceCode {
    pub device_digest: Vec<u8>,
    pub user_code_digest: Vec<u8>,
    pub client_id: String,
    pub scope: Vec<String>,
    pub expires_at: i64,
    pub poll_interval: i64,
    pub last_poll: i64,
}

pub const CLIENT_ORDER: &[&str] = &["name", "client_id", "created_at"];

// Tokens, sessions and refresh tokens.

pub const REFRESH_ORDER: &[&str] = &["created_at", "client_id", "mobile"];

pub const SESSION_ORDER: &[&str] = &["created_at", "mobile", "uuid", "user_uuid"];

/// A live access token, as read back for validation.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TokenRecord {
    #[sqlx(try_from = "UuidText")]
    pub session_uuid: String,
    #[sqlx(try_from = "UuidText")]
    pub auth_id: String,
    #[sqlx(try_from = "Micros")]
    pub issued_at: i64,
    #[sqlx(try_from = "Micros")]
    pub expires_at: i64,
    #[sqlx(json)]
    pub acl: Vec<String>,
    #[sqlx(json)]
    pub metadata: TokenMetadata,
    pub remote_addr: String,
    pub user_agent: String,
    /// The scope of the refresh token it was minted under (SPEC §9); `None`: unlimited.
    #[sqlx(json(nullable))]
    pub scope: Option<Vec<String>>,
}

/// A live access token as introspection and revocation read it (SPEC §11.7): with the client it
/// was issued to (or the wazo client_id of the refresh token it was minted from) and its user's
/// username, when it has a user.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TokenOwner {
    #[sqlx(try_from = "UuidText")]
    pub session_uuid: String,
    #[sqlx(try_from = "UuidText")]
    pub auth_id: String,
    pub client_id: Option<String>,
    #[sqlx(try_from = "Micros")]
    pub issued_at: i64,
    #[sqlx(try_from = "Micros")]
    pub expires_at: i64,
    #[sqlx(json)]
    pub acl: Vec<String>,
    #[sqlx(json(nullable))]
    pub scope: Option<Vec<String>>,
    pub username: Option<String>,
}

/// What a token says of its user, fixed when it is issued (stored as JSON). Fields in
/// alphabetical order, as the first version wrote them.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TokenMetadata {
    pub auth_id: String,
    pub pbx_user_uuid: Option<String>,
    pub purpose: String,
    pub tenant_uuid: String,
    pub uuid: String,
    pub xivo_uuid: Option<String>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefreshToken {
    #[sqlx(try_from = "UuidText")]
    pub uuid: String,
    pub client_id: String,
    #[sqlx(try_from = "UuidText")]
    pub user_uuid: String,
    #[sqlx(try_from = "UuidText")]
    pub tenant_uuid: String,
    pub mobile: bool,
    #[sqlx(try_from = "Micros")]
    pub created_at: i64,
    /// The value sealed under the current key, after a rotation of the secret (else derived).
    pub sealed: Option<Vec<u8>>,
    /// `None`: unlimited.
    #[sqlx(json(nullable))]
    pub scope: Option<Vec<String>>,
    /// Times the value was rotated.
    pub generation: i64,
    /// The last offline login or refresh grant that used it.
    #[sqlx(try_from = "Micros")]
    pub used_at: i64,
    /// A chain of an OAuth2 client (SPEC §11): redeemed only at `/oauth2/token`, always rotating.
    pub oauth2: bool,
}

/// A superseded value of a rotating refresh token: its chain (the refresh token as it is now),
/// when the value was superseded and its generation (its successor's is one more).
#[derive(Clone, Debug)]
pub struct SupersededValue {
    pub chain: RefreshToken,
    pub superseded_at: i64,
    pub generation: i64,
}

/// Refresh tokens last used at or before `idle`, or created at or before `max`, have expired
/// (`i64::MIN`: no such limit).
#[derive(Clone, Copy, Debug)]
pub struct RefreshCutoffs {
    pub idle: i64,
    pub max: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Session {
    #[sqlx(try_from = "UuidText")]
    pub uuid: String,
    #[sqlx(try_from = "UuidText")]
    pub user_uuid: String,
    #[sqlx(try_from = "UuidText")]
    pub tenant_uuid: String,
    pub mobile: bool,
    #[sqlx(try_from = "Micros")]
    pub created_at: i64,
    pub user_agent: String,
    pub remote_addr: String,
    pub client_id: Option<String>,
}

/// The share of the session cap (`max_user_concurrent_sessions`) a session counts in, as the
/// domain decides (`share_of` in `domain/tokens/issue.rs`): the sessions a password login opened (online or offline), or
/// those a refresh grant minted. Each share is bounded by the cap on its own (its column of
/// `session_bounds`, its rows of `tokens` by `refresh_grant`; migration 0013), so that grants
/// never take a password login's room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionShare {
    Logins,
    Grants,
}

// The throttle.

/// One count an attempt is charged to, with the policy of its kind. Times are microseconds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CountedKey {
    /// Opaque (a digest): the store never sees what is counted.
    pub key: String,
    /// Failures before attempts are held back (at least 1).
    pub threshold: i64,
    /// The longest hold-back.
    pub max_delay: i64,
}

/// The times of one attempt: `now`, the first delay, the time before which a count is forgotten,
/// and the time before which a pending charge is stale.
#[derive(Clone, Copy, Debug)]
pub struct AttemptTimes {
    pub now: i64,
    pub base_delay: i64,
    pub forget_before: i64,
    pub stale_before: i64,
}

/// What a charge found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Charged: the attempt may be checked.
    Admitted,
    /// Nothing charged: a key is held back until then.
    HeldUntil(i64),
    /// Nothing charged: a key has as many attempts in flight as it may still fail; they may yet
    /// succeed, so the attempt may ask again shortly.
    Busy,
}

// Lists.

#[derive(Clone, Debug, Default)]
pub struct ListParams {
    pub limit: Option<i64>,
    pub offset: i64,
    /// A column name, already checked against the list's orderable columns.
    pub order: Option<String>,
    pub descending: bool,
    pub search: Option<String>,
}

#[derive(Debug)]
pub struct Page<T> {
    pub total: i64,
    pub filtered: i64,
    pub items: Vec<T>,
}
