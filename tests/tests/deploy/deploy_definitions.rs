//! `deploy/rabbitmq/definitions.json` is what the compose stack's broker imports at boot; the
//! services then declare their topology (`shared::queue::Topology`) on top of it. If the two
//! differ in any argument, every service's declare fails with PRECONDITION_FAILED and nothing
//! starts; if the file lacks a binding, events are dropped. These tests hold the file to the
//! code on the real broker, each in a throwaway vhost, under the production names (no prefix).
//! (That the file is, byte for byte, what `worker definitions` prints is `worker/tests`.)
//!
//! The file is generated from the settings in force; the last tests prove RUNBOOK.md's
//! "Change a queue argument on a running broker" step by step: what a generated file holds is
//! what the services then declare, a changed delivery limit is declared once the drained queue
//! is deleted, and old retry tiers hand their messages back before they are deleted.

use std::time::Duration;

use lapin::options::{BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection};
use serde_json::Value;
use shared::queue::Topology;
use tests::deploy_support::{
    committed_definitions, default_topology, import_and_wait, rabbitmqctl, Topology as Exported,
    Vhost,
};
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
    default_topology()
        .declare_notifier(&channel)
        .await
        .expect("the notifier's declare succeeds");
    // AMQP cannot set a policy: the file carries the ones the topology names.
    vhost.set_policies(&default_topology().policies());

    let declared = vhost.export().await;
    let committed = Exported::from_definitions(&committed_definitions(), None);
    assert_eq!(
        committed, declared,
        "deploy/rabbitmq/definitions.json (left) differs from what Topology::declare creates \
         (right); regenerate the file from the topology"
    );
    let topology = default_topology();
    assert_eq!(
        declared.queues.len(),
        topology.queues().len() + topology.notifier_queue_specs().len()
    );
    // `orders` is in both parts.
    assert_eq!(
        declared.exchanges.len(),
        topology.exchanges().len() + topology.notifier_exchange_specs().len() - 1
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
            topology.notifier_queue(),
        ),
        (
            topology.orders_exchange(),
            "order.payment_failed".to_owned(),
            topology.notifier_queue(),
        ),
        (
            topology.notifier_dead_exchange(),
            "anything".to_owned(),
            topology.notifier_dead_queue(),
        ),
        (
            topology.notifier_redrive_exchange(),
            "order.fulfilled".to_owned(),
            topology.notifier_queue(),
        ),
        (
            topology.orders_exchange(),
            "order.refunded".to_owned(),
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
    topology
        .declare_notifier(&channel)
        .await
        .expect("the notifier's declare is equivalent to the imported definitions");
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

/// The topology after an operator's change: a delivery limit of 7, and retry tiers of 1 s, 30 s,
/// 5 min and 1 h instead of the default 1 s, 10 s, 1 min, 10 min and 1 h.
fn changed_topology() -> Topology {
    Topology::new(
        "",
        vec![
            Duration::from_secs(1),
            Duration::from_secs(30),
            Duration::from_secs(300),
            Duration::from_secs(3600),
        ],
        7,
    )
}

/// What `worker definitions` prints for `topology`, parsed.
fn generated(topology: &Topology) -> Value {
    serde_json::from_str(&topology.definitions_json()).expect("the definitions are JSON")
}

async fn confirm_channel(connection: &Connection) -> Channel {
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    channel
}

async fn publish_confirmed(channel: &Channel, exchange: &str, key: &str, body: &[u8]) {
    let confirm = channel
        .basic_publish(
            exchange,
            key,
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack(), "{exchange} {key}: {confirm:?}");
}

/// The next message of `queue` (acknowledged), waiting up to `timeout` for one.
async fn take(channel: &Channel, queue: &str, timeout: Duration) -> Option<Vec<u8>> {
    eventually(timeout, || async {
        channel
            .basic_get(queue, BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .map(|message| message.delivery.data)
    })
    .await
}

#[tokio::test]
async fn definitions_generated_for_changed_settings_import_as_exactly_what_the_services_declare() {
    let vhost = Vhost::create("generated");
    let topology = changed_topology();
    let definitions = generated(&topology);
    let imported = import_and_wait(&vhost, &definitions).await;
    assert_eq!(imported, Exported::from_definitions(&definitions, None));

    let connection = vhost.connect().await;
    let channel = connection.create_channel().await.unwrap();
    topology
        .declare(&channel)
        .await
        .expect("the services' declare is equivalent to the generated definitions");
    assert_eq!(vhost.export().await, imported, "the declare added nothing");
}

#[tokio::test]
async fn a_changed_delivery_limit_is_declared_once_the_drained_queue_is_deleted() {
    let vhost = Vhost::create("limit");
    // The broker as it runs: booted from the committed file, the services declared on top.
    import_and_wait(&vhost, &committed_definitions()).await;
    let connection = vhost.connect().await;
    let running = default_topology();
    running
        .declare(&connection.create_channel().await.unwrap())
        .await
        .unwrap();
    let changed = Topology::new("", running.retry_tiers().to_vec(), 7);
    let queue = running.fulfillment_queue();

    // An event waits for a worker.
    let channel = confirm_channel(&connection).await;
    publish_confirmed(
        &channel,
        &running.checkout_exchange(),
        "checkout.session.completed",
        b"waiting",
    )
    .await;

    // Services restarted with the new limit cannot declare the live queue.
    let error = changed
        .declare(&connection.create_channel().await.unwrap())
        .await
        .expect_err("a live queue's arguments cannot change");
    let message = error.to_string();
    assert!(
        message.contains("PRECONDITION_FAILED") && message.contains("x-delivery-limit"),
        "{message}"
    );

    // The workers drain it.
    assert_eq!(
        take(&channel, &queue, Duration::from_secs(5))
            .await
            .as_deref(),
        Some(&b"waiting"[..])
    );

    // `--if-empty` is refused for a quorum queue, empty or not: the queue stays.
    let output = std::process::Command::new("rabbitmqctl")
        .args(["delete_queue", "-p", &vhost.name, &queue, "--if-empty"])
        .output()
        .expect("rabbitmqctl runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains("not supported by quorum queues"),
        "rabbitmqctl said: {said}"
    );
    assert!(
        vhost.export().await.queues.contains_key(&queue),
        "--if-empty deleted nothing"
    );

    // Deleted without the flag, then declared by the services with the new limit: the broker
    // holds exactly what the regenerated file says, and events reach the queue again.
    rabbitmqctl(&["-q", "delete_queue", "-p", &vhost.name, &queue]);
    changed
        .declare(&connection.create_channel().await.unwrap())
        .await
        .expect("the services' declare with the new limit succeeds");
    // The notifier's queue takes the same limit: deleted once drained, declared by the notifier.
    rabbitmqctl(&[
        "-q",
        "delete_queue",
        "-p",
        &vhost.name,
        &running.notifier_queue(),
    ]);
    changed
        .declare_notifier(&connection.create_channel().await.unwrap())
        .await
        .expect("the notifier's declare with the new limit succeeds");
    assert_eq!(
        vhost.export().await,
        Exported::from_definitions(&generated(&changed), None)
    );
    assert_eq!(
        vhost.export().await.queues[&queue]["arguments"]["x-delivery-limit"],
        7
    );
    publish_confirmed(
        &channel,
        &changed.checkout_exchange(),
        "checkout.session.completed",
        b"after",
    )
    .await;
    assert_eq!(
        take(&channel, &queue, Duration::from_secs(5))
            .await
            .as_deref(),
        Some(&b"after"[..])
    );
}

#[tokio::test]
async fn old_retry_tiers_hand_their_messages_back_and_then_are_deleted() {
    let vhost = Vhost::create("tiers");
    import_and_wait(&vhost, &committed_definitions()).await;
    let connection = vhost.connect().await;
    let running = default_topology();
    let changed = Topology::new("", changed_topology().retry_tiers().to_vec(), 20);
    let old_tier = running.retry_queue(1).expect("a 10 s tier");
    assert_eq!(old_tier, "checkout.fulfillment.delay.10s");

    // A retry waits in a tier the new settings drop, as the services restart with them.
    let channel = confirm_channel(&connection).await;
    publish_confirmed(&channel, &running.retry_exchange(), &old_tier, b"retry").await;
    changed
        .declare(&connection.create_channel().await.unwrap())
        .await
        .expect("new tiers are declared beside the old ones");
    let both = vhost.export().await;
    assert!(both.queues.contains_key(&old_tier));
    assert!(both.queues.contains_key("checkout.fulfillment.delay.30s"));

    // After its TTL the old tier hands the retry back to the fulfillment queue.
    assert_eq!(
        take(
            &channel,
            &running.fulfillment_queue(),
            Duration::from_secs(30)
        )
        .await
        .as_deref(),
        Some(&b"retry"[..])
    );

    // Empty now: the old tiers go, and the broker holds exactly what the regenerated file says.
    let new_queues = changed.queues();
    for queue in running
        .queues()
        .into_iter()
        .filter(|q| !new_queues.contains(q))
    {
        rabbitmqctl(&["-q", "delete_queue", "-p", &vhost.name, &queue]);
    }
    assert_eq!(
        vhost.export().await,
        Exported::from_definitions(&generated(&changed), None)
    );
}

/// RUNBOOK.md's "Apply the alternate exchanges to a running broker" gives an operator the
/// `rabbitmqctl set_policy` commands for a broker that has not imported the file. Run as written
/// (in a throwaway vhost instead of `/`), they must set exactly the policies the file carries:
/// one missing or mistyped would leave parked messages droppable or unrouted events lost.
#[tokio::test]
async fn the_runbooks_policy_commands_set_exactly_the_policies_of_definitions_json() {
    let runbook = tests::deploy_support::read_repo_file("RUNBOOK.md");
    let section = runbook
        .split("### Apply the alternate exchanges to a running broker")
        .nth(1)
        .and_then(|rest| rest.split("```sh").nth(1))
        .and_then(|block| block.split("```").next())
        .expect("RUNBOOK.md shows the commands in a sh block");
    let vhost = Vhost::create("runbook-policies");
    let prefix = "docker compose exec rabbitmq rabbitmqctl set_policy";
    let local = format!("rabbitmqctl -q set_policy -p '{}'", vhost.name);
    let commands = section.replace(prefix, &local);
    assert!(
        commands.matches(&local).count() >= 3,
        "every command is `{prefix} …`: {section}"
    );
    let ran = std::process::Command::new("sh")
        .args(["-euc", &commands])
        .output()
        .expect("sh runs");
    assert!(
        ran.status.success(),
        "the RUNBOOK's commands run as written: {}",
        String::from_utf8_lossy(&ran.stderr)
    );

    let set = vhost.export().await.policies;
    let shipped = Exported::from_definitions(&committed_definitions(), None).policies;
    assert_eq!(
        set, shipped,
        "RUNBOOK.md (left) against definitions.json (right)"
    );
}
