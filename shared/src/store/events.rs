//! `stripe_events`: every event received, whoever delivered it (queue, reconciler).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// One event's audit record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRecord {
    pub event_id: String,
    pub event_type: String,
    pub session_id: Option<String>,
    pub event_created: DateTime<Utc>,
    pub outcome: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub last_processed_at: DateTime<Utc>,
}

/// What is known of an event before processing it.
#[derive(Debug, Clone, Copy)]
pub struct EventKey<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub session_id: Option<&'a str>,
    /// The connected account (`acct_…`) the event came from; `None`: the platform's, or not
    /// known (a malformed event).
    pub account: Option<&'a str>,
    /// Unix seconds.
    pub created: i64,
}

/// Upserts the event's latest outcome and counts the attempt.
pub async fn record(
    executor: impl PgExecutor<'_>,
    event: EventKey<'_>,
    outcome: &str,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stripe_events (event_id, event_type, session_id, event_created, outcome, \
             last_error, account) \
         VALUES ($1, $2, $3, to_timestamp($4), $5, $6, $7) \
         ON CONFLICT (event_id) DO UPDATE SET outcome = EXCLUDED.outcome, \
             last_error = EXCLUDED.last_error, attempts = stripe_events.attempts + 1, \
             last_processed_at = now()",
    )
    .bind(event.event_id)
    .bind(event.event_type)
    .bind(event.session_id)
    .bind(event.created as f64)
    .bind(outcome)
    .bind(error)
    .bind(event.account)
    .execute(executor)
    .await?;
    Ok(())
}

/// The outcome recorded for an event, if any.
pub async fn outcome(
    executor: impl PgExecutor<'_>,
    event_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT outcome FROM stripe_events WHERE event_id = $1")
        .bind(event_id)
        .fetch_optional(executor)
        .await
}

/// Every event recorded for a session, oldest first (the operator's `show` command).
pub async fn history(
    executor: impl PgExecutor<'_>,
    session_id: &str,
) -> Result<Vec<EventRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id, event_type, session_id, event_created, outcome, attempts, last_error, \
             first_seen_at, last_processed_at \
         FROM stripe_events WHERE session_id = $1 ORDER BY event_created, first_seen_at",
    )
    .bind(session_id)
    .fetch_all(executor)
    .await
}

/// Outcomes after which an event needs no further processing: a redelivery of it is skipped,
/// and a later, concurrent attempt does not overwrite it (the first `fulfilled` stays, not the
/// `already_fulfilled` of a duplicate that lost the race). Anything else (`retrying`, `dead`,
/// `not_found`, `rejected`…) is unsettled. Keep in step with the partial index
/// `stripe_events_unsettled_idx`.
pub const SETTLED_OUTCOMES: &[&str] = &[
    "fulfilled",
    "already_fulfilled",
    "awaiting_payment",
    "payment_failed",
    "expired",
    "ignored",
];

/// Whether `outcome` is one of [`SETTLED_OUTCOMES`].
pub fn is_settled(outcome: &str) -> bool {
    SETTLED_OUTCOMES.contains(&outcome)
}

/// Like [`record`], but a settled outcome, once recorded, is kept (the attempt is still
/// counted), except that `fulfilled` always wins: the attempt that fulfilled may record after a
/// concurrent duplicate that already saw its commit recorded `already_fulfilled`.
pub async fn record_keeping_settled(
    executor: impl PgExecutor<'_>,
    event: EventKey<'_>,
    outcome: &str,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stripe_events (event_id, event_type, session_id, event_created, outcome, \
             last_error, account) \
         VALUES ($1, $2, $3, to_timestamp($4), $5, $6, $7) \
         ON CONFLICT (event_id) DO UPDATE SET \
             outcome = CASE WHEN stripe_events.outcome = ANY($8) \
                 AND EXCLUDED.outcome <> 'fulfilled' \
                 THEN stripe_events.outcome ELSE EXCLUDED.outcome END, \
             last_error = CASE WHEN stripe_events.outcome = ANY($8) \
                 AND EXCLUDED.outcome <> 'fulfilled' \
                 THEN stripe_events.last_error ELSE EXCLUDED.last_error END, \
             attempts = stripe_events.attempts + 1, last_processed_at = now()",
    )
    .bind(event.event_id)
    .bind(event.event_type)
    .bind(event.session_id)
    .bind(event.created as f64)
    .bind(outcome)
    .bind(error)
    .bind(event.account)
    .bind(SETTLED_OUTCOMES)
    .execute(executor)
    .await?;
    Ok(())
}

/// Sessions that Stripe told us about with a payment event (`checkout.session.completed` or
/// `checkout.session.async_payment_succeeded`) created more than `older_than` ago, whose event
/// has not settled (still retrying, dead-lettered, not found…) and whose order is not
/// fulfilled: payments that are stuck. A `completed` event of a delayed method settles as
/// `awaiting_payment` and is not counted; its later `async_payment_succeeded` is.
pub async fn paid_unfulfilled(
    executor: impl PgExecutor<'_>,
    older_than: std::time::Duration,
) -> Result<i64, sqlx::Error> {
    // The outcome list is spelled out (not bound) so the planner can use the partial index.
    sqlx::query_scalar(
        "SELECT count(DISTINCT (e.session_id, e.account)) FROM stripe_events e \
         WHERE e.outcome NOT IN ('fulfilled', 'already_fulfilled', 'awaiting_payment', \
                 'payment_failed', 'expired', 'ignored') \
           AND e.event_type IN ('checkout.session.completed', \
                 'checkout.session.async_payment_succeeded') \
           AND e.event_created < now() - make_interval(secs => $1) \
           AND NOT EXISTS (SELECT 1 FROM checkout_orders o \
                 WHERE o.session_id = e.session_id AND o.account = COALESCE(e.account, '') \
                   AND o.state = 'fulfilled')",
    )
    .bind(older_than.as_secs_f64())
    .fetch_one(executor)
    .await
}

/// A paid session whose fulfillment is stuck: its latest unsettled payment event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StuckSession {
    pub session_id: String,
    /// The connected account, or `None` for the platform's.
    pub account: Option<String>,
    pub event_id: String,
    pub event_type: String,
    pub event_created: DateTime<Utc>,
    pub outcome: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub last_processed_at: DateTime<Utc>,
}

/// The sessions [`paid_unfulfilled`] counts (without its age threshold: the console shows each
/// with its age), oldest payment first, at most `limit`, with the latest word on each.
pub async fn paid_unfulfilled_sessions(
    executor: impl PgExecutor<'_>,
    limit: u32,
) -> Result<Vec<StuckSession>, sqlx::Error> {
    // Same predicate as `paid_unfulfilled`, spelled out for the partial index.
    sqlx::query_as(
        "SELECT * FROM ( \
             SELECT DISTINCT ON (e.session_id, COALESCE(e.account, '')) \
                 e.session_id, e.account, e.event_id, e.event_type, e.event_created, \
                 e.outcome, e.attempts, e.last_error, e.last_processed_at \
             FROM stripe_events e \
             WHERE e.outcome NOT IN ('fulfilled', 'already_fulfilled', 'awaiting_payment', \
                     'payment_failed', 'expired', 'ignored') \
               AND e.event_type IN ('checkout.session.completed', \
                     'checkout.session.async_payment_succeeded') \
               AND e.session_id IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM checkout_orders o \
                     WHERE o.session_id = e.session_id AND o.account = COALESCE(e.account, '') \
                       AND o.state = 'fulfilled') \
             ORDER BY e.session_id, COALESCE(e.account, ''), e.last_processed_at DESC \
         ) stuck ORDER BY event_created LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await
}
