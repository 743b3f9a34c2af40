//! `worker redrive`: dead-lettered messages back into `checkout.fulfillment`, attempts reset.
//!
//! Each message is taken with `basic.get` (unacknowledged), republished straight to the
//! fulfillment queue (default exchange: other subscribers of `checkout.events` do not get it a
//! second time) with a confirm, and only then acknowledged in the dead queue; a failure puts it
//! back. At most the number present at the start is moved, so a message that dies again at once
//! (Stripe still answers 404) is not redriven in a loop.

use std::time::Duration;

use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use secrecy::SecretString;
use shared::queue::topology::headers;
use shared::queue::{publish_confirmed, OutgoingMessage, PublishError, Topology};

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
    #[error("republishing a dead message")]
    Publish(#[from] PublishError),
}

/// What a redrive did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedriveReport {
    pub moved: usize,
    /// Dead messages left behind (over the limit).
    pub remaining: u32,
}

/// Moves up to `limit` (default: all present now) dead messages back to the fulfillment queue.
pub async fn redrive(
    url: &SecretString,
    topology: &Topology,
    limit: Option<usize>,
    confirm_timeout: Duration,
) -> Result<RedriveReport, RedriveError> {
    let connection = shared::queue::connect(url, "worker-redrive").await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    topology.declare(&channel).await?;
    let dead_queue = topology.dead_queue();
    let present = channel
        .queue_declare(
            &dead_queue,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?
        .message_count() as usize;
    let budget = limit.map_or(present, |l| l.min(present));
    let fulfillment_queue = topology.fulfillment_queue();
    let mut moved = 0;
    while moved < budget {
        let Some(message) = channel
            .basic_get(&dead_queue, BasicGetOptions { no_ack: false })
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
        let outgoing = OutgoingMessage {
            exchange: "",
            routing_key: &fulfillment_queue,
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
