//! The policy use cases: policies (named ACL lists) and their attachment to users.
//! No escalation: a caller may only add or remove ACL entries its own token grants.

use super::acl;
use super::caller::{Actor, Caller};
use super::context::Context;
use super::error::{DomainError, DomainResult, OnConflict};
use super::records::{ListParams, Page, PolicyView};
use crate::store::{NewPolicy, Policy, PolicyWrite, StoreError};

pub use crate::store::POLICY_ORDER;

/// The name of the policy that grants the bootstrap administrator everything.
pub const BOOTSTRAP_POLICY: &str = "tessera-bootstrap-admin";

/// The settings key recording the bootstrap policy's uuid: its identity, whatever its name.
const BOOTSTRAP_POLICY_KEY: &str = "bootstrap_policy_uuid";

/// A policy to create (POST /policies).
#[derive(Clone, Debug, Default)]
pub struct NewPolicyInput {
    pub name: String,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub acl: Vec<String>,
    pub shared: bool,
}

/// A policy's new name, description and ACL (PUT /policies/{id}; the slug stays).
#[derive(Clone, Debug, Default)]
pub struct PolicyEdit {
    pub name: String,
    pub description: Option<String>,
    pub acl: Vec<String>,
}

/// A change to a user's policies.
#[derive(Clone, Copy)]
enum Attachment {
    Attach,
    Detach,
}

/// The access that attaches any policy to any user.
const ATTACH_TO_ANYONE: &str = "auth.users.*.policies.*.create";

/// The longest slug.
pub const MAX_SLUG_LENGTH: usize = 80;

/// Slugs are `[a-zA-Z0-9_-]{1,80}`.
pub fn valid_slug(slug: &str) -> bool {
    (1..=MAX_SLUG_LENGTH).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The slug wazo derives from a name: its `[a-zA-Z0-9_-]` characters, at most 80.
fn slug_from_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(MAX_SLUG_LENGTH)
        .collect()
}

/// How a path names a policy: a UUID names it by uuid only; any other segment by slug.
enum PolicyRef {
    Uuid(String),
    Slug(String),
}

/// A path segment naming a policy: a UUID (canonical form) or a slug; anything else is not found.
fn policy_ref(segment: &str) -> DomainResult<PolicyRef> {
    if let Some(uuid) = super::parse_uuid(segment) {
        return Ok(PolicyRef::Uuid(uuid));
    }
    if valid_slug(segment) {
        Ok(PolicyRef::Slug(segment.to_string()))
    } else {
        Err(DomainError::NotFound)
    }
}

/// Whether the caller may put `entry` into a policy or take it out (SPEC §4): `x` needs `x`
/// held, and so does `!x`, both ways. Adding `!x` takes `x` away from every holder of the
/// policy (an editor adding `!#` to the administrator's policy would lock the administrator out
/// for good), so it needs what removing it needs. Attaching, detaching and deleting a policy
/// hand out or take away all its entries, and apply the same rule to each.
fn may_change(caller: &Caller, entry: &str) -> bool {
    caller.holds(entry.strip_prefix('!').unwrap_or(entry))
}

/// Refuses (400) an entry that is empty (`""`, `"!"`) or holds a control character: no access
/// string can be matched by it. The control-character rule is the scopes' one
/// ([`acl::entry_is_writable`]).
fn check_entry(entry: &str) -> DomainResult<()> {
    if entry.strip_prefix('!').unwrap_or(entry).is_empty() || !acl::entry_is_writable(entry) {
        return Err(DomainError::invalid(
            "acl",
            "Every ACL entry must be non-empty and hold no control characters.",
        ));
    }
    Ok(())
}

fn check_entries(acl: &[String]) -> DomainResult<()> {
    acl.iter().try_for_each(|entry| check_entry(entry))
}

/// Refuses, naming the first entry that `allowed` refuses.
fn ensure_all<'e>(
    entries: impl IntoIterator<Item = &'e String>,
    allowed: impl Fn(&str) -> bool,
) -> DomainResult<()> {
    match entries.into_iter().find(|entry| !allowed(entry)) {
        Some(entry) => Err(DomainError::NotHeld(entry.clone())),
        None => Ok(()),
    }
}

fn refuse_read_only(policy: &Policy) -> DomainResult<()> {
    if policy.read_only {
        return Err(DomainError::ReadOnlyPolicy);
    }
    Ok(())
}

/// How many times a policy write is checked again when the policy changed between the check and
/// the write (each retry reads it anew): a concurrent edit never slips past a check.
const POLICY_WRITE_TRIES: usize = 32;

/// The answer to a conditional policy write; `None` when it must be checked again, after a short
/// random pause (writers that keep editing one policy would otherwise win every round).
async fn written(write: PolicyWrite) -> Option<DomainResult<()>> {
    match write {
        PolicyWrite::Done => Some(Ok(())),
        PolicyWrite::Gone => Some(Err(DomainError::NotFound)),
        PolicyWrite::Changed => {
            let pause = rand::Rng::gen_range(&mut rand::thread_rng(), 1..20);
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            None
        }
    }
}

/// The policy kept changing under the request's checks.
fn changed_meanwhile() -> DomainError {
    DomainError::Conflict {
        resource: "policies",
        field: "acl",
        message: "The policy changed while this request was checked: try again".into(),
    }
}

/// Both unique constraints of policies (name and slug) are reported on `name`.
fn conflict(_constraint: &str) -> DomainError {
    DomainError::Conflict {
        resource: "policies",
        field: "name",
        message: "A policy with this name or slug already exists".into(),
    }
}

/// The policy use cases.
pub struct Policies<'a>(pub(super) &'a Context);

impl Policies<'_> {
    /// The policy a path names, authorizing `required(uuid)` first. The required access is built
    /// from the policy's uuid however the path named it, so that a slug never dodges an ACL
    /// written for the uuid. For a UUID path, authorization comes before the lookup; for a slug,
    /// an unknown one is authorized with the slug (a caller without access learns nothing).
    /// The lookup's outcome is returned apart, for the use case to report in its own order.
    async fn authorized(
        &self,
        actor: &Actor,
        segment: &str,
        required: impl Fn(&str) -> String,
    ) -> DomainResult<(Caller, DomainResult<Policy>)> {
        let store = &self.0.store;
        match policy_ref(segment)? {
            PolicyRef::Uuid(uuid) => {
                let caller = self.0.authorize(actor, &required(&uuid)).await?;
                let policy = store.get_policy_by_uuid(&uuid).await?;
                Ok((caller, policy.ok_or(DomainError::UnknownPolicy(uuid))))
            }
            PolicyRef::Slug(slug) => match store.get_policy_by_slug(&slug).await? {
                Some(policy) => {
                    let caller = self.0.authorize(actor, &required(&policy.uuid)).await?;
                    Ok((caller, Ok(policy)))
                }
                None => {
                    let caller = self.0.authorize(actor, &required(&slug)).await?;
                    Ok((caller, Err(DomainError::UnknownPolicy(slug))))
                }
            },
        }
    }

    /// Whether a policy of this name is the one `default_user_policy` names (names are unique
    /// in any case).
    fn is_default_name(&self, name: &str) -> bool {
        let default = self.0.config.default_user_policy.as_deref();
        default.is_some_and(|default| crate::store::fold(default) == crate::store::fold(name))
    }

    /// A policy created or renamed under the default policy's name reaches every user's tokens,
    /// like an attachment to everyone: it needs the right to attach any policy to any user, as
    /// well as every entry held.
    fn may_become_default(&self, caller: &Caller, name: &str) -> DomainResult<()> {
        if self.is_default_name(name) && !caller.holds(ATTACH_TO_ANYONE) {
            return Err(DomainError::NotHeld(ATTACH_TO_ANYONE.into()));
        }
        Ok(())
    }

    /// Refuses to rename or delete the policy the configuration names (`default_user_policy`):
    /// tokens find it by that name, so losing it would take its entries from every token with
    /// no entry checked.
    fn refuse_configured(&self, policy: &Policy) -> DomainResult<()> {
        if self.0.config.default_user_policy.as_deref() == Some(policy.name.as_str()) {
            return Err(DomainError::ConfiguredPolicy(policy.name.clone()));
        }
        Ok(())
    }

    async fn by_uuid(&self, uuid: &str) -> DomainResult<Policy> {
        self.0
            .store
            .get_policy_by_uuid(uuid)
            .await?
            .ok_or_else(|| DomainError::UnknownPolicy(uuid.to_string()))
    }

    /// POST /policies. Without a slug, one is derived from the name.
    pub async fn create(
        &self,
        actor: &Actor,
        input: DomainResult<NewPolicyInput>,
    ) -> DomainResult<PolicyView> {
        let caller = self.0.authorize(actor, "auth.policies.create").await?;
        let input = input?;
        check_entries(&input.acl)?;
        ensure_all(&input.acl, |entry| may_change(&caller, entry))?;
        self.may_become_default(&caller, &input.name)?;
        let slug = match input.slug {
            Some(slug) if uuid::Uuid::parse_str(&slug).is_ok() => {
                return Err(DomainError::invalid(
                    "slug",
                    "Must not be a UUID: a UUID in a path names a policy by its uuid.",
                ))
            }
            Some(slug) if valid_slug(&slug) => slug,
            Some(_) => return Err(DomainError::invalid("slug", "Must match ^[a-zA-Z0-9_-]+$.")),
            None => {
                let derived = slug_from_name(&input.name);
                let unusable = derived.is_empty()
                    || uuid::Uuid::parse_str(&derived).is_ok()
                    || self.0.store.get_policy_by_slug(&derived).await?.is_some();
                if unusable {
                    uuid::Uuid::new_v4()
                        .simple()
                        .to_string()
                        .chars()
                        .take(8)
                        .collect()
                } else {
                    derived
                }
            }
        };
        let new = NewPolicy {
            uuid: uuid::Uuid::new_v4().to_string(),
            tenant_uuid: self.0.top_tenant.clone(),
            name: input.name,
            slug,
            description: input.description,
            acl: input.acl,
            shared: input.shared,
            read_only: false,
        };
        self.0
            .store
            .create_policy(&new)
            .await
            .on_conflict(conflict)?;
        self.by_uuid(&new.uuid).await.map(PolicyView::from)
    }

    /// GET /policies
    pub async fn list(
        &self,
        actor: &Actor,
        params: DomainResult<ListParams>,
    ) -> DomainResult<Page<PolicyView>> {
        self.0.authorize(actor, "auth.policies.read").await?;
        let params = (&params?).into();
        Ok(self.0.store.list_policies(&params).await?.into())
    }

    /// GET /policies/{id}
    pub async fn get(&self, actor: &Actor, segment: &str) -> DomainResult<PolicyView> {
        let (_, policy) = self
            .authorized(actor, segment, |id| format!("auth.policies.{id}.read"))
            .await?;
        policy.map(PolicyView::from)
    }

    /// The policy with this exact name (the command line's `--policy NAME`).
    pub async fn get_by_name(&self, actor: &Actor, name: &str) -> DomainResult<PolicyView> {
        self.0.authorize(actor, "auth.policies.read").await?;
        self.0
            .store
            .find_policy_by_name(name)
            .await?
            .map(PolicyView::from)
            .ok_or_else(|| DomainError::Missing(format!("no policy named {name}")))
    }

    /// PUT /policies/{id}: replaces name, description and ACL. Every entry added or removed
    /// must be held by the caller.
    pub async fn update(
        &self,
        actor: &Actor,
        segment: &str,
        edit: DomainResult<PolicyEdit>,
    ) -> DomainResult<PolicyView> {
        let edit = edit?;
        for _ in 0..POLICY_WRITE_TRIES {
            let (caller, policy) = self
                .authorized(actor, segment, |id| format!("auth.policies.{id}.update"))
                .await?;
            let policy = policy?;
            self.check_update(&caller, &policy, &edit)?;
            let write = self
                .0
                .store
                .update_policy(
                    &policy.uuid,
                    &edit.name,
                    edit.description.as_deref(),
                    &edit.acl,
                    &policy.acl,
                )
                .await
                .on_conflict(conflict)?;
            if let Some(done) = written(write).await {
                done?;
                return self.by_uuid(&policy.uuid).await.map(PolicyView::from);
            }
        }
        Err(changed_meanwhile())
    }

    /// The rules of a replacement: every entry added or removed held, the configured names kept.
    fn check_update(
        &self,
        caller: &Caller,
        policy: &Policy,
        edit: &PolicyEdit,
    ) -> DomainResult<()> {
        refuse_read_only(policy)?;
        check_entries(&edit.acl)?;
        let default = self.0.config.default_user_policy.as_deref();
        if edit.name != policy.name {
            self.refuse_configured(policy)?;
        }
        if default != Some(policy.name.as_str()) && self.is_default_name(&edit.name) {
            ensure_all(&edit.acl, |entry| may_change(caller, entry))?;
            self.may_become_default(caller, &edit.name)?;
        }
        let added = edit.acl.iter().filter(|e| !policy.acl.contains(e));
        ensure_all(added, |entry| may_change(caller, entry))?;
        let removed = policy.acl.iter().filter(|e| !edit.acl.contains(e));
        ensure_all(removed, |entry| may_change(caller, entry))
    }

    /// DELETE /policies/{id}: deleting takes every entry away from every holder, so the caller
    /// must hold each one (`!x` as `x`), as for a detachment.
    pub async fn delete(&self, actor: &Actor, segment: &str) -> DomainResult<()> {
        for _ in 0..POLICY_WRITE_TRIES {
            let (caller, policy) = self
                .authorized(actor, segment, |id| format!("auth.policies.{id}.delete"))
                .await?;
            let policy = policy?;
            refuse_read_only(&policy)?;
            self.refuse_configured(&policy)?;
            ensure_all(&policy.acl, |entry| may_change(&caller, entry))?;
            let write = self
                .0
                .store
                .delete_policy(&policy.uuid, &policy.acl)
                .await?;
            if let Some(done) = written(write).await {
                return done;
            }
        }
        Err(changed_meanwhile())
    }

    /// PUT (`add`) or DELETE /policies/{id}/acl/{access}: adding or removing `x` or `!x` needs
    /// `x` held; an added entry must be well-formed.
    pub async fn edit_acl(
        &self,
        actor: &Actor,
        segment: &str,
        access: &str,
        add: bool,
    ) -> DomainResult<()> {
        let (caller, policy) = self
            .authorized(actor, segment, |id| format!("auth.policies.{id}.update"))
            .await?;
        let policy = policy?;
        refuse_read_only(&policy)?;
        if add {
            check_entry(access)?;
        }
        if !may_change(&caller, access) {
            return Err(DomainError::NotHeld(access.to_string()));
        }
        // Deleted meanwhile: not found, as if it had been gone before.
        match self
            .0
            .store
            .edit_policy_acl(&policy.uuid, access, add)
            .await?
        {
            true => Ok(()),
            false => Err(DomainError::NotFound),
        }
    }

    /// GET /users/{uuid}/policies: all the user's policies, in order.
    pub async fn list_for_user(
        &self,
        actor: &Actor,
        user_uuid: &str,
    ) -> DomainResult<Vec<PolicyView>> {
        self.0
            .authorize(actor, &format!("auth.users.{user_uuid}.policies.read"))
            .await?;
        self.0.existing_user(user_uuid).await?;
        let policies = self.0.store.user_policies(user_uuid).await?;
        Ok(policies.into_iter().map(PolicyView::from).collect())
    }

    /// PUT /users/{uuid}/policies/{id}: attaching hands the policy's entries to the user, and
    /// its negative ones take access away, so the caller must hold every one (`!x` as `x`).
    pub async fn attach(&self, actor: &Actor, user_uuid: &str, segment: &str) -> DomainResult<()> {
        self.change_attachment(actor, user_uuid, segment, Attachment::Attach)
            .await
    }

    /// DELETE /users/{uuid}/policies/{id}: detaching takes the policy's entries away, its
    /// negative ones included, so the caller must hold every one of them (`!x` as `x`).
    pub async fn detach(&self, actor: &Actor, user_uuid: &str, segment: &str) -> DomainResult<()> {
        self.change_attachment(actor, user_uuid, segment, Attachment::Detach)
            .await
    }

    /// Attaches or detaches, checked against the policy's ACL as written.
    async fn change_attachment(
        &self,
        actor: &Actor,
        user_uuid: &str,
        segment: &str,
        change: Attachment,
    ) -> DomainResult<()> {
        let verb = match change {
            Attachment::Attach => "create",
            Attachment::Detach => "delete",
        };
        for _ in 0..POLICY_WRITE_TRIES {
            let (caller, policy) = self
                .authorized(actor, segment, |id| {
                    format!("auth.users.{user_uuid}.policies.{id}.{verb}")
                })
                .await?;
            self.0.existing_user(user_uuid).await?;
            let policy = policy?;
            ensure_all(&policy.acl, |entry| may_change(&caller, entry))?;
            let store = &self.0.store;
            let write = match change {
                Attachment::Attach => {
                    store
                        .attach_policy(user_uuid, &policy.uuid, Some(&policy.acl))
                        .await?
                }
                Attachment::Detach => {
                    store
                        .detach_policy(user_uuid, &policy.uuid, &policy.acl)
                        .await?
                }
            };
            if let Some(done) = written(write).await {
                return done;
            }
        }
        Err(changed_meanwhile())
    }

    /// The bootstrap administrator's policy (ACL `#`, read-only), created when missing; its uuid.
    /// Its identity is its uuid, recorded in the settings (`BOOTSTRAP_POLICY_KEY`), never its
    /// name. A database made before that record: the policy named [`BOOTSTRAP_POLICY`] is
    /// adopted only when it grants exactly `#` (whoever made it held `#`), and made read-only.
    pub(super) async fn ensure_bootstrap_policy(&self) -> DomainResult<String> {
        let store = &self.0.store;
        let recorded = match store.setting(BOOTSTRAP_POLICY_KEY).await? {
            Some(uuid) => store.get_policy_by_uuid(&uuid).await?,
            None => None,
        };
        let policy = match recorded {
            Some(policy) => policy,
            None => match store.find_policy_by_name(BOOTSTRAP_POLICY).await? {
                Some(policy) if policy.acl == ["#"] => policy,
                found => {
                    let policy = self.create_bootstrap_policy(found.is_some()).await?;
                    store
                        .set_setting(BOOTSTRAP_POLICY_KEY, &policy.uuid)
                        .await?;
                    return Ok(policy.uuid);
                }
            },
        };
        if !policy.read_only {
            store.make_policy_read_only(&policy.uuid).await?;
        }
        store
            .set_setting(BOOTSTRAP_POLICY_KEY, &policy.uuid)
            .await?;
        Ok(policy.uuid)
    }

    /// Creates the bootstrap policy, read-only, under [`BOOTSTRAP_POLICY`] or, when that name or
    /// its slug is someone else's policy, under that name with a random suffix.
    async fn create_bootstrap_policy(&self, name_taken: bool) -> DomainResult<Policy> {
        let mut suffixed = name_taken;
        loop {
            let uuid = uuid::Uuid::new_v4();
            let name = if suffixed {
                let suffix: String = uuid.simple().to_string().chars().take(8).collect();
                tracing::warn!(
                    policy = BOOTSTRAP_POLICY,
                    "a policy that is not the bootstrap policy holds its name or slug: the \
                     bootstrap policy is made under another name"
                );
                format!("{BOOTSTRAP_POLICY}-{suffix}")
            } else {
                BOOTSTRAP_POLICY.to_string()
            };
            let new = NewPolicy {
                uuid: uuid.to_string(),
                tenant_uuid: self.0.top_tenant.clone(),
                slug: name.replace('-', "_"),
                name,
                description: Some("Everything: the bootstrap administrator's policy".into()),
                acl: vec!["#".into()],
                shared: false,
                read_only: true,
            };
            match self.0.store.create_policy(&new).await {
                Ok(()) => return self.by_uuid(&new.uuid).await,
                Err(StoreError::Conflict(_)) if !suffixed => suffixed = true,
                Err(error) => return Err(error.into()),
            }
        }
    }
}
