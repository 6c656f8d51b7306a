//! What operators scrape at `GET /metrics`, in the OpenMetrics text format that Prometheus
//! reads (encoded by the `prometheus-client` crate):
//!
//! - `cofund_http_requests_total` and `cofund_http_request_duration_seconds`, by method, route
//!   template (`/v1/claims/{id}`, never the id itself) and status;
//! - `cofund_http_request_database_queries`, the statements each request ran, by method and
//!   route: a list whose queries grow with its page shows here first;
//! - `cofund_claims_total`, by event (`submitted`, `verified`, `rejected`, `revoked`), as this
//!   process recorded them;
//! - `cofund_allocated_minor_units`, the money the ledger holds allocated, by payer role and
//!   currency, in minor units, read from the database at each scrape (so every process reports
//!   the same figure);
//! - `cofund_database_pool_connections` (open, idle, maximum) and
//!   `cofund_outbox_messages` by status.
//!
//! Counters are this process's since it started: with several processes, sum them.

use std::cell::Cell;
use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::domain::outbox::OutboxStatus;

/// The content type of the scrape.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route's template, or `unmatched` for a path no route serves.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // label values are written as named
pub enum ClaimEvent {
    submitted,
    verified,
    rejected,
    revoked,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClaimLabels {
    event: ClaimEvent,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MoneyLabels {
    role: String,
    currency: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CredentialLabels {
    credential: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to 4 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

fn queries_histogram() -> Histogram {
    // 1 to 512 statements.
    Histogram::new(exponential_buckets(1.0, 2.0, 10))
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The process's metrics. Cheap to share: every metric is a handle onto shared atomics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RequestLabels>,
    queries: HistogramFamily<RouteLabels>,
    claims: Family<ClaimLabels, Counter>,
    refused_credentials: Family<CredentialLabels, Counter>,
    allocated: Family<MoneyLabels, Gauge<i64, AtomicI64>>,
    pool: Family<StateLabels, Gauge<i64, AtomicI64>>,
    outbox: Family<StatusLabels, Gauge<i64, AtomicI64>>,
    scrape: std::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("cofund");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily<RequestLabels> =
            Family::new_with_constructor(latency_histogram);
        let queries: HistogramFamily<RouteLabels> = Family::new_with_constructor(queries_histogram);
        let claims = Family::<ClaimLabels, Counter>::default();
        let refused_credentials = Family::<CredentialLabels, Counter>::default();
        let allocated = Family::default();
        let pool = Family::default();
        let outbox = Family::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its response's head",
            latency.clone(),
        );
        registry.register(
            "http_request_database_queries",
            "Database statements run for one request",
            queries.clone(),
        );
        registry.register(
            "claims",
            "Outcome claims by what happened to them",
            claims.clone(),
        );
        registry.register(
            "refused_credentials",
            "Requests refused (401) for their credential: an API key, or a token",
            refused_credentials.clone(),
        );
        registry.register(
            "allocated_minor_units",
            "Money allocated in the ledger to payers, net of reversals, in minor units",
            allocated.clone(),
        );
        registry.register(
            "database_pool_connections",
            "Database connections of this process: open, idle and the pool's maximum",
            pool.clone(),
        );
        registry.register(
            "outbox_messages",
            "Emails in the outbox by status",
            outbox.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            queries,
            claims,
            refused_credentials,
            allocated,
            pool,
            outbox,
            scrape: std::sync::Mutex::new(()),
        }
    }

    /// One answered request: its count, latency and database statements.
    pub fn record_request(&self, labels: RequestLabels, seconds: f64, queries: u64) {
        self.latency.get_or_create(&labels).observe(seconds);
        let route = RouteLabels {
            method: labels.method.clone(),
            route: labels.route.clone(),
        };
        self.queries.get_or_create(&route).observe(queries as f64);
        self.requests.get_or_create(&labels).inc();
    }

    /// `count` claims had `event` (after their transaction committed).
    pub fn claims(&self, event: ClaimEvent, count: u64) {
        if count > 0 {
            self.claims
                .get_or_create(&ClaimLabels { event })
                .inc_by(count);
        }
    }

    /// A request refused for its credential (`api_key` or `token`).
    pub fn refused_credential(&self, credential: &str) {
        self.refused_credentials
            .get_or_create(&CredentialLabels {
                credential: credential.to_owned(),
            })
            .inc();
    }

    /// The scrape: gauges are set from `snapshot`, then everything is encoded.
    pub fn encode(&self, snapshot: &Snapshot) -> String {
        // One scrape at a time sets and reads the gauges.
        let _scrape = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        // Set afresh at each scrape: a value that has gone from the database goes from here.
        self.allocated.clear();
        for (role, currency, minor) in &snapshot.allocated {
            let labels = MoneyLabels {
                role: role.clone(),
                currency: currency.clone(),
            };
            self.allocated.get_or_create(&labels).set(*minor);
        }
        for (state, value) in [
            ("open", snapshot.pool_open),
            ("idle", snapshot.pool_idle),
            ("max", snapshot.pool_max),
        ] {
            let labels = StateLabels {
                state: state.to_owned(),
            };
            self.pool.get_or_create(&labels).set(value);
        }
        // Every status, 0 when no email has it, so that a queue that empties reads 0.
        for status in OutboxStatus::ALL.iter().map(|s| s.as_str()) {
            let count = snapshot
                .outbox
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            let labels = StatusLabels {
                status: status.to_owned(),
            };
            self.outbox.get_or_create(&labels).set(count);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// What a scrape reads from the database and the pool.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// (payer role, currency, minor units).
    pub allocated: Vec<(String, String, i64)>,
    /// (status, messages).
    pub outbox: Vec<(String, i64)>,
    pub pool_open: i64,
    pub pool_idle: i64,
    pub pool_max: i64,
}

tokio::task_local! {
    /// Statements run for the request this task serves, summed over its database calls.
    static QUERIES_OF_REQUEST: Cell<u64>;
}

/// Adds `count` statements (counted by [`crate::db::statements_of`]) to the request being served, if any.
pub fn add_to_request(count: u64) {
    let _ = QUERIES_OF_REQUEST.try_with(|n| n.set(n.get() + count));
}

/// Serves one request inside `future`, returning what it gives and the statements it ran.
pub async fn counting_queries<F: std::future::Future>(future: F) -> (F::Output, u64) {
    QUERIES_OF_REQUEST
        .scope(Cell::new(0), async move {
            let output = future.await;
            (output, QUERIES_OF_REQUEST.with(Cell::get))
        })
        .await
}

/// A count made inside a database closure, read once its transaction has committed: what a
/// write did is counted only if it happened (a retried request that replays its first answer
/// does no work and counts nothing).
#[derive(Clone, Debug, Default)]
pub struct Tally(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Tally {
    pub fn add(&self, count: u64) {
        self.0
            .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}
