use serde_json::Value;
use stripe_sim::{CreateSession, LineItemParams, SimConfig};

use crate::helpers::{assert_fixture_shape, fixture, form, TestSim, SESSION_NULLABLE};

fn tshirt_and_mug() -> Vec<(String, String)> {
    form(&[
        ("mode", "payment"),
        ("line_items[0][price]", "price_tshirt"),
        ("line_items[0][quantity]", "2"),
        ("line_items[1][price]", "price_mug"),
        ("line_items[1][quantity]", "1"),
        (
            "success_url",
            "https://shop.test/order/success?session_id={CHECKOUT_SESSION_ID}",
        ),
        ("cancel_url", "https://shop.test/cancel"),
        ("customer_email", "jenny@example.com"),
        ("client_reference_id", "order-42"),
        ("metadata[order_id]", "42"),
        ("metadata[channel]", "web"),
    ])
}

#[tokio::test]
async fn a_created_session_has_every_fixture_field_with_its_type() {
    let t = TestSim::spawn().await;
    let reply = t
        .post_form("/v1/checkout/sessions", &tshirt_and_mug())
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    let session = reply.body;
    assert_fixture_shape(
        &fixture("checkout_session.json"),
        &session,
        SESSION_NULLABLE,
    );

    let id = session["id"].as_str().unwrap();
    assert!(
        id.starts_with("cs_test_") && id.len() == "cs_test_".len() + 58,
        "{id}"
    );
    assert_eq!(session["object"], "checkout.session");
    assert_eq!(session["status"], "open");
    assert_eq!(session["payment_status"], "unpaid");
    assert_eq!(session["mode"], "payment");
    assert_eq!(session["currency"], "usd");
    assert_eq!(session["amount_subtotal"], 2 * 2000 + 1200);
    assert_eq!(session["amount_total"], 2 * 2000 + 1200);
    assert_eq!(session["customer_email"], "jenny@example.com");
    assert_eq!(session["client_reference_id"], "order-42");
    assert_eq!(session["metadata"]["order_id"], "42");
    assert_eq!(
        session["success_url"],
        "https://shop.test/order/success?session_id={CHECKOUT_SESSION_ID}"
    );
    assert_eq!(
        session["expires_at"].as_i64().unwrap() - session["created"].as_i64().unwrap(),
        24 * 60 * 60
    );
    assert_eq!(session["url"], format!("{}/c/pay/{id}", t.sim.base_url));
    assert!(session["customer_details"].is_null());
    assert!(session["payment_intent"].is_null());
    assert!(
        session.get("line_items").is_none(),
        "line_items only when expanded"
    );

    let retrieved = t.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(retrieved.status, 200);
    assert_eq!(retrieved.body, session);
}

#[tokio::test]
async fn zero_and_three_decimal_currencies_are_summed_in_minor_units() {
    let t = TestSim::spawn().await;
    let yen = t.create_session(&[("price_tenugui", 3)]).await;
    assert_eq!(
        (yen["currency"].as_str(), yen["amount_total"].as_i64()),
        (Some("jpy"), Some(4500))
    );
    let dinar = t.create_session(&[("price_dallah", 2)]).await;
    assert_eq!(
        (dinar["currency"].as_str(), dinar["amount_total"].as_i64()),
        (Some("kwd"), Some(25000))
    );
}

#[tokio::test]
async fn the_public_base_url_prefixes_the_payment_page_url() {
    let t = TestSim::spawn_with(SimConfig {
        public_base_url: Some("https://sim.shop.test/".into()),
        ..SimConfig::default()
    })
    .await;
    let session = t.create_session(&[("price_mug", 1)]).await;
    assert_eq!(
        session["url"],
        format!(
            "https://sim.shop.test/c/pay/{}",
            session["id"].as_str().unwrap()
        )
    );
}

#[tokio::test]
async fn line_items_expand_with_either_array_spelling() {
    let t = TestSim::spawn().await;
    let session = t
        .create_session(&[("price_tshirt", 2), ("price_mug", 1)])
        .await;
    let id = session["id"].as_str().unwrap();
    for query in [
        "expand[]=line_items",
        "expand[0]=line_items",
        "expand%5B%5D=line_items",
    ] {
        let reply = t.get(&format!("/v1/checkout/sessions/{id}?{query}")).await;
        assert_eq!(reply.status, 200, "{query}: {:#}", reply.body);
        let list = &reply.body["line_items"];
        assert_eq!(list["object"], "list", "{query}");
        assert_eq!(list["has_more"], false);
        assert_eq!(
            list["url"],
            format!("/v1/checkout/sessions/{id}/line_items")
        );
        let data = list["data"].as_array().unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data[0]["price"]["id"], "price_tshirt");
        assert_eq!(data[0]["quantity"], 2);
        assert_eq!(data[0]["amount_total"], 4000);
        assert_eq!(data[1]["description"], "Stripe Mug");
    }
    // On create too.
    let mut create = tshirt_and_mug();
    create.push(("expand[]".into(), "line_items".into()));
    let reply = t.post_form("/v1/checkout/sessions", &create).await;
    assert_eq!(
        reply.body["line_items"]["data"].as_array().unwrap().len(),
        2
    );
    // Anything but the line items and the customer cannot be expanded.
    let reply = t
        .get(&format!(
            "/v1/checkout/sessions/{id}?expand[]=payment_intent"
        ))
        .await;
    reply.assert_error(400, "invalid_request_error", None, Some("expand"));
}

#[tokio::test]
async fn an_unknown_session_gets_stripes_exact_404() {
    let t = TestSim::spawn().await;
    let reply = t.get("/v1/checkout/sessions/cs_test_missing").await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.body,
        serde_json::json!({"error": {
            "code": "resource_missing",
            "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
            "message": "No such checkout.session: 'cs_test_missing'",
            "param": "session",
            "type": "invalid_request_error"
        }})
    );
    let items = t
        .get("/v1/checkout/sessions/cs_test_missing/line_items")
        .await;
    items.assert_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("session"),
    );
}

#[tokio::test]
async fn validation_errors_name_the_parameter() {
    let t = TestSim::spawn().await;
    let without = |name: &str| -> Vec<(String, String)> {
        tshirt_and_mug()
            .into_iter()
            .filter(|(k, _)| k != name)
            .collect()
    };
    let with = |name: &str, value: &str| -> Vec<(String, String)> {
        let mut f: Vec<(String, String)> = tshirt_and_mug()
            .into_iter()
            .filter(|(k, _)| k != name)
            .collect();
        f.push((name.into(), value.into()));
        f
    };

    let reply = t.post_form("/v1/checkout/sessions", &without("mode")).await;
    reply.assert_error(
        400,
        "invalid_request_error",
        Some("parameter_missing"),
        Some("mode"),
    );
    assert_eq!(
        reply.body["error"]["message"],
        "Missing required param: mode."
    );

    let reply = t
        .post_form(
            "/v1/checkout/sessions",
            &with("line_items[0][price]", "price_nope"),
        )
        .await;
    reply.assert_error(
        400,
        "invalid_request_error",
        Some("resource_missing"),
        Some("line_items[0][price]"),
    );
    assert_eq!(
        reply.body["error"]["message"],
        "No such price: 'price_nope'"
    );

    let reply = t
        .post_form(
            "/v1/checkout/sessions",
            &with("line_items[1][price]", "price_tenugui"),
        )
        .await;
    reply.assert_error(
        400,
        "invalid_request_error",
        None,
        Some("line_items[1][price]"),
    );

    let reply = t
        .post_form("/v1/checkout/sessions", &with("success_url", ""))
        .await;
    reply.assert_error(
        400,
        "invalid_request_error",
        Some("parameter_invalid_empty"),
        Some("success_url"),
    );

    let reply = t
        .post_form(
            "/v1/checkout/sessions",
            &with("line_items[0][quantity]", "two"),
        )
        .await;
    reply.assert_error(
        400,
        "invalid_request_error",
        Some("parameter_invalid_integer"),
        Some("line_items[0][quantity]"),
    );

    let reply = t
        .post_form(
            "/v1/checkout/sessions",
            &with("line_items[0][quantity]", "0"),
        )
        .await;
    reply.assert_error(
        400,
        "invalid_request_error",
        None,
        Some("line_items[0][quantity]"),
    );

    let reply = t
        .post_form("/v1/checkout/sessions", &with("mode", "setup"))
        .await;
    reply.assert_error(400, "invalid_request_error", None, Some("mode"));

    let reply = t
        .post_form("/v1/checkout/sessions", &form(&[("mode", "payment")]))
        .await;
    reply.assert_error(
        400,
        "invalid_request_error",
        Some("parameter_missing"),
        Some("line_items"),
    );

    let reply = t
        .post_form("/v1/checkout/sessions", &with("colour", "red"))
        .await;
    reply.assert_error(
        400,
        "invalid_request_error",
        Some("parameter_unknown"),
        Some("colour"),
    );
    assert_eq!(
        reply.body["error"]["message"],
        "Received unknown parameter: colour"
    );

    let reply = t
        .post_form("/v1/checkout/sessions", &with("submit_type", "pay"))
        .await;
    reply.assert_error(400, "invalid_request_error", None, Some("submit_type"));
    assert!(reply.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("does not implement"));

    let reply = t
        .post_form("/v1/checkout/sessions", &with("success_url", "not a url"))
        .await;
    reply.assert_error(400, "invalid_request_error", None, Some("success_url"));
}

#[tokio::test]
async fn inline_price_data_creates_a_line_with_its_own_price() {
    let t = TestSim::spawn().await;
    let reply = t
        .post_form(
            "/v1/checkout/sessions",
            &form(&[
                ("mode", "payment"),
                ("line_items[0][price_data][currency]", "jpy"),
                ("line_items[0][price_data][unit_amount]", "500"),
                ("line_items[0][price_data][product_data][name]", "Furoshiki"),
                ("line_items[0][quantity]", "3"),
                ("expand[0]", "line_items"),
            ]),
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    assert_eq!(reply.body["amount_total"], 1500);
    assert_eq!(reply.body["currency"], "jpy");
    let line = &reply.body["line_items"]["data"][0];
    assert_eq!(line["description"], "Furoshiki");
    assert!(line["price"]["id"].as_str().unwrap().starts_with("price_"));
    assert!(line["price"]["product"]
        .as_str()
        .unwrap()
        .starts_with("prod_"));
    assert_eq!(line["price"]["unit_amount"], 500);
}

#[tokio::test]
async fn an_idempotent_retry_replays_the_first_response() {
    let t = TestSim::spawn().await;
    let first = t
        .post_form_idempotent(
            "/v1/checkout/sessions",
            &tshirt_and_mug(),
            "order-42-attempt",
        )
        .await;
    assert_eq!(first.status, 200);
    assert!(first.header("idempotent-replayed").is_none());

    // Same parameters in another order: the same request.
    let mut reordered = tshirt_and_mug();
    reordered.reverse();
    let again = t
        .post_form_idempotent("/v1/checkout/sessions", &reordered, "order-42-attempt")
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("original-request"), first.header("request-id"));
    assert_ne!(again.header("request-id"), first.header("request-id"));
    assert_eq!(again.body, first.body);

    let listed = t.get("/v1/checkout/sessions?limit=100").await;
    assert_eq!(
        listed.body["data"].as_array().unwrap().len(),
        1,
        "no second session"
    );

    let mut changed = tshirt_and_mug();
    changed.push(("metadata[extra]".into(), "1".into()));
    let mismatch = t
        .post_form_idempotent("/v1/checkout/sessions", &changed, "order-42-attempt")
        .await;
    mismatch.assert_error(400, "idempotency_error", None, None);
    assert!(mismatch.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("same parameters"));
}

#[tokio::test]
async fn a_rejected_request_does_not_use_up_its_idempotency_key() {
    let t = TestSim::spawn().await;
    let bad = t
        .post_form_idempotent("/v1/checkout/sessions", &form(&[("mode", "payment")]), "k1")
        .await;
    assert_eq!(bad.status, 400);
    let good = t
        .post_form_idempotent("/v1/checkout/sessions", &tshirt_and_mug(), "k1")
        .await;
    assert_eq!(good.status, 200, "{:#}", good.body);
    assert!(good.header("idempotent-replayed").is_none());
}

#[tokio::test]
async fn sessions_list_newest_first_and_filter_by_status() {
    let t = TestSim::spawn().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            t.create_session(&[("price_mug", 1)]).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    t.state().expire_session(&ids[1]).unwrap();
    let all = t.get("/v1/checkout/sessions").await;
    let listed: Vec<&str> = all.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        vec![ids[2].as_str(), ids[1].as_str(), ids[0].as_str()]
    );
    assert_eq!(all.body["url"], "/v1/checkout/sessions");
    let open = t.get("/v1/checkout/sessions?status=open").await;
    assert_eq!(open.body["data"].as_array().unwrap().len(), 2);
    let page = t
        .get(&format!(
            "/v1/checkout/sessions?limit=1&starting_after={}",
            ids[2]
        ))
        .await;
    assert_eq!(page.body["data"][0]["id"], ids[1].as_str());
    assert_eq!(page.body["has_more"], true);
}

#[tokio::test]
async fn the_rust_api_and_http_create_the_same_shape_with_the_same_rules() {
    let t = TestSim::spawn().await;
    let session = t
        .state()
        .create_session(CreateSession {
            line_items: vec![
                LineItemParams::catalog("price_stickers", 4),
                LineItemParams::inline("usd", 150, "Gift wrap", 1),
            ],
            success_url: Some("https://shop.test/ok".into()),
            ..CreateSession::default()
        })
        .unwrap();
    assert_fixture_shape(
        &fixture("checkout_session.json"),
        &session,
        SESSION_NULLABLE,
    );
    assert_eq!(session["amount_total"], 4 * 500 + 150);
    let over_http = t
        .get(&format!(
            "/v1/checkout/sessions/{}",
            session["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(over_http.body, session);

    let err = t
        .state()
        .create_session(CreateSession {
            line_items: vec![LineItemParams::catalog("price_nope", 1)],
            ..CreateSession::default()
        })
        .unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(err.param(), Some("line_items[0][price]"));
    assert_eq!(err.code(), Some("resource_missing"));
}

#[tokio::test]
async fn the_api_expire_endpoint_closes_an_open_session() {
    let t = TestSim::spawn().await;
    let session = t.create_session(&[("price_mug", 1)]).await;
    let id = session["id"].as_str().unwrap();
    let reply = t
        .post_form(&format!("/v1/checkout/sessions/{id}/expire"), &[])
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    assert_eq!(reply.body["status"], "expired");
    assert_eq!(reply.body["url"], Value::Null);
    let again = t
        .post_form(&format!("/v1/checkout/sessions/{id}/expire"), &[])
        .await;
    again.assert_error(400, "invalid_request_error", None, None);
}
