//! The consumer loop: deliveries from `notifier.orders` through the [`Dispatcher`], then
//! acknowledged, requeued after a pause, or rejected into `notifier.orders.dead`.
//!
//! - **Bounded concurrency.** `basic.qos(prefetch)`, one task per delivery
//!   ([`shared::queue::consume`], as the worker's).
//! - **Retries with backoff.** A send that may pass later (SMTP 4xx or down, HTTP 5xx, a
//!   timeout) holds its delivery for a pause that starts at 100 ms and doubles with each
//!   redelivery (the quorum queue's `x-delivery-count`) up to `notifier.retry_max_ms`, then
//!   requeues it. The queue's `x-delivery-limit` bounds the attempts: past it the broker
//!   dead-letters the announcement into `notifier.orders.dead`.
//! - **Dead letters.** A send that never will (HTTP 4xx, SMTP 5xx, an unreadable body) is
//!   rejected without requeue, which the queue dead-letters; the reason is logged.
//! - **Reconnects** by itself with backoff, declaring the notifier's topology each time.
//! - **Shutdown**: cancel the subscription, cut pauses short (their deliveries are requeued at
//!   once), let sends in flight finish and ack, close.

use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::Channel;
use shared::errors::error_chain;
use shared::queue::consume::{self, Subscriber, Subscription};
use shared::queue::topology::headers;
use shared::queue::Topology;
use tokio_util::sync::CancellationToken;

use crate::dispatch::{Dispatcher, Disposition};
use crate::metrics;

/// The first pause before a failed delivery is requeued.
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// What the consumer needs besides its dispatcher.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// The broker, the prefetch (the bound on concurrent sends) and the reconnect backoff.
    pub subscription: Subscription,
    pub topology: Topology,
    /// Longest pause before a failed delivery is requeued.
    pub retry_max: Duration,
}

/// Consumes `notifier.orders` until cancelled.
#[derive(Debug, Clone)]
pub struct Consumer {
    dispatcher: Dispatcher,
    options: ConsumerOptions,
    consuming: Arc<AtomicBool>,
}

impl Consumer {
    pub fn new(dispatcher: Dispatcher, options: ConsumerOptions) -> Self {
        Self {
            dispatcher,
            options,
            consuming: Arc::new(AtomicBool::new(false)),
        }
    }

    /// True while a `basic.consume` is active (for `/readyz`).
    pub fn consuming(&self) -> Arc<AtomicBool> {
        self.consuming.clone()
    }

    /// Consumes until `shutdown` is cancelled, reconnecting as needed; returns once every
    /// delivery in hand is acked or requeued.
    pub async fn run(self, shutdown: CancellationToken) {
        let subscription = &self.options.subscription;
        consume::consume_until_cancelled(&self, subscription, &self.consuming, shutdown).await
    }
}

impl Subscriber for Consumer {
    const SERVICE: &'static str = "notifier";

    fn queue(&self) -> String {
        self.options.topology.notifier_queue()
    }

    async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        self.options.topology.declare_notifier(channel).await
    }

    fn handle(
        &self,
        delivery: Delivery,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static {
        handle(
            self.dispatcher.clone(),
            delivery,
            self.options.retry_max,
            shutdown,
        )
    }
}

/// One delivery: dispatch, then ack, requeue after a pause, or reject into the dead letters.
async fn handle(
    dispatcher: Dispatcher,
    delivery: Delivery,
    retry_max: Duration,
    shutdown: CancellationToken,
) {
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(|id| id.to_string());
    let routing_key = delivery.routing_key.to_string();
    let disposition = dispatcher
        .dispatch(message_id.as_deref(), &routing_key, &delivery.data)
        .await;
    let outcome = match &disposition {
        Disposition::Done => "done",
        Disposition::Retry(_) => "retry",
        Disposition::Dead(_) => "dead",
    };
    metrics::DELIVERIES
        .with_label_values(&[routing_key.as_str(), outcome])
        .inc();
    let settled = match disposition {
        Disposition::Done => delivery.acker.ack(BasicAckOptions::default()).await,
        Disposition::Retry(reason) => {
            let redeliveries = delivery_count(delivery.properties.headers().as_ref());
            let pause = pause_after(redeliveries, retry_max);
            tracing::info!(
                message_id = message_id.as_deref().unwrap_or("-"),
                redeliveries,
                ?pause,
                %reason,
                "will try again"
            );
            tokio::select! {
                _ = shutdown.cancelled() => {}
                // The backoff between attempts (not a wait for something to settle): the
                // delivery is held, then handed back.
                _ = tokio::time::sleep(pause) => {}
            }
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await
        }
        Disposition::Dead(reason) => {
            tracing::error!(
                message_id = message_id.as_deref().unwrap_or("-"),
                %routing_key,
                %reason,
                "dead-lettered into notifier.orders.dead"
            );
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: false,
                    ..Default::default()
                })
                .await
        }
    };
    if let Err(e) = settled {
        // The channel is gone: the broker redelivers the message to the next consumer.
        tracing::warn!(error = %error_chain(&e), "settling the delivery failed");
    }
}

/// How many times the quorum queue handed the message out before this delivery.
fn delivery_count(headers: Option<&FieldTable>) -> u32 {
    let Some(value) = headers.and_then(|h| h.inner().get(headers::DELIVERY_COUNT)) else {
        return 0;
    };
    match value {
        AMQPValue::LongLongInt(n) => u32::try_from(*n).unwrap_or(u32::MAX),
        AMQPValue::LongInt(n) => u32::try_from(*n).unwrap_or(u32::MAX),
        AMQPValue::LongUInt(n) => *n,
        AMQPValue::ShortInt(n) => u32::try_from(*n).unwrap_or(0),
        _ => 0,
    }
}

/// 100 ms, doubling with each redelivery, at most `max`.
fn pause_after(redeliveries: u32, max: Duration) -> Duration {
    FIRST_PAUSE
        .saturating_mul(2u32.saturating_pow(redeliveries.min(20)))
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_with_each_redelivery_up_to_the_setting() {
        let max = Duration::from_secs(30);
        assert_eq!(pause_after(0, max), Duration::from_millis(100));
        assert_eq!(pause_after(3, max), Duration::from_millis(800));
        assert_eq!(pause_after(19, max), max);
        assert_eq!(pause_after(u32::MAX, max), max);
    }

    #[test]
    fn the_redelivery_count_is_read_whatever_integer_type_the_broker_used() {
        let mut table = FieldTable::default();
        table.insert(headers::DELIVERY_COUNT.into(), AMQPValue::LongLongInt(4));
        assert_eq!(delivery_count(Some(&table)), 4);
        assert_eq!(delivery_count(None), 0);
    }
}
