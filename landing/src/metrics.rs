//! The landing service's metrics, in the process-wide registry that `/metrics` renders (next to
//! the shared Stripe and fulfillment metrics, where this service's calls carry
//! `trigger="landing"`).

use std::sync::LazyLock;
use std::time::Instant;

use prometheus::{register_histogram_vec, register_int_counter_vec, HistogramVec, IntCounterVec};

pub static PAGES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "landing_pages_total",
        "Pages served, by page (shop, checkout, success, status, cancel) and outcome.",
        &["page", "outcome"]
    )
    .expect("metric registers once")
});

pub static PAGE_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "landing_page_duration_seconds",
        "Time to produce a page, from request to rendered body, by page.",
        &["page"],
        shared::metrics::LATENCY_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

pub static FULFILLMENTS_TRIGGERED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "landing_fulfillments_triggered_total",
        "fulfill_checkout calls started by the success page, by outcome (`fulfilled` is an order \
         this service fulfilled first; `deadline_exceeded` went on in the background).",
        &["outcome"]
    )
    .expect("metric registers once")
});

/// Registers every metric, so `/metrics` lists them (at zero) before the first page.
pub fn register() {
    LazyLock::force(&PAGES);
    LazyLock::force(&PAGE_SECONDS);
    LazyLock::force(&FULFILLMENTS_TRIGGERED);
}

/// Counts a page and its latency since `started`.
pub fn page_served(page: &'static str, outcome: &str, started: Instant) {
    PAGES.with_label_values(&[page, outcome]).inc();
    PAGE_SECONDS
        .with_label_values(&[page])
        .observe(started.elapsed().as_secs_f64());
}
