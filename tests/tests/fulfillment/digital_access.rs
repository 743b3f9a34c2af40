//! Digital goods and services: what a product gives (a link, a licence key per unit from its
//! pool) is granted once, in the fulfillment transaction, however many callers race, and never
//! hands one key to two orders. Real Postgres and stripe-sim.

use shared::store::access;
use shared::{FulfillmentOutcome, Trigger};
use tests::{paid_session, race_fulfillments, TestStack};
use worker::access::AccessCommand;

/// A file of keys, one per line, as an operator hands `worker access add-keys`.
fn keys_file(keys: &[&str]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("licence-keys-{}.txt", uuid::Uuid::new_v4()));
    std::fs::write(&path, keys.join("\n")).unwrap();
    path
}

/// `worker access set` for the T-shirt (a licence key per unit) and the mug (a link), and
/// `worker access add-keys` with `keys` for the T-shirt; returns the reports.
async fn configure(stack: &TestStack, keys: &[&str]) -> Vec<String> {
    let file = keys_file(keys);
    let mut reports = Vec::new();
    for command in [
        AccessCommand::Set {
            product: "prod_tshirt".into(),
            title: "Members' area".into(),
            url: Some("https://shop.test/members".into()),
            licence_keys: true,
        },
        AccessCommand::Set {
            product: "prod_mug".into(),
            title: "Mug care guide (PDF)".into(),
            url: Some("https://shop.test/downloads/mug-care.pdf".into()),
            licence_keys: false,
        },
        AccessCommand::AddKeys {
            product: "prod_tshirt".into(),
            file: Some(file.clone()),
        },
    ] {
        reports.push(worker::access::run(&stack.db.pool, command).await.unwrap());
    }
    reports
}

async fn issued_to(stack: &TestStack, session_id: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT licence_key FROM licence_keys WHERE session_id = $1 ORDER BY id")
        .bind(session_id)
        .fetch_all(&stack.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn fifty_racing_calls_grant_once_one_key_per_unit_and_the_link() {
    let stack = TestStack::start().await;
    let reports = configure(&stack, &["KEY-1", "KEY-2", "KEY-3", "KEY-4", "KEY-5"]).await;
    assert_eq!(
        reports[2],
        "added 5 of 5 key(s) to prod_tshirt (0 already in a pool); 5 free"
    );
    // Two T-shirts and a mug.
    let id = paid_session(&stack.sim, "Jenny Rosen");
    for outcome in race_fulfillments(&stack, &id, 50).await {
        let FulfillmentOutcome::Fulfilled { order, .. } = outcome else {
            panic!("every caller is told fulfilled");
        };
        let got: Vec<_> = order
            .access
            .iter()
            .map(|a| (a.title.as_str(), a.licence_key.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("Members' area", Some("KEY-1")),
                ("Members' area", Some("KEY-2")),
                ("Mug care guide (PDF)", None)
            ],
            "every caller sees the same grant"
        );
    }
    assert_eq!(issued_to(&stack, id.as_str()).await, ["KEY-1", "KEY-2"]);
    assert_eq!(
        access::free_keys(&stack.db.pool, "prod_tshirt")
            .await
            .unwrap(),
        3
    );
    // Support reads what the order gave with `worker show`.
    let report = worker::show::render(&stack.db.pool, None, &id)
        .await
        .unwrap()
        .expect("the session is known");
    for line in [
        "access   prod_tshirt  Members' area  key KEY-2",
        "access   prod_mug  Mug care guide (PDF)\n",
    ] {
        assert!(report.contains(line), "{line:?} not in:\n{report}");
    }
    // The announcement carries what was granted, for the mail and the merchant's systems.
    let announced: serde_json::Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE session_id = $1 AND topic = 'order.fulfilled'",
    )
    .bind(id.as_str())
    .fetch_one(&stack.db.pool)
    .await
    .unwrap();
    assert_eq!(announced["access"][1]["licence_key"], "KEY-2");
    assert_eq!(
        announced["access"][2]["url"],
        "https://shop.test/downloads/mug-care.pdf"
    );
}

#[tokio::test]
async fn two_orders_fulfilled_at_once_never_share_a_key() {
    let stack = TestStack::start().await;
    configure(&stack, &["A", "B", "C", "D", "E"]).await;
    let first = paid_session(&stack.sim, "Jenny Rosen");
    let second = paid_session(&stack.sim, "Ann Other");

    let calls = [first.clone(), second.clone()].map(|id| {
        let fulfiller = stack.fulfiller.clone();
        tokio::spawn(async move { fulfiller.fulfill_checkout(&id, Trigger::Webhook).await })
    });
    for outcome in futures::future::join_all(calls).await {
        assert!(matches!(
            outcome.unwrap().unwrap(),
            FulfillmentOutcome::Fulfilled { newly: true, .. }
        ));
    }
    let mut keys = issued_to(&stack, first.as_str()).await;
    assert_eq!(keys.len(), 2);
    let theirs = issued_to(&stack, second.as_str()).await;
    assert_eq!(theirs.len(), 2);
    keys.extend(theirs);
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 4, "four different keys");
}

#[tokio::test]
async fn an_empty_pool_is_a_transient_error_that_writes_nothing_until_keys_are_added() {
    let stack = TestStack::start().await;
    // One key for an order of two T-shirts.
    configure(&stack, &["ONLY-ONE"]).await;
    let id = paid_session(&stack.sim, "Jenny Rosen");

    let err = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .expect_err("two keys cannot be issued from a pool of one");
    assert!(err.is_transient(), "retried until the pool is refilled");
    assert!(err.to_string().contains("prod_tshirt"), "{err}");
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM checkout_orders")
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(orders, 0, "no order without its keys");
    assert_eq!(
        access::free_keys(&stack.db.pool, "prod_tshirt")
            .await
            .unwrap(),
        1,
        "the key taken is given back"
    );

    let report = worker::access::run(
        &stack.db.pool,
        AccessCommand::AddKeys {
            product: "prod_tshirt".into(),
            file: Some(keys_file(&["ONLY-ONE", "SECOND"])),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        report,
        "added 1 of 2 key(s) to prod_tshirt (1 already in a pool); 2 free"
    );
    let FulfillmentOutcome::Fulfilled { order, newly: true } = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap()
    else {
        panic!("fulfilled once the pool has the keys");
    };
    assert_eq!(order.access.len(), 3);
    assert_eq!(issued_to(&stack, id.as_str()).await, ["ONLY-ONE", "SECOND"]);
}

#[tokio::test]
async fn a_product_that_would_give_nothing_is_refused_and_changes_nothing() {
    let stack = TestStack::start().await;
    let refused = worker::access::run(
        &stack.db.pool,
        AccessCommand::Set {
            product: "prod_mug".into(),
            title: "Guide".into(),
            url: None,
            licence_keys: false,
        },
    )
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("--url"), "{refused}");
    let id = paid_session(&stack.sim, "Jenny Rosen");
    let FulfillmentOutcome::Fulfilled { order, .. } = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap()
    else {
        panic!("fulfilled");
    };
    assert!(order.access.is_empty(), "{:?}", order.access);
}
