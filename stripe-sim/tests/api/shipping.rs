//! Shipping: a session created with `shipping_address_collection` asks for an address on its
//! payment page, in one of its countries, and carries it as
//! `collected_information.shipping_details` once paid.

use serde_json::{json, Value};

use crate::helpers::{card_form, form, TestSim};

/// A session for a mug, shipped to `countries` (none: no address asked for).
async fn mug_session(t: &TestSim, countries: &[&str]) -> Value {
    let mut params = form(&[
        ("mode", "payment"),
        (
            "success_url",
            "https://shop.test/ok?session_id={CHECKOUT_SESSION_ID}",
        ),
        ("line_items[0][price]", "price_mug"),
        ("line_items[0][quantity]", "1"),
    ]);
    for (i, country) in countries.iter().enumerate() {
        params.push((
            format!("shipping_address_collection[allowed_countries][{i}]"),
            country.to_string(),
        ));
    }
    let reply = t.post_form("/v1/checkout/sessions", &params).await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    reply.body
}

fn address_form(country: &str) -> Vec<(&str, &str)> {
    let mut fields = card_form("4242 4242 4242 4242");
    fields.extend([
        ("shipping-name", "Jenny Rosen"),
        ("shipping-line1", "354 Oyster Point Blvd"),
        ("shipping-line2", ""),
        ("shipping-city", "South San Francisco"),
        ("shipping-state", "CA"),
        ("shipping-postal-code", "94080"),
        ("shipping-country", country),
    ]);
    fields
}

#[tokio::test]
async fn the_countries_are_on_the_session_and_a_bad_one_is_named() {
    let t = TestSim::spawn().await;
    let session = mug_session(&t, &["US", "CA"]).await;
    assert_eq!(
        session["shipping_address_collection"],
        json!({ "allowed_countries": ["US", "CA"] })
    );
    assert_eq!(
        mug_session(&t, &[]).await["shipping_address_collection"],
        Value::Null
    );

    let bad = t
        .post_form(
            "/v1/checkout/sessions",
            &form(&[
                ("mode", "payment"),
                ("success_url", "https://shop.test/ok"),
                ("line_items[0][price]", "price_mug"),
                ("line_items[0][quantity]", "1"),
                ("shipping_address_collection[allowed_countries][0]", "US"),
                (
                    "shipping_address_collection[allowed_countries][1]",
                    "Canada",
                ),
            ]),
        )
        .await;
    bad.assert_error(
        400,
        "invalid_request_error",
        None,
        Some("shipping_address_collection[allowed_countries][1]"),
    );
}

#[tokio::test]
async fn the_page_asks_for_an_address_and_refuses_a_missing_or_foreign_one() {
    let t = TestSim::spawn().await;
    let session = mug_session(&t, &["US", "CA"]).await;
    let url = session["url"].as_str().unwrap();
    let page = t.get_page(url).await;
    assert!(page.text.contains("id=\"shipping\""), "{}", page.text);
    assert!(page.text.contains("<option value=\"CA\""), "{}", page.text);
    let plain = mug_session(&t, &[]).await;
    let plain_page = t.get_page(plain["url"].as_str().unwrap()).await;
    assert!(!plain_page.text.contains("id=\"shipping\""));

    let missing = t.pay(&session, &card_form("4242 4242 4242 4242")).await;
    assert_eq!(missing.status, 422);
    assert_eq!(
        missing.element_text("payment-error").as_deref(),
        Some("The recipient's name is required.")
    );
    let foreign = t.pay(&session, &address_form("FR")).await;
    assert_eq!(foreign.status, 422);
    assert_eq!(
        foreign.element_text("payment-error").as_deref(),
        Some("We don't ship to that country. Choose one from the list.")
    );
    let id = session["id"].as_str().unwrap();
    let still_open = t.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(still_open.body["status"], "open");
    assert_eq!(still_open.body["collected_information"], Value::Null);
}

#[tokio::test]
async fn a_paid_session_carries_the_address_as_stripe_does() {
    let t = TestSim::spawn().await;
    let session = mug_session(&t, &["US", "CA"]).await;
    let paid = t.pay(&session, &address_form("US")).await;
    assert_eq!(paid.status, 303, "{}", paid.text);

    let id = session["id"].as_str().unwrap();
    let after = t.get(&format!("/v1/checkout/sessions/{id}")).await.body;
    assert_eq!(after["status"], "complete");
    assert_eq!(
        after["collected_information"]["shipping_details"],
        json!({
            "name": "Jenny Rosen",
            "address": {
                "line1": "354 Oyster Point Blvd", "line2": null, "city": "South San Francisco",
                "state": "CA", "postal_code": "94080", "country": "US"
            }
        })
    );
}

#[tokio::test]
async fn the_control_api_ships_to_the_address_given_or_stripes_example() {
    let t = TestSim::spawn().await;
    let japan = mug_session(&t, &["JP"]).await;
    let id = japan["id"].as_str().unwrap();
    let done = t
        .control(&format!("/_sim/checkout/sessions/{id}/complete"), json!({}))
        .await;
    assert_eq!(done.status, 200, "{:#}", done.body);
    let shipping = &done.body["data"]["object"]["collected_information"]["shipping_details"];
    assert_eq!(shipping["address"]["country"], "JP", "{shipping:#}");
    assert_eq!(shipping["name"], "Jenny Rosen");

    let us = mug_session(&t, &["US"]).await;
    let us_id = us["id"].as_str().unwrap();
    let given = json!({"shipping": {"name": "A B", "line1": "1 Main St", "city": "Springfield",
                                     "postal_code": "12345", "country": "CA"}});
    let refused = t
        .control(
            &format!("/_sim/checkout/sessions/{us_id}/complete"),
            given.clone(),
        )
        .await;
    refused.assert_error(
        400,
        "invalid_request_error",
        None,
        Some("shipping[country]"),
    );

    let plain = mug_session(&t, &[]).await;
    let plain_id = plain["id"].as_str().unwrap();
    let refused = t
        .control(
            &format!("/_sim/checkout/sessions/{plain_id}/complete"),
            given,
        )
        .await;
    refused.assert_error(400, "invalid_request_error", None, Some("shipping"));
}

#[tokio::test]
async fn physical_products_are_shippable_in_the_seeded_catalog() {
    let t = TestSim::spawn().await;
    let prices = t.get("/v1/prices?expand[]=data.product&limit=100").await;
    assert_eq!(prices.status, 200, "{:#}", prices.body);
    let shippable = |price: &str| {
        prices.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == price)
            .map(|p| p["product"]["shippable"].clone())
    };
    assert_eq!(shippable("price_mug"), Some(json!(true)));
    assert_eq!(shippable("price_stickers"), Some(Value::Null));
}
