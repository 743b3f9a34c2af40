use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use stripe_sim::SimConfig;

use crate::helpers::{TestSim, KEY};

fn limited_to(per_sec: u32) -> SimConfig {
    SimConfig {
        rate_limit_per_sec: NonZeroU32::new(per_sec),
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn past_the_account_limit_every_client_gets_stripes_429_and_the_stats_count_them() {
    let t = TestSim::spawn_with(limited_to(3)).await;
    // Two clients with two keys: the limit is the account's, not a connection's or a key's.
    let other = reqwest::Client::new();
    let started = Instant::now();
    let replies = futures::future::join_all((0..8).map(|i| {
        let client = if i % 2 == 0 { &t.client } else { &other };
        let key = if i % 2 == 0 {
            KEY
        } else {
            "sk_test_another_key"
        };
        t.send(client.get(t.url("/v1/prices")).bearer_auth(key))
    }))
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the burst fits in one second; took {:?}",
        started.elapsed()
    );

    let admitted = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(admitted, 3, "the limit admits 3 per second");
    let limited: Vec<_> = replies.iter().filter(|r| r.status != 200).collect();
    assert_eq!(limited.len(), 5);
    for reply in &limited {
        reply.assert_error(429, "invalid_request_error", Some("rate_limit"), None);
        assert_eq!(reply.header("stripe-should-retry"), Some("true"));
    }

    let stats = t.control_get("/_sim/stats").await;
    assert_eq!(stats["rate_limit_per_sec"], 3);
    assert_eq!(stats["rate_limited_total"], 5, "{stats:#}");
    assert_eq!(stats["rate_limited_by_path"]["/v1/prices"], 5, "{stats:#}");
    assert_eq!(t.state().rate_limited_to("/v1/prices"), 5);
}

#[tokio::test]
async fn a_client_that_waits_out_the_second_is_admitted_again() {
    let t = TestSim::spawn_with(limited_to(1)).await;
    assert_eq!(t.get("/v1/prices").await.status, 200);
    let refused_at = Instant::now();
    assert_eq!(t.get("/v1/prices").await.status, 429);

    let mut reply = t.get("/v1/prices").await;
    let deadline = refused_at + Duration::from_secs(5);
    while reply.status == 429 && Instant::now() < deadline {
        // The client's backoff between attempts, as Stripe asks of a rate-limited client.
        tokio::time::sleep(Duration::from_millis(100)).await;
        reply = t.get("/v1/prices").await;
    }
    assert_eq!(reply.status, 200, "{:#}", reply.body);
}

#[tokio::test]
async fn without_a_configured_limit_nothing_is_rate_limited() {
    let t = TestSim::spawn().await;
    let replies = futures::future::join_all((0..50).map(|_| t.get("/v1/checkout/sessions"))).await;
    assert!(replies.iter().all(|r| r.status == 200));
    let stats = t.control_get("/_sim/stats").await;
    assert_eq!(stats["rate_limit_per_sec"], serde_json::Value::Null);
    assert_eq!(stats["rate_limited_total"], 0);
}

#[tokio::test]
async fn an_injected_429_is_counted_too() {
    let t = TestSim::spawn().await;
    t.control(
        "/_sim/faults",
        serde_json::json!({"path_prefix": "/v1/events", "kind": "429", "count": 2}),
    )
    .await;
    for _ in 0..3 {
        t.get("/v1/events").await;
    }
    assert_eq!(t.state().rate_limited_count(), 2);
}
