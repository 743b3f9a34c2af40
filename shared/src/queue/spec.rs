//! The shapes of the topology's exchanges, queues (with their exact arguments) and bindings:
//! what [`declare`] declares over AMQP (for `Topology::declare` and
//! `Topology::declare_notifier`) and `Topology::definitions_json` writes for the broker's
//! boot-time import, so the two read the same names and values.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

/// An exchange of the topology; see [`Topology::exchange_specs`](super::Topology::exchange_specs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeSpec {
    pub name: String,
    pub kind: ExchangeType,
    /// Only the broker routes into it (an alternate exchange), never a client's publish.
    pub internal: bool,
}

/// The exchange types the topology uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeType {
    Topic,
    Direct,
    Fanout,
}

impl ExchangeType {
    /// The name RabbitMQ gives it (`type` in a definitions file).
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeType::Topic => "topic",
            ExchangeType::Direct => "direct",
            ExchangeType::Fanout => "fanout",
        }
    }

    pub(super) fn lapin(self) -> ExchangeKind {
        match self {
            ExchangeType::Topic => ExchangeKind::Topic,
            ExchangeType::Direct => ExchangeKind::Direct,
            ExchangeType::Fanout => ExchangeKind::Fanout,
        }
    }
}

/// A queue of the topology with its arguments, in the order they are declared; see
/// [`Topology::queue_specs`](super::Topology::queue_specs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    pub arguments: Vec<(&'static str, Argument)>,
}

/// A queue argument's value. The AMQP type matters: RabbitMQ compares a redeclaration's
/// arguments with the queue's, and these are the types the queues were first declared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Argument {
    /// An AMQP long string.
    Text(String),
    /// An AMQP unsigned 32-bit integer (`x-delivery-limit`).
    Count(u32),
    /// An AMQP signed 64-bit integer (`x-message-ttl`).
    Millis(i64),
}

impl Argument {
    pub(super) fn text(value: &str) -> Self {
        Argument::Text(value.to_owned())
    }

    pub(super) fn amqp(&self) -> AMQPValue {
        match self {
            Argument::Text(text) => AMQPValue::LongString(LongString::from(text.as_str())),
            Argument::Count(count) => AMQPValue::LongUInt(*count),
            Argument::Millis(ms) => AMQPValue::LongLongInt(*ms),
        }
    }
}

/// A queue bound to an exchange; see [`Topology::binding_specs`](super::Topology::binding_specs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingSpec {
    pub source: String,
    pub destination: String,
    pub routing_key: String,
}

/// Declares `exchanges`, then `queues`, then `bindings`, all durable (idempotent: redeclaring
/// with the same arguments is a no-op).
pub(super) async fn declare(
    channel: &Channel,
    exchanges: Vec<ExchangeSpec>,
    queues: Vec<QueueSpec>,
    bindings: Vec<BindingSpec>,
) -> Result<(), lapin::Error> {
    for exchange in exchanges {
        let options = ExchangeDeclareOptions {
            durable: true,
            internal: exchange.internal,
            ..Default::default()
        };
        channel
            .exchange_declare(
                &exchange.name,
                exchange.kind.lapin(),
                options,
                FieldTable::default(),
            )
            .await?;
    }
    for queue in queues {
        let options = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let mut arguments = FieldTable::default();
        for (key, value) in &queue.arguments {
            arguments.insert((*key).into(), value.amqp());
        }
        channel
            .queue_declare(&queue.name, options, arguments)
            .await?;
    }
    for binding in bindings {
        channel
            .queue_bind(
                &binding.destination,
                &binding.source,
                &binding.routing_key,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}
