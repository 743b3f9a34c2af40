//! Payment Links end to end: the merchant creates a link (with the official Python SDK, and
//! with `landing payment-links create`), a customer opens it in headless Chromium, pays, lands
//! on our success page, and exactly one order is recorded with the link's id — however often the
//! page is reloaded. Screenshots go to target/artifacts/payment-link-*.png.

use std::process::Stdio;
use std::time::Duration;

use landing::payment_links::{create_links, PaymentLinksError};
use serde_json::Value;
use shared::stripe::StripeClient;
use stripe_sim::DeliveryStatus;
use tests::browser::Browser;
use tests::checkout_flow::{pay, text_of, wait_for_heading, PAGE_TIMEOUT};
use tests::stack::Stack;
use tests::{eventually, start_sim, TestStack, SIM_KEY};
use tokio::process::Command;

/// A cold Python start with the SDK import can take a while on a busy machine.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

const THANKS: &str = "Thanks for your order, Jenny Rosen!";

/// Runs `tests/sdk/create_payment_link.py` and returns the link it printed.
async fn create_link_with_python_sdk(api_base: &str, price: &str, redirect_url: &str) -> Value {
    let script = format!("{}/sdk/create_payment_link.py", env!("CARGO_MANIFEST_DIR"));
    let run = Command::new("python3")
        .args([&script, api_base, SIM_KEY, price, redirect_url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, run)
        .await
        .expect("the SDK script finishes in time")
        .expect("python3 runs (the official stripe SDK is needed)");
    assert!(
        output.status.success(),
        "the SDK script failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints the link as JSON")
}

/// (session id, payment_link, state) of every order row.
async fn orders(stack: &Stack) -> Vec<(String, Option<String>, String)> {
    sqlx::query_as("SELECT session_id, payment_link, state FROM checkout_orders")
        .fetch_all(&stack.db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_pays_through_a_link_and_is_fulfilled_once_with_the_link_recorded() {
    let stack = Stack::start().await;
    let redirect = format!(
        "{}/order/success?session_id={{CHECKOUT_SESSION_ID}}",
        stack.shop
    );
    let link = create_link_with_python_sdk(&stack.sim.base_url, "price_mug", &redirect).await;
    let link_id = link["id"].as_str().expect("a link has an id").to_owned();
    assert!(link_id.starts_with("plink_"), "{link}");
    assert_eq!(
        link["after_completion"]["redirect"]["url"],
        redirect.as_str()
    );
    let browser = Browser::start().await;

    browser
        .client()
        .goto(link["url"].as_str().expect("a link has a url"))
        .await
        .expect("the link opens");
    let payment_page = eventually(PAGE_TIMEOUT, || async {
        let url = browser.client().current_url().await.ok()?;
        url.path().starts_with("/c/pay/").then_some(url)
    })
    .await
    .expect("the link leads to the hosted payment page");
    let session_id = payment_page.path().trim_start_matches("/c/pay/").to_owned();
    browser.screenshot("payment-link-payment-page").await;
    pay(&browser, "4242 4242 4242 4242", "card").await;

    let thanked = wait_for_heading(&browser, THANKS, PAGE_TIMEOUT).await;
    browser.screenshot("payment-link-success").await;
    assert!(
        thanked,
        "the success page thanks Jenny Rosen; it shows {:?}",
        text_of(&browser, "h1").await
    );
    let url = browser.client().current_url().await.unwrap();
    assert_eq!(url.path(), "/order/success");
    assert_eq!(
        url.query(),
        Some(format!("session_id={session_id}").as_str())
    );
    // Both paths have run: the webhook was acknowledged before the redirect.
    eventually(PAGE_TIMEOUT, || async {
        let d = stack.sim.state.deliveries();
        (d.len() == 1 && d[0].status == DeliveryStatus::Succeeded).then_some(())
    })
    .await
    .expect("the completed event was delivered");
    assert_eq!(
        orders(&stack).await,
        vec![(
            session_id.clone(),
            Some(link_id.clone()),
            "fulfilled".to_owned()
        )]
    );
    assert_eq!(
        stack.line_items(&session_id).await,
        vec![("Stripe Mug".to_owned(), 1, 1200)]
    );

    // The operator's view names the link.
    let report = worker::show::render(
        &stack.db.pool,
        None,
        &shared::CheckoutSessionId::parse(&session_id).unwrap(),
    )
    .await
    .unwrap()
    .expect("the session is known");
    assert!(
        report.contains(&format!("link     {link_id}")),
        "the link is not in:\n{report}"
    );

    // The customer reloads the success page: thanked again, nothing fulfilled twice.
    browser.client().refresh().await.expect("the page reloads");
    assert!(wait_for_heading(&browser, THANKS, PAGE_TIMEOUT).await);
    assert_eq!(orders(&stack).await.len(), 1);
    assert_eq!(stack.fulfilled_orders(&session_id).await, 1);
    assert_eq!(stack.line_items(&session_id).await.len(), 1);

    browser.close().await;
    stack.stop().await;
}

#[tokio::test]
async fn landing_creates_a_link_per_catalog_price_redirecting_to_the_success_page() {
    let t = TestStack::start_on(start_sim().await, |_| {}).await;
    let stripe = StripeClient::new(&t.settings.stripe).unwrap();
    let configured = vec!["price_tshirt".to_owned(), "price_mug".to_owned()];
    let shipping = vec!["US".to_owned(), "CA".to_owned()];

    let links = create_links(
        &stripe,
        "https://shop.example/",
        &configured,
        &shipping,
        None,
    )
    .await
    .expect("links are created");

    let prices: Vec<_> = links.iter().map(|l| l.price_id.as_str()).collect();
    assert_eq!(prices, ["price_tshirt", "price_mug"]);
    for created in &links {
        let link = t.sim.state.retrieve_payment_link(&created.link.id).unwrap();
        assert_eq!(link["url"], created.link.url.as_str());
        assert_eq!(link["active"], true);
        assert_eq!(
            link["after_completion"]["redirect"]["url"],
            "https://shop.example/order/success?session_id={CHECKOUT_SESSION_ID}"
        );
    }

    let one = create_links(
        &stripe,
        "https://shop.example",
        &[],
        &shipping,
        Some("price_stickers"),
    )
    .await
    .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].price_id, "price_stickers");
    // Stickers are not shipped: their link asks for no address; the T-shirt's and mug's do.
    let stickers = t.sim.state.retrieve_payment_link(&one[0].link.id).unwrap();
    assert_eq!(
        stickers["shipping_address_collection"],
        serde_json::Value::Null
    );
    for created in &links {
        let link = t.sim.state.retrieve_payment_link(&created.link.id).unwrap();
        assert_eq!(
            link["shipping_address_collection"]["allowed_countries"],
            serde_json::json!(["US", "CA"])
        );
    }

    let unknown = create_links(
        &stripe,
        "https://shop.example",
        &[],
        &shipping,
        Some("price_nope"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&unknown, PaymentLinksError::UnknownPrice(id) if id == "price_nope"),
        "{unknown}"
    );
    assert!(unknown.to_string().contains("unknown price price_nope"));
}
