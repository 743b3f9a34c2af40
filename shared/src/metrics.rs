//! Prometheus metrics shared by every service, registered in the process-wide default registry
//! so that one `/metrics` handler ([`render`]) exposes them all. Service-specific metrics live in
//! their crates and register in the same registry.

use std::sync::LazyLock;

use prometheus::{
    register_gauge, register_histogram_vec, register_int_counter_vec, register_int_gauge_vec,
    Encoder, Gauge, HistogramVec, IntCounterVec, IntGaugeVec, TextEncoder,
};

/// Latency buckets in seconds, from sub-millisecond (a confirmed publish on loopback) to the
/// ten seconds Checkout waits for a webhook answer.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub static STRIPE_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "stripe_api_requests_total",
        "Stripe API attempts by endpoint and outcome (ok or the error kind).",
        &["endpoint", "outcome"]
    )
    .expect("metric registers once")
});

pub static STRIPE_REQUEST_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "stripe_api_request_duration_seconds",
        "Stripe API attempt latency by endpoint.",
        &["endpoint"],
        LATENCY_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

pub static STRIPE_BUDGET: LazyLock<Gauge> = LazyLock::new(|| {
    register_gauge!(
        "stripe_rate_limit_budget_per_second",
        "The Stripe budget of the whole deployment this process was configured with \
         (stripe.rate_limit_per_sec)."
    )
    .expect("metric registers once")
});

pub static STRIPE_SHARE: LazyLock<Gauge> = LazyLock::new(|| {
    register_gauge!(
        "stripe_rate_limit_share_per_second",
        "This process's share of the Stripe budget (rate_limit_per_sec / processes). Summed over \
         every process, it must not exceed the budget."
    )
    .expect("metric registers once")
});

pub static DATABASE_POOL_CONNECTIONS: LazyLock<Gauge> = LazyLock::new(|| {
    register_gauge!(
        "database_pool_max_connections",
        "The most connections this process's database pool opens. Summed over every process, \
         plus a reserve for migrations and psql, it must stay under \
         database_server_max_connections."
    )
    .expect("metric registers once")
});

pub static DATABASE_SERVER_CONNECTIONS: LazyLock<Gauge> = LazyLock::new(|| {
    register_gauge!(
        "database_server_max_connections",
        "Postgres's max_connections, as the server reported it at this process's last readiness \
         check."
    )
    .expect("metric registers once")
});

pub static FULFILLMENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "fulfillment_outcomes_total",
        "fulfill_checkout results by trigger (webhook, landing, reconciler) and outcome.",
        &["trigger", "outcome"]
    )
    .expect("metric registers once")
});

pub static CLAIM_WAITS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "fulfillment_claim_waits_total",
        "Waits for another caller already asking Stripe about the same session (the success \
         page and the worker racing), by how they ended: fulfilled (no second Stripe call), \
         released (the claimant did not fulfill) or timed_out (stripe.claim_wait_ms passed).",
        &["ended"]
    )
    .expect("metric registers once")
});

pub static FULFILLMENT_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "fulfillment_duration_seconds",
        "fulfill_checkout latency by trigger, Stripe call included.",
        &["trigger"],
        LATENCY_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

pub static DEPENDENCY_UP: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "dependency_up",
        "1 when this process's last check of a dependency (database, broker, stripe, consumer) \
         passed, 0 when it failed. Set by every readiness check; the alert rules page when a \
         database or broker check stays at 0.",
        &["dependency"]
    )
    .expect("metric registers once")
});

/// Records the result of one dependency check (see [`DEPENDENCY_UP`]).
pub fn set_dependency_up(dependency: &str, up: bool) {
    DEPENDENCY_UP
        .with_label_values(&[dependency])
        .set(i64::from(up));
}

/// The text exposition of every registered metric.
pub fn render() -> String {
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&prometheus::gather(), &mut out)
        .expect("text encoding into a Vec cannot fail");
    String::from_utf8(out).expect("the text format is UTF-8")
}
