//! What the ingress tests share: a real ingress on port 0 in front of a unique topology on the
//! real RabbitMQ, a client with one method per request kind, signed event builders, and a
//! catch-all queue that sees every message the ingress publishes, whatever its routing key.

pub mod proxy;

use std::time::Duration;

use crate::{amqp_url, TestBroker, WEBHOOK_SECRET};
use ingress::Application;
use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use shared::queue::Broker;
use shared::settings::Uses;
use shared::shutdown::StopHandle;
use shared::signature::{signature_header, unix_now};
use shared::Settings;

/// A running ingress and the broker topology it publishes to.
#[derive(Debug)]
pub struct TestIngress {
    pub address: String,
    pub port: u16,
    pub broker: TestBroker,
    /// Bound to `#` on `checkout.events`: anything the ingress publishes lands here.
    pub everything: String,
    pub client: reqwest::Client,
    pub stop: StopHandle,
    pub connection: Broker,
    pub served: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Settings for an ingress publishing to `broker` through `amqp_url`, then changed by `edit`
/// (the test's values win) and checked as the ingress checks them at start-up.
pub fn ingress_settings(
    broker: &TestBroker,
    amqp_url: &str,
    edit: impl FnOnce(&mut Settings),
) -> Settings {
    let tiers = broker
        .topology
        .retry_tiers()
        .iter()
        .map(|d| d.as_millis().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let vars: Vec<(String, String)> = [
        ("APP_BROKER__URL", amqp_url),
        ("APP_BROKER__PREFIX", broker.prefix.as_str()),
        ("APP_BROKER__RETRY_TIERS_MS", tiers.as_str()),
        // Must equal the harness's topology: RabbitMQ refuses to redeclare a queue with other
        // arguments.
        ("APP_BROKER__DELIVERY_LIMIT", "5"),
        ("APP_BROKER__RECONNECT_MIN_MS", "50"),
        ("APP_BROKER__RECONNECT_MAX_MS", "300"),
        ("APP_WEBHOOK__SECRETS", WEBHOOK_SECRET),
        ("APP_INGRESS__HOST", "127.0.0.1"),
        ("APP_INGRESS__PORT", "0"),
        ("APP_INGRESS__WORKERS", "2"),
        ("APP_LOG__FILTER", "warn"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut settings =
        Settings::load_from(Uses::INGRESS, vars).expect("the harness's settings are valid");
    edit(&mut settings);
    settings
        .check(Uses::INGRESS)
        .expect("test settings are valid");
    settings
}

impl TestIngress {
    /// An ingress on a fresh topology, connected to the real broker.
    pub async fn spawn() -> TestIngress {
        Self::spawn_with(None, |_| {}).await
    }

    /// An ingress that reaches the broker at `via` (e.g. a proxy) instead of directly, its
    /// settings changed by `edit`.
    pub async fn spawn_with(via: Option<&str>, edit: impl FnOnce(&mut Settings)) -> TestIngress {
        let broker = TestBroker::create().await;
        let url = via.map(str::to_owned).unwrap_or_else(amqp_url);
        let settings = ingress_settings(&broker, &url, edit);
        let application = Application::build(settings).await.expect("ingress builds");
        let port = application.port();
        let stop = application.stop_handle();
        let connection = application.broker().clone();
        assert!(
            connection.wait_connected(Duration::from_secs(10)).await,
            "the ingress connects to the broker"
        );
        let served = tokio::spawn(application.run_until_stopped());
        let everything = catch_all_queue(&broker).await;
        TestIngress {
            address: format!("http://127.0.0.1:{port}"),
            port,
            broker,
            everything,
            client: reqwest::Client::new(),
            stop,
            connection,
            served,
        }
    }

    pub fn webhook_url(&self) -> String {
        format!("{}/webhook", self.address)
    }

    /// `POST /webhook` with `body` and, when given, a `Stripe-Signature` header.
    pub async fn post_webhook(&self, body: &[u8], signature: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.webhook_url())
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("Stripe-Signature", signature);
        }
        request.send().await.expect("the ingress answers")
    }

    /// `POST /webhook` with a valid signature made now.
    pub async fn post_signed(&self, body: &[u8]) -> reqwest::Response {
        self.post_webhook(body, Some(&sign_now(body))).await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("the ingress answers")
    }

    /// Messages waiting in the worker's queue.
    pub async fn fulfillment_depth(&self) -> u32 {
        self.broker
            .depth(&self.broker.topology.fulfillment_queue())
            .await
    }

    /// Messages published with any routing key.
    pub async fn published_count(&self) -> u32 {
        self.broker.depth(&self.everything).await
    }

    /// Asserts that nothing at all has been published.
    pub async fn assert_nothing_published(&self) {
        assert_eq!(self.published_count().await, 0, "nothing is published");
        assert_eq!(
            self.fulfillment_depth().await,
            0,
            "nothing reaches the worker"
        );
    }
}

/// A queue bound to `#` on `checkout.events`. `x-expires` removes it a minute after the test
/// stops using it, so runs leave nothing behind.
async fn catch_all_queue(broker: &TestBroker) -> String {
    let queue = format!("{}ingress-test.everything", broker.prefix);
    let mut arguments = FieldTable::default();
    arguments.insert("x-expires".into(), AMQPValue::LongUInt(60_000));
    broker
        .channel
        .queue_declare(&queue, QueueDeclareOptions::default(), arguments)
        .await
        .expect("declare the catch-all queue");
    broker
        .channel
        .queue_bind(
            &queue,
            &broker.topology.checkout_exchange(),
            "#",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind the catch-all queue");
    queue
}

/// A `Stripe-Signature` header for `body`, signed now with the secret the ingress accepts.
pub fn sign_now(body: &[u8]) -> String {
    signature_header(body, &[WEBHOOK_SECRET], unix_now())
}

/// A unique event id.
pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::new_v4().simple())
}

/// A Stripe-shaped event of `event_type` about session `session_id`, pretty-printed as Stripe
/// sends it (so that byte-identity is tested on more than compact JSON).
pub fn event_body(event_id: &str, event_type: &str, session_id: &str) -> Vec<u8> {
    let event = serde_json::json!({
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": unix_now(),
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "amount_total": 2000,
                "currency": "usd",
                "payment_status": "paid",
                "status": "complete",
                "metadata": {"note": "caf\u{e9} \u{2615}"}
            }
        },
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type
    });
    let mut body = serde_json::to_vec_pretty(&event).expect("serializable");
    body.push(b'\n');
    body
}

/// A `checkout.session.completed` event with fresh ids; returns `(event id, body)`.
pub fn completed_event() -> (String, Vec<u8>) {
    let event_id = new_event_id();
    let session_id = format!("cs_test_{}", uuid::Uuid::new_v4().simple());
    let body = event_body(&event_id, "checkout.session.completed", &session_id);
    (event_id, body)
}

/// The response's JSON `reason`.
pub async fn reason_of(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.expect("a JSON answer");
    body["reason"].as_str().expect("a reason").to_owned()
}
