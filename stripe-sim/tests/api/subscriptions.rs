//! Subscriptions: `mode=subscription` sells recurring prices; completing the session creates
//! the Customer and the Subscription, which the session names and `expand[]=subscription` or
//! `GET /v1/subscriptions/{id}` shows, its status following the first payment.

use serde_json::Value;

use crate::helpers::{bank_transfer_form, card_form, form, TestSim};

/// `POST /v1/checkout/sessions` in `mode` with catalog `prices` (one of each).
async fn create(t: &TestSim, mode: &str, prices: &[&str]) -> crate::helpers::Reply {
    let mut params = form(&[
        ("mode", mode),
        (
            "success_url",
            "https://shop.test/ok?session_id={CHECKOUT_SESSION_ID}",
        ),
    ]);
    for (i, price) in prices.iter().enumerate() {
        params.push((format!("line_items[{i}][price]"), price.to_string()));
        params.push((format!("line_items[{i}][quantity]"), "1".into()));
    }
    t.post_form("/v1/checkout/sessions", &params).await
}

async fn subscription_session(t: &TestSim) -> Value {
    let reply = create(
        t,
        "subscription",
        &["price_pattern_library", "price_stickers"],
    )
    .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    reply.body
}

async fn retrieve_expanded(t: &TestSim, id: &str) -> Value {
    let reply = t
        .get(&format!(
            "/v1/checkout/sessions/{id}?expand[]=subscription&expand[]=customer"
        ))
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    reply.body
}

#[tokio::test]
async fn each_mode_sells_only_its_kind_of_price_and_names_the_line_that_does_not_fit() {
    let t = TestSim::spawn().await;
    let recurring_in_payment = create(&t, "payment", &["price_mug", "price_pattern_library"]).await;
    assert_eq!(recurring_in_payment.status, 400);
    assert_eq!(
        recurring_in_payment.body["error"]["param"],
        "line_items[1][price]"
    );
    assert!(recurring_in_payment.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("recurring price"));

    let nothing_recurring = create(&t, "subscription", &["price_mug"]).await;
    assert_eq!(nothing_recurring.status, 400);
    assert_eq!(nothing_recurring.body["error"]["param"], "line_items");

    let session = subscription_session(&t).await;
    assert_eq!(session["mode"], "subscription");
    assert_eq!(
        session["amount_total"],
        900 + 500,
        "one-time items join the first invoice"
    );
    assert_eq!(
        session["subscription"],
        Value::Null,
        "nothing is started before payment"
    );
}

#[tokio::test]
async fn paying_starts_an_active_subscription_for_a_new_customer() {
    let t = TestSim::spawn().await;
    let session = subscription_session(&t).await;
    let id = session["id"].as_str().unwrap();
    let page = t.get_page(session["url"].as_str().unwrap()).await;
    assert!(page.text.contains("9.00 USD / month"), "{}", page.text);

    let paid = t.pay(&session, &card_form("4242 4242 4242 4242")).await;
    assert_eq!(paid.status, 303, "{}", paid.text);

    let session = retrieve_expanded(&t, id).await;
    assert_eq!(session["payment_status"], "paid");
    assert_eq!(
        session["payment_intent"],
        Value::Null,
        "the invoice holds the payment"
    );
    assert_eq!(session["customer"]["object"], "customer");
    assert_eq!(session["customer"]["name"], "Jenny Rosen");
    assert_eq!(session["customer"]["email"], "jenny.rosen@example.com");
    let subscription = &session["subscription"];
    assert_eq!(subscription["object"], "subscription");
    assert_eq!(subscription["status"], "active");
    assert_eq!(subscription["customer"], session["customer"]["id"]);
    let items = subscription["items"]["data"].as_array().unwrap();
    assert_eq!(
        items.len(),
        1,
        "only the recurring line is billed again: {items:#?}"
    );
    assert_eq!(items[0]["price"]["id"], "price_pattern_library");
    assert_eq!(items[0]["price"]["recurring"]["interval"], "month");
    let start = items[0]["current_period_start"].as_i64().unwrap();
    let end = items[0]["current_period_end"].as_i64().unwrap();
    assert!(
        (28 * 86_400..=31 * 86_400).contains(&(end - start)),
        "a month: {start}..{end}"
    );

    let sub_id = subscription["id"].as_str().unwrap();
    assert!(sub_id.starts_with("sub_"));
    let retrieved = t.get(&format!("/v1/subscriptions/{sub_id}")).await;
    assert_eq!(retrieved.status, 200);
    assert_eq!(&retrieved.body, subscription);

    // The webhook's snapshot already names the subscription.
    let events = t.get("/v1/events?type=checkout.session.completed").await;
    assert_eq!(
        events.body["data"][0]["data"]["object"]["subscription"],
        sub_id
    );
}

#[tokio::test]
async fn a_delayed_first_payment_leaves_the_subscription_incomplete_until_it_settles() {
    let t = TestSim::spawn().await;
    let status = |session: &Value| session["subscription"]["status"].clone();

    let settles = subscription_session(&t).await;
    let id = settles["id"].as_str().unwrap().to_owned();
    t.pay(&settles, &bank_transfer_form()).await;
    assert_eq!(status(&retrieve_expanded(&t, &id).await), "incomplete");
    t.state().succeed_async_payment(&id).unwrap();
    assert_eq!(status(&retrieve_expanded(&t, &id).await), "active");

    let fails = subscription_session(&t).await;
    let id = fails["id"].as_str().unwrap().to_owned();
    t.pay(&fails, &bank_transfer_form()).await;
    t.state().fail_async_payment(&id).unwrap();
    assert_eq!(
        status(&retrieve_expanded(&t, &id).await),
        "incomplete_expired"
    );
}

#[tokio::test]
async fn an_unknown_subscription_is_stripes_404() {
    let t = TestSim::spawn().await;
    let reply = t.get("/v1/subscriptions/sub_nope").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body["error"]["code"], "resource_missing");
}

#[tokio::test]
async fn a_payment_link_with_a_recurring_price_opens_subscription_sessions() {
    let t = TestSim::spawn().await;
    let reply = t
        .post_form(
            "/v1/payment_links",
            &form(&[
                ("line_items[0][price]", "price_pattern_library"),
                ("line_items[0][quantity]", "1"),
            ]),
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    let page = t.get_page(reply.body["url"].as_str().unwrap()).await;
    assert_eq!(page.status, 303, "{}", page.text);
    let id = page
        .header("location")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let session = t.get(&format!("/v1/checkout/sessions/{id}")).await.body;
    assert_eq!(session["mode"], "subscription");
    assert_eq!(session["payment_link"], reply.body["id"]);
}

#[tokio::test]
async fn prices_billed_on_two_schedules_are_refused_in_one_session_and_in_one_link() {
    let mut catalog = stripe_sim::default_catalog();
    catalog.push(stripe_sim::CatalogPrice {
        price_id: "price_pattern_library_yearly".into(),
        product_id: "prod_pattern_library".into(),
        product_name: "Pattern library membership".into(),
        unit_amount: 9000,
        currency: "usd".into(),
        active: true,
        shippable: None,
        recurring: Some(stripe_sim::Recurring {
            interval: "year".into(),
            interval_count: 1,
        }),
    });
    let t = TestSim::spawn_with(stripe_sim::SimConfig {
        catalog,
        ..stripe_sim::SimConfig::default()
    })
    .await;
    let both = ["price_pattern_library", "price_pattern_library_yearly"];

    let session = create(&t, "subscription", &both).await;
    assert_eq!(session.status, 400, "{:#}", session.body);
    assert_eq!(session.body["error"]["param"], "line_items[1][price]");

    let mut params = Vec::new();
    for (i, price) in both.iter().enumerate() {
        params.push((format!("line_items[{i}][price]"), price.to_string()));
        params.push((format!("line_items[{i}][quantity]"), "1".to_owned()));
    }
    let link = t.post_form("/v1/payment_links", &params).await;
    assert_eq!(link.status, 400, "{:#}", link.body);
    assert_eq!(link.body["error"]["param"], "line_items[1][price]");

    // Each schedule alone is fine.
    let yearly = create(&t, "subscription", &["price_pattern_library_yearly"]).await;
    assert_eq!(yearly.status, 200, "{:#}", yearly.body);
}
