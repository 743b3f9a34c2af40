//! `scripts/sweep-test-queues`, which `scripts/test` runs before any test: on a broker with
//! nothing left by an earlier run it must succeed (it once failed the whole test command there),
//! and where a killed run left `t<12 hex>.` queues it deletes those and nothing else. Each case
//! runs in a virtual host of its own, so the sweep never touches the queues of tests running
//! beside it.

use tests::deploy_support::{rabbitmqctl, run_in_repo, Vhost};

fn sweep(vhost: &Vhost) -> (bool, String) {
    let (ok, _, stderr) = run_in_repo(
        "scripts/sweep-test-queues",
        &[&vhost.name],
        "the repository's own script",
    );
    (ok, stderr)
}

fn queue_names(vhost: &Vhost) -> Vec<String> {
    let mut names: Vec<String> = rabbitmqctl(&["-q", "list_queues", "-p", &vhost.name, "name"])
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "name")
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_sweep_succeeds_on_a_broker_with_no_leftover_queues() {
    let vhost = Vhost::create("sweep-empty");
    assert!(queue_names(&vhost).is_empty());
    let (ok, stderr) = sweep(&vhost);
    assert!(ok, "sweeping a vhost with no queues failed:\n{stderr}");
}

#[tokio::test]
async fn the_sweep_deletes_only_the_queues_a_killed_test_run_left() {
    let vhost = Vhost::create("sweep-leftovers");
    let connection = vhost.connect().await;
    let channel = connection.create_channel().await.unwrap();
    for name in [
        "t0123456789ab.checkout.fulfillment",
        "tba9876543210.orders.audit",
        "checkout.fulfillment",
        "tshort.queue",
    ] {
        channel
            .queue_declare(name, Default::default(), Default::default())
            .await
            .unwrap();
    }
    connection.close(200, "declared").await.unwrap();

    let (ok, stderr) = sweep(&vhost);
    assert!(ok, "the sweep failed:\n{stderr}");
    assert_eq!(
        queue_names(&vhost),
        ["checkout.fulfillment", "tshort.queue"],
        "only the test-prefixed queues are deleted"
    );
}
