//! The worker's own Prometheus metrics, registered in the process-wide registry next to
//! [`shared::metrics`] (Stripe API calls, `fulfill_checkout` outcomes), so one `/metrics` serves
//! both.
//!
//! The database-wide gauges (outbox lag, reconciler lag, paid-but-unfulfilled sessions, free
//! licence keys) are
//! refreshed by [`refresh_database_gauges`] when `/metrics` is scraped, so a scrape always shows
//! the state of that moment. Every worker reports the same values for them; dashboards take the
//! `max`.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    register_gauge, register_histogram, register_histogram_vec, register_int_counter_vec,
    register_int_gauge, register_int_gauge_vec, Gauge, Histogram, HistogramVec, IntCounterVec,
    IntGauge, IntGaugeVec,
};
use sqlx::PgPool;

/// Seconds, for the event-created-to-fulfilled latency: from the sub-second of a healthy pipeline
/// to the hours of a retried or reconciled one.
const AGE_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0,
];

pub static DELIVERIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "worker_deliveries_total",
        "Checkout events processed, by event type and outcome (fulfilled, already_fulfilled, \
         awaiting_payment, payment_failed, expired, skipped, ignored, retry, dead).",
        &["type", "outcome"]
    )
    .expect("metric registers once")
});

pub static PROCESSING_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "worker_processing_duration_seconds",
        "Time to process one event, Stripe and Postgres included, by trigger (webhook: from the \
         queue; reconciler: from a sweep).",
        &["trigger"],
        shared::metrics::LATENCY_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

pub static EVENT_TO_FULFILLED_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "worker_event_to_fulfilled_seconds",
        "From the Stripe event's `created` to the fulfillment committed by this worker (one-second \
         resolution at the start).",
        AGE_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

pub static RETRIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "worker_retries_total",
        "Deliveries sent to a retry tier, by tier queue.",
        &["tier"]
    )
    .expect("metric registers once")
});

pub static DEAD_LETTERED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "worker_dead_lettered_total",
        "Deliveries sent to checkout.fulfillment.dead, by reason class.",
        &["reason"]
    )
    .expect("metric registers once")
});

pub static STRIPE_OUTAGE: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "worker_stripe_outage_total",
        "Event attempts that failed because Stripe rejected our API key (authentication) or \
         said to retry a 4xx (should_retry). Such events are never dead-lettered: they wait in \
         the retry tiers, and the reconciler's cursor waits for them, until Stripe answers.",
        &["kind"]
    )
    .expect("metric registers once")
});

pub static REPUBLISH_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "worker_republish_failures_total",
        "Retry or dead-letter publishes the broker did not confirm (the delivery is requeued).",
        &["target"]
    )
    .expect("metric registers once")
});

pub static OUTBOX_PUBLISHED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "worker_outbox_published_total",
        "Outbox rows relayed to the orders exchange, by topic and result (ok, unroutable, failed).",
        &["topic", "result"]
    )
    .expect("metric registers once")
});

pub static OUTBOX_LAG_SECONDS: LazyLock<Gauge> = LazyLock::new(|| {
    register_gauge!(
        "worker_outbox_lag_seconds",
        "Age of the oldest outbox row not yet published (0 when none)."
    )
    .expect("metric registers once")
});

pub static RECONCILER_LAG_SECONDS: LazyLock<Gauge> = LazyLock::new(|| {
    let gauge = register_gauge!(
        "worker_reconciler_lag_seconds",
        "Seconds (database clock) since the reconciler last finished a sweep with nothing left \
         behind: grows while sweeps fail or a failing event holds the cursor, not while Stripe \
         has no new events (-1 before the first sweep)."
    )
    .expect("metric registers once");
    gauge.set(-1.0);
    gauge
});

pub static RECONCILER_LEADER: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "worker_reconciler_leader",
        "1 while this process holds the reconciler's leader lock."
    )
    .expect("metric registers once")
});

pub static RECONCILED_EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "worker_reconciled_events_total",
        "Events a reconciler sweep examined, by outcome.",
        &["outcome"]
    )
    .expect("metric registers once")
});

pub static PAID_UNFULFILLED: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "worker_paid_unfulfilled_sessions",
        "Sessions with a payment event (completed or async_payment_succeeded) older than \
         worker.unfulfilled_threshold_secs whose processing has not settled and whose order is \
         not fulfilled. Should be 0; alert when it is not."
    )
    .expect("metric registers once")
});

pub static LICENCE_KEYS_FREE: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "worker_licence_keys_free",
        "Licence keys not yet issued, per product that issues keys. An order needing more than \
         are free waits unfulfilled until keys are added.",
        &["product"]
    )
    .expect("metric registers once")
});

/// Touches every metric so that `/metrics` lists them (with zero values) from the start, and
/// dashboards and alerts see a series rather than an absence.
pub fn register() {
    LazyLock::force(&DELIVERIES);
    LazyLock::force(&PROCESSING_SECONDS);
    LazyLock::force(&EVENT_TO_FULFILLED_SECONDS);
    LazyLock::force(&RETRIES);
    LazyLock::force(&DEAD_LETTERED);
    LazyLock::force(&STRIPE_OUTAGE);
    LazyLock::force(&REPUBLISH_FAILURES);
    LazyLock::force(&OUTBOX_PUBLISHED);
    LazyLock::force(&OUTBOX_LAG_SECONDS);
    LazyLock::force(&RECONCILER_LAG_SECONDS);
    LazyLock::force(&RECONCILER_LEADER);
    LazyLock::force(&RECONCILED_EVENTS);
    LazyLock::force(&PAID_UNFULFILLED);
    LazyLock::force(&LICENCE_KEYS_FREE);
    for reason in crate::disposition::DeadReason::LABELS {
        DEAD_LETTERED.with_label_values(&[reason]);
    }
    for kind in ["authentication", "should_retry"] {
        STRIPE_OUTAGE.with_label_values(&[kind]);
    }
}

/// Creates the per-tier retry series at zero, so a tier that was never used still shows.
pub fn register_retry_tiers(queues: impl IntoIterator<Item = String>) {
    for queue in queues {
        RETRIES.with_label_values(&[&queue]);
    }
}

/// Updates the database-wide gauges; a query that fails or takes longer than `budget` leaves
/// its gauge at the last value (the scrape still answers).
pub async fn refresh_database_gauges(
    pool: &PgPool,
    unfulfilled_threshold: Duration,
    budget: Duration,
) {
    let refresh = async {
        if let Ok(lag) = shared::store::outbox::lag_seconds(pool).await {
            OUTBOX_LAG_SECONDS.set(lag);
        }
        if let Ok(Some(age)) = shared::store::cursors::seconds_since_caught_up(
            pool,
            shared::store::cursors::RECONCILER,
        )
        .await
        {
            RECONCILER_LAG_SECONDS.set(age.max(0) as f64);
        }
        if let Ok(count) =
            shared::store::events::paid_unfulfilled(pool, unfulfilled_threshold).await
        {
            PAID_UNFULFILLED.set(count);
        }
        if let Ok(pools) = shared::store::access::free_keys_by_product(pool).await {
            // Reset first: a product that stopped issuing keys drops its series.
            LICENCE_KEYS_FREE.reset();
            for (product, free) in pools {
                LICENCE_KEYS_FREE.with_label_values(&[&product]).set(free);
            }
        }
    };
    if tokio::time::timeout(budget, refresh).await.is_err() {
        tracing::warn!(?budget, "refreshing the database gauges timed out");
    }
}
