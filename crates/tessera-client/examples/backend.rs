//! A backend protecting two routes with Tessera. With Tessera running:
//! `cargo run -p tessera-client --example backend`, then
//! `curl -H "X-Auth-Token: $TOKEN" http://127.0.0.1:8000/users/me/items`.
//! Environment: TESSERA_URL, LISTEN, SERVICE (the ACL prefix), CACHE_TTL_MS (0: no cache).

use std::time::Duration;

use axum::{extract::Path, routing::get, Json, Router};
use serde_json::{json, Value};
use tessera_client::{Client, Identity, Verifier};

/// Needs `{SERVICE}.reports.read`.
async fn reports(identity: Identity) -> Json<Value> {
    Json(json!({ "reports": [], "tenant": identity.tenant_uuid() }))
}

/// Needs `{SERVICE}.users.{user_uuid}.items.read`: a token holding `….users.me.items.read` passes
/// for `/users/me/items` and for its own UUID, not for another user's.
async fn items(identity: Identity, Path(user_uuid): Path<String>) -> Json<Value> {
    Json(json!({ "user": identity.resolve_me(&user_uuid), "items": [] }))
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new(&env("TESSERA_URL", "http://127.0.0.1:9497/api/auth/0.1"))?;
    let ttl = env("CACHE_TTL_MS", "5000").parse()?;
    let verifier = Verifier::builder(client)
        .cache_ttl(Duration::from_millis(ttl))
        .negative_ttl(Duration::from_millis(ttl.min(1000)))
        .build();
    let service = env("SERVICE", "example");
    let app = Router::new()
        .route(
            "/reports",
            get(reports).layer(verifier.require(&format!("{service}.reports.read"))),
        )
        .route(
            "/users/{user_uuid}/items",
            get(items)
                .layer(verifier.require(&format!("{service}.users.{{user_uuid}}.items.read"))),
        );
    let listener = tokio::net::TcpListener::bind(env("LISTEN", "127.0.0.1:8000")).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
