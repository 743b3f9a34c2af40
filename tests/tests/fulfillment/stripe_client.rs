//! The Stripe API client against stripe-sim: every endpoint, pagination, errors, retries (G6),
//! and the client-side rate limit.

use std::time::{Duration, Instant};

use shared::settings::Uses;
use shared::stripe::{
    CheckoutMode, CreateCheckoutSession, EventFilter, NewLineItem, StripeClient, StripeError,
};
use shared::{CheckoutSessionId, Settings};
use stripe_sim::{Fault, FaultKind, LineItemParams, PaymentOutcome, RouteMatch, RunningSim};
use tests::{completed_session, open_session, start_sim, SIM_KEY};

/// Settings for a client of `sim`, then changed by `edit` and checked.
fn client_settings(sim: &RunningSim, edit: impl FnOnce(&mut Settings)) -> Settings {
    let vars = vec![
        ("APP_STRIPE__API_BASE".to_owned(), sim.base_url.clone()),
        ("APP_STRIPE__SECRET_KEY".to_owned(), SIM_KEY.to_owned()),
        ("APP_STRIPE__RETRY_BASE_MS".to_owned(), "5".to_owned()),
        ("APP_STRIPE__RETRY_MAX_MS".to_owned(), "20".to_owned()),
        (
            "APP_STRIPE__RATE_LIMIT_PER_SEC".to_owned(),
            "10000".to_owned(),
        ),
    ];
    let mut settings = Settings::load_from(Uses::COMMON, vars).unwrap();
    edit(&mut settings);
    settings.check(Uses::COMMON).unwrap();
    settings
}

fn client(sim: &RunningSim) -> StripeClient {
    StripeClient::new(&client_settings(sim, |_| {}).stripe).unwrap()
}

fn sessions_route() -> RouteMatch {
    RouteMatch::new("GET", "/v1/checkout/sessions/")
}

#[tokio::test]
async fn a_session_is_retrieved_with_its_line_items_expanded() {
    let sim = start_sim().await;
    let id = completed_session(
        &sim,
        &[("price_tshirt", 2), ("price_mug", 1)],
        PaymentOutcome::Paid,
        "Jenny Rosen",
    );
    let session = client(&sim).retrieve_checkout_session(&id).await.unwrap();
    assert_eq!(session.id, id.as_str());
    assert!(session.payment_status.allows_fulfillment());
    assert_eq!(session.customer_name(), Some("Jenny Rosen"));
    let items = session.line_items.unwrap().data;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].quantity, Some(2));
    assert_eq!(items[0].amount_total, 4000);
    assert_eq!(session.amount_total, Some(4000 + 1200));
}

#[tokio::test]
async fn all_250_line_items_are_fetched_across_pages() {
    let sim = start_sim().await;
    let params = stripe_sim::CreateSession {
        line_items: (0..250)
            .map(|i| LineItemParams::inline("usd", 100 + i, &format!("Item {i}"), 1))
            .collect(),
        success_url: Some("http://127.0.0.1/s?session_id={CHECKOUT_SESSION_ID}".into()),
        ..Default::default()
    };
    let created = sim.state.create_session(params).unwrap();
    let id = CheckoutSessionId::parse(created["id"].as_str().unwrap()).unwrap();
    let stripe = client(&sim);

    let items = stripe.list_line_items(&id).await.unwrap();
    assert_eq!(items.len(), 250);
    let mut ids: Vec<_> = items.iter().map(|i| i.id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 250, "no item twice");
    assert_eq!(items[249].description.as_deref(), Some("Item 249"));
    // 100 + 100 + 50.
    assert_eq!(
        sim.state
            .requests_to(&format!("/v1/checkout/sessions/{id}/line_items")),
        3
    );

    // The expanded first page says has_more; retrieve completes it.
    let session = stripe.retrieve_checkout_session(&id).await.unwrap();
    assert_eq!(session.line_items.unwrap().data.len(), 250);
}

#[tokio::test]
async fn all_250_events_are_listed_newest_first_and_filtered() {
    let sim = start_sim().await;
    for i in 0..125 {
        let id = open_session(&sim, &[("price_mug", 1)]);
        let customer = stripe_sim::Customer {
            name: format!("C{i}"),
            email: "c@example.com".into(),
            shipping: None,
        };
        sim.state
            .complete_session(id.as_str(), PaymentOutcome::Unpaid, customer)
            .unwrap();
        sim.state.succeed_async_payment(id.as_str()).unwrap();
    }
    let stripe = client(&sim);
    let all = stripe
        .list_events(&EventFilter {
            types: vec!["checkout.session.*".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 250);
    assert!(
        all.windows(2).all(|w| w[0].created >= w[1].created),
        "newest first"
    );
    assert_eq!(sim.state.requests_to("/v1/events"), 3);

    let succeeded = stripe
        .list_events(&EventFilter {
            types: vec![
                "checkout.session.async_payment_succeeded".into(),
                "checkout.session.expired".into(),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(succeeded.len(), 125);
    assert!(succeeded
        .iter()
        .all(|e| e.kind == "checkout.session.async_payment_succeeded"));

    let future = stripe
        .list_events(&EventFilter {
            created_gte: Some(all[0].created + 1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(future.is_empty());
}

#[tokio::test]
async fn a_session_is_created_once_per_idempotency_key() {
    let sim = start_sim().await;
    let stripe = client(&sim);
    let params = CreateCheckoutSession {
        mode: CheckoutMode::Payment,
        line_items: vec![NewLineItem {
            price: "price_tenugui".into(),
            quantity: 3,
        }],
        success_url: "http://shop.test/order/success?session_id={CHECKOUT_SESSION_ID}".into(),
        cancel_url: "http://shop.test/order/cancel".into(),
        customer_email: Some("jenny@example.com".into()),
        client_reference_id: Some("cart-7".into()),
        metadata: [("cart".to_owned(), "7".to_owned())].into(),
        shipping_countries: vec!["JP".into()],
    };
    let first = stripe
        .create_checkout_session(&params, "cart-7-attempt")
        .await
        .unwrap();
    let again = stripe
        .create_checkout_session(&params, "cart-7-attempt")
        .await
        .unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(first.currency.as_deref(), Some("jpy"));
    assert_eq!(first.amount_total, Some(4500));
    assert_eq!(
        first.success_url.as_deref(),
        Some("http://shop.test/order/success?session_id={CHECKOUT_SESSION_ID}")
    );
    assert!(first.url.unwrap().starts_with("http"));
    let other = stripe
        .create_checkout_session(&params, "another-key")
        .await
        .unwrap();
    assert_ne!(other.id, first.id);

    // Paid with an address in the one country allowed: the client reads it back.
    let shipping = stripe_sim::Shipping {
        name: "Aiko Tanaka".into(),
        line1: "1-1 Marunouchi".into(),
        line2: String::new(),
        city: "Chiyoda-ku".into(),
        state: "Tokyo".into(),
        postal_code: "100-0005".into(),
        country: "JP".into(),
    };
    sim.state
        .complete_session(
            &first.id,
            stripe_sim::PaymentOutcome::Paid,
            stripe_sim::Customer {
                name: "Aiko Tanaka".into(),
                email: "jenny@example.com".into(),
                shipping: Some(shipping),
            },
        )
        .unwrap();
    let paid = stripe
        .retrieve_checkout_session(&CheckoutSessionId::parse(&first.id).unwrap())
        .await
        .unwrap();
    assert_eq!(
        paid.shipping().map(|s| s.label_lines()),
        Some(vec![
            "Aiko Tanaka".to_owned(),
            "1-1 Marunouchi".to_owned(),
            "Chiyoda-ku, Tokyo 100-0005".to_owned(),
            "JP".to_owned()
        ])
    );
}

#[tokio::test]
async fn an_unknown_session_is_not_found_and_not_retried() {
    let sim = start_sim().await;
    let missing = CheckoutSessionId::parse("cs_test_doesnotexist").unwrap();
    match client(&sim).retrieve_checkout_session(&missing).await {
        Err(StripeError::NotFound(e)) => {
            assert_eq!(e.code.as_deref(), Some("resource_missing"));
            assert!(e.message.unwrap().contains("cs_test_doesnotexist"));
        }
        other => panic!("expected not found, got {other:?}"),
    }
    assert_eq!(sim.state.requests_to("/v1/checkout/sessions/"), 1);
}

#[tokio::test]
async fn a_wrong_key_is_an_authentication_error() {
    let sim = start_sim().await;
    let settings = client_settings(&sim, |s| {
        s.stripe.secret_key = "sk_test_wrong".to_owned().into()
    });
    let stripe = StripeClient::new(&settings.stripe).unwrap();
    let id = open_session(&sim, &[("price_mug", 1)]);
    let err = stripe.retrieve_checkout_session(&id).await.unwrap_err();
    assert!(matches!(err, StripeError::Authentication(_)), "{err:?}");
    // A rejected key says nothing about the session: it is an outage, to be retried once the key
    // is fixed, never a reason to give up on the order.
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(
        sim.state.requests_to("/v1/checkout/sessions/"),
        1,
        "not retried at once"
    );
}

#[tokio::test]
async fn a_4xx_stripe_says_to_retry_is_retried_and_then_reported_as_transient() {
    let sim = start_sim().await;
    let id = open_session(&sim, &[("price_mug", 1)]);
    sim.state.inject_fault(Fault {
        route: sessions_route(),
        kind: FaultKind::ShouldRetry(400),
        count: 0,
    });
    let err = client(&sim)
        .retrieve_checkout_session(&id)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    // `Stripe-Should-Retry: true` overrides the 400: the first attempt and max_retries (3) more.
    assert_eq!(sim.state.requests_to("/v1/checkout/sessions/"), 4);
}

#[tokio::test]
async fn two_server_errors_then_success_is_a_success() {
    let sim = start_sim().await;
    let id = open_session(&sim, &[("price_mug", 1)]);
    sim.state.inject_fault(Fault {
        route: sessions_route(),
        kind: FaultKind::Status500,
        count: 2,
    });
    let session = client(&sim).retrieve_checkout_session(&id).await.unwrap();
    assert_eq!(session.id, id.as_str());
    assert_eq!(sim.state.requests_to("/v1/checkout/sessions/"), 3);
}

#[tokio::test]
async fn server_errors_beyond_the_retries_are_transient_errors() {
    let sim = start_sim().await;
    let id = open_session(&sim, &[("price_mug", 1)]);
    sim.state.inject_fault(Fault {
        route: sessions_route(),
        kind: FaultKind::Status(503),
        count: 0,
    });
    let err = client(&sim)
        .retrieve_checkout_session(&id)
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::Server(_)), "{err:?}");
    assert!(err.is_transient());
    // The first attempt and max_retries (3) more.
    assert_eq!(sim.state.requests_to("/v1/checkout/sessions/"), 4);
}

/// A 408 (the server gave up reading the request, e.g. a starved Stripe-side proxy) says nothing
/// about the session: retried at once, and the read succeeds.
#[tokio::test]
async fn a_request_timeout_answer_is_retried() {
    let sim = start_sim().await;
    let id = open_session(&sim, &[("price_mug", 1)]);
    sim.state.inject_fault(Fault {
        route: sessions_route(),
        kind: FaultKind::Status(408),
        count: 1,
    });
    let session = client(&sim).retrieve_checkout_session(&id).await;
    assert!(session.is_ok(), "{session:?}");
    assert_eq!(sim.state.requests_to("/v1/checkout/sessions/"), 2);
}

#[tokio::test]
async fn a_bad_request_is_not_retried() {
    let sim = start_sim().await;
    let id = open_session(&sim, &[("price_mug", 1)]);
    sim.state.inject_fault(Fault {
        route: sessions_route(),
        kind: FaultKind::Status(400),
        count: 0,
    });
    let err = client(&sim)
        .retrieve_checkout_session(&id)
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::InvalidRequest(_)), "{err:?}");
    assert_eq!(sim.state.requests_to("/v1/checkout/sessions/"), 1);
}

#[tokio::test]
async fn a_rate_limited_answer_with_should_retry_is_retried() {
    let sim = start_sim().await;
    let id = open_session(&sim, &[("price_mug", 1)]);
    sim.state.inject_fault(Fault {
        route: sessions_route(),
        kind: FaultKind::RateLimited,
        count: 1,
    });
    client(&sim).retrieve_checkout_session(&id).await.unwrap();
    assert_eq!(sim.state.requests_to("/v1/checkout/sessions/"), 2);
}

#[tokio::test]
async fn a_connection_failure_is_retried_then_reported_as_transient() {
    // A port nothing listens on: every attempt is refused.
    let url = format!("http://127.0.0.1:{}", tests::free_port());
    let mut settings = Settings::load_from(Uses::COMMON, Vec::new()).unwrap();
    settings.stripe.api_base = url;
    settings.stripe.retry_base_ms = 1;
    let stripe = StripeClient::new(&settings.stripe).unwrap();
    let err = stripe
        .retrieve_checkout_session(&CheckoutSessionId::parse("cs_test_a").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::Connection(_)), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn the_client_side_rate_limit_holds() {
    let sim = start_sim().await;
    let id = open_session(&sim, &[("price_mug", 1)]);
    let settings = client_settings(&sim, |s| s.stripe.rate_limit_per_sec = 10);
    let stripe = StripeClient::new(&settings.stripe).unwrap();
    let started = Instant::now();
    let calls = (0..25).map(|_| stripe.retrieve_checkout_session(&id));
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    // Evenly paced at 10 per second, with no burst: the 25th call goes 2.4 s after the first.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(2300),
        "25 calls at 10/s took only {elapsed:?}"
    );
    assert_eq!(sim.state.requests_to("/v1/checkout/sessions/"), 25);
}
