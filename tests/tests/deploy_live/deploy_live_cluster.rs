//! The compose stack on a three-node RabbitMQ cluster (deploy/rabbitmq/cluster.yml): its first
//! boot, every node in the cluster and every quorum queue on all three; then, under a steady
//! 100 paid sessions a second, two faults. First the node leading `checkout.fulfillment` is stopped
//! and started again; then the node leading it next is cut off the network
//! (`docker network disconnect`) and reconnected. Each fault leaves a majority, so the quorum
//! queues elect a new leader and go on; the services, given every node, move to another one.
//! The ledger at the end: lost 0, duplicated 0, unexpected 0, no 2xx without a confirm, and the
//! ingress refusing (503, fast) only briefly around each fault.
//!
//! The reconciler is switched off, so it cannot mask a lost event. Where no Docker engine
//! answers, the test prints SKIPPED with the reason.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::deploy_support::compose_stack::{
    build_images, docker, engine_unavailable, ComposeStack,
};
use tests::deploy_support::ledger::{
    assert_nothing_lost_or_duplicated, orders_flow, Customers, FAULT_RUN,
};
use tests::eventually;

const IMAGE_TAG: &str = "live-test";
const WORKERS: usize = 2;
/// Paid sessions per second while the faults happen.
const RATE: u64 = 100;
/// How long each fault lasts.
const OUTAGE: Duration = Duration::from_secs(20);
/// A node back in the cluster, and its quorum queue replicas back in step.
const REJOIN_TIMEOUT: Duration = Duration::from_secs(180);
/// The longest the ingress may keep refusing webhooks around one fault: until the services'
/// heartbeats (5 s, so 10 s) give up on a silent node, plus a leader election.
const REFUSING_AT_MOST: Duration = Duration::from_secs(30);
/// After the faults: webhook retries and the workers' retry tiers must have caught up by then.
const CATCH_UP: Duration = Duration::from_secs(300);
const NODES: [&str; 3] = ["rabbit@rabbitmq", "rabbit@rabbitmq-2", "rabbit@rabbitmq-3"];

/// The compose service of a node name (`rabbit@rabbitmq-2` → `rabbitmq-2`).
fn service_of(node: &str) -> &str {
    node.trim_start_matches("rabbit@")
}

/// Running cluster members and, per quorum queue of ours, the members in step, as the
/// management API reports them.
async fn cluster_view(stack: &ComposeStack) -> Option<(BTreeSet<String>, Vec<(String, usize)>)> {
    let nodes = stack.management("/nodes").await?;
    let running = nodes
        .as_array()?
        .iter()
        .filter(|n| n["running"] == true)
        .filter_map(|n| n["name"].as_str().map(str::to_owned))
        .collect();
    let queues = stack.management("/queues/%2F").await?;
    let online = queues
        .as_array()?
        .iter()
        .filter(|q| q["type"] == "quorum")
        .map(|q| {
            let name = q["name"].as_str().unwrap_or_default().to_owned();
            (name, q["online"].as_array().map_or(0, Vec::len))
        })
        .collect();
    Some((running, online))
}

/// Waits until all three nodes run and every quorum queue has three members in step.
async fn whole_cluster(stack: &ComposeStack, when: &str) {
    let whole = eventually(REJOIN_TIMEOUT, || async {
        let (running, online) = cluster_view(stack).await?;
        (running.len() == NODES.len()
            && !online.is_empty()
            && online.iter().all(|(_, n)| *n == NODES.len()))
        .then_some(())
    })
    .await;
    assert!(
        whole.is_some(),
        "{when}: the cluster is not whole (running nodes, quorum queues' online members): \
         {:?}",
        cluster_view(stack).await
    );
}

/// The node leading `checkout.fulfillment`.
async fn leader(stack: &ComposeStack) -> String {
    let queue = stack
        .management("/queues/%2F/checkout.fulfillment")
        .await
        .expect("the management API answers");
    queue["leader"]
        .as_str()
        .unwrap_or_else(|| panic!("no leader in {queue}"))
        .to_owned()
}

/// The running container of `service`.
fn container_of(
    stack: &ComposeStack,
    service: &str,
) -> tests::deploy_support::compose_stack::Container {
    stack
        .containers()
        .into_iter()
        .find(|c| c.service == service && c.status == "running")
        .unwrap_or_else(|| panic!("no running {service}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_losing_a_node_then_a_cut_off_one_under_load_loses_and_duplicates_nothing() {
    if let Some(reason) = engine_unavailable() {
        println!("SKIPPED: the cluster test needs a Docker engine: {reason}");
        return;
    }
    build_images(IMAGE_TAG);
    let cookie = uuid::Uuid::new_v4().simple().to_string();
    let stack = ComposeStack::new(IMAGE_TAG)
        .with_files(&["deploy/rabbitmq/cluster.yml", "deploy/offline/cluster.yml"])
        .with_env("RABBITMQ_ERLANG_COOKIE", &cookie)
        .with_override(FAULT_RUN);
    stack.up(WORKERS).await;
    whole_cluster(&stack, "after up").await;
    let (_, queues) = cluster_view(&stack).await.unwrap();
    println!("[cluster] quorum queues and their online members: {queues:?}");
    let consumers = stack
        .management("/queues/%2F/checkout.fulfillment")
        .await
        .map(|q| q["consumers"].clone());
    assert_eq!(
        consumers,
        Some(Value::from(WORKERS)),
        "one consumer per worker"
    );

    let customers = Customers::start(stack.sim.clone(), RATE);
    let started = Instant::now();
    let load_began_ms = chrono::Utc::now().timestamp_millis();
    let mut seen = orders_flow(&stack, 0, 200, "at the start").await;

    // 1. The leader's node stops (SIGTERM, the way a host reboot or a rolling upgrade takes
    //    it): a follower takes over, and the services' connections to it move on.
    let first = leader(&stack).await;
    stack.compose_ok(&["stop", service_of(&first)]);
    let stopped = Instant::now();
    println!("[cluster] stopped {first} at {:?}", started.elapsed());
    seen = orders_flow(&stack, seen, 200, "with a node stopped").await;
    if let Some(rest) = OUTAGE.checked_sub(stopped.elapsed()) {
        // Not a wait for things to settle: this is the fault itself, the node away for 20 s.
        tokio::time::sleep(rest).await;
    }
    stack.compose_ok(&["start", service_of(&first)]);
    println!("[cluster] started {first} at {:?}", started.elapsed());
    whole_cluster(&stack, "after the stopped node came back").await;
    seen = orders_flow(&stack, seen, 200, "after the stopped node came back").await;

    // 2. Another node is cut off the network: it answers nobody, refuses nothing. Its clients
    //    notice through their heartbeats; the majority goes on without it.
    let now_leading = leader(&stack).await;
    let second = if now_leading != first {
        now_leading
    } else {
        NODES.iter().find(|n| **n != first).unwrap().to_string()
    };
    let victim = container_of(&stack, service_of(&second));
    let inspected: Value = serde_json::from_str(&docker(&["inspect", &victim.id])).unwrap();
    let aliases: Vec<String> = inspected[0]["NetworkSettings"]["Networks"][stack.network()]
        ["Aliases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    docker(&["network", "disconnect", &stack.network(), &victim.id]);
    let cut = Instant::now();
    println!("[cluster] cut {second} off at {:?}", started.elapsed());
    seen = orders_flow(&stack, seen, 200, "with a node cut off").await;
    if let Some(rest) = OUTAGE.checked_sub(cut.elapsed()) {
        // Not a wait for things to settle: this is the fault itself, the node away for 20 s.
        tokio::time::sleep(rest).await;
    }
    let network = stack.network();
    let mut connect = vec!["network", "connect"];
    for alias in &aliases {
        connect.extend(["--alias", alias.as_str()]);
    }
    connect.extend([network.as_str(), victim.id.as_str()]);
    docker(&connect);
    println!("[cluster] reconnected {second} at {:?}", started.elapsed());
    whole_cluster(&stack, "after the cut-off node was reconnected").await;
    orders_flow(&stack, seen, 200, "after the cut-off node was reconnected").await;

    let ledger = customers.stop().await;
    let elapsed = started.elapsed();
    println!(
        "[cluster] {} sessions paid in {elapsed:?} ({:.0}/s); {} payments refused",
        ledger.paid.len(),
        ledger.paid.len() as f64 / elapsed.as_secs_f64(),
        ledger.errors.len()
    );
    assert_nothing_lost_or_duplicated(&stack, &ledger, load_began_ms, CATCH_UP, REFUSING_AT_MOST)
        .await;

    let mut stack = stack;
    stack.down();
    assert!(stack.leftovers().is_empty(), "{:?}", stack.leftovers());
}
