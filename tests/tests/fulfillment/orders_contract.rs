//! The `orders` exchange's published contract (`docs/contract/`): the messages a running worker
//! really announces validate against the JSON Schemas a merchant's consumer is written from, and
//! every field the code sends is documented there.

use std::collections::BTreeSet;

use serde_json::Value;
use shared::announcements::{Announcement, OrderFulfilled, OrderPaymentFailed};
use tests::probes::wait_for_state;
use tests::worker_support::*;
use tests::TestStack;

/// The schema `docs/contract/<routing key>.v1.schema.json`, compiled.
fn schema_of<A: Announcement>() -> (Value, jsonschema::Validator) {
    let path = format!(
        "{}/../docs/contract/{}.v1.schema.json",
        env!("CARGO_MANIFEST_DIR"),
        A::ROUTING_KEY
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{path} is a valid JSON Schema: {e}"));
    (schema, validator)
}

/// A real worker, the queue watching what it announces on `orders`, and a channel to publish
/// checkout events to it.
async fn announcing_worker(stack: &TestStack) -> (String, RunningWorker, lapin::Channel) {
    let orders = stack
        .broker
        .watch(&stack.broker.topology.orders_exchange(), "order.#")
        .await;
    (
        orders,
        start_worker(stack, |_| {}).await,
        publisher(stack).await,
    )
}

/// Asserts `body` is valid against `A`'s published schema, which it returns.
fn assert_valid<A: Announcement>(body: &Value) -> Value {
    let (schema, validator) = schema_of::<A>();
    assert_eq!(errors(&validator, body), Vec::<String>::new(), "{body:#}");
    schema
}

fn errors(validator: &jsonschema::Validator, body: &Value) -> Vec<String> {
    validator.iter_errors(body).map(|e| e.to_string()).collect()
}

fn keys(object: &Value) -> BTreeSet<String> {
    object
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

/// What the schema documents: its properties, and each of them required (a field that is
/// sometimes absent would be `null`, never missing).
fn assert_documents_exactly(schema: &Value, body: &Value, what: &str) {
    let documented = keys(&schema["properties"]);
    assert_eq!(
        keys(body),
        documented,
        "{what}: the fields sent are the fields documented"
    );
    let required: BTreeSet<String> = schema["required"]
        .as_array()
        .expect("a required list")
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        required, documented,
        "{what}: every documented field is required"
    );
}

/// One real announcement from `queue`, checked for the AMQP properties the contract promises.
async fn announced(stack: &TestStack, queue: &str, routing_key: &str) -> Value {
    let message = stack
        .broker
        .next(queue, WAIT)
        .await
        .unwrap_or_else(|| panic!("{routing_key} is published"));
    let properties = &message.delivery.properties;
    assert_eq!(message.delivery.routing_key.as_str(), routing_key);
    assert_eq!(
        properties.kind().as_ref().map(|k| k.as_str()),
        Some(routing_key),
        "the AMQP type is the routing key"
    );
    assert!(
        properties.message_id().is_some(),
        "a message_id to dedupe on"
    );
    serde_json::from_slice(&message.delivery.data).expect("a JSON body")
}

#[tokio::test]
async fn real_announcements_validate_against_the_published_schemas() {
    let stack = TestStack::start().await;
    let (orders, worker, channel) = announcing_worker(&stack).await;

    // Shipped goods that also give a link and a licence key, so that the optional `shipping`
    // object and an `access` entry are in the body and checked too.
    shared::store::access::set(
        &stack.db.pool,
        &shared::store::access::ProductAccess {
            product_id: "prod_mug".into(),
            title: "Mug care guide".into(),
            url: Some("https://shop.test/mug-care".into()),
            licence_keys: true,
        },
    )
    .await
    .unwrap();
    shared::store::access::add_keys(&stack.db.pool, "prod_mug", &["MUG-1".into()])
        .await
        .unwrap();
    let (paid, event) = shipped_session(&stack.sim.state);
    publish_event(&stack, &channel, &event).await;
    assert!(wait_for_state(&stack.db.pool, &paid, "fulfilled").await);
    let fulfilled = announced(&stack, &orders, OrderFulfilled::ROUTING_KEY).await;

    let (delayed, completed) = delayed_session(&stack.sim.state);
    publish_event(&stack, &channel, &completed).await;
    assert!(wait_for_state(&stack.db.pool, &delayed, "awaiting_payment").await);
    let failed_event = stack.sim.state.fail_async_payment(&delayed).unwrap();
    publish_event(&stack, &channel, &failed_event).await;
    assert!(wait_for_state(&stack.db.pool, &delayed, "payment_failed").await);
    let failed = announced(&stack, &orders, OrderPaymentFailed::ROUTING_KEY).await;
    worker.shutdown().await;

    let schema = assert_valid::<OrderFulfilled>(&fulfilled);
    assert_eq!(fulfilled["session_id"], paid.as_str());
    assert_documents_exactly(&schema, &fulfilled, "order.fulfilled");
    assert_documents_exactly(
        &schema["properties"]["line_items"]["items"],
        &fulfilled["line_items"][0],
        "order.fulfilled line item",
    );
    assert_eq!(fulfilled["access"][0]["licence_key"], "MUG-1");
    assert_documents_exactly(
        &schema["properties"]["access"]["items"],
        &fulfilled["access"][0],
        "order.fulfilled access",
    );
    assert_eq!(fulfilled["shipping"]["address"]["city"], "Ottawa");
    assert_eq!(
        fulfilled["subscription"],
        Value::Null,
        "a one-time order starts none"
    );
    assert_documents_exactly(
        &schema["properties"]["shipping"],
        &fulfilled["shipping"],
        "shipping",
    );
    assert_documents_exactly(
        &schema["properties"]["shipping"]["properties"]["address"],
        &fulfilled["shipping"]["address"],
        "shipping address",
    );
    // The order records where it ships, in the same shape.
    let stored: Value =
        sqlx::query_scalar("SELECT shipping FROM checkout_orders WHERE session_id = $1")
            .bind(paid.as_str())
            .fetch_one(&stack.db.pool)
            .await
            .unwrap();
    assert_eq!(stored, fulfilled["shipping"]);
    // The body is the typed struct, so a consumer written in Rust reads it back unchanged.
    let typed: OrderFulfilled = serde_json::from_value(fulfilled.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), fulfilled);

    let schema = assert_valid::<OrderPaymentFailed>(&failed);
    assert_eq!(failed["session_id"], delayed.as_str());
    assert_documents_exactly(&schema, &failed, "order.payment_failed");
}

/// The check has teeth: a body that renamed or retyped a field, or spoke of another version,
/// is rejected by the published schema.
#[test]
fn a_body_that_breaks_the_contract_is_rejected_by_the_schema() {
    let (_, validator) = schema_of::<OrderFulfilled>();
    let good = serde_json::json!({
        "version": 1,
        "session_id": "cs_test_a1",
        "account": null,
        "order_number": 42,
        "customer_name": "Jenny Rosen",
        "customer_email": "jenny@example.com",
        "currency": "usd",
        "amount_total": 4000,
        "fulfilled_by": "webhook",
        "fulfilled_at": "2026-12-03T10:00:00Z",
        "line_items": [{
            "id": "li_1", "description": "T-shirt", "quantity": 2,
            "price": "price_tshirt", "amount_total": 4000
        }],
        "shipping": null,
        "access": [],
        "subscription": null
    });
    assert_eq!(errors(&validator, &good), Vec::<String>::new());

    // A subscription renewing on an interval Stripe does not have, or every 0 months, is not
    // version 1.
    let mut subscribed = good.clone();
    subscribed["subscription"] = serde_json::json!({
        "id": "sub_1", "status": "active", "current_period_end": "2027-01-03T10:00:00Z",
        "recurring": {"interval": "month", "interval_count": 1}
    });
    assert_eq!(errors(&validator, &subscribed), Vec::<String>::new());
    let mut fortnightly = subscribed.clone();
    fortnightly["subscription"]["recurring"]["interval"] = Value::from("fortnight");
    assert!(!errors(&validator, &fortnightly).is_empty());
    let mut never = subscribed.clone();
    never["subscription"]["recurring"]["interval_count"] = Value::from(0);
    assert!(!errors(&validator, &never).is_empty());

    // An address without its country field, or with a number for a city, is not version 1.
    let mut shipped = good.clone();
    shipped["shipping"] = serde_json::json!({
        "name": "Jenny Rosen",
        "address": {"line1": "1 Main St", "line2": null, "city": "Ottawa", "state": "ON",
                    "postal_code": "K1A 0A1", "country": "CA"}
    });
    assert_eq!(errors(&validator, &shipped), Vec::<String>::new());
    let mut no_country = shipped.clone();
    no_country["shipping"]["address"]
        .as_object_mut()
        .unwrap()
        .remove("country");
    assert!(!errors(&validator, &no_country).is_empty());
    let mut numeric_city = shipped.clone();
    numeric_city["shipping"]["address"]["city"] = serde_json::json!(613);
    assert!(!errors(&validator, &numeric_city).is_empty());

    let mut renamed = good.clone();
    let number = renamed
        .as_object_mut()
        .unwrap()
        .remove("order_number")
        .unwrap();
    renamed["order_no"] = number;
    let mut retyped = good.clone();
    retyped["amount_total"] = Value::from("40.00");
    let mut next_version = good.clone();
    next_version["version"] = Value::from(2);
    let mut bad_line = good.clone();
    bad_line["line_items"][0]["quantity"] = Value::from(0);
    let mut bad_time = good.clone();
    bad_time["fulfilled_at"] = Value::from("yesterday");
    let mut bad_account = good.clone();
    bad_account["account"] = Value::from("cus_not_an_account");
    let mut connected = good.clone();
    connected["account"] = Value::from("acct_1ShopAlpha");
    assert_eq!(
        errors(&validator, &connected),
        Vec::<String>::new(),
        "a connected account's order"
    );

    for (what, body) in [
        ("a renamed field", renamed),
        ("a retyped field", retyped),
        ("another version", next_version),
        ("a line of zero", bad_line),
        ("a time that is not RFC 3339", bad_time),
        ("an account that is not acct_…", bad_account),
    ] {
        assert!(
            !errors(&validator, &body).is_empty(),
            "{what} must be rejected"
        );
    }
}

#[tokio::test]
async fn a_subscription_order_announces_and_records_its_subscription_as_the_schema_says() {
    let stack = TestStack::start().await;
    let (orders, worker, channel) = announcing_worker(&stack).await;
    let (paid, event) = subscription_session(&stack.sim.state);
    publish_event(&stack, &channel, &event).await;
    assert!(wait_for_state(&stack.db.pool, &paid, "fulfilled").await);
    let fulfilled = announced(&stack, &orders, OrderFulfilled::ROUTING_KEY).await;
    worker.shutdown().await;

    let schema = assert_valid::<OrderFulfilled>(&fulfilled);
    let subscription = &fulfilled["subscription"];
    let started = event["data"]["object"]["subscription"].as_str().unwrap();
    assert_eq!(
        subscription["id"], started,
        "the subscription Stripe started"
    );
    assert_eq!(subscription["status"], "active");
    assert_eq!(
        subscription["recurring"],
        serde_json::json!({"interval": "month", "interval_count": 1})
    );
    assert!(
        subscription["current_period_end"].is_string(),
        "{subscription:#}"
    );
    assert_documents_exactly(
        &schema["properties"]["subscription"],
        subscription,
        "subscription",
    );
    let stored: Value =
        sqlx::query_scalar("SELECT subscription FROM checkout_orders WHERE session_id = $1")
            .bind(paid.as_str())
            .fetch_one(&stack.db.pool)
            .await
            .unwrap();
    assert_eq!(&stored, subscription);
    // Support reads it with `worker show`.
    let id = shared::CheckoutSessionId::parse(&paid).unwrap();
    let report = worker::show::render(&stack.db.pool, None, &id)
        .await
        .unwrap()
        .expect("the session is known");
    let renews = &subscription["current_period_end"].as_str().unwrap()[..10];
    let line = format!("subscription {started} active, every month, renews {renews}");
    assert!(report.contains(&line), "{line:?} not in:\n{report}");
}
