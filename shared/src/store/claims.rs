//! Claims: "this caller is asking Stripe about the session now", so that a second caller waits
//! for the first one's order instead of asking Stripe again.
//!
//! Why: Checkout redirects the customer only after ingress has acknowledged the webhook, so the
//! success page typically arrives while the worker is retrieving the same session from Stripe.
//! Both asking costs two Stripe calls per order, against an account limit of 100 requests/s
//! (25 in test mode). A claim lets the second caller wait for the order in Postgres, which is
//! also faster than asking Stripe.
//!
//! The protocol (`fulfillment_claims`, an unlogged table):
//! - The caller's first read of the order also claims the session, in the same statement
//!   ([`super::orders::find_claiming`], [`super::orders::find_with_event_outcome`]), unless the
//!   order is fulfilled already (or the worker's event is settled). A claim older than the wait
//!   ([`crate::settings::StripeSettings::claim_wait`]) is taken over: its holder may have died.
//! - A caller that could not claim polls ([`wait_for_order`]) until the order is fulfilled, the
//!   claim is released, or the wait is over; then it asks Stripe itself, as before claims. So a
//!   lost claim (a crash, an unlogged table emptied by a restart) costs time, never an order.
//! - A claimant that does not fulfill (unpaid, unknown, an error) releases its claim
//!   ([`release`]), so that a waiter asks Stripe at once. One that fulfills leaves it: a caller
//!   whose read began just before the fulfillment committed sees no order yet, but does see the
//!   claim, waits, and its first poll finds the order. Left alone, the claim would be taken over
//!   once expired, but never deleted: every fulfillment statement deletes a few claims older than
//!   [`RETENTION_SECS`], more than it leaves, so the table holds about the
//!   last minute's claims.
//!
//! Exactly-once never depends on this: the advisory lock and the order's upsert decide (G2).

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::domain::account_id::stored;
use crate::domain::{AccountId, CheckoutSessionId};
use crate::store::orders::{self, Order, OrderState};

/// The first pause of [`wait_for_order`] and the longest: a Stripe retrieval takes a few
/// milliseconds against the simulator and a few hundred against Stripe; the doubling pauses find
/// both within a fraction of their length, at a round trip per poll.
const FIRST_POLL: Duration = Duration::from_millis(1);
const LONGEST_POLL: Duration = Duration::from_millis(50);

/// How old a claim is when the fulfillment statement purges it; `stripe.claim_wait_ms` may not
/// exceed it, so no claim anyone waits for is purged.
pub const RETENTION_SECS: u64 = 60;

/// A CTE of the fulfillment statement: deletes up to 8 claims older than [`RETENTION_SECS`],
/// oldest first, skipping any another statement holds (purging is never worth a wait). `now()`,
/// not `clock_timestamp()`: a volatile bound cannot drive an index scan, and the purge would
/// read the whole table on every fulfillment.
pub(super) fn purge_expired() -> String {
    format!(
        "DELETE FROM fulfillment_claims WHERE (session_id, account) IN ( \
             SELECT session_id, account FROM fulfillment_claims \
             WHERE claimed_at < now() - interval '{RETENTION_SECS} seconds' \
             ORDER BY claimed_at LIMIT 8 FOR UPDATE SKIP LOCKED)"
    )
}

/// How a wait for another caller's claim ended.
// One value per wait, moved once: boxing the order would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Waited {
    /// The claimant fulfilled the order.
    Fulfilled(Order),
    /// The claimant released its claim without fulfilling (unpaid, unknown, an error).
    Released,
    /// The claim is older than the wait: its holder is slow or gone.
    TimedOut,
}

impl Waited {
    /// Every [`Self::label`].
    pub const LABELS: [&'static str; 3] = ["fulfilled", "released", "timed_out"];

    /// For metrics and logs.
    pub fn label(&self) -> &'static str {
        let [fulfilled, released, timed_out] = Self::LABELS;
        match self {
            Self::Fulfilled(_) => fulfilled,
            Self::Released => released,
            Self::TimedOut => timed_out,
        }
    }
}

/// `INSERT … RETURNING 1` that claims session `$1` on account `$2` when `condition` (a `WHERE`
/// clause over the statement's other CTEs) holds, taking over a claim older than `$3` seconds.
/// `ON CONFLICT … WHERE` reads the latest committed claim, so of two callers racing one gets it.
pub(super) fn claim(condition: &str) -> String {
    format!(
        "INSERT INTO fulfillment_claims (session_id, account, claimed_at) \
         SELECT $1, $2, clock_timestamp() {condition} \
         ON CONFLICT (session_id, account) DO UPDATE SET claimed_at = EXCLUDED.claimed_at \
         WHERE fulfillment_claims.claimed_at < EXCLUDED.claimed_at - make_interval(secs => $3) \
         RETURNING 1"
    )
}

/// Gives up the claim on session `id` on `account`, so that a caller waiting for it asks Stripe
/// now rather than at the end of its wait.
pub async fn release(
    pool: &PgPool,
    account: Option<&AccountId>,
    id: &CheckoutSessionId,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM fulfillment_claims WHERE session_id = $1 AND account = $2")
        .bind(id.as_str())
        .bind(stored(account))
        .execute(pool)
        .await?;
    Ok(())
}

/// Waits, at most `wait`, for the caller holding the claim on session `id` on `account` to fulfill
/// it; see the module docs. One round trip per poll.
pub async fn wait_for_order(
    pool: &PgPool,
    account: Option<&AccountId>,
    id: &CheckoutSessionId,
    wait: Duration,
) -> Result<Waited, sqlx::Error> {
    let deadline = Instant::now() + wait;
    let mut pause = FIRST_POLL;
    loop {
        // Polling, bounded by the wait: LISTEN/NOTIFY would wake sooner, but would need a
        // connection per waiting page held for the whole wait, or a listener task per process;
        // a poll costs one primary-key read and finds the order within one doubling.
        tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
        // A connection per poll, not one held through the wait: a claimant that died would
        // otherwise pin a connection per waiting page for the whole wait.
        let (order, held) = poll(pool, account, id, wait).await?;
        if let Some(order) = order.filter(|o| o.state == OrderState::Fulfilled) {
            return Ok(Waited::Fulfilled(order));
        }
        if !held {
            return Ok(Waited::Released);
        }
        if Instant::now() >= deadline {
            return Ok(Waited::TimedOut);
        }
        pause = (pause * 2).min(LONGEST_POLL);
    }
}

/// The order, and whether a claim younger than `wait` is held on it.
async fn poll(
    pool: &PgPool,
    account: Option<&AccountId>,
    id: &CheckoutSessionId,
    wait: Duration,
) -> Result<(Option<Order>, bool), sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT EXISTS (SELECT 1 FROM fulfillment_claims WHERE session_id = $1 AND account = $2 \
             AND claimed_at >= clock_timestamp() - make_interval(secs => $3)) AS claimed, o.* \
         FROM (VALUES (1)) AS one LEFT JOIN ({}) AS o ON true",
        orders::FIND_ORDER
    ))
    .bind(id.as_str())
    .bind(stored(account))
    .bind(wait.as_secs_f64())
    .fetch_one(pool)
    .await?;
    orders::claimed_and_order(&row)
}
