//! Documentation-only types for the OpenAPI description (src/http/openapi.rs): the shapes of the
//! bodies, parameters and shared responses the handlers read and write as `serde_json::Value`.
//! They are never constructed; only their `utoipa` derives are used.
//!
//! Rules used below: a plain field is required and not null; `#[schema(required = false)]` makes it
//! optional (still not null); an `Option` field is optional and may be null; `Option` with
//! `required = true` is a field always present that may be null.

#![allow(dead_code)]

use std::collections::HashMap;

use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoParams, ToSchema};

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

#[derive(ToSchema)]
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

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum RevokedMessage {
    Success,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum RestApiState {
    Ok,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum DatabaseState {
    Ok,
    Fail,
}

// ---- Tokens -------------------------------------------------------------------------------------

/// Body of POST /token. Unknown keys are ignored. 400 when `access_type` is `offline` with a
/// `refresh_token`, `offline` without `client_id`, a `refresh_token` without `client_id`,
/// `tenant_id` together with `domain_name`, or any field of the wrong type or range.
#[derive(ToSchema)]
pub struct TokenRequest {
    /// Lifetime of the access token in seconds, 1 to 315360000 (ten years); default the
    /// configured `default_token_lifetime` (7200). A numeric string (e.g. `"3600"`) and a
    /// whole float (`3600.0`) are also accepted; booleans, null, a float that is not whole,
    /// and out-of-range values are 400.
    #[schema(required = false, minimum = 1, maximum = 315360000)]
    expiration: i64,
    /// `offline` also creates a refresh token (requires `client_id`)
    #[schema(required = false, inline, default = "online")]
    access_type: AccessType,
    /// The client the refresh token belongs to (required with `offline` or `refresh_token`)
    #[schema(required = false, min_length = 1, max_length = 1024)]
    client_id: String,
    /// Selects the refresh-token grant (with `client_id`, which must match exactly)
    #[schema(required = false, max_length = 1024)]
    refresh_token: String,
    /// Accepted and ignored
    #[schema(required = false)]
    backend: String,
    /// Accepted; mutually exclusive with `domain_name`
    #[schema(required = false, min_length = 1, max_length = 1024)]
    tenant_id: String,
    /// Accepted; mutually exclusive with `tenant_id`
    #[schema(required = false, min_length = 1, max_length = 1024)]
    domain_name: String,
}

#[derive(ToSchema)]
pub struct TokenData {
    /// The access token
    #[schema(format = "uuid")]
    token: String,
    /// The user's uuid
    #[schema(format = "uuid")]
    auth_id: String,
    /// The user's uuid; null for purposes `internal` and `external_api`
    #[schema(required = true, format = "uuid")]
    xivo_user_uuid: Option<String>,
    /// The configured `xivo_uuid` (or `XIVO_UUID`), or null
    #[schema(required = true)]
    xivo_uuid: Option<String>,
    /// Server local time, ISO 8601 without zone (`%Y-%m-%dT%H:%M:%S.%f`)
    #[schema(example = "2026-05-05T14:05:31.123456")]
    issued_at: String,
    /// Server local time, ISO 8601 without zone; `expires_at - issued_at` equals the expiration
    #[schema(example = "2026-05-05T16:05:31.123456")]
    expires_at: String,
    /// UTC, ISO 8601 without zone (`%Y-%m-%dT%H:%M:%S.%f`)
    #[schema(example = "2026-05-05T12:05:31.123456")]
    utc_issued_at: String,
    /// UTC, ISO 8601 without zone
    #[schema(example = "2026-05-05T14:05:31.123456")]
    utc_expires_at: String,
    /// The token's ACL, fixed at creation (default user policy, then the user's policies)
    acl: Vec<String>,
    metadata: TokenMetadata,
    #[schema(format = "uuid")]
    session_uuid: String,
    /// The client's address
    remote_addr: String,
    /// The client's User-Agent
    user_agent: String,
    /// Only in the answer to a POST /token with `access_type` `offline`
    #[schema(required = false)]
    refresh_token: String,
}

#[derive(ToSchema)]
pub struct TokenMetadata {
    #[schema(required = false, format = "uuid")]
    uuid: String,
    #[schema(required = false, format = "uuid")]
    tenant_uuid: String,
    #[schema(required = false, format = "uuid")]
    auth_id: String,
    #[schema(format = "uuid")]
    pbx_user_uuid: Option<String>,
    xivo_uuid: Option<String>,
    #[schema(required = false, inline)]
    purpose: Purpose,
}

#[derive(ToSchema)]
pub struct Token {
    data: TokenData,
}

#[derive(ToSchema)]
pub struct TokenRevoked {
    #[schema(inline)]
    data: TokenRevokedData,
}

#[derive(ToSchema)]
pub struct TokenRevokedData {
    #[schema(inline)]
    message: RevokedMessage,
}

#[derive(ToSchema)]
pub struct ScopesCheckRequest {
    scopes: Vec<String>,
    /// When given, must be the token's tenant (403 otherwise)
    tenant_uuid: Option<String>,
}

#[derive(ToSchema)]
pub struct ScopesCheckResponse {
    /// Each requested scope, mapped to whether the token grants it
    #[schema(example = json!({"auth.users.read": true, "confd.users.create": false}))]
    scopes: HashMap<String, bool>,
}

// ---- Users --------------------------------------------------------------------------------------

#[derive(ToSchema)]
pub struct Email {
    #[schema(format = "uuid")]
    uuid: String,
    address: String,
    main: bool,
    confirmed: bool,
}

#[derive(ToSchema)]
pub struct User {
    #[schema(format = "uuid")]
    uuid: String,
    #[schema(required = true)]
    username: Option<String>,
    #[schema(required = true)]
    firstname: Option<String>,
    #[schema(required = true)]
    lastname: Option<String>,
    emails: Vec<Email>,
    enabled: bool,
    #[schema(inline)]
    purpose: Purpose,
    #[schema(format = "uuid")]
    tenant_uuid: String,
    #[schema(inline)]
    authentication_method: AuthenticationMethod,
}

#[derive(ToSchema)]
pub struct UserCreate {
    /// Chosen uuid; a new one by default
    #[schema(format = "uuid")]
    uuid: Option<String>,
    /// Unique case-insensitively, across usernames and e-mail addresses
    #[schema(min_length = 1, max_length = 256)]
    username: Option<String>,
    /// Without one, the user cannot log in with a password
    #[schema(min_length = 1, max_length = 1024)]
    password: Option<String>,
    /// Must contain `@` and no whitespace; unique case-insensitively
    #[schema(min_length = 3, max_length = 320)]
    email_address: Option<String>,
    #[schema(max_length = 128)]
    firstname: Option<String>,
    #[schema(max_length = 128)]
    lastname: Option<String>,
    #[schema(required = false, inline, default = "user")]
    purpose: Purpose,
    #[schema(required = false, default = true)]
    enabled: bool,
    #[schema(required = false, inline, default = "default")]
    authentication_method: AuthenticationMethod,
}

/// Changes the user's fields (see PUT /users/{user_uuid}): an absent field keeps its value.
#[derive(ToSchema)]
pub struct UserEdit {
    /// Unchanged when absent; null clears it
    #[schema(min_length = 1, max_length = 256)]
    username: Option<String>,
    /// Unchanged when absent; null clears it
    #[schema(max_length = 128)]
    firstname: Option<String>,
    /// Unchanged when absent; null clears it
    #[schema(max_length = 128)]
    lastname: Option<String>,
    /// Unchanged when absent
    #[schema(required = false, inline)]
    purpose: Purpose,
    /// Unchanged when absent; `false` ends the user's sessions
    #[schema(required = false)]
    enabled: bool,
    /// Unchanged when absent
    #[schema(required = false, inline)]
    authentication_method: AuthenticationMethod,
}

#[derive(ToSchema)]
pub struct PasswordChange {
    #[schema(min_length = 1, max_length = 1024)]
    old_password: String,
    #[schema(min_length = 1, max_length = 1024)]
    new_password: String,
}

// ---- Policies -----------------------------------------------------------------------------------

#[derive(ToSchema)]
pub struct Policy {
    #[schema(format = "uuid")]
    uuid: String,
    #[schema(format = "uuid")]
    tenant_uuid: String,
    name: String,
    slug: String,
    #[schema(required = true)]
    description: Option<String>,
    acl: Vec<String>,
    read_only: bool,
    shared: bool,
}

#[derive(ToSchema)]
pub struct PolicyCreate {
    #[schema(min_length = 1, max_length = 80)]
    name: String,
    /// Derived from the name when absent
    #[schema(min_length = 1, max_length = 80, pattern = "^[a-zA-Z0-9_-]+$")]
    slug: Option<String>,
    #[schema(max_length = 2048)]
    description: Option<String>,
    #[schema(schema_with = acl_create)]
    acl: Option<Vec<String>>,
    #[schema(required = false, default = false)]
    shared: bool,
}

/// Replaces name, description and ACL; the slug stays
#[derive(ToSchema)]
pub struct PolicyEdit {
    #[schema(min_length = 1, max_length = 80)]
    name: String,
    #[schema(max_length = 2048)]
    description: Option<String>,
    #[schema(schema_with = acl_edit)]
    acl: Option<Vec<String>>,
}

/// A nullable list of ACL entries of at most 1024 bytes each.
fn acl_list(description: &str) -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(1024)),
        )
        .description(Some(description))
        .build()
}

fn acl_create() -> utoipa::openapi::schema::Array {
    acl_list("ACL entries, each granted by the caller's own token (negative `!` entries excepted)")
}

fn acl_edit() -> utoipa::openapi::schema::Array {
    acl_list(
        "The new ACL (empty when absent); every entry added or removed must be granted by the \
         caller's token",
    )
}

// ---- Sessions and refresh tokens ----------------------------------------------------------------

#[derive(ToSchema)]
pub struct Session {
    #[schema(format = "uuid")]
    uuid: String,
    mobile: bool,
    #[schema(format = "uuid")]
    user_uuid: String,
    #[schema(format = "uuid")]
    tenant_uuid: String,
    #[schema(format = DateTime, example = "2026-05-05T12:05:31.123456+00:00")]
    created_at: String,
    user_agent: String,
    remote_addr: String,
    /// The refresh token's client_id, for sessions minted from one
    #[schema(required = true)]
    client_id: Option<String>,
}

/// A refresh token, without its value
#[derive(ToSchema)]
pub struct RefreshToken {
    client_id: String,
    #[schema(format = DateTime, example = "2026-05-05T12:05:31.123456+00:00")]
    created_at: String,
    mobile: bool,
    #[schema(format = "uuid")]
    user_uuid: String,
    #[schema(format = "uuid")]
    tenant_uuid: String,
    metadata: HashMap<String, serde_json::Value>,
}

// ---- Lists --------------------------------------------------------------------------------------

#[derive(ToSchema)]
pub struct UserList {
    /// Items before search and filters
    total: u64,
    /// Items matching search and filters, before paging
    filtered: u64,
    items: Vec<User>,
}

#[derive(ToSchema)]
pub struct PolicyList {
    /// Items before search
    total: u64,
    /// Items matching the search, before paging
    filtered: u64,
    items: Vec<Policy>,
}

#[derive(ToSchema)]
pub struct SessionList {
    /// Items before search
    total: u64,
    /// Items matching the search, before paging
    filtered: u64,
    items: Vec<Session>,
}

#[derive(ToSchema)]
pub struct RefreshTokenList {
    /// Items before search
    total: u64,
    /// Items matching the search and filters, before paging
    filtered: u64,
    items: Vec<RefreshToken>,
}

// ---- Status and errors --------------------------------------------------------------------------

#[derive(ToSchema)]
pub struct Status {
    #[schema(inline)]
    rest_api: RestApiStatus,
    #[schema(inline)]
    database: DatabaseStatus,
}

#[derive(ToSchema)]
pub struct RestApiStatus {
    #[schema(inline)]
    status: RestApiState,
}

#[derive(ToSchema)]
pub struct DatabaseStatus {
    #[schema(inline)]
    status: DatabaseState,
}

/// Error body of the token endpoints (POST/GET/HEAD/DELETE /token...)
#[derive(ToSchema)]
pub struct TokenError {
    #[schema(example = json!(["Authentication Failed"]))]
    reason: Vec<String>,
    #[schema(example = json!([1778000000.123456]))]
    timestamp: Vec<f64>,
    #[schema(example = 401)]
    status_code: u16,
}

/// Error body of every endpoint but the token ones
#[derive(ToSchema)]
pub struct ApiError {
    #[schema(example = "Unauthorized")]
    message: String,
    #[schema(example = "unauthorized")]
    error_id: String,
    #[schema(example = json!({
        "invalid_token": null,
        "reason": "not_found_or_expired",
        "required_access": "auth.users.read"
    }))]
    details: HashMap<String, serde_json::Value>,
    /// Epoch seconds
    #[schema(example = 1778000000.123456)]
    timestamp: f64,
    /// The kind of resource concerned (e.g. `users`, `policies`, `tokens`), when any
    #[schema(required = false)]
    resource: String,
}

// ---- Parameters ---------------------------------------------------------------------------------

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    /// An access token (a refresh token here is an unknown token)
    token: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserUuidPath {
    /// A user's uuid (not a UUID → 404)
    #[param(format = "uuid")]
    user_uuid: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SessionUuidPath {
    /// A session's uuid (not a UUID → 404)
    #[param(format = "uuid")]
    session_uuid: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PolicyUuidPath {
    /// A policy's uuid, or its slug (`[a-zA-Z0-9_-]`, 1 to 80 characters); anything else → 404
    policy_uuid: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ClientIdPath {
    /// The client_id of a refresh token (in the required ACL, its `.` become `_`)
    client_id: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccessPath {
    /// One ACL entry, percent-encoded (e.g. `confd.users.%23` for `confd.users.#`)
    access: String,
}

/// `?scope=&tenant=` of HEAD and GET /token/{token}.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ValidationQuery {
    /// An ACL the token must grant (403 otherwise)
    #[param(required = false)]
    scope: String,
    /// A tenant uuid the token must belong to (403 otherwise)
    #[param(required = false)]
    tenant: String,
}

/// The `Wazo-Tenant` header of the protected endpoints.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct WazoTenant {
    /// When sent, must name the tenant of the caller's token (401 `unauthorized-tenant` otherwise)
    #[param(rename = "Wazo-Tenant", required = false)]
    wazo_tenant: String,
}

/// The `Wazo-Session-Type` header of POST /token.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct WazoSessionType {
    /// `mobile` (case-insensitive) marks a mobile session. A mobile offline login replaces
    /// the user's other mobile refresh tokens and ends the sessions minted from them.
    #[param(rename = "Wazo-Session-Type", required = false)]
    wazo_session_type: String,
}

/// The paging, sorting and search parameters of every list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Maximum number of items (no limit by default)
    #[param(required = false, minimum = 0)]
    limit: u64,
    /// Number of items to skip
    #[param(required = false, minimum = 0, default = 0)]
    offset: u64,
    /// Sort direction
    #[param(required = false, inline, default = "asc")]
    direction: Direction,
    /// Case-insensitive substring searched in the list's text columns
    #[param(required = false)]
    search: String,
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
            order: String,
        }
        impl $name {
            fn schema() -> utoipa::openapi::schema::Object {
                order($columns)
            }
        }
    )*};
}

order_params! {
    UserOrder: crate::store::USER_ORDER;
    PolicyOrder: crate::store::POLICY_ORDER;
    SessionOrder: crate::store::SESSION_ORDER;
    RefreshTokenOrder: crate::store::REFRESH_ORDER;
}

/// The `mobile` filter of the refresh-token lists.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MobileFilter {
    /// Only mobile (`true`) or non-mobile (`false`) refresh tokens; also accepts 1/0, yes/no, on/off
    #[param(required = false)]
    mobile: bool,
}

/// The exact-match filters of GET /users.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilters {
    /// Only the user with this uuid
    #[param(required = false)]
    uuid: String,
    /// Only users with this username
    #[param(required = false)]
    username: String,
    /// Only users with this first name
    #[param(required = false)]
    firstname: String,
    /// Only users with this last name
    #[param(required = false)]
    lastname: String,
    /// Only users with this purpose (`user`, `internal` or `external_api`)
    #[param(required = false)]
    purpose: String,
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
    Unauthorized("ApiError"): "Missing, unknown or expired `X-Auth-Token`, a token that does not grant \
        the required ACL (`unauthorized`, with `details.reason` `not_found_or_expired` or `missing_acl` \
        and `details.required_access`), a `Wazo-Tenant` of another tenant (`unauthorized-tenant`), or \
        an ACL entry the caller does not hold (`unauthorized-access`)";
    InvalidData("ApiError"): "A body field or query parameter breaks the schema (`invalid-data`; \
        `details` names the field)";
    NotFound("ApiError"): "A path segment that must be a UUID is not one (`not-found`)";
    UnknownUser("ApiError"): "No such user (`unknown-user`), or a user_uuid that is not a UUID \
        (`not-found`)";
    UnknownPolicy("ApiError"): "No such policy (`unknown-policy`), or a path value that is neither a \
        UUID nor a slug (`not-found`)";
    ReadOnlyPolicy("ApiError"): "The policy is read-only (`read-only-policy`)";
    Conflict("ApiError"): "A unique name, username, e-mail address or uuid is already in use \
        (`conflict`)";
    PayloadTooLarge("ApiError"): "Request body larger than 64 KiB (`payload-too-large`)";
    Unavailable("ApiError"): "The database does not answer (`service-unavailable`)";
}
