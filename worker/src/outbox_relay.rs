//! The outbox relay: announcements written in the fulfillment transaction (`outbox` rows) are
//! published to the `orders` exchange, routing key = topic, `message_id` = the row id (so
//! subscribers can dedupe), with publisher confirms; a row is marked sent only once confirmed.
//!
//! Two ways in ([`shared::store::outbox`]):
//! - **Handed off**: this process's fulfillments hand their announcements over as they commit
//!   (written held, so no poll takes them). They are published at once, and marked sent in one
//!   statement per batch, outside a transaction: the fulfillment's round trips plus one.
//! - **Polled**, at `worker.outbox_interval_ms` and when woken (a payment failure announced):
//!   everything else unsent and not held. A batch is claimed with `FOR UPDATE SKIP LOCKED`
//!   inside a transaction, so two relays never hold the same row, and a relay that dies
//!   mid-batch releases its rows (they are published again: at-least-once, deduped by
//!   `message_id`).
//!
//! A handed-off publish the broker does not confirm is handed back to the poll (its hold
//! released, the error recorded). A worker that dies between a commit and its publish leaves
//! the row held: any relay's poll sends it once the hold expires ([`outbox::HOLD`]).
//!
//! An announcement no subscriber's queue is bound for (a subscriber deployed late, or
//! redeclaring its queue) is not lost: the `orders` exchange's alternate exchange (a policy, see
//! `Topology::policies`) puts it in the durable queue `orders.unrouted`, the broker confirms it
//! there, and only then is the row marked sent. An operator moves it on once the subscriber is
//! bound (`worker redrive --from orders-unrouted`).
//!
//! Only on a broker without that policy is a message returned as unroutable. It is then marked
//! sent and counted (`result="unroutable"`), as before the alternate exchange: retrying forever
//! would hold back every later row's lag metric on a development broker nobody subscribes on.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use lapin::types::FieldTable;
use shared::errors::error_chain;
use shared::queue::{Broker, OutgoingMessage, PublishError};
use shared::store::outbox::{self, Handed, OutboxMessage};
use sqlx::PgPool;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Notify;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::metrics;

#[derive(Debug, Clone)]
pub struct OutboxRelay {
    pool: PgPool,
    publisher: Broker,
    options: RelayOptions,
    /// Woken after this process wrote an announcement it does not hand off (a payment
    /// failure), so it leaves at once instead of at the next poll.
    wake: Arc<Notify>,
}

/// How the relay publishes.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// The `orders` exchange.
    pub exchange: String,
    /// Rows claimed per pass, and handed-off messages published per batch.
    pub batch: u32,
    /// Poll interval when nothing wakes the relay.
    pub interval: Duration,
    pub confirm_timeout: Duration,
}

/// What the broker made of a batch.
#[derive(Debug, Default)]
struct Published {
    sent: Vec<Uuid>,
    failed: Vec<(Uuid, String)>,
}

/// What one pass (or one handed-off batch) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayPass {
    pub claimed: usize,
    pub sent: usize,
    pub failed: usize,
}

impl OutboxRelay {
    pub fn new(pool: PgPool, publisher: Broker, options: RelayOptions, wake: Arc<Notify>) -> Self {
        Self {
            pool,
            publisher,
            options: RelayOptions {
                batch: options.batch.max(1),
                ..options
            },
            wake,
        }
    }

    /// Relays until `shutdown`: what is `handed` over as it arrives, the poll when it is due
    /// or woken. Then sends what was handed over during the drain and makes one last poll, so
    /// announcements of work finished during the drain leave with this process.
    pub async fn run(self, mut handed: UnboundedReceiver<Handed>, shutdown: CancellationToken) {
        // A ticker, not a sleep restarted on every message: a steady hand-off must not starve
        // the poll (the landing page's announcements).
        let mut poll = tokio::time::interval(self.options.interval);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            // In this order, so the poll (due once an interval) is never starved by hand-offs.
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => self.poll_until_drained(&shutdown).await,
                _ = poll.tick() => self.poll_until_drained(&shutdown).await,
                Some(first) = handed.recv() => {
                    self.send_handed(first, &mut handed).await;
                }
            }
        }
        while let Ok(first) = handed.try_recv() {
            self.send_handed(first, &mut handed).await;
        }
        if let Err(e) = self.relay_once().await {
            tracing::warn!(error = %error_chain(&e), "final outbox relay pass failed");
        }
        tracing::info!("outbox relay stopped");
    }

    /// Polls until a pass finds less than a full batch (or fails), unless stopping.
    async fn poll_until_drained(&self, shutdown: &CancellationToken) {
        loop {
            let full = match self.relay_once().await {
                Ok(pass) => pass.claimed == self.options.batch as usize && pass.failed == 0,
                Err(e) => {
                    tracing::warn!(error = %error_chain(&e), "outbox relay pass failed");
                    false
                }
            };
            if !full || shutdown.is_cancelled() {
                return;
            }
        }
    }

    /// Publishes `first` and whatever else is waiting in `handed`, up to a batch, then marks
    /// them in one statement. A database error leaves the rows held: the poll sends them once
    /// the hold expires (at-least-once).
    pub async fn send_handed(
        &self,
        first: Handed,
        handed: &mut UnboundedReceiver<Handed>,
    ) -> RelayPass {
        let mut batch = vec![first];
        while batch.len() < self.options.batch as usize {
            match handed.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (rows, late): (Vec<_>, Vec<_>) = batch.into_iter().partition(Handed::still_held);
        if !late.is_empty() {
            tracing::warn!(
                count = late.len(),
                "handed-off announcements left to the poll: handed over too long ago"
            );
        }
        let rows: Vec<OutboxMessage> = rows.into_iter().map(|h| h.message).collect();
        let published = self.publish_all(&rows).await;
        let mut marked = outbox::mark_sent(&self.pool, &published.sent).await;
        for (id, error) in &published.failed {
            marked = marked.and(outbox::mark_failed(&self.pool, *id, error).await);
        }
        if let Err(e) = marked {
            tracing::warn!(
                error = %error_chain(&e),
                "could not mark handed-off announcements; the poll sends them once their hold expires"
            );
        }
        RelayPass {
            claimed: rows.len(),
            sent: published.sent.len(),
            failed: published.failed.len(),
        }
    }

    /// Claims one batch, publishes it, marks what was confirmed. Nothing is claimed while the
    /// broker is unreachable.
    pub async fn relay_once(&self) -> Result<RelayPass, sqlx::Error> {
        if !self.publisher.is_connected() {
            return Ok(RelayPass::default());
        }
        let mut tx = self.pool.begin().await?;
        let rows = outbox::claim_unsent(&mut tx, i64::from(self.options.batch)).await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(RelayPass::default());
        }
        let published = self.publish_all(&rows).await;
        for (id, error) in &published.failed {
            outbox::mark_failed(&mut *tx, *id, error).await?;
        }
        outbox::mark_sent(&mut *tx, &published.sent).await?;
        tx.commit().await?;
        Ok(RelayPass {
            claimed: rows.len(),
            sent: published.sent.len(),
            failed: published.failed.len(),
        })
    }

    /// Publishes `rows` concurrently (confirms are per message: one round trip for all) and
    /// sorts them into confirmed (or unroutable: see the module docs) and failed, counting each.
    async fn publish_all(&self, rows: &[OutboxMessage]) -> Published {
        let results = join_all(rows.iter().map(|row| self.publish(row))).await;
        let mut published = Published::default();
        let mut unroutable = 0;
        for (row, result) in rows.iter().zip(results) {
            let label = match result {
                Ok(()) => "ok",
                Err(PublishError::Unroutable) => "unroutable",
                Err(_) => "failed",
            };
            metrics::OUTBOX_PUBLISHED
                .with_label_values(&[&row.topic, label])
                .inc();
            match result {
                Ok(()) => published.sent.push(row.id),
                Err(PublishError::Unroutable) => {
                    unroutable += 1;
                    published.sent.push(row.id);
                }
                Err(e) => {
                    let error = error_chain(&e);
                    tracing::warn!(%error, id = %row.id, "outbox message not confirmed; will retry");
                    published.failed.push((row.id, error));
                }
            }
        }
        if unroutable > 0 {
            // One line per batch, not per message: the metric has the exact count.
            tracing::warn!(
                unroutable,
                "announcements dropped: no queue subscribed, and orders has no alternate exchange"
            );
        }
        published
    }

    async fn publish(&self, row: &OutboxMessage) -> Result<(), PublishError> {
        let body = serde_json::to_vec(&row.payload).expect("a JSON value serializes");
        let id = row.id.to_string();
        let message = OutgoingMessage {
            exchange: &self.options.exchange,
            routing_key: &row.topic,
            body: &body,
            message_id: &id,
            kind: &row.topic,
            headers: FieldTable::default(),
        };
        self.publisher
            .publish(message, self.options.confirm_timeout)
            .await
    }
}
