//! The worker fulfills what the queue brings, once, whatever order or multiplicity it arrives
//! in (G2), and never an unpaid session (G3).

use tests::deploy_support::{committed_definitions, default_topology, import_and_wait, Vhost};
use tests::probes::{
    event_outcome, fulfillment_effects, order_state, wait_for_outcome, wait_for_state,
};
use tests::worker_support::*;
use tests::{eventually, TestStack};

#[tokio::test]
async fn a_completed_event_for_a_paid_session_fulfills_it_and_announces_order_fulfilled() {
    let stack = TestStack::start().await;
    let orders = stack
        .broker
        .watch(&stack.broker.topology.orders_exchange(), "order.#")
        .await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;
    let (session_id, event) = paid_session(&stack.sim.state);

    publish_event(&stack, &channel, &event).await;

    assert!(wait_for_state(&stack.db.pool, &session_id, "fulfilled").await);
    let order = stack
        .fulfiller
        .stored_order(&shared::CheckoutSessionId::parse(&session_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.fulfilled_by.as_deref(), Some("webhook"));
    assert_eq!(order.customer_email.as_deref(), Some("jenny@example.com"));
    assert_eq!(order.amount_total, Some(4000));
    assert_eq!(order.lines.len(), 1);
    assert_eq!(order.lines[0].quantity, 2);

    let announcement = stack
        .broker
        .next(&orders, WAIT)
        .await
        .expect("order.fulfilled is published");
    let properties = &announcement.delivery.properties;
    assert_eq!(
        properties.kind().as_ref().map(|k| k.as_str()),
        Some("order.fulfilled")
    );
    assert_eq!(
        announcement.delivery.routing_key.as_str(),
        "order.fulfilled"
    );
    let body: serde_json::Value = serde_json::from_slice(&announcement.delivery.data).unwrap();
    assert_eq!(body["session_id"], session_id.as_str());
    assert_eq!(body["amount_total"], 4000);
    // The relay marks the row sent once the broker has confirmed the publish, which can be
    // after a subscriber already holds the message.
    let outbox_id: uuid::Uuid = eventually(WAIT, || async {
        sqlx::query_scalar("SELECT id FROM outbox WHERE session_id = $1 AND sent_at IS NOT NULL")
            .bind(&session_id)
            .fetch_optional(&stack.db.pool)
            .await
            .unwrap()
    })
    .await
    .expect("the outbox row is marked sent");
    assert_eq!(
        properties.message_id().as_ref().map(|m| m.to_string()),
        Some(outbox_id.to_string()),
        "message_id is the outbox row id, so subscribers can dedupe"
    );
    assert!(wait_for_outcome(&stack.db.pool, event["id"].as_str().unwrap(), "fulfilled").await);
    worker.shutdown().await;
    assert_eq!(
        stack
            .broker
            .depth(&stack.broker.topology.fulfillment_queue())
            .await,
        0
    );
}

#[tokio::test]
async fn the_same_event_five_times_and_a_second_event_for_the_session_fulfill_it_once() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;
    let (session_id, event) = paid_session(&stack.sim.state);
    let event_id = event["id"].as_str().unwrap().to_owned();
    let second = synthetic_event(
        "evt_second_delivery_1",
        "checkout.session.completed",
        &session_id,
    );

    for _ in 0..5 {
        publish_event(&stack, &channel, &event).await;
    }
    publish_event(&stack, &channel, &second).await;

    eventually(WAIT, || async {
        event_outcome(&stack.db.pool, &event_id).await?;
        event_outcome(&stack.db.pool, "evt_second_delivery_1").await?;
        let attempts: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(attempts), 0)::bigint FROM stripe_events WHERE session_id = $1",
        )
        .bind(&session_id)
        .fetch_one(&stack.db.pool)
        .await
        .ok()?;
        // Six deliveries; a redelivery of a settled event is skipped before it is counted.
        (stack
            .broker
            .depth(&stack.broker.topology.fulfillment_queue())
            .await
            == 0
            && attempts >= 2)
            .then_some(())
    })
    .await
    .expect("both events are processed");
    // A copy that fulfilled may still be recording its outcome after a duplicate recorded
    // `already_fulfilled` (the queue shows ready messages only): the drain waits for it.
    worker.shutdown().await;
    let settled = (
        event_outcome(&stack.db.pool, &event_id)
            .await
            .expect("recorded"),
        event_outcome(&stack.db.pool, "evt_second_delivery_1")
            .await
            .expect("recorded"),
    );
    assert!(
        [settled.0.as_str(), settled.1.as_str()].contains(&"fulfilled"),
        "one of the events fulfilled the session: {settled:?}"
    );
    assert!(
        settled.0 == "already_fulfilled" || settled.1 == "already_fulfilled",
        "the other found it fulfilled: {settled:?}"
    );
    assert_eq!(
        fulfillment_effects(&stack.db.pool, &session_id).await,
        (1, 1, 1)
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
async fn a_delayed_payment_waits_as_awaiting_payment_then_is_fulfilled_when_it_succeeds() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;
    let (session_id, completed) = delayed_session(&stack.sim.state);

    publish_event(&stack, &channel, &completed).await;
    assert!(wait_for_state(&stack.db.pool, &session_id, "awaiting_payment").await);
    assert_eq!(
        fulfillment_effects(&stack.db.pool, &session_id).await,
        (0, 0, 0)
    );

    let succeeded = stack.sim.state.succeed_async_payment(&session_id).unwrap();
    publish_event(&stack, &channel, &succeeded).await;
    assert!(wait_for_state(&stack.db.pool, &session_id, "fulfilled").await);
    assert_eq!(
        fulfillment_effects(&stack.db.pool, &session_id).await,
        (1, 1, 1)
    );
    assert_eq!(
        event_outcome(&stack.db.pool, completed["id"].as_str().unwrap())
            .await
            .as_deref(),
        Some("awaiting_payment")
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn a_failed_delayed_payment_is_recorded_and_order_payment_failed_is_announced() {
    let stack = TestStack::start().await;
    let orders = stack
        .broker
        .watch(
            &stack.broker.topology.orders_exchange(),
            "order.payment_failed",
        )
        .await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;
    let (session_id, completed) = delayed_session(&stack.sim.state);
    publish_event(&stack, &channel, &completed).await;
    assert!(wait_for_state(&stack.db.pool, &session_id, "awaiting_payment").await);

    let failed = stack.sim.state.fail_async_payment(&session_id).unwrap();
    publish_event(&stack, &channel, &failed).await;

    assert!(wait_for_state(&stack.db.pool, &session_id, "payment_failed").await);
    let announcement = stack
        .broker
        .next(&orders, WAIT)
        .await
        .expect("order.payment_failed is published");
    let body: serde_json::Value = serde_json::from_slice(&announcement.delivery.data).unwrap();
    assert_eq!(body["session_id"], session_id.as_str());
    assert_eq!(body["customer_email"], "jenny@example.com");
    assert_eq!(
        fulfillment_effects(&stack.db.pool, &session_id).await,
        (0, 0, 0)
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn events_out_of_order_succeeded_before_completed_fulfill_once() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;
    let (session_id, completed) = delayed_session(&stack.sim.state);
    let succeeded = stack.sim.state.succeed_async_payment(&session_id).unwrap();

    publish_event(&stack, &channel, &succeeded).await;
    assert!(wait_for_state(&stack.db.pool, &session_id, "fulfilled").await);
    publish_event(&stack, &channel, &completed).await;
    let late = eventually(WAIT, || async {
        event_outcome(&stack.db.pool, completed["id"].as_str().unwrap()).await
    })
    .await;

    assert_eq!(late.as_deref(), Some("already_fulfilled"));
    assert_eq!(
        order_state(&stack.db.pool, &session_id).await.as_deref(),
        Some("fulfilled")
    );
    assert_eq!(
        fulfillment_effects(&stack.db.pool, &session_id).await,
        (1, 1, 1)
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn an_expired_session_is_recorded_as_expired_and_never_fulfilled() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;
    let session_id = open_session(&stack.sim.state);
    let expired = stack.sim.state.expire_session(&session_id).unwrap();

    publish_event(&stack, &channel, &expired).await;

    assert!(wait_for_state(&stack.db.pool, &session_id, "expired").await);
    assert_eq!(
        fulfillment_effects(&stack.db.pool, &session_id).await,
        (0, 0, 0)
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn a_completed_event_claiming_payment_for_an_unpaid_session_does_not_fulfill_it() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;
    // The customer has not paid: the session is still open at Stripe, whatever the event says.
    let session_id = open_session(&stack.sim.state);
    let forged = synthetic_event(
        "evt_claims_paid_1",
        "checkout.session.completed",
        &session_id,
    );

    publish_event(&stack, &channel, &forged).await;

    let outcome = eventually(WAIT, || async {
        event_outcome(&stack.db.pool, "evt_claims_paid_1").await
    })
    .await;
    assert_eq!(outcome.as_deref(), Some("awaiting_payment"));
    assert_eq!(
        fulfillment_effects(&stack.db.pool, &session_id).await,
        (0, 0, 0)
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn an_event_type_the_worker_does_not_act_on_is_acknowledged_and_recorded_as_ignored() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;
    let event = synthetic_event("evt_new_type_1", "checkout.session.something_new", "x");

    publish_event(&stack, &channel, &event).await;

    let outcome = eventually(WAIT, || async {
        event_outcome(&stack.db.pool, "evt_new_type_1").await
    })
    .await;
    assert_eq!(outcome.as_deref(), Some("ignored"));
    worker.shutdown().await;
    assert_eq!(
        stack
            .broker
            .depth(&stack.broker.topology.dead_queue())
            .await,
        0
    );
    assert_eq!(
        stack
            .broker
            .depth(&stack.broker.topology.fulfillment_queue())
            .await,
        0
    );
}

/// A subscriber's queue missing (deployed after the announcement, or redeclared during a
/// deploy) must not lose the announcement: the broker keeps it in `orders.unrouted`, and the
/// relay marks its outbox row sent only once the broker confirmed it there.
#[tokio::test]
async fn an_announcement_no_subscriber_takes_is_kept_in_orders_unrouted_and_then_marked_sent() {
    use shared::queue::connection::BrokerOptions;
    use shared::store::outbox;
    use worker::outbox_relay::{OutboxRelay, RelayOptions};

    let db = tests::TestDb::create().await;
    // The production topology as a deployed broker has it, less the notifier's queue: no
    // subscriber queue on orders at all.
    let vhost = Vhost::create("orders-unrouted");
    import_and_wait(&vhost, &committed_definitions()).await;
    let admin = vhost.connect().await;
    admin
        .create_channel()
        .await
        .unwrap()
        .queue_delete("notifier.orders", Default::default())
        .await
        .expect("the notifier's queue is deleted");
    let _ = admin.close(200, "done").await;
    let topology = default_topology();
    let broker = shared::queue::Broker::start(BrokerOptions {
        endpoint: secrecy::SecretString::from(vhost.amqp_url()).into(),
        connection_name: "relay-test".into(),
        topology: topology.clone(),
        channels: 1,
        reconnect_min: std::time::Duration::from_millis(50),
        reconnect_max: std::time::Duration::from_millis(200),
    });
    assert!(broker.wait_connected(WAIT).await);
    let mut conn = db.pool.acquire().await.unwrap();
    let announced = shared::announcements::OrderFulfilled {
        version: shared::announcements::VERSION,
        session_id: "cs_test_late_subscriber".into(),
        account: None,
        order_number: 1,
        customer_name: None,
        customer_email: None,
        currency: None,
        amount_total: None,
        fulfilled_by: None,
        fulfilled_at: None,
        line_items: Vec::new(),
        shipping: None,
        access: Vec::new(),
        subscription: None,
    };
    let row = outbox::enqueue(
        &mut conn,
        None,
        "cs_test_late_subscriber",
        &announced,
        false,
    )
    .await
    .unwrap();
    drop(conn);

    let relay = OutboxRelay::new(
        db.pool.clone(),
        broker.clone(),
        RelayOptions {
            exchange: topology.orders_exchange(),
            batch: 10,
            interval: std::time::Duration::from_secs(1),
            confirm_timeout: std::time::Duration::from_secs(5),
        },
        std::sync::Arc::new(tokio::sync::Notify::new()),
    );
    let pass = relay.relay_once().await.expect("a relay pass");
    let sent: bool = sqlx::query_scalar("SELECT sent_at IS NOT NULL FROM outbox WHERE id = $1")
        .bind(row)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        (pass.claimed, sent),
        (1, true),
        "the row is relayed: {pass:?}"
    );

    let connection = vhost.connect().await;
    let channel = connection.create_channel().await.unwrap();
    let kept = channel
        .basic_get(
            "orders.unrouted",
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap_or_else(|e| panic!("marked sent, yet orders.unrouted cannot hold it: {e}"))
        .expect("marked sent, and kept in orders.unrouted");
    assert_eq!(kept.delivery.routing_key.as_str(), outbox::ORDER_FULFILLED);
    assert_eq!(
        kept.delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string()),
        Some(row.to_string()),
        "the subscriber can still dedupe it by the outbox row id"
    );
    let body: serde_json::Value = serde_json::from_slice(&kept.delivery.data).unwrap();
    assert_eq!(body, serde_json::to_value(&announced).unwrap());
    broker.close().await;
}
