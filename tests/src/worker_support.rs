//! What the worker tests share: a worker started on the test stack, paid sessions in the
//! simulator, events published the way the ingress publishes them, and reads of the outcome.

#![allow(dead_code)] // Each test file uses a different part of this.

use std::time::Duration;

use crate::{eventually, start_sim, TestBroker, TestDb, TestStack};
use lapin::options::ConfirmSelectOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use serde_json::Value;
use shared::queue::{publish_confirmed, OutgoingMessage};
use shared::shutdown::StopHandle;
use shared::Settings;
use stripe_sim::{CreateSession, Customer, LineItemParams, PaymentOutcome, SimState};
use tokio::task::JoinHandle;
use worker::Application;

/// Long enough for a loaded two-core machine, short enough to fail a test quickly.
pub use crate::probes::WAIT;

/// A worker running on the test stack.
#[derive(Debug)]
pub struct RunningWorker {
    pub port: u16,
    pub stop: StopHandle,
    pub leader: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub handle: JoinHandle<anyhow::Result<()>>,
}

impl RunningWorker {
    /// SIGTERM's path: stop, drain, and wait for the drain to finish.
    pub async fn shutdown(self) {
        self.stop.stop().await;
        tokio::time::timeout(WAIT, self.handle)
            .await
            .expect("the worker drains in time")
            .expect("the worker task does not panic")
            .expect("the worker stops cleanly");
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// The harness's stack, but with `tiers` retry tiers, its settings changed by `edit`.
pub async fn stack_with_tiers(tiers: &[u64], edit: impl FnOnce(&mut Settings)) -> TestStack {
    let tiers = tiers.iter().map(|ms| Duration::from_millis(*ms)).collect();
    let (db, broker, sim) = tokio::join!(
        TestDb::create(),
        TestBroker::with_tiers(tiers, 5),
        start_sim()
    );
    let settings = crate::settings(&db, &broker, &sim.base_url, edit);
    let stripe = shared::stripe::StripeClient::new(&settings.stripe).unwrap();
    let fulfiller = shared::Fulfiller::from_settings(db.pool.clone(), stripe.clone(), &settings);
    TestStack {
        db,
        broker,
        sim,
        settings,
        stripe,
        fulfiller,
    }
}

/// What every worker test starts from: an ephemeral ops port, a fast outbox, and no
/// reconciler (tests that want one turn it on). A test's own edit comes after, so it wins.
pub fn worker_defaults(settings: &mut Settings) {
    settings.worker.host = "127.0.0.1".into();
    settings.worker.port = 0;
    settings.worker.outbox_interval_ms = 50;
    settings.worker.reconcile_interval_secs = 0;
    // Must match what TestBroker declared, or redeclaring the queue is refused.
    settings.broker.delivery_limit = 5;
}

/// Starts a worker against `stack` with [`worker_defaults`], then `edit`, applied to the
/// harness's settings.
pub async fn start_worker(stack: &TestStack, edit: impl FnOnce(&mut Settings)) -> RunningWorker {
    let settings = crate::settings(&stack.db, &stack.broker, &stack.sim.base_url, |s| {
        worker_defaults(s);
        edit(s);
    });
    let app = Application::build(settings)
        .await
        .expect("the worker builds");
    let port = app.port();
    let stop = app.stop_handle();
    let leader = app.leader_flag();
    let handle = tokio::spawn(app.run_until_stopped());
    let worker = RunningWorker {
        port,
        stop,
        leader,
        handle,
    };
    let last = std::sync::Mutex::new(String::new());
    let ready = eventually(WAIT, || async {
        let response = reqwest::get(worker.url("/readyz")).await.ok()?;
        let ok = response.status().is_success();
        *last.lock().unwrap() = response.text().await.unwrap_or_default();
        ok.then_some(())
    })
    .await;
    assert!(
        ready.is_some(),
        "the worker becomes ready; last /readyz: {}",
        last.lock().unwrap()
    );
    worker
}

/// A new open session for two T-shirts; returns its id.
pub fn open_session(sim: &SimState) -> String {
    let session = sim
        .create_session(CreateSession {
            line_items: vec![LineItemParams::catalog("price_tshirt", 2)],
            success_url: Some(
                "http://shop.test/order/success?session_id={CHECKOUT_SESSION_ID}".into(),
            ),
            cancel_url: Some("http://shop.test/order/cancel".into()),
            ..CreateSession::default()
        })
        .expect("the simulator creates the session");
    session["id"].as_str().expect("a session id").to_owned()
}

pub fn customer() -> Customer {
    Customer {
        name: "Jenny Rosen".into(),
        email: "jenny@example.com".into(),
        shipping: None,
    }
}

/// A session the customer has paid by card; returns its id and the `completed` event.
pub fn paid_session(sim: &SimState) -> (String, Value) {
    let id = open_session(sim);
    let event = sim
        .complete_session(&id, PaymentOutcome::Paid, customer())
        .expect("the simulator completes the session");
    (id, event)
}

/// A session for shipped goods (to the US or Canada), paid by card with an address in Canada;
/// returns its id and the `completed` event.
pub fn shipped_session(sim: &SimState) -> (String, Value) {
    let session = sim
        .create_session(CreateSession {
            line_items: vec![LineItemParams::catalog("price_mug", 1)],
            success_url: Some(
                "http://shop.test/order/success?session_id={CHECKOUT_SESSION_ID}".into(),
            ),
            shipping_countries: Some(vec!["US".into(), "CA".into()]),
            ..CreateSession::default()
        })
        .expect("the simulator creates the session");
    let id = session["id"].as_str().expect("a session id").to_owned();
    let customer = Customer {
        shipping: Some(stripe_sim::Shipping {
            name: "Jenny Rosen".into(),
            line1: "24 Sussex Drive".into(),
            line2: String::new(),
            city: "Ottawa".into(),
            state: "ON".into(),
            postal_code: "K1M 1M4".into(),
            country: "CA".into(),
        }),
        ..customer()
    };
    let event = sim
        .complete_session(&id, PaymentOutcome::Paid, customer)
        .expect("the simulator completes the session");
    (id, event)
}

/// A subscription-mode session for the monthly pattern library, paid by card; returns its id
/// and the `completed` event.
pub fn subscription_session(sim: &SimState) -> (String, Value) {
    let session = sim
        .create_session(CreateSession {
            mode: "subscription".into(),
            line_items: vec![LineItemParams::catalog("price_pattern_library", 1)],
            success_url: Some(
                "http://shop.test/order/success?session_id={CHECKOUT_SESSION_ID}".into(),
            ),
            ..CreateSession::default()
        })
        .expect("the simulator creates the session");
    let id = session["id"].as_str().expect("a session id").to_owned();
    let event = sim
        .complete_session(&id, PaymentOutcome::Paid, customer())
        .expect("the simulator completes the session");
    (id, event)
}

/// A session paid with a delayed method: completed, payment still on its way.
pub fn delayed_session(sim: &SimState) -> (String, Value) {
    let id = open_session(sim);
    let event = sim
        .complete_session(&id, PaymentOutcome::Unpaid, customer())
        .expect("the simulator completes the session");
    (id, event)
}

/// A Stripe-shaped event for a session that may not exist anywhere.
pub fn synthetic_event(event_id: &str, event_type: &str, session_id: &str) -> Value {
    serde_json::json!({
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": chrono::Utc::now().timestamp(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type,
        "data": {"object": {"id": session_id, "object": "checkout.session"}},
    })
}

/// A confirm-mode channel for publishing like the ingress does.
pub async fn publisher(stack: &TestStack) -> lapin::Channel {
    let channel = stack
        .broker
        .connection
        .create_channel()
        .await
        .expect("open a channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    channel
}

/// Publishes `event` to `checkout.events` the way the ingress does: routing key and `type` =
/// the event type, `message_id` = the event id, a `traceparent` header, confirmed.
pub async fn publish_event(stack: &TestStack, channel: &lapin::Channel, event: &Value) {
    let body = serde_json::to_vec(event).expect("an event serializes");
    publish_raw(
        stack,
        channel,
        event["type"].as_str().expect("a type"),
        event["id"].as_str().expect("an id"),
        &body,
    )
    .await;
}

/// Publishes any bytes to `checkout.events` with `routing_key`.
pub async fn publish_raw(
    stack: &TestStack,
    channel: &lapin::Channel,
    routing_key: &str,
    message_id: &str,
    body: &[u8],
) {
    let mut headers = FieldTable::default();
    headers.insert(
        ShortString::from("traceparent"),
        AMQPValue::LongString(LongString::from(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )),
    );
    publish_confirmed(
        channel,
        OutgoingMessage {
            exchange: &stack.broker.topology.checkout_exchange(),
            routing_key,
            body,
            message_id,
            kind: routing_key,
            headers,
        },
        Duration::from_secs(5),
    )
    .await
    .expect("the broker confirms the event");
}

/// A header of a message as text.
pub fn header_text(message: &lapin::message::BasicGetMessage, name: &str) -> Option<String> {
    let headers = message.delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        AMQPValue::LongUInt(n) => Some(n.to_string()),
        AMQPValue::LongLongInt(n) => Some(n.to_string()),
        AMQPValue::LongInt(n) => Some(n.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// Collects every message on `queue` until none arrives for `quiet` (bounded by [`WAIT`]).
pub async fn drain(
    stack: &TestStack,
    queue: &str,
    quiet: Duration,
) -> Vec<lapin::message::BasicGetMessage> {
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        match stack.broker.next(queue, quiet).await {
            Some(message) => messages.push(message),
            None => break,
        }
    }
    messages
}

/// The management plugin's port on the test broker's host.
const MANAGEMENT_PORT: u16 = 15672;

/// A broker policy on the default vhost, applied to the queues whose names match a pattern and
/// removed when dropped. AMQP cannot set policies; the management API can.
#[derive(Debug)]
pub struct QueuePolicy {
    url: String,
}

impl QueuePolicy {
    /// Applies `definition` (e.g. `{"max-length": 0}`) to the queues matching `pattern`.
    pub async fn apply(name: &str, pattern: &str, definition: Value) -> QueuePolicy {
        let amqp = url::Url::parse(&crate::amqp_url()).expect("TEST_AMQP_URL is a URL");
        let host = amqp.host_str().unwrap_or("127.0.0.1");
        let policy = QueuePolicy {
            url: format!("http://{host}:{MANAGEMENT_PORT}/api/policies/%2f/{name}"),
        };
        let response = management(reqwest::Method::PUT, &policy.url)
            .json(&serde_json::json!({
                "pattern": pattern,
                "definition": definition,
                "apply-to": "queues",
                // Above anything a test broker could hold, so this one is the queue's policy.
                "priority": 100,
            }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT {} (is management enabled?): {e}", policy.url));
        assert!(
            response.status().is_success(),
            "PUT {}: {}",
            policy.url,
            response.status()
        );
        policy
    }
}

impl Drop for QueuePolicy {
    fn drop(&mut self) {
        let url = self.url.clone();
        crate::block_on_aside(async move {
            let _ = management(reqwest::Method::DELETE, &url).send().await;
        });
    }
}

fn management(method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
    let amqp = url::Url::parse(&crate::amqp_url()).expect("TEST_AMQP_URL is a URL");
    reqwest::Client::new()
        .request(method, url)
        .basic_auth(amqp.username(), amqp.password())
}
