//! The last hour, from Postgres: orders fulfilled per minute, and how long a paid session waited
//! to be fulfilled (Stripe's payment event to the order), per five minutes. What the database
//! says is what customers got, so these need no metrics pipeline.

use sqlx::PgPool;

/// Minutes in the window; the charts draw one bar per slot.
pub const MINUTES: usize = 60;
/// The latency chart's slot, in minutes.
pub const LATENCY_SLOT_MINUTES: usize = 5;

/// Orders fulfilled in each of the last 60 minutes, oldest first.
pub async fn fulfilled_per_minute(pool: &PgPool) -> Result<Vec<Option<f64>>, sqlx::Error> {
    // Minutes ago (0: this one), from the partial index on fulfilled_at.
    let rows: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT floor(extract(epoch FROM now() - fulfilled_at) / 60)::int AS ago, count(*) \
         FROM checkout_orders WHERE fulfilled_at IS NOT NULL \
           AND fulfilled_at > now() - make_interval(mins => $1) \
         GROUP BY 1",
    )
    .bind(MINUTES as i32)
    .fetch_all(pool)
    .await?;
    let mut slots = vec![Some(0.0); MINUTES];
    for (ago, count) in rows {
        if let Some(slot) = usize::try_from(ago).ok().filter(|a| *a < MINUTES) {
            slots[MINUTES - 1 - slot] = Some(count as f64);
        }
    }
    Ok(slots)
}

/// The 99th percentile, in seconds, of payment-to-fulfilled per five-minute slot of the last
/// hour (by when the order was fulfilled), oldest first; `None` where nothing was fulfilled.
pub async fn payment_to_fulfilled_p99(pool: &PgPool) -> Result<Vec<Option<f64>>, sqlx::Error> {
    let slots = MINUTES / LATENCY_SLOT_MINUTES;
    let rows: Vec<(i32, f64)> = sqlx::query_as(
        "SELECT floor(extract(epoch FROM now() - o.fulfilled_at) / ($2 * 60))::int AS ago, \
             percentile_cont(0.99) WITHIN GROUP ( \
                 ORDER BY extract(epoch FROM o.fulfilled_at - e.event_created))::float8 \
         FROM checkout_orders o \
         JOIN stripe_events e ON e.session_id = o.session_id \
              AND COALESCE(e.account, '') = o.account \
              AND e.event_type IN ('checkout.session.completed', \
                                   'checkout.session.async_payment_succeeded') \
         WHERE o.fulfilled_at IS NOT NULL AND o.fulfilled_at > now() - make_interval(mins => $1) \
         GROUP BY 1",
    )
    .bind(MINUTES as i32)
    .bind(LATENCY_SLOT_MINUTES as i32)
    .fetch_all(pool)
    .await?;
    let mut out = vec![None; slots];
    for (ago, seconds) in rows {
        if let Some(slot) = usize::try_from(ago).ok().filter(|a| *a < slots) {
            out[slots - 1 - slot] = Some(seconds.max(0.0));
        }
    }
    Ok(out)
}
