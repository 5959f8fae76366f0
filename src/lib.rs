//! Tessera: a fast, safe HTTP authentication service speaking the wazo-auth token API.
//!
//! The layers (see `ARCHITECTURE.md`): [`domain`] holds every rule and use case; [`store`] keeps
//! what the domain persists (PostgreSQL or SQLite); [`http`] and [`cli`] are the faces that call
//! the use cases. This file composes them: [`app`] is the whole HTTP service as a router, and
//! [`RunningServer`] runs it with its background tasks.

pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
mod os;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use config::{Config, IntoValid, ValidConfig};
use domain::clock::SharedClock;
use domain::Services;
pub use http::AppState;

/// The whole service as a router: what tests and `serve` run.
pub fn app(state: AppState) -> axum::Router {
    http::router(state)
}

/// A server started in the background: the HTTP listener and the purge loop.
pub struct RunningServer {
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    stop_purge: tokio::sync::watch::Sender<bool>,
}

impl RunningServer {
    /// Checks the configuration (unless it is a [`ValidConfig`] already), binds `config.listen`
    /// (and `metrics_listen`), then prepares the database and serves until stopped.
    pub async fn start(config: impl IntoValid) -> anyhow::Result<RunningServer> {
        Self::start_with_clock(config, domain::clock::system()).await
    }

    /// The same, reading time from `clock` (tests pass a manual clock and advance it).
    pub async fn start_with_clock(
        config: impl IntoValid,
        clock: SharedClock,
    ) -> anyhow::Result<RunningServer> {
        let config = config.into_valid()?;
        // The ports first: a clash fails at once, before the database is touched.
        let listener = bind(&config.listen, "").await?;
        let metrics_listener = match &config.metrics_listen {
            Some(address) => Some(bind(address, " (metrics)").await?),
            None => None,
        };
        let local_addr = listener.local_addr()?;
        let metrics_addr = match &metrics_listener {
            Some(listener) => Some(listener.local_addr()?),
            None => None,
        };
        let interval = Duration::from_secs(config.token_cleanup_interval);
        let limits = http::serve::Limits::of(&config);
        let mut services = Services::start(config, clock).await?;
        services.serve_at(local_addr);
        let services = Arc::new(services);
        let state = AppState::new(services.clone());

        // Stopped between purges only, so that a shutdown lets the purge under way finish.
        let (stop_purge, purge_stopped) = tokio::sync::watch::channel(false);
        let purger = tokio::spawn(purge_loop(services.clone(), interval, purge_stopped));
        // The metrics listener stops with the rest (aborted once the API has drained).
        let metrics = metrics_listener.map(|listener| {
            let service = http::metrics::router(state.clone());
            tokio::spawn(http::serve::serve(
                listener,
                service,
                limits,
                std::future::pending(),
            ))
        });
        // Other instances' revocations reach this one's validation cache through PostgreSQL.
        let follower = {
            let services = services.clone();
            tokio::spawn(async move { services.follow_invalidations().await })
        };
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(http::serve::serve(listener, app(state), limits, async {
            let _ = stopped.await;
        }));
        tracing::info!(address = %local_addr, "tessera listening");
        if let Some(address) = metrics_addr {
            tracing::info!(%address, "metrics at /metrics");
        }
        Ok(RunningServer {
            local_addr,
            metrics_addr,
            tasks: [server, purger, follower]
                .into_iter()
                .chain(metrics)
                .collect(),
            shutdown: Some(shutdown),
            stop_purge,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The metrics listener's address, when `metrics_listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Stops accepting, lets requests in flight finish, lets a purge under way finish and stops the
    /// purge loop, then stops the metrics listener.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let mut tasks = std::mem::take(&mut self.tasks).into_iter();
        if let Some(server) = tasks.next() {
            let _ = server.await;
        }
        let _ = self.stop_purge.send(true);
        if let Some(purger) = tasks.next() {
            let _ = purger.await;
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

/// Purges expired tokens every `interval` until `stopped` changes (between purges only).
async fn purge_loop(
    services: Arc<Services>,
    interval: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.changed() => return,
        }
        match services.tokens().purge_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "purged expired tokens"),
            Err(error) => tracing::warn!(%error, "purge of expired tokens failed"),
        }
    }
}

async fn bind(address: &str, what: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {address}{what}: {}", config::reason(&e)))
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.abort();
    }
}
