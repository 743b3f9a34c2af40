//! The hosted payment page: what it shows, what paying does, and how it refuses.

use std::time::Duration;

use serde_json::json;
use stripe_sim::{
    AsyncPaymentOutcome, DelayedPaymentResolution, SimConfig, WebhookEndpoint, ACK_HEADER,
};

use crate::helpers::{bank_transfer_form, card_form, form, TestSim};
use crate::receiver::Receiver;

const SECRET: &str = "whsec_checkout_page_tests";

async fn sim_delivering_to(receiver: &Receiver) -> TestSim {
    TestSim::spawn_with(SimConfig {
        webhook_endpoints: vec![WebhookEndpoint::new(&receiver.url, &[SECRET])],
        ..SimConfig::default()
    })
    .await
}

#[tokio::test]
async fn the_page_names_the_accounts_business_escaped_and_a_blank_name_stops_the_start() {
    let t = TestSim::spawn_with(SimConfig {
        business_name: "Harbour & <Co>".into(),
        ..SimConfig::default()
    })
    .await;
    let session = t.create_session(&[("price_mug", 1)]).await;
    let page = t.get_page(session["url"].as_str().unwrap()).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.element_text("merchant").as_deref(),
        Some("Harbour & <Co>")
    );
    assert!(
        !page.text.contains("<Co>"),
        "the name is escaped: {}",
        page.text
    );

    let blank = stripe_sim::RunningSim::start(SimConfig {
        business_name: "  ".into(),
        ..SimConfig::default()
    })
    .await;
    let Err(error) = blank else {
        panic!("a blank business name is refused");
    };
    assert!(error.to_string().contains("business name"), "{error}");
}

#[tokio::test]
async fn the_page_shows_the_line_items_the_total_and_every_payment_field() {
    let t = TestSim::spawn().await;
    let session = t
        .create_session(&[("price_tshirt", 2), ("price_mug", 1)])
        .await;

    let page = t.get_page(session["url"].as_str().unwrap()).await;

    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text.contains("Stripe T-shirt"), "{}", page.text);
    assert!(page.text.contains("Stripe Mug"));
    assert!(page.text.contains("Qty 2"));
    assert!(page.text.contains("20.00 USD each"));
    assert_eq!(page.element_text("total").as_deref(), Some("52.00 USD"));
    for id in [
        "email",
        "cardholder-name",
        "card-number",
        "card-expiry",
        "card-cvc",
        "billing-postal-code",
    ] {
        assert!(
            page.text.contains(&format!(r#"id="{id}" name="{id}""#)),
            "field {id} missing"
        );
    }
    assert!(page
        .text
        .contains(r#"type="radio" id="payment-method-card" name="payment-method" value="card""#));
    assert!(page.text.contains(r#"type="radio" id="payment-method-bank_transfer" name="payment-method" value="bank_transfer""#));
    assert!(page.text.contains(r#"<button id="pay""#));
    assert!(page.text.contains("Pay 52.00 USD"));
    assert!(
        !page.text.contains("payment-error"),
        "no error before paying"
    );
}

#[tokio::test]
async fn the_stylesheet_comes_from_the_simulator_and_nothing_else_is_loaded() {
    let t = TestSim::spawn().await;
    let session = t.create_session(&[("price_mug", 1)]).await;

    let page = t.get_page(session["url"].as_str().unwrap()).await;
    let css = t.get_page(&t.url("/c/checkout.css")).await;

    assert!(page
        .text
        .contains(r#"<link rel="stylesheet" href="/c/checkout.css">"#));
    assert!(!page.text.contains("<script"), "the page needs no script");
    assert!(
        !page.text.contains("src=\"http"),
        "nothing from another origin"
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("style-src 'self'"));
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.text.contains(".pay-button"));
}

#[tokio::test]
async fn a_product_named_like_a_script_tag_is_shown_escaped() {
    let t = TestSim::spawn().await;
    let reply = t
        .post_form(
            "/v1/checkout/sessions",
            &form(&[
                ("mode", "payment"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "500"),
                (
                    "line_items[0][price_data][product_data][name]",
                    r#"<script>alert("owned")</script>"#,
                ),
                ("line_items[0][quantity]", "1"),
                (
                    "cancel_url",
                    "https://shop.test/cancel?from=checkout&x=\"y\"",
                ),
                ("success_url", "https://shop.test/ok"),
            ]),
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);

    let page = t.get_page(reply.body["url"].as_str().unwrap()).await;

    assert!(!page.text.contains("<script>"), "{}", page.text);
    assert!(page
        .text
        .contains("&#60;script&#62;alert(&#34;owned&#34;)&#60;/script&#62;"));
    assert!(page.text.contains("Pay 5.00 USD"));
    assert!(!page.text.contains("x=\"y\""));
    assert!(page.text.contains("from=checkout&#38;x=&#34;y&#34;"));
}

#[tokio::test]
async fn paying_with_4242_redirects_to_the_success_url_after_the_signed_event_is_acknowledged() {
    let receiver = Receiver::ok().await;
    let t = sim_delivering_to(&receiver).await;
    let session = t.create_session(&[("price_tshirt", 2)]).await;
    let id = session["id"].as_str().unwrap();

    let page = t.pay(&session, &card_form("4242 4242 4242 4242")).await;

    assert_eq!(page.status, 303, "{}", page.text);
    assert_eq!(
        page.header("location"),
        Some(format!("https://shop.test/order/success?session_id={id}").as_str())
    );
    assert_eq!(page.header(ACK_HEADER), Some("acknowledged"));
    // The acknowledgement came before the redirect: the delivery is already on record.
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let delivery = &received[0];
    assert_eq!(delivery.event_type(), "checkout.session.completed");
    assert_eq!(delivery.event()["data"]["object"]["id"], id);
    assert_eq!(delivery.event()["data"]["object"]["payment_status"], "paid");
    assert_eq!(delivery.content_type, "application/json; charset=utf-8");
    assert!(delivery.user_agent.starts_with("Stripe/1.0"));
    assert_eq!(delivery.header_values("v1").len(), 1);
    delivery.verify(&[SECRET]).expect("the signature verifies");
    assert!(delivery.verify(&["whsec_another"]).is_err());

    let paid = t.get(&format!("/v1/checkout/sessions/{id}")).await.body;
    assert_eq!(paid["status"], "complete");
    assert_eq!(paid["payment_status"], "paid");
    assert_eq!(paid["customer_details"]["name"], "Jenny Rosen");
    assert_eq!(paid["customer_details"]["email"], "jenny.rosen@example.com");
    assert!(paid["payment_intent"].as_str().unwrap().starts_with("pi_"));
    let event = t
        .get(&format!("/v1/events/{}", delivery.event_id()))
        .await
        .body;
    assert_eq!(event["pending_webhooks"], 0);
    let deliveries = t
        .client
        .get(t.url(&format!("/_sim/events/{}/deliveries", delivery.event_id())))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(deliveries["data"][0]["status"], "succeeded");
    assert!(deliveries["data"][0]["ack_latency_ms"].is_u64());
}

#[tokio::test]
async fn during_a_secret_rotation_the_header_carries_a_v1_for_each_secret() {
    let receiver = Receiver::ok().await;
    let t = TestSim::spawn_with(SimConfig {
        webhook_endpoints: vec![WebhookEndpoint::new(
            &receiver.url,
            &["whsec_old", "whsec_new"],
        )],
        ..SimConfig::default()
    })
    .await;
    let session = t.create_session(&[("price_mug", 1)]).await;

    let page = t.pay(&session, &card_form("4242424242424242")).await;

    assert_eq!(page.status, 303);
    let delivery = &receiver.wait_for(1).await[0];
    assert_eq!(
        delivery.header_values("v1").len(),
        2,
        "{}",
        delivery.signature
    );
    delivery
        .verify(&["whsec_old"])
        .expect("the old secret verifies");
    delivery
        .verify(&["whsec_new"])
        .expect("the new secret verifies");
}

#[tokio::test]
async fn a_declined_card_shows_the_error_and_leaves_the_session_open() {
    let receiver = Receiver::ok().await;
    let t = sim_delivering_to(&receiver).await;
    let session = t.create_session(&[("price_mug", 1)]).await;
    let id = session["id"].as_str().unwrap();

    let page = t.pay(&session, &card_form("4000 0000 0000 0002")).await;

    assert_eq!(page.status, 402);
    assert_eq!(
        page.element_text("payment-error").as_deref(),
        Some("Your card was declined.")
    );
    assert!(
        page.text.contains(r#"value="jenny.rosen@example.com""#),
        "the form keeps what was typed"
    );
    let still_open = t.get(&format!("/v1/checkout/sessions/{id}")).await.body;
    assert_eq!(still_open["status"], "open");
    assert_eq!(still_open["payment_status"], "unpaid");
    assert_eq!(t.get("/v1/events").await.body["data"], json!([]));
    assert!(t.state().deliveries().is_empty());
    assert!(receiver.received().is_empty());

    // The customer tries another card on the same session.
    let retry = t.pay(&session, &card_form("4242424242424242")).await;
    assert_eq!(retry.status, 303);
}

#[tokio::test]
async fn malformed_payment_details_are_refused_with_a_message_for_the_field() {
    let t = TestSim::spawn().await;
    let session = t.create_session(&[("price_mug", 1)]).await;
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "card-number",
            "4242 4242 4242 4241",
            "card-number",
            "Your card number is invalid.",
        ),
        (
            "card-number",
            "4242",
            "card-number",
            "Your card number is incomplete.",
        ),
        (
            "card-expiry",
            "01 / 20",
            "card-expiry",
            "Your card's expiration year is in the past.",
        ),
        (
            "card-expiry",
            "13 / 40",
            "card-expiry",
            "Your card's expiration month is invalid.",
        ),
        (
            "card-cvc",
            "1",
            "card-cvc",
            "Your card's security code is incomplete.",
        ),
        ("email", "jenny@", "email", "Your email address is invalid."),
        (
            "billing-postal-code",
            "",
            "billing-postal-code",
            "Your postal code is incomplete.",
        ),
        (
            "cardholder-name",
            "",
            "cardholder-name",
            "The cardholder name is required.",
        ),
    ];
    for (field, value, marked, message) in cases {
        let mut fields = card_form("4242424242424242");
        fields.retain(|(k, _)| k != field);
        fields.push((field, value));

        let page = t.pay(&session, &fields).await;

        assert_eq!(page.status, 422, "{field}={value}");
        assert_eq!(
            page.element_text("payment-error").as_deref(),
            Some(*message)
        );
        let marked_input = format!(r#"id="{marked}" name="{marked}""#);
        let at = page.text.find(&marked_input).unwrap();
        let tag_end = at + page.text[at..].find('>').unwrap();
        assert!(
            page.text[at..tag_end].contains(r#"aria-invalid="true""#),
            "{field} is marked invalid"
        );
    }
    let still_open = t
        .get(&format!(
            "/v1/checkout/sessions/{}",
            session["id"].as_str().unwrap()
        ))
        .await
        .body;
    assert_eq!(still_open["status"], "open");
}

#[tokio::test]
async fn a_bank_transfer_completes_unpaid_and_the_async_payment_event_follows() {
    let receiver = Receiver::ok().await;
    let t = sim_delivering_to(&receiver).await;
    let session = t.create_session(&[("price_tshirt", 1)]).await;
    let id = session["id"].as_str().unwrap();

    let page = t.pay(&session, &bank_transfer_form()).await;

    assert_eq!(page.status, 303);
    assert_eq!(page.header(ACK_HEADER), Some("acknowledged"));
    let completed = &receiver.wait_for(1).await[0];
    assert_eq!(completed.event_type(), "checkout.session.completed");
    assert_eq!(completed.event()["data"]["object"]["status"], "complete");
    assert_eq!(
        completed.event()["data"]["object"]["payment_status"],
        "unpaid"
    );

    let reply = t
        .control(
            &format!("/_sim/checkout/sessions/{id}/async_payment_succeeded"),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);

    let succeeded = &receiver.wait_for(2).await[1];
    assert_eq!(
        succeeded.event_type(),
        "checkout.session.async_payment_succeeded"
    );
    assert_eq!(
        succeeded.event()["data"]["object"]["payment_status"],
        "paid"
    );
    succeeded.verify(&[SECRET]).unwrap();
    let session = t.get(&format!("/v1/checkout/sessions/{id}")).await.body;
    assert_eq!(session["payment_status"], "paid");
}

#[tokio::test]
async fn a_delayed_payment_can_settle_by_itself_after_the_configured_time() {
    let receiver = Receiver::ok().await;
    let t = TestSim::spawn_with(SimConfig {
        webhook_endpoints: vec![WebhookEndpoint::new(&receiver.url, &[SECRET])],
        delayed_payment: Some(DelayedPaymentResolution {
            after: Duration::from_millis(50),
            outcome: AsyncPaymentOutcome::Failed,
        }),
        ..SimConfig::default()
    })
    .await;
    let session = t.create_session(&[("price_tshirt", 1)]).await;

    let page = t.pay(&session, &bank_transfer_form()).await;

    assert_eq!(page.status, 303);
    let mut types: Vec<String> = receiver
        .wait_for(2)
        .await
        .iter()
        .map(|r| r.event_type())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "checkout.session.async_payment_failed",
            "checkout.session.completed"
        ]
    );
    // Already settled: the control API refuses to settle it again.
    let again = t
        .control(
            &format!(
                "/_sim/checkout/sessions/{}/async_payment_succeeded",
                session["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(again.status, 400);
}

#[tokio::test]
async fn the_cancel_link_points_at_the_cancel_url_and_visiting_leaves_the_session_open() {
    let t = TestSim::spawn().await;
    let session = t.create_session(&[("price_mug", 1)]).await;

    let page = t.get_page(session["url"].as_str().unwrap()).await;

    assert!(page
        .text
        .contains(r#"<a class="back-link" id="cancel" href="https://shop.test/cancel">"#));
    let id = session["id"].as_str().unwrap();
    assert_eq!(
        t.get(&format!("/v1/checkout/sessions/{id}")).await.body["status"],
        "open"
    );
}

#[tokio::test]
async fn a_paid_session_cannot_be_paid_twice() {
    let receiver = Receiver::ok().await;
    let t = sim_delivering_to(&receiver).await;
    let session = t.create_session(&[("price_mug", 1)]).await;
    assert_eq!(
        t.pay(&session, &card_form("4242424242424242")).await.status,
        303
    );

    let page = t.get_page(session["url"].as_str().unwrap()).await;
    let second = t.pay(&session, &card_form("4242424242424242")).await;

    assert_eq!(page.status, 200);
    assert_eq!(
        page.element_text("closed-heading").as_deref(),
        Some("This checkout is complete")
    );
    assert_eq!(second.status, 409);
    let events = t.get("/v1/events").await.body;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_expired_or_unknown_session_has_no_payment_form() {
    let t = TestSim::spawn().await;
    let session = t.create_session(&[("price_mug", 1)]).await;
    let url = session["url"].as_str().unwrap().to_string();
    t.state()
        .expire_session(session["id"].as_str().unwrap())
        .unwrap();

    let expired = t.get_page(&url).await;
    let pay_expired = t
        .pay(&json!({ "url": url }), &card_form("4242424242424242"))
        .await;
    let unknown = t.get_page(&t.url("/c/pay/cs_test_nope")).await;

    assert_eq!(expired.status, 410);
    assert_eq!(
        expired.element_text("closed-heading").as_deref(),
        Some("This checkout has expired")
    );
    assert!(!expired.text.contains(r#"id="pay""#));
    assert_eq!(pay_expired.status, 410);
    assert_eq!(unknown.status, 404);
    assert!(!unknown.text.contains(r#"id="pay""#));
}

#[tokio::test]
async fn without_webhook_endpoints_the_redirect_does_not_wait() {
    let t = TestSim::spawn().await;
    let session = t.create_session(&[("price_mug", 1)]).await;

    let page = t.pay(&session, &card_form("5555 5555 5555 4444")).await;

    assert_eq!(page.status, 303);
    assert_eq!(page.header(ACK_HEADER), Some("no_endpoints"));
    let events = t.get("/v1/events").await.body;
    assert_eq!(events["data"][0]["pending_webhooks"], 0);
}
