//! The records the use cases answer, in the domain's words: what the faces render. Each is made
//! here from the store's row, where the store meets the domain, so that no face sees a row and
//! no record a face sees carries a password hash (the domain reads that from the row itself).

use crate::store;

/// A user as the faces show it: no password hash.
#[derive(Clone, Debug)]
pub struct UserView {
    pub uuid: String,
    pub tenant_uuid: String,
    pub username: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub purpose: String,
    pub enabled: bool,
    pub authentication_method: String,
    pub emails: Vec<EmailView>,
}

#[derive(Clone, Debug)]
pub struct EmailView {
    pub uuid: String,
    pub address: String,
    pub main: bool,
    pub confirmed: bool,
}

#[derive(Clone, Debug)]
pub struct PolicyView {
    pub uuid: String,
    pub tenant_uuid: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub acl: Vec<String>,
    pub read_only: bool,
    pub shared: bool,
}

/// A session (one access token's life). Times are microseconds since the epoch.
#[derive(Clone, Debug)]
pub struct SessionView {
    pub uuid: String,
    pub user_uuid: String,
    pub tenant_uuid: String,
    pub mobile: bool,
    pub created_at: i64,
    pub user_agent: String,
    pub remote_addr: String,
    /// The client_id of the refresh token it was minted from, if any.
    pub client_id: Option<String>,
}

/// A refresh token as it is listed: never its value, nor what derives it.
#[derive(Clone, Debug)]
pub struct RefreshTokenView {
    pub client_id: String,
    pub user_uuid: String,
    pub tenant_uuid: String,
    pub mobile: bool,
    pub created_at: i64,
    /// `None`: unlimited.
    pub scope: Option<Vec<String>>,
}

/// One page of a list.
#[derive(Debug)]
pub struct Page<T> {
    /// Items before search and filters.
    pub total: i64,
    /// Items matching search and filters, before paging.
    pub filtered: i64,
    pub items: Vec<T>,
}

/// How to page, order and search a list.
#[derive(Clone, Debug, Default)]
pub struct ListParams {
    pub limit: Option<i64>,
    pub offset: i64,
    /// A column name, already checked against the list's orderable columns.
    pub order: Option<String>,
    pub descending: bool,
    pub search: Option<String>,
}

/// A live access token as the token endpoints describe it, borrowed from its `TokenView` (the
/// validation path copies nothing more than the answer needs). Times are microseconds.
#[derive(Clone, Copy, Debug)]
pub struct TokenDetails<'a> {
    pub token: &'a str,
    pub session_uuid: &'a str,
    /// The user's uuid.
    pub auth_id: &'a str,
    pub issued_at: i64,
    pub expires_at: i64,
    pub acl: &'a [String],
    /// `None`: unlimited.
    pub scope: Option<&'a [String]>,
    pub remote_addr: &'a str,
    pub user_agent: &'a str,
    /// The configured `xivo_uuid`.
    pub xivo_uuid: Option<&'a str>,
    /// Only on an offline login, or a refresh grant that answers a value.
    pub refresh_token: Option<&'a str>,
    pub owner: TokenOwner<'a>,
}

/// What a token says of its user, fixed when it was issued.
#[derive(Clone, Copy, Debug)]
pub struct TokenOwner<'a> {
    pub auth_id: &'a str,
    pub pbx_user_uuid: Option<&'a str>,
    pub purpose: &'a str,
    pub tenant_uuid: &'a str,
    pub uuid: &'a str,
    pub xivo_uuid: Option<&'a str>,
}

impl From<store::Email> for EmailView {
    fn from(email: store::Email) -> Self {
        EmailView {
            uuid: email.uuid,
            address: email.address,
            main: email.main,
            confirmed: email.confirmed,
        }
    }
}

impl From<store::User> for UserView {
    fn from(user: store::User) -> Self {
        UserView {
            uuid: user.uuid,
            tenant_uuid: user.tenant_uuid,
            username: user.username,
            firstname: user.firstname,
            lastname: user.lastname,
            purpose: user.purpose,
            enabled: user.enabled,
            authentication_method: user.authentication_method,
            emails: user.emails.into_iter().map(EmailView::from).collect(),
        }
    }
}

impl From<store::Policy> for PolicyView {
    fn from(policy: store::Policy) -> Self {
        PolicyView {
            uuid: policy.uuid,
            tenant_uuid: policy.tenant_uuid,
            name: policy.name,
            slug: policy.slug,
            description: policy.description,
            acl: policy.acl,
            read_only: policy.read_only,
            shared: policy.shared,
        }
    }
}

impl From<store::Session> for SessionView {
    fn from(session: store::Session) -> Self {
        SessionView {
            uuid: session.uuid,
            user_uuid: session.user_uuid,
            tenant_uuid: session.tenant_uuid,
            mobile: session.mobile,
            created_at: session.created_at,
            user_agent: session.user_agent,
            remote_addr: session.remote_addr,
            client_id: session.client_id,
        }
    }
}

impl From<store::RefreshToken> for RefreshTokenView {
    fn from(token: store::RefreshToken) -> Self {
        RefreshTokenView {
            client_id: token.client_id,
            user_uuid: token.user_uuid,
            tenant_uuid: token.tenant_uuid,
            mobile: token.mobile,
            created_at: token.created_at,
            scope: token.scope,
        }
    }
}

impl<R, T: From<R>> From<store::Page<R>> for Page<T> {
    fn from(page: store::Page<R>) -> Self {
        Page {
            total: page.total,
            filtered: page.filtered,
            items: page.items.into_iter().map(T::from).collect(),
        }
    }
}

impl From<&ListParams> for store::ListParams {
    fn from(params: &ListParams) -> Self {
        store::ListParams {
            limit: params.limit,
            offset: params.offset,
            order: params.order.clone(),
            descending: params.descending,
            search: params.search.clone(),
        }
    }
}
