//! Prometheus metrics, served in the Prometheus text format (0.0.4) at `/metrics` on a listener of
//! their own (`metrics_listen`), never on the public port.
//!
//! Crate choice: `prometheus-client` (the Prometheus project's Rust client) over `metrics` +
//! `metrics-exporter-prometheus`. It is the leaner of the two — four small dependencies (dtoa, itoa,
//! parking_lot, a derive macro) against metrics-util, quanta, crossbeam, sketches-ddsketch and indexmap
//! even with the exporter's HTTP listener and push gateway turned off — and it keeps metrics in a
//! registry owned by each `App` instead of a process-wide recorder, so the many servers a test
//! process starts never mix their counts.
//!
//! What is counted: POST /token, HEAD/GET /token/{t} and revocations are classified by a middleware
//! from the matched route and the response status, so no handler carries metrics code; refresh
//! grants are counted where the grant is redeemed; Argon2 time where the hashing runs; the pool
//! gauges are read at scrape time.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::app::{App, AppState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Request latency buckets, seconds: validation is sub-millisecond, a login tens of milliseconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Argon2id at 19 MiB, 2 passes takes 10–100 ms on current hardware.
const HASH_BUCKETS: &[f64] = &[0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.iter().copied())
}

/// Every metric of one service instance.
pub struct Metrics {
    registry: Registry,
    logins: Family<OutcomeLabels, Counter>,
    refresh_grants: Family<OutcomeLabels, Counter>,
    validations: Family<OutcomeLabels, Counter>,
    revocations: Family<KindLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<RouteLabels>,
    password_hash_duration: Histogram,
    pool_size: Gauge,
    pool_idle: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tessera");
        let metrics = Metrics {
            logins: Family::default(),
            refresh_grants: Family::default(),
            validations: Family::default(),
            revocations: Family::default(),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            password_hash_duration: Histogram::new(HASH_BUCKETS.iter().copied()),
            pool_size: Gauge::default(),
            pool_idle: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "logins",
            "POST /token requests (password logins and refresh-token grants) by outcome: \
             success, failed (401), too_many (429), invalid (other 4xx), error (5xx)",
            metrics.logins.clone(),
        );
        registry.register(
            "refresh_grants",
            "Refresh-token grants by outcome: success or failed",
            metrics.refresh_grants.clone(),
        );
        registry.register(
            "validations",
            "HEAD and GET /token/{token} by outcome: valid, not_found (404), forbidden (403), error",
            metrics.validations.clone(),
        );
        registry.register(
            "revocations",
            "Successful revocations by kind: token (DELETE /token), session, refresh_token",
            metrics.revocations.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by method, matched route and status",
            metrics.requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "HTTP request latency by method and matched route",
            Unit::Seconds,
            metrics.request_duration.clone(),
        );
        registry.register_with_unit(
            "password_hash_duration",
            "Time spent in Argon2id (hashing or verifying one password), excluding queueing",
            Unit::Seconds,
            metrics.password_hash_duration.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Database connections open in the pool",
            metrics.pool_size.clone(),
        );
        registry.register(
            "db_pool_idle_connections",
            "Database connections idle in the pool",
            metrics.pool_idle.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// A refresh-token grant: `success`, `failed` (unknown token, other client, disabled user) or `error`.
    pub fn refresh_grant(&self, outcome: &'static str) {
        self.refresh_grants
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// The Argon2 histogram, for the hasher to record into.
    pub fn password_hash_histogram(&self) -> Histogram {
        self.password_hash_duration.clone()
    }

    /// Classifies one finished request of the public API.
    fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.request_duration
            .get_or_create(&RouteLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(elapsed.as_secs_f64());
        let path = route
            .strip_prefix("/api/auth/0.1")
            .or_else(|| route.strip_prefix("/0.1"))
            .unwrap_or("");
        match (method, path) {
            ("POST", "/token") => {
                let outcome = match status {
                    200 => "success",
                    401 => "failed",
                    429 => "too_many",
                    400..=499 => "invalid",
                    _ => "error",
                };
                self.logins.get_or_create(&OutcomeLabels { outcome }).inc();
            }
            ("HEAD" | "GET", "/token/{token}") => {
                let outcome = match status {
                    200 | 204 => "valid",
                    404 => "not_found",
                    403 => "forbidden",
                    _ => "error",
                };
                self.validations
                    .get_or_create(&OutcomeLabels { outcome })
                    .inc();
            }
            ("DELETE", "/token/{token}") if status == 200 => self.revoked("token"),
            ("DELETE", "/sessions/{uuid}" | "/users/{uuid}/sessions/{session_uuid}")
                if status == 204 =>
            {
                self.revoked("session")
            }
            ("DELETE", "/users/{uuid}/tokens/{client_id}" | "/users/me/tokens/{client_id}")
                if (200..300).contains(&status) =>
            {
                self.revoked("refresh_token")
            }
            _ => {}
        }
    }

    fn revoked(&self, kind: &'static str) {
        self.revocations.get_or_create(&KindLabels { kind }).inc();
    }

    /// The Prometheus text exposition, pool gauges read now.
    pub fn render(&self, app: &App) -> String {
        let pool = app.store.pool();
        self.pool_size.set(i64::from(pool.size()));
        self.pool_idle
            .set(i64::try_from(pool.num_idle()).unwrap_or(i64::MAX));
        let mut text = String::new();
        if let Err(error) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        {
            tracing::warn!(%error, "cannot encode metrics");
        }
        text
    }
}

/// Middleware on every route of the public router: latency and outcome by matched route.
pub async fn track(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    app.metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// GET /metrics on the metrics listener.
async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        app.metrics.render(&app),
    )
}

/// The metrics listener's whole surface: `GET /metrics`; anything else is 404.
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .with_state(state)
}
