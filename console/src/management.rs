//! RabbitMQ's management API, as the console reads it:
//! - [`Management::queues`]: for each queue of our topology (fulfillment, retry tiers, dead
//!   letters, unrouted, the notifier's), ready / unacked / consumers as the broker counts them,
//!   in one request;
//! - [`Management::peek`]: the first messages of a queue, looked at and put back (what the
//!   management UI's "Get messages" does), for the dead-letter list.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use shared::queue::Topology;
use shared::settings::{BrokerSettings, ConsoleSettings};

/// What a queue is for, which says what is wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    /// Someone must consume it (the workers, the notifiers): no consumer is a problem.
    Consumed,
    /// A retry tier: messages wait out their delay with no consumer, by design.
    Delay,
    /// Dead letters and unrouted messages: any message here needs an operator.
    Parked,
}

/// A queue as the broker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRow {
    pub name: String,
    pub kind: QueueKind,
    /// `None`: the topology declares it but the broker does not have it (yet).
    pub counts: Option<QueueCounts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct QueueCounts {
    #[serde(default)]
    pub messages_ready: u64,
    #[serde(default)]
    pub messages_unacknowledged: u64,
    #[serde(default)]
    pub consumers: u64,
}

#[derive(Debug, Deserialize)]
struct ApiQueue {
    name: String,
    #[serde(flatten)]
    counts: QueueCounts,
}

/// Why the table could not be read; shown on the page in its place.
#[derive(Debug, thiserror::Error)]
pub enum QueuesError {
    #[error("console.management_url is not set")]
    NotConfigured,
    #[error("the management API did not answer: {0}")]
    Unreachable(String),
    #[error("the management API answered {0}")]
    Status(u16),
}

#[derive(Debug)]
pub struct Management {
    client: reqwest::Client,
    /// `…/api/queues/<vhost>`; `None` when not configured.
    url: Option<String>,
    username: String,
    password: SecretString,
    /// Our queues, in the order the table shows them.
    names: Vec<(String, QueueKind)>,
}

/// The vhost of the first broker address (`amqp://host/vhost`; none or `/`: the default `/`).
fn vhost(broker_url: &str) -> String {
    let first = broker_url.split(',').next().unwrap_or("").trim();
    url::Url::parse(first)
        .ok()
        .map(|url| url.path().trim_start_matches('/').to_owned())
        .map(|path| {
            url::form_urlencoded::parse(format!("v={path}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "/".to_owned())
}

impl Management {
    pub fn new(console: &ConsoleSettings, broker: &BrokerSettings) -> reqwest::Result<Self> {
        let topology = Topology::from_settings(broker);
        let consumed = [topology.fulfillment_queue(), topology.notifier_queue()];
        let delays: Vec<String> = (0..topology.retry_tiers().len())
            .filter_map(|tier| topology.retry_queue(tier))
            .collect();
        let kind = |name: &String| {
            if consumed.contains(name) {
                QueueKind::Consumed
            } else if delays.contains(name) {
                QueueKind::Delay
            } else {
                QueueKind::Parked
            }
        };
        let names = topology
            .queues()
            .into_iter()
            .chain(topology.notifier_queue_specs().into_iter().map(|q| q.name))
            .map(|name| {
                let kind = kind(&name);
                (name, kind)
            })
            .collect();
        let base = console.management_url.trim_end_matches('/');
        let url = (!base.is_empty()).then(|| {
            let vhost: String =
                url::form_urlencoded::byte_serialize(vhost(broker.url.expose_secret()).as_bytes())
                    .collect();
            format!("{base}/api/queues/{vhost}")
        });
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
            url,
            username: console.management_username.clone(),
            password: console.management_password.clone(),
            names,
        })
    }

    /// Sends `request` with the management login; the body of a 2xx answer as `T`.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, QueuesError> {
        let response = request
            .basic_auth(&self.username, Some(self.password.expose_secret()))
            .send()
            .await
            .map_err(|e| QueuesError::Unreachable(shared::errors::error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(QueuesError::Status(response.status().as_u16()));
        }
        response
            .json()
            .await
            .map_err(|e| QueuesError::Unreachable(shared::errors::error_chain(&e)))
    }

    pub async fn queues(&self) -> Result<Vec<QueueRow>, QueuesError> {
        let url = self.url.as_ref().ok_or(QueuesError::NotConfigured)?;
        let listed: Vec<ApiQueue> = self
            .call(self.client.get(format!(
                "{url}?columns=name,messages_ready,messages_unacknowledged,consumers"
            )))
            .await?;
        Ok(self
            .names
            .iter()
            .map(|(name, kind)| QueueRow {
                name: name.clone(),
                kind: *kind,
                counts: listed.iter().find(|q| &q.name == name).map(|q| q.counts),
            })
            .collect())
    }
}

/// A message as the management API shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct PeekedMessage {
    pub payload: String,
    /// Messages left in the queue when this one was taken.
    #[serde(default)]
    pub message_count: u64,
    #[serde(default)]
    pub payload_encoding: String,
    #[serde(default)]
    pub properties: PeekedProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PeekedProperties {
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub headers: serde_json::Map<String, serde_json::Value>,
}

impl Management {
    /// Up to `count` messages from the head of `queue`, put back as they were taken. Each look
    /// counts as a delivery in a quorum queue; the parked queues' policy allows a million.
    pub async fn peek(&self, queue: &str, count: u32) -> Result<Vec<PeekedMessage>, QueuesError> {
        let url = self.url.as_ref().ok_or(QueuesError::NotConfigured)?;
        let name: String = url::form_urlencoded::byte_serialize(queue.as_bytes()).collect();
        self.call(
            self.client
                .post(format!("{url}/{name}/get"))
                .json(&serde_json::json!({
                    "count": count,
                    "ackmode": "ack_requeue_true",
                    "encoding": "auto",
                    "truncate": 100_000,
                })),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::vhost;

    #[test]
    fn the_vhost_comes_from_the_first_broker_address() {
        assert_eq!(vhost("amqp://u:p@rabbit:5672/%2f"), "/");
        assert_eq!(vhost("amqp://u:p@rabbit:5672"), "/");
        assert_eq!(vhost("amqp://a/shop,amqp://b/shop"), "shop");
        assert_eq!(vhost("amqps://a:5671/prod%2Feu"), "prod/eu");
    }
}
