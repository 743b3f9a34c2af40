//! The ingress's Prometheus metrics, in the process-wide registry that `/metrics` renders.
//!
//! - `ingress_webhook_requests_total{outcome, reason}`: every answer, by what happened.
//! - `ingress_webhook_ack_seconds{outcome}`: from the first byte of handling to the answer —
//!   the time Checkout holds the customer's redirect.
//! - `ingress_publish_confirm_seconds{result}`: publish plus broker confirm, the part of the ack
//!   that the broker owns.
//! - `ingress_broker_connected`: 1 while the shared connection is up (set at scrape time).

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    register_histogram_vec, register_int_counter_vec, register_int_gauge, HistogramVec,
    IntCounterVec, IntGauge,
};

/// Finer than the shared buckets at the low end: a confirmed publish on a healthy broker takes
/// a millisecond or two, and the p99 target is 5 ms.
const ACK_BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.0, 2.5, 5.0, 10.0,
];

pub static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "ingress_webhook_requests_total",
        "Webhook requests by outcome (published, ignored, bad_signature, bad_payload, too_large, too_slow, unavailable, …) and precise reason.",
        &["outcome", "reason"]
    )
    .expect("metric registers once")
});

pub static ACK_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "ingress_webhook_ack_seconds",
        "Time from handling a webhook to answering it, by outcome.",
        &["outcome"],
        ACK_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

pub static PUBLISH_CONFIRM_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "ingress_publish_confirm_seconds",
        "Time to publish an event and receive the broker's confirm, by result (ok or the error).",
        &["result"],
        ACK_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

pub static BROKER_CONNECTED: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "ingress_broker_connected",
        "1 while the ingress holds a broker connection with confirm channels, else 0."
    )
    .expect("metric registers once")
});

/// Records one answered webhook.
pub fn record_answer(outcome: &str, reason: &str, elapsed: Duration) {
    REQUESTS.with_label_values(&[outcome, reason]).inc();
    ACK_SECONDS
        .with_label_values(&[outcome])
        .observe(elapsed.as_secs_f64());
}

/// Registers every metric so that `/metrics` lists them from the start, zeros included.
pub fn register() {
    LazyLock::force(&REQUESTS);
    LazyLock::force(&ACK_SECONDS);
    LazyLock::force(&PUBLISH_CONFIRM_SECONDS);
    LazyLock::force(&BROKER_CONNECTED);
}
