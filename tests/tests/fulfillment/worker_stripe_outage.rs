//! A Stripe outage (a key Stripe rejects, a 4xx Stripe says to retry) says nothing about the
//! orders: their events wait, in the retry tiers and behind the reconciler's cursor, for as long
//! as it lasts, are never given up on, and are fulfilled once Stripe answers again.

use std::time::Duration;

use shared::store::cursors;
use stripe_sim::{Fault, FaultKind, RouteMatch};
use tests::probes::{
    event_outcome, fulfillment_effects, order_state, wait_for_outcome, wait_for_state,
};
use tests::worker_support::*;
use tests::{eventually, TestStack};
use worker::reconciler::{Reconciler, ReconcilerOptions};
use worker::Processor;

/// How many attempts the audit trail has counted for an event.
async fn attempts(stack: &TestStack, event_id: &str) -> Option<i32> {
    sqlx::query_scalar("SELECT attempts FROM stripe_events WHERE event_id = $1")
        .bind(event_id)
        .fetch_optional(&stack.db.pool)
        .await
        .unwrap()
}

/// The worker's count of attempts failed by an outage of `kind`.
async fn outage_count(worker: &RunningWorker, kind: &str) -> Option<f64> {
    let metrics = reqwest::get(worker.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("worker_stripe_outage_total{{kind=\"{kind}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|v| v.parse().ok())
}

/// Publishes a paid session's event while every Stripe call meets `outage`, waits until the
/// event has had more attempts than the two retry tiers allow any other failure, then ends the
/// outage and expects the order.
async fn an_outage_holds_the_event_until_it_ends(outage: FaultKind, kind: &str) {
    // Two tiers: any other failure would be dead after its third attempt.
    let stack = stack_with_tiers(&[100, 200], |_| {}).await;
    let worker = start_worker(&stack, |s| s.stripe.max_retries = 0).await;
    let channel = publisher(&stack).await;
    let (session_id, event) = paid_session(&stack.sim.state);
    let event_id = event["id"].as_str().unwrap();
    stack.sim.state.inject_fault(Fault {
        route: RouteMatch::any(),
        kind: outage,
        count: 0,
    });

    publish_event(&stack, &channel, &event).await;

    let held = eventually(WAIT, || async {
        attempts(&stack, event_id).await.filter(|n| *n >= 5)
    })
    .await;
    assert!(
        held.is_some(),
        "the event is still being retried after the tiers are spent; outcome {:?} after {:?} \
         attempt(s)",
        event_outcome(&stack.db.pool, event_id).await,
        attempts(&stack, event_id).await
    );
    let dead = stack.broker.topology.dead_queue();
    assert_eq!(
        stack.broker.depth(&dead).await,
        0,
        "nothing is dead-lettered"
    );
    assert_eq!(order_state(&stack.db.pool, &session_id).await, None);
    let counted = outage_count(&worker, kind).await;
    assert!(
        counted.is_some_and(|n| n >= 5.0),
        "every attempt counts as an outage: {counted:?}"
    );

    stack.sim.state.clear_faults();

    assert!(wait_for_state(&stack.db.pool, &session_id, "fulfilled").await);
    assert!(wait_for_outcome(&stack.db.pool, event_id, "fulfilled").await);
    assert_eq!(
        fulfillment_effects(&stack.db.pool, &session_id).await,
        (1, 1, 1)
    );
    worker.shutdown().await;
    assert_eq!(stack.broker.depth(&dead).await, 0);
}

#[tokio::test]
async fn a_rejected_stripe_key_keeps_events_in_the_retry_tiers_and_they_are_fulfilled_once_it_works(
) {
    // The key was rolled in the Dashboard while the workers kept the old one.
    an_outage_holds_the_event_until_it_ends(FaultKind::Unauthorized, "authentication").await;
}

#[tokio::test]
async fn a_4xx_stripe_says_to_retry_keeps_events_in_the_retry_tiers_until_it_passes() {
    an_outage_holds_the_event_until_it_ends(FaultKind::ShouldRetry(400), "should_retry").await;
}

fn reconciler(stack: &TestStack) -> Reconciler {
    Reconciler::new(
        Processor::new(stack.fulfiller.clone(), 2),
        ReconcilerOptions {
            database: shared::store::connect_options(&stack.settings.database).unwrap(),
            interval: Duration::from_secs(1),
            overlap: Duration::ZERO,
            concurrency: 4,
            accounts: Vec::new(),
        },
    )
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn a_rejected_stripe_key_holds_the_cursor_until_the_key_works_again() {
    let stack = TestStack::start().await;
    let reconciler = reconciler(&stack);
    stack.sim.state.set_clock_offset(-100);
    let (id, _) = paid_session(&stack.sim.state);
    stack.sim.state.set_clock_offset(0);
    cursors::set(&stack.db.pool, cursors::RECONCILER, now() - 200)
        .await
        .unwrap();
    // The listing goes through; retrieving the session meets a key Stripe no longer accepts.
    stack.sim.state.inject_fault(Fault {
        route: RouteMatch::new("GET", &format!("/v1/checkout/sessions/{id}")),
        kind: FaultKind::Unauthorized,
        count: 0,
    });

    let first = reconciler.sweep().await.unwrap();
    assert_eq!(first.failed, 1, "{first}");

    stack.sim.state.clear_faults();
    let second = reconciler.sweep().await.unwrap();

    assert_eq!(
        second.count("fulfilled"),
        1,
        "the next sweep lists the event again: {second}"
    );
    assert_eq!(
        order_state(&stack.db.pool, &id).await.as_deref(),
        Some("fulfilled")
    );
}
