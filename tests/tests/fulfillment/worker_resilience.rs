//! Many workers, crashed workers and stopped workers: every paid session is still fulfilled
//! exactly once, and nothing is lost.

use std::time::Duration;

use shared::Settings;
use stripe_sim::{Fault, FaultKind, RouteMatch};
use tests::probes::{fulfillment_effects, wait_for_state};
use tests::worker_support::*;
use tests::{eventually, TestStack};
use worker::Application;

async fn fulfilled_count(stack: &TestStack) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM checkout_orders WHERE state = 'fulfilled'")
        .fetch_one(&stack.db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_and_500_events_fulfill_every_session_exactly_once() {
    let stack = TestStack::start().await;
    // Small pools: three workers must fit in Postgres next to everyone else's tests. A worker
    // needs a connection per delivery it holds (plus two), so the prefetch shrinks with it.
    let small = |s: &mut Settings| {
        s.database.max_connections = 5;
        s.worker.prefetch = 3;
    };
    let workers = vec![
        start_worker(&stack, small).await,
        start_worker(&stack, small).await,
        start_worker(&stack, small).await,
    ];
    let channel = publisher(&stack).await;
    let mut sessions = Vec::new();
    for i in 0..500 {
        let (id, event) = paid_session(&stack.sim.state);
        publish_event(&stack, &channel, &event).await;
        // Every tenth event is delivered twice, as Stripe sometimes does.
        if i % 10 == 0 {
            publish_event(&stack, &channel, &event).await;
        }
        sessions.push(id);
    }

    let all = eventually(Duration::from_secs(120), || async {
        (fulfilled_count(&stack).await == 500).then_some(())
    })
    .await;
    assert!(
        all.is_some(),
        "only {} of 500 fulfilled",
        fulfilled_count(&stack).await
    );
    for worker in workers {
        worker.shutdown().await;
    }
    let (orders, lines, announcements): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM checkout_orders), (SELECT count(*) FROM order_line_items), \
         (SELECT count(*) FROM outbox WHERE topic = 'order.fulfilled')",
    )
    .fetch_one(&stack.db.pool)
    .await
    .unwrap();
    assert_eq!((orders, lines, announcements), (500, 500, 500));
    let fulfilled_events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stripe_events WHERE outcome = 'fulfilled'")
            .fetch_one(&stack.db.pool)
            .await
            .unwrap();
    assert_eq!(fulfilled_events, 500);
    assert_eq!(
        stack
            .broker
            .depth(&stack.broker.topology.fulfillment_queue())
            .await,
        0
    );
    assert_eq!(
        stack
            .broker
            .depth(&stack.broker.topology.dead_queue())
            .await,
        0
    );
}

#[tokio::test]
async fn a_worker_that_dies_mid_processing_before_its_ack_has_the_event_redelivered_and_fulfilled_once(
) {
    let stack = TestStack::start().await;
    let (session_id, event) = paid_session(&stack.sim.state);
    let path = format!("/v1/checkout/sessions/{session_id}");
    // The first worker's Stripe call hangs, so it is mid-processing when it dies.
    stack.sim.state.inject_fault(Fault {
        route: RouteMatch::new("GET", &path),
        kind: FaultKind::Delay(Duration::from_secs(5)),
        count: 1,
    });
    // The doomed worker gets a runtime of its own: shutting that runtime down drops every task
    // and socket at once, as a killed process would, with no drain and no ack.
    let doomed = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let settings = tests::settings(
        &stack.db,
        &stack.broker,
        &stack.sim.base_url,
        worker_defaults,
    );
    doomed.spawn(async move {
        let app = Application::build(settings).await.unwrap();
        app.run_until_stopped().await
    });
    let channel = publisher(&stack).await;
    publish_event(&stack, &channel, &event).await;
    let picked_up = eventually(WAIT, || async {
        (stack.sim.state.requests_to(&path) >= 1).then_some(())
    })
    .await;
    assert!(picked_up.is_some(), "the first worker took the delivery");

    doomed.shutdown_background();
    let survivor = start_worker(&stack, |_| {}).await;

    assert!(wait_for_state(&stack.db.pool, &session_id, "fulfilled").await);
    survivor.shutdown().await;
    assert_eq!(
        fulfillment_effects(&stack.db.pool, &session_id).await,
        (1, 1, 1)
    );
    assert!(
        stack.sim.state.requests_to(&path) >= 2,
        "the event was processed again"
    );
    assert_eq!(
        stack
            .broker
            .depth(&stack.broker.topology.fulfillment_queue())
            .await,
        0
    );
}

#[tokio::test]
async fn a_stop_with_work_in_flight_finishes_and_acks_it_and_loses_nothing() {
    let stack = TestStack::start().await;
    // Every Stripe call takes a second, so work is certainly in flight when the stop comes.
    stack.sim.state.inject_fault(Fault {
        route: RouteMatch::new("GET", "/v1/checkout/sessions/"),
        kind: FaultKind::Delay(Duration::from_secs(1)),
        count: 0,
    });
    let worker = start_worker(&stack, |s| s.worker.prefetch = 2).await;
    let channel = publisher(&stack).await;
    let mut sessions = Vec::new();
    for _ in 0..4 {
        let (id, event) = paid_session(&stack.sim.state);
        publish_event(&stack, &channel, &event).await;
        sessions.push(id);
    }
    let in_flight = eventually(WAIT, || async {
        (stack.sim.state.requests_to("/v1/checkout/sessions/") >= 2).then_some(())
    })
    .await;
    assert!(in_flight.is_some());

    worker.shutdown().await;

    let fulfilled = fulfilled_count(&stack).await;
    let queued = stack
        .broker
        .depth(&stack.broker.topology.fulfillment_queue())
        .await;
    assert!(
        fulfilled >= 2,
        "the two in flight were finished, got {fulfilled}"
    );
    assert_eq!(
        fulfilled + i64::from(queued),
        4,
        "every event is either fulfilled (and acked) or back in the queue"
    );
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(
        unsent, 0,
        "announcements of the drained work left with the worker"
    );

    stack.sim.state.clear_faults();
    let next = start_worker(&stack, |_| {}).await;
    for id in &sessions {
        assert!(wait_for_state(&stack.db.pool, id, "fulfilled").await);
    }
    next.shutdown().await;
    for id in &sessions {
        assert_eq!(fulfillment_effects(&stack.db.pool, id).await, (1, 1, 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_prefetch_of_deliveries_waiting_on_the_database_at_once_gets_no_pool_timeout() {
    // A long retry tier: an event sent there stays there for the whole test, in plain sight.
    let stack = stack_with_tiers(&[60_000, 120_000], |_| {}).await;
    let worker = start_worker(&stack, |s| {
        s.worker.prefetch = 32;
        // A short wait for a pooled connection, so that a pool too small shows at once;
        // the lock wait below must not end first.
        s.database.acquire_timeout_ms = 1000;
        s.database.lock_timeout_ms = 30000;
    })
    .await;
    let channel = publisher(&stack).await;
    let mut events = Vec::new();
    for _ in 0..32 {
        events.push(paid_session(&stack.sim.state).1);
    }
    // The database slows down (here: a maintenance lock on the audit table, which every
    // delivery reads first), so every delivery the worker holds waits on it at the same time,
    // each on a connection of its own.
    let mut maintenance = stack.db.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE stripe_events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *maintenance)
        .await
        .unwrap();
    for event in &events {
        publish_event(&stack, &channel, event).await;
    }
    let waiting = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_locks \
             WHERE NOT granted AND relation = 'stripe_events'::regclass",
        )
        .fetch_one(&stack.db.pool)
        .await
        .unwrap()
    };
    let all_waiting = eventually(Duration::from_secs(10), || async {
        (waiting().await >= 32).then_some(())
    })
    .await;
    let most = waiting().await;
    maintenance.commit().await.unwrap();

    let retry_tier = stack.broker.topology.retry_queue(0).unwrap();
    let retried = stack.broker.depth(&retry_tier).await;
    assert_eq!(
        retried, 0,
        "deliveries sent to a retry tier for want of a pooled connection \
         ({most} of 32 reached the database at once)"
    );
    assert!(
        all_waiting.is_some(),
        "every prefetched delivery gets a connection: {most} of 32 waited at once"
    );
    let all = eventually(WAIT, || async {
        (fulfilled_count(&stack).await == 32).then_some(())
    })
    .await;
    assert!(
        all.is_some(),
        "only {} of 32 fulfilled",
        fulfilled_count(&stack).await
    );
    assert_eq!(stack.broker.depth(&retry_tier).await, 0);
    worker.shutdown().await;
}
