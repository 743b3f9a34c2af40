//! Parked messages back where they belong: the one mover behind `worker redrive` (dead letters
//! and unrouted messages of the fulfillment topology) and `notifier redrive` (the notifier's
//! dead letters). Each command connects as its own broker user, declares its own part of the
//! topology ([`Part`]), and names the parked queue and where each message goes ([`redrive`]).
//!
//! Each message is taken with `basic.get` (unacknowledged), republished with a confirm, and only
//! then acknowledged in its queue; a failure puts it back. At most the number present at the
//! start is moved, so a message that is parked again at once (Stripe still answers 404, the
//! binding is still missing, the callback still refuses) is not redriven in a loop.

use std::collections::HashSet;
use std::time::Duration;

use lapin::message::BasicGetMessage;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::Channel;

use super::topology::headers;
use super::{connect, publish_confirmed, BrokerEndpoint, OutgoingMessage, PublishError, Topology};

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

/// What a redrive did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedriveReport {
    pub moved: usize,
    /// Messages left behind (over the limit).
    pub remaining: u32,
}

/// Whose part of the topology a redrive declares (a first run on a fresh broker finds its queues)
/// and whose broker connection it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The fulfillment topology: `worker redrive`.
    Fulfillment,
    /// The notifier's: `notifier redrive`.
    Notifier,
}

/// One redrive command: connects, declares `part` of `topology`, moves up to `limit` messages of
/// `parked_queue` ([`move_parked`]) and closes.
pub async fn redrive(
    endpoint: &BrokerEndpoint,
    topology: &Topology,
    part: Part,
    parked_queue: &str,
    destination: impl Fn(&str) -> (String, String),
    limit: Option<usize>,
    confirm_timeout: Duration,
) -> Result<RedriveReport, RedriveError> {
    let name = match part {
        Part::Fulfillment => "worker-redrive",
        Part::Notifier => "notifier-redrive",
    };
    let connection = connect(endpoint, name).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    match part {
        Part::Fulfillment => topology.declare(&channel).await?,
        Part::Notifier => topology.declare_notifier(&channel).await?,
    }
    let report = move_parked(&channel, parked_queue, destination, limit, confirm_timeout).await;
    let _ = channel.close(200, "redrive done").await;
    let _ = connection.close(200, "redrive done").await;
    report
}

/// Moves up to `limit` (default: all present now) messages of `parked_queue` to where
/// `destination` says, given each message's routing key: `(exchange, routing key)`. `channel`
/// must be in confirm mode.
pub async fn move_parked(
    channel: &Channel,
    parked_queue: &str,
    destination: impl Fn(&str) -> (String, String),
    limit: Option<usize>,
    confirm_timeout: Duration,
) -> Result<RedriveReport, RedriveError> {
    let present = present(channel, parked_queue).await?;
    let budget = limit.map_or(present, |l| l.min(present));
    let mut moved = 0;
    while moved < budget {
        let Some(message) = channel
            .basic_get(parked_queue, BasicGetOptions { no_ack: false })
            .await?
        else {
            break;
        };
        republish(channel, &message, &destination, confirm_timeout).await?;
        message
            .delivery
            .acker
            .ack(BasicAckOptions::default())
            .await?;
        moved += 1;
    }
    let remaining = (present - moved) as u32;
    // The log keeps what an operator moved, beside the service logs, after the terminal is gone.
    tracing::info!(
        queue = parked_queue,
        moved,
        remaining,
        "redrove parked messages"
    );
    Ok(RedriveReport { moved, remaining })
}

/// How many messages `queue` holds now (a passive declare: it must exist).
async fn present(channel: &Channel, queue: &str) -> Result<usize, lapin::Error> {
    Ok(channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?
        .message_count() as usize)
}

/// Publishes a fresh copy of `message` (its previous life's headers dropped) where
/// `destination` says, confirmed; a failure puts the message back in its queue.
async fn republish(
    channel: &Channel,
    message: &BasicGetMessage,
    destination: &impl Fn(&str) -> (String, String),
    confirm_timeout: Duration,
) -> Result<(), RedriveError> {
    let properties = &message.delivery.properties;
    let mut fresh = FieldTable::default();
    if let Some(original) = properties.headers() {
        for (key, value) in original.inner() {
            if !RESET_HEADERS.contains(&key.as_str()) {
                fresh.insert(key.clone(), value.clone());
            }
        }
    }
    let (exchange, routing_key) = destination(message.delivery.routing_key.as_str());
    let outgoing = OutgoingMessage {
        exchange: &exchange,
        routing_key: &routing_key,
        body: &message.delivery.data,
        message_id: properties.message_id().as_ref().map_or("", |s| s.as_str()),
        kind: properties.kind().as_ref().map_or("", |s| s.as_str()),
        headers: fresh,
    };
    if let Err(e) = publish_confirmed(channel, outgoing, confirm_timeout).await {
        put_back(message).await;
        return Err(e.into());
    }
    Ok(())
}

async fn put_back(message: &BasicGetMessage) {
    let _ = message
        .delivery
        .acker
        .nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await;
}

/// Like [`redrive`], but moves only the messages whose `message_id` (the Stripe event id) is in
/// `ids`: the operator's selection in the console. The others are looked at and put back
/// untouched (in their queue, with their headers), so nothing is republished that was not chosen.
pub async fn redrive_only(
    endpoint: &BrokerEndpoint,
    topology: &Topology,
    parked_queue: &str,
    destination: impl Fn(&str) -> (String, String),
    ids: &HashSet<String>,
    confirm_timeout: Duration,
) -> Result<RedriveReport, RedriveError> {
    let connection = connect(endpoint, "console-redrive").await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    topology.declare(&channel).await?;
    let report = take_selected(
        &channel,
        parked_queue,
        Some(destination),
        ids,
        confirm_timeout,
    )
    .await;
    let _ = channel.close(200, "redrive done").await;
    let _ = connection.close(200, "redrive done").await;
    report
}

/// Removes for good only the messages of `parked_queue` whose `message_id` is in `ids` (what an
/// operator chose: events Stripe does not know, say), leaving every other message as it was.
/// A purge would delete them all, paid orders' events included; this deletes what was chosen.
pub async fn drop_only(
    endpoint: &BrokerEndpoint,
    topology: &Topology,
    parked_queue: &str,
    ids: &HashSet<String>,
) -> Result<RedriveReport, RedriveError> {
    let connection = connect(endpoint, "console-drop").await?;
    let channel = connection.create_channel().await?;
    topology.declare(&channel).await?;
    let report = take_selected(
        &channel,
        parked_queue,
        None::<fn(&str) -> (String, String)>,
        ids,
        Duration::ZERO,
    )
    .await;
    let _ = channel.close(200, "drop done").await;
    let _ = connection.close(200, "drop done").await;
    report
}

/// Scans at most the messages present now, taking the chosen ones — republished where
/// `destination` says, or, without one, dropped — and holding the rest unacknowledged until the
/// end, when they go back (a message held is never lost: the broker requeues it if this
/// connection dies).
async fn take_selected(
    channel: &Channel,
    parked_queue: &str,
    destination: Option<impl Fn(&str) -> (String, String)>,
    ids: &HashSet<String>,
    confirm_timeout: Duration,
) -> Result<RedriveReport, RedriveError> {
    let present = present(channel, parked_queue).await?;
    let mut held = Vec::new();
    let mut moved = 0;
    let mut outcome = Ok(());
    for _ in 0..present {
        if moved == ids.len() {
            break;
        }
        let message = match channel
            .basic_get(parked_queue, BasicGetOptions { no_ack: false })
            .await
        {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(e) => {
                outcome = Err(e.into());
                break;
            }
        };
        let id = message
            .delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.as_str());
        if !id.is_some_and(|id| ids.contains(id)) {
            held.push(message);
            continue;
        }
        if let Some(destination) = &destination {
            if let Err(e) = republish(channel, &message, destination, confirm_timeout).await {
                outcome = Err(e);
                break;
            }
        }
        if let Err(e) = message.delivery.acker.ack(BasicAckOptions::default()).await {
            outcome = Err(e.into());
            break;
        }
        moved += 1;
    }
    for message in &held {
        put_back(message).await;
    }
    outcome?;
    tracing::info!(
        queue = parked_queue,
        moved,
        "redrove chosen parked messages"
    );
    Ok(RedriveReport {
        moved,
        remaining: (present - moved) as u32,
    })
}
