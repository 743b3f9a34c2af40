//! The whole stack in one test process: stripe-sim (hosted page + signed webhooks) → ingress →
//! RabbitMQ → worker → Postgres, and landing for the shop and the success page. Every service
//! is the real one, built with its `Application::build` on loopback.

use std::net::TcpListener;
use std::num::NonZeroU32;
use std::time::Duration;

use crate::service::RunningService;
use crate::{settings, TestBroker, TestDb, SIM_KEY, WEBHOOK_SECRET};
use shared::Settings;
use stripe_sim::{RunningSim, SimConfig, WebhookEndpoint};

/// How long the simulated Checkout waits for the webhook's 2xx before redirecting anyway. Real
/// Stripe waits 10 s; a test-sized wait keeps the "ingress is down" test short.
pub const REDIRECT_WAIT: Duration = Duration::from_secs(2);

/// The running stack; [`Stack::stop`] shuts every service down gracefully and fails the test
/// when one does not drain.
#[derive(Debug)]
pub struct Stack {
    pub db: TestDb,
    pub broker: TestBroker,
    pub sim: RunningSim,
    pub settings: Settings,
    /// `http://127.0.0.1:PORT` of the shop.
    pub shop: String,
    pub ingress_port: u16,
    ingress: Option<RunningService>,
    worker: RunningService,
    landing: RunningService,
}

/// A listener on a port of its own, bound once: its port goes into the settings and the
/// webhook endpoint before the service starts on it.
fn bound() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let port = listener.local_addr().expect("a bound address").port();
    (listener, port)
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(|_| {}).await
    }

    /// Starts the stack with its settings changed by `edit` after the stack's own (the test's
    /// values win). The simulator's base URL is `settings.stripe.api_base` by then, e.g.
    /// `|s| s.landing.stripe_js_url = format!("{}/v3", s.stripe.api_base)`.
    pub async fn start_with(edit: impl FnOnce(&mut Settings)) -> Stack {
        Self::start_with_account_limit(None, edit).await
    }

    /// Starts the stack against a simulator that answers 429 past `rate_limit_per_sec` requests
    /// in any one second (`None`: no limit), as Stripe limits an account.
    pub async fn start_with_account_limit(
        rate_limit_per_sec: Option<NonZeroU32>,
        edit: impl FnOnce(&mut Settings),
    ) -> Stack {
        let (db, broker) = tokio::join!(TestDb::create(), TestBroker::create());
        let sim = RunningSim::start(SimConfig {
            api_keys: vec![SIM_KEY.to_owned()],
            redirect_wait: REDIRECT_WAIT,
            retry_schedule: [300, 600, 1200, 2400, 4800]
                .map(Duration::from_millis)
                .to_vec(),
            rate_limit_per_sec,
            ..SimConfig::default()
        })
        .await
        .expect("stripe-sim starts");
        // Bound now, so that the success URL and the webhook endpoint are known before the
        // services start; a restarted ingress binds the same port again.
        let (ingress_listener, ingress_port) = bound();
        let (landing_listener, landing_port) = bound();
        let shop = format!("http://127.0.0.1:{landing_port}");
        let settings = settings(&db, &broker, &sim.base_url, |s| {
            s.ingress.host = "127.0.0.1".into();
            s.ingress.port = ingress_port;
            s.worker.host = "127.0.0.1".into();
            s.worker.port = 0;
            // The sweep is tested on its own; here every fulfillment comes from a webhook
            // or the success page.
            s.worker.reconcile_interval_secs = 0;
            s.landing.host = "127.0.0.1".into();
            s.landing.port = landing_port;
            s.landing.public_base_url = shop.clone();
            edit(s);
        });
        sim.state
            .set_webhook_endpoints(vec![WebhookEndpoint::new(
                format!("http://127.0.0.1:{ingress_port}/webhook"),
                &[WEBHOOK_SECRET],
            )])
            .expect("a valid endpoint");

        let worker = worker::Application::build(settings.clone())
            .await
            .expect("worker builds");
        let worker =
            RunningService::spawn("worker", worker.stop_handle(), worker.run_until_stopped());
        let landing = landing::Application::build_on(settings.clone(), landing_listener)
            .await
            .expect("landing builds");
        let landing = RunningService::spawn(
            "landing",
            landing.stop_handle(),
            landing.run_until_stopped(),
        );

        let mut stack = Stack {
            db,
            broker,
            sim,
            settings,
            shop,
            ingress_port,
            ingress: None,
            worker,
            landing,
        };
        stack.start_ingress_on(ingress_listener).await;
        stack
    }

    /// Starts ingress again on its port (after [`Self::stop_ingress`]) and waits until it is
    /// connected to the broker.
    pub async fn start_ingress(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.ingress_port))
            .expect("ingress's port is free again once it stopped");
        self.start_ingress_on(listener).await;
    }

    async fn start_ingress_on(&mut self, listener: TcpListener) {
        let app = ingress::Application::build_on(self.settings.clone(), listener)
            .await
            .expect("ingress builds");
        assert!(
            app.broker().wait_connected(Duration::from_secs(10)).await,
            "ingress connects to RabbitMQ"
        );
        self.ingress = Some(RunningService::spawn(
            "ingress",
            app.stop_handle(),
            app.run_until_stopped(),
        ));
    }

    /// Stops ingress and waits for its drain: Stripe's deliveries are refused until it starts
    /// again. Panics when it does not drain.
    pub async fn stop_ingress(&mut self) {
        if let Some(ingress) = self.ingress.take() {
            ingress.stop().await.expect("ingress drains");
        }
    }

    /// Rows of fulfilled orders for `id` (0 or 1: more would break G2).
    pub async fn fulfilled_orders(&self, id: &str) -> i64 {
        crate::probes::fulfilled_orders(&self.db.pool, id).await
    }

    /// (description, quantity, amount_total) of the delivered line items.
    pub async fn line_items(&self, id: &str) -> Vec<(String, i64, i64)> {
        sqlx::query_as(
            "SELECT description, quantity, amount_total FROM order_line_items \
             WHERE session_id = $1 ORDER BY position",
        )
        .bind(id)
        .fetch_all(&self.db.pool)
        .await
        .unwrap()
    }

    pub async fn fulfilled_by(&self, id: &str) -> Option<String> {
        sqlx::query_scalar("SELECT fulfilled_by FROM checkout_orders WHERE session_id = $1")
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await
            .unwrap()
            .flatten()
    }

    /// Stops ingress, then the worker, then landing, each gracefully, and waits for each to
    /// drain. Panics, naming every service that did not drain in time or did not stop cleanly.
    pub async fn stop(self) {
        let services = self.ingress.into_iter().chain([self.worker, self.landing]);
        let mut failures = Vec::new();
        for service in services {
            if let Err(e) = service.stop().await {
                failures.push(format!("{e:#}"));
            }
        }
        assert!(
            failures.is_empty(),
            "the stack did not stop cleanly: {}",
            failures.join("; ")
        );
    }
}
