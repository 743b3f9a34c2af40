//! `stripe_events`: every event received, whoever delivered it (queue, reconciler).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::types::Json;
use sqlx::PgExecutor;

pub use super::event_outcome::{EventOutcome, SETTLED_OUTCOMES};

/// How many failed attempts an event keeps (the newest); older ones are dropped, the count in
/// `attempts` stays exact.
pub const FAILED_ATTEMPTS_KEPT: usize = 25;

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
    /// The failed attempts, oldest first (at most [`FAILED_ATTEMPTS_KEPT`]).
    pub failed_attempts: Json<Vec<FailedAttempt>>,
}

/// One failed attempt at an event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FailedAttempt {
    pub at: DateTime<Utc>,
    /// What the attempt came to: `retrying`, `dead`, `not_found`, `rejected`…
    pub outcome: String,
    pub error: String,
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

/// The outcome recorded for an event, if any (one this build does not know reads as none: the
/// event is processed again, which is idempotent).
pub async fn outcome(
    executor: impl PgExecutor<'_>,
    event_id: &str,
) -> Result<Option<EventOutcome>, sqlx::Error> {
    let recorded: Option<String> =
        sqlx::query_scalar("SELECT outcome FROM stripe_events WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(executor)
            .await?;
    Ok(recorded.as_deref().and_then(EventOutcome::parse))
}

/// Every event recorded for a session, oldest first (the operator's `show` command).
pub async fn history(
    executor: impl PgExecutor<'_>,
    session_id: &str,
) -> Result<Vec<EventRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id, event_type, session_id, event_created, outcome, attempts, last_error, \
             first_seen_at, last_processed_at, failed_attempts \
         FROM stripe_events WHERE session_id = $1 ORDER BY event_created, first_seen_at",
    )
    .bind(session_id)
    .fetch_all(executor)
    .await
}

/// Upserts the event's latest outcome and counts the attempt; a failed attempt (`error` set)
/// is also added to the event's `failed_attempts`. A settled outcome, once recorded, is kept
/// (the attempt is still counted), except that `fulfilled` always wins: the attempt that
/// fulfilled may record after a concurrent duplicate that already saw its commit recorded
/// `already_fulfilled`.
pub async fn record_keeping_settled(
    executor: impl PgExecutor<'_>,
    event: EventKey<'_>,
    outcome: EventOutcome,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    // One statement: the history costs no round trip, and `[]` on the happy path. `last - 24`
    // keeps FAILED_ATTEMPTS_KEPT entries.
    sqlx::query(
        "INSERT INTO stripe_events (event_id, event_type, session_id, event_created, outcome, \
             last_error, account, failed_attempts) \
         VALUES ($1, $2, $3, to_timestamp($4), $5, $6, $7, CASE WHEN $6::text IS NULL \
             THEN '[]'::jsonb \
             ELSE jsonb_build_array(jsonb_build_object('at', now(), 'outcome', $5::text, \
                 'error', $6::text)) END) \
         ON CONFLICT (event_id) DO UPDATE SET \
             outcome = CASE WHEN stripe_events.outcome = ANY($8) \
                 AND EXCLUDED.outcome <> 'fulfilled' \
                 THEN stripe_events.outcome ELSE EXCLUDED.outcome END, \
             last_error = CASE WHEN stripe_events.outcome = ANY($8) \
                 AND EXCLUDED.outcome <> 'fulfilled' \
                 THEN stripe_events.last_error ELSE EXCLUDED.last_error END, \
             failed_attempts = jsonb_path_query_array(\
                 stripe_events.failed_attempts || EXCLUDED.failed_attempts, \
                 '$[last - 24 to last]'), \
             attempts = stripe_events.attempts + 1, last_processed_at = now()",
    )
    .bind(event.event_id)
    .bind(event.event_type)
    .bind(event.session_id)
    .bind(event.created as f64)
    .bind(outcome.as_str())
    .bind(error)
    .bind(event.account)
    .bind(&SETTLED_OUTCOMES[..])
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
    // One row per stuck session: its newest stuck event among the old enough ones (no later one
    // exists), so the count needs no DISTINCT over every stuck event first; each event costs two
    // index probes. The lists are spelled out (not bound) so the planner uses the partial index.
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM stripe_events e \
         WHERE {STUCK} AND e.event_created < now() - make_interval(secs => $1) \
           AND NOT EXISTS (SELECT 1 FROM stripe_events l \
                 WHERE l.session_id = e.session_id \
                   AND COALESCE(l.account, '') = COALESCE(e.account, '') \
                   AND {STUCK_L} AND l.event_created < now() - make_interval(secs => $1) \
                   AND (l.last_processed_at, l.event_id) > (e.last_processed_at, e.event_id))"
    ))
    .bind(older_than.as_secs_f64())
    .fetch_one(executor)
    .await
}

/// A payment event (`checkout.session.completed`, `…async_payment_succeeded`) of `e` that has
/// not settled, whose session has no fulfilled order: the predicate both queries below share.
/// The outcome list is [`SETTLED_OUTCOMES`], spelled out for the planner (a unit test compares
/// them, and the partial index's).
pub(super) const STUCK: &str =
    "e.outcome NOT IN ('fulfilled', 'already_fulfilled', 'awaiting_payment', \
         'payment_failed', 'expired', 'ignored') \
     AND e.event_type IN ('checkout.session.completed', \
         'checkout.session.async_payment_succeeded') \
     AND e.session_id IS NOT NULL \
     AND NOT EXISTS (SELECT 1 FROM checkout_orders o \
         WHERE o.session_id = e.session_id AND o.account = COALESCE(e.account, '') \
           AND o.state = 'fulfilled')";

/// [`STUCK`]'s event part, for the later event `l` of the same session.
pub(super) const STUCK_L: &str =
    "l.outcome NOT IN ('fulfilled', 'already_fulfilled', 'awaiting_payment', \
         'payment_failed', 'expired', 'ignored') \
     AND l.event_type IN ('checkout.session.completed', \
         'checkout.session.async_payment_succeeded')";

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

/// [`paid_unfulfilled_sessions`]'s statement (`$1`: the limit), public so that a benchmark can
/// EXPLAIN exactly what runs.
///
/// The partial index is walked in event_created order and the walk stops at the limit: an event
/// is kept when its session has no fulfilled order and no later stuck event. Never a pass over
/// every stuck event, nor over the orders (100k orders, 10k stuck: 0.5 ms).
pub fn paid_unfulfilled_sessions_sql() -> String {
    format!(
        "SELECT e.session_id, e.account, e.event_id, e.event_type, e.event_created, \
             e.outcome, e.attempts, e.last_error, e.last_processed_at \
         FROM stripe_events e \
         WHERE {STUCK} \
           AND NOT EXISTS (SELECT 1 FROM stripe_events l \
                 WHERE l.session_id = e.session_id \
                   AND COALESCE(l.account, '') = COALESCE(e.account, '') AND {STUCK_L} \
                   AND (l.last_processed_at, l.event_id) > (e.last_processed_at, e.event_id)) \
         ORDER BY e.event_created LIMIT $1"
    )
}

/// The sessions [`paid_unfulfilled`] counts (without its age threshold: the console shows each
/// with its age), oldest payment first, at most `limit`, each with its latest stuck event.
pub async fn paid_unfulfilled_sessions(
    executor: impl PgExecutor<'_>,
    limit: u32,
) -> Result<Vec<StuckSession>, sqlx::Error> {
    sqlx::query_as(&paid_unfulfilled_sessions_sql())
        .bind(i64::from(limit))
        .fetch_all(executor)
        .await
}
