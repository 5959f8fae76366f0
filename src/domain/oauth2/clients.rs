//! OAuth2 clients (SPEC §11.2): registered by an administrator, through the API or the command
//! line. Tessera chooses every `client_id` (a random UUID) and every secret (256 random bits,
//! shown once, kept as a digest). A client's `scope` is its ceiling: no token of it grants more.
//! No escalation: a caller may only give a client a ceiling its own token holds, since the
//! client-credentials grant hands that ceiling to the client itself.

use super::redirect::check_redirect_uri;
use crate::domain::caller::{Actor, Caller};
use crate::domain::context::Context;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::grant::{check_scope, MAX_SCOPE_ENTRIES};
use crate::domain::records::{ListParams, Page};
use crate::domain::{cache::Invalidation, secrets};
use crate::store::OAuth2Client;

pub use crate::store::CLIENT_ORDER;

/// The grants a client may be registered for (SPEC §11.2).
pub const AUTHORIZATION_CODE: &str = "authorization_code";
pub const REFRESH_TOKEN: &str = "refresh_token";
pub const CLIENT_CREDENTIALS: &str = "client_credentials";
pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const GRANT_TYPES: [&str; 4] = [
    AUTHORIZATION_CODE,
    REFRESH_TOKEN,
    CLIENT_CREDENTIALS,
    DEVICE_CODE,
];

/// Most redirect URIs (and post-logout redirect URIs) of one client.
pub const MAX_REDIRECT_URIS: usize = 20;
/// The longest client name, in characters.
pub const MAX_CLIENT_NAME_CHARS: usize = 255;

/// Whether a client can keep a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientType {
    Public,
    Confidential,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Public => "public",
            ClientType::Confidential => "confidential",
        }
    }
}

/// Whether the consent page is shown (part 2 shows it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    Required,
    /// A first-party application: no consent page.
    Implicit,
}

impl Consent {
    pub fn as_str(self) -> &'static str {
        match self {
            Consent::Required => "required",
            Consent::Implicit => "implicit",
        }
    }
}

/// A client as a request describes it (POST and PUT /oauth2/clients). `client_type` `None` on a
/// PUT keeps the client's; on a POST it is confidential.
#[derive(Clone, Debug)]
pub struct ClientInput {
    pub name: String,
    pub client_type: Option<ClientType>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scope: Vec<String>,
    pub consent: Consent,
}

/// A client as the faces show it: never its secret nor the secret's digest.
#[derive(Clone, Debug)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub client_type: ClientType,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scope: Vec<String>,
    pub consent: Consent,
    /// Microseconds since the epoch.
    pub created_at: i64,
}

impl From<OAuth2Client> for ClientView {
    fn from(client: OAuth2Client) -> Self {
        ClientView {
            client_type: match client.confidential {
                true => ClientType::Confidential,
                false => ClientType::Public,
            },
            consent: match client.consent.as_str() {
                "implicit" => Consent::Implicit,
                _ => Consent::Required,
            },
            client_id: client.client_id,
            name: client.name,
            redirect_uris: client.redirect_uris,
            post_logout_redirect_uris: client.post_logout_redirect_uris,
            grant_types: client.grant_types,
            scope: client.scope,
            created_at: client.created_at,
        }
    }
}

/// A client just registered, or given a new secret: the only answers that carry the secret.
#[derive(Clone, Debug)]
pub struct ClientWithSecret {
    pub client: ClientView,
    /// `None` for a public client.
    pub client_secret: Option<String>,
}

/// A new client secret: 256 random bits, URL-safe base64 (no padding), so that it needs no
/// escaping in a form body nor in HTTP Basic.
fn new_secret() -> String {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The grant types, each known and named once; `client_credentials` only for a confidential
/// client; a client for the code grant has a redirect URI.
fn check_grant_types(input: &ClientInput, client_type: ClientType) -> DomainResult<Vec<String>> {
    let mut grant_types: Vec<String> = Vec::new();
    for grant in &input.grant_types {
        if !GRANT_TYPES.contains(&grant.as_str()) {
            return Err(DomainError::invalid(
                "grant_types",
                format!("Unknown grant type (known: {}).", GRANT_TYPES.join(", ")),
            ));
        }
        if !grant_types.contains(grant) {
            grant_types.push(grant.clone());
        }
    }
    if grant_types.is_empty() {
        return Err(DomainError::invalid(
            "grant_types",
            "At least one grant type.",
        ));
    }
    if client_type == ClientType::Public && grant_types.iter().any(|g| g == CLIENT_CREDENTIALS) {
        return Err(DomainError::invalid(
            "grant_types",
            "client_credentials is for confidential clients only (a public client cannot keep a \
             secret).",
        ));
    }
    if grant_types.iter().any(|g| g == AUTHORIZATION_CODE) && input.redirect_uris.is_empty() {
        return Err(DomainError::invalid(
            "redirect_uris",
            "A client of the authorization_code grant needs at least one redirect URI.",
        ));
    }
    Ok(grant_types)
}

fn check_uris(field: &str, uris: &[String], client_type: ClientType) -> DomainResult<()> {
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(DomainError::invalid(
            field,
            format!("At most {MAX_REDIRECT_URIS} URIs."),
        ));
    }
    for uri in uris {
        check_redirect_uri(uri, client_type == ClientType::Public)
            .map_err(|why| DomainError::invalid(field, why))?;
    }
    Ok(())
}

fn check_name(name: &str) -> DomainResult<()> {
    let chars = name.chars().count();
    if name.trim().is_empty() || chars > MAX_CLIENT_NAME_CHARS || name.chars().any(char::is_control)
    {
        return Err(DomainError::invalid(
            "name",
            format!(
                "1 to {MAX_CLIENT_NAME_CHARS} characters, not only spaces, no control characters."
            ),
        ));
    }
    Ok(())
}

/// The ceiling: ACL entries (SPEC §4 syntax, negatives allowed), each held by the caller.
fn check_ceiling(caller: &Caller, scope: &[String]) -> DomainResult<()> {
    check_scope(scope).map_err(|_| {
        DomainError::invalid(
            "scope",
            format!(
                "At most {MAX_SCOPE_ENTRIES} ACL entries, each non-empty, without spaces or \
                 control characters."
            ),
        )
    })?;
    if let Some(entry) = scope
        .iter()
        .find(|e| e.strip_prefix('!').unwrap_or(e).is_empty() || e.contains(' '))
    {
        return Err(DomainError::invalid(
            "scope",
            format!("{entry:?} is not an ACL entry (non-empty, no spaces)."),
        ));
    }
    check_held(caller, scope)
}

/// Refuses, naming the first entry of `scope` the caller does not hold (for `!x`: `x`): a
/// ceiling is handed to the client itself, so giving, changing, renewing the secret of or taking
/// away one needs every entry held, as a policy's entries do.
fn check_held(caller: &Caller, scope: &[String]) -> DomainResult<()> {
    match scope
        .iter()
        .find(|entry| !caller.holds(entry.strip_prefix('!').unwrap_or(entry)))
    {
        Some(entry) => Err(DomainError::NotHeld(entry.clone())),
        None => Ok(()),
    }
}

/// The client `input` describes, checked, for `caller` (whose token must hold its ceiling).
fn checked_client(
    caller: &Caller,
    input: ClientInput,
    client_type: ClientType,
) -> DomainResult<OAuth2Client> {
    check_name(&input.name)?;
    check_uris("redirect_uris", &input.redirect_uris, client_type)?;
    check_uris(
        "post_logout_redirect_uris",
        &input.post_logout_redirect_uris,
        client_type,
    )?;
    let grant_types = check_grant_types(&input, client_type)?;
    check_ceiling(caller, &input.scope)?;
    Ok(OAuth2Client {
        client_id: String::new(),
        name: input.name,
        confidential: client_type == ClientType::Confidential,
        secret_digest: None,
        redirect_uris: input.redirect_uris,
        post_logout_redirect_uris: input.post_logout_redirect_uris,
        grant_types,
        scope: input.scope,
        consent: input.consent.as_str().to_string(),
        created_at: 0,
        revision: 0,
    })
}

/// A path's client id: a UUID, else no such client.
fn client_ref(segment: &str) -> DomainResult<String> {
    crate::domain::parse_uuid(segment).ok_or(DomainError::NotFound)
}

/// The client use cases.
pub struct Clients<'a>(pub(in crate::domain) &'a Context);

impl Clients<'_> {
    async fn existing(&self, client_id: &str) -> DomainResult<OAuth2Client> {
        self.0
            .store
            .get_client(client_id)
            .await?
            .ok_or(DomainError::NotFound)
    }

    /// POST /oauth2/clients (`auth.oauth2.clients.create`).
    pub async fn create(
        &self,
        actor: &Actor,
        input: DomainResult<ClientInput>,
    ) -> DomainResult<ClientWithSecret> {
        let caller = self
            .0
            .authorize(actor, "auth.oauth2.clients.create")
            .await?;
        let input = input?;
        let client_type = input.client_type.unwrap_or(ClientType::Confidential);
        let mut client = checked_client(&caller, input, client_type)?;
        client.client_id = uuid::Uuid::new_v4().to_string();
        client.created_at = self.0.clock.now_micros();
        let secret = client.confidential.then(new_secret);
        client.secret_digest = secret.as_deref().map(secrets::digest);
        self.0.store.create_client(&client).await?;
        tracing::info!(client_id = %client.client_id, "oauth2 client registered");
        Ok(ClientWithSecret {
            client: self.existing(&client.client_id).await?.into(),
            client_secret: secret,
        })
    }

    /// GET /oauth2/clients (`auth.oauth2.clients.read`).
    pub async fn list(
        &self,
        actor: &Actor,
        params: DomainResult<ListParams>,
    ) -> DomainResult<Page<ClientView>> {
        self.0.authorize(actor, "auth.oauth2.clients.read").await?;
        let params = (&params?).into();
        let page = self.0.store.list_clients(&params).await?;
        Ok(Page {
            total: page.total,
            filtered: page.filtered,
            items: page.items.into_iter().map(ClientView::from).collect(),
        })
    }

    /// GET /oauth2/clients/{client_id} (`auth.oauth2.clients.{client_id}.read`).
    pub async fn get(&self, actor: &Actor, segment: &str) -> DomainResult<ClientView> {
        let client_id = client_ref(segment)?;
        let required = format!("auth.oauth2.clients.{client_id}.read");
        self.0.authorize(actor, &required).await?;
        self.existing(&client_id).await.map(ClientView::from)
    }

    /// PUT /oauth2/clients/{client_id} (`….update`): replaces everything but the id, the type
    /// (a client cannot become public while it holds a secret, nor confidential without one) and
    /// the secret.
    pub async fn update(
        &self,
        actor: &Actor,
        segment: &str,
        input: DomainResult<ClientInput>,
    ) -> DomainResult<ClientView> {
        let client_id = client_ref(segment)?;
        let required = format!("auth.oauth2.clients.{client_id}.update");
        let caller = self.0.authorize(actor, &required).await?;
        let input = input?;
        let current = ClientView::from(self.existing(&client_id).await?);
        // Changing a ceiling takes its entries away: they must be held, as a policy's.
        check_held(&caller, &current.scope)?;
        if input.client_type.is_some_and(|t| t != current.client_type) {
            return Err(DomainError::invalid(
                "type",
                "A client's type cannot change: register a new client.",
            ));
        }
        let mut client = checked_client(&caller, input, current.client_type)?;
        client.client_id = client_id.clone();
        if !self.0.store.update_client(&client).await? {
            return Err(DomainError::NotFound);
        }
        // Its remembered copy would only fail its next grant's write: spare that write.
        self.0.known_clients.forget(&client_id);
        // An introspecting copy is served as it is: it must go, here and on every instance.
        self.0
            .invalidate(Invalidation::Client(client_id.clone()))
            .await;
        // Tokens keep the scope they were granted; what the ceiling no longer covers is not
        // taken back from them (as a policy change is not from a scope-limited token's scope).
        self.existing(&client_id).await.map(ClientView::from)
    }

    /// DELETE /oauth2/clients/{client_id} (`….delete`): ends every token and refresh token of
    /// the client, and every session minted from them.
    pub async fn delete(&self, actor: &Actor, segment: &str) -> DomainResult<()> {
        let client_id = client_ref(segment)?;
        let required = format!("auth.oauth2.clients.{client_id}.delete");
        let caller = self.0.authorize(actor, &required).await?;
        check_held(&caller, &self.existing(&client_id).await?.scope)?;
        if !self.0.store.delete_client(&client_id).await? {
            return Err(DomainError::NotFound);
        }
        self.0.known_clients.forget(&client_id);
        // Its refresh tokens' sessions belong to users: drop every cached token.
        self.0.invalidate(Invalidation::All).await;
        tracing::info!(%client_id, "oauth2 client deleted, with its tokens");
        Ok(())
    }

    /// POST /oauth2/clients/{client_id}/secret (`….update`): a new secret; the old one stops
    /// working at once.
    pub async fn new_secret(&self, actor: &Actor, segment: &str) -> DomainResult<ClientWithSecret> {
        let client_id = client_ref(segment)?;
        let required = format!("auth.oauth2.clients.{client_id}.update");
        let caller = self.0.authorize(actor, &required).await?;
        let client = self.existing(&client_id).await?;
        // The secret hands out the whole ceiling: only a caller holding it may make one.
        check_held(&caller, &client.scope)?;
        if !client.confidential {
            return Err(DomainError::invalid(
                "type",
                "A public client has no secret.",
            ));
        }
        let secret = new_secret();
        if !self
            .0
            .store
            .set_client_secret(&client_id, &secrets::digest(&secret))
            .await?
        {
            return Err(DomainError::NotFound);
        }
        self.0.known_clients.forget(&client_id);
        self.0
            .invalidate(Invalidation::Client(client_id.clone()))
            .await;
        tracing::info!(%client_id, "oauth2 client secret renewed");
        Ok(ClientWithSecret {
            client: client.into(),
            client_secret: Some(secret),
        })
    }
}
