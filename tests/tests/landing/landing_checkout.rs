//! `POST /checkout`: the cart form becomes a Checkout Session whose `success_url` keeps the
//! literal `{CHECKOUT_SESSION_ID}`, and the browser is sent to its payment page.

use stripe_sim::{Fault, FaultKind, RouteMatch};
use tests::landing_support::Landing;

/// The session id at the end of the payment page URL (`…/c/pay/cs_test_…`).
fn session_id_of(payment_page: &str) -> String {
    payment_page
        .rsplit('/')
        .find(|segment| segment.starts_with("cs_"))
        .unwrap_or_else(|| panic!("no session id in {payment_page}"))
        .split(['?', '#'])
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn checkout_creates_a_session_with_the_placeholder_and_redirects_to_its_page() {
    let landing = Landing::start().await;
    let token = landing.form_token().await;

    let page = landing
        .post_form(
            "/checkout",
            &[
                ("form_token", token.as_str()),
                ("qty_price_tshirt", "2"),
                ("qty_price_mug", "0"),
            ],
        )
        .await;

    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.header("location").to_owned();
    let id = session_id_of(&location);
    let session = landing
        .sim
        .state
        .retrieve_session(&id, true)
        .expect("the session exists");
    assert_eq!(
        session["url"],
        location.as_str(),
        "303 to the session's own URL"
    );
    assert_eq!(
        session["success_url"],
        "http://shop.test/order/success?session_id={CHECKOUT_SESSION_ID}"
    );
    assert_eq!(session["cancel_url"], "http://shop.test/order/cancel");
    assert_eq!(session["mode"], "payment");
    let items = session["line_items"]["data"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only items with a quantity");
    assert_eq!(items[0]["price"]["id"], "price_tshirt");
    assert_eq!(items[0]["quantity"], 2);
    assert_eq!(session["amount_total"], 4000);
}

/// The session a cart form becomes, as the API renders it.
async fn session_for(landing: &Landing, lines: &[(&str, &str)]) -> serde_json::Value {
    let token = landing.form_token().await;
    let mut form = vec![("form_token", token.as_str())];
    form.extend_from_slice(lines);
    let page = landing.post_form("/checkout", &form).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let id = session_id_of(page.header("location"));
    landing
        .sim
        .state
        .retrieve_session(&id, false)
        .expect("the session exists")
}

#[tokio::test]
async fn a_cart_with_physical_goods_asks_for_an_address_in_the_shops_countries() {
    let landing = Landing::start().await;

    // The mug is shippable in the catalog; the sticker pack is not.
    let shipped = session_for(
        &landing,
        &[("qty_price_mug", "1"), ("qty_price_stickers", "1")],
    )
    .await;
    let countries = shipped["shipping_address_collection"]["allowed_countries"]
        .as_array()
        .expect("the session collects a shipping address");
    assert_eq!(countries.first().and_then(|c| c.as_str()), Some("US"));
    assert!(countries.iter().any(|c| c == "JP"), "{countries:?}");

    let not_shipped = session_for(&landing, &[("qty_price_stickers", "2")]).await;
    assert_eq!(
        not_shipped["shipping_address_collection"],
        serde_json::Value::Null,
        "nothing in the cart ships: no address is asked for"
    );
}

#[tokio::test]
async fn a_cart_with_a_subscription_checks_out_as_one_and_the_success_page_says_what_is_active() {
    let landing = Landing::start().await;
    let shop = landing.get("/").await;
    shop.assert_shows(&["Pattern library membership", "9.00 USD / month"]);
    // What the membership gives, as any digital product's access.
    shared::store::access::set(
        &landing.db.pool,
        &shared::store::access::ProductAccess {
            product_id: "prod_pattern_library".into(),
            title: "Pattern library".into(),
            url: Some("https://shop.test/library".into()),
            licence_keys: false,
        },
    )
    .await
    .unwrap();

    // One-time items beside the subscription go on its first invoice.
    let session = session_for(
        &landing,
        &[("qty_price_pattern_library", "1"), ("qty_price_mug", "1")],
    )
    .await;
    assert_eq!(session["mode"], "subscription");
    assert_eq!(session["amount_total"], 900 + 1200);
    let one_time = session_for(&landing, &[("qty_price_mug", "1")]).await;
    assert_eq!(one_time["mode"], "payment");

    let id = session["id"].as_str().unwrap();
    let customer = stripe_sim::Customer {
        name: "Jenny Rosen".into(),
        email: "jenny.rosen@example.com".into(),
        shipping: Some(stripe_sim::Shipping {
            name: "Jenny Rosen".into(),
            line1: "354 Oyster Point Blvd".into(),
            line2: String::new(),
            city: "South San Francisco".into(),
            state: "CA".into(),
            postal_code: "94080".into(),
            country: "US".into(),
        }),
    };
    landing
        .sim
        .state
        .complete_session(id, stripe_sim::PaymentOutcome::Paid, customer)
        .unwrap();
    let page = landing.success_page(id).await;

    assert_eq!(page.status, 200, "{}", page.body);
    let expanded = landing.sim.state.retrieve_session(id, false).unwrap();
    let sub_id = expanded["subscription"]
        .as_str()
        .expect("paid: a subscription");
    let stored: serde_json::Value =
        sqlx::query_scalar("SELECT subscription FROM checkout_orders WHERE session_id = $1")
            .bind(id)
            .fetch_one(&landing.db.pool)
            .await
            .unwrap();
    assert_eq!(stored["id"], sub_id);
    let renews =
        chrono::DateTime::parse_from_rfc3339(stored["current_period_end"].as_str().unwrap())
            .unwrap()
            .format("%-d %B %Y")
            .to_string();
    page.assert_shows(&[
        "Your subscription",
        &format!("<strong>Active</strong>, renews every month; next on {renews}."),
        "You now have access to",
        r#"<a href="https://shop.test/library" rel="noreferrer">Pattern library</a>"#,
        "Pattern library membership",
        "Stripe Mug",
        "21.00 USD",
    ]);
}

#[tokio::test]
async fn a_double_submitted_form_creates_one_session() {
    let landing = Landing::start().await;
    let token = landing.form_token().await;
    let form = [("form_token", token.as_str()), ("qty_price_tenugui", "1")];

    let first = landing.post_form("/checkout", &form).await;
    let second = landing.post_form("/checkout", &form).await;

    assert_eq!(first.status, 303);
    assert_eq!(second.status, 303);
    assert_eq!(
        first.header("location"),
        second.header("location"),
        "the same session"
    );
    let stats = landing.sim.state.stats();
    assert_eq!(stats["sessions"], 1, "{stats}");

    // The same page with a changed cart is a new order, not Stripe's idempotency error.
    let changed = landing
        .post_form(
            "/checkout",
            &[("form_token", token.as_str()), ("qty_price_tenugui", "2")],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_ne!(changed.header("location"), first.header("location"));
}

#[tokio::test]
async fn a_shop_page_form_goes_through_checkout() {
    let landing = Landing::start().await;
    let shop = landing.get("/").await;
    let token = shop
        .body
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the shop page carries a form token")
        .to_owned();

    let page = landing
        .post_form(
            "/checkout",
            &[("form_token", &token), ("qty_price_dallah", "1")],
        )
        .await;

    assert_eq!(page.status, 303, "{}", page.body);
    let id = session_id_of(page.header("location"));
    let session = landing.sim.state.retrieve_session(&id, false).unwrap();
    assert_eq!(session["currency"], "kwd");
    assert_eq!(session["amount_total"], 12500);
}

#[tokio::test]
async fn forms_that_cannot_become_an_order_are_a_400_page() {
    let landing = Landing::start().await;
    let token = landing.form_token().await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("qty_price_tshirt", "1")], "expired"),
        (
            &[("form_token", token.as_str()), ("qty_price_tshirt", "0")],
            "at least one item",
        ),
        (
            &[("form_token", token.as_str()), ("qty_price_tshirt", "lots")],
            "whole numbers",
        ),
        (
            &[("form_token", token.as_str()), ("qty_price_unknown", "1")],
            "no longer for sale",
        ),
        (
            &[
                ("form_token", token.as_str()),
                ("qty_price_tshirt", "1"),
                ("qty_price_tenugui", "1"),
            ],
            "different currencies",
        ),
    ];

    for (form, reason) in cases {
        let page = landing.post_form("/checkout", form).await;
        assert_eq!(page.status, 400, "{form:?}: {}", page.body);
        page.assert_shows(&[reason]);
    }
    assert_eq!(
        landing.sim.state.requests_to("/v1/checkout/sessions"),
        0,
        "no session created"
    );
}

#[tokio::test]
async fn stripe_unavailable_at_checkout_is_a_503_page() {
    let landing = Landing::start().await;
    let token = landing.form_token().await;
    landing.get("/").await; // the catalog is cached
    landing.sim.state.inject_fault(Fault {
        route: RouteMatch::new("POST", "/v1/checkout/sessions"),
        kind: FaultKind::Status500,
        count: 0,
    });

    let page = landing
        .post_form(
            "/checkout",
            &[("form_token", token.as_str()), ("qty_price_mug", "1")],
        )
        .await;

    assert_eq!(page.status, 503, "{}", page.body);
    page.assert_shows(&["start your checkout", "Please retry in a few seconds"]);
}
