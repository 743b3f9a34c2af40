//! What the success page does with bad input and bad days: malformed ids never reach Stripe,
//! a client past its budget gets 429, Stripe or Postgres being down is a 503 page that says to
//! retry, and a slow Stripe yields the self-refreshing "confirming" page.

use std::time::Duration;

use stripe_sim::{Fault, FaultKind, RouteMatch};
use tests::landing_support::{success_path, Landing};
use tests::{eventually, paid_session};

/// A database address nothing listens on (port 1).
const NOWHERE: &str = "postgres://postgres@127.0.0.1:1/nowhere";

#[tokio::test]
async fn malformed_session_ids_are_a_400_page_and_never_reach_stripe() {
    let landing = Landing::start().await;
    let huge = format!("cs_test_{}", "a".repeat(10 * 1024));
    let malformed = [
        "../../etc/passwd",
        "",
        huge.as_str(),
        "cs_test_abc;DROP TABLE orders",
        "cs_test_a1b2'\"<>",
        "cs_test_",
        "pi_3MtwBwLkdIwHu7ix28a3tqPa",
    ];

    for raw in malformed {
        let page = landing.success_page(raw).await;
        assert_eq!(page.status, 400, "{raw:.40}: {}", page.body);
        page.assert_shows(&["That link doesn’t look right"]);
    }
    let missing = landing.get("/order/success").await;
    assert_eq!(missing.status, 400);

    assert_eq!(
        landing.sim.state.request_count(),
        0,
        "no request reached the simulator"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM checkout_orders")
        .fetch_one(&landing.db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn a_client_past_its_budget_gets_429_with_retry_after() {
    let landing = Landing::start_with(|s| s.landing.success_rate_per_minute = 3).await;
    let id = paid_session(&landing.sim, "Jenny Rosen");

    for _ in 0..3 {
        assert_eq!(landing.success_page(id.as_str()).await.status, 200);
    }
    let page = landing.success_page(id.as_str()).await;

    assert_eq!(page.status, 429);
    page.assert_shows(&["Too many requests"]);
    let retry_after: u64 = page
        .header("retry-after")
        .parse()
        .expect("a Retry-After in seconds");
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    // Past the budget, malformed ids are refused before they are even read.
    assert_eq!(landing.success_page("../../etc/passwd").await.status, 429);
}

#[tokio::test]
async fn stripe_failing_every_retry_is_a_503_page_that_says_to_retry() {
    let landing = Landing::start().await;
    let id = paid_session(&landing.sim, "Jenny Rosen");
    landing.sim.state.inject_fault(Fault {
        route: RouteMatch::any(),
        kind: FaultKind::Status500,
        count: 0,
    });

    let page = landing.success_page(id.as_str()).await;

    assert_eq!(page.status, 503, "{}", page.body);
    page.assert_shows(&[
        "We’re having trouble right now",
        "Please retry in a few seconds",
    ]);
    assert_eq!(page.header("retry-after"), "5");
    let attempts = 1 + landing.settings.stripe.max_retries as u64;
    assert_eq!(
        landing.sim.state.requests_to("/v1/checkout/sessions/"),
        attempts
    );
    assert_eq!(landing.order_state(&id).await, None);

    // Stripe recovers: the same link now confirms the order.
    landing.sim.state.clear_faults();
    let page = landing.success_page(id.as_str()).await;
    assert_eq!(page.status, 200);
    page.assert_shows(&["Thanks for your order, Jenny Rosen!"]);
}

#[tokio::test]
async fn the_database_being_down_is_a_503_page_and_not_ready() {
    let landing = Landing::start_with(|s| {
        // Nothing listens on port 1.
        s.database.url = NOWHERE.to_owned().into();
        s.database.acquire_timeout_ms = 300;
    })
    .await;
    let id = paid_session(&landing.sim, "Jenny Rosen");

    let page = landing.success_page(id.as_str()).await;

    assert_eq!(page.status, 503, "{}", page.body);
    page.assert_shows(&["Please retry in a few seconds"]);
    let ready = landing.get("/readyz").await;
    assert_eq!(ready.status, 503);
    let checks: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(checks["checks"]["database"], false);
    assert_eq!(checks["checks"]["stripe"], true);
    let status = landing.get(&format!("/order/status?session_id={id}")).await;
    assert_eq!(status.status, 503);
}

#[tokio::test]
async fn with_default_timeouts_a_database_that_is_down_is_a_fast_503_not_confirming() {
    // Only the address changes: the connection wait and the page deadline keep their defaults.
    let landing = Landing::start_with(|s| s.database.url = NOWHERE.to_owned().into()).await;
    let deadline = Duration::from_millis(landing.settings.landing.fulfill_deadline_ms);
    let id = paid_session(&landing.sim, "Jenny Rosen");

    let started = std::time::Instant::now();
    let page = landing.success_page(id.as_str()).await;
    let took = started.elapsed();

    assert_eq!(page.status, 503, "answered in {took:?}: {}", page.body);
    page.assert_shows(&["Please retry in a few seconds"]);
    assert!(!page.header("retry-after").is_empty(), "a Retry-After");
    assert!(
        took < deadline / 2,
        "answered in {took:?}, page deadline {deadline:?}"
    );
}

#[tokio::test]
async fn past_the_deadline_the_page_says_confirming_and_the_attempt_completes_behind_it() {
    // A deadline well above a local connection's set-up (the connection wait is a third of it),
    // and a Stripe slower than the first page and its three reloads together.
    let landing = Landing::start_with(|s| s.landing.fulfill_deadline_ms = 600).await;
    let id = paid_session(&landing.sim, "Jenny Rosen");
    landing.sim.state.inject_fault(Fault {
        route: RouteMatch::new("GET", "/v1/checkout/sessions/"),
        kind: FaultKind::Delay(Duration::from_millis(4000)),
        count: 1,
    });

    let page = landing.success_page(id.as_str()).await;

    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_shows(&[
        "Confirming your payment",
        "<meta http-equiv=\"refresh\" content=\"2\">",
        &format!("href=\"{}\"", success_path(id.as_str())),
    ]);
    assert!(!page.body.contains("Thanks for your order"));

    // Reloads while Stripe is still slow join the attempt in flight instead of adding more.
    for _ in 0..3 {
        let reload = landing.success_page(id.as_str()).await;
        reload.assert_shows(&["Confirming your payment"]);
    }
    assert_eq!(landing.sim.state.requests_to("/v1/checkout/sessions/"), 1);

    // The attempt was not abandoned: it commits, and the refreshed page confirms.
    let fulfilled = eventually(Duration::from_secs(10), || async {
        (landing.order_state(&id).await.as_deref() == Some("fulfilled")).then_some(())
    })
    .await;
    assert!(
        fulfilled.is_some(),
        "the background attempt fulfilled the order"
    );
    let page = landing.success_page(id.as_str()).await;
    page.assert_shows(&["Thanks for your order, Jenny Rosen!"]);
}

/// Stripe's price list answers only after `delay`, for every request from now on.
fn stripe_prices_hang(landing: &Landing, delay: Duration) {
    landing.sim.state.inject_fault(Fault {
        route: RouteMatch::new("GET", "/v1/prices"),
        kind: FaultKind::Delay(delay),
        count: 0,
    });
}

#[tokio::test]
async fn while_stripe_hangs_the_shop_and_checkout_answer_from_the_last_good_catalog() {
    // Every view finds the catalog expired, so every view would refresh it.
    let landing = Landing::start_with(|s| s.landing.catalog_ttl_secs = 0).await;
    let first = landing.get("/").await;
    first.assert_shows(&["Stripe T-shirt"]);
    stripe_prices_hang(&landing, Duration::from_secs(20));
    let fetches_before = landing.sim.state.requests_to("/v1/prices");

    let started = std::time::Instant::now();
    let views = futures::future::join_all((0..5).map(|_| landing.get("/"))).await;
    let checkout = landing
        .post_form(
            "/checkout",
            &[("form_token", &first.form_token()), ("qty_price_mug", "1")],
        )
        .await;
    let took = started.elapsed();

    for view in &views {
        assert_eq!(view.status, 200, "{}", view.body);
        view.assert_shows(&["Stripe T-shirt"]);
    }
    assert_eq!(checkout.status, 303, "{}", checkout.body);
    assert!(
        took < Duration::from_secs(1),
        "five shop views and a checkout took {took:?}"
    );
    assert_eq!(
        landing.sim.state.requests_to("/v1/prices") - fetches_before,
        1,
        "one refresh at a time"
    );
}

#[tokio::test]
async fn with_no_catalog_yet_and_stripe_hanging_the_shop_is_a_prompt_503() {
    let landing = Landing::start().await;
    stripe_prices_hang(&landing, Duration::from_secs(20));

    let started = std::time::Instant::now();
    let views = futures::future::join_all((0..3).map(|_| landing.get("/"))).await;
    let took = started.elapsed();

    for view in &views {
        assert_eq!(view.status, 503, "{}", view.body);
        view.assert_shows(&["load our catalog", "Please retry in a few seconds"]);
        assert_eq!(view.header("retry-after"), "5");
    }
    assert!(took < Duration::from_secs(4), "answered in {took:?}");
    assert_eq!(
        landing.sim.state.requests_to("/v1/prices"),
        1,
        "the views waited for one fetch"
    );
}

#[tokio::test]
async fn ready_when_postgres_and_stripe_answer_and_health_and_metrics_are_served() {
    // Stripe's part of readiness is checked again once it is a second old.
    let landing = Landing::start_with(|s| s.landing.stripe_check_secs = 1).await;
    let id = paid_session(&landing.sim, "Jenny Rosen");
    landing.success_page(id.as_str()).await;

    let ready = landing.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(landing.get("/healthz").await.status, 200);
    let metrics = landing.get("/metrics").await;
    metrics.assert_shows(&[
        "landing_pages_total{outcome=\"fulfilled\",page=\"success\"}",
        "landing_page_duration_seconds_bucket",
        "landing_fulfillments_triggered_total{outcome=\"fulfilled\"}",
    ]);

    landing.sim.state.inject_fault(Fault {
        route: RouteMatch::any(),
        kind: FaultKind::Status500,
        count: 0,
    });
    let not_ready = eventually(Duration::from_secs(10), || async {
        let ready = landing.get("/readyz").await;
        (ready.status == 503).then_some(ready)
    })
    .await
    .expect("not ready once the last Stripe check is stale and the next one fails");
    assert!(
        not_ready.body.contains(r#""stripe":false"#),
        "{}",
        not_ready.body
    );
}

#[tokio::test]
async fn an_unknown_path_is_a_404_page() {
    let landing = Landing::start().await;

    let page = landing.get("/order/nothing-here").await;

    assert_eq!(page.status, 404);
    page.assert_shows(&["Page not found"]);
    assert_eq!(landing.get("/static/secrets.txt").await.status, 404);
}

#[tokio::test]
async fn a_graceful_stop_closes_the_port() {
    let mut landing = Landing::start().await;
    assert_eq!(landing.get("/healthz").await.status, 200);

    landing.stop().await;

    let refused = landing
        .http
        .get(format!("{}/healthz", landing.address))
        .send()
        .await;
    assert!(refused.is_err(), "the port is closed after the stop");
}

/// The edge pools connections it dialed and has not used yet; landing must not answer such a
/// connection 408 when its first request comes a few seconds later (actix-web's default first-
/// request timeout is 5 s), or a customer's click gets an error page.
#[tokio::test]
async fn a_connection_idle_before_its_first_request_still_gets_its_page() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let landing = Landing::start().await;
    let address = landing.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect to landing");
    // Not a wait for anything to settle: the idle time before the first request is what is
    // tested (longer than actix-web's 5 s default, shorter than the edge's 60 s pool).
    tokio::time::sleep(Duration::from_secs(8)).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: landing\r\n\r\n")
        .await
        .expect("the connection is still open");
    let mut answer = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered within 5 s")
        .expect("read the answer");
    let status_line = String::from_utf8_lossy(&answer[..n]);
    assert!(
        status_line.starts_with("HTTP/1.1 200"),
        "the first request after 8 s idle: {status_line:?}"
    );
}
