//! The compose stack under container faults, with a ledger. Customers pay at a steady rate
//! (sessions created through stripe-sim's API and paid through its control API; stripe-sim then
//! delivers the signed webhooks to the ingress container and retries a non-2xx the way Stripe
//! does) while a worker is killed, RabbitMQ is restarted and Postgres is stopped for 20 s. At
//! the end the ledger of paid sessions and of acknowledged deliveries is joined with the orders:
//! lost 0, duplicated 0, unexpected 0, and every event the ingress acknowledged was processed
//! by a worker — no 2xx without a confirm. Last, every worker is stopped with an event waiting:
//! the alerts that page for it fire, and the event is fulfilled once the workers are back.
//!
//! The reconciler is switched off here (an override), so it cannot mask a lost event: whatever
//! is fulfilled went through the ingress and the queue. Where no Docker engine answers, the
//! test prints SKIPPED with the reason.

mod deploy_support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deploy_support::compose_stack::{build_images, docker, engine_unavailable, ComposeStack};
use serde_json::Value;
use tests::eventually;

const IMAGE_TAG: &str = "live-test";
const WORKERS: usize = 2;
/// Paid sessions per second while the faults happen.
const RATE: u64 = 10;
/// How long Postgres stays down.
const DATABASE_OUTAGE: Duration = Duration::from_secs(20);
/// After the faults: webhook retries (stripe-sim backs off 1, 2, 4 … s) and the workers' retry
/// tiers (1 s, 10 s, 1 min) must have caught up by then.
const CATCH_UP: Duration = Duration::from_secs(240);
const SIM_KEY: &str = "sk_test_local_development_only";

const NO_RECONCILER: &str = r#"
services:
  worker:
    environment:
      APP_WORKER__RECONCILE_INTERVAL_SECS: "0"
"#;

/// Sessions paid so far (their ids), and the payments the simulator refused.
#[derive(Debug, Default)]
struct Ledger {
    paid: Vec<String>,
    errors: Vec<String>,
}

/// Pays sessions at [`RATE`] per second until stopped.
struct Customers {
    ledger: Arc<Mutex<Ledger>>,
    running: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Customers {
    fn start(sim: String) -> Customers {
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let running = Arc::new(AtomicBool::new(true));
        let task = tokio::spawn({
            let (ledger, running) = (ledger.clone(), running.clone());
            async move {
                let client = reqwest::Client::new();
                let mut pace = tokio::time::interval(Duration::from_millis(1000 / RATE));
                let mut i = 0;
                while running.load(Ordering::Acquire) {
                    pace.tick().await;
                    i += 1;
                    let paid =
                        stripe_sim::load::events::create_and_pay(&client, &sim, SIM_KEY, i).await;
                    let mut ledger = ledger.lock().unwrap();
                    match paid {
                        Ok(event) => ledger.paid.push(
                            event["data"]["object"]["id"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        ),
                        Err(e) => ledger.errors.push(format!("{e:#}")),
                    }
                }
            }
        });
        Customers {
            ledger,
            running,
            task,
        }
    }

    async fn stop(self) -> Ledger {
        self.running.store(false, Ordering::Release);
        self.task.await.expect("the customers' task");
        Arc::try_unwrap(self.ledger)
            .expect("the task is done")
            .into_inner()
            .unwrap()
    }
}

fn count(stack: &ComposeStack, query: &str) -> usize {
    stack
        .sql(query)
        .parse()
        .unwrap_or_else(|_| panic!("{query}"))
}

/// Fulfilled orders, or `None` while Postgres does not answer.
fn fulfilled(stack: &ComposeStack) -> Option<usize> {
    stack
        .try_sql("SELECT count(*) FROM checkout_orders WHERE state = 'fulfilled'")?
        .parse()
        .ok()
}

/// Waits until `more` orders beyond `from` are fulfilled: the stack is working before the next
/// fault.
async fn orders_flow(stack: &ComposeStack, from: usize, more: usize, after: &str) -> usize {
    let reached = eventually(Duration::from_secs(120), || async {
        fulfilled(stack).filter(|now| *now >= from + more)
    })
    .await;
    reached.unwrap_or_else(|| {
        panic!(
            "orders stopped flowing {after}: {:?} fulfilled, wanted {}\n{}",
            fulfilled(stack),
            from + more,
            stack.logs()
        )
    })
}

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

/// Every webhook delivery stripe-sim made, with its attempts.
async fn deliveries(stack: &ComposeStack) -> Vec<Value> {
    let list: Value = reqwest::get(format!("{}/_sim/deliveries", stack.sim))
        .await
        .expect("stripe-sim answers")
        .json()
        .await
        .expect("a delivery list");
    list["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_workers_a_restarted_broker_and_a_stopped_database_lose_and_duplicate_nothing() {
    if let Some(reason) = engine_unavailable() {
        println!("SKIPPED: the compose fault test needs a Docker engine: {reason}");
        return;
    }
    build_images(IMAGE_TAG);
    let stack = ComposeStack::new(IMAGE_TAG).with_override(NO_RECONCILER);
    stack.up(WORKERS).await;

    let customers = Customers::start(stack.sim.clone());
    let started = Instant::now();
    let load_began_ms = chrono::Utc::now().timestamp_millis();
    let mut seen = orders_flow(&stack, 0, 20, "at the start").await;

    // 1. A worker dies mid-load (SIGKILL: no drain). Its unacked deliveries go to the other.
    let victim = stack
        .containers()
        .into_iter()
        .find(|c| c.service == "worker" && c.status == "running")
        .expect("a running worker");
    docker(&["kill", &victim.id]);
    println!("[faults] killed {} at {:?}", victim.name, started.elapsed());
    seen = orders_flow(&stack, seen, 20, "after a worker was killed").await;

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
    assert!(
        ledger.errors.is_empty(),
        "stripe-sim refused payments: {:?}",
        ledger.errors
    );

    // Every paid session fulfilled, once.
    let paid: BTreeSet<String> = ledger.paid.iter().cloned().collect();
    assert_eq!(paid.len(), ledger.paid.len(), "session ids are unique");
    let caught_up = eventually(CATCH_UP, || async {
        fulfilled(&stack).filter(|n| *n >= paid.len())
    })
    .await;
    let in_db: BTreeSet<String> = stack
        .sql("SELECT session_id FROM checkout_orders WHERE state = 'fulfilled'")
        .lines()
        .map(str::to_owned)
        .collect();
    let lost: Vec<&String> = paid.difference(&in_db).collect();
    let unexpected: Vec<&String> = in_db.difference(&paid).collect();
    assert!(
        caught_up.is_some() && lost.is_empty(),
        "lost: {} of {} paid sessions are not fulfilled, e.g. {:?}\n{}",
        lost.len(),
        paid.len(),
        lost.iter().take(5).collect::<Vec<_>>(),
        stack.logs()
    );
    assert!(unexpected.is_empty(), "unexpected orders: {unexpected:?}");
    assert_eq!(
        count(&stack, "SELECT count(*) FROM checkout_orders"),
        paid.len(),
        "one order per paid session"
    );
    let duplicated = count(
        &stack,
        "SELECT count(*) FROM (SELECT session_id FROM outbox WHERE topic = 'order.fulfilled' \
         GROUP BY session_id HAVING count(*) > 1) d",
    );
    assert_eq!(
        duplicated, 0,
        "one order.fulfilled announcement per session"
    );
    assert_eq!(
        count(&stack, "SELECT count(*) FROM order_line_items"),
        paid.len(),
        "one line per order (each session bought one line of T-shirts)"
    );

    // No 2xx without a confirm: every event the ingress acknowledged reached a worker.
    let all = deliveries(&stack).await;
    let acknowledged: BTreeSet<String> = all
        .iter()
        .filter(|d| d["status"] == "succeeded")
        .filter_map(|d| d["event"].as_str().map(str::to_owned))
        .collect();
    // The attempts that got no 2xx, by what they got and when (seconds since the load began).
    let mut refused: std::collections::BTreeMap<String, (usize, f64, f64)> = Default::default();
    for attempt in all
        .iter()
        .flat_map(|d| d["attempts"].as_array().cloned().unwrap_or_default())
        .filter(|a| {
            !a["status"]
                .as_u64()
                .is_some_and(|s| (200..300).contains(&s))
        })
    {
        let what = match attempt["status"].as_u64() {
            Some(status) => format!("HTTP {status}"),
            None => attempt["outcome"].as_str().unwrap_or("?").to_owned(),
        };
        let at = (attempt["sent_at_ms"].as_i64().unwrap_or(0) - load_began_ms) as f64 / 1000.0;
        let entry = refused.entry(what).or_insert((0, f64::MAX, f64::MIN));
        *entry = (entry.0 + 1, entry.1.min(at), entry.2.max(at));
    }
    println!(
        "[faults] {} deliveries, {} acknowledged; attempts without a 2xx (retried by \
         stripe-sim), as (count, first s, last s): {refused:?}",
        all.len(),
        acknowledged.len()
    );
    // Refusals are the ingress's fast 503 while RabbitMQ restarts, and only then: no timeouts,
    // no connection errors, and not for long.
    for (what, (_, first, last)) in &refused {
        assert_eq!(
            what, "HTTP 503",
            "only 503s, never a hang or a reset: {refused:?}"
        );
        assert!(
            last - first < 30.0,
            "the ingress refused for {:.1} s, not briefly: {refused:?}",
            last - first
        );
    }
    assert_eq!(
        acknowledged.len(),
        paid.len(),
        "every paid session's event was acknowledged in the end: {:?}",
        all.iter()
            .filter(|d| d["status"] != "succeeded")
            .take(5)
            .collect::<Vec<_>>()
    );
    let processed: BTreeSet<String> = stack
        .sql("SELECT event_id FROM stripe_events")
        .lines()
        .map(str::to_owned)
        .collect();
    let unprocessed: Vec<&String> = acknowledged.difference(&processed).collect();
    assert!(
        unprocessed.is_empty(),
        "acknowledged but never processed (a 2xx without a confirm): {unprocessed:?}"
    );

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
