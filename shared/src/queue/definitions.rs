//! The topology as a RabbitMQ definitions document: what the compose stack's broker imports at
//! every boot (`deploy/rabbitmq/definitions.json`, written by `worker definitions`). Built from
//! the same specs [`Topology::declare`] and [`Topology::declare_notifier`] declare, so the file
//! and the services' declare cannot disagree on a name or an argument; the policies (which AMQP
//! cannot set) come from [`Topology::policies`]. The notifier's queue is in the file although
//! only the notifier declares it: bound from the broker's first boot, it keeps every
//! announcement made before the notifier first starts.
//!
//! Written with fixed key order (serde structs, arguments in declaration order), never through a
//! `serde_json::Value` map, whose key order depends on a cargo feature another crate may switch
//! on: the file is compared byte for byte.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::topology::{Argument, Topology};

/// The one vhost the stack uses.
const VHOST: &str = "/";

impl Topology {
    /// The definitions document, pretty-printed, with a trailing newline.
    pub fn definitions_json(&self) -> String {
        let mut exchange_specs = self.exchange_specs();
        for exchange in self.notifier_exchange_specs() {
            // `orders` is in both parts, declared the same way.
            if !exchange_specs.iter().any(|e| e.name == exchange.name) {
                exchange_specs.push(exchange);
            }
        }
        let exchanges = exchange_specs
            .into_iter()
            .map(|e| Exchange {
                name: e.name,
                vhost: VHOST,
                kind: e.kind.as_str(),
                durable: true,
                auto_delete: false,
                internal: e.internal,
                arguments: Arguments(Vec::new()),
            })
            .collect();
        let queues = self
            .queue_specs()
            .into_iter()
            .chain(self.notifier_queue_specs())
            .map(|q| Queue {
                name: q.name,
                vhost: VHOST,
                durable: true,
                auto_delete: false,
                arguments: Arguments(q.arguments),
            })
            .collect();
        let bindings = self
            .binding_specs()
            .into_iter()
            .chain(self.notifier_binding_specs())
            .map(|b| Binding {
                source: b.source,
                vhost: VHOST,
                destination: b.destination,
                destination_type: "queue",
                routing_key: b.routing_key,
                arguments: Arguments(Vec::new()),
            })
            .collect();
        let policies = self
            .policies()
            .into_iter()
            .map(|p| Policy {
                name: p.name,
                vhost: VHOST,
                pattern: p.pattern,
                apply_to: p.apply_to,
                priority: p.priority,
                definition: PolicyDefinition(p.definition),
            })
            .collect();
        let document = Definitions {
            exchanges,
            queues,
            bindings,
            policies,
        };
        let mut json =
            serde_json::to_string_pretty(&document).expect("definitions always serialize");
        json.push('\n');
        json
    }
}

#[derive(Serialize)]
struct Definitions {
    exchanges: Vec<Exchange>,
    queues: Vec<Queue>,
    bindings: Vec<Binding>,
    policies: Vec<Policy>,
}

#[derive(Serialize)]
struct Exchange {
    name: String,
    vhost: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    durable: bool,
    auto_delete: bool,
    internal: bool,
    arguments: Arguments,
}

#[derive(Serialize)]
struct Queue {
    name: String,
    vhost: &'static str,
    durable: bool,
    auto_delete: bool,
    arguments: Arguments,
}

#[derive(Serialize)]
struct Binding {
    source: String,
    vhost: &'static str,
    destination: String,
    destination_type: &'static str,
    routing_key: String,
    arguments: Arguments,
}

#[derive(Serialize)]
struct Policy {
    name: String,
    vhost: &'static str,
    pattern: String,
    #[serde(rename = "apply-to")]
    apply_to: &'static str,
    priority: i64,
    definition: PolicyDefinition,
}

/// The policy's one key and value, as an object.
struct PolicyDefinition(super::topology::PolicyDefinition);

impl Serialize for PolicyDefinition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use super::topology::PolicyDefinition as Definition;
        let mut map = serializer.serialize_map(Some(1))?;
        match &self.0 {
            Definition::AlternateExchange(exchange) => {
                map.serialize_entry(self.0.key(), exchange)?
            }
            Definition::DeliveryLimit(limit) => map.serialize_entry(self.0.key(), limit)?,
        }
        map.end()
    }
}

/// A queue's arguments as a JSON object, in declaration order.
struct Arguments(Vec<(&'static str, Argument)>);

impl Serialize for Arguments {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            match value {
                Argument::Text(text) => map.serialize_entry(key, text)?,
                Argument::Count(count) => map.serialize_entry(key, count)?,
                Argument::Millis(ms) => map.serialize_entry(key, ms)?,
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::*;

    fn parsed(topology: &Topology) -> Value {
        serde_json::from_str(&topology.definitions_json()).expect("the document is JSON")
    }

    #[test]
    fn queues_carry_the_settings_arguments_in_declaration_order() {
        let topology = Topology::new("", vec![Duration::from_millis(1500)], 7);
        let json = topology.definitions_json();
        assert!(json.ends_with("}\n"), "one trailing newline: {json:?}");
        assert_eq!(json, topology.definitions_json(), "deterministic");
        let fulfillment = r#""arguments": {
        "x-queue-type": "quorum",
        "x-delivery-limit": 7,
        "x-dead-letter-exchange": "checkout.dead"
      }"#;
        assert!(json.contains(fulfillment), "{json}");

        let document = parsed(&topology);
        let tier = &document["queues"][2];
        assert_eq!(tier["name"], "checkout.fulfillment.delay.1500ms");
        assert_eq!(tier["arguments"]["x-message-ttl"], 1500);
        assert_eq!(
            tier["arguments"]["x-dead-letter-routing-key"],
            "checkout.fulfillment"
        );
        assert_eq!(
            document["bindings"][2],
            json!({
                "source": "checkout.retry",
                "vhost": "/",
                "destination": "checkout.fulfillment.delay.1500ms",
                "destination_type": "queue",
                "routing_key": "checkout.fulfillment.delay.1500ms",
                "arguments": {}
            })
        );
    }

    #[test]
    fn every_declared_name_and_every_policy_is_in_the_document() {
        let topology = Topology::new(
            "t1.",
            vec![Duration::from_secs(1), Duration::from_secs(60)],
            20,
        );
        let document = parsed(&topology);
        let names = |kind: &str| -> Vec<String> {
            document[kind]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["name"].as_str().unwrap().to_owned())
                .collect()
        };
        // The fulfillment topology, then the notifier's (`orders` once: both parts declare it).
        let mut exchanges = topology.exchanges();
        for exchange in topology.notifier_exchange_specs() {
            if !exchanges.contains(&exchange.name) {
                exchanges.push(exchange.name);
            }
        }
        assert_eq!(names("exchanges"), exchanges);
        let mut queues = topology.queues();
        queues.extend(topology.notifier_queue_specs().into_iter().map(|q| q.name));
        assert_eq!(names("queues"), queues);
        assert_eq!(
            document["bindings"].as_array().unwrap().len(),
            topology.binding_specs().len() + topology.notifier_binding_specs().len()
        );
        assert_eq!(
            document["policies"][0],
            json!({
                "name": "t1.checkout.events.unrouted",
                "vhost": "/",
                "pattern": r"^t1\.checkout\.events$",
                "apply-to": "exchanges",
                "priority": 10,
                "definition": { "alternate-exchange": "t1.checkout.unrouted" }
            })
        );
        let internal: Vec<&Value> = document["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["internal"] == true)
            .map(|e| &e["name"])
            .collect();
        assert_eq!(internal, ["t1.checkout.unrouted", "t1.orders.unrouted"]);
    }
}
