use std::time::{Duration, Instant};

use serde_json::json;
use stripe_sim::{Fault, FaultKind, RouteMatch};

use crate::helpers::TestSim;

#[tokio::test]
async fn a_500_fault_hits_n_requests_then_the_api_answers_normally() {
    let t = TestSim::spawn().await;
    let session = t.create_session(&[("price_mug", 1)]).await;
    let path = format!("/v1/checkout/sessions/{}", session["id"].as_str().unwrap());
    t.state().inject_fault(Fault {
        route: RouteMatch::new("GET", "/v1/checkout/sessions/"),
        kind: FaultKind::Status500,
        count: 3,
    });
    // Another route is untouched while the fault is armed.
    assert_eq!(t.get("/v1/events").await.status, 200);
    for attempt in 0..3 {
        let reply = t.get(&path).await;
        reply.assert_error(500, "api_error", None, None);
        assert!(reply.header("request-id").is_some(), "attempt {attempt}");
    }
    let reply = t.get(&path).await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    assert_eq!(reply.body["id"], session["id"]);
}

#[tokio::test]
async fn a_rate_limit_fault_answers_429_with_stripe_should_retry() {
    let t = TestSim::spawn().await;
    let armed = t
        .control(
            "/_sim/faults",
            json!({"method": "GET", "path_prefix": "/v1/events", "kind": "429", "count": 1}),
        )
        .await;
    assert_eq!(armed.status, 201, "{:#}", armed.body);
    let reply = t.get("/v1/events").await;
    reply.assert_error(429, "invalid_request_error", Some("rate_limit"), None);
    assert_eq!(reply.header("stripe-should-retry"), Some("true"));
    assert!(reply.body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Too many requests"));
    assert_eq!(t.get("/v1/events").await.status, 200);
}

#[tokio::test]
async fn a_delay_fault_answers_normally_but_late() {
    let t = TestSim::spawn().await;
    t.control(
        "/_sim/faults",
        json!({"path_prefix": "/v1/prices", "kind": "delay", "delay_ms": 300}),
    )
    .await;
    let started = Instant::now();
    let reply = t.get("/v1/prices").await;
    let elapsed = started.elapsed();
    assert_eq!(reply.status, 200);
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    let started = Instant::now();
    t.get("/v1/prices").await;
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "count defaults to 1"
    );
}

#[tokio::test]
async fn any_status_can_be_injected_and_unlimited_faults_last_until_cleared() {
    let t = TestSim::spawn().await;
    t.control(
        "/_sim/faults",
        json!({"kind": "status", "status": 503, "count": 0}),
    )
    .await;
    for _ in 0..3 {
        t.get("/v1/prices")
            .await
            .assert_error(503, "api_error", None, None);
    }
    // The control API itself is never faulted.
    let cleared = t.send(t.client.delete(t.url("/_sim/faults"))).await;
    assert_eq!(cleared.status, 200);
    assert_eq!(t.get("/v1/prices").await.status, 200);

    let bad = t
        .control("/_sim/faults", json!({"kind": "sometimes"}))
        .await;
    bad.assert_error(400, "invalid_request_error", None, Some("kind"));
    let bad = t
        .control("/_sim/faults", json!({"kind": "status", "status": 200}))
        .await;
    bad.assert_error(400, "invalid_request_error", None, Some("status"));
}

#[tokio::test]
async fn an_unauthenticated_request_does_not_spend_a_fault() {
    let t = TestSim::spawn().await;
    t.state().inject_fault(Fault {
        route: RouteMatch::any(),
        kind: FaultKind::Status500,
        count: 1,
    });
    let unauthenticated = t.send(t.client.get(t.url("/v1/events"))).await;
    assert_eq!(unauthenticated.status, 401);
    assert_eq!(t.get("/v1/events").await.status, 500);
    assert_eq!(t.get("/v1/events").await.status, 200);
}

#[tokio::test]
async fn a_401_fault_answers_like_a_rolled_key() {
    let t = TestSim::spawn().await;
    let armed = t
        .control("/_sim/faults", json!({"kind": "401", "count": 1}))
        .await;
    assert_eq!(armed.status, 201, "{:#}", armed.body);
    let reply = t.get("/v1/prices").await;
    reply.assert_error(401, "invalid_request_error", None, None);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Invalid API Key provided: sk_test_****"),
        "{message}"
    );
    assert_eq!(reply.header("stripe-should-retry"), None);
    assert_eq!(t.get("/v1/prices").await.status, 200);
}

#[tokio::test]
async fn should_retry_adds_stripes_header_to_any_status() {
    let t = TestSim::spawn().await;
    t.control(
        "/_sim/faults",
        json!({"kind": "status", "status": 400, "should_retry": true, "count": 1}),
    )
    .await;
    let reply = t.get("/v1/prices").await;
    reply.assert_error(400, "invalid_request_error", None, None);
    assert_eq!(reply.header("stripe-should-retry"), Some("true"));
    assert_eq!(t.get("/v1/prices").await.status, 200);
}
