//! `worker redrive`: parked messages back where they belong.
//!
//! - `--from dead` (the default): dead-lettered messages straight into `checkout.fulfillment`
//!   (default exchange: other subscribers of `checkout.events` do not get them a second time),
//!   attempts reset.
//! - `--from unrouted`: events the alternate exchange caught (no binding took them) back through
//!   `checkout.events` with their own routing key, once the binding is back.
//! - `--from orders-unrouted`: announcements no subscriber's queue took, back through `orders`.
//!
//! Each message is taken with `basic.get` (unacknowledged), republished with a confirm, and only
//! then acknowledged in its queue; a failure puts it back. At most the number present at the
//! start is moved, so a message that is parked again at once (Stripe still answers 404, the
//! binding is still missing) is not redriven in a loop.

use std::time::Duration;

use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use shared::queue::topology::headers;
use shared::queue::{publish_confirmed, BrokerEndpoint, OutgoingMessage, PublishError, Topology};

/// Headers that describe the message's previous life: dropped so it starts over.
const RESET_HEADERS: &[&str] = &[
    headers::ATTEMPTS,
    headers::DEAD_REASON,
    "x-death",
    "x-delivery-count",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
];

#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("broker")]
    Broker(#[from] lapin::Error),
    #[error("republishing a parked message")]
    Publish(#[from] PublishError),
}

/// Which parked messages a redrive moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RedriveSource {
    /// `checkout.fulfillment.dead`, back into `checkout.fulfillment`.
    Dead,
    /// `checkout.unrouted`, back through `checkout.events`.
    Unrouted,
    /// `orders.unrouted`, back through `orders`.
    OrdersUnrouted,
}

impl RedriveSource {
    /// The queue to take from.
    fn queue(self, topology: &Topology) -> String {
        match self {
            Self::Dead => topology.dead_queue(),
            Self::Unrouted => topology.unrouted_queue(),
            Self::OrdersUnrouted => topology.orders_unrouted_queue(),
        }
    }

    /// Where a message taken from the queue goes: (exchange, routing key).
    fn destination(self, topology: &Topology, routing_key: &str) -> (String, String) {
        match self {
            Self::Dead => (String::new(), topology.fulfillment_queue()),
            // The alternate exchange kept the routing key the message was published with.
            Self::Unrouted => (topology.checkout_exchange(), routing_key.to_owned()),
            Self::OrdersUnrouted => (topology.orders_exchange(), routing_key.to_owned()),
        }
    }
}

/// What a redrive did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedriveReport {
    pub moved: usize,
    /// Messages left behind (over the limit).
    pub remaining: u32,
}

/// Moves up to `limit` (default: all present now) messages of `source` back.
pub async fn redrive(
    endpoint: &BrokerEndpoint,
    topology: &Topology,
    source: RedriveSource,
    limit: Option<usize>,
    confirm_timeout: Duration,
) -> Result<RedriveReport, RedriveError> {
    let connection = shared::queue::connect(endpoint, "worker-redrive").await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    topology.declare(&channel).await?;
    let parked_queue = source.queue(topology);
    let present = channel
        .queue_declare(
            &parked_queue,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?
        .message_count() as usize;
    let budget = limit.map_or(present, |l| l.min(present));
    let mut moved = 0;
    while moved < budget {
        let Some(message) = channel
            .basic_get(&parked_queue, BasicGetOptions { no_ack: false })
            .await?
        else {
            break;
        };
        let properties = &message.delivery.properties;
        let mut fresh = FieldTable::default();
        if let Some(original) = properties.headers() {
            for (key, value) in original.inner() {
                if !RESET_HEADERS.contains(&key.as_str()) {
                    fresh.insert(key.clone(), value.clone());
                }
            }
        }
        let (exchange, routing_key) =
            source.destination(topology, message.delivery.routing_key.as_str());
        let outgoing = OutgoingMessage {
            exchange: &exchange,
            routing_key: &routing_key,
            body: &message.delivery.data,
            message_id: properties.message_id().as_ref().map_or("", |s| s.as_str()),
            kind: properties.kind().as_ref().map_or("", |s| s.as_str()),
            headers: fresh,
        };
        if let Err(e) = publish_confirmed(&channel, outgoing, confirm_timeout).await {
            let _ = message
                .delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await;
            return Err(e.into());
        }
        message
            .delivery
            .acker
            .ack(BasicAckOptions::default())
            .await?;
        moved += 1;
    }
    let _ = channel.close(200, "redrive done").await;
    let _ = connection.close(200, "redrive done").await;
    Ok(RedriveReport {
        moved,
        remaining: (present - moved) as u32,
    })
}
