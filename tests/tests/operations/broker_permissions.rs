//! The broker users of deploy/rabbitmq/entrypoint.sh on the real broker: each service,
//! connecting as its own user, does all of its work through its own code (the ingress answering
//! a webhook, the worker consuming, retrying, dead-lettering, announcing and redriving, the
//! notifier mailing an announced order and dead-lettering an unreadable one), and
//! what belongs to the other service, or to nobody, is refused with ACCESS_REFUSED. The
//! operators' console reads the queues and redrives dead letters and nothing else. Only the
//! management login administers through the management API; the console's user only reads it.
//!
//! Each test has a vhost of its own holding the production topology (names without a prefix),
//! with the entrypoint's users imported under unique names (tests::deploy_support::broker_users).

use std::time::Duration;

use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, QueueBindOptions, QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use shared::queue::Topology;
use shared::queue::{publish_confirmed, OutgoingMessage};
use shared::settings::Uses;
use shared::signature::{signature_header, unix_now};
use shared::Settings;
use stripe_sim::{CreateSession, Customer, Fault, FaultKind, LineItemParams, PaymentOutcome};
use tests::deploy_support::broker_probe::{
    assert_refused, management_whoami, publish, publish_as_test_user, wait_for_depth,
    watched_channel, WAIT,
};
use tests::deploy_support::broker_users::{BrokerUsers, Login};
use tests::free_port;
use tests::smtp::SmtpServer;
use tests::{start_sim, TestDb, SIM_KEY, WEBHOOK_SECRET};
use worker::redrive::{redrive, RedriveSource};

/// Settings of a service connecting as `login`: the production names and retry tiers (the
/// defaults), test-sized reconnects; then changed by `edit` and checked for what `uses` names.
fn service_settings(
    users: &BrokerUsers,
    login: &Login,
    uses: Uses,
    edit: impl FnOnce(&mut Settings),
) -> Settings {
    let mut vars: Vec<(String, String)> = users
        .settings(login)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    for (key, value) in [
        ("APP_BROKER__RECONNECT_MIN_MS", "50"),
        ("APP_BROKER__RECONNECT_MAX_MS", "300"),
        ("APP_WEBHOOK__SECRETS", WEBHOOK_SECRET),
        ("APP_LOG__FILTER", "warn"),
    ] {
        vars.push((key.to_owned(), value.to_owned()));
    }
    // What a service needs besides the broker (a database, Stripe) comes from `edit`: the
    // sections `uses` names are checked once it is applied.
    let mut settings = Settings::load_from(Uses::BROKER, vars).expect("the settings are valid");
    edit(&mut settings);
    settings.check(uses).expect("the settings are valid");
    settings
}

/// A Stripe-shaped `checkout.session.completed` event about `session_id`.
fn completed_event(event_id: &str, session_id: &str) -> serde_json::Value {
    serde_json::json!({
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": unix_now(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "checkout.session.completed",
        "data": {"object": {"id": session_id, "object": "checkout.session"}},
    })
}

#[tokio::test]
async fn the_ingress_user_declares_the_topology_and_publishes_a_webhook_with_a_confirm() {
    let users = BrokerUsers::create("ingress-user").await;
    let settings = service_settings(&users, &users.ingress, Uses::INGRESS, |s| {
        s.ingress.host = "127.0.0.1".into();
        s.ingress.port = 0;
    });
    let topology = Topology::from_settings(&settings.broker);
    let application = ingress::Application::build(settings)
        .await
        .expect("the ingress builds");
    let port = application.port();
    let stop = application.stop_handle();
    let broker = application.broker().clone();
    assert!(
        broker.wait_connected(WAIT).await,
        "the ingress connects and declares the topology as its own user"
    );
    let served = tokio::spawn(application.run_until_stopped());

    let body = serde_json::to_vec(&completed_event(
        "evt_ingress_user",
        "cs_test_a1B2c3D4e5F6g7H8",
    ))
    .unwrap();
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/webhook"))
        .header("content-type", "application/json")
        .header(
            "Stripe-Signature",
            signature_header(&body, &[WEBHOOK_SECRET], unix_now()),
        )
        .body(body)
        .send()
        .await
        .expect("the ingress answers");
    let status = response.status();
    let answer = response.text().await.unwrap_or_default();
    assert_eq!(status, 200, "the webhook is acknowledged: {answer}");
    assert!(
        wait_for_depth(&users, &topology.fulfillment_queue(), 1).await,
        "the event waits in checkout.fulfillment"
    );
    stop.stop().await;
    served.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_ingress_user_is_refused_everything_but_publishing_webhooks() {
    let users = BrokerUsers::create("ingress-refused").await;
    let connection = users.connect(&users.ingress).await;

    let (channel, closed) = watched_channel(&connection).await;
    let consume = channel
        .basic_consume(
            "checkout.fulfillment",
            "ingress-consumer",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_refused("consuming checkout.fulfillment", consume, &closed);

    let (channel, closed) = watched_channel(&connection).await;
    let get = channel
        .basic_get("checkout.fulfillment.dead", BasicGetOptions::default())
        .await;
    assert_refused("reading checkout.fulfillment.dead", get, &closed);

    let (channel, closed) = watched_channel(&connection).await;
    let purge = channel
        .queue_purge("checkout.fulfillment", QueuePurgeOptions::default())
        .await;
    assert_refused("purging checkout.fulfillment", purge, &closed);

    for (exchange, routing_key) in [
        ("orders", "order.fulfilled"),
        ("checkout.retry", "checkout.fulfillment.delay.1s"),
        ("checkout.dead", ""),
        // The default exchange: straight into the worker's queue, past checkout.events.
        ("", "checkout.fulfillment"),
    ] {
        let (channel, closed) = watched_channel(&connection).await;
        let published = publish(&channel, exchange, routing_key, b"{}").await;
        assert_refused(&format!("publishing to {exchange:?}"), published, &closed);
    }

    let (channel, closed) = watched_channel(&connection).await;
    let declared = channel
        .queue_declare(
            "orders.audit",
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_refused("declaring a queue outside the topology", declared, &closed);

    assert_eq!(
        management_whoami(&users.ingress).await.0,
        401,
        "no management login"
    );
    let _ = connection.close(200, "done").await;
}

/// A session the simulator has seen paid; its `checkout.session.completed` event.
fn paid_session(sim: &stripe_sim::SimState) -> (String, serde_json::Value) {
    let session = sim
        .create_session(CreateSession {
            line_items: vec![LineItemParams::catalog("price_tshirt", 1)],
            success_url: Some("http://shop.test/order/success".into()),
            ..CreateSession::default()
        })
        .expect("the simulator creates the session");
    let id = session["id"].as_str().expect("an id").to_owned();
    let customer = Customer {
        name: "Jenny Rosen".into(),
        email: "jenny@example.com".into(),
        shipping: None,
    };
    let event = sim
        .complete_session(&id, PaymentOutcome::Paid, customer)
        .expect("the simulator completes the session");
    (id, event)
}

#[tokio::test]
async fn the_worker_user_consumes_retries_dead_letters_announces_and_redrives() {
    let users = BrokerUsers::create("worker-user").await;
    let (db, sim) = tokio::join!(TestDb::create(), start_sim());
    let settings = service_settings(&users, &users.worker, Uses::WORKER, |s| {
        s.database.url = db.url.clone().into();
        s.stripe.api_base = sim.base_url.clone();
        s.stripe.secret_key = SIM_KEY.to_owned().into();
        s.stripe.max_retries = 0;
        s.stripe.rate_limit_per_sec = 10000;
        s.worker.host = "127.0.0.1".into();
        s.worker.port = 0;
        s.worker.outbox_interval_ms = 50;
        s.worker.reconcile_interval_secs = 0;
    });
    let topology = Topology::from_settings(&settings.broker);
    let endpoint = users.endpoint(&users.worker);
    let confirm = Duration::from_secs(5);
    let application = worker::Application::build(settings)
        .await
        .expect("the worker builds");
    let stop = application.stop_handle();
    let running = tokio::spawn(application.run_until_stopped());
    let checkout = topology.checkout_exchange();

    // Consumed, fulfilled, announced on `orders`: no notifier runs in this vhost, so the
    // announcement waits in notifier.orders (bound by the imported definitions).
    let (_, event) = paid_session(&sim.state);
    let body = serde_json::to_vec(&event).unwrap();
    publish_as_test_user(&users, &checkout, "checkout.session.completed", &body).await;
    assert!(
        wait_for_depth(&users, &topology.notifier_queue(), 1).await,
        "the worker consumed the event and announced the order"
    );

    // Stripe failing: a copy goes to the first retry tier.
    let (session_id, event) = paid_session(&sim.state);
    sim.state.inject_fault(Fault {
        route: stripe_sim::RouteMatch::new("GET", &format!("/v1/checkout/sessions/{session_id}")),
        kind: FaultKind::Status500,
        count: 1000,
    });
    let body = serde_json::to_vec(&event).unwrap();
    publish_as_test_user(&users, &checkout, "checkout.session.completed", &body).await;
    let first_tier = topology.retry_queue(0).expect("a retry tier");
    assert!(
        wait_for_depth(&users, &first_tier, 1).await,
        "the worker published a retry copy to {first_tier}"
    );

    // A session Stripe does not know: dead-lettered.
    let unknown = completed_event("evt_unknown_session", "cs_test_Unknown0To0Stripe9");
    let body = serde_json::to_vec(&unknown).unwrap();
    publish_as_test_user(&users, &checkout, "checkout.session.completed", &body).await;
    assert!(
        wait_for_depth(&users, &topology.dead_queue(), 1).await,
        "the worker dead-lettered the event"
    );
    stop.stop().await;
    tokio::time::timeout(WAIT, running)
        .await
        .expect("the worker drains")
        .unwrap()
        .unwrap();

    // An event type no queue is bound for: caught by checkout.unrouted; an announcement no
    // queue is bound for, by orders.unrouted.
    publish_as_test_user(&users, &checkout, "invoice.paid", b"{}").await;
    assert!(wait_for_depth(&users, &topology.unrouted_queue(), 1).await);
    let orders = topology.orders_exchange();
    publish_as_test_user(&users, &orders, "order.refunded", b"{}").await;
    assert!(wait_for_depth(&users, &topology.orders_unrouted_queue(), 1).await);

    // `worker redrive`, from each parked queue, as the worker's user.
    for source in [
        RedriveSource::Dead,
        RedriveSource::Unrouted,
        RedriveSource::OrdersUnrouted,
    ] {
        let report = redrive(&endpoint, &topology, source, Some(1), confirm)
            .await
            .unwrap_or_else(|e| panic!("redrive {source:?}: {e:?}"));
        assert_eq!(report.moved, 1, "redrive {source:?}");
    }
}

#[tokio::test]
async fn the_worker_user_is_refused_everything_outside_the_topology() {
    let users = BrokerUsers::create("worker-refused").await;
    // A merchant's subscriber queue on `orders`, made by someone allowed to.
    let admin = users.vhost.connect().await;
    let setup = admin.create_channel().await.unwrap();
    setup
        .queue_declare(
            "orders.audit",
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    setup
        .queue_bind(
            "orders.audit",
            "orders",
            "#",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let connection = users.connect(&users.worker).await;

    let (channel, closed) = watched_channel(&connection).await;
    let get = channel
        .basic_get("orders.audit", BasicGetOptions::default())
        .await;
    assert_refused("reading a subscriber's queue", get, &closed);

    let (channel, closed) = watched_channel(&connection).await;
    let declared = channel
        .queue_declare(
            "orders.copy",
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_refused("declaring a queue outside the topology", declared, &closed);

    let (channel, closed) = watched_channel(&connection).await;
    let bound = channel
        .queue_bind(
            "checkout.fulfillment.dead",
            "orders",
            "#",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_refused("binding a queue to orders", bound, &closed);

    let (channel, closed) = watched_channel(&connection).await;
    let published = publish(&channel, "amq.topic", "anything", b"{}").await;
    assert_refused("publishing to amq.topic", published, &closed);

    assert_eq!(
        management_whoami(&users.worker).await.0,
        401,
        "no management login"
    );
    let _ = connection.close(200, "done").await;
    let _ = admin.close(200, "done").await;
}

/// Publishes an announcement to `orders` as the outbox relay does (the `message_id` a UUID, the
/// notifier's dedupe key), as the test's own user.
async fn announce_as_test_user(users: &BrokerUsers, routing_key: &str, body: &[u8]) {
    let connection = users.vhost.connect().await;
    let (channel, _) = watched_channel(&connection).await;
    let message_id = uuid::Uuid::new_v4().to_string();
    let message = OutgoingMessage {
        exchange: "orders",
        routing_key,
        body,
        message_id: &message_id,
        kind: routing_key,
        headers: FieldTable::default(),
    };
    publish_confirmed(&channel, message, Duration::from_secs(5))
        .await
        .expect("the broker confirms the announcement");
    let _ = connection.close(200, "done").await;
}

#[tokio::test]
async fn the_notifier_user_declares_its_queue_mails_an_announced_order_and_dead_letters() {
    let users = BrokerUsers::create("notifier-user").await;
    let smtp_port = free_port();
    let (db, smtp) = tokio::join!(TestDb::create(), SmtpServer::start(smtp_port));
    let settings = service_settings(&users, &users.notifier, Uses::NOTIFIER, |s| {
        s.database.url = db.url.clone().into();
        s.notifier.host = "127.0.0.1".into();
        s.notifier.port = 0;
        s.notifier.smtp_port = smtp_port;
        s.notifier.retry_max_ms = 300;
    });
    let topology = Topology::from_settings(&settings.broker);
    // The notifier declares its part of the topology at connect, as its own user: a refused
    // declare would fail the build or keep it from consuming.
    let application = notifier::Application::build(settings)
        .await
        .expect("the notifier builds");
    let stop = application.stop_handle();
    let running = tokio::spawn(application.run_until_stopped());

    let order = serde_json::json!({
        "version": 1,
        "session_id": "cs_test_NotifierPermissions1",
        "order_number": 7,
        "customer_name": "Jenny Rosen",
        "customer_email": "jenny@example.com",
        "currency": "usd",
        "amount_total": 4500,
        "line_items": [{"id": "li_1", "description": "T-shirt", "quantity": 2,
                        "price": "price_tshirt", "amount_total": 4500}],
    });
    announce_as_test_user(
        &users,
        "order.fulfilled",
        &serde_json::to_vec(&order).unwrap(),
    )
    .await;
    let mails = smtp.wait_for(1).await;
    assert_eq!(
        mails[0].header("To"),
        Some("jenny@example.com"),
        "the notifier consumed the announcement and mailed the customer"
    );

    // Unreadable: rejected, and dead-lettered by the broker into the notifier's own queue.
    announce_as_test_user(&users, "order.fulfilled", b"not json").await;
    assert!(
        wait_for_depth(&users, &topology.notifier_dead_queue(), 1).await,
        "the unreadable announcement waits in {}",
        topology.notifier_dead_queue()
    );
    stop.stop().await;
    tokio::time::timeout(WAIT, running)
        .await
        .expect("the notifier drains")
        .unwrap()
        .unwrap();

    // `notifier redrive`, as the notifier's user: back into notifier.orders (no notifier runs
    // now to take it).
    let report = notifier::redrive::redrive(
        &users.endpoint(&users.notifier),
        &topology,
        None,
        Duration::from_secs(5),
    )
    .await
    .expect("notifier redrive");
    assert_eq!(report.moved, 1);
    assert!(
        wait_for_depth(&users, &topology.notifier_queue(), 1).await,
        "the redriven announcement waits in {}",
        topology.notifier_queue()
    );
}

#[tokio::test]
async fn the_notifier_user_is_refused_everything_but_its_own_queues() {
    let users = BrokerUsers::create("notifier-refused").await;
    let connection = users.connect(&users.notifier).await;

    let (channel, closed) = watched_channel(&connection).await;
    let published = publish(&channel, "orders", "order.fulfilled", b"{}").await;
    assert_refused("announcing an order", published, &closed);

    let (channel, closed) = watched_channel(&connection).await;
    let get = channel
        .basic_get("checkout.fulfillment", BasicGetOptions::default())
        .await;
    assert_refused("reading the worker's queue", get, &closed);

    let (channel, closed) = watched_channel(&connection).await;
    let declared = channel
        .queue_declare(
            "orders.copy",
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_refused("declaring a queue outside its part", declared, &closed);

    let (channel, closed) = watched_channel(&connection).await;
    let bound = channel
        .queue_bind(
            "notifier.orders",
            "checkout.events",
            "#",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_refused("binding its queue to the webhooks", bound, &closed);

    assert_eq!(
        management_whoami(&users.notifier).await.0,
        401,
        "no management login"
    );
    let _ = connection.close(200, "done").await;
}

#[tokio::test]
async fn only_the_management_login_reaches_the_management_api() {
    let users = BrokerUsers::create("management").await;
    let (status, whoami) = management_whoami(&users.management).await;
    assert_eq!(status, 200);
    assert_eq!(whoami["name"], users.management.user.as_str());
    assert_eq!(whoami["tags"], serde_json::json!(["administrator"]));
    for login in [&users.ingress, &users.worker, &users.notifier] {
        assert_eq!(management_whoami(login).await.0, 401, "{}", login.user);
    }
    let (status, whoami) = management_whoami(&users.console).await;
    assert_eq!(status, 200, "the console reads the management API");
    assert_eq!(whoami["tags"], serde_json::json!(["monitoring"]));
}

/// A dead letter as the worker parks it: the event in the body, its id as the message id.
async fn park_dead_letter(users: &BrokerUsers, event_id: &str) {
    let connection = users.vhost.connect().await;
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .unwrap();
    let body = completed_event(event_id, &format!("cs_test_{event_id}")).to_string();
    let mut headers = FieldTable::default();
    headers.insert(
        "x-dead-reason".into(),
        lapin::types::AMQPValue::LongString("out of attempts".into()),
    );
    publish_confirmed(
        &channel,
        OutgoingMessage {
            exchange: "",
            routing_key: "checkout.fulfillment.dead",
            body: body.as_bytes(),
            message_id: event_id,
            kind: "checkout.session.completed",
            headers,
        },
        WAIT,
    )
    .await
    .expect("the test user parks a dead letter");
    let _ = connection.close(200, "done").await;
}

#[tokio::test]
async fn the_console_user_reads_the_queues_looks_at_dead_letters_and_redrives_the_chosen_one() {
    let users = BrokerUsers::create("console").await;
    for id in ["evt_console_a", "evt_console_b"] {
        park_dead_letter(&users, id).await;
    }
    assert!(wait_for_depth(&users, "checkout.fulfillment.dead", 2).await);
    let mut settings = service_settings(&users, &users.console, Uses::BROKER, |_| {});
    settings.console.management_url = "http://127.0.0.1:15672".into();
    settings.console.management_username = users.console.user.clone();
    settings.console.management_password = users.console.password.clone().into();
    let management =
        console::management::Management::new(&settings.console, &settings.broker).unwrap();

    let queues = management
        .queues()
        .await
        .expect("the console reads the queue table");
    assert!(
        queues
            .iter()
            .any(|q| q.name == "checkout.fulfillment" && q.counts.is_some()),
        "{queues:?}"
    );
    let looked = management
        .peek("checkout.fulfillment.dead", 10)
        .await
        .expect("the console looks at the dead letters");
    let mut ids: Vec<_> = looked
        .iter()
        .filter_map(|m| m.properties.message_id.clone())
        .collect();
    ids.sort();
    assert_eq!(ids, ["evt_console_a", "evt_console_b"]);

    // The worker's redrive, run as the console's user, moves the chosen one and no other.
    let chosen = std::collections::HashSet::from(["evt_console_b".to_owned()]);
    let report = worker::redrive::redrive_dead_events(
        &users.endpoint(&users.console),
        &Topology::from_settings(&settings.broker),
        &chosen,
        WAIT,
    )
    .await
    .expect("the console's user redrives");
    assert_eq!((report.moved, report.remaining), (1, 1));
    assert!(wait_for_depth(&users, "checkout.fulfillment", 1).await);
    assert_eq!(
        tests::deploy_support::broker_probe::depth(&users, "checkout.fulfillment.dead").await,
        1,
        "the other dead letter stays parked"
    );

    // It consumes nothing and publishes nowhere but the redrive's way.
    let connection = users.connect(&users.console).await;
    let (channel, closed) = watched_channel(&connection).await;
    let get = channel
        .basic_get("checkout.fulfillment", BasicGetOptions::default())
        .await;
    assert_refused("consuming checkout.fulfillment", get, &closed);
    let (channel, closed) = watched_channel(&connection).await;
    let published = publish(
        &channel,
        "checkout.events",
        "checkout.session.completed",
        b"{}",
    )
    .await;
    assert_refused("publishing a webhook", published, &closed);
    let (channel, closed) = watched_channel(&connection).await;
    let published = publish(&channel, "orders", "order.fulfilled", b"{}").await;
    assert_refused("announcing an order", published, &closed);
    let _ = connection.close(200, "done").await;
}
