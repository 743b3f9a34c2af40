//! The consume loop the worker and the notifier share; each brings its queue and what it does
//! with one delivery ([`Subscriber`]).
//!
//! - **Connect, declare, subscribe.** Each connection declares the subscriber's topology first,
//!   so a consumer started before anything else still finds its queue; then `basic.qos(prefetch)`
//!   and `basic.consume`. Each delivery is one task, so at most `prefetch` run at once.
//! - **Reconnects** with jittered backoff when the connection or channel fails; the backoff
//!   resets once a subscription is up again.
//! - **Shutdown**: cancel the subscription (no new deliveries), let the tasks in hand finish
//!   (they ack on this channel), then close it. Deliveries prefetched but not started are
//!   returned by the broker when the channel closes.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::Channel;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{connect, Backoff, BrokerEndpoint};
use crate::errors::error_chain;

/// What a consumer brings to the loop.
pub trait Subscriber: Send + Sync {
    /// The service, for the connection's name in the broker and its close reason.
    const SERVICE: &'static str;

    /// The queue to consume.
    fn queue(&self) -> String;

    /// Declares the topology the queue belongs to (idempotent), on every connect.
    fn declare(&self, channel: &Channel) -> impl Future<Output = Result<(), lapin::Error>> + Send;

    /// One delivery's task: settle it (ack, nack or reject) on its own acker. `shutdown` cuts
    /// any pause short: the channel is about to close, which returns an unsettled delivery.
    fn handle(
        &self,
        delivery: Delivery,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static;
}

/// How to reach the queue and how much to take at once.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub endpoint: BrokerEndpoint,
    /// `basic.qos` prefetch, and so the bound on concurrent deliveries.
    pub prefetch: u16,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

/// Consumes until `shutdown` is cancelled, reconnecting as needed; `consuming` is true while a
/// `basic.consume` is active (for `/readyz`). Returns once every delivery in hand is settled.
pub async fn consume_until_cancelled<S: Subscriber>(
    subscriber: &S,
    subscription: &Subscription,
    consuming: &AtomicBool,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    let mut backoff = Backoff::new(subscription.reconnect_min, subscription.reconnect_max);
    while !shutdown.is_cancelled() {
        let result = subscribe(
            subscriber,
            subscription,
            consuming,
            &shutdown,
            &tracker,
            &mut backoff,
        )
        .await;
        consuming.store(false, Ordering::Release);
        match result {
            Ok(()) => break,
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %error_chain(&e), ?delay, "consumer lost the broker; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    // Reconnect backoff, cut short by shutdown.
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    tracker.close();
    tracker.wait().await;
    tracing::info!("consumer stopped");
}

/// One connection's worth of consuming. `Ok` only after a shutdown.
async fn subscribe<S: Subscriber>(
    subscriber: &S,
    subscription: &Subscription,
    consuming: &AtomicBool,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
    backoff: &mut Backoff,
) -> Result<(), lapin::Error> {
    let name = format!("{}-consumer", S::SERVICE);
    let connection = connect(&subscription.endpoint, &name).await?;
    let channel = connection.create_channel().await?;
    subscriber.declare(&channel).await?;
    channel
        .basic_qos(subscription.prefetch, BasicQosOptions::default())
        .await?;
    let queue = subscriber.queue();
    let mut deliveries = channel
        .basic_consume(
            &queue,
            "",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    backoff.reset();
    consuming.store(true, Ordering::Release);
    tracing::info!(%queue, prefetch = subscription.prefetch, "consuming");
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                if let Err(e) = channel
                    .basic_cancel(deliveries.tag().as_str(), BasicCancelOptions::default())
                    .await
                {
                    tracing::warn!(error = %error_chain(&e), "cancelling the consumer failed");
                }
                // The tasks settle on this channel: wait for them before closing it.
                tracker.close();
                tracker.wait().await;
                let reason = format!("{} shutting down", S::SERVICE);
                let _ = channel.close(200, &reason).await;
                let _ = connection.close(200, &reason).await;
                return Ok(());
            }
            next = deliveries.next() => match next {
                Some(Ok(delivery)) => {
                    tracker.spawn(subscriber.handle(delivery, shutdown.clone()));
                }
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(lapin::Error::InvalidChannelState(lapin::ChannelState::Closed))
                }
            },
        }
    }
}
