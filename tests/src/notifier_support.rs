//! What the notifier tests share: a notifier running in-process against the test database and
//! broker, and a way to publish announcements the way the outbox relay does. The SMTP server
//! they read mail from is [`crate::smtp`].

use std::time::Duration;

use crate::service::RunningService;
use crate::{TestBroker, TestDb};
use lapin::options::{BasicPublishOptions, QueueDeleteOptions};
use lapin::BasicProperties;
use secrecy::SecretString;
use shared::announcements::{AnnouncedLineItem, OrderFulfilled, OrderPaymentFailed, VERSION};
use shared::Settings;
use uuid::Uuid;

/// The longest a test waits for an outcome.
pub const WAIT: Duration = Duration::from_secs(30);

/// A notifier running in-process; stopped (drained) by [`RunningNotifier::stop`].
#[derive(Debug)]
pub struct RunningNotifier {
    pub port: u16,
    service: RunningService,
}

impl RunningNotifier {
    /// Declares the notifier's queue (so nothing published from now on misses it), then builds
    /// and starts the notifier with the test's settings changed by `edit`.
    pub async fn start(db: &TestDb, broker: &TestBroker, edit: impl FnOnce(&mut Settings)) -> Self {
        broker
            .topology
            .declare_notifier(&broker.channel)
            .await
            .expect("declare the notifier's queues");
        let settings = crate::settings(db, broker, "http://127.0.0.1:9", |s| {
            s.notifier.host = "127.0.0.1".into();
            s.notifier.port = 0;
            // Test-sized backoff between attempts.
            s.notifier.retry_max_ms = 300;
            s.notifier.send_timeout_ms = 5000;
            edit(s);
        });
        let application = notifier::Application::build(settings)
            .await
            .expect("the notifier builds");
        let port = application.port();
        let service = RunningService::spawn(
            "notifier",
            application.stop_handle(),
            application.run_until_stopped(),
        );
        RunningNotifier { port, service }
    }

    /// SIGTERM's drain: returns once every delivery in hand is settled.
    pub async fn stop(self) {
        self.service.stop().await.expect("the notifier drains");
    }
}

/// Deletes the notifier's queues and exchanges (the harness deletes only its own topology).
#[derive(Debug)]
pub struct NotifierQueues(pub shared::queue::Topology);

impl Drop for NotifierQueues {
    fn drop(&mut self) {
        let topology = self.0.clone();
        crate::block_on_aside(async move {
            let url = SecretString::from(crate::amqp_url());
            let Ok(connection) = shared::queue::connect(&url, "test-cleanup").await else {
                return;
            };
            if let Ok(channel) = connection.create_channel().await {
                for queue in [topology.notifier_queue(), topology.notifier_dead_queue()] {
                    let _ = channel
                        .queue_delete(&queue, QueueDeleteOptions::default())
                        .await;
                }
                for exchange in [
                    topology.notifier_dead_exchange(),
                    topology.notifier_redrive_exchange(),
                ] {
                    let _ = channel.exchange_delete(&exchange, Default::default()).await;
                }
            }
            let _ = connection.close(200, "test done").await;
        });
    }
}

/// Publishes `body` on `orders` as the outbox relay does: persistent, `message_id` = the
/// outbox id, `type` = the routing key.
pub async fn announce(broker: &TestBroker, message_id: Uuid, routing_key: &str, body: &[u8]) {
    broker
        .channel
        .basic_publish(
            &broker.topology.orders_exchange(),
            routing_key,
            BasicPublishOptions::default(),
            body,
            BasicProperties::default()
                .with_message_id(message_id.to_string().into())
                .with_type(routing_key.into())
                .with_content_type("application/json".into())
                .with_delivery_mode(2),
        )
        .await
        .expect("publish")
        .await
        .expect("published");
}

pub fn fulfilled(session_id: &str, customer_email: Option<&str>) -> OrderFulfilled {
    OrderFulfilled {
        version: VERSION,
        session_id: session_id.into(),
        account: None,
        order_number: 1042,
        customer_name: Some("Jenny Rosen".into()),
        customer_email: customer_email.map(str::to_owned),
        currency: Some("usd".into()),
        amount_total: Some(4500),
        fulfilled_by: Some("webhook".into()),
        fulfilled_at: None,
        line_items: vec![AnnouncedLineItem {
            id: "li_1".into(),
            description: "T-shirt".into(),
            quantity: 2,
            price: Some("price_tshirt".into()),
            amount_total: 4500,
        }],
        shipping: None,
        access: Vec::new(),
        subscription: None,
    }
}

pub fn payment_failed(session_id: &str, customer_email: &str) -> OrderPaymentFailed {
    OrderPaymentFailed {
        version: VERSION,
        session_id: session_id.into(),
        account: None,
        customer_email: Some(customer_email.into()),
        customer_name: Some("Jenny Rosen".into()),
        amount_total: Some(4500),
        currency: Some("usd".into()),
    }
}

/// `(attempts, last_error, sent)` of the notification row, if there is one.
pub async fn notification(
    db: &TestDb,
    message_id: Uuid,
    channel: &str,
) -> Option<(i32, Option<String>, bool)> {
    sqlx::query_as(
        "SELECT attempts, last_error, sent_at IS NOT NULL FROM notifications \
         WHERE message_id = $1 AND channel = $2",
    )
    .bind(message_id)
    .bind(channel)
    .fetch_optional(&db.pool)
    .await
    .expect("read notifications")
}
