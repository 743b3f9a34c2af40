//! The confirmed publisher (G1) against the real RabbitMQ.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use lapin::types::FieldTable;
use secrecy::SecretString;
use shared::queue::connection::BrokerOptions;
use shared::queue::{Broker, OutgoingMessage, PublishError};
use tests::{amqp_url, TestBroker};

use tests::deploy_support::{committed_definitions, default_topology, import_and_wait, Vhost};

fn options(url: String, broker: &TestBroker) -> BrokerOptions {
    BrokerOptions {
        endpoint: SecretString::from(url).into(),
        connection_name: "publisher-test".into(),
        topology: broker.topology.clone(),
        channels: 2,
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
    }
}

fn event<'a>(exchange: &'a str, body: &'a [u8], routing_key: &'a str) -> OutgoingMessage<'a> {
    OutgoingMessage {
        exchange,
        routing_key,
        body,
        message_id: "evt_publisher_test",
        kind: routing_key,
        headers: FieldTable::default(),
    }
}

#[tokio::test]
async fn a_confirmed_message_arrives_byte_identical_with_its_message_id() {
    let test = TestBroker::create().await;
    let broker = Broker::start(options(amqp_url(), &test));
    assert!(broker.wait_connected(Duration::from_secs(10)).await);
    let body =
        b"{\n  \"id\": \"evt_publisher_test\",\n  \"type\": \"checkout.session.completed\"\n}\n";
    let exchange = test.topology.checkout_exchange();

    broker
        .publish(
            event(&exchange, body, "checkout.session.completed"),
            Duration::from_secs(2),
        )
        .await
        .unwrap();

    let queue = test.topology.fulfillment_queue();
    let message = test
        .next(&queue, Duration::from_secs(5))
        .await
        .expect("the message arrives");
    assert_eq!(message.delivery.data, body);
    assert_eq!(
        message
            .delivery
            .properties
            .message_id()
            .as_ref()
            .unwrap()
            .as_str(),
        "evt_publisher_test"
    );
    assert_eq!(
        message
            .delivery
            .properties
            .kind()
            .as_ref()
            .unwrap()
            .as_str(),
        "checkout.session.completed"
    );
    assert_eq!(
        *message.delivery.properties.delivery_mode(),
        Some(2),
        "persistent"
    );
    assert_eq!(test.depth(&queue).await, 0, "exactly one message");
    broker.close().await;
}

#[tokio::test]
async fn an_unroutable_message_is_an_error() {
    let test = TestBroker::create().await;
    let broker = Broker::start(options(amqp_url(), &test));
    assert!(broker.wait_connected(Duration::from_secs(10)).await);
    let exchange = test.topology.checkout_exchange();
    // No queue is bound for this routing key, and the harness sets no policy, so checkout.events
    // has no alternate exchange here: the per-publish check, the second line of defence.
    let err = broker
        .publish(
            event(&exchange, b"{}", "invoice.paid"),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Unroutable), "{err:?}");
    broker.close().await;
}

#[tokio::test]
async fn a_publish_to_an_absent_broker_fails_within_the_timeout() {
    let test = TestBroker::create().await;
    // Nothing listens on this port.
    let port = tests::free_port();
    let broker = Broker::start(options(
        format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
        &test,
    ));
    let exchange = test.topology.checkout_exchange();
    let started = Instant::now();
    let err = broker
        .publish(
            event(&exchange, b"{}", "checkout.session.completed"),
            Duration::from_millis(500),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::NotConnected), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "failed fast: {:?}",
        started.elapsed()
    );
    assert!(!broker.is_connected());
    broker.close().await;
}

#[tokio::test]
async fn the_topology_declares_quorum_queues_with_a_delivery_limit() {
    let test = TestBroker::create().await;
    // Redeclaring with different arguments is refused by RabbitMQ: this proves the live queue has
    // exactly the declared arguments (quorum, the delivery limit, the dead-letter exchange).
    test.topology
        .declare(&test.channel)
        .await
        .expect("redeclaring is idempotent");
    let mut wrong = FieldTable::default();
    wrong.insert(
        "x-queue-type".into(),
        lapin::types::AMQPValue::LongString("classic".into()),
    );
    let channel = test.connection.create_channel().await.unwrap();
    let refused = channel
        .queue_declare(
            &test.topology.fulfillment_queue(),
            lapin::options::QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            wrong,
        )
        .await;
    assert!(refused.is_err(), "the live queue is not classic");
}

#[tokio::test]
async fn deleting_the_topology_leaves_none_of_its_queues_or_exchanges() {
    let test = TestBroker::create().await;
    let (queues, exchanges) = (test.topology.queues(), test.topology.exchanges());
    assert!(
        queues.len() >= 4 && exchanges.len() >= 3,
        "{queues:?} {exchanges:?}"
    );
    test.topology
        .delete(&test.channel)
        .await
        .expect("every queue and exchange deleted");
    // A passive declare of something absent is refused (404) and closes its channel: one
    // channel per name.
    for queue in &queues {
        let channel = test.connection.create_channel().await.unwrap();
        let passive = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let found = channel
            .queue_declare(queue, passive, FieldTable::default())
            .await;
        assert!(found.is_err(), "{queue} is gone");
    }
    for exchange in &exchanges {
        let channel = test.connection.create_channel().await.unwrap();
        let passive = lapin::options::ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let found = channel
            .exchange_declare(
                exchange,
                lapin::ExchangeKind::Topic,
                passive,
                FieldTable::default(),
            )
            .await;
        assert!(found.is_err(), "{exchange} is gone");
    }
}

#[tokio::test]
async fn a_cluster_url_skips_a_node_that_does_not_answer_and_connects_to_the_next() {
    let test = TestBroker::create().await;
    // Port 1 refuses at once; the real broker is the second node of the list. Which node a
    // call starts from rotates, so connect several times: every one must succeed.
    let unreachable = "amqp://guest:guest@127.0.0.1:1/%2f";
    let url = SecretString::from(format!("{unreachable},{}", amqp_url()));
    for _ in 0..3 {
        let connection = shared::queue::connect(&url, "publisher-test")
            .await
            .expect("the reachable node is used");
        assert!(connection.status().connected());
        connection.close(200, "done").await.unwrap();
    }
    let broker = Broker::start(options(format!("{unreachable},{}", amqp_url()), &test));
    assert!(broker.wait_connected(Duration::from_secs(10)).await);
    broker
        .publish(
            event(
                &test.topology.checkout_exchange(),
                b"{}",
                "checkout.session.completed",
            ),
            Duration::from_secs(2),
        )
        .await
        .expect("a confirmed publish through the second node");
    broker.close().await;
}

#[tokio::test]
async fn a_cluster_url_whose_nodes_all_fail_reports_the_last_error() {
    let url = SecretString::from(
        "amqp://guest:guest@127.0.0.1:1/%2f,amqp://guest:guest@127.0.0.1:2/%2f".to_owned(),
    );
    let error = shared::queue::connect(&url, "publisher-test")
        .await
        .expect_err("no node answers");
    assert!(
        error.to_string().to_lowercase().contains("refused"),
        "{error}"
    );
}

/// Every message in `queue` (taken), by `message_id`; none when the queue does not exist.
async fn drain_ids(connection: &lapin::Connection, queue: &str) -> BTreeSet<String> {
    // A channel of its own: asking for a queue that does not exist closes the channel.
    let channel = connection.create_channel().await.unwrap();
    let mut ids = BTreeSet::new();
    loop {
        match channel
            .basic_get(queue, lapin::options::BasicGetOptions { no_ack: true })
            .await
        {
            Ok(Some(message)) => {
                let id = message.delivery.properties.message_id().clone();
                ids.insert(id.map(|id| id.to_string()).unwrap_or_default());
            }
            Ok(None) | Err(_) => return ids,
        }
    }
}

/// The broker confirms a routed and an unroutable publish on one channel in the same breath
/// (the unroutable one at once, after its `basic.return`). Whatever the client makes of the
/// confirms, a publish reported confirmed must be in a durable queue: an unroutable event
/// answered 200 and dropped is lost for good, since Stripe does not retry it.
#[tokio::test]
async fn unroutable_events_published_among_routed_ones_are_never_confirmed_and_lost() {
    // The production topology as a deployed broker has it: definitions.json imported at boot,
    // then the services' own declare.
    let vhost = Vhost::create("unrouted");
    import_and_wait(&vhost, &committed_definitions()).await;
    let topology = default_topology();
    let broker = Broker::start(BrokerOptions {
        endpoint: SecretString::from(vhost.amqp_url()).into(),
        connection_name: "publisher-test".into(),
        topology: topology.clone(),
        // One confirm channel: every publish below shares its confirm bookkeeping.
        channels: 1,
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
    });
    assert!(broker.wait_connected(Duration::from_secs(10)).await);
    let exchange = topology.checkout_exchange();

    // checkout.fulfillment is bound to checkout.session.*; nothing is bound to invoice.*, as
    // nothing is to checkout.session.* while an operator redeclares the queue.
    // Many webhooks in flight at once, each sender going on to the next as soon as its
    // publish is answered, so the channel always has confirms outstanding and the broker acks
    // routed and unroutable publishes together (`multiple`).
    let senders = (0..64).map(|sender| {
        let broker = broker.clone();
        let exchange = exchange.clone();
        async move {
            let mut outcomes = Vec::new();
            for n in 0..60 {
                let routing_key = if (sender + n) % 2 == 0 {
                    "checkout.session.completed"
                } else {
                    "invoice.paid"
                };
                let id = format!("evt_s{sender}_{n}");
                let message = OutgoingMessage {
                    exchange: &exchange,
                    routing_key,
                    body: b"{}",
                    message_id: &id,
                    kind: routing_key,
                    headers: FieldTable::default(),
                };
                let result = broker.publish(message, Duration::from_secs(5)).await;
                outcomes.push((id, routing_key, result));
            }
            outcomes
        }
    });
    let mut confirmed = BTreeSet::new();
    let mut unroutable_confirmed = BTreeSet::new();
    for (id, routing_key, result) in futures::future::join_all(senders)
        .await
        .into_iter()
        .flatten()
    {
        match result {
            Ok(()) => {
                if routing_key == "invoice.paid" {
                    unroutable_confirmed.insert(id.clone());
                }
                confirmed.insert(id);
            }
            // Not confirmed: the ingress answers 503 and Stripe sends it again.
            Err(PublishError::Unroutable) => {}
            Err(other) => panic!("{id}: {other:?}"),
        }
    }

    let connection = vhost.connect().await;
    let mut held = drain_ids(&connection, &topology.fulfillment_queue()).await;
    held.extend(drain_ids(&connection, "checkout.unrouted").await);
    let lost: Vec<&String> = confirmed.difference(&held).collect();
    assert!(
        lost.is_empty(),
        "{} publish(es) reported confirmed are in no queue ({} unroutable ones were reported \
         confirmed); the first: {:?}",
        lost.len(),
        unroutable_confirmed.len(),
        &lost[..lost.len().min(5)]
    );
    broker.close().await;
}
