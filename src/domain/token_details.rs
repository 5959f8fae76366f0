//! How a live token is described to the faces ([`TokenView::details`]), kept apart from the
//! token use cases: the records stay below them.

use super::records::{TokenDetails, TokenOwner};
use super::tokens::TokenView;

impl TokenView {
    /// The token as the faces describe it.
    pub fn details(&self) -> TokenDetails<'_> {
        let record = &*self.record;
        let metadata = &record.metadata;
        TokenDetails {
            token: &self.token,
            session_uuid: &record.session_uuid,
            auth_id: &record.auth_id,
            issued_at: record.issued_at,
            expires_at: record.expires_at,
            acl: &record.acl,
            scope: record.scope.as_deref(),
            remote_addr: &record.remote_addr,
            user_agent: &record.user_agent,
            xivo_uuid: self.xivo_uuid.as_deref(),
            refresh_token: self.refresh_token.as_deref(),
            owner: TokenOwner {
                auth_id: &metadata.auth_id,
                pbx_user_uuid: metadata.pbx_user_uuid.as_deref(),
                purpose: &metadata.purpose,
                tenant_uuid: &metadata.tenant_uuid,
                uuid: &metadata.uuid,
                xivo_uuid: metadata.xivo_uuid.as_deref(),
            },
        }
    }
}
