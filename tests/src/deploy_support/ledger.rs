//! A ledger of paying customers for the live compose tests: sessions created through
//! stripe-sim's API and paid through its control API at a steady rate (stripe-sim then delivers
//! the signed webhooks to the ingress container and retries a non-2xx the way Stripe does), and
//! the final reckoning against the orders table and stripe-sim's delivery log: lost 0,
//! duplicated 0, unexpected 0, no 2xx without a confirm, refusals only brief.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::eventually;
use serde_json::Value;

use super::compose_stack::ComposeStack;

/// The simulator's development key, which the compose stack's sim profile uses.
pub const SIM_KEY: &str = "sk_test_local_development_only";

/// A compose override for the fault runs. It switches the workers' reconciler off, so that it
/// cannot mask an event the faults lost. It also raises the workers' Stripe budget: stripe-sim
/// enforces no account limit here, and the default budget (20 calls/s, sized for a test-mode
/// account) caps the workers at fewer fulfillments a second than the customers' 100/s, so the
/// backlog's drain time after the load (minutes on a busy machine) rather than any loss would
/// decide whether the reckoning passes in time. Each worker takes its share of the 250/s
/// (`stripe.processes`).
pub const FAULT_RUN: &str = r#"
services:
  worker:
    environment:
      APP_WORKER__RECONCILE_INTERVAL_SECS: "0"
      APP_STRIPE__RATE_LIMIT_PER_SEC: "250"
"#;

/// Sessions paid so far (their ids), and the payments the simulator refused.
#[derive(Debug, Default)]
pub struct Ledger {
    pub paid: Vec<String>,
    pub errors: Vec<String>,
}

/// Pays sessions at a steady rate until stopped. Each payment runs on its own task, so a slow
/// one does not hold back the rate.
#[derive(Debug)]
pub struct Customers {
    ledger: Arc<Mutex<Ledger>>,
    running: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Customers {
    pub fn start(sim: String, per_second: u64) -> Customers {
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let running = Arc::new(AtomicBool::new(true));
        let task = tokio::spawn({
            let (ledger, running) = (ledger.clone(), running.clone());
            async move {
                // A fresh connection per request: a pooled one that stripe-sim's keep-alive
                // closes just as it is reused fails the request ("connection closed before
                // message completed"), which would read as a refused payment.
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(0)
                    .build()
                    .expect("an HTTP client");
                let next = Arc::new(AtomicUsize::new(0));
                let mut pace = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
                let mut payments = tokio::task::JoinSet::new();
                while running.load(Ordering::Acquire) {
                    pace.tick().await;
                    let (client, sim, ledger) = (client.clone(), sim.clone(), ledger.clone());
                    let i = next.fetch_add(1, Ordering::Relaxed) + 1;
                    payments.spawn(async move {
                        let paid =
                            stripe_sim::load::events::create_and_pay(&client, &sim, SIM_KEY, i)
                                .await;
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
                    });
                    while payments.try_join_next().is_some() {}
                }
                while payments.join_next().await.is_some() {}
            }
        });
        Customers {
            ledger,
            running,
            task,
        }
    }

    pub async fn stop(self) -> Ledger {
        self.running.store(false, Ordering::Release);
        self.task.await.expect("the customers' task");
        Arc::try_unwrap(self.ledger)
            .expect("the task is done")
            .into_inner()
            .unwrap()
    }
}

/// A count from SQL.
pub fn count(stack: &ComposeStack, query: &str) -> usize {
    stack
        .sql(query)
        .parse()
        .unwrap_or_else(|_| panic!("{query}"))
}

/// The distinct values of a one-column query.
fn column(stack: &ComposeStack, query: &str) -> BTreeSet<String> {
    stack.sql(query).lines().map(str::to_owned).collect()
}

/// Fulfilled orders, or `None` while Postgres does not answer.
pub fn fulfilled(stack: &ComposeStack) -> Option<usize> {
    stack
        .try_sql("SELECT count(*) FROM checkout_orders WHERE state = 'fulfilled'")?
        .parse()
        .ok()
}

/// Waits until `more` orders beyond `from` are fulfilled: the stack is working before the next
/// fault.
pub async fn orders_flow(stack: &ComposeStack, from: usize, more: usize, after: &str) -> usize {
    let reached = eventually(Duration::from_secs(120), || async {
        fulfilled(stack).filter(|now| *now >= from + more)
    })
    .await;
    reached.unwrap_or_else(|| {
        panic!(
            "orders stopped flowing {after}: {:?} fulfilled, wanted {}",
            fulfilled(stack),
            from + more
        )
    })
}

/// Every webhook delivery stripe-sim made, with its attempts.
pub async fn deliveries(stack: &ComposeStack) -> Vec<Value> {
    let list: Value = reqwest::get(format!("{}/_sim/deliveries", stack.sim))
        .await
        .expect("stripe-sim answers")
        .json()
        .await
        .expect("a delivery list");
    list["data"].as_array().cloned().unwrap_or_default()
}

/// The reckoning: every paid session fulfilled exactly once within `catch_up`, nothing else
/// fulfilled, every acknowledged event processed (no 2xx without a confirm), and the attempts
/// without a 2xx all fast `HTTP 503`s within one window shorter than `refusing_at_most` per
/// fault (`load_began_ms` dates them; the windows are printed).
pub async fn assert_nothing_lost_or_duplicated(
    stack: &ComposeStack,
    ledger: &Ledger,
    load_began_ms: i64,
    catch_up: Duration,
    refusing_at_most: Duration,
) {
    assert!(
        ledger.errors.is_empty(),
        "stripe-sim refused payments: {:?}",
        ledger.errors
    );

    // Every paid session fulfilled, once.
    let paid: BTreeSet<String> = ledger.paid.iter().cloned().collect();
    assert_eq!(paid.len(), ledger.paid.len(), "session ids are unique");
    let caught_up = eventually(catch_up, || async {
        fulfilled(stack).filter(|n| *n >= paid.len())
    })
    .await;
    let in_db = column(
        stack,
        "SELECT session_id FROM checkout_orders WHERE state = 'fulfilled'",
    );
    let lost: Vec<&String> = paid.difference(&in_db).collect();
    let unexpected: Vec<&String> = in_db.difference(&paid).collect();
    if caught_up.is_none() || !lost.is_empty() {
        // Still fulfilling when the wait ended means too slow, not lost: say which it was.
        let a_minute_later = eventually(Duration::from_secs(60), || async {
            fulfilled(stack).filter(|n| *n > in_db.len())
        })
        .await;
        panic!(
            "{} of {} paid sessions are not fulfilled {catch_up:?} after the load stopped, e.g. \
             {:?}; a minute later {}",
            lost.len(),
            paid.len(),
            lost.iter().take(5).collect::<Vec<_>>(),
            match a_minute_later {
                Some(n) => format!("{n} were: too slow, still catching up"),
                None => "none more were: lost".to_owned(),
            }
        );
    }
    assert!(unexpected.is_empty(), "unexpected orders: {unexpected:?}");
    assert_eq!(
        count(stack, "SELECT count(*) FROM checkout_orders"),
        paid.len(),
        "one order per paid session"
    );
    let duplicated = count(
        stack,
        "SELECT count(*) FROM (SELECT session_id FROM outbox WHERE topic = 'order.fulfilled' \
         GROUP BY session_id HAVING count(*) > 1) d",
    );
    assert_eq!(
        duplicated, 0,
        "one order.fulfilled announcement per session"
    );
    assert_eq!(
        count(stack, "SELECT count(*) FROM order_line_items"),
        paid.len(),
        "one line per order (each session bought one line of T-shirts)"
    );

    // No 2xx without a confirm: every event the ingress acknowledged reached a worker.
    let all = deliveries(stack).await;
    let acknowledged: BTreeSet<String> = all
        .iter()
        .filter(|d| d["status"] == "succeeded")
        .filter_map(|d| d["event"].as_str().map(str::to_owned))
        .collect();
    // The attempts that got no 2xx, by what they got, and when (seconds since the load began).
    let mut refused: BTreeMap<String, Vec<f64>> = BTreeMap::new();
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
            None => match attempt["message"].as_str() {
                Some(message) => format!("{}: {message}", attempt["outcome"]),
                None => attempt["outcome"].as_str().unwrap_or("?").to_owned(),
            },
        };
        let at = (attempt["sent_at_ms"].as_i64().unwrap_or(0) - load_began_ms) as f64 / 1000.0;
        if what != "HTTP 503" {
            // What the sender saw, for telling a slow answer from a stale connection's.
            println!(
                "[ledger] {what} at {at:.3} s, answered after {} ms",
                attempt["duration_ms"]
            );
        }
        refused.entry(what).or_default().push(at);
    }
    let windows: BTreeMap<&String, Vec<(usize, f64, f64)>> = refused
        .iter()
        .map(|(what, times)| (what, refusal_windows(times)))
        .collect();
    println!(
        "[ledger] {} deliveries, {} acknowledged; attempts without a 2xx (retried by \
         stripe-sim), as windows of (count, first s, last s): {windows:?}",
        all.len(),
        acknowledged.len()
    );
    // Refusals are the ingress's fast 503 while a broker is away, and only then: no timeouts,
    // no connection errors, and not for long.
    for (what, windows) in &windows {
        assert_eq!(
            what.as_str(),
            "HTTP 503",
            "only 503s, never a hang or a reset: {windows:?}"
        );
        for (_, first, last) in windows {
            assert!(
                last - first < refusing_at_most.as_secs_f64(),
                "the ingress refused for {:.1} s, not briefly: {windows:?}",
                last - first
            );
        }
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
    let processed = column(stack, "SELECT event_id FROM stripe_events");
    let unprocessed: Vec<&String> = acknowledged.difference(&processed).collect();
    assert!(
        unprocessed.is_empty(),
        "acknowledged but never processed (a 2xx without a confirm): {unprocessed:?}"
    );
}

/// Refusal times grouped into windows: a gap of more than 15 s (longer than any one fault's
/// retry rhythm, shorter than the calm between two faults) starts a new window.
fn refusal_windows(times: &[f64]) -> Vec<(usize, f64, f64)> {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut windows: Vec<(usize, f64, f64)> = Vec::new();
    for at in sorted {
        match windows.last_mut() {
            Some((n, _, last)) if at - *last <= 15.0 => {
                *n += 1;
                *last = at;
            }
            _ => windows.push((1, at, at)),
        }
    }
    windows
}
