//! The test harness shared by every cross-service test: the real Postgres and RabbitMQ, and
//! stripe-sim in-process.
//!
//! - [`TestDb`]: a fresh, migrated database per test, dropped afterwards (and any that a crashed
//!   run left behind are swept after an hour).
//! - [`TestBroker`]: a unique name prefix per test so tests never consume each other's messages;
//!   its queues and exchanges are deleted afterwards.
//! - [`TestStack`]: both, plus a simulator, settings pointing at all three, and a `Fulfiller`.
//! - [`stack`]: every service (stripe-sim with webhooks, ingress, worker, landing) in-process.
//! - [`service`]: a service spawned in-process, stopped and drained the one way
//!   ([`service::RunningService::stop`]), failing when it does not drain in time.
//! - [`browser`]: headless Chromium over WebDriver, with screenshots under `target/artifacts/`.
//! - [`checkout_flow`]: the seeds' shop → payment page → success page steps, for any shop URL.
//! - [`probes`]: what a test reads back from Postgres (an order's state, its lines and
//!   announcements, an event's outcome), one way for every test.
//! - [`eventually`]: a bounded wait for an outcome (tests never sleep to let things settle).
//!
//! URLs come from `TEST_DATABASE_URL` and `TEST_AMQP_URL`, defaulting to the local services.
//! The benchmark tools (`bench/`) run on the same harness: [`TestDb::create_on`] and
//! [`TestBroker::with_tiers_on`] take the server a benchmark is pointed at instead.

pub mod browser;
pub mod browser_log;
pub mod checkout_flow;
pub mod deploy_support;
pub mod ingress_support;
pub mod landing_support;
pub mod notifier_support;
pub mod probes;
pub mod security_support;
pub mod service;
pub mod smtp;
pub mod stack;
pub mod worker_support;

use std::future::Future;
use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::Channel;
use secrecy::{ExposeSecret, SecretString};
use shared::queue::Topology;
use shared::settings::Uses;
use shared::stripe::StripeClient;
use shared::{Fulfiller, Settings};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use stripe_sim::{RunningSim, SimConfig};

/// The key the harness's simulator accepts and its clients send.
pub const SIM_KEY: &str = "sk_test_harness_key";
/// The webhook secret test settings accept.
pub const WEBHOOK_SECRET: &str = "whsec_harness_secret";

/// Test databases older than this are assumed abandoned by a crashed run.
const STALE_AFTER_SECS: u64 = 3600;

pub fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".to_owned())
}

pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// A port nothing listens on right now, for a child process (chromedriver, the SMTP server,
/// Caddy, a compose project, a RabbitMQ node) to bind a moment later. A service started
/// in-process is handed a listener bound once instead (e.g. `ingress::Application::build_on`),
/// which leaves no window.
///
/// It is drawn at random from below the kernel's ephemeral range (32768–60999 on Linux by
/// default): a port the kernel handed out for a bind to port 0 or an outgoing connection could
/// be handed out again to another test's server or client during that moment.
pub fn free_port() -> u16 {
    free_port_in(20_000..32_768)
}

/// [`free_port`] from `range`; falls back to the kernel's choice if none is free there.
pub fn free_port_in(range: std::ops::Range<u16>) -> u16 {
    let span = u32::from(range.end - range.start);
    for _ in 0..64 {
        let draw = (uuid::Uuid::new_v4().as_u128() % u128::from(span)) as u16;
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", range.start + draw)) {
            return listener.local_addr().expect("a bound address").port();
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// A fresh database, migrated, dropped when the value is dropped.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
    /// The server's administrative database, which creates and drops this one.
    pub admin_url: String,
}

impl TestDb {
    /// A database on the server of `TEST_DATABASE_URL` (or the local one).
    pub async fn create() -> TestDb {
        Self::create_on(&admin_database_url()).await
    }

    /// A database on the server whose administrative database is `admin_url` (a benchmark's
    /// `--database`); its query (`?options=…`) carries over to the new database's URL.
    pub async fn create_on(admin_url: &str) -> TestDb {
        let admin: PgConnectOptions = admin_url.parse().expect("a postgres URL");
        let mut conn = admin.connect().await.unwrap_or_else(|e| {
            panic!("cannot reach Postgres at {admin_url} (is it running? see README): {e}")
        });
        sweep_stale_databases(&mut conn).await;
        let name = format!("fft_{}_{}", unix_now(), short_id());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        conn.close().await.ok();
        let options = admin.database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .connect_with(options)
            .await
            .expect("connect to the test database");
        shared::store::migrate(&pool)
            .await
            .expect("migrations apply");
        let url = replace_database(admin_url, &name);
        TestDb {
            name,
            url,
            pool,
            admin_url: admin_url.to_owned(),
        }
    }

    /// A second, independent pool on the same database (to prove two processes agree).
    pub async fn another_pool(&self, max_connections: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(&self.url)
            .await
            .expect("connect a second pool")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (name, admin_url) = (self.name.clone(), self.admin_url.clone());
        // Drop cannot await; a thread with its own runtime can. The pool is not closed first:
        // its connections belong to the test's runtime, which is blocked here. FORCE ends them
        // server-side instead.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async move {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                    }
                });
            }
        })
        .join();
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("a database URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

async fn sweep_stale_databases(conn: &mut sqlx::PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'fft\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    let now = unix_now();
    for name in names {
        let created = name.split('_').nth(1).and_then(|t| t.parse::<u64>().ok());
        if created.is_some_and(|t| now.saturating_sub(t) > STALE_AFTER_SECS) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *conn)
                .await;
        }
    }
}

/// A unique topology on the real broker, deleted when dropped.
#[derive(Debug)]
pub struct TestBroker {
    pub prefix: String,
    pub topology: Topology,
    pub connection: lapin::Connection,
    pub channel: Channel,
    /// The broker it is declared on, for the clean-up in `Drop`.
    url: SecretString,
}

impl TestBroker {
    /// Declares a fresh topology with test-sized retry tiers.
    pub async fn create() -> TestBroker {
        Self::with_tiers(
            vec![Duration::from_millis(200), Duration::from_millis(400)],
            5,
        )
        .await
    }

    /// A fresh topology with these retry tiers and delivery limit, on the broker of
    /// `TEST_AMQP_URL` (or the local one).
    pub async fn with_tiers(tiers: Vec<Duration>, delivery_limit: u32) -> TestBroker {
        Self::with_tiers_on(&amqp_url(), tiers, delivery_limit).await
    }

    /// The same on the broker at `amqp_url` (a benchmark's `--amqp`).
    pub async fn with_tiers_on(
        amqp_url: &str,
        tiers: Vec<Duration>,
        delivery_limit: u32,
    ) -> TestBroker {
        let prefix = format!("t{}.", short_id());
        let topology = Topology::new(prefix.clone(), tiers, delivery_limit);
        let url = SecretString::from(amqp_url.to_owned());
        let connection = shared::queue::connect(&url, "test-harness")
            .await
            .unwrap_or_else(|e| {
                panic!("cannot reach RabbitMQ at {amqp_url} (is it running?): {e}")
            });
        let channel = connection.create_channel().await.expect("open a channel");
        topology
            .declare(&channel)
            .await
            .expect("declare the topology");
        TestBroker {
            prefix,
            topology,
            connection,
            channel,
            url,
        }
    }

    /// Messages ready in `queue` (not counting unacked ones).
    pub async fn depth(&self, queue: &str) -> u32 {
        self.channel
            .queue_declare(
                queue,
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("the queue exists")
            .message_count()
    }

    /// Gets one message from `queue` without waiting, acking it.
    pub async fn get(&self, queue: &str) -> Option<lapin::message::BasicGetMessage> {
        let message = self
            .channel
            .basic_get(queue, lapin::options::BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get");
        message
    }

    /// Waits (bounded) for one message on `queue`.
    pub async fn next(
        &self,
        queue: &str,
        timeout: Duration,
    ) -> Option<lapin::message::BasicGetMessage> {
        eventually(timeout, || async { self.get(queue).await }).await
    }

    /// Declares and binds an extra queue to an exchange (e.g. to watch `orders`). It is read
    /// with `basic.get`, never consumed, so `auto_delete` would never remove it: `x-expires`
    /// does, a minute after the test stops reading it.
    pub async fn watch(&self, exchange: &str, routing_key: &str) -> String {
        let queue = format!("{}watch.{}", self.prefix, short_id());
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-expires".into(),
            lapin::types::AMQPValue::LongUInt(60_000),
        );
        self.channel
            .queue_declare(
                &queue,
                QueueDeclareOptions {
                    durable: false,
                    ..Default::default()
                },
                arguments,
            )
            .await
            .expect("declare a watch queue");
        self.channel
            .queue_bind(
                &queue,
                exchange,
                routing_key,
                Default::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind the watch queue");
        queue
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let topology = self.topology.clone();
        let url = SecretString::from(self.url.expose_secret().to_owned());
        block_on_aside(async move {
            let Ok(connection) = shared::queue::connect(&url, "test-cleanup").await else {
                return;
            };
            if let Ok(channel) = connection.create_channel().await {
                let _ = topology.delete(&channel).await;
            }
            let _ = connection.close(200, "test done").await;
        });
    }
}

/// Runs `work` to completion on a thread of its own with its own runtime: for clean-ups in
/// `Drop`, which cannot await and may run inside (or outside) a runtime.
pub fn block_on_aside(work: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(work);
        }
    })
    .join();
}

/// Settings for services under test, pointing at `db`, `broker` and the simulator at `sim_url`,
/// then changed by the test's `edit` (so the test's values win) and checked as every service
/// checks its settings at start-up.
///
/// The harness's own values go through `Settings::load_from`, the path a service's environment
/// takes; a test's changes are typed (`|s| s.worker.prefetch = 2`). Env strings stay where they
/// go to a child process, or where the parsing itself is what a test checks.
pub fn settings(
    db: &TestDb,
    broker: &TestBroker,
    sim_url: &str,
    edit: impl FnOnce(&mut Settings),
) -> Settings {
    let tiers = broker
        .topology
        .retry_tiers()
        .iter()
        .map(|d| d.as_millis().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let vars: Vec<(String, String)> = vec![
        ("APP_DATABASE__URL".into(), db.url.clone()),
        ("APP_BROKER__URL".into(), amqp_url()),
        ("APP_BROKER__PREFIX".into(), broker.prefix.clone()),
        ("APP_BROKER__RETRY_TIERS_MS".into(), tiers),
        // Declared by the harness already: a different value would be refused by RabbitMQ.
        (
            "APP_BROKER__DELIVERY_LIMIT".into(),
            broker.topology.delivery_limit().to_string(),
        ),
        ("APP_STRIPE__API_BASE".into(), sim_url.to_owned()),
        ("APP_STRIPE__SECRET_KEY".into(), SIM_KEY.into()),
        // Test-sized backoff, and no client-side throttling unless a test asks for it.
        ("APP_STRIPE__RETRY_BASE_MS".into(), "10".into()),
        ("APP_STRIPE__RETRY_MAX_MS".into(), "50".into()),
        ("APP_STRIPE__RATE_LIMIT_PER_SEC".into(), "10000".into()),
        ("APP_WEBHOOK__SECRETS".into(), WEBHOOK_SECRET.into()),
        ("APP_BROKER__RECONNECT_MIN_MS".into(), "50".into()),
        ("APP_BROKER__RECONNECT_MAX_MS".into(), "500".into()),
        // Required of the console; a test that builds one sets its own operators.
        (
            "APP_CONSOLE__OPERATORS".into(),
            "# no operator: set by the console's tests".into(),
        ),
    ];
    let mut settings =
        Settings::load_from(Uses::ALL, vars).expect("the harness's settings are valid");
    edit(&mut settings);
    settings.check(Uses::ALL).expect("test settings are valid");
    settings
}

/// A simulator accepting [`SIM_KEY`].
pub async fn start_sim() -> RunningSim {
    RunningSim::start(SimConfig {
        api_keys: vec![SIM_KEY.to_owned()],
        ..SimConfig::default()
    })
    .await
    .expect("stripe-sim starts")
}

/// A simulator accepting [`SIM_KEY`] that limits the account as Stripe does: past `per_sec`
/// requests in any one second, from all callers together, it answers 429 `rate_limit`.
pub async fn start_rate_limited_sim(per_sec: u32) -> RunningSim {
    RunningSim::start(SimConfig {
        api_keys: vec![SIM_KEY.to_owned()],
        rate_limit_per_sec: std::num::NonZeroU32::new(per_sec),
        ..SimConfig::default()
    })
    .await
    .expect("stripe-sim starts")
}

/// Everything a fulfillment test needs.
#[derive(Debug)]
pub struct TestStack {
    pub db: TestDb,
    pub broker: TestBroker,
    pub sim: RunningSim,
    pub settings: Settings,
    pub stripe: StripeClient,
    pub fulfiller: Fulfiller,
}

impl TestStack {
    pub async fn start() -> TestStack {
        Self::start_with(|_| {}).await
    }

    /// A stack whose settings are then changed by `edit`
    /// (e.g. `|s| s.database.lock_timeout_ms = 300`).
    pub async fn start_with(edit: impl FnOnce(&mut Settings)) -> TestStack {
        Self::start_on(start_sim().await, edit).await
    }

    /// A stack whose services call `sim`, its settings changed by `edit`.
    pub async fn start_on(sim: RunningSim, edit: impl FnOnce(&mut Settings)) -> TestStack {
        let (db, broker) = tokio::join!(TestDb::create(), TestBroker::create());
        let settings = settings(&db, &broker, &sim.base_url, edit);
        let stripe = StripeClient::new(&settings.stripe).expect("build the Stripe client");
        let fulfiller = Fulfiller::from_settings(db.pool.clone(), stripe.clone(), &settings);
        TestStack {
            db,
            broker,
            sim,
            settings,
            stripe,
            fulfiller,
        }
    }
}

/// Polls `probe` until it yields `Some`, for at most `timeout`. The bounded wait every test uses
/// instead of sleeping.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut interval = Duration::from_millis(5);
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        // The pause between two probes of a bounded wait (backing off to 100 ms), not a wait
        // for things to settle: the outcome is what `probe` checks.
        tokio::time::sleep(interval.min(deadline - tokio::time::Instant::now())).await;
        interval = (interval * 2).min(Duration::from_millis(100));
    }
}

/// Creates an open session in the simulator for `items` (catalog price id, quantity).
pub fn open_session(sim: &RunningSim, items: &[(&str, i64)]) -> shared::CheckoutSessionId {
    let params = stripe_sim::CreateSession {
        line_items: items
            .iter()
            .map(|(price, qty)| stripe_sim::LineItemParams::catalog(price, *qty))
            .collect(),
        success_url: Some("http://127.0.0.1/order/success?session_id={CHECKOUT_SESSION_ID}".into()),
        cancel_url: Some("http://127.0.0.1/order/cancel".into()),
        ..Default::default()
    };
    let session = sim
        .state
        .create_session(params)
        .expect("the simulator creates the session");
    let id = session["id"].as_str().expect("a session has an id");
    shared::CheckoutSessionId::parse(id).expect("the simulator's ids parse")
}

/// Creates a session and completes it with `outcome`, paid by `name`.
pub fn completed_session(
    sim: &RunningSim,
    items: &[(&str, i64)],
    outcome: stripe_sim::PaymentOutcome,
    name: &str,
) -> shared::CheckoutSessionId {
    completed_event(sim, items, outcome, name).0
}

/// [`completed_session`], with the `checkout.session.completed` event Stripe sends for it.
pub fn completed_event(
    sim: &RunningSim,
    items: &[(&str, i64)],
    outcome: stripe_sim::PaymentOutcome,
    name: &str,
) -> (shared::CheckoutSessionId, serde_json::Value) {
    let id = open_session(sim, items);
    let customer = stripe_sim::Customer {
        name: name.to_owned(),
        email: format!(
            "{}@example.com",
            name.to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), ".")
        ),
        shipping: None,
    };
    let event = sim
        .state
        .complete_session(id.as_str(), outcome, customer)
        .expect("the simulator completes the session");
    (id, event)
}

/// Creates a paid session (one T-shirt ×2 and a mug).
pub fn paid_session(sim: &RunningSim, name: &str) -> shared::CheckoutSessionId {
    completed_session(
        sim,
        &[("price_tshirt", 2), ("price_mug", 1)],
        stripe_sim::PaymentOutcome::Paid,
        name,
    )
}

/// `calls` concurrent webhook-triggered `fulfill_checkout`s of `id`, alternating between the
/// stack's fulfiller and a second process's (its own pool and Stripe client); their outcomes,
/// in call order. Every call must succeed. Neither waits for the other's claim: every call asks
/// Stripe, and the session's lock alone decides which one fulfills (G2 without the claims).
pub async fn race_fulfillments(
    stack: &TestStack,
    id: &shared::CheckoutSessionId,
    calls: usize,
) -> Vec<shared::FulfillmentOutcome> {
    let other = Fulfiller::new(
        stack.db.another_pool(10).await,
        StripeClient::new(&stack.settings.stripe).expect("a Stripe client"),
    );
    let this = stack.fulfiller.clone().waiting_for_claims(Duration::ZERO);
    let calls = (0..calls).map(|i| {
        let fulfiller = if i % 2 == 0 {
            this.clone()
        } else {
            other.clone()
        };
        let id = id.clone();
        tokio::spawn(async move {
            fulfiller
                .fulfill_checkout(&id, shared::Trigger::Webhook)
                .await
        })
    });
    futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|joined| {
            joined
                .expect("a fulfillment task")
                .expect("fulfill_checkout succeeds")
        })
        .collect()
}
