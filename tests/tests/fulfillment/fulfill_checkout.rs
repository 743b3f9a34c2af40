//! `fulfill_checkout` against the real Postgres and stripe-sim: G2 (exactly once, however many
//! concurrent callers) and G3 (never unpaid).

use std::time::Duration;

use shared::store::{orders, outbox};
use shared::{Fulfiller, FulfillmentOutcome, OrderState, Trigger};
use sqlx::Row;
use stripe_sim::{Fault, FaultKind, PaymentOutcome, RouteMatch};
use tests::probes::{announcements, fulfilled_orders, lines};
use tests::{
    completed_event, completed_session, open_session, paid_session, race_fulfillments, TestStack,
};

#[tokio::test]
async fn a_paid_session_is_fulfilled_with_its_customer_amounts_and_line_items() {
    let stack = TestStack::start().await;
    let id = paid_session(&stack.sim, "Jenny Rosen");

    let outcome = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap();
    let FulfillmentOutcome::Fulfilled { order, newly: true } = outcome else {
        panic!("expected a new fulfillment, got {outcome:?}");
    };
    assert_eq!(order.customer_name.as_deref(), Some("Jenny Rosen"));

    let row = sqlx::query(
        "SELECT state, customer_name, customer_email, amount_total, currency, fulfilled_by \
             FROM checkout_orders WHERE session_id = $1",
    )
    .bind(id.as_str())
    .fetch_one(&stack.db.pool)
    .await
    .unwrap();
    let text = |column: &str| row.get::<Option<String>, _>(column);
    assert_eq!(text("state").as_deref(), Some("fulfilled"));
    assert_eq!(text("customer_name").as_deref(), Some("Jenny Rosen"));
    assert_eq!(
        text("customer_email").as_deref(),
        Some("jenny.rosen@example.com")
    );
    assert_eq!(
        row.get::<Option<i64>, _>("amount_total"),
        Some(2 * 2000 + 1200)
    );
    assert_eq!(text("currency").as_deref(), Some("usd"));
    assert_eq!(text("fulfilled_by").as_deref(), Some("webhook"));

    let lines: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT description, quantity, amount_total FROM order_line_items \
         WHERE session_id = $1 ORDER BY position",
    )
    .bind(id.as_str())
    .fetch_all(&stack.db.pool)
    .await
    .unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].1, 2);
    assert_eq!(lines[0].2, 4000);
    assert_eq!(lines[1].2, 1200);
    assert_eq!(
        announcements(&stack.db.pool, id.as_str(), outbox::ORDER_FULFILLED).await,
        1
    );
}

#[tokio::test]
async fn fifty_concurrent_calls_from_two_pools_fulfill_exactly_once() {
    let stack = TestStack::start().await;
    let id = paid_session(&stack.sim, "Jenny Rosen");
    // Half from a second "process": its own pool and its own Stripe client.
    let outcomes = race_fulfillments(&stack, &id, 50).await;

    let mut newly = 0;
    for outcome in outcomes {
        match outcome {
            FulfillmentOutcome::Fulfilled { newly: n, order } => {
                newly += usize::from(n);
                assert_eq!(order.lines.len(), 2, "every caller sees the whole order");
            }
            other => panic!("every caller must be told fulfilled, got {other:?}"),
        }
    }
    assert_eq!(newly, 1, "exactly one caller performed the fulfillment");
    assert_eq!(fulfilled_orders(&stack.db.pool, id.as_str()).await, 1);
    assert_eq!(lines(&stack.db.pool, id.as_str()).await, 2);
    assert_eq!(
        announcements(&stack.db.pool, id.as_str(), outbox::ORDER_FULFILLED).await,
        1
    );
}

#[tokio::test]
async fn an_unpaid_session_awaits_payment_and_is_fulfilled_once_paid() {
    let stack = TestStack::start().await;
    let id = completed_session(
        &stack.sim,
        &[("price_mug", 1)],
        PaymentOutcome::Unpaid,
        "Ada",
    );

    let outcome = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap();
    assert!(
        matches!(outcome, FulfillmentOutcome::AwaitingPayment),
        "{outcome:?}"
    );
    let state = shared::store::orders::state(&stack.db.pool, None, &id)
        .await
        .unwrap();
    assert_eq!(state, Some(OrderState::AwaitingPayment));
    assert_eq!(
        lines(&stack.db.pool, id.as_str()).await,
        0,
        "nothing delivered while unpaid"
    );
    assert_eq!(
        announcements(&stack.db.pool, id.as_str(), outbox::ORDER_FULFILLED).await,
        0
    );

    stack.sim.state.succeed_async_payment(id.as_str()).unwrap();
    let outcome = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap();
    assert!(
        matches!(outcome, FulfillmentOutcome::Fulfilled { newly: true, .. }),
        "{outcome:?}"
    );
    assert_eq!(fulfilled_orders(&stack.db.pool, id.as_str()).await, 1);
}

#[tokio::test]
async fn an_open_session_is_not_fulfilled() {
    let stack = TestStack::start().await;
    let id = open_session(&stack.sim, &[("price_mug", 1)]);
    let outcome = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Landing)
        .await
        .unwrap();
    assert!(
        matches!(outcome, FulfillmentOutcome::AwaitingPayment),
        "{outcome:?}"
    );
    assert_eq!(fulfilled_orders(&stack.db.pool, id.as_str()).await, 0);
}

#[tokio::test]
async fn no_payment_required_is_fulfilled() {
    let stack = TestStack::start().await;
    let id = completed_session(
        &stack.sim,
        &[("price_stickers", 1)],
        PaymentOutcome::NoPaymentRequired,
        "Free",
    );
    let outcome = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Landing)
        .await
        .unwrap();
    assert!(
        matches!(outcome, FulfillmentOutcome::Fulfilled { newly: true, .. }),
        "{outcome:?}"
    );
    assert_eq!(fulfilled_orders(&stack.db.pool, id.as_str()).await, 1);
}

#[tokio::test]
async fn an_unknown_session_is_not_found_and_nothing_is_written() {
    let stack = TestStack::start().await;
    let id = shared::CheckoutSessionId::parse("cs_test_unknown").unwrap();
    let outcome = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Landing)
        .await
        .unwrap();
    assert!(
        matches!(outcome, FulfillmentOutcome::NotFound),
        "{outcome:?}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM checkout_orders")
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn an_expired_session_is_recorded_as_expired() {
    let stack = TestStack::start().await;
    let id = open_session(&stack.sim, &[("price_mug", 1)]);
    stack.sim.state.expire_session(id.as_str()).unwrap();
    let outcome = stack
        .fulfiller
        .record_expired(&id, Trigger::Webhook)
        .await
        .unwrap();
    assert!(
        matches!(outcome, FulfillmentOutcome::Expired),
        "{outcome:?}"
    );
    let state = shared::store::orders::state(&stack.db.pool, None, &id)
        .await
        .unwrap();
    assert_eq!(state, Some(OrderState::Expired));
}

#[tokio::test]
async fn a_failed_delayed_payment_is_recorded_and_announced_once() {
    let stack = TestStack::start().await;
    let id = completed_session(
        &stack.sim,
        &[("price_mug", 1)],
        PaymentOutcome::Unpaid,
        "Grace",
    );
    stack.sim.state.fail_async_payment(id.as_str()).unwrap();

    for _ in 0..3 {
        let outcome = stack
            .fulfiller
            .record_payment_failed(&id, Trigger::Webhook)
            .await
            .unwrap();
        assert!(
            matches!(outcome, FulfillmentOutcome::PaymentFailed),
            "{outcome:?}"
        );
    }
    assert_eq!(
        announcements(&stack.db.pool, id.as_str(), outbox::ORDER_PAYMENT_FAILED).await,
        1
    );
    // A late `completed` event for the same session must not turn the failure back into
    // "awaiting payment".
    let outcome = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap();
    assert!(
        matches!(outcome, FulfillmentOutcome::PaymentFailed),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_already_fulfilled_order_answers_without_calling_stripe() {
    let stack = TestStack::start().await;
    let id = paid_session(&stack.sim, "Jenny Rosen");
    stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap();
    let before = stack.sim.state.request_count();

    let outcome = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Landing)
        .await
        .unwrap();
    assert!(
        matches!(outcome, FulfillmentOutcome::Fulfilled { newly: false, .. }),
        "{outcome:?}"
    );
    assert_eq!(
        stack.sim.state.request_count(),
        before,
        "no request reached Stripe"
    );
}

/// Fulfills `id` from a webhook, which must be a new fulfillment; the order, and the statements
/// it cost ([`statements_during`]).
async fn fulfill_new(stack: &TestStack, id: &shared::CheckoutSessionId) -> (orders::Order, usize) {
    let (outcome, statements) =
        statements_during(stack.fulfiller.fulfill_checkout(id, Trigger::Webhook)).await;
    let FulfillmentOutcome::Fulfilled { order, newly: true } = outcome.unwrap() else {
        panic!("expected a new fulfillment");
    };
    (order, statements)
}

/// Counts the statements sqlx sends to Postgres while `work` runs on this thread: sqlx emits
/// one `sqlx::query` event per statement executed, each a round trip.
async fn statements_during<T>(work: impl std::future::Future<Output = T>) -> (T, usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tracing_subscriber::layer::SubscriberExt;

    struct Count(Arc<AtomicUsize>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Count {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if event.metadata().target() == "sqlx::query" {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let count = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(Count(count.clone()));
    // #[tokio::test] runs on one thread, so every statement of `work` is seen here.
    let _scope = tracing::subscriber::set_default(subscriber);
    let output = work.await;
    (output, count.load(Ordering::Relaxed))
}

#[tokio::test]
async fn reading_a_fulfilled_order_with_its_lines_and_access_is_one_round_trip() {
    use shared::store::access::{self, ProductAccess};
    let stack = TestStack::start().await;
    access::set(
        &stack.db.pool,
        &ProductAccess {
            product_id: "prod_tshirt".into(),
            title: "Members' area".into(),
            url: Some("https://shop.test/members".into()),
            licence_keys: false,
        },
    )
    .await
    .unwrap();
    let id = paid_session(&stack.sim, "Jenny Rosen");
    stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap();

    // A reload of the success page, or a second event for the session.
    let (outcome, statements) =
        statements_during(stack.fulfiller.fulfill_checkout(&id, Trigger::Landing)).await;

    let FulfillmentOutcome::Fulfilled {
        order,
        newly: false,
    } = outcome.unwrap()
    else {
        panic!("expected the stored order");
    };
    assert_eq!(order.lines.len(), 2, "{order:?}");
    assert_eq!(order.access.len(), 1, "{order:?}");
    assert_eq!(order.access[0].title, "Members' area");
    assert_eq!(
        statements, 1,
        "one statement reads the order, its lines and access"
    );
}

#[tokio::test]
async fn stripe_unavailable_is_a_transient_error_and_writes_nothing() {
    let stack = TestStack::start().await;
    let id = paid_session(&stack.sim, "Jenny Rosen");
    stack.sim.state.inject_fault(Fault {
        route: RouteMatch::new("GET", "/v1/checkout/sessions/"),
        kind: FaultKind::Status500,
        count: 0,
    });
    let err = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(fulfilled_orders(&stack.db.pool, id.as_str()).await, 0);

    stack.sim.state.clear_faults();
    let outcome = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap();
    assert!(
        matches!(outcome, FulfillmentOutcome::Fulfilled { newly: true, .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn the_database_unreachable_is_a_transient_error() {
    let stack = TestStack::start().await;
    let id = paid_session(&stack.sim, "Jenny Rosen");
    let mut settings = stack.settings.database.clone();
    settings.url = "postgres://postgres@127.0.0.1:1/nowhere".to_owned().into();
    settings.acquire_timeout_ms = 500;
    let broken = Fulfiller::new(
        shared::store::pool(&settings).unwrap(),
        stack.stripe.clone(),
    );
    let err = broken
        .fulfill_checkout(&id, Trigger::Landing)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn a_frozen_holder_of_the_sessions_lock_gets_a_transient_error_quickly_and_a_retry_fulfills_once(
) {
    let stack = TestStack::start_with(|s| s.database.lock_timeout_ms = 300).await;
    let id = paid_session(&stack.sim, "Jenny Rosen");
    // Someone else (a psql session left open, a process frozen mid-transaction) holds the
    // session's fulfillment lock and does not let go.
    let mut holder = stack.db.pool.begin().await.unwrap();
    orders::lock_session(&mut holder, None, &id).await.unwrap();
    let fulfiller = Fulfiller::new(
        shared::store::pool(&stack.settings.database).unwrap(),
        stack.stripe.clone(),
    );

    let attempt = tokio::time::timeout(
        Duration::from_secs(5),
        fulfiller.fulfill_checkout(&id, Trigger::Webhook),
    )
    .await
    .expect("fulfillment gives up on a held lock within database.lock_timeout_ms");
    let err = attempt.expect_err("nothing is fulfilled while another session holds the lock");
    assert!(
        err.is_transient(),
        "a lock timeout is retried, not dead-lettered: {err:?}"
    );
    assert_eq!(fulfilled_orders(&stack.db.pool, id.as_str()).await, 0);

    holder.commit().await.unwrap();
    let outcome = tokio::time::timeout(
        Duration::from_secs(5),
        fulfiller.fulfill_checkout(&id, Trigger::Webhook),
    )
    .await
    .expect("the retry is not blocked")
    .unwrap();
    assert!(
        matches!(outcome, FulfillmentOutcome::Fulfilled { newly: true, .. }),
        "{outcome:?}"
    );
    assert_eq!(fulfilled_orders(&stack.db.pool, id.as_str()).await, 1);
    assert_eq!(lines(&stack.db.pool, id.as_str()).await, 2);
    assert_eq!(
        announcements(&stack.db.pool, id.as_str(), outbox::ORDER_FULFILLED).await,
        1
    );
}

#[tokio::test]
async fn a_session_made_for_a_customer_thanks_the_customer_by_the_merchants_name_in_one_call() {
    let stack = TestStack::start().await;
    let customer = stack
        .sim
        .state
        .create_customer(stripe_sim::CreateCustomer {
            name: Some("Jenny Rosen".into()),
            email: Some("jenny.rosen@example.com".into()),
            ..Default::default()
        })
        .unwrap();
    let session = stack
        .sim
        .state
        .create_session(stripe_sim::CreateSession {
            line_items: vec![stripe_sim::LineItemParams::catalog("price_mug", 1)],
            success_url: Some("http://127.0.0.1/ok?session_id={CHECKOUT_SESSION_ID}".into()),
            customer: customer["id"].as_str().map(str::to_owned),
            ..Default::default()
        })
        .unwrap();
    let id = shared::CheckoutSessionId::parse(session["id"].as_str().unwrap()).unwrap();
    // What was typed on the payment page differs from the merchant's record.
    let typed = stripe_sim::Customer {
        name: "J R".into(),
        email: "jenny.rosen@example.com".into(),
        shipping: None,
    };
    stack
        .sim
        .state
        .complete_session(id.as_str(), PaymentOutcome::Paid, typed)
        .unwrap();
    let calls_before = stack.sim.state.request_count();

    let outcome = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap();
    let FulfillmentOutcome::Fulfilled { order, newly: true } = outcome else {
        panic!("expected a new fulfillment, got {outcome:?}");
    };
    assert_eq!(order.customer_name.as_deref(), Some("Jenny Rosen"));
    let stored: Option<String> =
        sqlx::query_scalar("SELECT customer_name FROM checkout_orders WHERE session_id = $1")
            .bind(id.as_str())
            .fetch_one(&stack.db.pool)
            .await
            .unwrap();
    assert_eq!(stored.as_deref(), Some("Jenny Rosen"));
    assert_eq!(
        stack.sim.state.request_count() - calls_before,
        1,
        "the customer comes expanded with the session, not from a second call"
    );
}

/// The round trips of a new fulfillment, counted so that a change adding or saving one updates
/// this number on purpose: the order read, then one statement that takes the session lock and
/// writes the order (only if not fulfilled yet), its lines, the announcement and its
/// notification row. No transaction: no BEGIN, no COMMIT. (Was 7 statements plus BEGIN: the
/// read, then in a transaction the lock, the order, its lines, the access grant, the
/// announcement and the commit.)
#[tokio::test]
async fn a_new_fulfillment_costs_a_known_number_of_round_trips() {
    let stack = TestStack::start().await;
    let id = paid_session(&stack.sim, "Jenny Rosen");
    let (outcome, statements) =
        statements_during(stack.fulfiller.fulfill_checkout(&id, Trigger::Webhook)).await;
    assert!(matches!(
        outcome.unwrap(),
        FulfillmentOutcome::Fulfilled { newly: true, .. }
    ));
    assert_eq!(statements, 2);
}

/// A `completed` event through the worker's processing step: the event's recorded outcome and
/// the order in one read, then the one-statement fulfillment, which records the event's
/// outcome too: 2 round trips (was 3 with the outcome recorded on its own, 9 statements plus
/// BEGIN before that). The same event again: its settled outcome, 1.
#[tokio::test]
async fn a_new_fulfillment_from_a_webhook_costs_two_round_trips_a_duplicate_one() {
    let stack = TestStack::start().await;
    let (id, event) = completed_event(
        &stack.sim,
        &[("price_tshirt", 2), ("price_mug", 1)],
        PaymentOutcome::Paid,
        "Jenny Rosen",
    );
    let body = serde_json::to_vec(&event).unwrap();
    let processor = worker::Processor::new(stack.fulfiller.clone(), 2);

    let (disposition, statements) = statements_during(processor.process(&body, None)).await;
    assert_eq!(disposition, worker::Disposition::Ack);
    assert_eq!(fulfilled_orders(&stack.db.pool, id.as_str()).await, 1);
    assert_eq!(statements, 2, "a new fulfillment from a webhook");
    let event_id = event["id"].as_str().unwrap();
    assert_eq!(
        event_row(&stack, event_id).await,
        ("fulfilled".to_owned(), 1, None, 0),
        "the event recorded by the fulfillment's statement"
    );

    let (disposition, statements) = statements_during(processor.process(&body, None)).await;
    assert_eq!(disposition, worker::Disposition::Ack);
    assert_eq!(statements, 1, "a duplicate event");
    assert_eq!(fulfilled_orders(&stack.db.pool, id.as_str()).await, 1);
    assert_eq!(
        event_row(&stack, event_id).await,
        ("fulfilled".to_owned(), 1, None, 0),
        "a settled duplicate is skipped, not counted"
    );
    assert_eq!(
        announcements(&stack.db.pool, id.as_str(), outbox::ORDER_FULFILLED).await,
        1
    );
}

/// An event's row: its outcome, attempts, last error and how many failed attempts it keeps.
async fn event_row(stack: &TestStack, event_id: &str) -> (String, i32, Option<String>, i32) {
    sqlx::query_as(
        "SELECT outcome, attempts, last_error, jsonb_array_length(failed_attempts) \
         FROM stripe_events WHERE event_id = $1",
    )
    .bind(event_id)
    .fetch_one(&stack.db.pool)
    .await
    .unwrap()
}

/// The event is recorded with the fulfillment, so a fulfillment that fails records nothing of
/// the sort: a pool short of licence keys fails the statement, the event is recorded as
/// retrying with its error, and the attempt that fulfills once keys are added records
/// `fulfilled`, clears the error, counts the attempt and keeps the failed one.
#[tokio::test]
async fn a_webhook_fulfillment_that_fails_records_no_fulfilled_event() {
    use shared::store::access::{self, ProductAccess};
    let stack = TestStack::start().await;
    access::set(
        &stack.db.pool,
        &ProductAccess {
            product_id: "prod_tshirt".into(),
            title: "Members' area".into(),
            url: None,
            licence_keys: true,
        },
    )
    .await
    .unwrap();
    let (id, event) = completed_event(
        &stack.sim,
        &[("price_tshirt", 2)],
        PaymentOutcome::Paid,
        "Jenny Rosen",
    );
    let event_id = event["id"].as_str().unwrap();
    let body = serde_json::to_vec(&event).unwrap();
    let processor = worker::Processor::new(stack.fulfiller.clone(), 2);

    let disposition = processor.process(&body, None).await;
    assert!(
        matches!(&disposition, worker::Disposition::Retry { error, .. } if error.contains("prod_tshirt")),
        "{disposition:?}"
    );
    assert_eq!(fulfilled_orders(&stack.db.pool, id.as_str()).await, 0);
    let (outcome, attempts, error, failed) = event_row(&stack, event_id).await;
    assert_eq!((outcome.as_str(), attempts, failed), ("retrying", 1, 1));
    assert!(error.is_some_and(|e| e.contains("prod_tshirt")));

    access::add_keys(&stack.db.pool, "prod_tshirt", &["K1".into(), "K2".into()])
        .await
        .unwrap();
    assert_eq!(
        processor.process(&body, None).await,
        worker::Disposition::Ack
    );
    assert_eq!(fulfilled_orders(&stack.db.pool, id.as_str()).await, 1);
    assert_eq!(
        event_row(&stack, event_id).await,
        ("fulfilled".to_owned(), 2, None, 1)
    );
}

/// The one-statement fulfillment merges the order number into the announcement in SQL; the
/// rest of the body is the Rust serialization. What is stored is exactly what
/// `OrderFulfilled::from` the order makes, of the order returned and of the order read back.
#[tokio::test]
async fn the_stored_announcement_is_the_order_serialized() {
    use shared::announcements::OrderFulfilled;
    let stack = TestStack::start().await;
    let id = paid_session(&stack.sim, "Jenny Rosen");
    let FulfillmentOutcome::Fulfilled { order, newly: true } = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap()
    else {
        panic!("expected a new fulfillment");
    };
    let stored: serde_json::Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE session_id = $1 AND topic = 'order.fulfilled'",
    )
    .bind(id.as_str())
    .fetch_one(&stack.db.pool)
    .await
    .unwrap();
    assert_eq!(
        stored,
        serde_json::to_value(OrderFulfilled::from(&order)).unwrap()
    );
    let read_back = stack.fulfiller.stored_order(&id).await.unwrap().unwrap();
    assert_eq!(
        stored,
        serde_json::to_value(OrderFulfilled::from(&read_back)).unwrap()
    );
    assert!(order.order_number > 0);
    assert_eq!(stored["order_number"], order.order_number);
}

/// An order of digital goods (a licence key per T-shirt, a link for the mug) is fulfilled in
/// one statement: 2 round trips (was 9 statements plus BEGIN: the read, then in a transaction
/// the lock, the order, its lines, the products' access, the keys, the access rows, the
/// announcement and the commit) once the fulfiller knows its products grant access. The first
/// such order of a process costs one more: the plain statement, which has no grant, writes
/// nothing and names the products, and the full one writes the order. The access merged into the
/// announcement in SQL is the Rust serialization of what the order returned.
#[tokio::test]
async fn a_digital_order_costs_the_same_round_trips_and_announces_what_it_granted() {
    use shared::announcements::OrderFulfilled;
    use shared::store::access::{self, ProductAccess};
    let stack = TestStack::start().await;
    for (product, title, url, licence_keys) in [
        ("prod_tshirt", "Members' area", None, true),
        (
            "prod_mug",
            "Mug care guide",
            Some("https://shop.test/mug.pdf"),
            false,
        ),
    ] {
        access::set(
            &stack.db.pool,
            &ProductAccess {
                product_id: product.into(),
                title: title.into(),
                url: url.map(Into::into),
                licence_keys,
            },
        )
        .await
        .unwrap();
    }
    let keys = ["K1", "K2", "K3", "K4", "K5"].map(String::from);
    access::add_keys(&stack.db.pool, "prod_tshirt", &keys)
        .await
        .unwrap();
    // Two T-shirts and a mug, twice.
    let first = paid_session(&stack.sim, "Jenny Rosen");
    let id = paid_session(&stack.sim, "Jenny Rosen");

    let (_, statements) = fulfill_new(&stack, &first).await;
    assert_eq!(
        statements, 3,
        "the first order granting access: the read, the plain statement, the full one"
    );
    let (order, statements) = fulfill_new(&stack, &id).await;
    assert_eq!(
        statements, 2,
        "the fulfiller knows its products grant access"
    );
    let granted: Vec<_> = order
        .access
        .iter()
        .map(|a| (a.product_id.as_str(), a.licence_key.as_deref()))
        .collect();
    assert_eq!(
        granted,
        [
            ("prod_tshirt", Some("K3")),
            ("prod_tshirt", Some("K4")),
            ("prod_mug", None)
        ]
    );
    let stored: serde_json::Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE session_id = $1 AND topic = 'order.fulfilled'",
    )
    .bind(id.as_str())
    .fetch_one(&stack.db.pool)
    .await
    .unwrap();
    assert_eq!(
        stored,
        serde_json::to_value(OrderFulfilled::from(&order)).unwrap()
    );
    let read_back = stack.fulfiller.stored_order(&id).await.unwrap().unwrap();
    assert_eq!(read_back.access, order.access);
}

/// The fulfiller writes an order of products it has not seen grant access with the plain
/// statement, which has no grant. A product that starts granting access after the fulfiller
/// last looked must still be granted: the plain statement writes nothing and names it, and the
/// full statement writes the order with its access. Then the fulfiller knows.
#[tokio::test]
async fn a_product_that_starts_granting_access_is_granted_though_the_fulfiller_did_not_know() {
    use shared::store::access::{self, ProductAccess};
    let stack = TestStack::start().await;
    let before = paid_session(&stack.sim, "Jenny Rosen");
    let (order, statements) = fulfill_new(&stack, &before).await;
    assert_eq!(
        (statements, order.access.len()),
        (2, 0),
        "nothing granted yet"
    );

    access::set(
        &stack.db.pool,
        &ProductAccess {
            product_id: "prod_mug".into(),
            title: "Mug care guide".into(),
            url: Some("https://shop.test/mug.pdf".into()),
            licence_keys: false,
        },
    )
    .await
    .unwrap();
    let after = paid_session(&stack.sim, "Jenny Rosen");
    let (order, statements) = fulfill_new(&stack, &after).await;
    assert_eq!(
        statements, 3,
        "the plain statement refused, the full one wrote"
    );
    let granted: Vec<_> = order
        .access
        .iter()
        .map(|a| (a.product_id.as_str(), a.url.as_deref()))
        .collect();
    assert_eq!(granted, [("prod_mug", Some("https://shop.test/mug.pdf"))]);
    let read_back = stack.fulfiller.stored_order(&after).await.unwrap().unwrap();
    assert_eq!(read_back.access, order.access, "recorded in order_access");
    let announced: serde_json::Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE session_id = $1 AND topic = 'order.fulfilled'",
    )
    .bind(after.as_str())
    .fetch_one(&stack.db.pool)
    .await
    .unwrap();
    assert_eq!(announced["access"][0]["url"], "https://shop.test/mug.pdf");
    assert_eq!(
        announcements(&stack.db.pool, after.as_str(), "order.fulfilled").await,
        1,
        "one announcement, from the statement that wrote"
    );

    let third = paid_session(&stack.sim, "Jenny Rosen");
    let (order, statements) = fulfill_new(&stack, &third).await;
    assert_eq!(
        (statements, order.access.len()),
        (2, 1),
        "the fulfiller now knows the mug grants access"
    );
}
