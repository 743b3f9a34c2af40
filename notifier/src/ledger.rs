//! The `notifications` table: the record of what was sent, and the dedupe.
//!
//! One row per `(message_id, channel)`. A send goes [`claim`] → send → [`mark_sent`] (or
//! [`release`] when it failed). The claim is a lease (`claimed_until`), taken only while the row
//! is unsent and nobody else's lease runs: a second copy of the announcement handled at the same
//! moment finds it [`Claim::Held`] and is tried again later, by when the row is sent (skipped)
//! or the holder died and its lease ran out (sent by this one).

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

/// What [`claim`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This process may send; the row's attempt count, this one included.
    Claimed { attempt: i32 },
    /// Sent before: nothing to do.
    AlreadySent,
    /// Another copy is being sent right now (its lease runs): try again later.
    Held,
}

/// Claims the send of `message_id` on `channel` for `lease`.
pub async fn claim(
    pool: &PgPool,
    message_id: Uuid,
    channel: &str,
    routing_key: &str,
    session_id: &str,
    lease: Duration,
) -> Result<Claim, sqlx::Error> {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    // One statement: insert the row claimed, or take the claim of an unsent row whose lease is
    // over. Nothing returned means the row is sent or someone else holds it.
    let claimed: Option<i32> = sqlx::query_scalar(
        "INSERT INTO notifications (message_id, channel, routing_key, session_id, attempts, \
                                    claimed_until) \
         VALUES ($1, $2, $3, $4, 1, now() + $5::bigint * interval '1 millisecond') \
         ON CONFLICT (message_id, channel) DO UPDATE \
            SET attempts = notifications.attempts + 1, \
                claimed_until = EXCLUDED.claimed_until \
          WHERE notifications.sent_at IS NULL \
            AND (notifications.claimed_until IS NULL OR notifications.claimed_until < now()) \
         RETURNING attempts",
    )
    .bind(message_id)
    .bind(channel)
    .bind(routing_key)
    .bind(session_id)
    .bind(lease_ms)
    .fetch_optional(pool)
    .await?;
    if let Some(attempt) = claimed {
        return Ok(Claim::Claimed { attempt });
    }
    let sent: bool = sqlx::query_scalar(
        "SELECT sent_at IS NOT NULL FROM notifications WHERE message_id = $1 AND channel = $2",
    )
    .bind(message_id)
    .bind(channel)
    .fetch_one(pool)
    .await?;
    Ok(if sent {
        Claim::AlreadySent
    } else {
        Claim::Held
    })
}

/// Records the send: from now on every copy of the announcement skips this channel.
pub async fn mark_sent(pool: &PgPool, message_id: Uuid, channel: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notifications SET sent_at = now(), claimed_until = NULL, last_error = NULL \
         WHERE message_id = $1 AND channel = $2",
    )
    .bind(message_id)
    .bind(channel)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a failed send and gives the claim up, so the next attempt need not wait out the
/// lease.
pub async fn release(
    pool: &PgPool,
    message_id: Uuid,
    channel: &str,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notifications SET claimed_until = NULL, last_error = $3 \
         WHERE message_id = $1 AND channel = $2 AND sent_at IS NULL",
    )
    .bind(message_id)
    .bind(channel)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}
