//! G6 on the public side: nothing a visitor can repeat spends the Stripe budget that
//! fulfillment needs. Readiness probes do not call Stripe; a checkout needs a form token the
//! shop issued and is limited per client; and the client is the address a trusted proxy
//! reports (never one a visitor writes), IPv6 clients counted by their /64.

mod landing_common;

use std::net::{IpAddr, Ipv4Addr};

use landing_common::{send, Landing};

/// A success-page link that is refused as malformed after the client's budget is spent: it
/// costs one request of the budget and nothing else.
const BAD_LINK: &str = "/order/success?session_id=nope";

#[tokio::test]
async fn readiness_probes_do_not_call_stripe() {
    let landing = Landing::start().await;
    assert_eq!(landing.get("/readyz").await.status, 200);
    let before = landing.sim.state.request_count();

    for _ in 0..20 {
        let ready = landing.get("/readyz").await;
        assert_eq!(ready.status, 200, "{}", ready.body);
        assert!(ready.body.contains(r#""stripe":true"#), "{}", ready.body);
    }

    assert_eq!(
        landing.sim.state.request_count(),
        before,
        "no probe reached Stripe"
    );
}

#[tokio::test]
async fn a_checkout_without_a_form_token_the_shop_issued_is_a_400_page_and_creates_no_session() {
    let landing = Landing::start().await;
    let issued = landing.form_token().await;
    let mut tampered = issued.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let forged = [
        None,
        Some(""),
        Some("1b4e28ba-2fa1-41d2-883f-0016d3cca427"),
        Some(tampered.as_str()),
    ];

    for token in forged {
        let mut form = vec![("qty_price_mug", "1")];
        form.extend(token.map(|t| ("form_token", t)));
        let page = landing.post_form("/checkout", &form).await;
        assert_eq!(page.status, 400, "{token:?}: {}", page.body);
        page.assert_shows(&["Please reload the shop page and try again"]);
    }
    assert_eq!(
        landing.sim.state.requests_to("/v1/checkout/sessions"),
        0,
        "no session created"
    );

    let page = landing
        .post_form(
            "/checkout",
            &[("form_token", &issued), ("qty_price_mug", "1")],
        )
        .await;
    assert_eq!(page.status, 303, "the issued token works: {}", page.body);
}

#[tokio::test]
async fn a_flood_of_checkouts_from_one_client_is_limited_while_another_client_gets_through() {
    let landing = Landing::start_with(&[("APP_LANDING__CHECKOUT_RATE_PER_MINUTE", "3")]).await;
    let token = landing.form_token().await;
    let form = [("form_token", token.as_str()), ("qty_price_mug", "1")];

    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(landing.post_form("/checkout", &form).await);
    }

    let codes: Vec<u16> = statuses.iter().map(|p| p.status).collect();
    assert_eq!(codes, [303, 303, 303, 429, 429, 429, 429, 429, 429, 429]);
    let limited = &statuses[3];
    limited.assert_shows(&["Too many requests"]);
    assert!(!limited.header("retry-after").is_empty(), "a Retry-After");
    assert_eq!(
        landing.sim.state.requests_to("/v1/checkout/sessions"),
        3,
        "the limited ones never reached Stripe"
    );

    let other = landing.http_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let token = landing.form_token().await;
    let page = send(
        other
            .post(format!("{}/checkout", landing.address))
            .form(&[("form_token", token.as_str()), ("qty_price_mug", "1")]),
    )
    .await;
    assert_eq!(page.status, 303, "another client has its own budget");
}

#[tokio::test]
async fn the_forwarded_client_address_is_believed_only_from_a_trusted_proxy() {
    let landing = Landing::start_with(&[
        ("APP_LANDING__TRUSTED_PROXIES", "127.0.0.1"),
        ("APP_LANDING__SUCCESS_RATE_PER_MINUTE", "2"),
    ])
    .await;
    let landing = &landing;
    let through_proxy = |forwarded: &'static str| async move {
        landing
            .get_with_header(BAD_LINK, "X-Forwarded-For", forwarded)
            .await
            .status
    };

    assert_eq!(through_proxy("198.51.100.1").await, 400);
    assert_eq!(through_proxy("198.51.100.1").await, 400);
    assert_eq!(through_proxy("198.51.100.1").await, 429);
    assert_eq!(
        through_proxy("198.51.100.2").await,
        400,
        "another customer behind the same proxy has a budget of their own"
    );
    // A chain of trusted proxies is walked back to the first address they did not write, so an
    // address a customer prepends is never taken for theirs.
    assert_eq!(through_proxy("198.51.100.1, 127.0.0.1").await, 429);
    assert_eq!(through_proxy("203.0.113.9, 198.51.100.1").await, 429);

    // From a peer that is not a trusted proxy, the header is ignored: the peer is the client.
    let direct = landing.http_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let from_direct = |forwarded: &'static str| {
        send(
            direct
                .get(format!("{}{BAD_LINK}", landing.address))
                .header("X-Forwarded-For", forwarded),
        )
    };
    assert_eq!(from_direct("198.51.100.3").await.status, 400);
    assert_eq!(from_direct("198.51.100.4").await.status, 400);
    assert_eq!(
        from_direct("198.51.100.5").await.status,
        429,
        "a new forwarded address each time does not buy a new budget"
    );
}

#[tokio::test]
async fn ipv6_clients_in_one_64_share_a_budget() {
    let landing = Landing::start_with(&[
        ("APP_LANDING__TRUSTED_PROXIES", "127.0.0.0/8"),
        ("APP_LANDING__SUCCESS_RATE_PER_MINUTE", "2"),
    ])
    .await;
    let landing = &landing;
    let from = |client: &'static str| async move {
        landing
            .get_with_header(BAD_LINK, "X-Forwarded-For", client)
            .await
            .status
    };

    assert_eq!(from("2001:db8:1:2::1").await, 400);
    assert_eq!(from("2001:db8:1:2:ffff:ffff:ffff:ffff").await, 400);
    assert_eq!(from("2001:db8:1:2::99").await, 429, "the same /64");
    assert_eq!(from("2001:db8:1:3::1").await, 400, "the next /64");
}
