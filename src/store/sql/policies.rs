//! Policies (named ACL lists) and their attachment to users.

use super::lists::ListQuery;
use super::{Db, Store, FOR_UPDATE};
use sqlx::types::Json;

use sqlx::Transaction;

use crate::store::columns::Id;
use crate::store::{
    fold, search_text, ListParams, NewPolicy, Page, Policy, PolicyWrite, StoreResult, POLICY_ORDER,
};

const POLICY_COLUMNS: &str = "uuid, tenant_uuid, name, slug, description, acl, read_only, shared";

/// Locks a policy's row for the rest of the transaction (PostgreSQL; SQLite's writers take turns)
/// and reads its ACL: a check made against an earlier read is held to the policy as written.
async fn locked_acl(
    tx: &mut Transaction<'static, Db>,
    uuid: &str,
) -> StoreResult<Option<Vec<String>>> {
    let acl: Option<Json<Vec<String>>> = sqlx::query_scalar(&format!(
        "SELECT acl FROM policies WHERE uuid = $1{FOR_UPDATE}"
    ))
    .bind(Id(uuid))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(acl.map(|Json(acl)| acl))
}

/// Whether the ACL read under the lock is still the one checked (`None`: nothing was checked).
fn unchanged(found: &[String], checked: Option<&[String]>) -> bool {
    checked.is_none_or(|checked| checked == found)
}

impl Store {
    pub async fn create_policy(&self, new: &NewPolicy) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO policies (uuid, tenant_uuid, name, slug, description, acl, read_only, shared, \
             name_key, search_text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(Id(&new.uuid))
        .bind(Id(&new.tenant_uuid))
        .bind(&new.name)
        .bind(&new.slug)
        .bind(&new.description)
        .bind(Json(&new.acl))
        .bind(new.read_only)
        .bind(new.shared)
        .bind(fold(&new.name))
        .bind(search_text(&[
            Some(&new.name),
            Some(&new.slug),
            new.description.as_deref(),
        ]))
        .execute(&mut *w.tx)
        .await?;
        w.commit().await
    }

    /// The policy with this uuid (never a slug: a slug cannot name another policy's uuid).
    pub async fn get_policy_by_uuid(&self, uuid: &str) -> StoreResult<Option<Policy>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {POLICY_COLUMNS} FROM policies WHERE uuid = $1"
        ))
        .bind(Id(uuid))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The policy with this slug, in any case (slugs are unique case-insensitively).
    pub async fn get_policy_by_slug(&self, slug: &str) -> StoreResult<Option<Policy>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {POLICY_COLUMNS} FROM policies WHERE lower(slug) = lower($1)"
        ))
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The policy with exactly this name (configuration and the command line name policies so).
    pub async fn find_policy_by_name(&self, name: &str) -> StoreResult<Option<Policy>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {POLICY_COLUMNS} FROM policies WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn list_policies(&self, params: &ListParams) -> StoreResult<Page<Policy>> {
        self.list_page(
            ListQuery {
                table: "policies",
                select: POLICY_COLUMNS,
                order_columns: POLICY_ORDER,
                ..ListQuery::default()
            },
            params,
        )
        .await
    }

    /// Replaces name, description and ACL, if its ACL is still `checked`.
    pub async fn update_policy(
        &self,
        uuid: &str,
        name: &str,
        description: Option<&str>,
        acl: &[String],
        checked: &[String],
    ) -> StoreResult<PolicyWrite> {
        let mut w = self.begin_write().await?;
        match locked_acl(&mut w.tx, uuid).await? {
            None => return Ok(PolicyWrite::Gone),
            Some(found) if !unchanged(&found, Some(checked)) => return Ok(PolicyWrite::Changed),
            Some(_) => {}
        }
        let slug: String = sqlx::query_scalar("SELECT slug FROM policies WHERE uuid = $1")
            .bind(Id(uuid))
            .fetch_one(&mut *w.tx)
            .await?;
        sqlx::query(
            "UPDATE policies SET name = $2, description = $3, acl = $4, name_key = $5, \
             search_text = $6 WHERE uuid = $1",
        )
        .bind(Id(uuid))
        .bind(name)
        .bind(description)
        .bind(Json(acl))
        .bind(fold(name))
        .bind(search_text(&[Some(name), Some(&slug), description]))
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(PolicyWrite::Done)
    }

    /// Adds (`add`) or removes one ACL entry, read under the row's lock and written in one
    /// transaction (two edits at once never lose one). False when there is no such policy.
    pub async fn edit_policy_acl(&self, uuid: &str, access: &str, add: bool) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let Some(mut acl) = locked_acl(&mut w.tx, uuid).await? else {
            return Ok(false);
        };
        if add {
            if !acl.iter().any(|entry| entry == access) {
                acl.push(access.to_string());
            }
        } else {
            acl.retain(|entry| entry != access);
        }
        sqlx::query("UPDATE policies SET acl = $2 WHERE uuid = $1")
            .bind(Id(uuid))
            .bind(Json(&acl))
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(true)
    }

    /// Marks a policy read-only (the bootstrap policy, on databases made before it was).
    pub async fn make_policy_read_only(&self, uuid: &str) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("UPDATE policies SET read_only = $2 WHERE uuid = $1")
            .bind(Id(uuid))
            .bind(true)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await
    }

    /// Deletes a policy and its attachments, if its ACL is still `checked`.
    pub async fn delete_policy(&self, uuid: &str, checked: &[String]) -> StoreResult<PolicyWrite> {
        let mut w = self.begin_write().await?;
        match locked_acl(&mut w.tx, uuid).await? {
            None => return Ok(PolicyWrite::Gone),
            Some(found) if !unchanged(&found, Some(checked)) => return Ok(PolicyWrite::Changed),
            Some(_) => {}
        }
        sqlx::query("DELETE FROM user_policies WHERE policy_uuid = $1")
            .bind(Id(uuid))
            .execute(&mut *w.tx)
            .await?;
        sqlx::query("DELETE FROM policies WHERE uuid = $1")
            .bind(Id(uuid))
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(PolicyWrite::Done)
    }

    /// The user's policies, in the order they were attached.
    pub async fn user_policies(&self, user_uuid: &str) -> StoreResult<Vec<Policy>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM policies p JOIN user_policies up ON up.policy_uuid = p.uuid \
             WHERE up.user_uuid = $1 ORDER BY up.position",
            POLICY_COLUMNS
                .split(", ")
                .map(|c| format!("p.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(Id(user_uuid))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Attaches a policy to a user (last in order), if its ACL is still `checked` (`None`:
    /// unchecked, the bootstrap's own attachment).
    pub async fn attach_policy(
        &self,
        user_uuid: &str,
        policy_uuid: &str,
        checked: Option<&[String]>,
    ) -> StoreResult<PolicyWrite> {
        let mut w = self.begin_write().await?;
        match locked_acl(&mut w.tx, policy_uuid).await? {
            None => return Ok(PolicyWrite::Gone),
            Some(found) if !unchanged(&found, checked) => return Ok(PolicyWrite::Changed),
            Some(_) => {}
        }
        let next: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(position), 0) + 1 FROM user_policies WHERE user_uuid = $1",
        )
        .bind(Id(user_uuid))
        .fetch_one(&mut *w.tx)
        .await?;
        sqlx::query(
            "INSERT INTO user_policies (user_uuid, policy_uuid, position) VALUES ($1, $2, $3) \
             ON CONFLICT (user_uuid, policy_uuid) DO NOTHING",
        )
        .bind(Id(user_uuid))
        .bind(Id(policy_uuid))
        .bind(next)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(PolicyWrite::Done)
    }

    /// Detaches a policy from a user, if its ACL is still `checked`.
    pub async fn detach_policy(
        &self,
        user_uuid: &str,
        policy_uuid: &str,
        checked: &[String],
    ) -> StoreResult<PolicyWrite> {
        let mut w = self.begin_write().await?;
        match locked_acl(&mut w.tx, policy_uuid).await? {
            None => return Ok(PolicyWrite::Gone),
            Some(found) if !unchanged(&found, Some(checked)) => return Ok(PolicyWrite::Changed),
            Some(_) => {}
        }
        sqlx::query("DELETE FROM user_policies WHERE user_uuid = $1 AND policy_uuid = $2")
            .bind(Id(user_uuid))
            .bind(Id(policy_uuid))
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(PolicyWrite::Done)
    }
}
