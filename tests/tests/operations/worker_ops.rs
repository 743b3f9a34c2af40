//! What an operator sees: the ops endpoints, the metrics that say whether anything is stuck,
//! and `worker show`.

use tests::probes::wait_for_state;
use tests::worker_support::*;
use tests::{eventually, TestStack};
use worker::Application;

async fn metrics_text(worker: &RunningWorker) -> String {
    reqwest::get(worker.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn healthz_readyz_and_metrics_answer_and_the_metrics_count_deliveries() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;
    let (session_id, event) = paid_session(&stack.sim.state);
    publish_event(&stack, &channel, &event).await;
    assert!(wait_for_state(&stack.db.pool, &session_id, "fulfilled").await);

    let health = reqwest::get(worker.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = reqwest::get(worker.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["checks"]["consumer"], true);
    let metrics = metrics_text(&worker).await;
    for name in [
        "worker_deliveries_total{outcome=\"fulfilled\",type=\"checkout.session.completed\"}",
        "worker_processing_duration_seconds_bucket",
        "worker_event_to_fulfilled_seconds_bucket",
        "worker_outbox_lag_seconds",
        "worker_reconciler_lag_seconds",
        "worker_reconciler_leader",
        "worker_paid_unfulfilled_sessions",
        "worker_dead_lettered_total",
        "worker_retries_total",
        "stripe_api_requests_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    worker.shutdown().await;
}

#[tokio::test]
async fn readyz_names_the_dependency_that_is_down() {
    let stack = TestStack::start().await;
    let url = format!(
        "postgres://postgres@127.0.0.1:5432/missing_{}",
        uuid::Uuid::new_v4().simple()
    );
    let settings = tests::settings(&stack.db, &stack.broker, &stack.sim.base_url, |s| {
        worker_defaults(s);
        s.database.url = url.into();
        s.database.acquire_timeout_ms = 300;
    });
    let app = Application::build(settings).await.unwrap();
    let url = format!("http://127.0.0.1:{}/readyz", app.port());
    let stop = app.stop_handle();
    let running = tokio::spawn(app.run_until_stopped());

    let answer = eventually(WAIT, || async {
        let response = reqwest::get(&url).await.ok()?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.ok()?;
        // Wait until the broker side is up, so only the database is to blame.
        (body["checks"]["consumer"] == true).then_some((status, body))
    })
    .await
    .expect("readyz answers");

    assert_eq!(answer.0, 503);
    assert_eq!(answer.1["checks"]["database"], false);
    assert_eq!(answer.1["ready"], false);
    stop.stop().await;
    tokio::time::timeout(WAIT, running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_payment_stuck_past_the_threshold_shows_in_the_paid_unfulfilled_gauge() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |s| s.worker.unfulfilled_threshold_secs = 60).await;
    let channel = publisher(&stack).await;
    // Paid ten minutes ago as far as the event says, and Stripe cannot find it: dead-lettered.
    let mut event = synthetic_event("evt_stuck_1", "checkout.session.completed", "cs_test_stuck");
    event["created"] = serde_json::json!(chrono::Utc::now().timestamp() - 600);
    publish_event(&stack, &channel, &event).await;
    assert!(stack
        .broker
        .next(&stack.broker.topology.dead_queue(), WAIT)
        .await
        .is_some());

    let stuck = eventually(WAIT, || async {
        metrics_text(&worker)
            .await
            .lines()
            .any(|l| l == "worker_paid_unfulfilled_sessions 1")
            .then_some(())
    })
    .await;

    assert!(stuck.is_some(), "the gauge shows the stuck session");
    worker.shutdown().await;
}

#[tokio::test]
async fn show_prints_the_state_the_lines_and_the_event_history_of_a_session() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;
    let (session_id, event) = paid_session(&stack.sim.state);
    publish_event(&stack, &channel, &event).await;
    assert!(wait_for_state(&stack.db.pool, &session_id, "fulfilled").await);
    worker.shutdown().await;
    let id = shared::CheckoutSessionId::parse(&session_id).unwrap();

    let report = worker::show::render(&stack.db.pool, None, &id)
        .await
        .unwrap()
        .expect("the session is known");

    for expected in [
        format!("session  {session_id}"),
        "state    fulfilled by webhook".to_owned(),
        "customer Jenny Rosen <jenny@example.com>".to_owned(),
        "total    40.00 USD".to_owned(),
        "2 x Stripe T-shirt  price_tshirt  40.00 USD".to_owned(),
        format!(
            "{}  outcome=fulfilled attempts=1",
            event["id"].as_str().unwrap()
        ),
    ] {
        assert!(report.contains(&expected), "{expected:?} not in:\n{report}");
    }
    let unknown = shared::CheckoutSessionId::parse("cs_test_neverseen").unwrap();
    assert!(worker::show::render(&stack.db.pool, None, &unknown)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_worker_given_fewer_connections_than_its_prefetch_refuses_to_start_naming_both_keys() {
    let stack = TestStack::start().await;
    let settings = tests::settings(&stack.db, &stack.broker, &stack.sim.base_url, |s| {
        worker_defaults(s);
        s.database.max_connections = 16;
        s.worker.prefetch = 32;
    });
    let refused = Application::build(settings)
        .await
        .expect_err("a pool of 16 cannot serve 32 deliveries at once");
    let shown = format!("{refused:#}");
    assert!(shown.contains("database.max_connections"), "{shown}");
    assert!(shown.contains("worker.prefetch (32)"), "{shown}");
}

#[tokio::test]
async fn each_key_issuing_product_shows_its_free_licence_keys_and_a_sale_takes_its_keys() {
    use shared::store::access::{self, ProductAccess};
    let stack = TestStack::start().await;
    for (product, licence_keys, url) in [
        ("prod_tshirt", true, None),
        ("prod_mug", true, None),
        (
            "prod_stickers",
            false,
            Some("https://shop.test/sticker-art"),
        ),
    ] {
        let given = ProductAccess {
            product_id: product.into(),
            title: product.into(),
            url: url.map(str::to_owned),
            licence_keys,
        };
        access::set(&stack.db.pool, &given).await.unwrap();
    }
    access::add_keys(
        &stack.db.pool,
        "prod_tshirt",
        &["T-1".into(), "T-2".into(), "T-3".into()],
    )
    .await
    .unwrap();
    let worker = start_worker(&stack, |_| {}).await;
    let shows = |expected: &'static [&'static str]| {
        let worker = &worker;
        async move {
            eventually(WAIT, || async {
                let metrics = metrics_text(worker).await;
                let lines: Vec<&str> = metrics
                    .lines()
                    .filter(|l| l.starts_with("worker_licence_keys_free{"))
                    .collect();
                (lines == expected).then_some(())
            })
            .await
            .is_some()
        }
    };
    // A pool that ran dry shows 0; a product that gives only a link has no series.
    assert!(
        shows(&[
            "worker_licence_keys_free{product=\"prod_mug\"} 0",
            "worker_licence_keys_free{product=\"prod_tshirt\"} 3",
        ])
        .await,
        "{}",
        metrics_text(&worker).await
    );

    // paid_session buys two T-shirts: a key each.
    let channel = publisher(&stack).await;
    let (id, event) = paid_session(&stack.sim.state);
    publish_event(&stack, &channel, &event).await;
    assert!(wait_for_state(&stack.db.pool, &id, "fulfilled").await);
    assert!(
        shows(&[
            "worker_licence_keys_free{product=\"prod_mug\"} 0",
            "worker_licence_keys_free{product=\"prod_tshirt\"} 1",
        ])
        .await,
        "{}",
        metrics_text(&worker).await
    );
    worker.shutdown().await;
}

/// One `stripe_events` row, as the worker records it.
async fn recorded_event(
    db: &tests::TestDb,
    (event_id, event_type, session_id, account): (&str, &str, &str, Option<&str>),
    outcome: &str,
    minutes_ago: i32,
) {
    sqlx::query(
        "INSERT INTO stripe_events (event_id, event_type, session_id, event_created, outcome, \
             last_error, account, last_processed_at) \
         VALUES ($1, $2, $3, now() - make_interval(mins => $4), $5, $6, $7, \
             now() - make_interval(mins => $4))",
    )
    .bind(event_id)
    .bind(event_type)
    .bind(session_id)
    .bind(minutes_ago)
    .bind(outcome)
    .bind(format!("{outcome} for {event_id}"))
    .bind(account)
    .execute(&db.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn each_stuck_paid_session_is_listed_and_counted_once_oldest_first() {
    use shared::store::events::{paid_unfulfilled, paid_unfulfilled_sessions};
    let db = tests::TestDb::create().await;
    const COMPLETED: &str = "checkout.session.completed";
    const SUCCEEDED: &str = "checkout.session.async_payment_succeeded";
    // Two stuck events of one session: it is listed once, with its latest word.
    recorded_event(&db, ("evt_a1", COMPLETED, "cs_a", None), "dead", 50).await;
    recorded_event(&db, ("evt_a2", SUCCEEDED, "cs_a", None), "retrying", 40).await;
    // Stuck, but its order is fulfilled (by the success page, say): not listed.
    recorded_event(&db, ("evt_b", COMPLETED, "cs_b", None), "dead", 30).await;
    sqlx::query(
        "INSERT INTO checkout_orders (session_id, account, state, fulfilled_by, fulfilled_at) \
         VALUES ('cs_b', '', 'fulfilled', 'landing', now())",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    // Settled: not listed.
    recorded_event(&db, ("evt_c", COMPLETED, "cs_c", None), "fulfilled", 20).await;
    // A connected account's, stuck for a minute only.
    recorded_event(
        &db,
        ("evt_d", COMPLETED, "cs_d", Some("acct_1")),
        "not_found",
        1,
    )
    .await;

    let listed: Vec<(String, Option<String>, String)> = paid_unfulfilled_sessions(&db.pool, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.session_id, s.account, s.event_id))
        .collect();
    assert_eq!(
        listed,
        [
            ("cs_a".to_owned(), None, "evt_a2".to_owned()),
            (
                "cs_d".to_owned(),
                Some("acct_1".to_owned()),
                "evt_d".to_owned()
            ),
        ]
    );
    assert_eq!(
        paid_unfulfilled_sessions(&db.pool, 1).await.unwrap().len(),
        1
    );
    // The gauge counts sessions, past its age threshold.
    let minutes = |m: u64| std::time::Duration::from_secs(m * 60);
    assert_eq!(paid_unfulfilled(&db.pool, minutes(0)).await.unwrap(), 2);
    assert_eq!(paid_unfulfilled(&db.pool, minutes(5)).await.unwrap(), 1);
    assert_eq!(paid_unfulfilled(&db.pool, minutes(45)).await.unwrap(), 1);
    assert_eq!(paid_unfulfilled(&db.pool, minutes(60)).await.unwrap(), 0);
}
