//! Policies (named ACL lists) and their attachment to users.

use super::lists::ListQuery;
use super::Store;
use sqlx::types::Json;

use crate::store::columns::Id;
use crate::store::{
    fold, search_text, AclParts, ListParams, NewPolicy, Page, Policy, StoreResult, POLICY_ORDER,
};

const POLICY_COLUMNS: &str = "uuid, tenant_uuid, name, slug, description, acl, read_only, shared";

/// Selected by the readers of [`AclParts`], one row per attached policy (or one row with a NULL
/// `policy_acl`), over `up`/`p` joined to the user; with a default policy, `$2` names it (without
/// one, no lookup at all: `name` has no index of its own).
pub(super) fn acl_parts_columns(default_policy: Option<&str>) -> &'static str {
    match default_policy {
        Some(_) => {
            "p.acl AS policy_acl, (SELECT acl FROM policies WHERE name = $2 LIMIT 1) AS default_acl"
        }
        None => "p.acl AS policy_acl, NULL AS default_acl",
    }
}

/// The columns of [`acl_parts_columns`]: one of the user's policies' ACL (NULL: none), and the
/// default policy's (on every row alike).
#[derive(sqlx::FromRow)]
pub(super) struct AclRow {
    #[sqlx(json(nullable))]
    policy_acl: Option<Vec<String>>,
    #[sqlx(json(nullable))]
    default_acl: Option<Vec<String>>,
}

/// The [`AclParts`] of the rows of one user, in their order.
pub(super) fn acl_parts<'a>(mut rows: impl Iterator<Item = &'a AclRow>) -> AclParts {
    let Some(first) = rows.next() else {
        return AclParts::default();
    };
    let mut parts = AclParts {
        default: first.default_acl.clone(),
        policies: first.policy_acl.clone().unwrap_or_default(),
    };
    for row in rows {
        parts
            .policies
            .extend(row.policy_acl.iter().flatten().cloned());
    }
    parts
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

    /// Replaces name, description and ACL. False when there is no such policy.
    pub async fn update_policy(
        &self,
        uuid: &str,
        name: &str,
        description: Option<&str>,
        acl: &[String],
    ) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let slug: Option<String> = sqlx::query_scalar("SELECT slug FROM policies WHERE uuid = $1")
            .bind(Id(uuid))
            .fetch_optional(&mut *w.tx)
            .await?;
        let Some(slug) = slug else { return Ok(false) };
        let changed = sqlx::query(
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
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(changed > 0)
    }

    /// Adds (`add`) or removes one ACL entry, read and written in one transaction.
    pub async fn edit_policy_acl(&self, uuid: &str, access: &str, add: bool) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let acl: Option<Json<Vec<String>>> =
            sqlx::query_scalar("SELECT acl FROM policies WHERE uuid = $1")
                .bind(Id(uuid))
                .fetch_optional(&mut *w.tx)
                .await?;
        let Some(acl) = acl else {
            return Ok(false);
        };
        let Json(mut acl) = acl;
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

    pub async fn delete_policy(&self, uuid: &str) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        sqlx::query("DELETE FROM user_policies WHERE policy_uuid = $1")
            .bind(Id(uuid))
            .execute(&mut *w.tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM policies WHERE uuid = $1")
            .bind(Id(uuid))
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        w.commit().await?;
        Ok(deleted > 0)
    }

    /// The user's policies, in the order they were attached.
    /// The ACL parts of a new token of this user, in one statement: see [`AclParts`].
    pub async fn acl_parts(
        &self,
        user_uuid: &str,
        default_policy: Option<&str>,
    ) -> StoreResult<AclParts> {
        let columns = acl_parts_columns(default_policy);
        let sql = format!(
            "SELECT {columns} FROM (SELECT 1 AS one) AS one \
             LEFT JOIN user_policies up ON up.user_uuid = $1 \
             LEFT JOIN policies p ON p.uuid = up.policy_uuid ORDER BY up.position"
        );
        let mut query = sqlx::query_as(&sql).bind(Id(user_uuid));
        if let Some(name) = default_policy {
            query = query.bind(name);
        }
        let rows: Vec<AclRow> = query.fetch_all(&self.pool).await?;
        Ok(acl_parts(rows.iter()))
    }

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

    pub async fn attach_policy(&self, user_uuid: &str, policy_uuid: &str) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
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
        w.commit().await
    }

    pub async fn detach_policy(&self, user_uuid: &str, policy_uuid: &str) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let deleted =
            sqlx::query("DELETE FROM user_policies WHERE user_uuid = $1 AND policy_uuid = $2")
                .bind(Id(user_uuid))
                .bind(Id(policy_uuid))
                .execute(&mut *w.tx)
                .await?
                .rows_affected();
        w.commit().await?;
        Ok(deleted > 0)
    }
}
