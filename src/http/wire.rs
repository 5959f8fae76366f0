//! The wire, written once: the request and response bodies the handlers really read and write,
//! the parameters and the shared responses, from which utoipa generates the OpenAPI description.
//!
//! Response fields are declared in alphabetical order: the first version built its bodies as
//! `serde_json::Value` maps, which serialise their keys sorted, and clients see the same bytes.
//! The token bodies are read into the request types here by `super::read` (wazo's error texts
//! and leniencies, which serde's derive cannot give); the user and policy bodies are read straight
//! into the domain's input types by `super::body`, which also describes them.
//!
//! Rules used below: a plain field is required and not null; `#[schema(required = false)]` makes it
//! optional (still not null); an `Option` field is optional and may be null; `Option` with
//! `required = true` is a field always present that may be null.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoParams, ToSchema};

use crate::domain;

// ---- Enumerations -------------------------------------------------------------------------------

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Purpose {
    User,
    Internal,
    ExternalApi,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum AuthenticationMethod {
    Default,
    Native,
    Ldap,
    Saml,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum AccessType {
    Online,
    Offline,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Direction {
    Asc,
    Desc,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(rename_all = "snake_case")]
pub enum RevokedMessage {
    Success,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(rename_all = "snake_case")]
pub enum RestApiState {
    Ok,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(rename_all = "snake_case")]
pub enum DatabaseState {
    Ok,
    Fail,
}

// ---- Tokens -------------------------------------------------------------------------------------

/// Body of POST /token. Unknown keys are ignored. 400 when `access_type` is `offline` with a
/// `refresh_token`, `offline` without `client_id`, a `refresh_token` without `client_id`,
/// `tenant_id` together with `domain_name`, or any field of the wrong type or range.
#[derive(Debug, Default, PartialEq, ToSchema)]
pub struct TokenRequest {
    /// Lifetime of the access token in seconds, 1 to 315360000 (ten years); default the
    /// configured `default_token_lifetime` (7200). A numeric string (e.g. `"3600"`) and a
    /// whole float (`3600.0`) are also accepted; booleans, null, a float that is not whole,
    /// and out-of-range values are 400.
    #[schema(required = false, minimum = 1, maximum = 315360000, value_type = i64)]
    pub expiration: Option<i64>,
    /// `offline` also creates a refresh token (requires `client_id`)
    #[schema(required = false, inline, default = "online", value_type = AccessType)]
    pub access_type: Option<AccessType>,
    /// The client the refresh token belongs to (required with `offline` or `refresh_token`)
    #[schema(required = false, min_length = 1, max_length = 1024, value_type = String)]
    pub client_id: Option<String>,
    /// Selects the refresh-token grant (with `client_id`, which must match exactly)
    #[schema(required = false, max_length = 1024, value_type = String)]
    pub refresh_token: Option<String>,
    /// ACL entries (negatives allowed; at most 100 of at most 1024 characters; `[]` limits to
    /// nothing). With `access_type` `offline`: the refresh token's scope, which every access
    /// token minted under it is limited to (absent: unlimited; a second offline login sets it
    /// anew). With a `refresh_token`: narrows this one access token; every entry must be covered
    /// by the refresh token's scope, else 400 `invalid_scope`. Not allowed on an online login.
    #[schema(required = false, max_items = 100, value_type = Vec<String>)]
    pub scope: Option<Vec<String>>,
    /// Accepted and ignored
    #[schema(required = false, value_type = String)]
    pub backend: Option<String>,
    /// Accepted; mutually exclusive with `domain_name`
    #[schema(required = false, min_length = 1, max_length = 1024, value_type = String)]
    pub tenant_id: Option<String>,
    /// Accepted; mutually exclusive with `tenant_id`
    #[schema(required = false, min_length = 1, max_length = 1024, value_type = String)]
    pub domain_name: Option<String>,
}

impl TokenRequest {
    /// `access_type: offline`: a refresh token is asked for.
    pub fn offline(&self) -> bool {
        self.access_type == Some(AccessType::Offline)
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenData {
    /// The token's ACL, fixed at creation (default user policy, then the user's policies)
    pub acl: Vec<String>,
    /// The user's uuid
    #[schema(format = "uuid")]
    pub auth_id: String,
    /// Server local time, ISO 8601 without zone; `expires_at - issued_at` equals the expiration
    #[schema(example = "2026-05-05T16:05:31.123456")]
    pub expires_at: String,
    /// Server local time, ISO 8601 without zone (`%Y-%m-%dT%H:%M:%S.%f`)
    #[schema(example = "2026-05-05T14:05:31.123456")]
    pub issued_at: String,
    pub metadata: TokenMetadata,
    /// Only in the answer to a POST /token with `access_type` `offline`, and to a refresh
    /// grant when rotation is on (the new value, which supersedes the one presented)
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, value_type = String)]
    pub refresh_token: Option<String>,
    /// The client's address
    pub remote_addr: String,
    /// The scope the token is limited to (it grants only what both `acl` and `scope` grant);
    /// null when unlimited
    #[schema(required = true)]
    pub scope: Option<Vec<String>>,
    #[schema(format = "uuid")]
    pub session_uuid: String,
    /// The access token
    #[schema(format = "uuid")]
    pub token: String,
    /// UTC, ISO 8601 without zone
    #[schema(example = "2026-05-05T14:05:31.123456")]
    pub utc_expires_at: String,
    /// UTC, ISO 8601 without zone (`%Y-%m-%dT%H:%M:%S.%f`)
    #[schema(example = "2026-05-05T12:05:31.123456")]
    pub utc_issued_at: String,
    /// The client's User-Agent
    pub user_agent: String,
    /// The user's uuid; null for purposes `internal` and `external_api`
    #[schema(required = true, format = "uuid")]
    pub xivo_user_uuid: Option<String>,
    /// The configured `xivo_uuid` (or `XIVO_UUID`), or null
    #[schema(required = true)]
    pub xivo_uuid: Option<String>,
}

impl From<&domain::tokens::TokenView> for TokenData {
    fn from(view: &domain::tokens::TokenView) -> Self {
        let token = view.details();
        let owned = |values: &[String]| values.to_vec();
        TokenData {
            acl: owned(token.acl),
            auth_id: token.auth_id.to_string(),
            expires_at: time::local(token.expires_at),
            issued_at: time::local(token.issued_at),
            metadata: TokenMetadata::from(token.owner),
            refresh_token: token.refresh_token.map(str::to_string),
            remote_addr: token.remote_addr.to_string(),
            scope: token.scope.map(owned),
            session_uuid: token.session_uuid.to_string(),
            token: token.token.to_string(),
            utc_expires_at: time::utc(token.expires_at),
            utc_issued_at: time::utc(token.issued_at),
            user_agent: token.user_agent.to_string(),
            xivo_user_uuid: token.owner.pbx_user_uuid.map(str::to_string),
            xivo_uuid: token.xivo_uuid.map(str::to_string),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenMetadata {
    #[schema(required = false, format = "uuid")]
    pub auth_id: String,
    #[schema(format = "uuid")]
    pub pbx_user_uuid: Option<String>,
    #[schema(required = false, inline, value_type = Purpose)]
    pub purpose: String,
    #[schema(required = false, format = "uuid")]
    pub tenant_uuid: String,
    #[schema(required = false, format = "uuid")]
    pub uuid: String,
    pub xivo_uuid: Option<String>,
}

impl From<domain::records::TokenOwner<'_>> for TokenMetadata {
    fn from(owner: domain::records::TokenOwner<'_>) -> Self {
        TokenMetadata {
            auth_id: owner.auth_id.to_string(),
            pbx_user_uuid: owner.pbx_user_uuid.map(str::to_string),
            purpose: owner.purpose.to_string(),
            tenant_uuid: owner.tenant_uuid.to_string(),
            uuid: owner.uuid.to_string(),
            xivo_uuid: owner.xivo_uuid.map(str::to_string),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Token {
    pub data: TokenData,
}

#[derive(Serialize, ToSchema)]
pub struct TokenRevoked {
    #[schema(inline)]
    pub data: TokenRevokedData,
}

#[derive(Serialize, ToSchema)]
pub struct TokenRevokedData {
    #[schema(inline)]
    pub message: RevokedMessage,
}

#[derive(Debug, Default, ToSchema)]
pub struct ScopesCheckRequest {
    pub scopes: Vec<String>,
    /// When given, must be the token's tenant (403 otherwise)
    pub tenant_uuid: Option<String>,
}

impl From<ScopesCheckRequest> for domain::tokens::ScopesCheck {
    fn from(body: ScopesCheckRequest) -> Self {
        domain::tokens::ScopesCheck {
            scopes: body.scopes,
            tenant: body.tenant_uuid,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ScopesCheckResponse {
    /// Each requested scope, mapped to whether the token grants it
    #[schema(example = json!({"auth.users.read": true, "confd.users.create": false}))]
    pub scopes: BTreeMap<String, bool>,
}

// ---- Users --------------------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct Email {
    pub address: String,
    pub confirmed: bool,
    pub main: bool,
    #[schema(format = "uuid")]
    pub uuid: String,
}

#[derive(Serialize, ToSchema)]
pub struct User {
    #[schema(inline, value_type = AuthenticationMethod)]
    pub authentication_method: String,
    pub emails: Vec<Email>,
    pub enabled: bool,
    #[schema(required = true)]
    pub firstname: Option<String>,
    #[schema(required = true)]
    pub lastname: Option<String>,
    #[schema(inline, value_type = Purpose)]
    pub purpose: String,
    #[schema(format = "uuid")]
    pub tenant_uuid: String,
    #[schema(required = true)]
    pub username: Option<String>,
    #[schema(format = "uuid")]
    pub uuid: String,
}

impl From<&domain::UserView> for User {
    fn from(user: &domain::UserView) -> Self {
        User {
            authentication_method: user.authentication_method.clone(),
            emails: user
                .emails
                .iter()
                .map(|e| Email {
                    address: e.address.clone(),
                    confirmed: e.confirmed,
                    main: e.main,
                    uuid: e.uuid.clone(),
                })
                .collect(),
            enabled: user.enabled,
            firstname: user.firstname.clone(),
            lastname: user.lastname.clone(),
            purpose: user.purpose.clone(),
            tenant_uuid: user.tenant_uuid.clone(),
            username: user.username.clone(),
            uuid: user.uuid.clone(),
        }
    }
}

/// The bodies of POST /users, PUT /users/{uuid} and PUT /users/{uuid}/password: read straight
/// into the domain's input types and described by `super::body`.
pub type UserCreate = domain::users::NewUserInput;
pub type UserEdit = domain::users::UserChanges;
pub type PasswordChange = domain::users::PasswordChange;

// ---- Policies -----------------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct Policy {
    pub acl: Vec<String>,
    #[schema(required = true)]
    pub description: Option<String>,
    pub name: String,
    pub read_only: bool,
    pub shared: bool,
    pub slug: String,
    #[schema(format = "uuid")]
    pub tenant_uuid: String,
    #[schema(format = "uuid")]
    pub uuid: String,
}

impl From<&domain::PolicyView> for Policy {
    fn from(policy: &domain::PolicyView) -> Self {
        Policy {
            acl: policy.acl.clone(),
            description: policy.description.clone(),
            name: policy.name.clone(),
            read_only: policy.read_only,
            shared: policy.shared,
            slug: policy.slug.clone(),
            tenant_uuid: policy.tenant_uuid.clone(),
            uuid: policy.uuid.clone(),
        }
    }
}

/// The bodies of POST /policies and PUT /policies/{id}: read straight into the domain's input
/// types and described by `super::body`.
pub type PolicyCreate = domain::policies::NewPolicyInput;
pub type PolicyEdit = domain::policies::PolicyEdit;

// ---- OAuth2 clients -----------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(rename_all = "snake_case")]
pub enum ClientType {
    Public,
    Confidential,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(rename_all = "snake_case")]
pub enum Consent {
    Required,
    Implicit,
}

/// An OAuth2 client, without its secret (which only the answers that make one carry)
#[derive(Serialize, ToSchema)]
pub struct OAuth2Client {
    /// Chosen by Tessera
    #[schema(format = "uuid")]
    pub client_id: String,
    #[schema(inline)]
    pub consent: Consent,
    #[schema(format = DateTime, example = "2026-05-05T12:05:31.123456+00:00")]
    pub created_at: String,
    pub grant_types: Vec<String>,
    pub name: String,
    pub post_logout_redirect_uris: Vec<String>,
    pub redirect_uris: Vec<String>,
    /// The ceiling: ACL entries no token of the client grants more than
    pub scope: Vec<String>,
    #[serde(rename = "type")]
    #[schema(inline, rename = "type")]
    pub client_type: ClientType,
}

impl From<&domain::oauth2::clients::ClientView> for OAuth2Client {
    fn from(client: &domain::oauth2::clients::ClientView) -> Self {
        use domain::oauth2::clients;
        OAuth2Client {
            client_id: client.client_id.clone(),
            consent: match client.consent {
                clients::Consent::Required => Consent::Required,
                clients::Consent::Implicit => Consent::Implicit,
            },
            created_at: time::rfc3339(client.created_at),
            grant_types: client.grant_types.clone(),
            name: client.name.clone(),
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            redirect_uris: client.redirect_uris.clone(),
            scope: client.scope.clone(),
            client_type: match client.client_type {
                clients::ClientType::Public => ClientType::Public,
                clients::ClientType::Confidential => ClientType::Confidential,
            },
        }
    }
}

/// A client just registered: the client, and for a confidential client its secret, shown here
/// only (Tessera keeps a digest)
#[derive(Serialize, ToSchema)]
pub struct OAuth2ClientCreated {
    #[serde(flatten)]
    pub client: OAuth2Client,
    /// The only time it is shown; absent for a public client
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, value_type = String)]
    pub client_secret: Option<String>,
}

impl From<&domain::oauth2::clients::ClientWithSecret> for OAuth2ClientCreated {
    fn from(created: &domain::oauth2::clients::ClientWithSecret) -> Self {
        OAuth2ClientCreated {
            client: OAuth2Client::from(&created.client),
            client_secret: created.client_secret.clone(),
        }
    }
}

/// A client's new secret, shown here only: the old one no longer works
#[derive(Serialize, ToSchema)]
pub struct OAuth2ClientSecret {
    #[schema(format = "uuid")]
    pub client_id: String,
    pub client_secret: String,
}

/// The body of POST and PUT /oauth2/clients: read straight into the domain's input type and
/// described by `super::body`.
pub type OAuth2ClientBody = domain::oauth2::clients::ClientInput;

// ---- Sessions and refresh tokens ----------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct Session {
    /// The refresh token's client_id, for sessions minted from one
    #[schema(required = true)]
    pub client_id: Option<String>,
    #[schema(format = DateTime, example = "2026-05-05T12:05:31.123456+00:00")]
    pub created_at: String,
    pub mobile: bool,
    pub remote_addr: String,
    #[schema(format = "uuid")]
    pub tenant_uuid: String,
    pub user_agent: String,
    #[schema(format = "uuid")]
    pub user_uuid: String,
    #[schema(format = "uuid")]
    pub uuid: String,
}

impl From<&domain::SessionView> for Session {
    fn from(session: &domain::SessionView) -> Self {
        Session {
            client_id: session.client_id.clone(),
            created_at: time::rfc3339(session.created_at),
            mobile: session.mobile,
            remote_addr: session.remote_addr.clone(),
            tenant_uuid: session.tenant_uuid.clone(),
            user_agent: session.user_agent.clone(),
            user_uuid: session.user_uuid.clone(),
            uuid: session.uuid.clone(),
        }
    }
}

/// A refresh token, without its value
#[derive(Serialize, ToSchema)]
pub struct RefreshToken {
    pub client_id: String,
    #[schema(format = DateTime, example = "2026-05-05T12:05:31.123456+00:00")]
    pub created_at: String,
    pub metadata: HashMap<String, serde_json::Value>,
    pub mobile: bool,
    /// The ACL entries it limits its access tokens to; null when unlimited
    #[schema(required = true)]
    pub scope: Option<Vec<String>>,
    #[schema(format = "uuid")]
    pub tenant_uuid: String,
    #[schema(format = "uuid")]
    pub user_uuid: String,
}

impl From<&domain::RefreshTokenView> for RefreshToken {
    fn from(token: &domain::RefreshTokenView) -> Self {
        RefreshToken {
            client_id: token.client_id.clone(),
            created_at: time::rfc3339(token.created_at),
            metadata: HashMap::new(),
            mobile: token.mobile,
            scope: token.scope.clone(),
            tenant_uuid: token.tenant_uuid.clone(),
            user_uuid: token.user_uuid.clone(),
        }
    }
}

// ---- Lists --------------------------------------------------------------------------------------

/// The list answers: `{filtered, items, total}`, one type per item (their names are the
/// description's).
macro_rules! lists {
    ($($name:ident($item:ident from $row:ty): $total:literal, $filtered:literal;)*) => {$(
        #[derive(Serialize, ToSchema)]
        pub struct $name {
            #[doc = $filtered]
            pub filtered: i64,
            pub items: Vec<$item>,
            #[doc = $total]
            pub total: i64,
        }

        impl $name {
            pub fn of(page: &domain::Page<$row>) -> $name {
                $name {
                    filtered: page.filtered,
                    items: page.items.iter().map($item::from).collect(),
                    total: page.total,
                }
            }
        }
    )*};
}

lists! {
    UserList(User from domain::UserView):
        "Items before search and filters", "Items matching search and filters, before paging";
    PolicyList(Policy from domain::PolicyView):
        "Items before search", "Items matching the search, before paging";
    SessionList(Session from domain::SessionView):
        "Items before search", "Items matching the search, before paging";
    RefreshTokenList(RefreshToken from domain::RefreshTokenView):
        "Items before search", "Items matching the search and filters, before paging";
    OAuth2ClientList(OAuth2Client from domain::oauth2::clients::ClientView):
        "Items before search", "Items matching the search, before paging";
}

impl PolicyList {
    /// A whole list, unpaged.
    pub fn all(policies: &[domain::PolicyView]) -> PolicyList {
        let count = i64::try_from(policies.len()).unwrap_or(i64::MAX);
        PolicyList {
            filtered: count,
            items: policies.iter().map(Policy::from).collect(),
            total: count,
        }
    }
}

// ---- Status and errors --------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct Status {
    #[schema(inline)]
    pub database: DatabaseStatus,
    #[schema(inline)]
    pub rest_api: RestApiStatus,
}

#[derive(Serialize, ToSchema)]
pub struct RestApiStatus {
    #[schema(inline)]
    pub status: RestApiState,
}

#[derive(Serialize, ToSchema)]
pub struct DatabaseStatus {
    #[schema(inline)]
    pub status: DatabaseState,
}

/// Error body of the token endpoints (POST/GET/HEAD/DELETE /token...)
#[derive(Serialize, ToSchema)]
pub struct TokenError {
    #[schema(example = json!(["Authentication Failed"]))]
    pub reason: Vec<String>,
    #[schema(example = 401)]
    pub status_code: u16,
    #[schema(example = json!([1778000000.123456]))]
    pub timestamp: Vec<f64>,
}

/// Error body of every endpoint but the token ones
#[derive(Serialize, ToSchema)]
pub struct ApiError {
    #[schema(example = json!({
        "invalid_token": null,
        "reason": "not_found_or_expired",
        "required_access": "auth.users.read"
    }), value_type = HashMap<String, serde_json::Value>)]
    pub details: serde_json::Value,
    #[schema(example = "unauthorized")]
    pub error_id: String,
    #[schema(example = "Unauthorized")]
    pub message: String,
    /// The kind of resource concerned (e.g. `users`, `policies`, `tokens`), when any
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, value_type = String)]
    pub resource: Option<&'static str>,
    /// Epoch seconds
    #[schema(example = 1778000000.123456)]
    pub timestamp: f64,
}

/// Times as the contract writes them.
pub mod time {
    use chrono::{DateTime, Datelike as _, NaiveDateTime, Timelike as _};

    /// `2026-05-05T12:05:31.123456`, in UTC.
    pub fn utc(micros: i64) -> String {
        iso(instant(micros).naive_utc(), "")
    }

    /// The same instant in the server's local time zone, as the original's `issued_at`.
    pub fn local(micros: i64) -> String {
        iso(
            instant(micros).with_timezone(&chrono::Local).naive_local(),
            "",
        )
    }

    /// ISO 8601 with an explicit UTC offset, for `created_at` fields.
    pub fn rfc3339(micros: i64) -> String {
        iso(instant(micros).naive_utc(), "+00:00")
    }

    fn instant(micros: i64) -> DateTime<chrono::Utc> {
        DateTime::from_timestamp_micros(micros).unwrap_or_default()
    }

    /// `%Y-%m-%dT%H:%M:%S%.6f` and `suffix`, written digit by digit: every token response has
    /// four of these, and chrono's `format` parses its pattern again for each one (which showed in
    /// profiles of the refresh grant). Years outside 0–9999 (which chrono writes with a
    /// sign) are left to chrono.
    fn iso(at: NaiveDateTime, suffix: &str) -> String {
        let year = match u32::try_from(at.year()) {
            Ok(year) if year <= 9999 => year,
            _ => return format!("{}{suffix}", at.format("%Y-%m-%dT%H:%M:%S%.6f")),
        };
        let mut text = String::with_capacity(26 + suffix.len());
        let fields = [
            (year, 4, '-'),
            (at.month(), 2, '-'),
            (at.day(), 2, 'T'),
            (at.hour(), 2, ':'),
            (at.minute(), 2, ':'),
            (at.second(), 2, '.'),
        ];
        for (value, width, separator) in fields {
            push_digits(&mut text, value, width);
            text.push(separator);
        }
        // An instant made from microseconds is never a leap second (nanosecond < 1e9).
        push_digits(&mut text, at.nanosecond() / 1_000, 6);
        text.push_str(suffix);
        text
    }

    fn push_digits(text: &mut String, value: u32, width: u32) {
        for power in (0..width).rev() {
            let digit = (value / 10u32.pow(power)) % 10;
            text.push(char::from_digit(digit, 10).unwrap_or('0'));
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn times_have_microseconds_and_no_zone() {
            assert_eq!(
                super::utc(1_778_000_000_123_456),
                "2026-05-05T16:53:20.123456"
            );
        }

        /// The digit-by-digit writer says what chrono's `format` says, at the edges too.
        #[test]
        fn times_are_written_as_chrono_writes_them() {
            let chrono_utc = |micros: i64| {
                chrono::DateTime::from_timestamp_micros(micros)
                    .unwrap_or_default()
                    .format("%Y-%m-%dT%H:%M:%S%.6f")
                    .to_string()
            };
            for micros in [
                0,
                -1,
                1,
                999_999,
                1_778_000_000_000_000,
                253_402_300_799_999_999,
                253_402_300_800_000_000,
                -62_167_219_200_000_001,
                i64::MAX,
                i64::MIN,
            ] {
                assert_eq!(super::utc(micros), chrono_utc(micros), "{micros}");
                assert_eq!(super::rfc3339(micros), chrono_utc(micros) + "+00:00");
            }
        }
    }
}

// ---- Parameters ---------------------------------------------------------------------------------

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    /// An access token, a UUID in either case (a refresh token here is an unknown token, except
    /// to DELETE, which revokes it; a value that is not a UUID is 404)
    pub token: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserUuidPath {
    /// A user's uuid (not a UUID → 404)
    #[param(format = "uuid")]
    pub user_uuid: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SessionUuidPath {
    /// A session's uuid (not a UUID → 404)
    #[param(format = "uuid")]
    pub session_uuid: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PolicyUuidPath {
    /// A policy's uuid, or its slug (`[a-zA-Z0-9_-]`, 1 to 80 characters); anything else → 404
    pub policy_uuid: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ClientIdPath {
    /// The client_id of a refresh token (in the required ACL, its `.` become `_`)
    pub client_id: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OAuth2ClientIdPath {
    /// An OAuth2 client's client_id (not a UUID → 404)
    #[param(format = "uuid")]
    pub client_id: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccessPath {
    /// One ACL entry, percent-encoded (e.g. `confd.users.%23` for `confd.users.#`)
    pub access: String,
}

/// `?scope=&tenant=` of HEAD and GET /token/{token}.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ValidationQuery {
    /// An ACL the token must grant (403 otherwise)
    #[param(required = false)]
    pub scope: String,
    /// A tenant uuid the token must belong to (403 otherwise)
    #[param(required = false)]
    pub tenant: String,
}

/// The `Wazo-Tenant` header of the protected endpoints.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct WazoTenant {
    /// When sent, must name the tenant of the caller's token (otherwise 401 `unauthorized`,
    /// reason `missing_permission_or_invalid_tenant`)
    #[param(rename = "Wazo-Tenant", required = false)]
    pub wazo_tenant: String,
}

/// The `Wazo-Session-Type` header of POST /token.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct WazoSessionType {
    /// `mobile` (case-insensitive) marks a mobile session. A mobile offline login replaces
    /// the user's other mobile refresh tokens and ends the sessions minted from them.
    #[param(rename = "Wazo-Session-Type", required = false)]
    pub wazo_session_type: String,
}

/// The paging, sorting and search parameters of every list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Maximum number of items (no limit by default)
    #[param(required = false, minimum = 0)]
    pub limit: u64,
    /// Number of items to skip
    #[param(required = false, minimum = 0, default = 0)]
    pub offset: u64,
    /// Sort direction
    #[param(required = false, inline, default = "asc")]
    pub direction: Direction,
    /// Case-insensitive substring searched in the list's text columns
    #[param(required = false)]
    pub search: String,
}

/// `order`: one of the list's sortable columns (another value → 400), the first by default.
fn order(columns: &[&str]) -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(columns.iter().copied()))
        .default(columns.first().map(|column| serde_json::json!(column)))
        .build()
}

macro_rules! order_params {
    ($($name:ident: $columns:path;)*) => {$(
        /// The `order` parameter of a list.
        #[derive(IntoParams)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            /// Column to sort by (another value → 400)
            #[param(required = false, schema_with = $name::schema)]
            pub order: String,
        }
        impl $name {
            fn schema() -> utoipa::openapi::schema::Object {
                order($columns)
            }
        }
    )*};
}

order_params! {
    UserOrder: domain::users::USER_ORDER;
    PolicyOrder: domain::policies::POLICY_ORDER;
    SessionOrder: domain::sessions::SESSION_ORDER;
    RefreshTokenOrder: domain::refresh_tokens::REFRESH_ORDER;
    OAuth2ClientOrder: domain::oauth2::clients::CLIENT_ORDER;
}

/// The `mobile` filter of the refresh-token lists.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MobileFilter {
    /// Only mobile (`true`) or non-mobile (`false`) refresh tokens; also accepts 1/0, yes/no, on/off
    #[param(required = false)]
    pub mobile: bool,
}

/// The exact-match filters of GET /users.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilters {
    /// Only the user with this uuid
    #[param(required = false)]
    pub uuid: String,
    /// Only users with this username
    #[param(required = false)]
    pub username: String,
    /// Only users with this first name
    #[param(required = false)]
    pub firstname: String,
    /// Only users with this last name
    #[param(required = false)]
    pub lastname: String,
    /// Only users with this purpose (`user`, `internal` or `external_api`)
    #[param(required = false)]
    pub purpose: String,
}

// ---- Shared responses ---------------------------------------------------------------------------

/// A reusable response (`#/components/responses/<name>`): a description and a JSON error body.
macro_rules! error_response {
    ($($name:ident($schema:literal): $description:literal;)*) => {$(
        pub struct $name;
        impl<'r> utoipa::ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), error_body($description, $schema))
            }
        }
    )*};
}

fn error_body(description: &str, schema: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .build()
        .into()
}

error_response! {
    TokenBadRequest("TokenError"): "Invalid body or field";
    NoSuchToken("TokenError"): "No such token, or expired";
    TokenUnavailable("TokenError"): "The database does not answer";
    Unauthorized("ApiError"): "`unauthorized`: a missing, unknown or expired `X-Auth-Token` \
        (`details.reason` `not_found_or_expired`), a token that does not grant the required ACL or \
        names another tenant in `Wazo-Tenant` (`missing_permission_or_invalid_tenant`, with \
        `details.tenant_uuid`), or an ACL entry the caller does not hold; `details.required_access` \
        names what was missing";
    InvalidData("ApiError"): "A body field or query parameter breaks the schema (`invalid-data`; \
        `details` names the field), or a bad `limit`, `offset`, `order` or `direction` \
        (`invalid-list-param`)";
    NotFound("ApiError"): "A path segment that must be a UUID is not one (`not-found`)";
    UnknownUser("ApiError"): "No such user (`unknown-user`), or a user_uuid that is not a UUID \
        (`not-found`)";
    UnknownPolicy("ApiError"): "No such policy (`unknown-policy`), or a path value that is neither a \
        UUID nor a slug (`not-found`)";
    UnknownClient("ApiError"): "No such OAuth2 client, or a client_id that is not a UUID \
        (`not-found`)";
    ReadOnlyPolicy("ApiError"): "The policy is read-only (`read-only-policy`)";
    PolicyInUse("ApiError"): "The configuration names this policy (`default_user_policy`): it \
        cannot be deleted (`policy-in-use`)";
    Conflict("ApiError"): "A unique name, username, e-mail address or uuid is already in use \
        (`conflict`)";
    PayloadTooLarge("ApiError"): "Request body larger than 64 KiB (`payload-too-large`)";
    Unavailable("ApiError"): "The database does not answer (`service-unavailable`)";
}
