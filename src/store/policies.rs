//! Policies (named ACL lists) and their attachment to users.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::lists::{ListParams, ListQuery, Page};
use sqlx::{Any, Transaction};

use super::{fold, search_text, Backend, Store, StoreError, StoreResult};

#[derive(Clone, Debug)]
pub struct Policy {
    pub uuid: String,
    pub tenant_uuid: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
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

pub const POLICY_ORDER: &[&str] = &["name", "slug", "description", "uuid", "read_only"];

const POLICY_COLUMNS: &str = "uuid, tenant_uuid, name, slug, description, acl, read_only, shared";

fn policy_from_row(row: &AnyRow) -> StoreResult<Policy> {
    let acl: String = row.try_get("acl")?;
    Ok(Policy {
        uuid: row.try_get("uuid")?,
        tenant_uuid: row.try_get("tenant_uuid")?,
        name: row.try_get("name")?,
        slug: row.try_get("slug")?,
        description: row.try_get("description")?,
        acl: serde_json::from_str(&acl).map_err(|e| StoreError::Other(e.to_string()))?,
        read_only: super::flag(row, "read_only")?,
        shared: super::flag(row, "shared")?,
    })
}

/// What a new token's ACL is made of, read with the user (only the policies' `acl` column): the
/// ACL of the default policy named by the configuration (`None`: none named, or no such policy),
/// then every entry of the user's policies, in their order.
#[derive(Clone, Debug, Default)]
pub struct AclParts {
    pub default: Option<Vec<String>>,
    pub policies: Vec<String>,
}

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

impl AclParts {
    pub(super) fn from_rows(rows: &[AnyRow]) -> StoreResult<AclParts> {
        let parse = |text: String| -> StoreResult<Vec<String>> {
            serde_json::from_str(&text).map_err(|e| StoreError::Other(e.to_string()))
        };
        let mut parts = AclParts::default();
        for (n, row) in rows.iter().enumerate() {
            if n == 0 {
                parts.default = row
                    .try_get::<Option<String>, _>("default_acl")?
                    .map(parse)
                    .transpose()?;
            }
            if let Some(acl) = row.try_get::<Option<String>, _>("policy_acl")? {
                parts.policies.extend(parse(acl)?);
            }
        }
        Ok(parts)
    }
}

fn acl_json(acl: &[String]) -> String {
    serde_json::Value::from(acl.to_vec()).to_string()
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

/// Locks a policy's row for the rest of the transaction (PostgreSQL; SQLite's writers take turns)
/// and reads its ACL: a check made against an earlier read is held to the policy as written.
async fn locked_acl(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    uuid: &str,
) -> StoreResult<Option<Vec<String>>> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let acl: Option<String> =
        sqlx::query_scalar(&format!("SELECT acl FROM policies WHERE uuid = $1{lock}"))
            .bind(uuid)
            .fetch_optional(&mut **tx)
            .await?;
    acl.map(|acl| serde_json::from_str(&acl).map_err(|e| StoreError::Other(e.to_string())))
        .transpose()
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
        .bind(&new.uuid)
        .bind(&new.tenant_uuid)
        .bind(&new.name)
        .bind(&new.slug)
        .bind(&new.description)
        .bind(acl_json(&new.acl))
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
        let row = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM policies WHERE uuid = $1"
        ))
        .bind(uuid)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| policy_from_row(&row)).transpose()
    }

    /// The policy with this slug, in any case (slugs are unique case-insensitively).
    pub async fn get_policy_by_slug(&self, slug: &str) -> StoreResult<Option<Policy>> {
        let row = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM policies WHERE lower(slug) = lower($1)"
        ))
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| policy_from_row(&row)).transpose()
    }

    /// The policy with exactly this name (configuration and the command line name policies so).
    pub async fn find_policy_by_name(&self, name: &str) -> StoreResult<Option<Policy>> {
        let row = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM policies WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| policy_from_row(&row)).transpose()
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
            policy_from_row,
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
        match locked_acl(&mut w.tx, self.backend, uuid).await? {
            None => return Ok(PolicyWrite::Gone),
            Some(found) if !unchanged(&found, Some(checked)) => return Ok(PolicyWrite::Changed),
            Some(_) => {}
        }
        let slug: String = sqlx::query_scalar("SELECT slug FROM policies WHERE uuid = $1")
            .bind(uuid)
            .fetch_one(&mut *w.tx)
            .await?;
        sqlx::query(
            "UPDATE policies SET name = $2, description = $3, acl = $4, name_key = $5, \
             search_text = $6 WHERE uuid = $1",
        )
        .bind(uuid)
        .bind(name)
        .bind(description)
        .bind(acl_json(acl))
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
        let Some(mut acl) = locked_acl(&mut w.tx, self.backend, uuid).await? else {
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
            .bind(uuid)
            .bind(acl_json(&acl))
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(true)
    }

    /// Marks a policy read-only (the bootstrap policy, on databases made before it was).
    pub async fn make_policy_read_only(&self, uuid: &str) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("UPDATE policies SET read_only = $2 WHERE uuid = $1")
            .bind(uuid)
            .bind(true)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await
    }

    /// Deletes a policy and its attachments, if its ACL is still `checked`.
    pub async fn delete_policy(&self, uuid: &str, checked: &[String]) -> StoreResult<PolicyWrite> {
        let mut w = self.begin_write().await?;
        match locked_acl(&mut w.tx, self.backend, uuid).await? {
            None => return Ok(PolicyWrite::Gone),
            Some(found) if !unchanged(&found, Some(checked)) => return Ok(PolicyWrite::Changed),
            Some(_) => {}
        }
        sqlx::query("DELETE FROM user_policies WHERE policy_uuid = $1")
            .bind(uuid)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query("DELETE FROM policies WHERE uuid = $1")
            .bind(uuid)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(PolicyWrite::Done)
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
        let mut query = sqlx::query(&sql).bind(user_uuid);
        if let Some(name) = default_policy {
            query = query.bind(name);
        }
        let rows = query.fetch_all(&self.pool).await?;
        AclParts::from_rows(&rows)
    }

    pub async fn user_policies(&self, user_uuid: &str) -> StoreResult<Vec<Policy>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM policies p JOIN user_policies up ON up.policy_uuid = p.uuid \
             WHERE up.user_uuid = $1 ORDER BY up.position",
            POLICY_COLUMNS
                .split(", ")
                .map(|c| format!("p.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(user_uuid)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(policy_from_row).collect()
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
        match locked_acl(&mut w.tx, self.backend, policy_uuid).await? {
            None => return Ok(PolicyWrite::Gone),
            Some(found) if !unchanged(&found, checked) => return Ok(PolicyWrite::Changed),
            Some(_) => {}
        }
        let next: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(position), 0) + 1 FROM user_policies WHERE user_uuid = $1",
        )
        .bind(user_uuid)
        .fetch_one(&mut *w.tx)
        .await?;
        sqlx::query(
            "INSERT INTO user_policies (user_uuid, policy_uuid, position) VALUES ($1, $2, $3) \
             ON CONFLICT (user_uuid, policy_uuid) DO NOTHING",
        )
        .bind(user_uuid)
        .bind(policy_uuid)
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
        match locked_acl(&mut w.tx, self.backend, policy_uuid).await? {
            None => return Ok(PolicyWrite::Gone),
            Some(found) if !unchanged(&found, Some(checked)) => return Ok(PolicyWrite::Changed),
            Some(_) => {}
        }
        sqlx::query("DELETE FROM user_policies WHERE user_uuid = $1 AND policy_uuid = $2")
            .bind(user_uuid)
            .bind(policy_uuid)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(PolicyWrite::Done)
    }
}
