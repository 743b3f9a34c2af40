//! What the notifier tests share: a real SMTP server (Debian's aiosmtpd, storing every mail it
//! accepts in a maildir), a notifier running in-process against the test database and broker,
//! and a way to publish announcements the way the outbox relay does.

use std::path::PathBuf;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, QueueDeleteOptions};
use lapin::BasicProperties;
use secrecy::SecretString;
use shared::announcements::{AnnouncedLineItem, OrderFulfilled, OrderPaymentFailed, VERSION};
use tests::{eventually, TestBroker, TestDb};
use tokio::process::{Child, Command};
use uuid::Uuid;

/// The longest a test waits for an outcome.
pub const WAIT: Duration = Duration::from_secs(30);

/// Debian's aiosmtpd package installs for the system interpreter.
const PYTHON: &str = "/usr/bin/python3";

/// A port nothing listens on now (the SMTP server is started on it later, or never).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `python3 -m aiosmtpd` on `port`, every accepted mail a file in its maildir; killed when
/// dropped.
pub struct SmtpServer {
    child: Child,
    maildir: PathBuf,
}

/// One delivered mail: its headers and body as the server stored them.
#[derive(Debug, Clone)]
pub struct Mail {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Mail {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl SmtpServer {
    /// Starts the server and waits (bounded) until it accepts connections.
    pub async fn start(port: u16) -> SmtpServer {
        let maildir = std::env::temp_dir().join(format!("notifier-mail-{}", Uuid::new_v4()));
        let child = Command::new(PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .kill_on_drop(true)
            .spawn()
            .expect("aiosmtpd starts (apt-get install python3-aiosmtpd; scripts/ensure-services)");
        let listening = eventually(WAIT, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        assert!(listening.is_some(), "aiosmtpd listens on {port}");
        SmtpServer { child, maildir }
    }

    /// Every mail delivered so far.
    pub fn mails(&self) -> Vec<Mail> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
            .map(|text| parse_mail(&text))
            .collect()
    }

    /// Waits (bounded) until at least `count` mails arrived, and returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Mail> {
        eventually(WAIT, || async {
            let mails = self.mails();
            (mails.len() >= count).then_some(mails)
        })
        .await
        .unwrap_or_else(|| panic!("{count} mail(s) within {WAIT:?}; got {:?}", self.mails()))
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

/// Headers (unfolded) up to the first blank line, then the body.
fn parse_mail(text: &str) -> Mail {
    let text = text.replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    Mail {
        headers,
        body: body.to_owned(),
    }
}

/// A notifier running in-process; stopped (drained) by [`RunningNotifier::stop`].
pub struct RunningNotifier {
    pub port: u16,
    stop: notifier::StopHandle,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningNotifier {
    /// Declares the notifier's queue (so nothing published from now on misses it), then builds
    /// and starts the notifier with the test's settings plus `extra`.
    pub async fn start(db: &TestDb, broker: &TestBroker, extra: &[(&str, &str)]) -> Self {
        broker
            .topology
            .declare_notifier(&broker.channel)
            .await
            .expect("declare the notifier's queues");
        let mut vars = vec![
            ("APP_NOTIFIER__HOST", "127.0.0.1"),
            ("APP_NOTIFIER__PORT", "0"),
            // Test-sized backoff between attempts.
            ("APP_NOTIFIER__RETRY_MAX_MS", "300"),
            ("APP_NOTIFIER__SEND_TIMEOUT_MS", "5000"),
        ];
        vars.extend_from_slice(extra);
        let settings = tests::settings(db, broker, "http://127.0.0.1:9", &vars);
        let application = notifier::Application::build(settings)
            .await
            .expect("the notifier builds");
        let port = application.port();
        let stop = application.stop_handle();
        let task = tokio::spawn(application.run_until_stopped());
        RunningNotifier { port, stop, task }
    }

    /// SIGTERM's drain: returns once every delivery in hand is settled.
    pub async fn stop(self) {
        self.stop.stop();
        self.task
            .await
            .expect("the notifier task")
            .expect("the notifier stops cleanly");
    }
}

/// Deletes the notifier's queues and exchange (the harness deletes only its own topology).
pub struct NotifierQueues(pub shared::queue::Topology);

impl Drop for NotifierQueues {
    fn drop(&mut self) {
        let topology = self.0.clone();
        tests::block_on_aside(async move {
            let url = SecretString::from(tests::amqp_url());
            let Ok(connection) = shared::queue::connect(&url, "test-cleanup").await else {
                return;
            };
            if let Ok(channel) = connection.create_channel().await {
                for queue in [topology.notifier_queue(), topology.notifier_dead_queue()] {
                    let _ = channel
                        .queue_delete(&queue, QueueDeleteOptions::default())
                        .await;
                }
                let _ = channel
                    .exchange_delete(&topology.notifier_dead_exchange(), Default::default())
                    .await;
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
