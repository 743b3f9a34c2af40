//! What the tests read back from Postgres to see an outcome a user would see: a session's order
//! and its state, its line items, its announcements, and each event's recorded outcome. One
//! place for these reads, so every test asks the same question the same way; each takes the
//! pool, so any harness (`TestStack`, `Stack`, `Landing`) can ask.

use std::time::Duration;

use sqlx::PgPool;

use crate::eventually;

/// How long the waits below give the services.
pub const WAIT: Duration = Duration::from_secs(20);

/// The session's order state (`fulfilled`, `awaiting_payment`, …), if it has an order.
pub async fn order_state(pool: &PgPool, session_id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT state FROM checkout_orders WHERE session_id = $1")
        .bind(session_id)
        .fetch_optional(pool)
        .await
        .expect("query the order")
}

/// Waits until the session's order is in `state`.
pub async fn wait_for_state(pool: &PgPool, session_id: &str, state: &str) -> bool {
    eventually(WAIT, || async {
        (order_state(pool, session_id).await.as_deref() == Some(state)).then_some(())
    })
    .await
    .is_some()
}

/// Rows of fulfilled orders for the session (0 or 1: more would break G2).
pub async fn fulfilled_orders(pool: &PgPool, session_id: &str) -> i64 {
    count(
        pool,
        "SELECT count(*) FROM checkout_orders WHERE session_id = $1 AND state = 'fulfilled'",
        session_id,
    )
    .await
}

/// Line items recorded for the session.
pub async fn lines(pool: &PgPool, session_id: &str) -> i64 {
    count(
        pool,
        "SELECT count(*) FROM order_line_items WHERE session_id = $1",
        session_id,
    )
    .await
}

/// Announcements of `topic` (`order.fulfilled`, `order.payment_failed`) for the session.
pub async fn announcements(pool: &PgPool, session_id: &str, topic: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE session_id = $1 AND topic = $2")
        .bind(session_id)
        .bind(topic)
        .fetch_one(pool)
        .await
        .expect("count the announcements")
}

/// How many times the session was fulfilled, as a customer would notice: fulfilled orders,
/// line items and `order.fulfilled` announcements.
pub async fn fulfillment_effects(pool: &PgPool, session_id: &str) -> (i64, i64, i64) {
    (
        fulfilled_orders(pool, session_id).await,
        lines(pool, session_id).await,
        announcements(pool, session_id, "order.fulfilled").await,
    )
}

/// The recorded outcome of an event (`fulfilled`, `already_fulfilled`, `dead`, …).
pub async fn event_outcome(pool: &PgPool, event_id: &str) -> Option<String> {
    shared::store::events::outcome(pool, event_id)
        .await
        .expect("query the event")
        .map(|outcome| outcome.as_str().to_owned())
}

/// Waits until the event's recorded outcome is `outcome`. The worker records an event's outcome
/// after the fulfillment commits, so an order can read `fulfilled` a moment before its event
/// does: wait for the event itself before asserting on its row.
pub async fn wait_for_outcome(pool: &PgPool, event_id: &str, outcome: &str) -> bool {
    eventually(WAIT, || async {
        (event_outcome(pool, event_id).await.as_deref() == Some(outcome)).then_some(())
    })
    .await
    .is_some()
}

async fn count(pool: &PgPool, sql: &str, session_id: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(session_id)
        .fetch_one(pool)
        .await
        .expect("count the rows")
}
