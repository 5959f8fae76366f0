//! The benchmark "floor": a trivial axum server with no database, answering the token routes
//! with fixed bodies, so `bench/run` can measure the HTTP stack alone and report Tessera as a
//! ratio to it.

use axum::{
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9498")]
    listen: String,
}

/// HEAD answers 204 like Tessera's validation; GET a tiny JSON description.
async fn validate(method: Method) -> Response {
    if method == Method::HEAD {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Json(json!({"data": {"token": "floor", "acl": ["#"]}})).into_response()
    }
}

async fn create() -> Json<Value> {
    Json(json!({"data": {"token": "floor", "acl": ["#"]}}))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let app = Router::new()
        .route("/api/auth/0.1/token/{token}", get(validate))
        .route("/api/auth/0.1/token", post(create));
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    axum::serve(listener, app).await
}
