//! The notifier's part of the topology: its own queue on the `orders` exchange, with a
//! dead-letter queue of its own, so that a notifier that is slow, down or dead-lettering never
//! holds up the worker or a merchant's consumer.
//!
//! Declared by the notifier only ([`Topology::declare_notifier`]): the ingress and the worker
//! redeclare their part at every connect, and a queue only the notifier uses must not need
//! their broker users' permissions.

use lapin::Channel;

use super::spec::{Argument, BindingSpec, ExchangeSpec, ExchangeType, QueueSpec};
use super::Topology;
use crate::announcements::{Announcement, OrderFulfilled, OrderPaymentFailed};

impl Topology {
    /// The notifier's input: the announcements it tells people about.
    pub fn notifier_queue(&self) -> String {
        self.name("notifier.orders")
    }

    /// Where the notifier's dead letters go: announcements refused for good (a callback
    /// answering 4xx, an SMTP 5xx) or past the delivery limit.
    pub fn notifier_dead_exchange(&self) -> String {
        self.name("notifier.dead")
    }

    /// Where the notifier's dead letters wait for an operator.
    pub fn notifier_dead_queue(&self) -> String {
        self.name("notifier.orders.dead")
    }

    /// Where `notifier redrive` republishes dead letters: bound to `notifier.orders` alone, so a
    /// redriven announcement reaches the notifier again and no other subscriber of `orders` a
    /// second time, and the notifier's broker user needs no write on the default exchange
    /// (which would reach every queue).
    pub fn notifier_redrive_exchange(&self) -> String {
        self.name("notifier.redrive")
    }

    /// The routing keys the notifier takes: only those it has a message for, so that a new
    /// kind of announcement waits in `orders.unrouted` (when nobody else takes it) rather than
    /// being dead-lettered by a notifier that cannot handle it.
    pub fn notifier_routing_keys() -> [&'static str; 2] {
        [OrderFulfilled::ROUTING_KEY, OrderPaymentFailed::ROUTING_KEY]
    }

    pub fn notifier_exchange_specs(&self) -> Vec<ExchangeSpec> {
        vec![
            // Declared here too, argument-free as the worker declares it, so a notifier started
            // before any worker still finds its source.
            ExchangeSpec {
                name: self.orders_exchange(),
                kind: ExchangeType::Topic,
                internal: false,
            },
            ExchangeSpec {
                name: self.notifier_dead_exchange(),
                kind: ExchangeType::Fanout,
                internal: false,
            },
            ExchangeSpec {
                name: self.notifier_redrive_exchange(),
                kind: ExchangeType::Fanout,
                internal: false,
            },
        ]
    }

    pub fn notifier_queue_specs(&self) -> Vec<QueueSpec> {
        let quorum = || ("x-queue-type", Argument::text("quorum"));
        vec![
            QueueSpec {
                name: self.notifier_queue(),
                arguments: vec![
                    quorum(),
                    // As on the worker's queue: a message that keeps killing its consumer, or
                    // keeps failing for a reason that does not pass, is dead-lettered after this
                    // many deliveries instead of being retried forever.
                    ("x-delivery-limit", Argument::Count(self.delivery_limit())),
                    (
                        "x-dead-letter-exchange",
                        Argument::Text(self.notifier_dead_exchange()),
                    ),
                ],
            },
            QueueSpec {
                name: self.notifier_dead_queue(),
                arguments: vec![quorum()],
            },
        ]
    }

    pub fn notifier_binding_specs(&self) -> Vec<BindingSpec> {
        let mut bindings: Vec<BindingSpec> = Self::notifier_routing_keys()
            .into_iter()
            .map(|key| BindingSpec {
                source: self.orders_exchange(),
                destination: self.notifier_queue(),
                routing_key: key.to_owned(),
            })
            .collect();
        bindings.push(BindingSpec {
            source: self.notifier_dead_exchange(),
            destination: self.notifier_dead_queue(),
            routing_key: String::new(),
        });
        bindings.push(BindingSpec {
            source: self.notifier_redrive_exchange(),
            destination: self.notifier_queue(),
            routing_key: String::new(),
        });
        bindings
    }

    /// Declares the notifier's exchanges, queues and bindings (idempotent).
    pub async fn declare_notifier(&self, channel: &Channel) -> Result<(), lapin::Error> {
        super::spec::declare(
            channel,
            self.notifier_exchange_specs(),
            self.notifier_queue_specs(),
            self.notifier_binding_specs(),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notifier_queue_takes_the_two_announcements_and_dead_letters_to_its_own_queue() {
        let t = Topology::new("t1.", vec![], 7);
        assert_eq!(t.notifier_queue(), "t1.notifier.orders");
        assert_eq!(t.notifier_dead_queue(), "t1.notifier.orders.dead");
        let keys: Vec<_> = t
            .notifier_binding_specs()
            .into_iter()
            .filter(|b| b.source == "t1.orders")
            .map(|b| b.routing_key)
            .collect();
        assert_eq!(keys, ["order.fulfilled", "order.payment_failed"]);
        let input = &t.notifier_queue_specs()[0];
        assert!(input
            .arguments
            .contains(&("x-delivery-limit", Argument::Count(7))));
        assert!(input.arguments.contains(&(
            "x-dead-letter-exchange",
            Argument::Text("t1.notifier.dead".into())
        )));
        // Not part of what the ingress and the worker declare.
        assert!(!t.queues().contains(&t.notifier_queue()));
    }
}
