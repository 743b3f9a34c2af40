//! `outbox`: announcements written with the state change they announce, relayed later.
//!
//! Two ways out, one row each way:
//! - **Handed off** ([`Handoff`]): the worker that fulfilled an order writes its announcement
//!   held ([`HOLD`]) and hands it to its own relay, which publishes it at once and marks it
//!   sent: one round trip after the fulfillment's.
//! - **Polled** ([`claim_unsent`]): every other row (the landing page's, a payment failure's, a
//!   handed-off publish that failed, a hold that expired because its writer died) is claimed by
//!   some relay's poll, in a transaction.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use tokio::sync::mpsc;
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

/// How long a handed-off announcement is its writer's alone: every relay's poll leaves the row
/// until then. Far longer than a confirmed publish may take (`broker.confirm_timeout_ms`, 2 s
/// by default), so a poll never races the writer; short enough that the announcement of a
/// worker killed between its commit and its publish still leaves within a minute.
pub const HOLD: Duration = Duration::from_secs(30);

/// The sending half: what wrote a held announcement hands it over here once committed.
#[derive(Debug, Clone)]
pub struct Handoff(mpsc::UnboundedSender<Handed>);

/// A held announcement on its way to the relay of the process that wrote it.
#[derive(Debug)]
pub struct Handed {
    pub message: OutboxMessage,
    at: Instant,
}

impl Handoff {
    /// A hand-off and the relay's end of it. Unbounded: what is in it was committed already,
    /// and it drains as fast as the broker confirms.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Handed>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self(sender), receiver)
    }

    /// Hands `message` to the relay; false once the relay has stopped (the row then waits for
    /// its hold to expire, and any relay's poll).
    pub fn hand(&self, message: OutboxMessage) -> bool {
        self.0
            .send(Handed {
                message,
                at: Instant::now(),
            })
            .is_ok()
    }
}

impl Handed {
    /// Whether the hold is safely the writer's still: a message handed more than half the hold
    /// ago (a relay stuck behind a broker outage) is left to the poll, which takes it once the
    /// hold expires, rather than risk both publishing it.
    pub fn still_held(&self) -> bool {
        self.at.elapsed() < HOLD / 2
    }
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

/// Locks up to `limit` unsent messages, oldest first, skipping rows another relay holds (locked,
/// or handed off and held): N relays share the work without sending a row twice. Call inside a
/// transaction and mark the rows before committing.
pub async fn claim_unsent(
    conn: &mut PgConnection,
    limit: i64,
) -> Result<Vec<OutboxMessage>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, topic, session_id, payload, created_at FROM outbox \
         WHERE sent_at IS NULL AND (held_until IS NULL OR held_until < now()) \
         ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Marks messages the broker confirmed. Outside a transaction (a handed-off batch) it is one
/// round trip and its own commit.
pub async fn mark_sent(executor: impl PgExecutor<'_>, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET sent_at = now(), attempts = attempts + 1, held_until = NULL \
         WHERE id = ANY($1)",
    )
    .bind(ids)
    .execute(executor)
    .await?;
    Ok(())
}

/// Records a publish the broker did not confirm, and releases any hold: the next poll retries it.
pub async fn mark_failed(
    executor: impl PgExecutor<'_>,
    id: Uuid,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $2, held_until = NULL \
         WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .execute(executor)
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
