//! `worker redrive`: dead messages go back to checkout.fulfillment with their attempts reset;
//! unrouted ones go back through the exchange they were published to.

use std::time::Duration;

use shared::queue::redrive::RedriveReport;
use shared::queue::topology::headers;
use stripe_sim::{Fault, FaultKind, RouteMatch};
use tests::probes::{fulfillment_effects, order_state, wait_for_outcome, wait_for_state};
use tests::worker_support::*;
use tests::{eventually, TestStack};
use worker::redrive::{redrive, RedriveSource};

async fn redrive_now(stack: &TestStack, limit: Option<usize>) -> RedriveReport {
    redrive(
        &(&stack.settings.broker.url).into(),
        &stack.broker.topology,
        RedriveSource::Dead,
        limit,
        Duration::from_secs(5),
    )
    .await
    .expect("redrive succeeds")
}

#[tokio::test]
async fn a_redriven_dead_message_is_processed_again_and_succeeds() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;
    let (session_id, event) = paid_session(&stack.sim.state);
    // Stripe wrongly answers 404 once (say, a key for the wrong account was deployed).
    stack.sim.state.inject_fault(Fault {
        route: RouteMatch::new("GET", &format!("/v1/checkout/sessions/{session_id}")),
        kind: FaultKind::Status(404),
        count: 1,
    });
    publish_event(&stack, &channel, &event).await;
    let dead = eventually(WAIT, || async {
        (stack
            .broker
            .depth(&stack.broker.topology.dead_queue())
            .await
            == 1)
            .then_some(())
    })
    .await;
    assert!(dead.is_some(), "the message is dead-lettered first");
    assert_eq!(order_state(&stack.db.pool, &session_id).await, None);

    let report = redrive_now(&stack, None).await;

    assert_eq!(
        report,
        RedriveReport {
            moved: 1,
            remaining: 0
        }
    );
    assert!(wait_for_state(&stack.db.pool, &session_id, "fulfilled").await);
    assert!(wait_for_outcome(&stack.db.pool, event["id"].as_str().unwrap(), "fulfilled").await);
    worker.shutdown().await;
    assert_eq!(
        stack
            .broker
            .depth(&stack.broker.topology.dead_queue())
            .await,
        0
    );
    assert_eq!(
        fulfillment_effects(&stack.db.pool, &session_id).await,
        (1, 1, 1)
    );
}

#[tokio::test]
async fn redrive_moves_at_most_the_limit_and_resets_the_attempts() {
    let stack = TestStack::start().await;
    let worker = start_worker(&stack, |_| {}).await;
    let channel = publisher(&stack).await;
    for i in 0..3 {
        let event = synthetic_event(
            &format!("evt_redrive_{i}"),
            "checkout.session.completed",
            &format!("cs_test_missing{i}"),
        );
        publish_event(&stack, &channel, &event).await;
    }
    let dead = eventually(WAIT, || async {
        (stack
            .broker
            .depth(&stack.broker.topology.dead_queue())
            .await
            == 3)
            .then_some(())
    })
    .await;
    assert!(dead.is_some());
    // Stopped, so the redriven messages wait in the queue where the test can look at them.
    worker.shutdown().await;

    let report = redrive_now(&stack, Some(2)).await;

    assert_eq!(
        report,
        RedriveReport {
            moved: 2,
            remaining: 1
        }
    );
    assert_eq!(
        stack
            .broker
            .depth(&stack.broker.topology.dead_queue())
            .await,
        1
    );
    let queue = stack.broker.topology.fulfillment_queue();
    for _ in 0..2 {
        let message = stack
            .broker
            .next(&queue, WAIT)
            .await
            .expect("a redriven message");
        assert_eq!(header_text(&message, headers::ATTEMPTS), None);
        assert_eq!(header_text(&message, headers::DEAD_REASON), None);
        assert!(header_text(&message, "traceparent").is_some());
        let id = message.delivery.properties.message_id().clone().unwrap();
        assert!(id.as_str().starts_with("evt_redrive_"), "{id}");
    }
}

/// The fulfillment queue's binding goes missing (an operator redeclaring the queue), an event
/// lands in checkout.unrouted; once the binding is back, `redrive --from unrouted` sends it
/// through checkout.events to checkout.fulfillment, unchanged.
#[tokio::test]
async fn an_unrouted_event_is_redriven_through_checkout_events_once_the_binding_is_back() {
    use lapin::options::{BasicGetOptions, ConfirmSelectOptions};
    use lapin::types::FieldTable;
    use shared::queue::{publish_confirmed, OutgoingMessage};
    use tests::deploy_support::{committed_definitions, default_topology, import_and_wait, Vhost};

    let vhost = Vhost::create("redrive-unrouted");
    import_and_wait(&vhost, &committed_definitions()).await;
    let topology = default_topology();
    let connection = vhost.connect().await;
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    channel
        .queue_unbind(
            &topology.fulfillment_queue(),
            &topology.checkout_exchange(),
            "checkout.session.*",
            FieldTable::default(),
        )
        .await
        .unwrap();
    let body = br#"{"id":"evt_unrouted","type":"checkout.session.completed"}"#;
    publish_confirmed(
        &channel,
        OutgoingMessage {
            exchange: &topology.checkout_exchange(),
            routing_key: "checkout.session.completed",
            body,
            message_id: "evt_unrouted",
            kind: "checkout.session.completed",
            headers: FieldTable::default(),
        },
        Duration::from_secs(5),
    )
    .await
    .expect("kept by the alternate exchange, so confirmed");
    // A service restart redeclares the binding.
    topology.declare(&channel).await.unwrap();

    let url = secrecy::SecretString::from(vhost.amqp_url());
    let report = redrive(
        &url.into(),
        &topology,
        RedriveSource::Unrouted,
        None,
        Duration::from_secs(5),
    )
    .await
    .expect("redrive succeeds");
    assert_eq!(
        report,
        RedriveReport {
            moved: 1,
            remaining: 0
        }
    );
    let get = |queue: String| {
        let channel = channel.clone();
        async move {
            channel
                .basic_get(&queue, BasicGetOptions { no_ack: true })
                .await
                .unwrap()
        }
    };
    let back = eventually(WAIT, || get(topology.fulfillment_queue()))
        .await
        .expect("the event is in checkout.fulfillment");
    assert_eq!(back.delivery.data, body);
    assert_eq!(
        back.delivery.routing_key.as_str(),
        "checkout.session.completed"
    );
    assert_eq!(
        back.delivery
            .properties
            .message_id()
            .as_ref()
            .unwrap()
            .as_str(),
        "evt_unrouted"
    );
    assert!(get(topology.unrouted_queue()).await.is_none());
}
