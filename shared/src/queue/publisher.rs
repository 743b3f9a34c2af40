//! Publishing with publisher confirms (G1): persistent, `mandatory`, and only a plain `Ack`
//! within the deadline counts as "durably the broker's".

use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};

/// A message to publish.
#[derive(Debug, Clone)]
pub struct OutgoingMessage<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub body: &'a [u8],
    /// AMQP `message_id`: the Stripe event id or the outbox row id, so consumers can dedupe.
    pub message_id: &'a str,
    /// AMQP `type`: the event type or topic.
    pub kind: &'a str,
    pub headers: FieldTable,
}

/// Why a publish is not confirmed. Every variant means "not durably stored": the caller must not
/// acknowledge upstream.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("not connected to the broker")]
    NotConnected,
    #[error("the broker did not confirm within {0:?}")]
    Timeout(Duration),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("the message was returned as unroutable (no queue bound for it)")]
    Unroutable,
    #[error("the channel is not in confirm mode")]
    NotConfirmMode,
    #[error("channel error")]
    Channel(#[from] lapin::Error),
}

impl PublishError {
    pub fn label(&self) -> &'static str {
        match self {
            Self::NotConnected => "not_connected",
            Self::Timeout(_) => "timeout",
            Self::Nacked => "nacked",
            Self::Unroutable => "unroutable",
            Self::NotConfirmMode => "not_confirm_mode",
            Self::Channel(_) => "channel_error",
        }
    }
}

/// Publishes on `channel` (which must be in confirm mode) and waits for the confirm, all within
/// `deadline`.
pub async fn publish_confirmed(
    channel: &Channel,
    message: OutgoingMessage<'_>,
    deadline: Duration,
) -> Result<(), PublishError> {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let properties = BasicProperties::default()
        // 2 = persistent: written to disk before the confirm (with quorum queues, to a quorum
        // of replicas).
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(message.message_id.into())
        .with_type(message.kind.into())
        .with_timestamp(timestamp)
        .with_headers(message.headers);
    let publish = async {
        let confirm = channel
            .basic_publish(
                message.exchange,
                message.routing_key,
                // mandatory: a message no queue takes is returned, not silently dropped.
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                message.body,
                properties,
            )
            .await?;
        match confirm.await? {
            Confirmation::Ack(None) => Ok(()),
            // With `mandatory`, an unroutable message is acked *and* returned. A second line of
            // defence only: lapin does not tie a `basic.return` to its delivery tag but hands
            // it to whichever confirm of the channel completes next, so with several publishes
            // in flight a routed one can be reported unroutable (a 503: Stripe sends it again,
            // the worker dedupes) and the unroutable one as a plain ack. That is why the
            // publishing exchanges have alternate exchanges (`Topology::policies`): with them
            // no message is unroutable, and this arm fires only if the alternate exchange is
            // itself missing.
            Confirmation::Ack(Some(_returned)) => Err(PublishError::Unroutable),
            Confirmation::Nack(_) => Err(PublishError::Nacked),
            Confirmation::NotRequested => Err(PublishError::NotConfirmMode),
        }
    };
    tokio::time::timeout(deadline, publish)
        .await
        .unwrap_or(Err(PublishError::Timeout(deadline)))
}
