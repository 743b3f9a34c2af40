//! The outbox relay: announcements written in the fulfillment transaction (`outbox` rows) are
//! published to the `orders` exchange, routing key = topic, `message_id` = the row id (so
//! subscribers can dedupe), with publisher confirms; a row is marked sent only once confirmed.
//!
//! Safe with every worker running it: a batch is claimed with `FOR UPDATE SKIP LOCKED` inside a
//! transaction, so two relays never hold the same row, and a relay that dies mid-batch releases
//! its rows (they are published again: at-least-once, deduped by `message_id`).
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
use shared::store::outbox::{self, OutboxMessage};
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::metrics;

#[derive(Debug, Clone)]
pub struct OutboxRelay {
    pool: PgPool,
    publisher: Broker,
    options: RelayOptions,
    /// Woken after a fulfillment commits, so an announcement leaves at once instead of at the
    /// next poll; the poll remains for rows written by other processes (the landing page).
    wake: Arc<Notify>,
}

/// How the relay publishes.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// The `orders` exchange.
    pub exchange: String,
    /// Rows claimed per pass.
    pub batch: u32,
    /// Poll interval when nothing wakes the relay.
    pub interval: Duration,
    pub confirm_timeout: Duration,
}

/// What one pass did.
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

    /// Relays until `shutdown`, then makes one last pass so announcements of work finished
    /// during the drain leave with this process.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let full = match self.relay_once().await {
                Ok(pass) => pass.claimed == self.options.batch as usize && pass.failed == 0,
                Err(e) => {
                    tracing::warn!(error = %error_chain(&e), "outbox relay pass failed");
                    false
                }
            };
            if full {
                // More are waiting: go again at once (unless stopping).
                if shutdown.is_cancelled() {
                    break;
                }
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                // Poll interval: a safety net for rows whose wake-up was missed.
                _ = tokio::time::sleep(self.options.interval) => {}
            }
        }
        if let Err(e) = self.relay_once().await {
            tracing::warn!(error = %error_chain(&e), "final outbox relay pass failed");
        }
        tracing::info!("outbox relay stopped");
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
        // Confirms are per message; publishing the batch concurrently costs one round trip.
        let results = join_all(rows.iter().map(|row| self.publish(row))).await;
        let mut sent: Vec<Uuid> = Vec::with_capacity(rows.len());
        let mut failed = 0;
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
                Ok(()) => sent.push(row.id),
                Err(PublishError::Unroutable) => {
                    unroutable += 1;
                    sent.push(row.id);
                }
                Err(e) => {
                    failed += 1;
                    let error = error_chain(&e);
                    tracing::warn!(%error, id = %row.id, "outbox message not confirmed; will retry");
                    outbox::mark_failed(&mut tx, row.id, &error).await?;
                }
            }
        }
        if unroutable > 0 {
            // One line per pass, not per message: the metric has the exact count.
            tracing::warn!(
                unroutable,
                "announcements dropped: no queue subscribed, and orders has no alternate exchange"
            );
        }
        outbox::mark_sent(&mut tx, &sent).await?;
        tx.commit().await?;
        Ok(RelayPass {
            claimed: rows.len(),
            sent: sent.len(),
            failed,
        })
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
