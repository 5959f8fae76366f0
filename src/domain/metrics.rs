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
//! What is counted: logins, refresh grants, validations and revocations inside the use cases that
//! decide them (`tokens/`, `sessions.rs`, `refresh_tokens.rs`), so no face can forget them;
//! every HTTP request by its matched route, from the HTTP layer's middleware; Argon2 time where the
//! hashing runs; the pool gauges at scrape time.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

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
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

/// The standard methods (RFC 9110 and PATCH), the only ones a label names.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
];

/// A request method as a label: one of [`METHODS`], else `other`. A label set lives as long as
/// the registry: a method as the client wrote it would let every request with a new method grow
/// the process for good.
fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("other")
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Request latency buckets, seconds: from a cached validation up to a login queued behind hashes.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Argon2id verification times, seconds: the default parameters' range across hardware, doubling.
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
        metrics.register_outcomes(&mut registry);
        metrics.register_requests_and_pool(&mut registry);
        Metrics {
            registry,
            ..metrics
        }
    }

    /// The counts of what the use cases decide, by outcome.
    fn register_outcomes(&self, registry: &mut Registry) {
        registry.register(
            "logins",
            "POST /token requests (password logins and refresh-token grants) by outcome: \
             success, failed (401), too_many (429), invalid (other 4xx), error (5xx)",
            self.logins.clone(),
        );
        registry.register(
            "refresh_grants",
            "Refresh-token grants by outcome: success or failed",
            self.refresh_grants.clone(),
        );
        registry.register(
            "validations",
            "HEAD and GET /token/{token} by outcome: valid, not_found (404), forbidden (403), error",
            self.validations.clone(),
        );
        registry.register(
            "revocations",
            "Successful revocations by kind: token (DELETE /token), session, refresh_token",
            self.revocations.clone(),
        );
    }

    /// The HTTP requests, the hashing time and the database pool.
    fn register_requests_and_pool(&self, registry: &mut Registry) {
        registry.register(
            "http_requests",
            "HTTP requests by method, matched route and status",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "HTTP request latency by method and matched route",
            Unit::Seconds,
            self.request_duration.clone(),
        );
        registry.register_with_unit(
            "password_hash_duration",
            "Time spent in Argon2id (hashing or verifying one password), excluding queueing",
            Unit::Seconds,
            self.password_hash_duration.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Database connections open in the pool",
            self.pool_size.clone(),
        );
        registry.register(
            "db_pool_idle_connections",
            "Database connections idle in the pool",
            self.pool_idle.clone(),
        );
    }

    /// A refresh-token grant: `success`, `failed` (unknown or expired token, other client, disabled
    /// user), `invalid` (a scope the refresh token does not cover), `replayed` (a superseded value
    /// after the reuse grace: its chain was revoked), `held_back` (its address is held back by the
    /// brute-force limits) or `error`.
    pub fn refresh_grant(&self, outcome: &'static str) {
        self.refresh_grants
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// The Argon2 histogram, for the hasher to record into.
    pub fn password_hash_histogram(&self) -> Histogram {
        self.password_hash_duration.clone()
    }

    /// POST /token by outcome: success, failed, too_many, invalid or error.
    pub fn login(&self, outcome: &'static str) {
        self.logins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// HEAD/GET /token/{t} by outcome: valid, not_found, forbidden or error.
    pub fn validation(&self, outcome: &'static str) {
        self.validations
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// One finished HTTP request. Every label comes from a bounded set: the method is a standard
    /// one or `other`, the route is the matched route pattern (never the raw path) or the faces'
    /// fixed fallback, and the status is a status code (100..=999).
    pub fn request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = method_label(method);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.to_string(),
                status,
            })
            .inc();
        self.request_duration
            .get_or_create(&RouteLabels {
                method,
                route: route.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// A successful revocation: token, session or refresh_token.
    pub fn revoked(&self, kind: &'static str) {
        self.revocations.get_or_create(&KindLabels { kind }).inc();
    }
    /// The Prometheus text exposition, pool gauges read now.
    pub fn render(&self, pool_size: u32, pool_idle: usize) -> String {
        self.pool_size.set(i64::from(pool_size));
        self.pool_idle
            .set(i64::try_from(pool_idle).unwrap_or(i64::MAX));
        let mut text = String::new();
        if let Err(error) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        {
            tracing::warn!(%error, "cannot encode metrics");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Metrics;

    /// Label sets live as long as the registry: thousands of distinct methods make one.
    #[test]
    fn methods_outside_the_standard_ones_share_one_label() {
        let metrics = Metrics::new();
        for n in 0..2_000 {
            let method = format!("M{n}");
            metrics.request(&method, "unmatched", 405, Duration::from_millis(1));
        }
        metrics.request("GET", "/0.1/status", 200, Duration::from_millis(1));
        let text = metrics.render(0, 0);
        let sets = |name: &str| text.lines().filter(|line| line.starts_with(name)).count();
        assert_eq!(sets("tessera_http_requests_total{"), 2, "{text}");
        assert_eq!(
            sets("tessera_http_request_duration_seconds_count{"),
            2,
            "{text}"
        );
        assert!(text.contains(
            "tessera_http_requests_total{method=\"other\",route=\"unmatched\",status=\"405\"} 2000"
        ));
        assert!(!text.contains("M1999"));
    }
}
