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
             last_error) \
         VALUES ($1, $2, $3, to_timestamp($4), $5, $6) \
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
