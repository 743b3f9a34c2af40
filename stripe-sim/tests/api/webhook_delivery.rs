//! Signed delivery: retries, timeouts, giving up, the fault knobs, and the control API that
//! shows it all.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stripe_sim::{
    Customer, PaymentOutcome, SimConfig, SimState, WebhookEndpoint, WebhookFaults, ACK_HEADER,
    ACK_MS_HEADER,
};

use crate::helpers::{card_form, TestSim};
use crate::receiver::{Answer, Receiver, DELIVERY_TIMEOUT};

const SECRET: &str = "whsec_delivery_tests";

fn config(receiver: &Receiver) -> SimConfig {
    SimConfig {
        webhook_endpoints: vec![WebhookEndpoint::new(&receiver.url, &[SECRET])],
        ..SimConfig::default()
    }
}

fn customer() -> Customer {
    Customer {
        name: "Jenny Rosen".into(),
        email: "jenny@example.com".into(),
        shipping: None,
    }
}

/// Pays a new session directly through the state; returns the completed event.
async fn paid_event(t: &TestSim) -> Value {
    let session = t.create_session(&[("price_mug", 1)]).await;
    t.state()
        .complete_session(
            session["id"].as_str().unwrap(),
            PaymentOutcome::Paid,
            customer(),
        )
        .unwrap()
}

/// `GET /_sim/deliveries?event=…`.
async fn deliveries_of(t: &TestSim, event_id: &str) -> Vec<Value> {
    let body: Value = t
        .client
        .get(t.url(&format!("/_sim/deliveries?event={event_id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"].as_array().unwrap().clone()
}

/// Waits (bounded) until `probe` holds, re-checking after every delivery update.
async fn eventually(state: &SimState, what: &str, probe: impl Fn(&SimState) -> bool) {
    let mut changes = state.watch_deliveries();
    let holds = async {
        while !probe(state) {
            changes.changed().await.expect("the simulator is alive");
        }
    };
    tokio::time::timeout(DELIVERY_TIMEOUT, holds)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[tokio::test]
async fn a_failed_attempt_is_retried_with_a_fresh_timestamp_and_a_new_signature() {
    let receiver = Receiver::start(&[Answer::Status(500)], Answer::Status(200)).await;
    let t = TestSim::spawn_with(SimConfig {
        // Past the next whole second, so the retry's `t` has to differ.
        retry_schedule: vec![Duration::from_millis(1100)],
        ..config(&receiver)
    })
    .await;

    let event = paid_event(&t).await;
    let received = receiver.wait_for(2).await;

    assert_eq!(received[0].event_id(), received[1].event_id());
    assert_eq!(received[0].body, received[1].body, "the same payload");
    assert!(received[1].timestamp() > received[0].timestamp());
    assert_ne!(
        received[0].header_values("v1"),
        received[1].header_values("v1")
    );
    received[0].verify(&[SECRET]).unwrap();
    received[1].verify(&[SECRET]).unwrap();
    let event_id = event["id"].as_str().unwrap();
    eventually(t.state(), "the success on record", |s| {
        s.pending_webhooks(event_id) == Some(0)
    })
    .await;
    let deliveries = deliveries_of(&t, event_id).await;
    assert_eq!(deliveries.len(), 1);
    let attempts = deliveries[0]["attempts"].as_array().unwrap();
    assert_eq!(deliveries[0]["status"], "succeeded");
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["outcome"], "response");
    assert_eq!(attempts[0]["status"], 500);
    assert_eq!(attempts[1]["status"], 200);
    assert_eq!(attempts[0]["signature"], received[0].signature);
    assert_eq!(attempts[1]["signature"], received[1].signature);
    assert!(attempts[1]["sent_at_ms"].as_i64() >= attempts[0]["sent_at_ms"].as_i64());
}

#[tokio::test]
async fn an_endpoint_that_never_answers_2xx_does_not_hold_the_redirect_past_the_wait() {
    let receiver = Receiver::start(&[], Answer::Status(500)).await;
    let wait = Duration::from_millis(300);
    let t = TestSim::spawn_with(SimConfig {
        redirect_wait: wait,
        // The retry is due long after the wait: the delivery is still under way when it ends.
        retry_schedule: vec![Duration::from_secs(60)],
        ..config(&receiver)
    })
    .await;
    let session = t.create_session(&[("price_mug", 1)]).await;

    let started = Instant::now();
    let page = t.pay(&session, &card_form("4242424242424242")).await;

    assert_eq!(page.status, 303);
    assert!(started.elapsed() >= wait);
    assert!(started.elapsed() < wait + Duration::from_secs(5));
    assert_eq!(page.header(ACK_HEADER), Some("timed_out"));
    let waited: u64 = page.header(ACK_MS_HEADER).unwrap().parse().unwrap();
    assert!(waited >= 300, "{waited}");
    let event = &t.get("/v1/events").await.body["data"][0];
    assert_eq!(event["pending_webhooks"], 1);
}

#[tokio::test]
async fn the_redirect_does_not_wait_for_a_delivery_that_has_given_up() {
    let receiver = Receiver::start(&[], Answer::Status(500)).await;
    let t = TestSim::spawn_with(SimConfig {
        redirect_wait: Duration::from_secs(30),
        retry_schedule: vec![Duration::from_millis(10)],
        ..config(&receiver)
    })
    .await;
    let session = t.create_session(&[("price_mug", 1)]).await;

    let started = Instant::now();
    let page = t.pay(&session, &card_form("4242424242424242")).await;

    assert_eq!(page.status, 303);
    assert_eq!(page.header(ACK_HEADER), Some("gave_up"));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_delivery_gives_up_after_the_last_retry() {
    let receiver = Receiver::start(&[], Answer::Status(503)).await;
    let t = TestSim::spawn_with(SimConfig {
        retry_schedule: vec![Duration::from_millis(10), Duration::from_millis(20)],
        ..config(&receiver)
    })
    .await;

    let event = paid_event(&t).await;
    let event_id = event["id"].as_str().unwrap().to_string();
    eventually(t.state(), "the delivery to fail", |s| {
        s.deliveries_of(&event_id)
            .iter()
            .any(|d| d.status == stripe_sim::DeliveryStatus::Failed)
    })
    .await;

    assert_eq!(receiver.received().len(), 3, "one attempt and two retries");
    let deliveries = deliveries_of(&t, &event_id).await;
    assert_eq!(deliveries[0]["status"], "failed");
    assert_eq!(deliveries[0]["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(deliveries[0]["next_attempt_at_ms"], Value::Null);
    let listed = t.get(&format!("/v1/events/{event_id}")).await.body;
    assert_eq!(listed["pending_webhooks"], 1);
    let failed: Value = t
        .client
        .get(t.url("/_sim/deliveries?status=failed"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(failed["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_endpoint_slower_than_the_attempt_timeout_is_retried() {
    let receiver = Receiver::start(&[Answer::Hang], Answer::Status(200)).await;
    let t = TestSim::spawn_with(SimConfig {
        attempt_timeout: Duration::from_millis(200),
        retry_schedule: vec![Duration::from_millis(10)],
        ..config(&receiver)
    })
    .await;

    let event = paid_event(&t).await;
    let event_id = event["id"].as_str().unwrap().to_string();
    receiver.wait_for(2).await;
    eventually(t.state(), "the retry's success", |s| {
        s.pending_webhooks(&event_id) == Some(0)
    })
    .await;

    let attempts = deliveries_of(&t, &event_id).await[0]["attempts"].clone();
    assert_eq!(attempts[0]["outcome"], "timeout");
    assert_eq!(attempts[0]["injected"], false);
    assert!(attempts[0]["duration_ms"].as_u64().unwrap() >= 200);
    assert_eq!(attempts[1]["status"], 200);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_recorded_as_a_connection_error() {
    let closed_port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let t = TestSim::spawn_with(SimConfig {
        webhook_endpoints: vec![WebhookEndpoint::new(
            format!("http://127.0.0.1:{closed_port}/webhook"),
            &[SECRET],
        )],
        retry_schedule: vec![],
        ..SimConfig::default()
    })
    .await;

    let event = paid_event(&t).await;
    let event_id = event["id"].as_str().unwrap().to_string();
    eventually(t.state(), "the delivery to fail", |s| {
        s.deliveries_of(&event_id)
            .iter()
            .any(|d| d.status == stripe_sim::DeliveryStatus::Failed)
    })
    .await;

    let attempt = &deliveries_of(&t, &event_id).await[0]["attempts"][0];
    assert_eq!(attempt["outcome"], "error");
    assert!(!attempt["message"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn the_duplicate_fault_delivers_every_event_more_than_once() {
    let receiver = Receiver::ok().await;
    let t = TestSim::spawn_with(config(&receiver)).await;
    let armed = t
        .control("/_sim/webhook_faults", json!({ "duplicates": 1 }))
        .await;
    assert_eq!(armed.status, 200, "{:#}", armed.body);

    let event = paid_event(&t).await;
    let received = receiver.wait_for(2).await;

    let event_id = event["id"].as_str().unwrap().to_string();
    assert!(received.iter().all(|r| r.event_id() == event_id));
    eventually(t.state(), "both copies acknowledged", |s| {
        s.deliveries_of(&event_id)
            .iter()
            .all(|d| d.status == stripe_sim::DeliveryStatus::Succeeded)
    })
    .await;
    let deliveries = deliveries_of(&t, &event_id).await;
    let mut copies: Vec<u64> = deliveries
        .iter()
        .map(|d| d["copy"].as_u64().unwrap())
        .collect();
    copies.sort();
    assert_eq!(copies, vec![0, 1]);
    // One endpoint, acknowledged (twice): nothing pending, and not below zero.
    assert_eq!(t.state().pending_webhooks(&event_id), Some(0));
}

#[tokio::test]
async fn the_shuffle_fault_delivers_a_batch_out_of_order() {
    let receiver = Receiver::ok().await;
    let t = TestSim::spawn_with(SimConfig {
        webhook_faults: WebhookFaults {
            shuffle_window: Some(Duration::from_millis(300)),
            ..WebhookFaults::default()
        },
        ..config(&receiver)
    })
    .await;

    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(t.create_session(&[("price_mug", 1)]).await);
    }
    // Three events well within one window.
    let created: Vec<String> = sessions
        .iter()
        .map(|s| {
            let event = t
                .state()
                .complete_session(s["id"].as_str().unwrap(), PaymentOutcome::Paid, customer())
                .unwrap();
            event["id"].as_str().unwrap().to_string()
        })
        .collect();
    let received = receiver.wait_for(3).await;

    let order: Vec<String> = received.iter().map(|r| r.event_id()).collect();
    assert_ne!(order, created, "delivered in creation order");
    let mut sorted_order = order.clone();
    sorted_order.sort();
    let mut sorted_created = created.clone();
    sorted_created.sort();
    assert_eq!(sorted_order, sorted_created, "every event, once");
}

#[tokio::test]
async fn the_delay_fault_holds_every_delivery_back() {
    let receiver = Receiver::ok().await;
    let delay = Duration::from_millis(400);
    let t = TestSim::spawn_with(config(&receiver)).await;
    t.state().set_webhook_faults(WebhookFaults {
        delay,
        ..WebhookFaults::default()
    });

    let started = Instant::now();
    paid_event(&t).await;
    let received = receiver.wait_for(1).await;

    assert!(received[0].at.duration_since(started) >= delay);
}

#[tokio::test]
async fn the_timeout_fault_makes_a_processed_event_arrive_again() {
    let receiver = Receiver::ok().await;
    let t = TestSim::spawn_with(SimConfig {
        retry_schedule: vec![Duration::from_millis(10)],
        webhook_faults: WebhookFaults {
            timeout_attempts: 1,
            ..WebhookFaults::default()
        },
        ..config(&receiver)
    })
    .await;

    let event = paid_event(&t).await;
    let received = receiver.wait_for(2).await;

    let event_id = event["id"].as_str().unwrap().to_string();
    assert_eq!(received[0].event_id(), received[1].event_id());
    eventually(t.state(), "the retry acknowledged", |s| {
        s.pending_webhooks(&event_id) == Some(0)
    })
    .await;
    let attempts = deliveries_of(&t, &event_id).await[0]["attempts"].clone();
    assert_eq!(attempts[0]["outcome"], "timeout");
    assert_eq!(attempts[0]["injected"], true);
    assert_eq!(attempts[1]["status"], 200);
}

#[tokio::test]
async fn events_from_the_control_api_are_delivered_too() {
    let receiver = Receiver::ok().await;
    let t = TestSim::spawn_with(config(&receiver)).await;
    let paid_late = t.create_session(&[("price_mug", 1)]).await;
    let abandoned = t.create_session(&[("price_mug", 1)]).await;
    let paid_late = paid_late["id"].as_str().unwrap();
    let abandoned = abandoned["id"].as_str().unwrap();

    for (path, body) in [
        (
            format!("/_sim/checkout/sessions/{paid_late}/complete"),
            json!({ "payment": "unpaid" }),
        ),
        (
            format!("/_sim/checkout/sessions/{paid_late}/async_payment_failed"),
            json!({}),
        ),
        (
            format!("/_sim/checkout/sessions/{abandoned}/expire"),
            json!({}),
        ),
    ] {
        let reply = t.control(&path, body).await;
        assert_eq!(reply.status, 200, "{path}: {:#}", reply.body);
    }
    let received = receiver.wait_for(3).await;

    let mut types: Vec<String> = received.iter().map(|r| r.event_type()).collect();
    types.sort();
    assert_eq!(
        types,
        vec![
            "checkout.session.async_payment_failed",
            "checkout.session.completed",
            "checkout.session.expired",
        ]
    );
    for r in &received {
        r.verify(&[SECRET]).unwrap();
    }
}

#[tokio::test]
async fn endpoints_can_be_set_after_start_through_the_control_api() {
    let receiver = Receiver::ok().await;
    let t = TestSim::spawn().await;

    let set = t
        .control(
            "/_sim/webhook_endpoints",
            json!({ "endpoints": [{ "url": receiver.url, "secrets": [SECRET] }] }),
        )
        .await;
    assert_eq!(set.status, 200, "{:#}", set.body);
    assert_eq!(
        set.body,
        json!({ "endpoints": [{ "url": receiver.url, "secrets": 1, "connect": false }] }),
        "a platform endpoint unless `connect: true`"
    );
    assert!(
        !set.body.to_string().contains(SECRET),
        "secrets are not shown"
    );

    paid_event(&t).await;
    receiver.wait_for(1).await[0].verify(&[SECRET]).unwrap();

    let relative = t
        .control(
            "/_sim/webhook_endpoints",
            json!({ "endpoints": [{ "url": "/webhook", "secrets": [SECRET] }] }),
        )
        .await;
    relative.assert_error(400, "invalid_request_error", None, Some("endpoints[0]"));
    let no_secret = t
        .control(
            "/_sim/webhook_endpoints",
            json!({ "endpoints": [{ "url": receiver.url, "secrets": [] }] }),
        )
        .await;
    assert_eq!(no_secret.status, 400);
    assert_eq!(
        t.state().webhook_endpoints().len(),
        1,
        "unchanged by refusals"
    );
}

#[tokio::test]
async fn pending_webhooks_counts_the_endpoints_that_have_not_acknowledged() {
    let fast = Receiver::ok().await;
    let stuck = Receiver::start(&[], Answer::Hang).await;
    let t = TestSim::spawn_with(SimConfig {
        webhook_endpoints: vec![
            WebhookEndpoint::new(&fast.url, &[SECRET]),
            WebhookEndpoint::new(&stuck.url, &[SECRET]),
        ],
        attempt_timeout: Duration::from_secs(60),
        ..SimConfig::default()
    })
    .await;

    let event = paid_event(&t).await;
    let event_id = event["id"].as_str().unwrap().to_string();

    assert_eq!(event["pending_webhooks"], 2);
    fast.wait_for(1).await;
    stuck.wait_for(1).await;
    eventually(t.state(), "the fast endpoint's acknowledgement", |s| {
        s.pending_webhooks(&event_id) == Some(1)
    })
    .await;
    let listed = t.get(&format!("/v1/events/{event_id}")).await.body;
    assert_eq!(listed["pending_webhooks"], 1);
    assert_eq!(
        fast.received()[0].event()["pending_webhooks"],
        2,
        "the payload counts every endpoint it goes to"
    );
}

#[tokio::test]
async fn the_fault_knobs_round_trip_through_the_control_api() {
    let t = TestSim::spawn().await;
    let knobs = json!({
        "duplicates": 2,
        "shuffle_window_ms": 250,
        "delay_ms": 100,
        "timeout_attempts": 1
    });

    let set = t.control("/_sim/webhook_faults", knobs.clone()).await;
    let read: Value = t
        .client
        .get(t.url("/_sim/webhook_faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cleared: Value = t
        .client
        .delete(t.url("/_sim/webhook_faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let unknown = t
        .control("/_sim/webhook_faults", json!({ "reorder": true }))
        .await;

    assert_eq!(set.body, knobs);
    assert_eq!(read, knobs);
    assert_eq!(cleared["duplicates"], 0);
    assert_eq!(cleared["shuffle_window_ms"], Value::Null);
    assert_eq!(t.state().webhook_faults(), WebhookFaults::default());
    assert_eq!(unknown.status, 400);
}

#[tokio::test]
async fn the_status_page_shows_the_settings_and_the_deliveries() {
    let receiver = Receiver::ok().await;
    let t = TestSim::spawn_with(config(&receiver)).await;
    let event = paid_event(&t).await;
    let event_id = event["id"].as_str().unwrap().to_string();
    receiver.wait_for(1).await;
    eventually(t.state(), "the acknowledgement", |s| {
        s.pending_webhooks(&event_id) == Some(0)
    })
    .await;

    let page = t.get_page(&t.url("/_sim/")).await;
    let stats = t.control_get("/_sim/stats").await;

    assert_eq!(page.status, 200);
    assert!(page.text.contains(&receiver.url));
    assert!(page.text.contains(&event_id));
    assert!(page.text.contains("succeeded"));
    assert!(!page.text.contains(SECRET));
    assert_eq!(stats["webhook_deliveries"]["succeeded"], 1);
}
