//! Failures are classified: transient ones are retried through the delay tiers, permanent ones
//! and exhausted ones are dead-lettered with their reason and history, and none of it holds up
//! the other messages.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lapin::types::FieldTable;
use secrecy::SecretString;
use shared::queue::connection::BrokerOptions;
use shared::queue::topology::headers;
use shared::queue::Subscription;
use shared::queue::{publish_confirmed, Broker, OutgoingMessage, PublishError};
use shared::store::events::{self, EventKey, EventOutcome, FAILED_ATTEMPTS_KEPT};
use stripe_sim::{Fault, FaultKind, RouteMatch};
use tests::probes::{
    event_outcome, fulfillment_effects, order_state, wait_for_outcome, wait_for_state,
};
use tests::worker_support::*;
use tests::{eventually, TestBroker, TestDb, TestStack};
use worker::consumer::{CancellationToken, Consumer, ConsumerOptions, Step};
use worker::disposition::{DeadReason, Disposition};

fn sessions_route(session_id: &str) -> RouteMatch {
    RouteMatch::new("GET", &format!("/v1/checkout/sessions/{session_id}"))
}

#[tokio::test]
async fn stripe_failing_three_times_then_answering_is_fulfilled_after_queue_retries() {
    // Three tiers so that three failed attempts still leave a fourth; the Stripe client's own
    // retries are off so the queue's retries are what is exercised.
    let stack = stack_with_tiers(&[100, 200, 300], |_| {}).await;
    let worker = start_worker(&stack, |s| s.stripe.max_retries = 0).await;
    let channel = publisher(&stack).await;
    let (session_id, event) = paid_session(&stack.sim.state);
    stack.sim.state.inject_fault(Fault {
        route: sessions_route(&session_id),
        kind: FaultKind::Status500,
        count: 3,
    });

    publish_event(&stack, &channel, &event).await;

    assert!(wait_for_state(&stack.db.pool, &session_id, "fulfilled").await);
    assert!(wait_for_outcome(&stack.db.pool, event["id"].as_str().unwrap(), "fulfilled").await);
    assert_eq!(
        stack
            .sim
            .state
            .requests_to(&format!("/v1/checkout/sessions/{session_id}")),
        4,
        "three failed attempts, then the one that worked"
    );
    let (outcome, attempts): (String, i32) =
        sqlx::query_as("SELECT outcome, attempts FROM stripe_events WHERE event_id = $1")
            .bind(event["id"].as_str().unwrap())
            .fetch_one(&stack.db.pool)
            .await
            .unwrap();
    assert_eq!((outcome.as_str(), attempts), ("fulfilled", 4));
    // Each failed attempt is kept with its outcome and error; the success adds none.
    let history = events::history(&stack.db.pool, &session_id).await.unwrap();
    assert_eq!(
        history[0].last_error, None,
        "the success clears the last error"
    );
    let failed = &history[0].failed_attempts;
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|f| f.outcome == "retrying" && f.error.contains("500")),
        "{failed:?}"
    );
    assert!(failed.windows(2).all(|pair| pair[0].at <= pair[1].at));
    assert_eq!(
        fulfillment_effects(&stack.db.pool, &session_id).await,
        (1, 1, 1)
    );
    worker.shutdown().await;
    assert_eq!(
        stack
            .broker
            .depth(&stack.broker.topology.dead_queue())
            .await,
        0
    );
}

#[tokio::test]
async fn a_session_stripe_does_not_know_is_dead_lettered_with_the_reason_and_never_retried() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;
    let event = synthetic_event(
        "evt_unknown_session_1",
        "checkout.session.completed",
        "cs_test_doesnotexist",
    );

    publish_event(&stack, &channel, &event).await;

    let dead = stack
        .broker
        .next(&stack.broker.topology.dead_queue(), WAIT)
        .await
        .expect("the message is dead-lettered");
    let reason = header_text(&dead, headers::DEAD_REASON).expect("a reason");
    assert!(reason.contains("does not know"), "{reason}");
    assert!(reason.contains("cs_test_doesnotexist"), "{reason}");
    assert_eq!(header_text(&dead, headers::ATTEMPTS).as_deref(), Some("1"));
    let history = header_text(&dead, headers::ATTEMPT_HISTORY).expect("a history");
    assert!(history.starts_with("attempt=1 error="), "{history}");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&dead.delivery.data).unwrap(),
        event,
        "the original body is kept"
    );
    let properties = &dead.delivery.properties;
    assert_eq!(
        properties.message_id().as_ref().map(|m| m.as_str()),
        Some("evt_unknown_session_1")
    );
    assert_eq!(
        properties.kind().as_ref().map(|m| m.as_str()),
        Some("checkout.session.completed")
    );
    assert!(
        header_text(&dead, "traceparent").is_some(),
        "the trace goes on"
    );
    worker.shutdown().await;
    assert_eq!(
        stack
            .sim
            .state
            .requests_to("/v1/checkout/sessions/cs_test_doesnotexist"),
        1,
        "a 404 is asked once"
    );
    for tier in 0..2 {
        let queue = stack.broker.topology.retry_queue(tier).unwrap();
        assert_eq!(stack.broker.depth(&queue).await, 0, "{queue} stays empty");
    }
    assert_eq!(
        event_outcome(&stack.db.pool, "evt_unknown_session_1")
            .await
            .as_deref(),
        Some("not_found")
    );
}

#[tokio::test]
async fn an_event_the_database_refuses_for_good_is_dead_lettered_at_once_with_the_reason() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;
    // Postgres text cannot hold the NUL character the customer typed into the name field.
    let session_id = open_session(&stack.sim.state);
    let customer = stripe_sim::Customer {
        name: "Jenny\u{0}Rosen".into(),
        email: "jenny@example.com".into(),
        shipping: None,
    };
    let event = stack
        .sim
        .state
        .complete_session(&session_id, stripe_sim::PaymentOutcome::Paid, customer)
        .unwrap();

    publish_event(&stack, &channel, &event).await;

    let dead = stack
        .broker
        .next(&stack.broker.topology.dead_queue(), WAIT)
        .await
        .expect("the message is dead-lettered");
    let reason = header_text(&dead, headers::DEAD_REASON).unwrap();
    assert!(reason.starts_with("permanent error"), "{reason}");
    assert!(reason.contains("0x00"), "{reason}");
    assert_eq!(header_text(&dead, headers::ATTEMPTS).as_deref(), Some("1"));
    assert_eq!(
        event_outcome(&stack.db.pool, event["id"].as_str().unwrap())
            .await
            .as_deref(),
        Some("dead")
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn a_message_that_is_not_an_event_is_dead_lettered_at_once() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;

    publish_raw(
        &stack,
        &channel,
        "checkout.session.completed",
        "evt_garbage",
        b"{this is not json",
    )
    .await;

    let dead = stack
        .broker
        .next(&stack.broker.topology.dead_queue(), WAIT)
        .await
        .expect("the message is dead-lettered");
    let reason = header_text(&dead, headers::DEAD_REASON).unwrap();
    assert!(reason.starts_with("malformed"), "{reason}");
    assert_eq!(dead.delivery.data, b"{this is not json");
    worker.shutdown().await;
}

#[tokio::test]
async fn an_event_with_an_invalid_session_id_is_dead_lettered_and_recorded() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;
    let event = synthetic_event(
        "evt_bad_session_1",
        "checkout.session.completed",
        "../../etc/passwd",
    );

    publish_event(&stack, &channel, &event).await;

    let dead = stack
        .broker
        .next(&stack.broker.topology.dead_queue(), WAIT)
        .await
        .expect("the message is dead-lettered");
    assert!(header_text(&dead, headers::DEAD_REASON)
        .unwrap()
        .contains("invalid session id"));
    assert_eq!(
        event_outcome(&stack.db.pool, "evt_bad_session_1")
            .await
            .as_deref(),
        Some("rejected")
    );
    assert_eq!(stack.sim.state.request_count(), 0, "Stripe is never asked");
    worker.shutdown().await;
}

#[tokio::test]
async fn a_poison_message_is_dead_after_its_last_attempt_while_other_messages_keep_flowing() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |s| s.stripe.max_retries = 0).await;
    let channel = publisher(&stack).await;
    let (poison_id, poison) = paid_session(&stack.sim.state);
    stack.sim.state.inject_fault(Fault {
        route: sessions_route(&poison_id),
        kind: FaultKind::Status500,
        count: 0,
    });

    publish_event(&stack, &channel, &poison).await;
    let mut healthy = Vec::new();
    for _ in 0..5 {
        let (id, event) = paid_session(&stack.sim.state);
        publish_event(&stack, &channel, &event).await;
        healthy.push(id);
    }

    for id in &healthy {
        assert!(
            wait_for_state(&stack.db.pool, id, "fulfilled").await,
            "{id} is fulfilled"
        );
    }
    let dead = stack
        .broker
        .next(&stack.broker.topology.dead_queue(), WAIT)
        .await
        .expect("the poison message is dead-lettered");
    assert_eq!(
        dead.delivery
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.as_str()),
        poison["id"].as_str()
    );
    let reason = header_text(&dead, headers::DEAD_REASON).unwrap();
    assert!(reason.starts_with("out of attempts after 3"), "{reason}");
    let history = header_text(&dead, headers::ATTEMPT_HISTORY).unwrap();
    assert_eq!(history.lines().count(), 3, "{history}");
    assert!(
        history.lines().all(|l| l.contains("server error")),
        "{history}"
    );
    assert_eq!(header_text(&dead, headers::ATTEMPTS).as_deref(), Some("3"));
    assert_eq!(
        event_outcome(&stack.db.pool, poison["id"].as_str().unwrap())
            .await
            .as_deref(),
        Some("dead")
    );
    assert_eq!(order_state(&stack.db.pool, &poison_id).await, None);
    worker.shutdown().await;
}

/// A step that panics on every message, as a bug would.
#[derive(Clone)]
struct PanickingStep;

impl Step for PanickingStep {
    async fn process(&self, _body: &[u8], _headers: Option<&FieldTable>) -> Disposition {
        panic!("a bug in processing")
    }
}

#[tokio::test]
async fn a_panic_in_processing_counts_as_a_failed_attempt_and_ends_in_the_dead_letter_queue() {
    let stack = TestStack::start().await;
    let settings = &stack.settings;
    let publisher_connection = Broker::start(BrokerOptions {
        endpoint: settings.broker.url.clone().into(),
        connection_name: "test-publisher".into(),
        topology: stack.broker.topology.clone(),
        channels: 1,
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(500),
    });
    let consumer = Consumer::new(
        PanickingStep,
        publisher_connection.clone(),
        ConsumerOptions {
            subscription: Subscription {
                endpoint: settings.broker.url.clone().into(),
                prefetch: 4,
                reconnect_min: Duration::from_millis(50),
                reconnect_max: Duration::from_millis(500),
            },
            topology: stack.broker.topology.clone(),
            confirm_timeout: Duration::from_secs(5),
            hand_back_max: Duration::from_secs(30),
        },
    );
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(consumer.run(shutdown.clone()));
    let channel = publisher(&stack).await;
    let (_, event) = paid_session(&stack.sim.state);

    publish_event(&stack, &channel, &event).await;

    let dead = stack
        .broker
        .next(&stack.broker.topology.dead_queue(), WAIT)
        .await
        .expect("the message is dead-lettered, not lost and not looping");
    let reason = header_text(&dead, headers::DEAD_REASON).unwrap();
    assert!(
        reason.contains("processing panicked: a bug in processing"),
        "{reason}"
    );
    assert_eq!(
        header_text(&dead, headers::ATTEMPT_HISTORY)
            .unwrap()
            .lines()
            .count(),
        3
    );
    shutdown.cancel();
    tokio::time::timeout(WAIT, running).await.unwrap().unwrap();
    publisher_connection.close().await;
}

#[tokio::test]
async fn the_processing_step_can_be_driven_directly_without_a_broker() {
    let stack = TestStack::start().await;
    let processor = worker::Processor::new(stack.fulfiller.clone(), 2);
    let (session_id, event) = paid_session(&stack.sim.state);
    let body = serde_json::to_vec(&event).unwrap();

    assert_eq!(processor.process(&body, None).await, Disposition::Ack);
    assert_eq!(processor.process(&body, None).await, Disposition::Ack);
    assert_eq!(
        fulfillment_effects(&stack.db.pool, &session_id).await,
        (1, 1, 1)
    );

    let unknown = synthetic_event(
        "evt_direct_404",
        "checkout.session.completed",
        "cs_test_gone",
    );
    let disposition = processor
        .process(&serde_json::to_vec(&unknown).unwrap(), None)
        .await;
    assert!(matches!(
        disposition,
        Disposition::Dead { reason: DeadReason::SessionNotFound(ref id) } if id == "cs_test_gone"
    ));

    stack.sim.state.inject_fault(Fault {
        route: RouteMatch::any(),
        kind: FaultKind::Status500,
        count: 0,
    });
    let (_, other) = paid_session(&stack.sim.state);
    let disposition = processor
        .process(&serde_json::to_vec(&other).unwrap(), None)
        .await;
    assert!(
        matches!(disposition, Disposition::Retry { tier: 0, .. }),
        "{disposition:?}"
    );
}

#[tokio::test]
async fn a_session_locked_elsewhere_sends_its_event_to_a_retry_tier_not_the_dead_letter_queue() {
    let stack = TestStack::start_with(|s| s.database.lock_timeout_ms = 300).await;
    let fulfiller = shared::Fulfiller::new(
        shared::store::pool(&stack.settings.database).unwrap(),
        stack.stripe.clone(),
    );
    let processor = worker::Processor::new(fulfiller, 2);
    let (session_id, event) = paid_session(&stack.sim.state);
    let id = shared::CheckoutSessionId::parse(&session_id).unwrap();
    // A psql session left inside a transaction that took the session's fulfillment lock.
    let mut holder = stack.db.pool.begin().await.unwrap();
    shared::store::orders::lock_session(&mut holder, None, &id)
        .await
        .unwrap();
    let body = serde_json::to_vec(&event).unwrap();

    let disposition = tokio::time::timeout(Duration::from_secs(5), processor.process(&body, None))
        .await
        .expect("the step gives up on the lock within database.lock_timeout_ms");
    let Disposition::Retry { tier: 0, error } = disposition else {
        panic!("a lock timeout is retried, got {disposition:?}");
    };
    assert!(error.contains("lock timeout"), "{error}");
    assert_eq!(
        event_outcome(&stack.db.pool, event["id"].as_str().unwrap())
            .await
            .as_deref(),
        Some("retrying")
    );

    holder.commit().await.unwrap();
    assert_eq!(processor.process(&body, None).await, Disposition::Ack);
    assert_eq!(
        fulfillment_effects(&stack.db.pool, &session_id).await,
        (1, 1, 1)
    );
}

/// A step for which every message fails transiently (as while Stripe is down), counting its
/// attempts.
#[derive(Clone)]
struct AlwaysTransientStep(Arc<AtomicUsize>);

impl Step for AlwaysTransientStep {
    async fn process(&self, _body: &[u8], _headers: Option<&FieldTable>) -> Disposition {
        self.0.fetch_add(1, Ordering::SeqCst);
        Disposition::Retry {
            tier: 0,
            error: "Stripe: server error".into(),
        }
    }
}

#[tokio::test]
async fn a_retry_copy_the_broker_refuses_is_handed_back_after_a_pause_not_in_a_hot_loop() {
    // A long tier, so that a probe accepted before the policy took hold stays out of the way;
    // and a generous delivery limit, so a hot loop would show as dozens of attempts rather than
    // being cut short by the broker.
    let broker = TestBroker::with_tiers(vec![Duration::from_secs(60)], 50).await;
    let topology = broker.topology.clone();
    let retry_queue = topology.retry_queue(0).unwrap();
    // The retry tier is full and refuses publishes (it has `overflow = reject-publish`).
    let _full = QueuePolicy::apply(
        &format!("{}full", broker.prefix),
        &format!("^{}$", retry_queue.replace('.', "\\.")),
        serde_json::json!({"max-length": 0}),
    )
    .await;
    let channel = broker.connection.create_channel().await.unwrap();
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .unwrap();
    let refusing = eventually(WAIT, || async {
        let probe = publish_confirmed(
            &channel,
            OutgoingMessage {
                exchange: &topology.retry_exchange(),
                routing_key: &retry_queue,
                body: b"probe",
                message_id: "probe",
                kind: "probe",
                headers: FieldTable::default(),
            },
            Duration::from_secs(5),
        )
        .await;
        matches!(probe, Err(PublishError::Nacked)).then_some(())
    })
    .await;
    assert!(refusing.is_some(), "the policy makes the retry tier refuse");

    let url = SecretString::from(tests::amqp_url());
    let publisher_connection = Broker::start(BrokerOptions {
        endpoint: url.clone().into(),
        connection_name: "test-publisher".into(),
        topology: topology.clone(),
        channels: 1,
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(500),
    });
    let attempts = Arc::new(AtomicUsize::new(0));
    let consumer = Consumer::new(
        AlwaysTransientStep(attempts.clone()),
        publisher_connection.clone(),
        ConsumerOptions {
            subscription: Subscription {
                endpoint: url.into(),
                prefetch: 4,
                reconnect_min: Duration::from_millis(50),
                reconnect_max: Duration::from_millis(500),
            },
            topology: topology.clone(),
            confirm_timeout: Duration::from_secs(2),
            hand_back_max: Duration::from_secs(30),
        },
    );
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(consumer.run(shutdown.clone()));
    let event = synthetic_event(
        "evt_refused_retry",
        "checkout.session.completed",
        "cs_test_a",
    );
    publish_confirmed(
        &channel,
        OutgoingMessage {
            exchange: &topology.checkout_exchange(),
            routing_key: "checkout.session.completed",
            body: &serde_json::to_vec(&event).unwrap(),
            message_id: "evt_refused_retry",
            kind: "checkout.session.completed",
            headers: FieldTable::default(),
        },
        Duration::from_secs(5),
    )
    .await
    .expect("the broker confirms the event");
    let first = eventually(WAIT, || async {
        (attempts.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    assert!(first.is_some(), "the event is processed");
    let started = std::time::Instant::now();

    // Watch a fixed window for the hot loop: with the copy refused, each attempt is another
    // Stripe call. A pause that grows with each hand-back allows a handful.
    let window = Duration::from_secs(3);
    let hot = eventually(window, || async {
        (attempts.load(Ordering::SeqCst) > 5).then_some(())
    })
    .await;
    let seen = attempts.load(Ordering::SeqCst);
    assert!(
        hot.is_none(),
        "{seen} processing attempts within {:?} of the first",
        started.elapsed()
    );
    assert!(
        seen >= 2,
        "the delivery is handed back and tried again: {seen}"
    );
    assert_eq!(
        broker.depth(&topology.dead_queue()).await,
        0,
        "not dead-lettered by the delivery limit"
    );

    // A stop does not wait out the pause: the delivery goes back to the queue at once.
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the consumer stops without waiting out a pause")
        .unwrap();
    publisher_connection.close().await;
    let back = eventually(WAIT, || async {
        (broker.depth(&topology.fulfillment_queue()).await == 1).then_some(())
    })
    .await;
    assert!(back.is_some(), "the event is back in its queue, not lost");
}

#[tokio::test]
async fn an_event_keeps_its_newest_failed_attempts_and_its_settled_outcome() {
    let db = TestDb::create().await;
    let key = EventKey {
        event_id: "evt_kept_attempts",
        event_type: "checkout.session.completed",
        session_id: Some("cs_test_kept_attempts"),
        account: None,
        created: 1_700_000_000,
    };
    let failures = FAILED_ATTEMPTS_KEPT + 5;
    for n in 1..=failures {
        events::record_keeping_settled(
            &db.pool,
            key,
            EventOutcome::Retrying,
            Some(&format!("failure {n}")),
        )
        .await
        .unwrap();
    }
    events::record_keeping_settled(&db.pool, key, EventOutcome::Fulfilled, None)
        .await
        .unwrap();
    // A duplicate failing after the success changes neither the outcome nor the last error.
    events::record_keeping_settled(
        &db.pool,
        key,
        EventOutcome::Retrying,
        Some("late duplicate"),
    )
    .await
    .unwrap();

    let history = events::history(&db.pool, "cs_test_kept_attempts")
        .await
        .unwrap();
    let event = &history[0];
    assert_eq!(event.outcome, "fulfilled");
    assert_eq!(event.last_error, None);
    assert_eq!(
        event.attempts as usize,
        failures + 2,
        "every attempt counted"
    );
    let errors: Vec<&str> = event
        .failed_attempts
        .iter()
        .map(|f| f.error.as_str())
        .collect();
    assert_eq!(
        errors.len(),
        FAILED_ATTEMPTS_KEPT,
        "only the newest are kept"
    );
    assert_eq!(
        errors[0],
        format!("failure {}", failures - FAILED_ATTEMPTS_KEPT + 2)
    );
    assert_eq!(errors[FAILED_ATTEMPTS_KEPT - 1], "late duplicate");

    // A first-time success keeps no history at all.
    let clean = EventKey {
        event_id: "evt_clean",
        session_id: Some("cs_test_clean"),
        ..key
    };
    events::record_keeping_settled(&db.pool, clean, EventOutcome::Fulfilled, None)
        .await
        .unwrap();
    let history = events::history(&db.pool, "cs_test_clean").await.unwrap();
    assert!(history[0].failed_attempts.is_empty());
}
