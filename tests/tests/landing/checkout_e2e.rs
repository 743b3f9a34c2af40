//! The seeds' "Test the integration", end to end in headless Chromium: open the shop, check out,
//! fill in the hosted payment page, click Pay, land on the success page — with every real
//! service running against the real Postgres and RabbitMQ. Screenshots go to target/artifacts/.

use std::time::{Duration, Instant};

use stripe_sim::DeliveryStatus;
use tests::browser::Browser;
use tests::checkout_flow::{
    check_out, pay, text_of, wait_for_heading, PAGE_TIMEOUT, SHIPPING_LABEL_US,
};
use tests::eventually;
use tests::stack::{Stack, REDIRECT_WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_with_a_test_card_lands_on_the_thank_you_page_and_fulfills_once() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;

    let id = check_out(&browser, &stack.shop).await;
    pay(&browser, "4242 4242 4242 4242", "card").await;

    let thanked = wait_for_heading(
        &browser,
        "Thanks for your order, Jenny Rosen!",
        PAGE_TIMEOUT,
    )
    .await;
    browser.screenshot("e2e_card_payment_success").await;
    assert!(
        thanked,
        "the success page thanks Jenny Rosen; it shows {:?}",
        text_of(&browser, "h1").await
    );
    let url = browser.client().current_url().await.unwrap();
    assert_eq!(url.path(), "/order/success");
    assert_eq!(url.query(), Some(format!("session_id={id}").as_str()));
    // T-shirts and a mug are shipped goods: the payment page asked for the address, and the
    // confirmation says where the parcel goes.
    assert_eq!(
        text_of(&browser, "[data-testid=ships-to]").await.as_deref(),
        Some(SHIPPING_LABEL_US)
    );

    assert_eq!(stack.fulfilled_orders(id.as_str()).await, 1);
    let mut lines = stack.line_items(id.as_str()).await;
    lines.sort();
    assert_eq!(
        lines,
        vec![
            ("Stripe Mug".to_owned(), 1, 1200),
            ("Stripe T-shirt".to_owned(), 2, 4000)
        ],
    );
    // The webhook was acknowledged (the redirect did not have to time out), and the worker's
    // fulfillment and the page's raced without a second order.
    let deliveries = eventually(PAGE_TIMEOUT, || async {
        let d = stack.sim.state.deliveries();
        d.iter()
            .all(|d| d.status == DeliveryStatus::Succeeded)
            .then_some(d)
    })
    .await
    .expect("every webhook delivery succeeded");
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].event_type, "checkout.session.completed");
    assert_eq!(stack.fulfilled_orders(id.as_str()).await, 1);
    // And asked Stripe about the session once between them: whichever reached it second
    // waited for the first one's order (`store::claims`).
    assert_eq!(stack.sim.state.requests_to("/v1/checkout/sessions/"), 1);

    browser.close().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_shows_an_error_and_fulfills_nothing() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;

    let id = check_out(&browser, &stack.shop).await;
    pay(&browser, "4000 0000 0000 0002", "card").await;

    let error = eventually(PAGE_TIMEOUT, || async {
        text_of(&browser, "#payment-error").await
    })
    .await
    .expect("the payment page shows an error");
    browser.screenshot("e2e_declined_card").await;
    assert!(error.to_lowercase().contains("declined"), "{error}");
    assert!(browser
        .client()
        .current_url()
        .await
        .unwrap()
        .path()
        .starts_with("/c/pay/"));
    assert_eq!(stack.fulfilled_orders(id.as_str()).await, 0);
    assert!(stack.sim.state.deliveries().is_empty(), "no event was sent");

    browser.close().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_payment_shows_processing_then_the_order_once_it_succeeds() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;

    let id = check_out(&browser, &stack.shop).await;
    pay(&browser, "", "bank_transfer").await;

    assert!(
        wait_for_heading(&browser, "Your payment is processing", PAGE_TIMEOUT).await,
        "the processing page; it shows {:?}",
        text_of(&browser, "h1").await
    );
    browser.screenshot("e2e_delayed_payment_processing").await;
    assert_eq!(
        stack.fulfilled_orders(id.as_str()).await,
        0,
        "nothing fulfilled while unpaid"
    );

    // The bank transfer arrives: Stripe sends async_payment_succeeded; the page, on its own,
    // finds the order fulfilled.
    stack.sim.state.succeed_async_payment(id.as_str()).unwrap();
    let thanked = wait_for_heading(
        &browser,
        "Thanks for your order, Jenny Rosen!",
        Duration::from_secs(30),
    )
    .await;
    browser.screenshot("e2e_delayed_payment_fulfilled").await;
    assert!(
        thanked,
        "the page updated itself; it shows {:?}",
        text_of(&browser, "h1").await
    );
    assert_eq!(stack.fulfilled_orders(id.as_str()).await, 1);
    assert_eq!(stack.line_items(id.as_str()).await.len(), 2);

    browser.close().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ingress_down_the_customer_is_redirected_and_the_success_page_fulfills() {
    let mut stack = Stack::start().await;
    stack.stop_ingress().await;
    let browser = Browser::start().await;

    let id = check_out(&browser, &stack.shop).await;
    let clicked = Instant::now();
    pay(&browser, "4242 4242 4242 4242", "card").await;

    let thanked = wait_for_heading(
        &browser,
        "Thanks for your order, Jenny Rosen!",
        PAGE_TIMEOUT,
    )
    .await;
    browser.screenshot("e2e_ingress_down_success_page").await;
    assert!(
        thanked,
        "the success page fulfilled synchronously; it shows {:?}",
        text_of(&browser, "h1").await
    );
    assert!(
        clicked.elapsed() >= REDIRECT_WAIT,
        "Checkout waited for the webhook before redirecting"
    );
    assert_eq!(stack.fulfilled_orders(id.as_str()).await, 1);
    assert_eq!(
        stack.fulfilled_by(id.as_str()).await.as_deref(),
        Some("landing")
    );

    // Ingress comes back; Stripe's retry of the webhook is accepted and changes nothing.
    stack.start_ingress().await;
    let delivered = eventually(Duration::from_secs(30), || async {
        let d = stack.sim.state.deliveries();
        (d.len() == 1 && d[0].status == DeliveryStatus::Succeeded).then_some(d)
    })
    .await
    .expect("the retried webhook is acknowledged");
    assert!(
        delivered[0].attempts.len() >= 2,
        "it was retried: {:?}",
        delivered[0].attempts
    );
    let event_processed = eventually(Duration::from_secs(20), || async {
        let outcome: Option<String> = sqlx::query_scalar(
            "SELECT outcome FROM stripe_events WHERE session_id = $1 AND event_type = 'checkout.session.completed'",
        )
        .bind(id.as_str())
        .fetch_optional(&stack.db.pool)
        .await
        .ok()?;
        outcome
    })
    .await;
    assert!(
        event_processed.is_some(),
        "the worker processed the retried event"
    );
    assert_eq!(stack.fulfilled_orders(id.as_str()).await, 1);
    assert_eq!(
        stack.fulfilled_by(id.as_str()).await.as_deref(),
        Some("landing")
    );

    browser.close().await;
    stack.stop().await;
}
