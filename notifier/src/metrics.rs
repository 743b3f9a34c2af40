//! The notifier's Prometheus metrics, in the process-wide registry beside [`shared::metrics`],
//! served on `/metrics`.

use std::sync::LazyLock;

use prometheus::{register_histogram_vec, register_int_counter_vec, HistogramVec, IntCounterVec};

pub static NOTIFICATIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "notifier_notifications_total",
        "Sends by channel (email, callback) and outcome: sent; duplicate (sent before, skipped); \
         held (another copy was sending, tried again later); retry (failed, may pass); failed \
         (refused for good, dead-lettered); no_address (no customer mail address).",
        &["channel", "outcome"]
    )
    .expect("metric registers once")
});

pub static SEND_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "notifier_send_duration_seconds",
        "Time of one send (an SMTP conversation, a callback request), by channel.",
        &["channel"],
        shared::metrics::LATENCY_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

pub static DELIVERIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "notifier_deliveries_total",
        "Announcements handled, by routing key and what became of the delivery (done, retry, \
         dead).",
        &["type", "outcome"]
    )
    .expect("metric registers once")
});

/// Registers every metric, so `/metrics` lists them before the first announcement.
pub fn register() {
    LazyLock::force(&NOTIFICATIONS);
    LazyLock::force(&SEND_SECONDS);
    LazyLock::force(&DELIVERIES);
}
