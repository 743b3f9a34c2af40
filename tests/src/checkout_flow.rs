//! The seeds' test flow, step by step, for any running shop: check out from the shop page, pay on
//! the simulator's hosted payment page, wait for the page that follows. Used by the in-process
//! end-to-end tests and by the compose stack's test alike.

use std::time::Duration;

use fantoccini::Locator;
use shared::CheckoutSessionId;

use crate::browser::Browser;
use crate::eventually;

/// How long a page may take to show what a step waits for.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

/// The text of the first element matching `css`, if any.
pub async fn text_of(browser: &Browser, css: &str) -> Option<String> {
    browser
        .client()
        .find(Locator::Css(css))
        .await
        .ok()?
        .text()
        .await
        .ok()
}

/// Types `value` into the field with id `id`, replacing what it held.
pub async fn fill(browser: &Browser, id: &str, value: &str) {
    let field = browser
        .client()
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// The shop at `shop` → "Check out" with two T-shirts and a mug → the hosted payment page. Returns the
/// session id from the payment page's URL.
pub async fn check_out(browser: &Browser, shop: &str) -> CheckoutSessionId {
    browser.client().goto(shop).await.expect("the shop loads");
    fill(browser, "qty-price_tshirt", "2").await;
    fill(browser, "qty-price_mug", "1").await;
    browser
        .client()
        .find(Locator::Css(
            "form:has(#qty-price_tshirt) button[type=submit]",
        ))
        .await
        .expect("a checkout button")
        .click()
        .await
        .unwrap();
    let url = eventually(PAGE_TIMEOUT, || async {
        let url = browser.client().current_url().await.ok()?;
        url.path().starts_with("/c/pay/").then_some(url)
    })
    .await
    .expect("the browser reaches the hosted payment page");
    let id = url.path().trim_start_matches("/c/pay/").to_owned();
    CheckoutSessionId::parse(&id).expect("the payment page is for a Checkout Session")
}

/// The shipping address [`pay`] gives when the page asks for one (the country is left at the
/// page's first choice), and the lines the success page shows it as with the country `US`.
pub const SHIPPING_ADDRESS: &[(&str, &str)] = &[
    ("shipping-name", "Jenny Rosen"),
    ("shipping-line1", "354 Oyster Point Blvd"),
    ("shipping-city", "South San Francisco"),
    ("shipping-state", "CA"),
    ("shipping-postal-code", "94080"),
];
pub const SHIPPING_LABEL_US: &str =
    "Jenny Rosen\n354 Oyster Point Blvd\nSouth San Francisco, CA 94080\nUS";

/// Fills the payment page as the seeds say (the shipping address too, when the page asks for
/// one) and clicks Pay.
pub async fn pay(browser: &Browser, card: &str, method: &str) {
    fill(browser, "email", "jenny.rosen@example.com").await;
    fill(browser, "cardholder-name", "Jenny Rosen").await;
    if browser.client().find(Locator::Id("shipping")).await.is_ok() {
        for (id, value) in SHIPPING_ADDRESS {
            fill(browser, id, value).await;
        }
    }
    browser
        .client()
        .find(Locator::Id(&format!("payment-method-{method}")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    if method == "card" {
        fill(browser, "card-number", card).await;
        fill(browser, "card-expiry", "12/34").await;
        fill(browser, "card-cvc", "123").await;
        fill(browser, "billing-postal-code", "90210").await;
    }
    browser
        .client()
        .find(Locator::Id("pay"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits until the page's `h1` reads `expected`.
pub async fn wait_for_heading(browser: &Browser, expected: &str, timeout: Duration) -> bool {
    eventually(timeout, || async {
        (text_of(browser, "h1").await? == expected).then_some(())
    })
    .await
    .is_some()
}
