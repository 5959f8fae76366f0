//! The Rust client of Tessera, the authentication service speaking
//! wazo-auth's token API.
//!
//! - [`Client`]: typed calls (password and offline logins, the refresh-token grant, validation,
//!   revocation, scope checks) over one pool of keep-alive connections, with errors that tell
//!   401, 403, 404, 429, 503, other 5xx and an unreachable server apart ([`Error`]).
//! - [`RefreshingCredential`], for long-lived applications: a valid access token at every moment
//!   from a refresh token alone, renewed ahead of expiry by one background task however many
//!   callers ask, with back-off while Tessera is unreachable, following refresh-token rotation.
//! - [`Verifier`], [`RequireAcl`] and [`Identity`] (feature `axum`, on by default), for backends:
//!   a tower layer that checks each request's `X-Auth-Token` against a per-route ACL template,
//!   caches answers for a few seconds, and hands the token's identity to the handler.
//!
//! Plain `http://` only unless the `native-tls` feature is on.
//!
//! # Protecting a backend
//!
//! The required ACL of a route is a template: each `{name}` is filled from the path parameter of
//! that name, with `.` replaced by `_` (wazo's rule). A refused request gets 401 (no token, an
//! unknown, expired or refresh token, or a token lacking the ACL) in wazo's JSON shapes, or 503 when
//! Tessera does not answer.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use axum::{extract::Path, routing::get, Json, Router};
//! use serde_json::{json, Value};
//! use tessera_client::{Client, Identity, Verifier};
//!
//! async fn reports(identity: Identity) -> Json<Value> {
//!     Json(json!({ "reports": [], "tenant": identity.tenant_uuid() }))
//! }
//!
//! async fn items(identity: Identity, Path(user_uuid): Path<String>) -> Json<Value> {
//!     Json(json!({ "user": identity.resolve_me(&user_uuid), "items": [] }))
//! }
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new("http://127.0.0.1:9497/api/auth/0.1")?;
//! let verifier = Verifier::builder(client)
//!     .cache_ttl(Duration::from_secs(5))
//!     .build();
//! let app = Router::new()
//!     .route("/reports", get(reports).layer(verifier.require("example.reports.read")))
//!     .route(
//!         "/users/{user_uuid}/items",
//!         get(items).layer(verifier.require("example.users.{user_uuid}.items.read")),
//!     );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # A long-lived application
//!
//! Log in once with the password (it is not kept), keep the refresh token, and ask the credential
//! for an access token whenever one is needed. When Tessera rotates refresh tokens, the credential
//! follows, and the application persists each new value.
//!
//! ```no_run
//! use tessera_client::{Client, CredentialSettings, RefreshingCredential};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new("http://127.0.0.1:9497/api/auth/0.1")?;
//! let settings = CredentialSettings::default();
//! let credential = match std::fs::read_to_string("refresh-token") {
//!     Ok(stored) => RefreshingCredential::from_refresh_token(
//!         client, stored.trim(), "my-app", settings,
//!     )?,
//!     Err(_) => {
//!         let password = std::env::var("MY_APP_PASSWORD")?;
//!         RefreshingCredential::login(client, "my-app-user", &password, "my-app", settings).await?
//!     }
//! };
//! std::fs::write("refresh-token", credential.refresh_token())?;
//! let mut updates = credential.refresh_token_updates();
//! tokio::spawn(async move {
//!     while updates.changed().await.is_ok() {
//!         let value = updates.borrow_and_update().clone();
//!         let _ = std::fs::write("refresh-token", value);
//!     }
//! });
//! loop {
//!     let token = credential.access_token().await?;
//!     // … call a backend with `X-Auth-Token: {token}` …
//! #   let _ = token;
//!     tokio::time::sleep(std::time::Duration::from_secs(1)).await;
//! }
//! # }
//! ```

mod client;
mod credential;
mod error;
#[cfg(feature = "axum")]
mod verify;

pub use client::{Client, ClientBuilder, GrantOptions, LoginOptions, Token, Validation};
pub use credential::{CredentialSettings, RefreshingCredential};
pub use error::Error;
#[cfg(feature = "axum")]
pub use verify::{Identity, Refusal, RequireAcl, RequireAclService, Verifier, VerifierBuilder};
