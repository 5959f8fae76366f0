//! Tessera: a fast, safe HTTP authentication service speaking the wazo-auth token API.

pub mod app;
pub mod auth;
pub mod config;
pub mod http;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use app::{App, AppState};
pub use config::Config;

/// The whole service as a router: what tests and `serve` run.
pub fn app(state: AppState) -> axum::Router {
    http::router(state)
}

/// Expired tokens deleted per purge statement; small batches keep write locks short.
const PURGE_BATCH: i64 = 1000;

/// Deletes every expired token and its session, in batches. Returns the number of sessions.
pub async fn purge_expired(app: &App) -> Result<u64, store::StoreError> {
    let mut total = 0;
    loop {
        let purged = app
            .store
            .purge_expired(app.clock.now_micros(), PURGE_BATCH)
            .await?;
        total += purged;
        if purged < PURGE_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// A server started in the background: the HTTP listener and the purge loop.
pub struct RunningServer {
    local_addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RunningServer {
    /// Prepares the database, binds `config.listen` and serves until stopped.
    pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
        let listen = config.listen.clone();
        let interval = Duration::from_secs(config.token_cleanup_interval);
        let state: AppState = Arc::new(App::new(config).await?);
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let local_addr = listener.local_addr()?;

        let purger = {
            let state = state.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    match purge_expired(&state).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(sessions = n, "purged expired tokens"),
                        Err(error) => tracing::warn!(%error, "purge of expired tokens failed"),
                    }
                }
            })
        };
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
        let server = tokio::spawn(async move {
            let graceful = axum::serve(listener, service).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = graceful.await {
                tracing::error!(%error, "server stopped");
            }
        });
        tracing::info!(address = %local_addr, "tessera listening");
        Ok(RunningServer {
            local_addr,
            tasks: vec![server, purger],
            shutdown: Some(shutdown),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets requests in flight finish, and stops the purge loop.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let mut tasks = std::mem::take(&mut self.tasks);
        if let Some(server) = tasks.first_mut() {
            let _ = server.await;
        }
        for task in tasks {
            task.abort();
        }
    }

    /// Stops everything at once.
    pub fn abort(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.abort();
    }
}
