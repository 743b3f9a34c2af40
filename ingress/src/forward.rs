//! Handing a verified checkout event to RabbitMQ (G1): the unchanged bytes, persistent and
//! `mandatory`, to `checkout.events` with the event type as routing key, and the confirm awaited
//! within what is left of the ack budget.

use std::time::{Duration, Instant};

use lapin::types::FieldTable;
use shared::queue::{trace_context, Broker, OutgoingMessage, PublishError};

use crate::envelope::Envelope;
use crate::metrics::PUBLISH_CONFIRM_SECONDS;

/// Publishes `body` (whose envelope is `envelope`) and waits for the broker's ack until
/// `deadline`. `Ok` only for a plain ack: the event is then durably in a queue.
pub async fn publish_event(
    broker: &Broker,
    exchange: &str,
    envelope: &Envelope<'_>,
    body: &[u8],
    deadline: Instant,
) -> Result<(), PublishError> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(PublishError::Timeout(Duration::ZERO));
    }
    // The request span is current here: the worker's span will continue this trace.
    let mut headers = FieldTable::default();
    trace_context::inject_current(&mut headers);
    let message = OutgoingMessage {
        exchange,
        routing_key: &envelope.event_type,
        body,
        message_id: envelope.id.as_str(),
        kind: &envelope.event_type,
        headers,
    };
    let started = Instant::now();
    let result = broker.publish(message, remaining).await;
    let label = match &result {
        Ok(()) => "ok",
        Err(e) => e.label(),
    };
    PUBLISH_CONFIRM_SECONDS
        .with_label_values(&[label])
        .observe(started.elapsed().as_secs_f64());
    result
}
