//! `ui_mode=embedded` on `POST /v1/checkout/sessions`: the client secret instead of a `url`, and
//! Stripe's rules about which redirect parameters go with which mode.

use crate::helpers::{form, TestSim};

const RETURN_URL: &str = "https://shop.test/order/success?session_id={CHECKOUT_SESSION_ID}";

fn embedded_form(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs = vec![
        ("mode", "payment"),
        ("line_items[0][price]", "price_tshirt"),
        ("line_items[0][quantity]", "1"),
        ("ui_mode", "embedded"),
    ];
    pairs.extend_from_slice(extra);
    form(&pairs)
}

#[tokio::test]
async fn an_embedded_session_has_a_client_secret_and_no_url() {
    let t = TestSim::spawn().await;

    let reply = t
        .post_form(
            "/v1/checkout/sessions",
            &embedded_form(&[("return_url", RETURN_URL)]),
        )
        .await;

    assert_eq!(reply.status, 200, "{:#}", reply.body);
    let session = &reply.body;
    let id = session["id"].as_str().unwrap();
    let secret = session["client_secret"].as_str().unwrap();
    assert!(secret.starts_with(&format!("{id}_secret_")), "{secret}");
    assert!(session["url"].is_null(), "{session:#}");
    assert!(session["success_url"].is_null());
    assert_eq!(session["ui_mode"], "embedded");
    assert_eq!(session["return_url"], RETURN_URL);
    assert_eq!(session["redirect_on_completion"], "always");

    let again = t.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(again.body["client_secret"], secret);
}

#[tokio::test]
async fn a_hosted_session_has_a_url_and_no_client_secret() {
    let t = TestSim::spawn().await;
    let session = t.create_session(&[("price_tshirt", 1)]).await;
    assert!(session["url"].is_string());
    assert!(session["client_secret"].is_null());
    assert_eq!(session["ui_mode"], "hosted_page");
    assert!(session["return_url"].is_null());
}

#[tokio::test]
async fn redirect_parameters_of_the_other_mode_are_refused_by_name() {
    let t = TestSim::spawn().await;
    let hosted = form(&[
        ("mode", "payment"),
        ("line_items[0][price]", "price_tshirt"),
        ("line_items[0][quantity]", "1"),
        ("success_url", "https://shop.test/ok"),
        ("return_url", RETURN_URL),
    ]);
    let cases = [
        (
            embedded_form(&[
                ("return_url", RETURN_URL),
                ("success_url", "https://shop.test/ok"),
            ]),
            "success_url",
        ),
        (
            embedded_form(&[
                ("return_url", RETURN_URL),
                ("cancel_url", "https://shop.test/no"),
            ]),
            "cancel_url",
        ),
        (hosted, "return_url"),
        (embedded_form(&[("return_url", "not a url")]), "return_url"),
        (
            embedded_form(&[("return_url", RETURN_URL), ("ui_mode", "sideways")]),
            "ui_mode",
        ),
    ];
    for (request, param) in cases {
        let reply = t.post_form("/v1/checkout/sessions", &request).await;
        reply.assert_error(400, "invalid_request_error", None, Some(param));
    }
}

#[tokio::test]
async fn embedded_without_a_return_url_is_refused_unless_it_never_redirects() {
    let t = TestSim::spawn().await;

    let missing = t
        .post_form("/v1/checkout/sessions", &embedded_form(&[]))
        .await;
    missing.assert_error(
        400,
        "invalid_request_error",
        Some("parameter_missing"),
        Some("return_url"),
    );

    let never = t
        .post_form(
            "/v1/checkout/sessions",
            &embedded_form(&[("redirect_on_completion", "never")]),
        )
        .await;
    assert_eq!(never.status, 200, "{:#}", never.body);
    assert_eq!(never.body["redirect_on_completion"], "never");
    assert!(never.body["return_url"].is_null());
}

/// Creates an embedded session returning to `RETURN_URL`; returns (id, client secret).
async fn embedded_session(t: &TestSim) -> (String, String) {
    let reply = t
        .post_form(
            "/v1/checkout/sessions",
            &embedded_form(&[("return_url", RETURN_URL)]),
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    (
        reply.body["id"].as_str().unwrap().to_owned(),
        reply.body["client_secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn the_embedded_form_is_frameable_only_by_the_return_urls_origin() {
    let t = TestSim::spawn().await;
    let (id, secret) = embedded_session(&t).await;

    let page = t
        .get_page(&t.url(&format!("/c/embedded/{secret}/{id}")))
        .await;

    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains(r#"id="card-number""#));
    let policy = page.header("content-security-policy").unwrap();
    assert!(
        policy.contains("frame-ancestors https://shop.test"),
        "{policy}"
    );
    assert!(page.header("x-frame-options").is_none());

    let forged = t
        .get_page(&t.url(&format!("/c/embedded/{id}_secret_forged/{id}")))
        .await;
    assert_eq!(forged.status, 404);
}

#[tokio::test]
async fn paying_in_the_embedded_form_completes_the_session_and_hands_back_the_return_url() {
    let t = TestSim::spawn().await;
    let (id, secret) = embedded_session(&t).await;

    let response = t
        .page_client()
        .post(t.url(&format!("/c/embedded/{secret}/{id}")))
        .form(&crate::helpers::card_form("4242 4242 4242 4242"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(&format!(
            r#"data-return-url="https://shop.test/order/success?session_id={id}""#
        )),
        "{text}"
    );
    assert!(text.contains(r#"data-parent-origin="https://shop.test""#));
    let session = t.get(&format!("/v1/checkout/sessions/{id}")).await.body;
    assert_eq!(session["status"], "complete");
    assert_eq!(session["payment_status"], "paid");
    assert_eq!(session["customer_details"]["name"], "Jenny Rosen");
}

#[tokio::test]
async fn a_declined_card_in_the_embedded_form_shows_the_error_inside_the_frame() {
    let t = TestSim::spawn().await;
    let (id, secret) = embedded_session(&t).await;

    let response = t
        .page_client()
        .post(t.url(&format!("/c/embedded/{secret}/{id}")))
        .form(&crate::helpers::card_form("4000 0000 0000 0002"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 402);
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("frame-ancestors https://shop.test"),
        "{policy}"
    );
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Your card was declined."));
}

#[tokio::test]
async fn the_stripe_js_stand_in_is_served_at_v3() {
    let t = TestSim::spawn().await;
    let response = t.page_client().get(t.url("/v3")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("initEmbeddedCheckout"));
}

#[tokio::test]
async fn an_embedded_session_has_no_hosted_page_to_pay_on() {
    let t = TestSim::spawn().await;
    let (id, _) = embedded_session(&t).await;

    let page = t.get_page(&t.url(&format!("/c/pay/{id}"))).await;
    assert_eq!(page.status, 404);
    let paid = t
        .page_client()
        .post(t.url(&format!("/c/pay/{id}")))
        .form(&crate::helpers::card_form("4242 4242 4242 4242"))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 404);

    let session = t.get(&format!("/v1/checkout/sessions/{id}")).await.body;
    assert_eq!(session["status"], "open");
}
