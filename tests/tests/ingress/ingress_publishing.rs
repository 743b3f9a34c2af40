//! G1 at the webhook: an authentic checkout event is answered 200 only once the broker holds it,
//! byte for byte; authentic events of other types are acknowledged and not published.

use std::collections::HashSet;
use std::sync::Once;
use std::time::Duration;

use shared::settings::Uses;
use shared::signature::{sign, unix_now};
use shared::Settings;
use tests::ingress_support::*;
use tests::{eventually, WEBHOOK_SECRET};

/// Installs the tracing subscriber with its OpenTelemetry layer once per test process, so that
/// request spans have trace ids to propagate.
fn telemetry() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let settings = ingress_settings_for_telemetry();
        let provider =
            shared::telemetry::tracer_provider("ingress", &settings.telemetry).expect("provider");
        shared::telemetry::install("ingress", &settings.log, provider).expect("subscriber");
    });
}

fn ingress_settings_for_telemetry() -> Settings {
    // The request span is at info level: a filter that disabled it would leave nothing to
    // propagate.
    let mut settings = Settings::load_from(Uses::COMMON, Vec::new()).expect("defaults load");
    settings.log.filter = "warn,ingress=info".into();
    settings
}

#[tokio::test]
async fn an_authentic_checkout_event_is_stored_byte_for_byte_before_the_200() {
    telemetry();
    let ingress = TestIngress::spawn().await;
    let (event_id, body) = completed_event();

    let response = ingress.post_signed(&body).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer, serde_json::json!({"received": true}));

    // The 200 came after the confirm: the message is already in the queue, no waiting needed.
    assert_eq!(ingress.fulfillment_depth().await, 1);
    let queue = ingress.broker.topology.fulfillment_queue();
    let message = ingress.broker.get(&queue).await.expect("one message");
    assert_eq!(message.delivery.data, body, "the body is byte-identical");
    let properties = &message.delivery.properties;
    assert_eq!(properties.message_id().as_ref().unwrap().as_str(), event_id);
    assert_eq!(
        properties.kind().as_ref().unwrap().as_str(),
        "checkout.session.completed"
    );
    assert_eq!(
        message.delivery.routing_key.as_str(),
        "checkout.session.completed"
    );
    assert_eq!(*properties.delivery_mode(), Some(2), "persistent");
    let stamped = properties.timestamp().expect("a timestamp") as i64;
    assert!((stamped - unix_now()).abs() < 60);
    let headers = properties.headers().as_ref().expect("headers");
    let traceparent = shared::queue::trace_context::traceparent(headers).expect("a traceparent");
    assert!(traceparent.starts_with("00-"), "{traceparent}");
    assert!(
        ingress.broker.get(&queue).await.is_none(),
        "exactly one message"
    );
}

#[tokio::test]
async fn a_header_whose_second_v1_matches_is_accepted() {
    let ingress = TestIngress::spawn().await;
    let (event_id, body) = completed_event();
    let now = unix_now();
    let header = format!(
        "t={now},v1={},v1={}",
        sign(&body, "whsec_retired_secret", now),
        sign(&body, WEBHOOK_SECRET, now)
    );
    let response = ingress.post_webhook(&body, Some(&header)).await;
    assert_eq!(response.status(), 200);
    let message = ingress
        .broker
        .get(&ingress.broker.topology.fulfillment_queue())
        .await
        .expect("published");
    assert_eq!(
        message
            .delivery
            .properties
            .message_id()
            .as_ref()
            .unwrap()
            .as_str(),
        event_id
    );
}

#[tokio::test]
async fn every_checkout_session_event_type_is_published_with_its_type_as_routing_key() {
    let ingress = TestIngress::spawn().await;
    let types = [
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    ];
    for event_type in types {
        let body = event_body(&new_event_id(), event_type, "cs_test_a1");
        assert_eq!(ingress.post_signed(&body).await.status(), 200);
    }
    let queue = ingress.broker.topology.fulfillment_queue();
    for event_type in types {
        let message = ingress.broker.get(&queue).await.expect("published");
        assert_eq!(message.delivery.routing_key.as_str(), event_type);
    }
}

#[tokio::test]
async fn an_authentic_event_of_another_type_is_acknowledged_and_not_published() {
    let ingress = TestIngress::spawn().await;
    let body = event_body(&new_event_id(), "customer.created", "cus_123");
    let response = ingress.post_signed(&body).await;
    assert_eq!(response.status(), 200);
    ingress.assert_nothing_published().await;
    let metrics = ingress.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains(r#"ingress_webhook_requests_total{outcome="ignored",reason="none"}"#));
}

/// The value of `ingress_webhook_requests_total{outcome="ignored",reason="none"}`, 0 before the
/// first one.
async fn ignored_count(ingress: &TestIngress) -> u64 {
    let metrics = ingress.get("/metrics").await.text().await.unwrap();
    let series = r#"ingress_webhook_requests_total{outcome="ignored",reason="none"} "#;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series))
        .map_or(0, |value| value.trim().parse().expect("a counter value"))
}

#[tokio::test]
async fn an_authentic_balance_available_event_whose_object_has_no_id_is_acknowledged_and_counted() {
    // Stripe's balance object has no `id`: nothing but its type tells us we do not consume it,
    // and a refusal would have Stripe retry it for days and eventually disable the endpoint.
    let ingress = TestIngress::spawn().await;
    let body = include_bytes!("../../../shared/fixtures/stripe/event_balance_available.json");
    let before = ignored_count(&ingress).await;
    let response = ingress.post_signed(body).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer, serde_json::json!({"received": true}));
    ingress.assert_nothing_published().await;
    assert!(ignored_count(&ingress).await > before, "counted as ignored");
}

#[tokio::test]
async fn two_hundred_concurrent_events_become_two_hundred_messages() {
    let ingress = TestIngress::spawn().await;
    let events: Vec<(String, Vec<u8>)> = (0..200).map(|_| completed_event()).collect();
    let statuses = futures::future::join_all(
        events
            .iter()
            .map(|(_, body)| async { ingress.post_signed(body).await.status().as_u16() }),
    )
    .await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    assert_eq!(ingress.fulfillment_depth().await, 200);

    let queue = ingress.broker.topology.fulfillment_queue();
    let mut seen = HashSet::new();
    while let Some(message) = ingress.broker.get(&queue).await {
        let id = message.delivery.properties.message_id().clone().unwrap();
        assert!(seen.insert(id.to_string()), "no duplicate");
    }
    let sent: HashSet<String> = events.into_iter().map(|(id, _)| id).collect();
    assert_eq!(seen, sent);
}

#[tokio::test]
async fn the_same_event_delivered_twice_is_published_twice_for_the_worker_to_dedupe() {
    // Stripe may deliver an event more than once; the ingress must not lose either delivery
    // (the worker's fulfill_checkout is idempotent, G2).
    let ingress = TestIngress::spawn().await;
    let (event_id, body) = completed_event();
    assert_eq!(ingress.post_signed(&body).await.status(), 200);
    assert_eq!(ingress.post_signed(&body).await.status(), 200);
    let depth = eventually(Duration::from_secs(5), || async {
        let depth = ingress.fulfillment_depth().await;
        (depth == 2).then_some(depth)
    })
    .await;
    assert_eq!(depth, Some(2));
    let queue = ingress.broker.topology.fulfillment_queue();
    for _ in 0..2 {
        let message = ingress.broker.get(&queue).await.unwrap();
        let id = message.delivery.properties.message_id().clone().unwrap();
        assert_eq!(id.as_str(), event_id);
    }
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let ingress = TestIngress::spawn().await;
    assert_eq!(ingress.get("/healthz").await.status(), 200);
    let ready = ingress.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["checks"]["broker"], true);
    // One accepted webhook, so that the latency histograms have a sample to expose.
    let (_, body) = completed_event();
    assert_eq!(ingress.post_signed(&body).await.status(), 200);
    let metrics = ingress.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("ingress_broker_connected 1"), "{metrics}");
    assert!(
        metrics.contains("ingress_publish_confirm_seconds_count"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_header_of_two_secrets_during_rotation_is_accepted_by_either() {
    let ingress = TestIngress::spawn_with(None, |s| {
        s.webhook.secrets = vec![
            "whsec_new_one".to_owned().into(),
            WEBHOOK_SECRET.to_owned().into(),
        ]
    })
    .await;
    let (_, body) = completed_event();
    let header = shared::signature::signature_header(&body, &["whsec_new_one"], unix_now());
    assert_eq!(
        ingress.post_webhook(&body, Some(&header)).await.status(),
        200
    );
    let (_, body) = completed_event();
    assert_eq!(ingress.post_signed(&body).await.status(), 200);
    assert_eq!(ingress.fulfillment_depth().await, 2);
}

#[tokio::test]
async fn a_secret_configured_with_spaces_and_a_crlf_still_verifies_a_signed_delivery() {
    // A hand-typed list ("a, b") or a secrets file saved with Windows line ends, read from the
    // environment as the ingress reads it: the parsing is what this test is about.
    let configured = format!(" whsec_new_one, {WEBHOOK_SECRET} \r\n");
    let from_env = Settings::load_from(
        Uses::COMMON,
        [("APP_WEBHOOK__SECRETS".to_owned(), configured)],
    )
    .expect("the secrets load");
    let ingress = TestIngress::spawn_with(None, |s| s.webhook = from_env.webhook).await;
    let (_, body) = completed_event();
    let response = ingress.post_signed(&body).await;
    assert_eq!(response.status(), 200);
    let (_, body) = completed_event();
    let header = shared::signature::signature_header(&body, &["whsec_new_one"], unix_now());
    assert_eq!(
        ingress.post_webhook(&body, Some(&header)).await.status(),
        200
    );
    assert_eq!(ingress.fulfillment_depth().await, 2);
}
