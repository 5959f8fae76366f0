//! Validation (SPEC §3): HEAD and GET /token/{t}, and the scopes check, POST
//! /token/{t}/scopes/check. A validation reads the token once (or hits the cache).

use std::sync::Arc;

use super::{token_value, ScopesCheck, TokenView, Tokens};
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::grant::token_grants;
use crate::store::TokenRecord;

/// Most scopes one `scopes/check` request may ask about, and most bytes in all: the matching work
/// of one request is bounded (scopes × ACL entries), so that one client cannot slow every other
/// request's validation.
pub const MAX_CHECKED_SCOPES: usize = 100;
pub const MAX_CHECKED_SCOPES_BYTES: usize = 16 * 1024;

impl Tokens<'_> {
    /// HEAD/GET /token/{t}: the live token, checked in this order: unknown or expired, then the
    /// `scope`, then the `tenant` (SPEC §3).
    pub async fn validate(
        &self,
        value: &str,
        scope: Option<&str>,
        tenant: Option<&str>,
    ) -> DomainResult<TokenView> {
        let outcome = self.checked(value, scope, tenant).await;
        self.count_validation(&outcome);
        outcome
    }

    /// HEAD /token/{t}: the checks of [`Self::validate`], without the description. With neither
    /// scope nor tenant there is nothing to check but that the token is live, and (cache off)
    /// nothing else is read.
    pub async fn check(
        &self,
        value: &str,
        scope: Option<&str>,
        tenant: Option<&str>,
    ) -> DomainResult<()> {
        if scope.is_some() || tenant.is_some() {
            return self.validate(value, scope, tenant).await.map(drop);
        }
        let outcome = async {
            let value = token_value(value)?;
            match self.0.token_is_live(&value).await? {
                true => Ok(()),
                false => Err(DomainError::NoSuchToken),
            }
        }
        .await;
        self.count_validation(&outcome);
        outcome
    }

    fn count_validation<T>(&self, outcome: &DomainResult<T>) {
        self.0.metrics.validation(match outcome {
            Ok(_) => "valid",
            Err(DomainError::NoSuchToken) => "not_found",
            Err(DomainError::ScopeNotGranted(_) | DomainError::TenantNotGranted(_)) => "forbidden",
            Err(_) => "error",
        });
    }

    async fn checked(
        &self,
        value: &str,
        scope: Option<&str>,
        tenant: Option<&str>,
    ) -> DomainResult<TokenView> {
        let value = token_value(value)?;
        let record = self
            .0
            .lookup_token(&value)
            .await?
            .ok_or(DomainError::NoSuchToken)?;
        if let Some(scope) = scope {
            // A scope no access string can hold (control characters) is never granted.
            if scope.chars().any(char::is_control) || !token_grants(&record, scope) {
                return Err(DomainError::ScopeNotGranted(scope.to_string()));
            }
        }
        if let Some(tenant) = tenant {
            if record.metadata.tenant_uuid != tenant {
                return Err(DomainError::TenantNotGranted(tenant.to_string()));
            }
        }
        Ok(self.view(&value, record))
    }

    fn view(&self, value: &str, record: Arc<TokenRecord>) -> TokenView {
        TokenView {
            token: value.to_string(),
            record,
            xivo_uuid: self.0.config.xivo_uuid.clone(),
            refresh_token: None,
        }
    }

    /// POST /token/{t}/scopes/check: for each scope, whether the token grants it.
    pub async fn check_scopes(
        &self,
        value: &str,
        request: DomainResult<ScopesCheck>,
    ) -> DomainResult<Vec<(String, bool)>> {
        let value = token_value(value)?;
        let request = request?;
        if request.scopes.len() > MAX_CHECKED_SCOPES
            || request.scopes.iter().map(String::len).sum::<usize>() > MAX_CHECKED_SCOPES_BYTES
        {
            return Err(DomainError::BadRequest(format!(
                "Invalid value supplied for field: scopes (at most {MAX_CHECKED_SCOPES} scopes \
                 of {MAX_CHECKED_SCOPES_BYTES} bytes in all)"
            )));
        }
        let record = self
            .0
            .lookup_token(&value)
            .await?
            .ok_or(DomainError::NoSuchToken)?;
        if let Some(tenant) = &request.tenant {
            if &record.metadata.tenant_uuid != tenant {
                return Err(DomainError::TenantNotGranted(tenant.clone()));
            }
        }
        Ok(request
            .scopes
            .into_iter()
            .map(|scope| {
                let granted = token_grants(&record, &scope);
                (scope, granted)
            })
            .collect())
    }
}
