use stripe_sim::{CatalogPrice, SimConfig};

use crate::helpers::{assert_fixture_shape, fixture, TestSim, LINE_ITEM_NULLABLE};

#[tokio::test]
async fn the_seeded_catalog_is_listed_with_products_expandable() {
    let t = TestSim::spawn().await;
    let reply = t
        .get("/v1/prices?active=true&expand[]=data.product&limit=100")
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    assert_eq!(reply.body["object"], "list");
    assert_eq!(reply.body["url"], "/v1/prices");
    let prices = reply.body["data"].as_array().unwrap();
    assert_eq!(prices.len(), 6);
    let usd = prices.iter().filter(|p| p["currency"] == "usd").count();
    assert!(usd >= 3);
    let dallah = prices.iter().find(|p| p["id"] == "price_dallah").unwrap();
    assert_eq!(dallah["currency"], "kwd");
    assert_eq!(dallah["unit_amount"], 12500);
    assert_eq!(dallah["product"]["object"], "product");
    assert_eq!(dallah["product"]["name"], "Dallah coffee pot");

    let yen = t.get("/v1/prices?currency=jpy").await;
    assert_eq!(yen.body["data"][0]["id"], "price_tenugui");
    assert_eq!(yen.body["data"].as_array().unwrap().len(), 1);
    let inactive = t.get("/v1/prices?active=false").await;
    assert!(inactive.body["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn recurring_prices_say_how_often_and_list_by_type() {
    let t = TestSim::spawn().await;
    let recurring = t.get("/v1/prices?type=recurring").await;
    assert_eq!(recurring.status, 200, "{:#}", recurring.body);
    let data = recurring.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{data:#?}");
    assert_eq!(data[0]["id"], "price_pattern_library");
    assert_eq!(data[0]["type"], "recurring");
    assert_eq!(data[0]["recurring"]["interval"], "month");
    assert_eq!(data[0]["recurring"]["interval_count"], 1);
    let one_time = t.get("/v1/prices?type=one_time").await;
    let data = one_time.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 5);
    assert!(data
        .iter()
        .all(|p| p["type"] == "one_time" && p["recurring"].is_null()));
    let bad = t.get("/v1/prices?type=monthly").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["param"], "type");
}

#[tokio::test]
async fn a_price_is_retrieved_in_stripes_shape() {
    let t = TestSim::spawn().await;
    let reply = t.get("/v1/prices/price_tshirt").await;
    assert_eq!(reply.status, 200);
    assert_fixture_shape(
        &fixture("line_item.json")["price"],
        &reply.body,
        LINE_ITEM_NULLABLE,
    );
    assert_eq!(reply.body["product"], "prod_tshirt");
    assert_eq!(reply.body["type"], "one_time");
    assert_eq!(reply.body["active"], true);
    let expanded = t.get("/v1/prices/price_tshirt?expand[]=product").await;
    assert_eq!(expanded.body["product"]["name"], "Stripe T-shirt");
    let product = t.get("/v1/products/prod_tshirt").await;
    assert_eq!(product.body["default_price"], "price_tshirt");

    let missing = t.get("/v1/prices/price_nope").await;
    missing.assert_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("price"),
    );
}

#[tokio::test]
async fn a_configured_catalog_replaces_the_seeded_one() {
    let t = TestSim::spawn_with(SimConfig {
        catalog: vec![CatalogPrice {
            price_id: "price_book".into(),
            product_id: "prod_book".into(),
            product_name: "Book".into(),
            unit_amount: 1999,
            currency: "eur".into(),
            active: true,
            shippable: None,
            recurring: None,
        }],
        ..SimConfig::default()
    })
    .await;
    let prices = t.get("/v1/prices").await;
    assert_eq!(prices.body["data"].as_array().unwrap().len(), 1);
    let session = t.create_session(&[("price_book", 2)]).await;
    assert_eq!(session["amount_total"], 3998);
    assert_eq!(session["currency"], "eur");
    let reply = t
        .post_form(
            "/v1/checkout/sessions",
            &crate::helpers::form(&[
                ("mode", "payment"),
                ("line_items[0][price]", "price_tshirt"),
                ("line_items[0][quantity]", "1"),
            ]),
        )
        .await;
    assert_eq!(reply.status, 400);
}

#[tokio::test]
async fn an_invalid_catalog_fails_at_start_with_a_reason() {
    let err = stripe_sim::RunningSim::start(SimConfig {
        catalog: vec![CatalogPrice {
            price_id: "book".into(),
            product_id: "prod_book".into(),
            product_name: "Book".into(),
            unit_amount: 1,
            currency: "eur".into(),
            active: true,
            shippable: None,
            recurring: None,
        }],
        ..SimConfig::default()
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("price_"), "{err}");
}
