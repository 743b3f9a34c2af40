//! The consumer loop: deliveries from `checkout.fulfillment` through the processing [`Step`],
//! then acknowledged, retried or dead-lettered.
//!
//! - **Bounded concurrency.** `basic.qos(prefetch)`: the broker never has more than `prefetch`
//!   unacknowledged deliveries out to this consumer, and each delivery is one task, so at most
//!   `prefetch` events are processed at once.
//! - **Ack after the outcome.** A delivery is acknowledged only after its outcome is committed,
//!   or after its retry/dead copy was *confirmed* by the broker. If the republish fails, the
//!   delivery is requeued (`nack`) after a pause that grows with its redeliveries
//!   ([`crate::hand_back`]), never dropped and never in a hot loop; a crash before the ack
//!   redelivers it. Either way it may be processed twice, which the processing step makes
//!   harmless.
//! - **Panics** inside the step are caught and count as a failed attempt (retried through the
//!   tiers, then dead). A crash that takes the whole process down is bounded by the quorum
//!   queue's `x-delivery-limit`.
//! - **Reconnects** and **shutdown** as every consumer does ([`shared::queue::consume`]): the
//!   topology declared on every connect, jittered backoff; on shutdown no new deliveries, the
//!   tasks in flight finish and ack, then the channel closes.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::types::FieldTable;
use lapin::Channel;
use shared::errors::error_chain;
use shared::queue::consume::{self, Subscriber, Subscription};
use shared::queue::{Broker, OutgoingMessage, Topology};

use crate::attempts::{self, previous_attempts};
use crate::disposition::{after_transient_failure, DeadReason, Disposition};
use crate::process::Processor;
use crate::{hand_back, metrics};
/// How the consumer (and every loop of the worker) is told to stop.
pub use tokio_util::sync::CancellationToken;

/// The one-message step the consumer drives. [`Processor`] is the real one; the seam lets a
/// test drive the loop with a step that misbehaves (panics).
pub trait Step: Clone + Send + Sync + 'static {
    fn process(
        &self,
        body: &[u8],
        headers: Option<&FieldTable>,
    ) -> impl Future<Output = Disposition> + Send;
}

impl Step for Processor {
    fn process(
        &self,
        body: &[u8],
        headers: Option<&FieldTable>,
    ) -> impl Future<Output = Disposition> + Send {
        Processor::process(self, body, headers)
    }
}

/// What the consumer needs besides its step.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// The broker, the prefetch (the bound on concurrent processing) and the reconnect backoff.
    pub subscription: Subscription,
    pub topology: Topology,
    /// Longest wait for the broker's confirm of a retry or dead-letter copy.
    pub confirm_timeout: Duration,
    /// Longest pause before a delivery whose copy was not confirmed is handed back.
    pub hand_back_max: Duration,
}

/// Consumes `checkout.fulfillment` until cancelled.
#[derive(Debug, Clone)]
pub struct Consumer<S> {
    step: S,
    /// Confirm channels for the retry and dead-letter copies (a separate connection: a publisher
    /// blocked by broker flow control must not stall deliveries and acks).
    publisher: Broker,
    options: ConsumerOptions,
    /// True while a `basic.consume` is active (for `/readyz`).
    consuming: Arc<AtomicBool>,
}

impl<S: Step> Consumer<S> {
    pub fn new(step: S, publisher: Broker, options: ConsumerOptions) -> Self {
        Self {
            step,
            publisher,
            options,
            consuming: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the consumer is currently subscribed.
    pub fn consuming(&self) -> Arc<AtomicBool> {
        self.consuming.clone()
    }

    /// Consumes until `shutdown` is cancelled, reconnecting as needed; returns after in-flight
    /// deliveries have been acknowledged (or requeued).
    pub async fn run(self, shutdown: CancellationToken) {
        let subscription = &self.options.subscription;
        consume::consume_until_cancelled(&self, subscription, &self.consuming, shutdown).await
    }
}

impl<S: Step> Subscriber for Consumer<S> {
    const SERVICE: &'static str = "worker";

    fn queue(&self) -> String {
        self.options.topology.fulfillment_queue()
    }

    async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        self.options.topology.declare(channel).await
    }

    fn handle(
        &self,
        delivery: Delivery,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static {
        let handler = DeliveryHandler {
            step: self.step.clone(),
            publisher: self.publisher.clone(),
            topology: self.options.topology.clone(),
            confirm_timeout: self.options.confirm_timeout,
            hand_back_max: self.options.hand_back_max,
            shutdown,
        };
        handler.handle(delivery)
    }
}

/// Everything one delivery's task needs.
struct DeliveryHandler<S> {
    step: S,
    publisher: Broker,
    topology: Topology,
    confirm_timeout: Duration,
    hand_back_max: Duration,
    /// Cuts a hand-back pause short: the channel is about to close, which returns the delivery
    /// anyway.
    shutdown: CancellationToken,
}

impl<S: Step> DeliveryHandler<S> {
    async fn handle(self, delivery: Delivery) {
        let headers = delivery.properties.headers().as_ref();
        let attempt = previous_attempts(headers) + 1;
        let disposition = AssertUnwindSafe(self.step.process(&delivery.data, headers))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                let error = format!("processing panicked: {}", panic_message(&*panic));
                tracing::error!(%error, attempt, "caught a panic while processing a delivery");
                after_transient_failure(attempt, self.topology.retry_tiers().len(), error)
            });
        let settled = match &disposition {
            Disposition::Ack => true,
            Disposition::Retry { tier, error } => {
                self.retry(&delivery, attempt, *tier, error).await
            }
            Disposition::Dead { reason } => self.dead_letter(&delivery, attempt, reason).await,
        };
        let result = if settled {
            delivery.acker.ack(BasicAckOptions::default()).await
        } else {
            // The copy is not safely stored: hand the original back to the queue instead, but
            // not at once (see `hand_back` for why).
            let redeliveries = hand_back::redeliveries(headers);
            let pause = hand_back::pause(redeliveries, self.hand_back_max);
            tracing::warn!(
                attempt,
                redeliveries,
                ?pause,
                "the broker did not take the copy; handing the delivery back after a pause"
            );
            tokio::select! {
                _ = self.shutdown.cancelled() => {}
                // The hand-back pause, holding the delivery's prefetch slot.
                _ = tokio::time::sleep(pause) => {}
            }
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await
        };
        if let Err(e) = result {
            // The channel is gone; the broker redelivers the message to someone else.
            tracing::warn!(error = %error_chain(&e), "could not settle the delivery; it will be redelivered");
        }
    }

    /// Publishes the copy to retry tier `tier`; true once confirmed.
    async fn retry(&self, delivery: &Delivery, attempt: u32, tier: usize, error: &str) -> bool {
        let Some(queue) = self.topology.retry_queue(tier) else {
            tracing::error!(tier, "no such retry tier");
            return false;
        };
        let headers =
            attempts::retry_headers(delivery.properties.headers().as_ref(), attempt, error);
        let ok = self
            .republish(delivery, &self.topology.retry_exchange(), &queue, headers)
            .await;
        if ok {
            metrics::RETRIES.with_label_values(&[&queue]).inc();
        } else {
            metrics::REPUBLISH_FAILURES
                .with_label_values(&["retry"])
                .inc();
        }
        ok
    }

    /// Publishes the copy to the dead-letter exchange with the reason; true once confirmed.
    async fn dead_letter(&self, delivery: &Delivery, attempt: u32, reason: &DeadReason) -> bool {
        let reason_text = reason.to_string();
        let headers = attempts::dead_letter_headers(
            delivery.properties.headers().as_ref(),
            attempt,
            &reason_text,
        );
        let routing_key = delivery.routing_key.as_str().to_owned();
        let ok = self
            .republish(
                delivery,
                &self.topology.dead_exchange(),
                &routing_key,
                headers,
            )
            .await;
        if ok {
            metrics::DEAD_LETTERED
                .with_label_values(&[reason.label()])
                .inc();
        } else {
            metrics::REPUBLISH_FAILURES
                .with_label_values(&["dead"])
                .inc();
        }
        ok
    }

    /// The original body, `message_id`, `type` and headers (so `traceparent` too), to
    /// `exchange`, confirmed.
    async fn republish(
        &self,
        delivery: &Delivery,
        exchange: &str,
        routing_key: &str,
        headers: FieldTable,
    ) -> bool {
        // Waiting a moment for a reconnecting publisher beats requeueing into a hot loop.
        if !self.publisher.wait_connected(self.confirm_timeout).await {
            tracing::warn!("no publisher connection for a retry or dead-letter copy");
            return false;
        }
        let properties = &delivery.properties;
        let message = OutgoingMessage {
            exchange,
            routing_key,
            body: &delivery.data,
            message_id: properties.message_id().as_ref().map_or("", |s| s.as_str()),
            kind: properties.kind().as_ref().map_or("", |s| s.as_str()),
            headers,
        };
        match self.publisher.publish(message, self.confirm_timeout).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), exchange, "republish not confirmed; requeueing");
                false
            }
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_payloads_become_text() {
        let caught = std::panic::catch_unwind(|| panic!("exploded {}", 42)).unwrap_err();
        assert_eq!(panic_message(&*caught), "exploded 42");
    }
}
