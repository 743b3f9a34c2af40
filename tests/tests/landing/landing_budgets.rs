//! G6 on the public side: nothing a visitor can repeat spends the Stripe budget that
//! fulfillment needs. Readiness probes do not call Stripe; a checkout needs a form token the
//! shop issued and is limited per client; the client is the address a trusted proxy reports
//! (never one a visitor writes), IPv6 clients counted by their /64; and however many visitors
//! flood the pages, landing spends only its share of the deployment's Stripe budget, so the
//! worker's fulfillment stays within Stripe's rate limit.

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tests::landing_support::{send, Landing};
use tests::stack::Stack;

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
    let landing = Landing::start_with(|s| s.landing.checkout_rate_per_minute = 3).await;
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
    let landing = Landing::start_with(|s| {
        s.landing.trusted_proxies = vec!["127.0.0.1".into()];
        s.landing.success_rate_per_minute = 2;
    })
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
    let landing = Landing::start_with(|s| {
        s.landing.trusted_proxies = vec!["127.0.0.0/8".into()];
        s.landing.success_rate_per_minute = 2;
    })
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

/// Stripe's limit in test mode, requests per second for the whole account.
const ACCOUNT_LIMIT: u32 = 25;
/// Distinct visitors (each its own loopback address, so each has the per-client budgets whole).
const VISITORS: u8 = 20;
/// Orders paid while the flood runs.
const PAID_ORDERS: usize = 30;

// Several threads: landing, the worker and the visitors run side by side as they would apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_the_public_pages_leaves_the_workers_fulfillment_within_stripes_rate_limit() {
    // The deployment: one worker and one landing sharing the default budget of 20 per second,
    // with the default per-client limits of the public pages.
    let stack = Stack::start_with_account_limit(NonZeroU32::new(ACCOUNT_LIMIT), |s| {
        s.stripe.rate_limit_per_sec = 20;
        s.stripe.processes = 2;
        s.stripe.retry_base_ms = 250;
        s.stripe.retry_max_ms = 4000;
        // Leave Postgres connections for the tests running beside this one; a worker's pool
        // covers its prefetch plus the outbox relay and ops endpoints.
        s.database.max_connections = 5;
        s.worker.prefetch = 3;
    })
    .await;
    let pages = Arc::new(AtomicU64::new(0));
    let visitors: Vec<_> = (0..VISITORS)
        .map(|n| {
            let address = IpAddr::V4(Ipv4Addr::new(127, 0, 1, n + 1));
            tokio::spawn(visit_until_stopped(
                stack.shop.clone(),
                address,
                pages.clone(),
            ))
        })
        .collect();
    let flooding = tests::eventually(Duration::from_secs(20), || async {
        (stack.sim.state.requests_to("/v1/checkout/sessions") >= 20).then_some(())
    })
    .await;
    assert!(flooding.is_some(), "the visitors' pages reach Stripe");

    let calls_before = stack.sim.state.request_count();
    let orders: Vec<_> = (0..PAID_ORDERS)
        .map(|i| tests::paid_session(&stack.sim, &format!("Customer {i}")))
        .collect();
    let fulfilled = tests::eventually(Duration::from_secs(40), || async {
        for id in &orders {
            if stack.fulfilled_orders(id.as_str()).await != 1 {
                return None;
            }
        }
        Some(())
    })
    .await;
    let rate_limited = stack.sim.state.rate_limited_count();
    let stripe_calls = stack.sim.state.request_count();
    for visitor in visitors {
        visitor.abort();
    }
    // The worker makes one call per order; the rest of the calls meanwhile were the flood's.
    let flood_calls = (stripe_calls - calls_before).saturating_sub(PAID_ORDERS as u64);
    assert!(
        flood_calls >= PAID_ORDERS as u64 / 2,
        "the flood competed with the worker for Stripe: only {flood_calls} calls of landing's \
         while the orders were fulfilled"
    );

    // Landing's share is one call every 100 ms, the worker's too: at most 20 in any second
    // between them, five under the account's 25. No 429 at all is the bound.
    assert_eq!(
        rate_limited,
        0,
        "the simulator answered {rate_limited} of {stripe_calls} calls with 429 while {} pages \
         were served: landing and the worker together went over the account's {ACCOUNT_LIMIT} \
         requests per second",
        pages.load(Ordering::Relaxed)
    );
    assert!(
        fulfilled.is_some(),
        "every paid order is fulfilled during the flood"
    );
    for id in &orders {
        assert_eq!(
            stack.fulfilled_by(id.as_str()).await.as_deref(),
            Some("webhook"),
            "{id}: the worker fulfilled it"
        );
    }
    stack.stop().await;
}

/// One visitor, over and over: the shop, a checkout, and a success page for a session that
/// does not exist (someone guessing ids). Every one of them may be a Stripe call. A page that
/// does not come in time is given up, as a visitor would, and the next one asked for.
async fn visit_until_stopped(shop: String, address: IpAddr, pages: Arc<AtomicU64>) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .local_address(address)
        .build()
        .expect("build the HTTP client");
    let visit = |request: reqwest::RequestBuilder| {
        let pages = pages.clone();
        async move {
            let body = request.send().await.ok()?.text().await.ok()?;
            pages.fetch_add(1, Ordering::Relaxed);
            Some(body)
        }
    };
    loop {
        let shop_page = visit(http.get(format!("{shop}/")))
            .await
            .unwrap_or_default();
        if let Some(token) = tests::landing_support::form_token_in(&shop_page) {
            visit(
                http.post(format!("{shop}/checkout"))
                    .form(&[("form_token", token), ("qty_price_mug", "1")]),
            )
            .await;
        }
        let guess = format!("cs_test_{}", uuid::Uuid::new_v4().simple());
        visit(http.get(format!(
            "{shop}{}",
            tests::landing_support::success_path(&guess)
        )))
        .await;
    }
}
