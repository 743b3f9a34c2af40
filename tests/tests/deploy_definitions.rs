//! `deploy/rabbitmq/definitions.json` is what the compose stack's broker imports at boot; the
//! services then declare their topology (`shared::queue::Topology`) on top of it. If the two
//! differ in any argument, every service's declare fails with PRECONDITION_FAILED and nothing
//! starts; if the file lacks a binding, events are dropped. These tests hold the file to the
//! code on the real broker, each in a throwaway vhost, under the production names (no prefix).

mod deploy_support;

use std::time::Duration;

use deploy_support::{
    committed_definitions, default_topology, import_and_wait, Topology as Exported, Vhost,
};
use lapin::options::{BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::BasicProperties;
use serde_json::Value;
use tests::eventually;

#[tokio::test]
async fn definitions_json_holds_exactly_what_the_services_declare_with_default_settings() {
    let vhost = Vhost::create("declared");
    let connection = vhost.connect().await;
    let channel = connection.create_channel().await.unwrap();
    default_topology()
        .declare(&channel)
        .await
        .expect("the services' declare succeeds");
    // AMQP cannot set a policy: the file carries the ones the topology names.
    vhost.set_policies(&default_topology().policies());

    let declared = vhost.export().await;
    let committed = Exported::from_definitions(&committed_definitions(), None);
    assert_eq!(
        committed, declared,
        "deploy/rabbitmq/definitions.json (left) differs from what Topology::declare creates \
         (right); regenerate the file from the topology"
    );
    assert_eq!(declared.queues.len(), default_topology().queues().len());
    assert_eq!(
        declared.exchanges.len(),
        default_topology().exchanges().len()
    );
}

#[tokio::test]
async fn the_broker_imports_definitions_json_and_then_routes_events_and_accepts_the_services_declare(
) {
    let vhost = Vhost::create("imported");
    let definitions = committed_definitions();
    let imported = import_and_wait(&vhost, &definitions).await;
    assert_eq!(
        imported,
        Exported::from_definitions(&definitions, None),
        "imported as written"
    );

    let connection = vhost.connect().await;
    let channel = connection.create_channel().await.unwrap();
    let topology = default_topology();
    // Before the services declare anything, the imported bindings alone route every path.
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let routes = [
        (
            topology.checkout_exchange(),
            "checkout.session.completed".to_owned(),
            topology.fulfillment_queue(),
        ),
        (
            topology.checkout_exchange(),
            "checkout.session.expired".to_owned(),
            topology.fulfillment_queue(),
        ),
        (
            topology.dead_exchange(),
            "anything".to_owned(),
            topology.dead_queue(),
        ),
        // No binding takes these: the imported policies' alternate exchanges do.
        (
            topology.checkout_exchange(),
            "invoice.paid".to_owned(),
            topology.unrouted_queue(),
        ),
        (
            topology.orders_exchange(),
            "order.fulfilled".to_owned(),
            topology.orders_unrouted_queue(),
        ),
    ]
    .into_iter()
    .chain((0..topology.retry_tiers().len()).map(|tier| {
        let queue = topology.retry_queue(tier).unwrap();
        (topology.retry_exchange(), queue.clone(), queue)
    }));
    for (exchange, key, queue) in routes {
        let body = format!("{exchange} {key}");
        channel
            .basic_publish(
                &exchange,
                &key,
                BasicPublishOptions::default(),
                body.as_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        let got = eventually(Duration::from_secs(5), || async {
            channel
                .basic_get(&queue, BasicGetOptions { no_ack: true })
                .await
                .unwrap()
        })
        .await
        .unwrap_or_else(|| panic!("{exchange} with key {key} did not route to {queue}"));
        assert_eq!(got.delivery.data, body.as_bytes());
    }

    topology
        .declare(&channel)
        .await
        .expect("the services' declare is equivalent to the imported definitions");
}

/// Edits one queue argument of the committed definitions.
fn with_argument(queue: &str, argument: &str, value: Value) -> Value {
    let mut definitions = committed_definitions();
    let entry = definitions["queues"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|q| q["name"] == queue)
        .unwrap_or_else(|| panic!("{queue} is in definitions.json"));
    entry["arguments"][argument] = value;
    definitions
}

#[tokio::test]
async fn definitions_that_drift_from_the_topology_make_the_services_declare_fail() {
    let drifts = [
        ("checkout.fulfillment", "x-delivery-limit", Value::from(10)),
        (
            "checkout.fulfillment.delay.1m",
            "x-message-ttl",
            Value::from(90_000),
        ),
    ];
    for (queue, argument, value) in drifts {
        let vhost = Vhost::create("drift");
        let drifted = with_argument(queue, argument, value.clone());
        assert_ne!(
            Exported::from_definitions(&drifted, None),
            Exported::from_definitions(&committed_definitions(), None),
            "the comparison notices the edit"
        );
        import_and_wait(&vhost, &drifted).await;
        let connection = vhost.connect().await;
        let channel = connection.create_channel().await.unwrap();
        let error = default_topology()
            .declare(&channel)
            .await
            .expect_err("a drifted argument must fail the declare");
        let message = error.to_string();
        assert!(
            message.contains("PRECONDITION_FAILED") && message.contains(argument),
            "{queue} {argument}={value}: {message}"
        );
    }
}
