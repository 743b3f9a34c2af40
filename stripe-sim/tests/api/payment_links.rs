//! Payment Links: the API object, its public URL starting a session per visit, and where the
//! customer ends up after paying.

use serde_json::Value;
use stripe_sim::{default_catalog, CatalogPrice, SimConfig, WebhookEndpoint, ACK_HEADER};

use crate::helpers::{card_form, form, TestSim};
use crate::receiver::Receiver;

const SUCCESS: &str = "https://shop.test/success?session_id={CHECKOUT_SESSION_ID}";

async fn create_redirect_link(t: &TestSim, price: &str, quantity: &str) -> Value {
    let reply = t
        .post_form(
            "/v1/payment_links",
            &form(&[
                ("line_items[0][price]", price),
                ("line_items[0][quantity]", quantity),
                ("after_completion[type]", "redirect"),
                ("after_completion[redirect][url]", SUCCESS),
            ]),
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    reply.body
}

/// Opens the link's URL as a browser would (without following the redirect) and returns the
/// session the visit created.
async fn open_link(t: &TestSim, link: &Value) -> Value {
    let page = t.get_page(link["url"].as_str().unwrap()).await;
    assert_eq!(page.status, 303, "{}", page.text);
    let location = page.header("location").expect("a redirect").to_string();
    let id = location
        .rsplit('/')
        .next()
        .expect("the payment page path ends in the session id");
    assert_eq!(location, t.url(&format!("/c/pay/{id}")));
    t.get(&format!("/v1/checkout/sessions/{id}")).await.body
}

#[tokio::test]
async fn a_created_link_has_stripes_shape_and_can_be_retrieved() {
    let t = TestSim::spawn().await;

    let link = create_redirect_link(&t, "price_mug", "2").await;

    let id = link["id"].as_str().unwrap();
    assert!(id.starts_with("plink_"), "{id}");
    assert_eq!(link["object"], "payment_link");
    assert_eq!(link["active"], true);
    assert_eq!(link["currency"], "usd");
    assert_eq!(link["livemode"], false);
    assert_eq!(link["after_completion"]["type"], "redirect");
    assert_eq!(link["after_completion"]["redirect"]["url"], SUCCESS);
    assert_eq!(link["url"], t.url(&format!("/b/{id}")));
    let again = t.get(&format!("/v1/payment_links/{id}")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, link);
}

#[tokio::test]
async fn hosted_confirmation_is_the_default_after_completion() {
    let t = TestSim::spawn().await;
    let reply = t
        .post_form(
            "/v1/payment_links",
            &form(&[
                ("line_items[0][price]", "price_tshirt"),
                ("line_items[0][quantity]", "1"),
            ]),
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    assert_eq!(
        reply.body["after_completion"]["type"],
        "hosted_confirmation"
    );
    assert_eq!(
        reply.body["after_completion"]["hosted_confirmation"]["custom_message"],
        Value::Null
    );
}

#[tokio::test]
async fn bad_links_get_stripes_errors_naming_the_parameter() {
    let mut catalog = default_catalog();
    catalog.push(CatalogPrice {
        price_id: "price_retired".into(),
        product_id: "prod_retired".into(),
        product_name: "Retired poster".into(),
        unit_amount: 900,
        currency: "usd".into(),
        active: false,
        shippable: None,
        recurring: None,
    });
    let t = TestSim::spawn_with(SimConfig {
        catalog,
        ..SimConfig::default()
    })
    .await;
    let create = |pairs: Vec<(&'static str, &'static str)>| {
        let t = &t;
        async move { t.post_form("/v1/payment_links", &form(&pairs)).await }
    };

    create(vec![
        ("line_items[0][price]", "price_retired"),
        ("line_items[0][quantity]", "1"),
    ])
    .await
    .assert_error(
        400,
        "invalid_request_error",
        None,
        Some("line_items[0][price]"),
    );
    // A session naming the archived price directly is refused the same way.
    t.post_form(
        "/v1/checkout/sessions",
        &form(&[
            ("mode", "payment"),
            ("line_items[0][price]", "price_retired"),
            ("line_items[0][quantity]", "1"),
            ("success_url", "https://shop.test/ok"),
        ]),
    )
    .await
    .assert_error(
        400,
        "invalid_request_error",
        None,
        Some("line_items[0][price]"),
    );
    create(vec![
        ("line_items[0][price]", "price_nope"),
        ("line_items[0][quantity]", "1"),
    ])
    .await
    .assert_error(
        400,
        "invalid_request_error",
        Some("resource_missing"),
        Some("line_items[0][price]"),
    );
    create(vec![
        ("line_items[0][price]", "price_mug"),
        ("line_items[0][quantity]", "1"),
        ("after_completion[type]", "redirect"),
        ("after_completion[redirect][url]", "not a url"),
    ])
    .await
    .assert_error(
        400,
        "invalid_request_error",
        None,
        Some("after_completion[redirect][url]"),
    );
    create(vec![
        ("line_items[0][price]", "price_mug"),
        ("line_items[0][quantity]", "1"),
        ("line_items[1][price]", "price_tenugui"),
        ("line_items[1][quantity]", "1"),
    ])
    .await
    .assert_error(
        400,
        "invalid_request_error",
        None,
        Some("line_items[1][price]"),
    );
    t.get("/v1/payment_links/plink_unknown").await.assert_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("payment_link"),
    );
}

#[tokio::test]
async fn each_visit_to_the_link_starts_its_own_session_for_the_links_items() {
    let t = TestSim::spawn().await;
    let link = create_redirect_link(&t, "price_tshirt", "3").await;
    let link_id = link["id"].as_str().unwrap();

    let first = open_link(&t, &link).await;
    let second = open_link(&t, &link).await;

    assert_ne!(first["id"], second["id"]);
    for session in [&first, &second] {
        assert_eq!(session["payment_link"], link_id);
        assert_eq!(session["status"], "open");
        assert_eq!(session["amount_total"], 6000);
        assert_eq!(session["success_url"], SUCCESS);
    }
    // An ordinary session is not counted as the link's.
    t.create_session(&[("price_mug", 1)]).await;
    let listed = t
        .get(&format!("/v1/checkout/sessions?payment_link={link_id}"))
        .await;
    assert_eq!(listed.status, 200);
    let mut ids: Vec<_> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    ids.sort_by_key(|v| v.to_string());
    let mut expected = vec![first["id"].clone(), second["id"].clone()];
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn paying_through_a_link_redirects_with_the_session_id_after_the_webhook_is_acknowledged() {
    let receiver = Receiver::ok().await;
    let t = TestSim::spawn_with(SimConfig {
        webhook_endpoints: vec![WebhookEndpoint::new(&receiver.url, &["whsec_links"])],
        ..SimConfig::default()
    })
    .await;
    let link = create_redirect_link(&t, "price_mug", "1").await;
    let session = open_link(&t, &link).await;
    let id = session["id"].as_str().unwrap();

    let page = t.pay(&session, &card_form("4242 4242 4242 4242")).await;

    assert_eq!(page.status, 303, "{}", page.text);
    assert_eq!(
        page.header("location"),
        Some(format!("https://shop.test/success?session_id={id}").as_str())
    );
    assert_eq!(page.header(ACK_HEADER), Some("acknowledged"));
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].event()["data"]["object"]["payment_link"],
        link["id"]
    );
}

#[tokio::test]
async fn a_hosted_confirmation_shows_the_merchants_message_after_payment() {
    let t = TestSim::spawn().await;
    let reply = t
        .post_form(
            "/v1/payment_links",
            &form(&[
                ("line_items[0][price]", "price_stickers"),
                ("line_items[0][quantity]", "1"),
                ("after_completion[type]", "hosted_confirmation"),
                (
                    "after_completion[hosted_confirmation][custom_message]",
                    "Your stickers ship on Monday.",
                ),
            ]),
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    let session = open_link(&t, &reply.body).await;

    let page = t.pay(&session, &card_form("4242 4242 4242 4242")).await;

    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("Payment complete"), "{}", page.text);
    assert!(page.text.contains("Your stickers ship on Monday."));
}

#[tokio::test]
async fn a_deactivated_link_answers_410_and_starts_no_session() {
    let t = TestSim::spawn().await;
    let link = create_redirect_link(&t, "price_mug", "1").await;
    let id = link["id"].as_str().unwrap();

    let reply = t
        .post_form(
            &format!("/v1/payment_links/{id}"),
            &form(&[("active", "false")]),
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    assert_eq!(reply.body["active"], false);

    let page = t.get_page(link["url"].as_str().unwrap()).await;
    assert_eq!(page.status, 410);
    assert!(page.text.contains("no longer available"), "{}", page.text);
    let listed = t
        .get(&format!("/v1/checkout/sessions?payment_link={id}"))
        .await;
    assert_eq!(listed.body["data"], serde_json::json!([]));
    let unknown = t.get_page(&t.url("/b/plink_unknown")).await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn a_link_that_ships_opens_sessions_asking_for_an_address_in_its_countries() {
    let t = TestSim::spawn().await;
    let reply = t
        .post_form(
            "/v1/payment_links",
            &form(&[
                ("line_items[0][price]", "price_mug"),
                ("line_items[0][quantity]", "1"),
                ("shipping_address_collection[allowed_countries][0]", "GB"),
                ("shipping_address_collection[allowed_countries][1]", "IE"),
            ]),
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    let countries = serde_json::json!({ "allowed_countries": ["GB", "IE"] });
    assert_eq!(reply.body["shipping_address_collection"], countries);

    let session = open_link(&t, &reply.body).await;
    assert_eq!(session["shipping_address_collection"], countries);
    let page = t.get_page(session["url"].as_str().unwrap()).await;
    assert!(page.text.contains("id=\"shipping\""), "{}", page.text);

    let bad = t
        .post_form(
            "/v1/payment_links",
            &form(&[
                ("line_items[0][price]", "price_mug"),
                ("line_items[0][quantity]", "1"),
                ("shipping_address_collection[allowed_countries][0]", "UK"),
            ]),
        )
        .await;
    bad.assert_error(
        400,
        "invalid_request_error",
        None,
        Some("shipping_address_collection[allowed_countries][0]"),
    );
}
