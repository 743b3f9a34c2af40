//! The pages in a real browser (headless Chromium over WebDriver): what a customer sees, with
//! the stylesheet and script allowed by the Content-Security-Policy. Screenshots are saved
//! under `target/artifacts/`.

use std::time::Duration;

use fantoccini::Locator;
use shared::Trigger;
use stripe_sim::PaymentOutcome;
use tests::browser::Browser;
use tests::landing_support::{success_path, Landing};
use tests::{completed_session, eventually, paid_session};

/// Text of the first element matching `css`, or `None` while there is none.
async fn text_of(browser: &Browser, css: &str) -> Option<String> {
    let element = browser.client().find(Locator::Css(css)).await.ok()?;
    element.text().await.ok()
}

fn assert_png(path: &std::path::Path) {
    let bytes = std::fs::read(path).expect("the screenshot was written");
    assert!(bytes.len() > 1000, "a real image, not an empty file");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_shows_the_confirmation_of_a_fulfilled_order() {
    let landing = Landing::start().await;
    let id = paid_session(&landing.sim, "Jenny Rosen");
    landing
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap();
    let order_number = landing.order_number(&id).await;
    let browser = Browser::start().await;

    let url = format!("{}{}", landing.address, success_path(id.as_str()));
    browser.client().goto(&url).await.expect("the page loads");

    assert_eq!(
        text_of(&browser, "h1").await.as_deref(),
        Some("Thanks for your order, Jenny Rosen!")
    );
    assert_eq!(
        text_of(&browser, "[data-testid=order-total]")
            .await
            .as_deref(),
        Some("52.00 USD")
    );
    assert_eq!(
        text_of(&browser, ".reference").await,
        Some(format!("#{order_number:06}"))
    );
    let rows = browser
        .client()
        .find_all(Locator::Css(".items tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].text().await.unwrap(), "Stripe T-shirt 2 40.00 USD");
    let receipt = text_of(&browser, ".receipt__header").await.unwrap();
    assert!(receipt.contains("jenny.rosen@example.com"), "{receipt}");
    // The stylesheet was allowed and applied (the page background is the shop's grey).
    let background = browser
        .client()
        .execute(
            "return getComputedStyle(document.documentElement).backgroundColor;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(background, "rgb(246, 249, 252)");

    let shot = browser
        .screenshot("a_browser_shows_the_confirmation_of_a_fulfilled_order")
        .await;
    assert_png(&shot);
    browser.client().set_window_size(390, 900).await.unwrap();
    let narrow = browser
        .screenshot("a_browser_shows_the_confirmation_of_a_fulfilled_order_narrow")
        .await;
    assert_png(&narrow);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_processing_page_turns_into_the_confirmation_by_itself() {
    let landing = Landing::start().await;
    let id = completed_session(
        &landing.sim,
        &[("price_tenugui", 2)],
        PaymentOutcome::Unpaid,
        "Jenny Rosen",
    );
    let browser = Browser::start().await;
    let url = format!("{}{}", landing.address, success_path(id.as_str()));
    browser.client().goto(&url).await.expect("the page loads");
    let heading = text_of(&browser, "h1").await.unwrap();
    assert!(heading.contains("Your payment is processing"), "{heading}");
    assert_png(
        &browser
            .screenshot("the_processing_page_turns_into_the_confirmation_by_itself")
            .await,
    );

    // The bank confirms and the worker fulfills; the page's script notices and reloads.
    landing
        .sim
        .state
        .succeed_async_payment(id.as_str())
        .unwrap();
    landing
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap();
    let confirmed = eventually(Duration::from_secs(20), || async {
        text_of(&browser, "h1")
            .await
            .filter(|h| h == "Thanks for your order, Jenny Rosen!")
    })
    .await;

    assert!(
        confirmed.is_some(),
        "the page reloaded itself into the confirmation"
    );
    assert_eq!(
        text_of(&browser, "[data-testid=order-total]")
            .await
            .as_deref(),
        Some("3000 JPY")
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_in_a_browser_sends_the_customer_to_the_payment_page() {
    let landing = Landing::start().await;
    let browser = Browser::start().await;
    browser
        .client()
        .goto(&format!("{}/", landing.address))
        .await
        .expect("the shop loads");
    assert_eq!(
        text_of(&browser, "h1").await.as_deref(),
        Some("Good things, shipped fast")
    );
    assert_png(
        &browser
            .screenshot("the_shop_in_a_browser_sends_the_customer_to_the_payment_page")
            .await,
    );

    for (field, quantity) in [("qty-price_tshirt", "0"), ("qty-price_mug", "3")] {
        let input = browser.client().find(Locator::Id(field)).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(quantity).await.unwrap();
    }
    let button = browser
        .client()
        .find(Locator::XPath(
            "//button[normalize-space()='Check out in USD']",
        ))
        .await
        .unwrap();
    button.click().await.unwrap();

    let pay_page = format!("{}/c/pay/cs_test_", landing.sim.base_url);
    let arrived = eventually(Duration::from_secs(10), || async {
        let url = browser.client().current_url().await.ok()?;
        url.as_str().starts_with(&pay_page).then_some(url)
    })
    .await;
    let url = arrived.expect("the browser followed the 303 to the session's payment page");
    let id = url.path().rsplit('/').next().unwrap().to_owned();
    let session = landing.sim.state.retrieve_session(&id, true).unwrap();
    assert_eq!(session["line_items"]["data"][0]["quantity"], 3);
    assert_eq!(session["amount_total"], 3600);
    browser.close().await;
}

/// The seeds' "Test the integration" taken literally: open the shop and click the checkout
/// button, changing nothing. The customer reaches the payment page for one of the section's first
/// product rather than an error asking them to choose something.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_click_on_checkout_buys_one_of_the_first_product() {
    let landing = Landing::start().await;
    let browser = Browser::start().await;
    browser
        .client()
        .goto(&format!("{}/", landing.address))
        .await
        .expect("the shop loads");

    browser
        .client()
        .find(Locator::XPath(
            "//button[normalize-space()='Check out in USD']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let pay_page = format!("{}/c/pay/cs_test_", landing.sim.base_url);
    let arrived = eventually(Duration::from_secs(10), || async {
        let url = browser.client().current_url().await.ok()?;
        url.as_str().starts_with(&pay_page).then_some(url)
    })
    .await;
    let Some(url) = arrived else {
        panic!(
            "the first click reaches the payment page; the shop shows {:?}",
            text_of(&browser, "h1, h2").await
        );
    };
    let id = url.path().rsplit('/').next().unwrap().to_owned();
    let session = landing.sim.state.retrieve_session(&id, true).unwrap();
    let lines = session["line_items"]["data"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "one product: {lines:?}");
    assert_eq!(lines[0]["price"]["id"], "price_tshirt");
    assert_eq!(lines[0]["quantity"], 1);
    browser.close().await;
}
