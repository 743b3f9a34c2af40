use std::time::Duration;

use serde_json::{json, Value};
use stripe_sim::{Customer, PaymentOutcome};

use crate::helpers::{assert_fixture_shape, fixture, TestSim, SESSION_NULLABLE};

/// Bound on waiting for an event on the live feed.
const FEED_WAIT: Duration = Duration::from_secs(5);

async fn open_session(t: &TestSim) -> String {
    t.create_session(&[("price_tshirt", 1)]).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn retrieve(t: &TestSim, id: &str) -> Value {
    t.get(&format!("/v1/checkout/sessions/{id}")).await.body
}

#[tokio::test]
async fn completing_with_a_paid_card_emits_checkout_session_completed() {
    let t = TestSim::spawn().await;
    let id = open_session(&t).await;
    let reply = t
        .control(
            &format!("/_sim/checkout/sessions/{id}/complete"),
            json!({"payment": "paid", "name": "Jenny Rosen", "email": "jenny@example.com"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    let event = reply.body;
    assert_eq!(event["type"], "checkout.session.completed");
    let snapshot = &event["data"]["object"];
    assert_eq!(snapshot["status"], "complete");
    assert_eq!(snapshot["payment_status"], "paid");

    let session = retrieve(&t, &id).await;
    assert_eq!(&session, snapshot);
    assert_fixture_shape(
        &fixture("checkout_session.json"),
        &session,
        SESSION_NULLABLE,
    );
    assert_eq!(session["customer_details"]["name"], "Jenny Rosen");
    assert_eq!(session["customer_details"]["email"], "jenny@example.com");
    assert!(session["payment_intent"]
        .as_str()
        .unwrap()
        .starts_with("pi_"));
    assert!(
        session["url"].is_null(),
        "a completed session has no payment page"
    );
    assert_eq!(session["amount_total"], 2000);

    let listed = t.get("/v1/events").await;
    assert_eq!(listed.body["data"][0], event);
}

#[tokio::test]
async fn a_delayed_payment_completes_unpaid_then_succeeds() {
    let t = TestSim::spawn().await;
    let id = open_session(&t).await;
    let completed = t
        .control(
            &format!("/_sim/checkout/sessions/{id}/complete"),
            json!({"payment": "unpaid"}),
        )
        .await;
    assert_eq!(completed.body["type"], "checkout.session.completed");
    assert_eq!(completed.body["data"]["object"]["status"], "complete");
    assert_eq!(completed.body["data"]["object"]["payment_status"], "unpaid");

    let succeeded = t
        .control(
            &format!("/_sim/checkout/sessions/{id}/async_payment_succeeded"),
            json!({}),
        )
        .await;
    assert_eq!(succeeded.status, 200, "{:#}", succeeded.body);
    assert_eq!(
        succeeded.body["type"],
        "checkout.session.async_payment_succeeded"
    );
    assert_eq!(retrieve(&t, &id).await["payment_status"], "paid");
    // The completed event keeps the snapshot of its moment.
    let completed_again = t
        .get(&format!(
            "/v1/events/{}",
            completed.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        completed_again.body["data"]["object"]["payment_status"],
        "unpaid"
    );

    let twice = t
        .control(
            &format!("/_sim/checkout/sessions/{id}/async_payment_failed"),
            json!({}),
        )
        .await;
    twice.assert_error(400, "invalid_request_error", None, None);
    assert!(twice.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already settled"));
}

#[tokio::test]
async fn a_failed_delayed_payment_leaves_the_session_unpaid() {
    let t = TestSim::spawn().await;
    let id = open_session(&t).await;
    let customer = Customer {
        name: "Jenny Rosen".into(),
        email: "jenny@example.com".into(),
        shipping: None,
    };
    t.state()
        .complete_session(&id, PaymentOutcome::Unpaid, customer)
        .unwrap();
    let failed = t.state().fail_async_payment(&id).unwrap();
    assert_eq!(failed["type"], "checkout.session.async_payment_failed");
    let session = retrieve(&t, &id).await;
    assert_eq!(session["status"], "complete");
    assert_eq!(session["payment_status"], "unpaid");
}

#[tokio::test]
async fn no_payment_required_completes_without_a_payment_intent() {
    let t = TestSim::spawn().await;
    let id = open_session(&t).await;
    let reply = t
        .control(
            &format!("/_sim/checkout/sessions/{id}/complete"),
            json!({"payment": "no_payment_required", "name": "Ken", "email": "ken@example.com"}),
        )
        .await;
    assert_eq!(
        reply.body["data"]["object"]["payment_status"],
        "no_payment_required"
    );
    assert!(reply.body["data"]["object"]["payment_intent"].is_null());
}

#[tokio::test]
async fn expiring_emits_checkout_session_expired_and_closes_the_session() {
    let t = TestSim::spawn().await;
    let id = open_session(&t).await;
    let reply = t
        .control(&format!("/_sim/checkout/sessions/{id}/expire"), json!({}))
        .await;
    assert_eq!(reply.body["type"], "checkout.session.expired");
    let session = retrieve(&t, &id).await;
    assert_eq!(session["status"], "expired");
    assert_eq!(session["payment_status"], "unpaid");
    assert!(session["url"].is_null());

    let complete = t
        .control(&format!("/_sim/checkout/sessions/{id}/complete"), json!({}))
        .await;
    complete.assert_error(400, "invalid_request_error", None, None);
    assert!(complete.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("is expired"));
}

#[tokio::test]
async fn wrong_transitions_are_refused_with_a_reason() {
    let t = TestSim::spawn().await;
    let id = open_session(&t).await;
    let early = t
        .control(
            &format!("/_sim/checkout/sessions/{id}/async_payment_succeeded"),
            json!({}),
        )
        .await;
    early.assert_error(400, "invalid_request_error", None, None);
    assert!(early.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no delayed payment pending"));

    t.control(&format!("/_sim/checkout/sessions/{id}/complete"), json!({}))
        .await;
    for step in ["complete", "expire", "async_payment_failed"] {
        let reply = t
            .control(&format!("/_sim/checkout/sessions/{id}/{step}"), json!({}))
            .await;
        assert_eq!(reply.status, 400, "{step}: {:#}", reply.body);
    }

    let unknown = t
        .control("/_sim/checkout/sessions/cs_test_nope/complete", json!({}))
        .await;
    unknown.assert_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("session"),
    );

    let typo = t
        .control(
            &format!(
                "/_sim/checkout/sessions/{}/complete",
                open_session(&t).await
            ),
            json!({"payment": "pending"}),
        )
        .await;
    typo.assert_error(400, "invalid_request_error", None, Some("body"));

    // Only the one completion made an event.
    assert_eq!(
        t.get("/v1/events").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn subscribers_receive_every_new_event() {
    let t = TestSim::spawn().await;
    let mut feed = t.state().subscribe_events();
    let id = open_session(&t).await;
    let made = t
        .control(&format!("/_sim/checkout/sessions/{id}/complete"), json!({}))
        .await
        .body;
    let received = tokio::time::timeout(FEED_WAIT, feed.recv())
        .await
        .expect("the event arrives in time")
        .expect("the feed is open");
    assert_eq!(received, made);
}

#[tokio::test]
async fn the_clock_offset_moves_created_stamps() {
    let t = TestSim::spawn().await;
    let reply = t
        .control("/_sim/clock", json!({"offset_secs": -86400}))
        .await;
    assert_eq!(reply.body["offset_secs"], -86400);
    let session = t.create_session(&[("price_mug", 1)]).await;
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let created = session["created"].as_i64().unwrap();
    assert!((wall - 86400 - created).abs() <= 2, "{created} vs {wall}");
    assert_eq!(t.state().clock_offset(), -86400);
}
