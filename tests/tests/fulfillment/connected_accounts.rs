//! Connected accounts (Stripe Connect), end to end: a connected account's events reach a
//! Connect webhook endpoint, carry `account`, and the worker retrieves each session with
//! `Stripe-Account` and keeps its order under that account, exactly once, however often the
//! event arrives. Malformed or misrouted input gets a clear answer and no order.

use std::time::Duration;

use serde_json::{json, Value};
use shared::announcements::OrderFulfilled;
use shared::store::{fulfilled, orders, outbox};
use shared::stripe::CheckoutSession;
use shared::{AccountId, CheckoutSessionId, Trigger};
use stripe_sim::{
    CreateSession, Customer, LineItemParams, PaymentOutcome, WebhookEndpoint, WebhookFaults,
};
use tests::stack::Stack;
use tests::{eventually, WEBHOOK_SECRET};

/// How long an event may take from the simulator to a committed order.
const WAIT: Duration = Duration::from_secs(20);

/// The platform's Connect endpoint has its own signing secret, as at Stripe.
const CONNECT_SECRET: &str = "whsec_connect_harness_secret";

const SHOP_A: &str = "acct_1ShopAlpha";
const SHOP_B: &str = "acct_1ShopBravo";

/// The stack with the ingress registered twice, as a platform registers it at Stripe: once for
/// its own events, once (`connect=true`) for its connected accounts', each with its secret.
async fn connect_stack() -> Stack {
    let stack = Stack::start_with(|s| {
        s.webhook.secrets = vec![
            WEBHOOK_SECRET.to_owned().into(),
            CONNECT_SECRET.to_owned().into(),
        ]
    })
    .await;
    let webhook = format!("http://127.0.0.1:{}/webhook", stack.ingress_port);
    stack
        .sim
        .state
        .set_webhook_endpoints(vec![
            WebhookEndpoint::new(&webhook, &[WEBHOOK_SECRET]),
            WebhookEndpoint::for_connected_accounts(&webhook, &[CONNECT_SECRET]),
        ])
        .expect("valid endpoints");
    stack
}

/// A session for two T-shirts on `account` (`None`: the platform), paid by card; its id.
fn paid_session_on(stack: &Stack, account: Option<&str>) -> String {
    let session = stack
        .sim
        .state
        .create_session(CreateSession {
            line_items: vec![LineItemParams::catalog("price_tshirt", 2)],
            success_url: Some("http://shop.test/ok?session_id={CHECKOUT_SESSION_ID}".into()),
            account: account.map(str::to_owned),
            ..CreateSession::default()
        })
        .expect("the simulator creates the session");
    let id = session["id"].as_str().unwrap().to_owned();
    let event = stack
        .sim
        .state
        .complete_session(
            &id,
            PaymentOutcome::Paid,
            Customer {
                name: "Jenny Rosen".into(),
                email: "jenny@example.com".into(),
                shipping: None,
            },
        )
        .expect("the simulator completes the session");
    assert_eq!(event["account"].as_str(), account, "{event:#}");
    id
}

/// `(account, state, fulfilled_by)` of every order row of session `id`.
async fn order_rows(stack: &Stack, id: &str) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as(
        "SELECT account, state, fulfilled_by FROM checkout_orders WHERE session_id = $1 \
         ORDER BY account",
    )
    .bind(id)
    .fetch_all(&stack.db.pool)
    .await
    .unwrap()
}

/// The recorded outcome of every event of session `id`, once each has settled or died.
async fn settled_outcomes(stack: &Stack, id: &str, events: usize) -> Vec<String> {
    eventually(WAIT, || async {
        let outcomes: Vec<String> = sqlx::query_scalar(
            "SELECT outcome FROM stripe_events WHERE session_id = $1 ORDER BY event_id",
        )
        .bind(id)
        .fetch_all(&stack.db.pool)
        .await
        .unwrap();
        (outcomes.len() == events && outcomes.iter().all(|o| o != "retrying")).then_some(outcomes)
    })
    .await
    .unwrap_or_else(|| panic!("{events} event(s) of {id} were processed"))
}

#[tokio::test]
async fn two_connected_accounts_each_have_their_session_fulfilled_once_under_their_own_account() {
    let stack = connect_stack().await;
    let announcements = stack
        .broker
        .watch(&stack.broker.topology.orders_exchange(), "order.fulfilled")
        .await;
    // Stripe may deliver an event more than once: every event arrives twice here.
    stack.sim.state.set_webhook_faults(WebhookFaults {
        duplicates: 1,
        ..WebhookFaults::default()
    });

    let in_a = paid_session_on(&stack, Some(SHOP_A));
    let in_b = paid_session_on(&stack, Some(SHOP_B));
    let own = paid_session_on(&stack, None);

    for (id, account) in [(&in_a, SHOP_A), (&in_b, SHOP_B), (&own, "")] {
        let rows = eventually(WAIT, || async {
            let rows = order_rows(&stack, id).await;
            rows.iter().any(|r| r.1 == "fulfilled").then_some(rows)
        })
        .await
        .unwrap_or_else(|| panic!("{id} is fulfilled"));
        assert_eq!(
            rows,
            vec![(
                account.to_owned(),
                "fulfilled".to_owned(),
                Some("webhook".to_owned())
            )],
            "one order for {id}, under its own account"
        );
        assert_eq!(
            stack.line_items(id).await,
            vec![("Stripe T-shirt".to_owned(), 2, 4000)]
        );
    }

    // Found at Stripe at all means asked with the right account: without it, or with another,
    // the session does not exist there. Each order is announced once, naming its account.
    let mut announced: Vec<(String, Option<String>)> = Vec::new();
    for _ in 0..3 {
        let message = stack
            .broker
            .next(&announcements, WAIT)
            .await
            .expect("order.fulfilled is announced");
        let body: OrderFulfilled = serde_json::from_slice(&message.delivery.data).unwrap();
        announced.push((body.session_id, body.account));
    }
    announced.sort();
    let mut expected = vec![
        (in_a.clone(), Some(SHOP_A.to_owned())),
        (in_b.clone(), Some(SHOP_B.to_owned())),
        (own.clone(), None),
    ];
    expected.sort();
    assert_eq!(
        announced, expected,
        "order.fulfilled once each, naming the account"
    );
    assert!(
        stack
            .broker
            .next(&announcements, Duration::from_secs(1))
            .await
            .is_none(),
        "no second announcement for any of them"
    );

    // Both copies of each event were taken; the audit trail has the event once, as the one
    // that fulfilled, under its account.
    for (id, account) in [(&in_a, SHOP_A), (&in_b, SHOP_B)] {
        let audited = eventually(WAIT, || async {
            let rows: Vec<(String, Option<String>)> =
                sqlx::query_as("SELECT outcome, account FROM stripe_events WHERE session_id = $1")
                    .bind(id)
                    .fetch_all(&stack.db.pool)
                    .await
                    .unwrap();
            (rows.first().is_some_and(|r| r.0 == "fulfilled")).then_some(rows)
        })
        .await
        .unwrap_or_else(|| panic!("the event of {id} is recorded as fulfilled"));
        assert_eq!(
            audited,
            vec![("fulfilled".to_owned(), Some(account.to_owned()))]
        );
    }
    let delivered = stack
        .sim
        .state
        .deliveries()
        .iter()
        .filter(|d| d.event_type == "checkout.session.completed")
        .count();
    assert_eq!(delivered, 6, "three events, each delivered twice");
    stack.stop().await;
}

/// Signs `event` as the Connect endpoint and posts it to the ingress; the status and body.
async fn deliver(stack: &Stack, event: &Value) -> (u16, String) {
    let body = serde_json::to_vec_pretty(event).unwrap();
    let header = shared::signature::signature_header(
        &body,
        &[CONNECT_SECRET],
        chrono::Utc::now().timestamp(),
    );
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/webhook", stack.ingress_port))
        .header("Stripe-Signature", header)
        .header("Content-Type", "application/json")
        .body(body)
        .timeout(WAIT)
        .send()
        .await
        .expect("the ingress answers");
    (response.status().as_u16(), response.text().await.unwrap())
}

fn completed_event(event_id: &str, session_id: &str, account: &str) -> Value {
    json!({
        "id": event_id,
        "object": "event",
        "account": account,
        "api_version": "2026-10-28.endive",
        "created": chrono::Utc::now().timestamp(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "checkout.session.completed",
        "data": {"object": {"id": session_id, "object": "checkout.session"}},
    })
}

#[tokio::test]
async fn an_event_naming_a_malformed_account_is_refused_with_a_reason_and_fulfills_nothing() {
    let stack = connect_stack().await;
    let session = "cs_test_1SessionOfSomeAccount";

    let (status, body) = deliver(
        &stack,
        &completed_event("evt_1MalformedAccount", session, "acct_1 OR 1=1"),
    )
    .await;

    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_account"), "{body}");
    assert!(order_rows(&stack, session).await.is_empty());
    let outcome = shared::store::events::outcome(&stack.db.pool, "evt_1MalformedAccount")
        .await
        .unwrap();
    assert_eq!(outcome, None, "a refused event never reaches the worker");
    stack.stop().await;
}

#[tokio::test]
async fn an_event_naming_the_wrong_account_is_dead_lettered_as_not_found_without_an_order() {
    let stack = connect_stack().await;
    // Stripe would never send this: the session is shop A's, the event says shop B. Asked with
    // shop B's account, Stripe does not know the session, so nothing is fulfilled under B.
    let session = stack
        .sim
        .state
        .create_session(CreateSession {
            line_items: vec![LineItemParams::catalog("price_mug", 1)],
            success_url: Some("http://shop.test/ok".into()),
            account: Some(SHOP_A.to_owned()),
            ..CreateSession::default()
        })
        .unwrap();
    let session = session["id"].as_str().unwrap().to_owned();

    let (status, body) = deliver(
        &stack,
        &completed_event("evt_1WrongAccount", &session, SHOP_B),
    )
    .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(
        settled_outcomes(&stack, &session, 1).await,
        vec!["not_found".to_owned()]
    );
    let dead = stack
        .broker
        .next(&stack.broker.topology.dead_queue(), WAIT)
        .await
        .expect("the event is dead-lettered");
    assert_eq!(
        dead.delivery
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.as_str()),
        Some("evt_1WrongAccount")
    );
    assert!(
        order_rows(&stack, &session).await.is_empty(),
        "no order anywhere"
    );
    stack.stop().await;
}

/// A session as Stripe would return it, for writing orders without asking Stripe.
fn paid_session(id: &str) -> CheckoutSession {
    serde_json::from_value(json!({
        "id": id, "object": "checkout.session", "livemode": false, "mode": "payment",
        "status": "complete", "payment_status": "paid", "currency": "usd",
        "amount_subtotal": 2000, "amount_total": 2000, "created": 1_700_000_000,
        "customer_details": {"name": "Jenny Rosen", "email": "jenny@example.com"},
        "line_items": {"object": "list", "has_more": false, "data": [{
            "id": "li_1", "object": "item", "description": "Stripe T-shirt", "quantity": 1,
            "currency": "usd", "amount_subtotal": 2000, "amount_total": 2000,
            "price": {"id": "price_tshirt", "object": "price", "currency": "usd",
                      "product": "prod_tshirt"},
        }]},
    }))
    .expect("a session")
}

#[tokio::test]
async fn the_same_session_id_on_two_accounts_is_two_orders_and_never_a_third() {
    // Stripe's ids are unique across accounts, and the simulator's are too; the key must not
    // depend on it. Written the way fulfillment writes (one statement: lock, check, insert,
    // announce).
    let db = tests::TestDb::create().await;
    let id = CheckoutSessionId::parse("cs_test_SameIdOnTwoAccounts").unwrap();
    let session = paid_session(id.as_str());
    let items = &session.line_items.as_ref().unwrap().data;
    let a = AccountId::parse(SHOP_A).unwrap();
    let b = AccountId::parse(SHOP_B).unwrap();
    let granting = fulfilled::GrantingProducts::default();

    for account in [Some(&a), Some(&b), None] {
        assert_eq!(orders::state(&db.pool, account, &id).await.unwrap(), None);
        let written = fulfilled::write(
            &db.pool,
            &granting,
            fulfilled::Fulfillment {
                account,
                id: &id,
                session: &session,
                items,
                trigger: Trigger::Webhook,
                customer_mail: false,
                event: None,
            },
        )
        .await
        .unwrap();
        assert!(
            matches!(written, fulfilled::Written::Newly(_)),
            "not fulfilled yet on this account: {written:?}"
        );
    }

    let accounts: Vec<String> = sqlx::query_scalar(
        "SELECT account FROM checkout_orders WHERE session_id = $1 ORDER BY account",
    )
    .bind(id.as_str())
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        accounts,
        vec!["".to_owned(), SHOP_A.to_owned(), SHOP_B.to_owned()]
    );
    let mut conn = db.pool.acquire().await.unwrap();
    let in_a = orders::find(&mut conn, Some(&a), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(in_a.account.as_deref(), Some(SHOP_A));
    assert_eq!(in_a.lines.len(), 1, "shop A's order has its own line");

    // A second announcement for shop A's order is refused by the outbox's key.
    let mut tx = db.pool.begin().await.unwrap();
    let again = outbox::enqueue(
        &mut tx,
        Some(&a),
        id.as_str(),
        &OrderFulfilled::from(&in_a),
        false,
    )
    .await
    .expect_err("one order.fulfilled per account and session");
    assert!(
        matches!(&again, sqlx::Error::Database(e) if e.is_unique_violation()),
        "{again}"
    );
    tx.rollback().await.unwrap();
    // A second fulfillment of it writes nothing: not the order again, nor a second set of lines.
    let again = fulfilled::write(
        &db.pool,
        &granting,
        fulfilled::Fulfillment {
            account: Some(&a),
            id: &id,
            session: &session,
            items,
            trigger: Trigger::Landing,
            customer_mail: false,
            event: None,
        },
    )
    .await
    .unwrap();
    assert!(
        matches!(again, fulfilled::Written::AlreadyFulfilled),
        "{again:?}"
    );
    let lines: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM order_line_items WHERE account = $1 AND session_id = $2",
    )
    .bind(SHOP_A)
    .bind(id.as_str())
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(lines, items.len() as i64);
    let fulfilled_by: String = sqlx::query_scalar(
        "SELECT fulfilled_by FROM checkout_orders WHERE account = $1 AND session_id = $2",
    )
    .bind(SHOP_A)
    .bind(id.as_str())
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        fulfilled_by, "webhook",
        "the first fulfillment's record stands"
    );

    // A malformed account never reaches the table, even written by hand.
    let refused = sqlx::query(
        "INSERT INTO checkout_orders (session_id, account, state) \
         VALUES ('cs_test_x', 'not an account', 'awaiting_payment')",
    )
    .execute(&db.pool)
    .await
    .expect_err("the account check holds");
    assert!(
        refused
            .to_string()
            .contains("checkout_orders_account_check"),
        "{refused}"
    );
}
