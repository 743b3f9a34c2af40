//! A new order's announcement is handed from the worker's fulfillment to the worker's own relay
//! and published at once, one round trip to mark it, instead of a poll claiming it in a
//! transaction; the poll keeps what nobody holds, and takes back what the writer could not send.

use std::time::Duration;

use shared::queue::connection::BrokerOptions;
use shared::queue::Broker;
use shared::store::outbox::{self, Handoff};
use stripe_sim::PaymentOutcome;
use tests::{completed_event, eventually, paid_session, TestStack};
use uuid::Uuid;
use worker::outbox_relay::{OutboxRelay, RelayOptions};

use crate::fulfill_checkout::statements_during;

const WAIT: Duration = Duration::from_secs(10);

/// The outbox row of `session`'s announcement: its id, whether it is sent, whether it is held,
/// its attempts and its last error.
async fn outbox_row(stack: &TestStack, session: &str) -> (Uuid, bool, bool, i32, Option<String>) {
    sqlx::query_as(
        "SELECT id, sent_at IS NOT NULL, held_until IS NOT NULL AND held_until > now(), \
             attempts, last_error \
         FROM outbox WHERE session_id = $1 AND topic = 'order.fulfilled'",
    )
    .bind(session)
    .fetch_one(&stack.db.pool)
    .await
    .unwrap()
}

async fn publisher(stack: &TestStack) -> Broker {
    let broker = Broker::start(BrokerOptions::from_settings(
        &stack.settings.broker,
        "handoff-test",
        1,
    ));
    assert!(
        broker.wait_connected(WAIT).await,
        "the relay's publisher connects"
    );
    broker
}

fn relay(stack: &TestStack, broker: &Broker) -> OutboxRelay {
    OutboxRelay::new(
        stack.db.pool.clone(),
        broker.clone(),
        RelayOptions {
            exchange: stack.broker.topology.orders_exchange(),
            batch: 10,
            interval: Duration::from_secs(1),
            confirm_timeout: Duration::from_secs(5),
        },
        std::sync::Arc::new(tokio::sync::Notify::new()),
    )
}

#[tokio::test]
async fn a_handed_off_announcement_is_published_at_once_and_marked_in_one_round_trip() {
    let stack = TestStack::start().await;
    let orders = stack
        .broker
        .watch(&stack.broker.topology.orders_exchange(), "order.#")
        .await;
    let broker = publisher(&stack).await;
    let relay = relay(&stack, &broker);
    let (handoff, mut handed) = Handoff::channel();
    let processor = worker::Processor::new(stack.fulfiller.clone().handing_off_to(handoff), 2);
    let (id, event) = completed_event(
        &stack.sim,
        &[("price_tshirt", 1)],
        PaymentOutcome::Paid,
        "Jenny Rosen",
    );

    let (disposition, statements) =
        statements_during(processor.process(&serde_json::to_vec(&event).unwrap(), None)).await;
    assert_eq!(disposition, worker::Disposition::Ack);
    assert_eq!(statements, 2, "handing off costs the fulfillment nothing");
    let (row, sent, held, attempts, _) = outbox_row(&stack, id.as_str()).await;
    assert_eq!(
        (sent, held, attempts),
        (false, true, 0),
        "written held, not sent yet"
    );
    assert_eq!(
        relay.relay_once().await.unwrap().claimed,
        0,
        "the poll leaves a held announcement alone"
    );

    let first = handed.try_recv().expect("the announcement is handed over");
    assert_eq!(first.message.id, row);
    let (pass, statements) = statements_during(relay.send_handed(first, &mut handed)).await;
    assert_eq!((pass.sent, pass.failed), (1, 0));
    assert_eq!(
        statements, 1,
        "marked sent in one statement, no transaction"
    );
    let (_, sent, held, attempts, error) = outbox_row(&stack, id.as_str()).await;
    assert_eq!((sent, held, attempts, error), (true, false, 1, None));

    let announcement = stack
        .broker
        .next(&orders, WAIT)
        .await
        .expect("order.fulfilled is published");
    assert_eq!(
        announcement
            .delivery
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.to_string()),
        Some(row.to_string())
    );
    let stored: serde_json::Value = sqlx::query_scalar("SELECT payload FROM outbox WHERE id = $1")
        .bind(row)
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&announcement.delivery.data).unwrap();
    assert_eq!(body, stored, "what is published is what was stored");
    broker.close().await;
}

/// The poll's pass over the same announcement written unheld (the landing page's way): a
/// transaction of four round trips, where the hand-off costs one.
#[tokio::test]
async fn an_announcement_nobody_holds_is_sent_by_the_poll() {
    let stack = TestStack::start().await;
    let broker = publisher(&stack).await;
    let relay = relay(&stack, &broker);
    let id = paid_session(&stack.sim, "Jenny Rosen");
    stack
        .fulfiller
        .fulfill_checkout(&id, shared::Trigger::Landing)
        .await
        .unwrap();
    let (_, sent, held, _, _) = outbox_row(&stack, id.as_str()).await;
    assert_eq!(
        (sent, held),
        (false, false),
        "the landing page does not hold it"
    );

    let (pass, statements) = statements_during(relay.relay_once()).await;
    assert_eq!(pass.unwrap().sent, 1);
    // Four round trips: sqlx sends BEGIN without logging it (it waits for the answer all
    // the same), and logs the claim, the mark and COMMIT.
    assert_eq!(
        statements, 3,
        "the claim, the mark, COMMIT (and an unlogged BEGIN)"
    );
    let (_, sent, _, attempts, _) = outbox_row(&stack, id.as_str()).await;
    assert_eq!((sent, attempts), (true, 1));
    broker.close().await;
}

/// The worker died between its commit and its publish: nobody is left to send the handed-off
/// announcement, and the poll leaves it alone only for as long as the hold lasts.
#[tokio::test]
async fn an_announcement_whose_writer_died_is_sent_by_the_poll_once_its_hold_expires() {
    let stack = TestStack::start().await;
    let broker = publisher(&stack).await;
    let relay = relay(&stack, &broker);
    let (handoff, handed) = Handoff::channel();
    drop(handed);
    let fulfiller = stack.fulfiller.clone().handing_off_to(handoff);
    let id = paid_session(&stack.sim, "Jenny Rosen");
    fulfiller
        .fulfill_checkout(&id, shared::Trigger::Webhook)
        .await
        .expect("the order is fulfilled though its relay is gone");
    let held_for: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM held_until - created_at)::float8 FROM outbox \
         WHERE session_id = $1",
    )
    .bind(id.as_str())
    .fetch_one(&stack.db.pool)
    .await
    .unwrap();
    assert!(
        (held_for - outbox::HOLD.as_secs_f64()).abs() < 1.0,
        "held for outbox::HOLD, not {held_for} s"
    );
    assert_eq!(relay.relay_once().await.unwrap().claimed, 0, "still held");

    // The hold runs out (moved back rather than waited out).
    sqlx::query("UPDATE outbox SET held_until = now() - interval '1 second' WHERE session_id = $1")
        .bind(id.as_str())
        .execute(&stack.db.pool)
        .await
        .unwrap();
    let pass = relay.relay_once().await.unwrap();
    assert_eq!((pass.claimed, pass.sent), (1, 1), "the poll takes it over");
    let (_, sent, held, attempts, _) = outbox_row(&stack, id.as_str()).await;
    assert_eq!((sent, held, attempts), (true, false, 1));
    broker.close().await;
}

/// The broker does not confirm a handed-off publish: the row goes back to the poll at once (its
/// hold released, the error recorded), and the poll sends it when the broker is back.
#[tokio::test]
async fn a_handed_off_publish_the_broker_refuses_goes_back_to_the_poll() {
    let stack = TestStack::start().await;
    let down = publisher(&stack).await;
    down.close().await;
    let (handoff, mut handed) = Handoff::channel();
    let fulfiller = stack.fulfiller.clone().handing_off_to(handoff);
    let id = paid_session(&stack.sim, "Jenny Rosen");
    fulfiller
        .fulfill_checkout(&id, shared::Trigger::Webhook)
        .await
        .unwrap();

    let first = handed.try_recv().expect("handed over");
    let pass = relay(&stack, &down).send_handed(first, &mut handed).await;
    assert_eq!((pass.sent, pass.failed), (0, 1));
    let (_, sent, held, attempts, error) = outbox_row(&stack, id.as_str()).await;
    assert_eq!(
        (sent, held, attempts),
        (false, false, 1),
        "released to the poll"
    );
    let error = error.expect("the failure is recorded");
    assert!(error.contains("not connected"), "{error}");

    let up = publisher(&stack).await;
    let sent_by_poll = eventually(WAIT, || async {
        let pass = relay(&stack, &up).relay_once().await.ok()?;
        (pass.sent == 1).then_some(())
    })
    .await;
    assert!(
        sent_by_poll.is_some(),
        "the poll sends it once the broker is back"
    );
    let (_, sent, _, attempts, error) = outbox_row(&stack, id.as_str()).await;
    assert_eq!((sent, attempts), (true, 2));
    assert_eq!(
        error.as_deref().map(|e| e.contains("not connected")),
        Some(true),
        "kept"
    );
    up.close().await;
}
