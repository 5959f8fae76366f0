//! `tessera client …`: the OAuth2 client registry from the command line, through the same use
//! cases as `/oauth2/clients`, as the operator. A secret is printed once, when it is made.

use crate::config::ValidConfig;
use crate::domain::oauth2::clients::{
    ClientInput, ClientType, ClientView, ClientWithSecret, Consent,
};
use crate::domain::{Actor, ListParams};

use super::services;

/// A client's fields as the flags give them: on `update`, an absent flag (or list) keeps the
/// client's value.
#[derive(Default)]
pub struct ClientFields {
    pub name: Option<String>,
    /// `public` or `confidential`.
    pub client_type: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scope: Vec<String>,
    /// `required` or `implicit`.
    pub consent: Option<String>,
}

fn client_type(text: &str) -> ClientType {
    match text {
        "public" => ClientType::Public,
        _ => ClientType::Confidential,
    }
}

fn consent(text: &str) -> Consent {
    match text {
        "implicit" => Consent::Implicit,
        _ => Consent::Required,
    }
}

/// `new` unless it is empty, else `current`: a list flag given replaces the whole list.
fn replaced(new: Vec<String>, current: Vec<String>) -> Vec<String> {
    if new.is_empty() {
        current
    } else {
        new
    }
}

impl ClientFields {
    /// The input of a new client: what is not given is the API's default.
    fn new_client(self) -> ClientInput {
        ClientInput {
            name: self.name.unwrap_or_default(),
            client_type: self.client_type.as_deref().map(client_type),
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            grant_types: self.grant_types,
            scope: self.scope,
            consent: self.consent.as_deref().map_or(Consent::Required, consent),
        }
    }

    /// The input of an update: what is not given stays as `current` has it.
    fn over(self, current: ClientView) -> ClientInput {
        ClientInput {
            name: self.name.unwrap_or(current.name),
            client_type: self.client_type.as_deref().map(client_type),
            redirect_uris: replaced(self.redirect_uris, current.redirect_uris),
            post_logout_redirect_uris: replaced(
                self.post_logout_redirect_uris,
                current.post_logout_redirect_uris,
            ),
            grant_types: replaced(self.grant_types, current.grant_types),
            scope: replaced(self.scope, current.scope),
            consent: self.consent.as_deref().map_or(current.consent, consent),
        }
    }
}

/// The client, one `field: value` line each (lists comma-separated).
fn print_client(client: &ClientView) {
    let created_at = chrono::DateTime::from_timestamp_micros(client.created_at)
        .map(|at| at.to_rfc3339())
        .unwrap_or_default();
    println!("client_id: {}", client.client_id);
    println!("name: {}", client.name);
    println!("type: {}", client.client_type.as_str());
    println!("redirect_uris: {}", client.redirect_uris.join(", "));
    println!(
        "post_logout_redirect_uris: {}",
        client.post_logout_redirect_uris.join(", ")
    );
    println!("grant_types: {}", client.grant_types.join(", "));
    println!("scope: {}", client.scope.join(", "));
    println!("consent: {}", client.consent.as_str());
    println!("created_at: {created_at}");
}

/// The secret, marked as the one time it is shown: Tessera keeps only its digest.
fn print_secret(made: &ClientWithSecret) {
    if let Some(secret) = &made.client_secret {
        println!("client_secret: {secret}");
        println!("(the client secret is shown only this once: store it now)");
    }
}

/// `tessera client add`
pub async fn add(config: ValidConfig, fields: ClientFields) -> anyhow::Result<()> {
    let services = services(config).await?;
    let made = services
        .clients()
        .create(&Actor::Operator, Ok(fields.new_client()))
        .await?;
    print_client(&made.client);
    print_secret(&made);
    Ok(())
}

/// `tessera client list`: client_id, name, type, grant types.
pub async fn list(config: ValidConfig) -> anyhow::Result<()> {
    let services = services(config).await?;
    let page = services
        .clients()
        .list(&Actor::Operator, Ok(ListParams::default()))
        .await?;
    for client in page.items {
        println!(
            "{}\t{}\t{}\t{}",
            client.client_id,
            client.name,
            client.client_type.as_str(),
            client.grant_types.join(",")
        );
    }
    Ok(())
}

/// `tessera client show CLIENT_ID`
pub async fn show(config: ValidConfig, client_id: &str) -> anyhow::Result<()> {
    let services = services(config).await?;
    let client = services.clients().get(&Actor::Operator, client_id).await?;
    print_client(&client);
    Ok(())
}

/// `tessera client update CLIENT_ID`: the flags given replace those fields.
pub async fn update(
    config: ValidConfig,
    client_id: &str,
    fields: ClientFields,
) -> anyhow::Result<()> {
    let services = services(config).await?;
    let clients = services.clients();
    let current = clients.get(&Actor::Operator, client_id).await?;
    let client = clients
        .update(&Actor::Operator, client_id, Ok(fields.over(current)))
        .await?;
    print_client(&client);
    Ok(())
}

/// `tessera client remove CLIENT_ID`: with its tokens and refresh tokens.
pub async fn remove(config: ValidConfig, client_id: &str) -> anyhow::Result<()> {
    let services = services(config).await?;
    services
        .clients()
        .delete(&Actor::Operator, client_id)
        .await?;
    println!("client {client_id} removed, with its tokens");
    Ok(())
}

/// `tessera client new-secret CLIENT_ID`: the old secret stops working.
pub async fn new_secret(config: ValidConfig, client_id: &str) -> anyhow::Result<()> {
    let services = services(config).await?;
    let made = services
        .clients()
        .new_secret(&Actor::Operator, client_id)
        .await?;
    println!("client_id: {}", made.client.client_id);
    print_secret(&made);
    Ok(())
}
