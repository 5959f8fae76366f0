//! Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3):
//! `client_secret_basic`, `client_secret_post`, or `none` for a public client. A secret is
//! compared by its digest, in constant time. A failure counts in the brute-force throttle (§8)
//! against the client and the address; a secret cannot be guessed, so a success reads nothing of
//! the throttle.

use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::error::{OAuthError, OAuthResult};
use super::OAuth2;
use crate::domain::secrets;
use crate::domain::throttle::{Account, Outcome};
use crate::store::{ClientCredentials, OAuth2Client};

/// How a request names its client, as the HTTP face read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic, id and secret each form-urlencoded (`client_secret_basic`).
    Basic { client_id: String, secret: String },
    /// In the form body (`client_secret_post`).
    Post { client_id: String, secret: String },
    /// A public client naming itself in the body (`none`).
    Public { client_id: String },
    /// No client named.
    Missing,
}

impl ClientAuth {
    fn client_id(&self) -> Option<&str> {
        match self {
            ClientAuth::Basic { client_id, .. }
            | ClientAuth::Post { client_id, .. }
            | ClientAuth::Public { client_id } => Some(client_id),
            ClientAuth::Missing => None,
        }
    }

    fn secret(&self) -> Option<&str> {
        match self {
            ClientAuth::Basic { secret, .. } | ClientAuth::Post { secret, .. } => Some(secret),
            _ => None,
        }
    }

    fn basic(&self) -> bool {
        matches!(self, ClientAuth::Basic { .. })
    }
}

/// Clients that authenticated lately, by id, so that a client-credentials grant need not read
/// its client first. A copy is only a guess: the grant's token is written only while the client
/// is still at the copy's revision (`ClientToken::revision`), so a secret renewed, a client
/// changed or deleted since, by this process or another, is read again rather than served.
pub struct KnownClients(moka::sync::Cache<String, Arc<OAuth2Client>>);

/// Copies kept: a bound on memory, not on correctness.
const KNOWN_CLIENTS: u64 = 1024;

impl KnownClients {
    pub fn new() -> Self {
        KnownClients(moka::sync::Cache::new(KNOWN_CLIENTS))
    }

    /// The copy of the client `auth` names, if its credentials match that copy.
    pub(super) fn get(&self, auth: &ClientAuth) -> Option<Arc<OAuth2Client>> {
        let client = self.0.get(&auth.stored_id()?)?;
        secret_matches(&*client, auth.secret()).then_some(client)
    }

    pub(super) fn remember(&self, client: Arc<OAuth2Client>) {
        self.0.insert(client.client_id.clone(), client);
    }

    pub(super) fn forget(&self, client_id: &str) {
        self.0.invalidate(client_id);
    }
}

impl Default for KnownClients {
    fn default() -> Self {
        Self::new()
    }
}

/// What client authentication reads of a client: a whole record, or only its credentials.
pub trait Authenticates {
    fn confidential(&self) -> bool;
    fn secret_digest(&self) -> Option<&[u8]>;
}

impl Authenticates for OAuth2Client {
    fn confidential(&self) -> bool {
        self.confidential
    }
    fn secret_digest(&self) -> Option<&[u8]> {
        self.secret_digest.as_deref()
    }
}

impl Authenticates for ClientCredentials {
    fn confidential(&self) -> bool {
        self.confidential
    }
    fn secret_digest(&self) -> Option<&[u8]> {
        self.secret_digest.as_deref()
    }
}

impl<C: Authenticates> Authenticates for Arc<C> {
    fn confidential(&self) -> bool {
        (**self).confidential()
    }
    fn secret_digest(&self) -> Option<&[u8]> {
        (**self).secret_digest()
    }
}

/// Whether `secret` is the client's: a confidential client with that secret's digest, or a
/// public client presenting none.
fn secret_matches(client: &impl Authenticates, secret: Option<&str>) -> bool {
    match (client.secret_digest(), secret, client.confidential()) {
        (Some(digest), Some(secret), true) => {
            bool::from(secrets::digest(secret).as_slice().ct_eq(digest))
        }
        (_, None, false) => true,
        _ => false,
    }
}

impl ClientAuth {
    /// The client id as stored (a uuid in its canonical spelling), if the request names one that
    /// can be.
    pub fn stored_id(&self) -> Option<String> {
        self.client_id().and_then(crate::domain::parse_uuid)
    }
}

impl OAuth2<'_> {
    /// The client `auth` names, if its credentials are right; `invalid_client` otherwise (and
    /// `invalid_client` held back, 429, while its counts are).
    pub(super) async fn authenticate_client(
        &self,
        auth: &ClientAuth,
        address: &str,
    ) -> OAuthResult<OAuth2Client> {
        let found = match auth.stored_id() {
            Some(id) => self.0.store.get_client(&id).await?,
            None => None,
        };
        self.check_client(auth, address, found).await
    }

    /// [`Self::authenticate_client`] with the client `auth` names already read (`found`).
    pub(super) async fn check_client<C: Authenticates>(
        &self,
        auth: &ClientAuth,
        address: &str,
        found: Option<C>,
    ) -> OAuthResult<C> {
        let Some(client_id) = auth.client_id() else {
            return Err(OAuthError::invalid_client(false));
        };
        if let Some(client) = found.filter(|client| secret_matches(client, auth.secret())) {
            // A success reads and writes nothing of the throttle: a secret cannot be guessed.
            return Ok(client);
        }
        // Counted by the id as stored, so that its spellings share one count.
        let counted = auth.stored_id().unwrap_or_else(|| client_id.to_lowercase());
        let attempt = self
            .0
            .throttle
            .unguessable_for(&Account::Client(counted), address);
        attempt.refuse_if_held().await?;
        attempt.settle(Outcome::Failed).await;
        tracing::info!(
            client_id = %crate::domain::untrusted::Untrusted(client_id),
            remote_addr = %crate::domain::untrusted::Untrusted(address),
            "oauth2 client authentication failed"
        );
        Err(OAuthError::invalid_client(auth.basic()))
    }
}
