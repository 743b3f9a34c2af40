//! Every metric the Grafana dashboard and the alert rules use must exist in what the services
//! really expose: a typo, a renamed metric or a label that is not there would leave a panel empty
//! and an alert silent, which no one notices until the day it matters.
//!
//! The ingress, a worker and landing run here (their `Application::build` on port 0) against a
//! fresh database, a unique broker topology and the simulator. Counters and histograms with
//! labels only appear in `/metrics` once a label set has been used, so the test drives the
//! situations behind the panels through the real services: a paid checkout by webhook, a Stripe
//! failure that goes through a retry tier, an event for a session Stripe does not know (dead-
//! lettered), a dead-letter copy the broker refuses (its queue is gone), the success page, the
//! readiness checks, and an operator's `worker reconcile`. Then it scrapes the three `/metrics`.
//! RabbitMQ's and Alertmanager's own metrics are checked in deploy_observability.rs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lapin::options::QueueDeleteOptions;
use shared::signature::{signature_header, unix_now};
use stripe_sim::{Fault, FaultKind, PaymentOutcome, RouteMatch};
use tests::deploy_support::promql::{exposed_labels, exposed_names, label_names, metric_names};
use tests::deploy_support::{dashboard_exprs, rule_exprs, PROMETHEUS_SYNTHETIC};
use tests::probes::wait_for_state;
use tests::service::RunningService;
use tests::{eventually, TestStack, WEBHOOK_SECRET};

const WAIT: Duration = Duration::from_secs(30);

/// Labels Prometheus adds to every series it scrapes.
const TARGET_LABELS: &[&str] = &["job", "instance"];

struct Services {
    ingress: u16,
    worker: u16,
    landing: u16,
    http: reqwest::Client,
}

impl Services {
    fn url(&self, port: u16, path: &str) -> String {
        format!("http://127.0.0.1:{port}{path}")
    }

    async fn webhook(&self, event: &serde_json::Value) -> reqwest::StatusCode {
        let body = serde_json::to_vec(event).unwrap();
        self.http
            .post(self.url(self.ingress, "/webhook"))
            .header(
                "Stripe-Signature",
                signature_header(&body, &[WEBHOOK_SECRET], unix_now()),
            )
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the ingress answers")
            .status()
    }

    async fn get(&self, port: u16, path: &str) -> (reqwest::StatusCode, String) {
        let response = self
            .http
            .get(self.url(port, path))
            .send()
            .await
            .expect("the service answers");
        (response.status(), response.text().await.unwrap_or_default())
    }

    async fn scrape(&self) -> BTreeMap<&'static str, String> {
        let mut out = BTreeMap::new();
        for (name, port) in [
            ("ingress", self.ingress),
            ("worker", self.worker),
            ("landing", self.landing),
        ] {
            let (status, body) = self.get(port, "/metrics").await;
            assert!(status.is_success(), "{name} /metrics answers {status}");
            out.insert(name, body);
        }
        out
    }

    async fn wait_ready(&self, name: &str, port: u16) {
        let ready = eventually(WAIT, || async {
            let (status, _) = self
                .http
                .get(self.url(port, "/readyz"))
                .send()
                .await
                .ok()
                .map(|r| (r.status(), ()))?;
            status.is_success().then_some(())
        })
        .await;
        assert!(ready.is_some(), "{name} becomes ready");
    }
}

async fn wait_fulfilled(stack: &TestStack, session: &str) {
    assert!(
        wait_for_state(&stack.db.pool, session, "fulfilled").await,
        "{session} is fulfilled"
    );
}

fn paid(stack: &TestStack, name: &str) -> (String, serde_json::Value) {
    let id = tests::open_session(&stack.sim, &[("price_tshirt", 1)]);
    let customer = stripe_sim::Customer {
        name: name.to_owned(),
        email: "metrics@example.com".into(),
        shipping: None,
    };
    let event = stack
        .sim
        .state
        .complete_session(id.as_str(), PaymentOutcome::Paid, customer)
        .unwrap();
    (id.as_str().to_owned(), event)
}

fn unknown_session_event() -> serde_json::Value {
    serde_json::json!({
        "id": format!("evt_{}", uuid::Uuid::new_v4().simple()),
        "object": "event",
        "api_version": "2024-06-20",
        "created": unix_now(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "checkout.session.completed",
        "data": {"object": {"id": format!("cs_test_{}", uuid::Uuid::new_v4().simple()), "object": "checkout.session"}},
    })
}

#[tokio::test]
async fn every_metric_and_label_the_dashboard_and_the_alert_rules_use_is_exposed_by_the_running_services(
) {
    let stack = TestStack::start_with(|s| {
        s.ingress.host = "127.0.0.1".into();
        s.ingress.port = 0;
        s.ingress.workers = 1;
        s.worker.host = "127.0.0.1".into();
        s.worker.port = 0;
        s.worker.outbox_interval_ms = 50;
        // No background sweeps: they would race this test's Stripe faults. The reconciler's
        // metrics come from an operator's one-shot `worker reconcile` below.
        s.worker.reconcile_interval_secs = 0;
        s.landing.host = "127.0.0.1".into();
        s.landing.port = 0;
        s.broker.delivery_limit = 5;
        // One Stripe failure fails one processing attempt.
        s.stripe.max_retries = 0;
    })
    .await;
    let settings = stack.settings.clone();
    // A product that issues licence keys, so the pool gauge has its series.
    shared::store::access::set(
        &stack.db.pool,
        &shared::store::access::ProductAccess {
            product_id: "prod_stickers".into(),
            title: "Sticker art (licence)".into(),
            url: None,
            licence_keys: true,
        },
    )
    .await
    .unwrap();

    let ingress = ingress::Application::build(settings.clone())
        .await
        .expect("the ingress builds");
    let worker = worker::Application::build(settings.clone())
        .await
        .expect("the worker builds");
    let landing = landing::Application::build(settings.clone())
        .await
        .expect("landing builds");
    let services = Services {
        ingress: ingress.port(),
        worker: worker.port(),
        landing: landing.port(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    let running = [
        RunningService::spawn(
            "ingress",
            ingress.stop_handle(),
            ingress.run_until_stopped(),
        ),
        RunningService::spawn("worker", worker.stop_handle(), worker.run_until_stopped()),
        RunningService::spawn(
            "landing",
            landing.stop_handle(),
            landing.run_until_stopped(),
        ),
    ];
    for (name, port) in [
        ("ingress", services.ingress),
        ("worker", services.worker),
        ("landing", services.landing),
    ] {
        services.wait_ready(name, port).await;
        // The container's HEALTHCHECK probe, against the real service.
        let probe = healthcheck::Probe::from_args([port.to_string()]).unwrap();
        assert_eq!(
            tokio::task::spawn_blocking(move || probe.run())
                .await
                .unwrap()
                .unwrap(),
            200,
            "{name} /healthz"
        );
    }

    // A paid checkout, by webhook: ingress → queue → worker; the outbox announces the order.
    let (paid_id, paid_event) = paid(&stack, "Metrics Webhook");
    assert_eq!(services.webhook(&paid_event).await, 200);
    wait_fulfilled(&stack, &paid_id).await;

    // Stripe fails once for a session: a retry tier, then fulfilled.
    let (retried_id, retried_event) = paid(&stack, "Metrics Retry");
    stack.sim.state.inject_fault(Fault {
        route: RouteMatch::new("GET", &format!("/v1/checkout/sessions/{retried_id}")),
        kind: FaultKind::Status500,
        count: 1,
    });
    assert_eq!(services.webhook(&retried_event).await, 200);
    wait_fulfilled(&stack, &retried_id).await;

    // An event for a session Stripe does not know: dead-lettered at once.
    let dead_queue = stack.broker.topology.dead_queue();
    assert_eq!(services.webhook(&unknown_session_event()).await, 200);
    let dead = eventually(WAIT, || async {
        (stack.broker.depth(&dead_queue).await >= 1).then_some(())
    })
    .await;
    assert!(
        dead.is_some(),
        "the unknown session's event reaches {dead_queue}"
    );

    // The dead-letter queue gone: the broker refuses the worker's dead-letter copy, which the
    // worker counts and hands back to the queue (until the delivery limit drops it).
    stack
        .broker
        .channel
        .queue_delete(&dead_queue, QueueDeleteOptions::default())
        .await
        .unwrap();
    assert_eq!(services.webhook(&unknown_session_event()).await, 200);
    let refused = eventually(WAIT, || async {
        let (_, body) = services.get(services.worker, "/metrics").await;
        body.contains("worker_republish_failures_total{")
            .then_some(())
    })
    .await;
    assert!(refused.is_some(), "the refused dead-letter copy is counted");

    // The customer's side: the shop, and a success page that fulfills before any webhook.
    let (status, shop) = services.get(services.landing, "/").await;
    assert!(
        status.is_success() && shop.contains("form_token"),
        "the shop page: {status}"
    );
    let (landing_id, _) = paid(&stack, "Metrics Landing");
    let (status, page) = services
        .get(
            services.landing,
            &format!("/order/success?session_id={landing_id}"),
        )
        .await;
    assert!(status.is_success(), "the success page: {status}");
    assert!(
        page.contains("Thanks for your order, Metrics Landing!"),
        "{page}"
    );

    // Readiness checks record each dependency.
    for port in [services.ingress, services.worker, services.landing] {
        let (status, _) = services.get(port, "/readyz").await;
        assert!(status.is_success());
    }

    // The operator's catch-up: reconcile the last hour once.
    worker::cli::run(
        Some(worker::cli::Command::Reconcile {
            since: unix_now() as i64 - 3600,
            until: None,
            account: None,
        }),
        settings.clone(),
    )
    .await
    .expect("worker reconcile succeeds");

    let scraped = services.scrape().await;
    for (service, body) in &scraped {
        let prefix = format!("{service}_");
        assert!(
            exposed_names(body).iter().any(|n| n.starts_with(&prefix)),
            "{service} exposes its own metrics"
        );
    }
    let all: String = scraped.values().cloned().collect::<Vec<_>>().join("\n");
    let names = exposed_names(&all);
    let labels = exposed_labels(&all);

    let mut checked = BTreeSet::new();
    let mut missing = Vec::new();
    for (source, expr) in dashboard_exprs().into_iter().chain(rule_exprs()) {
        let used: BTreeSet<String> = metric_names(&expr)
            .into_iter()
            .filter(|n| {
                !n.starts_with("rabbitmq_")
                    && !n.starts_with("alertmanager_")
                    && !PROMETHEUS_SYNTHETIC.contains(&n.as_str())
            })
            .collect();
        for name in &used {
            checked.insert(name.clone());
            if !names.contains(name) {
                missing.push(format!("{source}: metric {name} ({expr})"));
            }
        }
        // Every label the expression groups by or matches on is carried by one of its metrics
        // (only for expressions over the services' metrics alone).
        if used.is_empty()
            || metric_names(&expr)
                .iter()
                .any(|n| n.starts_with("rabbitmq_") || n == "up")
        {
            continue;
        }
        let carried: BTreeSet<&str> = used
            .iter()
            .flat_map(|n| labels.get(n).into_iter().flatten())
            .map(String::as_str)
            .chain(TARGET_LABELS.iter().copied())
            .collect();
        for label in label_names(&expr) {
            if !carried.contains(label.as_str()) {
                missing.push(format!("{source}: label {label} on {used:?} ({expr})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not exposed by the services:\n{}",
        missing.join("\n")
    );
    assert!(
        checked.len() >= 20,
        "the dashboard and the rules use the services' metrics: {checked:?}"
    );

    for service in running {
        service.stop().await.expect("the service drains");
    }
}
