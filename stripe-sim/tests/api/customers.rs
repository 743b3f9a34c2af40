//! `/v1/customers` and sessions created for a customer: the seeds' success page reads the
//! name from `session.customer`.

use crate::helpers::{card_form, form, TestSim};

async fn create_customer(t: &TestSim, name: &str) -> String {
    let reply = t
        .post_form(
            "/v1/customers",
            &form(&[
                ("name", name),
                ("email", "jenny.rosen@example.com"),
                ("metadata[crm_id]", "42"),
            ]),
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    assert_eq!(reply.body["object"], "customer");
    assert_eq!(reply.body["name"], name);
    assert_eq!(reply.body["metadata"]["crm_id"], "42");
    let id = reply.body["id"].as_str().expect("an id").to_string();
    assert!(id.starts_with("cus_"), "{id}");
    id
}

fn session_for(customer: &str) -> Vec<(String, String)> {
    form(&[
        ("mode", "payment"),
        ("customer", customer),
        ("line_items[0][price]", "price_mug"),
        ("line_items[0][quantity]", "1"),
        (
            "success_url",
            "https://shop.test/ok?session_id={CHECKOUT_SESSION_ID}",
        ),
    ])
}

#[tokio::test]
async fn a_created_customer_is_retrieved_and_an_unknown_one_is_a_404() {
    let t = TestSim::spawn().await;
    let id = create_customer(&t, "Jenny Rosen").await;

    let reply = t.get(&format!("/v1/customers/{id}")).await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    assert_eq!(reply.body["id"], id.as_str());
    assert_eq!(reply.body["email"], "jenny.rosen@example.com");

    t.get("/v1/customers/cus_nobody").await.assert_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    t.post_form("/v1/customers", &form(&[("nickname", "J")]))
        .await
        .assert_error(
            400,
            "invalid_request_error",
            Some("parameter_unknown"),
            Some("nickname"),
        );
}

#[tokio::test]
async fn a_session_for_a_customer_names_it_and_expands_it_on_request() {
    let t = TestSim::spawn().await;
    let customer = create_customer(&t, "Jenny Rosen").await;
    let created = t
        .post_form("/v1/checkout/sessions", &session_for(&customer))
        .await;
    assert_eq!(created.status, 200, "{:#}", created.body);
    assert_eq!(created.body["customer"], customer.as_str());
    let session_id = created.body["id"].as_str().unwrap().to_string();

    let page = t.pay(&created.body, &card_form("4242424242424242")).await;
    assert_eq!(page.status, 303, "{page:?}");

    let plain = t.get(&format!("/v1/checkout/sessions/{session_id}")).await;
    assert_eq!(plain.body["customer"], customer.as_str());

    let expanded = t
        .get(&format!(
            "/v1/checkout/sessions/{session_id}?expand[]=customer&expand[]=line_items"
        ))
        .await;
    assert_eq!(expanded.status, 200, "{:#}", expanded.body);
    assert_eq!(expanded.body["customer"]["object"], "customer");
    assert_eq!(expanded.body["customer"]["name"], "Jenny Rosen");
    assert_eq!(expanded.body["line_items"]["data"][0]["quantity"], 1);
}

#[tokio::test]
async fn a_session_without_a_customer_expands_to_null() {
    let t = TestSim::spawn().await;
    let session = t.create_session(&[("price_mug", 1)]).await;
    let id = session["id"].as_str().unwrap();
    let expanded = t
        .get(&format!("/v1/checkout/sessions/{id}?expand[]=customer"))
        .await;
    assert_eq!(expanded.status, 200, "{:#}", expanded.body);
    assert!(expanded.body["customer"].is_null(), "{:#}", expanded.body);
    t.get(&format!(
        "/v1/checkout/sessions/{id}?expand[]=payment_intent"
    ))
    .await
    .assert_error(400, "invalid_request_error", None, Some("expand"));
}

#[tokio::test]
async fn a_session_for_an_unknown_customer_or_with_an_email_too_is_refused() {
    let t = TestSim::spawn().await;
    t.post_form("/v1/checkout/sessions", &session_for("cus_nobody"))
        .await
        .assert_error(
            400,
            "invalid_request_error",
            Some("resource_missing"),
            Some("customer"),
        );

    let customer = create_customer(&t, "Jenny Rosen").await;
    let mut both = session_for(&customer);
    both.push(("customer_email".into(), "jenny@example.com".into()));
    let reply = t.post_form("/v1/checkout/sessions", &both).await;
    assert_eq!(reply.status, 400, "{:#}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("customer") && message.contains("customer_email"),
        "{message}"
    );
}
