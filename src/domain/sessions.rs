//! The session use cases: list sessions, end one (its tokens go with it).

use super::cache::Invalidation;
use super::caller::Actor;
use super::context::Context;
use super::error::DomainResult;
use super::records::{ListParams, Page, SessionView};

pub use crate::store::SESSION_ORDER;

/// The session use cases.
pub struct Sessions<'a>(pub(super) &'a Context);

impl Sessions<'_> {
    /// GET /sessions
    pub async fn list(
        &self,
        actor: &Actor,
        params: DomainResult<ListParams>,
    ) -> DomainResult<Page<SessionView>> {
        self.0.authorize(actor, "auth.sessions.read").await?;
        let params = (&params?).into();
        Ok(self.0.store.list_sessions(None, &params).await?.into())
    }

    /// GET /users/{uuid}/sessions
    pub async fn list_for_user(
        &self,
        actor: &Actor,
        user_uuid: &str,
        params: DomainResult<ListParams>,
    ) -> DomainResult<Page<SessionView>> {
        self.0
            .authorize(actor, &format!("auth.users.{user_uuid}.sessions.read"))
            .await?;
        self.0.existing_user(user_uuid).await?;
        let params = (&params?).into();
        Ok(self
            .0
            .store
            .list_sessions(Some(user_uuid), &params)
            .await?
            .into())
    }

    /// DELETE /sessions/{uuid}: idempotent.
    pub async fn delete(&self, actor: &Actor, uuid: &str) -> DomainResult<()> {
        self.0
            .authorize(actor, &format!("auth.sessions.{uuid}.delete"))
            .await?;
        self.end(uuid, None).await
    }

    /// DELETE /users/{uuid}/sessions/{session_uuid}: idempotent for an unknown session.
    pub async fn delete_for_user(
        &self,
        actor: &Actor,
        user_uuid: &str,
        session_uuid: &str,
    ) -> DomainResult<()> {
        self.0
            .authorize(
                actor,
                &format!("auth.users.{user_uuid}.sessions.{session_uuid}.delete"),
            )
            .await?;
        self.0.existing_user(user_uuid).await?;
        self.end(session_uuid, Some(user_uuid)).await
    }

    async fn end(&self, session_uuid: &str, user_uuid: Option<&str>) -> DomainResult<()> {
        self.0.store.delete_session(session_uuid, user_uuid).await?;
        self.0
            .invalidate(Invalidation::Session(session_uuid.to_string()))
            .await;
        self.0.metrics.revoked("session");
        Ok(())
    }
}
