//! The load generator (`stripe-sim load`) against a real ingress: what it reports is what the
//! broker received.

use std::time::Duration;

use stripe_sim::load::{self, EventSource, LoadArgs, LoadPlan, Pace, Target};
use tests::ingress_support::*;
use tests::{eventually, WEBHOOK_SECRET};

async fn plan(ingress: &TestIngress, pace: Pace, duration: Duration, max: u64) -> LoadPlan {
    LoadPlan {
        target: Target::parse(&ingress.webhook_url()).await.unwrap(),
        secret: WEBHOOK_SECRET.to_owned(),
        pace,
        duration,
        max_requests: max,
    }
}

async fn wait_for_depth(ingress: &TestIngress, expected: u32) -> u32 {
    eventually(Duration::from_secs(10), || async {
        let depth = ingress.fulfillment_depth().await;
        (depth == expected).then_some(depth)
    })
    .await
    .unwrap_or(ingress.fulfillment_depth().await)
}

#[tokio::test]
async fn an_open_loop_run_sends_its_schedule_and_every_accepted_event_is_in_the_queue() {
    let ingress = TestIngress::spawn().await;
    let pace = Pace::Rate {
        per_sec: 200,
        connections: 16,
    };
    let plan = plan(&ingress, pace, Duration::from_secs(1), 10_000).await;
    let report = load::run(plan, EventSource::synthetic().unwrap()).await;

    assert_eq!(report.requests, 200);
    assert_eq!(
        report.statuses.get(&200),
        Some(&200),
        "{}",
        report.to_text()
    );
    assert_eq!(report.transport_errors, 0);
    assert!(report.latency_ms.p50 > 0.0 && report.latency_ms.p50 <= report.latency_ms.max);
    assert_eq!(wait_for_depth(&ingress, 200).await, 200);
}

#[tokio::test]
async fn a_closed_loop_run_is_bounded_by_its_request_count() {
    let ingress = TestIngress::spawn().await;
    let plan = plan(&ingress, Pace::Concurrency(8), Duration::from_secs(30), 300).await;
    let report = load::run(plan, EventSource::synthetic().unwrap()).await;
    assert_eq!(report.requests, 300);
    assert_eq!(
        report.statuses.get(&200),
        Some(&300),
        "{}",
        report.to_text()
    );
    assert!(report.elapsed_secs < 30.0);
    assert_eq!(wait_for_depth(&ingress, 300).await, 300);
}

#[tokio::test]
async fn events_about_real_simulator_sessions_name_paid_sessions() {
    let ingress = TestIngress::spawn().await;
    let sim = tests::start_sim().await;
    let events = EventSource::from_sim_api(&sim.base_url, tests::SIM_KEY, 5)
        .await
        .expect("sessions created");
    let plan = plan(&ingress, Pace::Concurrency(2), Duration::from_secs(30), 10).await;
    let report = load::run(plan, events).await;
    assert_eq!(report.statuses.get(&200), Some(&10), "{}", report.to_text());

    let queue = ingress.broker.topology.fulfillment_queue();
    let mut sessions = std::collections::HashSet::new();
    while let Some(message) = ingress.broker.get(&queue).await {
        let event: serde_json::Value = serde_json::from_slice(&message.delivery.data).unwrap();
        let session_id = event["data"]["object"]["id"].as_str().unwrap().to_owned();
        sessions.insert(session_id);
    }
    assert_eq!(sessions.len(), 5, "the events cycle over the five sessions");
    let mut settings =
        shared::Settings::load_from(shared::settings::Uses::COMMON, Vec::new()).unwrap();
    settings.stripe.api_base = sim.base_url.clone();
    settings.stripe.secret_key = tests::SIM_KEY.to_owned().into();
    let client = shared::stripe::StripeClient::new(&settings.stripe).unwrap();
    for session_id in sessions {
        let id = shared::CheckoutSessionId::parse(&session_id).unwrap();
        let session = client
            .retrieve_checkout_session(&id)
            .await
            .expect("the session exists");
        assert_eq!(session.payment_status, shared::stripe::PaymentStatus::Paid);
    }
}

fn args(target: &str, duration: f64) -> LoadArgs {
    LoadArgs {
        target: target.to_owned(),
        secret: WEBHOOK_SECRET.to_owned(),
        rate: Some(10),
        concurrency: None,
        connections: 4,
        duration,
        requests: 100,
        sim_url: None,
        sim_key: tests::SIM_KEY.to_owned(),
        sessions: 1,
        json: None,
    }
}

#[tokio::test]
async fn the_load_command_refuses_a_target_off_this_machine_and_unbounded_runs() {
    for target in ["http://10.1.2.3:8080/webhook", "http://example.com/webhook"] {
        let error = args(target, 1.0).plan().await.unwrap_err();
        assert!(error.to_string().contains("refusing"), "{error}");
    }
    assert!(args("http://127.0.0.1:9/webhook", 1.0).plan().await.is_ok());
    assert!(
        args("http://127.0.0.1:9/webhook", 3600.0)
            .plan()
            .await
            .is_err(),
        "runs are bounded in time"
    );
}
