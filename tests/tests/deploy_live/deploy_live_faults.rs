//! The compose stack under container faults, with a ledger. Customers pay at a steady rate
//! (sessions created through stripe-sim's API and paid through its control API; stripe-sim then
//! delivers the signed webhooks to the ingress container and retries a non-2xx the way Stripe
//! does) while a worker is killed, RabbitMQ is restarted and Postgres is stopped for 20 s. At
//! the end the ledger of paid sessions and of acknowledged deliveries is joined with the orders:
//! lost 0, duplicated 0, unexpected 0, and every event the ingress acknowledged was processed
//! by a worker — no 2xx without a confirm. The notifier is killed with the worker: every
//! fulfilled order's confirmation still reaches the mailbox, and a repeat (a kill between a send
//! and its record) carries the same Message-ID. Last, every worker is stopped with an event waiting:
//! the alerts that page for it fire, and the event is fulfilled once the workers are back.
//!
//! The reconciler is switched off here (an override), so it cannot mask a lost event: whatever
//! is fulfilled went through the ingress and the queue. Where no Docker engine answers, the
//! test prints SKIPPED with the reason.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::deploy_support::compose_stack::{
    build_images, docker, engine_unavailable, ComposeStack,
};
use tests::deploy_support::ledger::{
    assert_nothing_lost_or_duplicated, orders_flow, Customers, FAULT_RUN, SIM_KEY,
};
use tests::eventually;

const IMAGE_TAG: &str = "live-test";
const WORKERS: usize = 2;
/// Paid sessions per second while the faults happen.
const RATE: u64 = 10;
/// How long Postgres stays down.
const DATABASE_OUTAGE: Duration = Duration::from_secs(20);
/// The longest the ingress may keep refusing webhooks (RabbitMQ's restart).
const REFUSING_AT_MOST: Duration = Duration::from_secs(30);
/// After the faults: webhook retries (stripe-sim backs off 1, 2, 4 … s) and the workers' retry
/// tiers (1 s, 10 s, 1 min) must have caught up by then.
const CATCH_UP: Duration = Duration::from_secs(240);

/// The worker-reported `dependency_up{dependency="database"}`, as Prometheus last scraped it.
async fn worker_database_up(stack: &ComposeStack) -> Option<f64> {
    let answer: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/query", stack.prometheus))
        .query(&[(
            "query",
            r#"min(dependency_up{job="worker",dependency="database"})"#,
        )])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    answer["data"]["result"][0]["value"][1]
        .as_str()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_workers_a_restarted_broker_and_a_stopped_database_lose_and_duplicate_nothing() {
    if let Some(reason) = engine_unavailable() {
        println!("SKIPPED: the compose fault test needs a Docker engine: {reason}");
        return;
    }
    build_images(IMAGE_TAG);
    let stack = ComposeStack::new(IMAGE_TAG).with_override(FAULT_RUN);
    stack.up(WORKERS).await;

    let customers = Customers::start(stack.sim.clone(), RATE);
    let started = Instant::now();
    let load_began_ms = chrono::Utc::now().timestamp_millis();
    let mut seen = orders_flow(&stack, 0, 20, "at the start").await;

    // 1. A worker and the notifier die mid-load (SIGKILL: no drain). The worker's unacked
    //    deliveries go to the other; the notifier's wait for it to come back.
    let running = |service: &str| {
        stack
            .containers()
            .into_iter()
            .find(|c| c.service == service && c.status == "running")
            .unwrap_or_else(|| panic!("a running {service}"))
    };
    let (victim, notifier) = (running("worker"), running("notifier"));
    docker(&["kill", &victim.id, &notifier.id]);
    println!(
        "[faults] killed {} and {} at {:?}",
        victim.name,
        notifier.name,
        started.elapsed()
    );
    seen = orders_flow(&stack, seen, 20, "after a worker was killed").await;
    docker(&["start", &notifier.id]);
    println!(
        "[faults] started {} at {:?}",
        notifier.name,
        started.elapsed()
    );

    // 2. RabbitMQ restarts under load: the ingress answers 503 meanwhile (stripe-sim retries),
    //    and every service reconnects by itself.
    stack.compose_ok(&["restart", "rabbitmq"]);
    println!("[faults] restarted rabbitmq at {:?}", started.elapsed());
    seen = orders_flow(&stack, seen, 20, "after RabbitMQ restarted").await;

    // 3. Postgres stops for 20 s. The workers' scrapes say so (nobody calls /readyz here).
    stack.compose_ok(&["stop", "postgres"]);
    let stopped = Instant::now();
    println!("[faults] stopped postgres at {:?}", started.elapsed());
    let reported = eventually(Duration::from_secs(45), || async {
        (worker_database_up(&stack).await == Some(0.0)).then_some(())
    })
    .await;
    if let Some(rest) = DATABASE_OUTAGE.checked_sub(stopped.elapsed()) {
        // Not a wait for things to settle: this is the fault itself, Postgres down for 20 s.
        tokio::time::sleep(rest).await;
    }
    stack.compose_ok(&["start", "postgres"]);
    println!("[faults] started postgres at {:?}", started.elapsed());
    assert!(
        reported.is_some(),
        "Prometheus saw dependency_up{{dependency=\"database\"}} 0 from the workers while \
         Postgres was down (it saw {:?})",
        worker_database_up(&stack).await
    );
    orders_flow(&stack, seen, 20, "after Postgres came back").await;

    let ledger = customers.stop().await;
    println!(
        "[faults] {} sessions paid in {:?}; {} payments refused",
        ledger.paid.len(),
        started.elapsed(),
        ledger.errors.len()
    );
    assert_nothing_lost_or_duplicated(&stack, &ledger, load_began_ms, CATCH_UP, REFUSING_AT_MOST)
        .await;
    assert_every_order_mailed(&stack).await;

    // 4. Every worker down pages someone, although their targets vanish from Prometheus
    //    instead of reading 0: RabbitMQ's own consumer count, and the absent worker series.
    stack.compose_ok(&["stop", "worker"]);
    let waiting = stripe_sim::load::events::create_and_pay(
        &reqwest::Client::new(),
        &stack.sim,
        SIM_KEY,
        ledger.paid.len() + 1,
    )
    .await
    .expect("one more customer pays");
    let firing = eventually(ALERT_TIMEOUT, || async {
        let firing = firing_alerts(&stack).await;
        ALL_WORKERS_DOWN
            .iter()
            .all(|a| firing.contains(*a))
            .then_some(firing)
    })
    .await;
    assert!(
        firing.is_some(),
        "with every worker stopped and an event waiting, {ALL_WORKERS_DOWN:?} fire (firing: \
         {:?})",
        firing_alerts(&stack).await
    );
    stack.compose_ok(&["start", "worker"]);
    let session = waiting["data"]["object"]["id"].as_str().unwrap().to_owned();
    let served = eventually(CATCH_UP, || async {
        stack
            .try_sql(&format!(
                "SELECT state FROM checkout_orders WHERE session_id = '{session}'"
            ))
            .filter(|state| state == "fulfilled")
    })
    .await;
    assert!(
        served.is_some(),
        "the waiting event is fulfilled once workers are back"
    );

    let mut stack = stack;
    stack.down();
}

/// Every fulfilled order's confirmation is in the sim profile's mailbox (a different
/// Message-ID per order), and a repeat is the same mail again: the notifier killed between a
/// send and its record resends with the same Message-ID, which mail clients drop.
async fn assert_every_order_mailed(stack: &ComposeStack) {
    let orders: usize = stack
        .sql("SELECT count(*) FROM checkout_orders WHERE state = 'fulfilled' AND customer_email IS NOT NULL")
        .parse()
        .expect("a count");
    let message_ids = || -> Vec<String> {
        stack
            .compose(&[
                "exec",
                "-T",
                "mailbox",
                "grep",
                "-rhi",
                "^Message-ID:",
                "/var/mail/sim/new",
            ])
            .stdout
            .split(|b| *b == b'\n')
            .map(|line| String::from_utf8_lossy(line).trim().to_owned())
            .filter(|line| !line.is_empty())
            .collect()
    };
    let mailed = eventually(MAIL_CATCH_UP, || async {
        let ids = message_ids();
        let distinct: BTreeSet<&String> = ids.iter().collect();
        (distinct.len() >= orders).then_some(())
    })
    .await;
    let ids = message_ids();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    println!(
        "[faults] {orders} orders with an address; {} confirmations, {} of them repeats",
        distinct.len(),
        ids.len() - distinct.len()
    );
    assert!(
        mailed.is_some(),
        "every order's confirmation reaches the mailbox within {MAIL_CATCH_UP:?}: {} of {orders}",
        distinct.len()
    );
    assert_eq!(
        distinct.len(),
        orders,
        "one confirmation per order, no mail for an order that is not there"
    );
}

/// After the orders caught up: the notifier's backlog from its restart, and its retries.
const MAIL_CATCH_UP: Duration = Duration::from_secs(120);

/// The alerts that page when no worker runs (deploy/prometheus/rules.yml).
const ALL_WORKERS_DOWN: [&str; 2] = ["FulfillmentQueueUnconsumed", "WorkersAbsent"];
/// Their `for:` (2 min at most) plus Prometheus's scrape, service-discovery and evaluation
/// intervals (15 s each).
const ALERT_TIMEOUT: Duration = Duration::from_secs(240);

/// The names of the alerts Prometheus has firing.
async fn firing_alerts(stack: &ComposeStack) -> BTreeSet<String> {
    let Ok(response) = reqwest::get(format!("{}/api/v1/alerts", stack.prometheus)).await else {
        return BTreeSet::new();
    };
    let alerts: Value = response.json().await.unwrap_or_default();
    alerts["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["state"] == "firing")
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_owned))
        .collect()
}
