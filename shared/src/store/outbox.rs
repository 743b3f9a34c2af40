//! `outbox`: announcements written with the state change they announce, relayed later.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::announcements::{Announcement, OrderFulfilled, OrderPaymentFailed};
use crate::domain::{account_id, AccountId};
use crate::store::notifications;

pub const ORDER_FULFILLED: &str = OrderFulfilled::ROUTING_KEY;
pub const ORDER_PAYMENT_FAILED: &str = OrderPaymentFailed::ROUTING_KEY;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub topic: String,
    pub session_id: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// Adds a message in the caller's transaction. A second message of the same topic for the same
/// session on the same account (`None`: the platform) violates `UNIQUE (topic, session_id,
/// account)` and aborts the transaction: the last line of defense against announcing one order
/// twice.
///
/// With `customer_mail` (customers get mail from the notifier) and an address in the
/// announcement, the mail it will cause is recorded as pending in the same statement: the
/// success page can promise it as soon as the order exists (see [`notifications`]).
pub async fn enqueue<A: Announcement>(
    conn: &mut PgConnection,
    account: Option<&AccountId>,
    session_id: &str,
    body: &A,
    customer_mail: bool,
) -> Result<Uuid, sqlx::Error> {
    let topic = A::ROUTING_KEY;
    let payload = serde_json::to_value(body).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let id = Uuid::new_v4();
    // One round trip either way: a data-modifying CTE runs whether or not its rows are used.
    sqlx::query(
        "WITH announced AS ( \
             INSERT INTO outbox (id, topic, session_id, payload, account) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id, topic, session_id) \
         INSERT INTO notifications (message_id, channel, routing_key, session_id) \
         SELECT id, $6, topic, session_id FROM announced WHERE $7",
    )
    .bind(id)
    .bind(topic)
    .bind(session_id)
    .bind(&payload)
    .bind(account_id::stored(account))
    .bind(notifications::EMAIL)
    .bind(customer_mail && body.customer_email().is_some())
    .execute(conn)
    .await?;
    Ok(id)
}

/// Locks up to `limit` unsent messages, oldest first, skipping rows another relay holds: N
/// relays share the work without sending a row twice. Call inside a transaction and mark the
/// rows before committing.
pub async fn claim_unsent(
    conn: &mut PgConnection,
    limit: i64,
) -> Result<Vec<OutboxMessage>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, topic, session_id, payload, created_at FROM outbox \
         WHERE sent_at IS NULL ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn mark_sent(conn: &mut PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = ANY($1)")
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn mark_failed(
    conn: &mut PgConnection,
    id: Uuid,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(conn)
        .await?;
    Ok(())
}

/// Age in seconds of the oldest unsent message (0 when none): the outbox-lag metric.
pub async fn lag_seconds(executor: impl PgExecutor<'_>) -> Result<f64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at))::float8, 0) \
         FROM outbox WHERE sent_at IS NULL",
    )
    .fetch_one(executor)
    .await
}
