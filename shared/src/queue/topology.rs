//! The RabbitMQ topology, in one place. Names are what dashboards and runbooks use; tests prefix
//! them so that parallel tests never share a queue.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

use crate::settings::BrokerSettings;

#[derive(Debug, Clone)]
pub struct Topology {
    prefix: String,
    retry_tiers: Vec<Duration>,
    delivery_limit: u32,
}

impl Topology {
    pub fn new(prefix: impl Into<String>, retry_tiers: Vec<Duration>, delivery_limit: u32) -> Self {
        Self {
            prefix: prefix.into(),
            retry_tiers,
            delivery_limit,
        }
    }

    pub fn from_settings(settings: &BrokerSettings) -> Self {
        Self::new(
            settings.prefix.clone(),
            settings
                .retry_tiers_ms
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect(),
            settings.delivery_limit,
        )
    }

    fn name(&self, base: &str) -> String {
        format!("{}{}", self.prefix, base)
    }

    /// Topic exchange for verified Stripe events; routing key = event type.
    pub fn checkout_exchange(&self) -> String {
        self.name("checkout.events")
    }

    /// The worker's input: every `checkout.session.*` event.
    pub fn fulfillment_queue(&self) -> String {
        self.name("checkout.fulfillment")
    }

    /// Direct exchange in front of the retry tiers; routing key = the tier queue's name.
    pub fn retry_exchange(&self) -> String {
        self.name("checkout.retry")
    }

    /// Fanout exchange for dead letters, explicit (the worker gave up) or automatic (the
    /// delivery limit was reached).
    pub fn dead_exchange(&self) -> String {
        self.name("checkout.dead")
    }

    /// Where messages wait for an operator (`worker redrive`).
    pub fn dead_queue(&self) -> String {
        self.name("checkout.fulfillment.dead")
    }

    /// Topic exchange for announcements from the outbox: `order.fulfilled`, `order.payment_failed`.
    pub fn orders_exchange(&self) -> String {
        self.name("orders")
    }

    /// The alternate exchange of `checkout.events` (see [`Self::policies`]): every event no
    /// binding takes (the fulfillment queue or its binding missing, a type nobody consumes)
    /// goes here instead of being dropped.
    pub fn unrouted_exchange(&self) -> String {
        self.name("checkout.unrouted")
    }

    /// Where unrouted events wait for an operator (`worker redrive --from unrouted`).
    pub fn unrouted_queue(&self) -> String {
        self.name("checkout.unrouted")
    }

    /// The alternate exchange of `orders`: announcements no subscriber's queue takes.
    pub fn orders_unrouted_exchange(&self) -> String {
        self.name("orders.unrouted")
    }

    /// Where unrouted announcements wait (`worker redrive --from orders-unrouted`).
    pub fn orders_unrouted_queue(&self) -> String {
        self.name("orders.unrouted")
    }

    /// The policies this topology relies on: each publishing exchange gets its alternate
    /// exchange, so a message no binding takes lands in a durable `*.unrouted` queue and is
    /// never dropped, whatever the confirm said about it.
    ///
    /// A policy, not the exchange's `alternate-exchange` argument: `checkout.events` and
    /// `orders` already exist, argument-free, on every deployed broker, and redeclaring an
    /// exchange with a different argument is refused (PRECONDITION_FAILED), which would stop
    /// every service from starting until an operator deleted the exchange (and with it every
    /// binding). A policy is added to a live exchange, by the definitions file the broker
    /// imports at each boot or by `rabbitmqctl set_policy`, and the services' declare stays
    /// what it was. AMQP cannot set a policy, so the services do not: `declare` creates the
    /// alternate exchanges and their queues, `deploy/rabbitmq/definitions.json` carries these
    /// policies (a test holds it to this list), RUNBOOK.md shows the command for a running
    /// broker.
    pub fn policies(&self) -> Vec<Policy> {
        [
            (self.checkout_exchange(), self.unrouted_exchange()),
            (self.orders_exchange(), self.orders_unrouted_exchange()),
        ]
        .into_iter()
        .map(|(exchange, alternate)| Policy {
            name: format!("{exchange}.unrouted"),
            // Anchored and escaped: exactly this exchange, not `checkout.events.v2` too.
            pattern: format!("^{}$", regex_escape(&exchange)),
            apply_to: "exchanges",
            priority: POLICY_PRIORITY,
            alternate_exchange: alternate,
        })
        .collect()
    }

    pub fn retry_tiers(&self) -> &[Duration] {
        &self.retry_tiers
    }

    pub fn delivery_limit(&self) -> u32 {
        self.delivery_limit
    }

    /// The queue of retry tier `tier` (0-based), named by its delay: `checkout.fulfillment.delay.10s`.
    /// (Not `…retry.10s`: those were classic queues, which a broker still holding them would
    /// refuse to redeclare as quorum queues; under the new names they drain by themselves.)
    pub fn retry_queue(&self, tier: usize) -> Option<String> {
        let delay = self.retry_tiers.get(tier)?;
        Some(self.name(&format!(
            "checkout.fulfillment.delay.{}",
            delay_label(*delay)
        )))
    }

    /// Declares everything (idempotent: redeclaring with the same arguments is a no-op).
    pub async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        // Durable exchanges survive a broker restart; nothing is auto-deleted.
        let durable_exchange = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let durable_queue = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let none = FieldTable::default;

        for (exchange, kind) in [
            (self.checkout_exchange(), ExchangeKind::Topic),
            (self.retry_exchange(), ExchangeKind::Direct),
            (self.dead_exchange(), ExchangeKind::Fanout),
            (self.orders_exchange(), ExchangeKind::Topic),
        ] {
            channel
                .exchange_declare(&exchange, kind, durable_exchange, none())
                .await?;
        }

        // The alternate exchanges (linked by `policies`) and their queues. Fanout: whatever
        // reaches one goes to its queue, keeping its routing key for the way back. Internal:
        // only the broker routes into them, never a client's publish.
        for (exchange, queue) in [
            (self.unrouted_exchange(), self.unrouted_queue()),
            (
                self.orders_unrouted_exchange(),
                self.orders_unrouted_queue(),
            ),
        ] {
            channel
                .exchange_declare(
                    &exchange,
                    ExchangeKind::Fanout,
                    ExchangeDeclareOptions {
                        internal: true,
                        ..durable_exchange
                    },
                    none(),
                )
                .await?;
            let mut args = FieldTable::default();
            // Quorum like every other queue: replicated, confirmed once a quorum has it.
            args.insert("x-queue-type".into(), long_string("quorum"));
            channel.queue_declare(&queue, durable_queue, args).await?;
            channel
                .queue_bind(&queue, &exchange, "", QueueBindOptions::default(), none())
                .await?;
        }

        let mut fulfillment = FieldTable::default();
        // Quorum: replicated, and it counts redeliveries (x-delivery-count), which classic
        // queues don't.
        fulfillment.insert("x-queue-type".into(), long_string("quorum"));
        // The backstop for a message that kills its consumer before any ack or nack: after this
        // many deliveries it is dead-lettered instead of crashing workers forever. RabbitMQ 3.10
        // has no default, so it must be explicit.
        fulfillment.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongUInt(self.delivery_limit),
        );
        fulfillment.insert(
            "x-dead-letter-exchange".into(),
            long_string(&self.dead_exchange()),
        );
        channel
            .queue_declare(&self.fulfillment_queue(), durable_queue, fulfillment)
            .await?;
        channel
            .queue_bind(
                &self.fulfillment_queue(),
                &self.checkout_exchange(),
                "checkout.session.*",
                QueueBindOptions::default(),
                none(),
            )
            .await?;

        let mut dead = FieldTable::default();
        dead.insert("x-queue-type".into(), long_string("quorum"));
        channel
            .queue_declare(&self.dead_queue(), durable_queue, dead)
            .await?;
        channel
            .queue_bind(
                &self.dead_queue(),
                &self.dead_exchange(),
                "",
                QueueBindOptions::default(),
                none(),
            )
            .await?;

        for tier in 0..self.retry_tiers.len() {
            let queue = self.retry_queue(tier).expect("tier exists");
            let mut args = FieldTable::default();
            // A message waits out the tier's TTL, then is dead-lettered through the default
            // exchange straight back into the fulfillment queue (RabbitMQ 3.10 has no delayed
            // delivery without a plugin). TTL expiry is at the head, and every message in a
            // tier has the same TTL, so none waits behind a longer one.
            //
            // Quorum, like the fulfillment queue: a classic queue lives on one node of a
            // cluster, and while that node is away nobody can redeclare it, so no service that
            // reconnects then could start. At-least-once dead-lettering (which needs
            // reject-publish overflow) moves an expired message only once the fulfillment queue
            // has it: an expiry never drops one.
            args.insert("x-queue-type".into(), long_string("quorum"));
            args.insert(
                "x-message-ttl".into(),
                AMQPValue::LongLongInt(self.retry_tiers[tier].as_millis() as i64),
            );
            args.insert("x-dead-letter-exchange".into(), long_string(""));
            args.insert(
                "x-dead-letter-routing-key".into(),
                long_string(&self.fulfillment_queue()),
            );
            args.insert(
                "x-dead-letter-strategy".into(),
                long_string("at-least-once"),
            );
            args.insert("x-overflow".into(), long_string("reject-publish"));
            channel.queue_declare(&queue, durable_queue, args).await?;
            channel
                .queue_bind(
                    &queue,
                    &self.retry_exchange(),
                    &queue,
                    QueueBindOptions::default(),
                    none(),
                )
                .await?;
        }
        Ok(())
    }

    /// Every queue this topology declares (for tests and the operator's cleanup).
    pub fn queues(&self) -> Vec<String> {
        let mut queues = vec![
            self.fulfillment_queue(),
            self.dead_queue(),
            self.unrouted_queue(),
            self.orders_unrouted_queue(),
        ];
        queues.extend((0..self.retry_tiers.len()).filter_map(|t| self.retry_queue(t)));
        queues
    }

    pub fn exchanges(&self) -> Vec<String> {
        vec![
            self.checkout_exchange(),
            self.retry_exchange(),
            self.dead_exchange(),
            self.orders_exchange(),
            self.unrouted_exchange(),
            self.orders_unrouted_exchange(),
        ]
    }
}

/// A RabbitMQ policy giving an exchange its alternate exchange; see [`Topology::policies`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    /// A regular expression matching the exchange's name, and nothing else.
    pub pattern: String,
    pub apply_to: &'static str,
    pub priority: i64,
    /// The policy's one key, `alternate-exchange`.
    pub alternate_exchange: String,
}

/// Only one policy applies to an exchange, the highest priority one. Above the default 0, so
/// that a broad policy an operator adds for something else (federation, say) does not silently
/// take the alternate exchange away; such a policy must then repeat `alternate-exchange`.
const POLICY_PRIORITY: i64 = 10;

/// `name` as a regular expression matching itself (RabbitMQ policy patterns are PCRE).
fn regex_escape(name: &str) -> String {
    let mut escaped = String::with_capacity(name.len());
    for c in name.chars() {
        if "\\.^$|?*+()[]{}".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

/// `1s`, `10s`, `1m`, `1h`, or milliseconds when not whole seconds.
fn delay_label(delay: Duration) -> String {
    let ms = delay.as_millis();
    match ms {
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// Header names used across the services.
pub mod headers {
    /// How many processing attempts a message has had (set by the worker on retry).
    pub const ATTEMPTS: &str = "x-attempts";
    /// Why a message was dead-lettered.
    pub const DEAD_REASON: &str = "x-dead-reason";
    /// One line per failed attempt: `attempt=N error=…`.
    pub const ATTEMPT_HISTORY: &str = "x-attempt-history";
    /// How many times a quorum queue has handed the message out before (set by RabbitMQ on a
    /// redelivery).
    pub const DELIVERY_COUNT: &str = "x-delivery-count";
}

/// Short strings for header keys.
pub fn key(name: &str) -> ShortString {
    ShortString::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_prefix_and_tiers_are_named_by_delay() {
        let t = Topology::new(
            "t1.",
            vec![
                Duration::from_secs(1),
                Duration::from_secs(600),
                Duration::from_millis(1500),
            ],
            5,
        );
        assert_eq!(t.fulfillment_queue(), "t1.checkout.fulfillment");
        assert_eq!(
            t.retry_queue(0).unwrap(),
            "t1.checkout.fulfillment.delay.1s"
        );
        assert_eq!(
            t.retry_queue(1).unwrap(),
            "t1.checkout.fulfillment.delay.10m"
        );
        assert_eq!(
            t.retry_queue(2).unwrap(),
            "t1.checkout.fulfillment.delay.1500ms"
        );
        assert!(t.retry_queue(3).is_none());
        assert_eq!(t.queues().len(), 7);
    }

    #[test]
    fn each_publishing_exchange_has_a_policy_naming_its_alternate_exchange_and_only_it() {
        let t = Topology::new("t1.", vec![], 5);
        let policies = t.policies();
        assert_eq!(policies.len(), 2);
        assert_eq!(policies[0].name, "t1.checkout.events.unrouted");
        assert_eq!(policies[0].pattern, r"^t1\.checkout\.events$");
        assert_eq!(policies[0].alternate_exchange, "t1.checkout.unrouted");
        assert_eq!(policies[1].pattern, r"^t1\.orders$");
        assert_eq!(policies[1].alternate_exchange, "t1.orders.unrouted");
        assert!(policies.iter().all(|p| p.apply_to == "exchanges"));
    }
}
