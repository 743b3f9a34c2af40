//! `landing.checkout_ui_mode = "embedded"` over HTTP: the checkout page that loads Stripe.js
//! under a policy naming exactly its origin, and `POST /checkout/session`, which creates the
//! embedded session (returning to the success page) or says in JSON why not.

use serde_json::Value;
use shared::settings::CheckoutUiMode;
use shared::Settings;
use tests::landing_support::Landing;

const STRIPE_JS: &str = "https://js.stripe.test/v3";

/// The embedded checkout, loading Stripe.js from [`STRIPE_JS`].
fn embedded(settings: &mut Settings) {
    settings.landing.checkout_ui_mode = CheckoutUiMode::Embedded;
    settings.landing.publishable_key = "pk_test_landing".into();
    settings.landing.stripe_js_url = STRIPE_JS.into();
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn the_checkout_page_loads_stripe_js_under_a_policy_naming_only_its_origin() {
    let landing = Landing::start_with(embedded).await;
    let token = landing.form_token().await;

    let page = landing
        .post_form(
            "/checkout",
            &[("form_token", token.as_str()), ("qty_price_tshirt", "2")],
        )
        .await;

    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_shows(&[
        r#"<script src="https://js.stripe.test/v3" defer></script>"#,
        r#"<script src="/static/embedded-checkout.js" defer></script>"#,
        r#"data-publishable-key="pk_test_landing""#,
        r#"name="qty_price_tshirt" value="2""#,
        r#"<div id="checkout"></div>"#,
    ]);
    let policy = page.header("content-security-policy");
    assert!(
        policy.contains("script-src 'self' https://js.stripe.test;"),
        "{policy}"
    );
    assert!(
        policy.contains("frame-src https://js.stripe.test;"),
        "{policy}"
    );
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    // No Checkout Session yet: the page's script asks for one.
    assert_eq!(landing.sim.state.stats()["sessions"], 0);

    // Every other page keeps the site's policy, which names no other origin.
    let shop = landing.get("/").await;
    assert!(!shop
        .header("content-security-policy")
        .contains("js.stripe.test"));
    let script = landing.get("/static/embedded-checkout.js").await;
    assert_eq!(script.status, 200);
    assert!(script.body.contains("initEmbeddedCheckout"));
}

#[tokio::test]
async fn the_session_endpoint_creates_an_embedded_session_returning_to_the_success_page() {
    let landing = Landing::start_with(embedded).await;
    let token = landing.form_token().await;
    let cart = [
        ("form_token", token.as_str()),
        ("qty_price_tshirt", "1"),
        ("qty_price_mug", "2"),
    ];

    let reply = landing.post_form("/checkout/session", &cart).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let secret = json(&reply.body)["clientSecret"]
        .as_str()
        .expect("a client secret")
        .to_owned();
    let id = secret.split("_secret_").next().unwrap();
    let session = landing.sim.state.retrieve_session(id, true).unwrap();
    assert_eq!(session["ui_mode"], "embedded");
    assert_eq!(
        session["return_url"],
        "http://shop.test/order/success?session_id={CHECKOUT_SESSION_ID}"
    );
    assert!(session["success_url"].is_null());
    assert_eq!(session["amount_total"], 2000 + 2 * 1200);

    // A reload of the checkout page asks again with the same form: the same session.
    let again = landing.post_form("/checkout/session", &cart).await;
    assert_eq!(json(&again.body)["clientSecret"], secret.as_str());
}

#[tokio::test]
async fn a_refused_cart_is_answered_in_json_and_creates_nothing() {
    let landing = Landing::start_with(embedded).await;
    let token = landing.form_token().await;

    let forged = landing
        .post_form(
            "/checkout/session",
            &[("form_token", "1.forged.token"), ("qty_price_tshirt", "1")],
        )
        .await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert!(json(&forged.body)["error"]
        .as_str()
        .unwrap()
        .contains("reload the shop page"));

    let empty = landing
        .post_form("/checkout/session", &[("form_token", token.as_str())])
        .await;
    assert_eq!(empty.status, 400);
    assert!(json(&empty.body)["error"]
        .as_str()
        .unwrap()
        .contains("at least one item"));

    let page = landing
        .post_form("/checkout", &[("form_token", "1.forged.token")])
        .await;
    assert_eq!(page.status, 400);
    assert_eq!(landing.sim.state.stats()["sessions"], 0);
}

#[tokio::test]
async fn in_hosted_mode_there_is_no_session_endpoint() {
    let landing = Landing::start().await;
    let token = landing.form_token().await;

    let reply = landing
        .post_form(
            "/checkout/session",
            &[("form_token", token.as_str()), ("qty_price_tshirt", "1")],
        )
        .await;

    assert_eq!(reply.status, 404);
    assert_eq!(landing.sim.state.stats()["sessions"], 0);
}
