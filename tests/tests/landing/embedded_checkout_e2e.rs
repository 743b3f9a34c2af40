//! The embedded form end to end in headless Chromium: landing with
//! `checkout_ui_mode = "embedded"` loads the simulator's Stripe.js stand-in, which mounts the
//! payment form in an iframe; Jenny Rosen pays inside it with 4242…, and the top window lands
//! on the success page. Every real service runs against the real Postgres and RabbitMQ, and a
//! Content-Security-Policy violation in the console fails the test. Screenshots go to
//! target/artifacts/embedded-*.png.

use fantoccini::Locator;
use shared::settings::CheckoutUiMode;
use shared::{CheckoutSessionId, Settings};
use tests::browser::Browser;
use tests::checkout_flow::{fill, pay, text_of, wait_for_heading, PAGE_TIMEOUT, SHIPPING_LABEL_US};
use tests::eventually;
use tests::stack::Stack;

/// The embedded checkout, loading the simulator's Stripe.js stand-in (`<sim>/v3`).
fn embedded(settings: &mut Settings) {
    settings.landing.checkout_ui_mode = CheckoutUiMode::Embedded;
    settings.landing.publishable_key = "pk_test_embedded_checkout".into();
    settings.landing.stripe_js_url = format!("{}/v3", settings.stripe.api_base);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_inside_the_embedded_form_lands_on_the_thank_you_page_and_fulfills_once() {
    let stack = Stack::start_with(embedded).await;
    let browser = Browser::start().await;
    let client = browser.client();

    client.goto(&stack.shop).await.expect("the shop loads");
    fill(&browser, "qty-price_tshirt", "2").await;
    fill(&browser, "qty-price_mug", "1").await;
    client
        .find(Locator::Css(
            "form:has(#qty-price_tshirt) button[type=submit]",
        ))
        .await
        .expect("a checkout button")
        .click()
        .await
        .unwrap();

    // The checkout page is ours; Stripe.js mounts the form in an iframe on it.
    let frame = eventually(PAGE_TIMEOUT, || async {
        client.find(Locator::Css("#checkout iframe")).await.ok()
    })
    .await;
    let Some(frame) = frame else {
        panic!(
            "no payment form was mounted; the page says {:?}; console: {:?}",
            text_of(&browser, "#checkout-error").await,
            browser.console().await
        );
    };
    let url = client.current_url().await.unwrap();
    assert_eq!(url.origin().ascii_serialization(), stack.shop);
    assert_eq!(url.path(), "/checkout");
    frame
        .enter_frame()
        .await
        .expect("switch into the payment form");
    eventually(PAGE_TIMEOUT, || async {
        client.find(Locator::Id("card-number")).await.ok()
    })
    .await
    .expect("the framed page is the payment form");
    browser.screenshot("embedded-payment-form").await;

    pay(&browser, "4242 4242 4242 4242", "card").await;

    // The form's completion page hands the return URL to Stripe.js, which moves the top window.
    let thanked = eventually(PAGE_TIMEOUT, || async {
        let _ = client.enter_parent_frame().await;
        wait_for_heading(
            &browser,
            "Thanks for your order, Jenny Rosen!",
            std::time::Duration::from_millis(500),
        )
        .await
        .then_some(())
    })
    .await
    .is_some();
    browser.screenshot("embedded-thank-you").await;
    assert!(
        thanked,
        "the success page thanks Jenny Rosen; it shows {:?}",
        text_of(&browser, "h1").await
    );
    // The framed form asked for the address too (the cart ships).
    assert_eq!(
        text_of(&browser, "[data-testid=ships-to]").await.as_deref(),
        Some(SHIPPING_LABEL_US)
    );
    let url = client.current_url().await.unwrap();
    assert_eq!(url.path(), "/order/success");
    let id = url
        .query_pairs()
        .find_map(|(k, v)| (k == "session_id").then(|| v.into_owned()))
        .expect("the return URL names the session");
    let id = CheckoutSessionId::parse(&id).expect("a Checkout Session id");

    let session = stack
        .sim
        .state
        .retrieve_session(id.as_str(), false)
        .expect("the simulator knows the session");
    assert_eq!(session["ui_mode"], "embedded");
    assert_eq!(session["payment_status"], "paid");
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

    let violations = browser.csp_violations().await;
    assert!(
        violations.is_empty(),
        "Content-Security-Policy violations: {violations:#?}"
    );

    browser.close().await;
    stack.stop().await;
}
