//! The success page shows each outcome as a customer should see it: status code and visible
//! content, amounts in their currency's format, names escaped. Also the shop and cancel pages.

use shared::Trigger;
use stripe_sim::{Customer, PaymentOutcome};
use tests::landing_support::{escaped, Landing};
use tests::{completed_session, open_session, paid_session};

#[tokio::test]
async fn a_paid_session_shows_the_confirmation_with_name_items_and_total() {
    let landing = Landing::start().await;
    let id = paid_session(&landing.sim, "Jenny Rosen");

    let page = landing.success_page(id.as_str()).await;

    assert_eq!(page.status, 200, "{}", page.body);
    let order_number = landing.order_number(&id).await;
    page.assert_shows(&[
        "Thanks for your order, Jenny Rosen!",
        "jenny.rosen@example.com",
        "Stripe T-shirt",
        "40.00 USD",
        "Stripe Mug",
        "12.00 USD",
        "52.00 USD",
        &format!("#{order_number:06}"),
        "<time datetime=",
    ]);
    assert_eq!(landing.order_state(&id).await.as_deref(), Some("fulfilled"));
    let fulfilled_by: String =
        sqlx::query_scalar("SELECT fulfilled_by FROM checkout_orders WHERE session_id = $1")
            .bind(id.as_str())
            .fetch_one(&landing.db.pool)
            .await
            .unwrap();
    assert_eq!(fulfilled_by, "landing", "the page did the fulfillment");
}

#[tokio::test]
async fn the_confirmation_lists_the_links_and_licence_keys_the_order_gave() {
    use shared::store::access::{self, ProductAccess};
    let landing = Landing::start().await;
    for (product, title, url, licence_keys) in [
        (
            "prod_tshirt",
            "Members' area",
            "https://shop.test/members",
            true,
        ),
        ("prod_mug", "Mug <care> guide", "javascript:alert(1)", false),
    ] {
        let access = ProductAccess {
            product_id: product.into(),
            title: title.into(),
            url: Some(url.into()),
            licence_keys,
        };
        access::set(&landing.db.pool, &access).await.unwrap();
    }
    access::add_keys(
        &landing.db.pool,
        "prod_tshirt",
        &["K-1".into(), "K-2".into()],
    )
    .await
    .unwrap();
    let id = paid_session(&landing.sim, "Jenny Rosen");

    let page = landing.success_page(id.as_str()).await;

    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_shows(&[
        "You now have access to",
        r#"<a href="https://shop.test/members" rel="noreferrer">Members&#39; area</a>"#,
        r#"<code class="licence-key">K-1</code>"#,
        r#"<code class="licence-key">K-2</code>"#,
        "Mug &#60;care&#62; guide",
    ]);
    assert!(
        !page.body.contains("javascript:"),
        "a link that is not http(s) is shown as text only"
    );
}

#[tokio::test]
async fn an_already_fulfilled_order_renders_from_postgres_without_calling_stripe() {
    let landing = Landing::start().await;
    let id = paid_session(&landing.sim, "Jenny Rosen");
    landing
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap();
    let before = landing.sim.state.request_count();

    let page = landing.success_page(id.as_str()).await;

    assert_eq!(page.status, 200);
    page.assert_shows(&["Thanks for your order, Jenny Rosen!", "52.00 USD"]);
    assert_eq!(
        landing.sim.state.request_count(),
        before,
        "Stripe was not asked again"
    );
}

#[tokio::test]
async fn a_customer_name_with_markup_is_shown_escaped() {
    let landing = Landing::start().await;
    let name = "<script>alert(1)</script>";
    let id = paid_session(&landing.sim, name);

    let page = landing.success_page(id.as_str()).await;

    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains(name),
        "the raw markup reached the page:\n{}",
        page.body
    );
    page.assert_shows(&[&format!("Thanks for your order, {}!", escaped(name))]);
}

#[tokio::test]
async fn totals_follow_each_currencys_decimals() {
    let landing = Landing::start().await;
    let cases = [
        ("price_tenugui", 2, "3000 JPY"),
        ("price_dallah", 1, "12.500 KWD"),
        ("price_stickers", 3, "15.00 USD"),
    ];
    for (price, quantity, total) in cases {
        let id = completed_session(
            &landing.sim,
            &[(price, quantity)],
            PaymentOutcome::Paid,
            "Jenny Rosen",
        );
        let page = landing.success_page(id.as_str()).await;
        assert_eq!(page.status, 200, "{price}: {}", page.body);
        page.assert_shows(&[&format!("data-testid=\"order-total\">{total}</td>")]);
    }
}

#[tokio::test]
async fn a_session_needing_no_payment_is_confirmed() {
    let landing = Landing::start().await;
    let id = completed_session(
        &landing.sim,
        &[("price_mug", 1)],
        PaymentOutcome::NoPaymentRequired,
        "Jenny Rosen",
    );

    let page = landing.success_page(id.as_str()).await;

    assert_eq!(page.status, 200);
    page.assert_shows(&["Thanks for your order, Jenny Rosen!"]);
}

#[tokio::test]
async fn a_delayed_payment_shows_processing_checks_again_and_never_fulfills() {
    let landing = Landing::start().await;
    let id = completed_session(
        &landing.sim,
        &[("price_tshirt", 1)],
        PaymentOutcome::Unpaid,
        "Jenny Rosen",
    );

    let page = landing.success_page(id.as_str()).await;

    assert_eq!(page.status, 200);
    page.assert_shows(&[
        "Your payment is processing",
        "Thanks, Jenny Rosen!",
        "<script src=\"/static/status.js\" defer></script>",
        &format!("data-status-url=\"/order/status?session_id={id}\""),
    ]);
    assert!(!page.body.contains("Thanks for your order"));
    assert_eq!(
        landing.order_state(&id).await.as_deref(),
        Some("awaiting_payment")
    );

    // What the page's script polls: Postgres only.
    let before = landing.sim.state.request_count();
    let status = landing.get(&format!("/order/status?session_id={id}")).await;
    assert_eq!(status.status, 200);
    assert_eq!(status.body, r#"{"state":"awaiting_payment"}"#);
    assert_eq!(
        landing.sim.state.request_count(),
        before,
        "polling never calls Stripe"
    );

    // The money arrives and the worker fulfills; the poll sees it and the page confirms.
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
    let status = landing.get(&format!("/order/status?session_id={id}")).await;
    assert_eq!(status.body, r#"{"state":"fulfilled"}"#);
    let page = landing.success_page(id.as_str()).await;
    page.assert_shows(&["Thanks for your order, Jenny Rosen!", "20.00 USD"]);
}

#[tokio::test]
async fn a_failed_delayed_payment_says_so_with_a_way_to_try_again() {
    let landing = Landing::start().await;
    let id = completed_session(
        &landing.sim,
        &[("price_tshirt", 1)],
        PaymentOutcome::Unpaid,
        "Jenny Rosen",
    );
    landing.sim.state.fail_async_payment(id.as_str()).unwrap();
    landing
        .fulfiller
        .record_payment_failed(&id, Trigger::Webhook)
        .await
        .unwrap();

    let page = landing.success_page(id.as_str()).await;

    assert_eq!(page.status, 200);
    page.assert_shows(&["Your payment didn’t go through", "href=\"/\">Try again</a>"]);
    assert_eq!(
        landing.order_state(&id).await.as_deref(),
        Some("payment_failed")
    );
}

/// Nothing in this system emails customers (Stripe may, if the account has receipts turned on),
/// so no page may say that we sent or will send one.
fn assert_promises_no_email(page: &tests::landing_support::Page) {
    for claim in [
        "sent a receipt",
        "written to",
        " and email ",
        "confirmation email",
    ] {
        assert!(
            !page.body.contains(claim),
            "the page claims an email ({claim:?}):\n{}",
            page.body
        );
    }
}

#[tokio::test]
async fn order_pages_show_the_orders_email_without_claiming_we_sent_anything() {
    let landing = Landing::start().await;
    let paid = paid_session(&landing.sim, "Jenny Rosen");
    let processing = completed_session(
        &landing.sim,
        &[("price_tshirt", 1)],
        PaymentOutcome::Unpaid,
        "Jenny Rosen",
    );
    let failed = completed_session(
        &landing.sim,
        &[("price_tshirt", 1)],
        PaymentOutcome::Unpaid,
        "Jenny Rosen",
    );
    landing
        .sim
        .state
        .fail_async_payment(failed.as_str())
        .unwrap();
    landing
        .fulfiller
        .record_payment_failed(&failed, Trigger::Webhook)
        .await
        .unwrap();

    let confirmation = landing.success_page(paid.as_str()).await;
    confirmation.assert_shows(&["Thanks for your order", "jenny.rosen@example.com"]);
    assert_promises_no_email(&confirmation);
    let processing = landing.success_page(processing.as_str()).await;
    processing.assert_shows(&["Your payment is processing"]);
    assert_promises_no_email(&processing);
    let failed = landing.success_page(failed.as_str()).await;
    failed.assert_shows(&["Your payment didn’t go through"]);
    assert_promises_no_email(&failed);
}

#[tokio::test]
async fn an_expired_session_is_a_404_page() {
    let landing = Landing::start().await;
    let id = open_session(&landing.sim, &[("price_mug", 1)]);
    landing.sim.state.expire_session(id.as_str()).unwrap();

    let page = landing.success_page(id.as_str()).await;

    assert_eq!(page.status, 404);
    page.assert_shows(&["We couldn’t find that order"]);
    assert_eq!(landing.order_state(&id).await.as_deref(), Some("expired"));
}

#[tokio::test]
async fn an_unknown_session_is_a_404_page() {
    let landing = Landing::start().await;

    let page = landing
        .success_page("cs_test_a1NoSuchSessionAnywhere")
        .await;

    assert_eq!(page.status, 404);
    page.assert_shows(&["We couldn’t find that order"]);
    assert_eq!(landing.sim.state.requests_to("/v1/checkout/sessions/"), 1);
}

#[tokio::test]
async fn an_open_unpaid_session_is_not_fulfilled() {
    let landing = Landing::start().await;
    let id = open_session(&landing.sim, &[("price_mug", 1)]);

    let page = landing.success_page(id.as_str()).await;

    assert_eq!(page.status, 200);
    page.assert_shows(&["Your payment is processing"]);
    assert_eq!(
        landing.order_state(&id).await,
        None,
        "nothing is recorded for an open session"
    );
}

#[tokio::test]
async fn order_pages_are_not_cached_leak_no_referrer_and_allow_only_this_origin() {
    let landing = Landing::start().await;
    let id = paid_session(&landing.sim, "Jenny Rosen");

    let page = landing.success_page(id.as_str()).await;

    assert_eq!(page.header("cache-control"), "no-store");
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    let csp = page.header("content-security-policy");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(!page.body.contains("<script>"), "no inline script");
    assert!(!page.body.contains("style="), "no inline style");
    assert!(!page.body.contains("https://"), "no third-party assets");
    let css = landing.get("/static/landing.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
}

#[tokio::test]
async fn the_shop_lists_the_catalog_with_checkout_buttons() {
    let landing = Landing::start().await;

    let page = landing.get("/").await;

    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_shows(&[
        "Stripe T-shirt",
        "20.00 USD",
        "Tenugui towel",
        "1500 JPY",
        "Dallah coffee pot",
        "12.500 KWD",
        "<form method=\"post\" action=\"/checkout\">",
        "name=\"qty_price_tshirt\"",
        "Check out in USD",
        "Check out in JPY",
    ]);
    assert_eq!(
        page.header("cache-control"),
        "no-store",
        "the form token is single-use"
    );

    // Cached: a second view does not list the prices again.
    let listed = landing.sim.state.requests_to("/v1/prices");
    landing.get("/").await;
    assert_eq!(landing.sim.state.requests_to("/v1/prices"), listed);
}

#[tokio::test]
async fn a_configured_catalog_offers_only_its_prices_in_order() {
    let landing = Landing::start_with(|s| {
        s.landing.catalog = vec!["price_mug".into(), "price_tshirt".into()]
    })
    .await;

    let page = landing.get("/").await;

    assert_eq!(page.status, 200);
    let mug = page.body.find("Stripe Mug").expect("the mug is offered");
    let shirt = page
        .body
        .find("Stripe T-shirt")
        .expect("the T-shirt is offered");
    assert!(mug < shirt, "configured order");
    assert!(!page.body.contains("Tenugui towel"));
    assert!(!page.body.contains("Check out in JPY"));
}

#[tokio::test]
async fn the_cancel_page_offers_a_way_back() {
    let landing = Landing::start().await;

    let page = landing.get("/order/cancel").await;

    assert_eq!(page.status, 200);
    page.assert_shows(&["Checkout cancelled", "No payment was taken", "href=\"/\""]);
}

#[tokio::test]
async fn a_customer_named_like_the_seed_is_thanked_by_name() {
    let landing = Landing::start().await;
    let id = open_session(&landing.sim, &[("price_tshirt", 1)]);
    let customer = Customer {
        name: "Jenny Rosen".into(),
        email: "jenny@example.com".into(),
        shipping: None,
    };
    landing
        .sim
        .state
        .complete_session(id.as_str(), PaymentOutcome::Paid, customer)
        .unwrap();

    let page = landing.success_page(id.as_str()).await;

    page.assert_shows(&["<h1 id=\"receipt-title\">Thanks for your order, Jenny Rosen!</h1>"]);
}

#[tokio::test]
async fn every_page_shows_the_configured_shop_name_escaped() {
    let landing = Landing::start_with(|s| s.landing.shop_name = "Harbour & <Co>".into()).await;

    for path in ["/", "/order/cancel", "/no-such-page"] {
        let page = landing.get(path).await;
        page.assert_shows(&[
            "· Harbour &#38; &#60;Co&#62;</title>",
            "<span>Harbour &#38; &#60;Co&#62;</span>",
        ]);
        assert!(!page.body.contains("Corner Store"), "{path}: {}", page.body);
    }
}

#[tokio::test]
async fn a_blank_shop_name_stops_landing_naming_the_setting() {
    let vars: Vec<(String, String)> = [
        ("APP_STRIPE__SECRET_KEY", tests::SIM_KEY),
        ("APP_STRIPE__API_BASE", "http://127.0.0.1:1"),
        ("APP_LANDING__SHOP_NAME", "  "),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let error = shared::Settings::load_from(shared::settings::Uses::LANDING, vars)
        .expect_err("a blank shop name is refused");
    assert!(error.to_string().contains("landing.shop_name"), "{error}");
}
