use base64::Engine;
use stripe_sim::SimConfig;

use crate::helpers::{TestSim, KEY};

#[tokio::test]
async fn a_request_without_a_key_gets_stripes_401() {
    let t = TestSim::spawn().await;
    let reply = t.send(t.client.get(t.url("/v1/events"))).await;
    reply.assert_error(401, "invalid_request_error", None, None);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("You did not provide an API key."),
        "{message}"
    );
    assert!(reply.header("request-id").unwrap().starts_with("req_"));
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn a_key_that_is_not_a_test_secret_key_is_rejected_and_redacted() {
    let t = TestSim::spawn().await;
    let reply = t
        .send(
            t.client
                .get(t.url("/v1/events"))
                .bearer_auth("sk_live_51Hxyzxyzabcd"),
        )
        .await;
    reply.assert_error(401, "invalid_request_error", None, None);
    assert_eq!(
        reply.body["error"]["message"],
        "Invalid API Key provided: sk_live_****abcd"
    );
}

#[tokio::test]
async fn only_the_configured_keys_are_accepted_when_keys_are_configured() {
    let t = TestSim::spawn_with(SimConfig {
        api_keys: vec!["sk_test_configured_1234".into()],
        ..SimConfig::default()
    })
    .await;
    let other = t
        .send(t.client.get(t.url("/v1/events")).bearer_auth(KEY))
        .await;
    assert_eq!(other.status, 401);
    assert_eq!(
        other.body["error"]["message"],
        format!(
            "Invalid API Key provided: sk_test_****{}",
            &KEY[KEY.len() - 4..]
        )
    );
    let configured = t
        .send(
            t.client
                .get(t.url("/v1/events"))
                .bearer_auth("sk_test_configured_1234"),
        )
        .await;
    assert_eq!(configured.status, 200, "{:#}", configured.body);
}

#[tokio::test]
async fn http_basic_with_the_key_as_user_name_is_accepted() {
    let t = TestSim::spawn().await;
    let reply = t
        .send(t.client.get(t.url("/v1/events")).basic_auth(KEY, Some("")))
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    // curl -u sk_test_…: sends exactly "user:" base64-encoded.
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"))
    );
    let reply = t
        .send(
            t.client
                .get(t.url("/v1/events"))
                .header("Authorization", header),
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
}

#[tokio::test]
async fn a_stripe_version_header_is_accepted_and_not_echoed() {
    let t = TestSim::spawn().await;
    let reply = t
        .send(
            t.client
                .get(t.url("/v1/prices"))
                .bearer_auth(KEY)
                .header("Stripe-Version", "2024-06-20"),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("stripe-version").is_none());
    assert!(reply.header("request-id").unwrap().starts_with("req_"));
}

#[tokio::test]
async fn an_unknown_path_gets_stripes_unrecognized_url_error() {
    let t = TestSim::spawn().await;
    let reply = t.get("/v1/customers").await;
    reply.assert_error(404, "invalid_request_error", None, None);
    assert!(reply.body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Unrecognized request URL (GET: /v1/customers)."));
    let wrong_method = t
        .send(t.client.delete(t.url("/v1/events")).bearer_auth(KEY))
        .await;
    assert_eq!(wrong_method.status, 404);
}

#[tokio::test]
async fn the_control_api_needs_no_key_and_is_not_counted() {
    let t = TestSim::spawn().await;
    let health = t.send(t.client.get(t.url("/_sim/healthz"))).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    assert_eq!(t.state().request_count(), 0);
    t.send(t.client.get(t.url("/v1/events"))).await;
    t.get("/v1/events").await;
    assert_eq!(t.state().request_count(), 2, "401s are counted too");
    assert_eq!(t.state().requests_to("/v1/events"), 2);
    assert_eq!(t.state().requests_to("/v1/checkout"), 0);
    let stats = t.send(t.client.get(t.url("/_sim/stats"))).await;
    assert_eq!(stats.body["requests_total"], 2);
    assert_eq!(stats.body["requests_by_path"]["/v1/events"], 2);
}
