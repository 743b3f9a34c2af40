//! `worker definitions`, the real binary: `deploy/rabbitmq/definitions.json` (what the compose
//! stack's broker imports at every boot) must be exactly what it prints with the default
//! settings, and what it prints follows the broker settings in force. That the file also
//! equals what the services declare on a real broker is `tests/tests/deploy/deploy_definitions.rs`.

mod support;

use std::path::Path;

use serde_json::Value;
use support::worker;

/// How to bring the committed file back in line, from the workspace root.
const REGENERATE: &str = "cargo run -q -p worker -- definitions > deploy/rabbitmq/definitions.json";

/// `worker definitions` with `env`, which must succeed; its stdout.
fn definitions(env: &[(&str, &str)]) -> String {
    let output = worker(&["definitions"], env);
    assert!(
        output.status.success(),
        "worker definitions with {env:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the definitions are UTF-8")
}

fn queue<'a>(document: &'a Value, name: &str) -> &'a Value {
    document["queues"]
        .as_array()
        .expect("a queues list")
        .iter()
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("no queue {name} in {document:#}"))
}

fn names(document: &Value, kind: &str) -> Vec<String> {
    document[kind]
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item["name"].as_str().expect("a name").to_owned())
        .collect()
}

#[test]
fn the_committed_definitions_file_is_what_worker_definitions_prints_with_default_settings() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/rabbitmq/definitions.json");
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let printed = definitions(&[]);
    if printed != committed {
        let line = printed
            .lines()
            .zip(committed.lines())
            .position(|(p, c)| p != c)
            .map_or_else(|| "one is longer".to_owned(), |i| format!("line {}", i + 1));
        panic!(
            "deploy/rabbitmq/definitions.json is not what `worker definitions` prints with the \
             default settings (first difference: {line}). Regenerate it from the workspace \
             root, with no APP_* variable set:\n\n    {REGENERATE}\n"
        );
    }
}

#[test]
fn worker_definitions_follows_the_delivery_limit_and_the_retry_tiers_in_force() {
    let limited: Value =
        serde_json::from_str(&definitions(&[("APP_BROKER__DELIVERY_LIMIT", "7")])).unwrap();
    assert_eq!(
        queue(&limited, "checkout.fulfillment")["arguments"]["x-delivery-limit"],
        7
    );

    let tiers: Value =
        serde_json::from_str(&definitions(&[("APP_BROKER__RETRY_TIERS_MS", "500,90000")])).unwrap();
    let delay_queues: Vec<String> = names(&tiers, "queues")
        .into_iter()
        .filter(|name| name.starts_with("checkout.fulfillment.delay."))
        .collect();
    assert_eq!(
        delay_queues,
        [
            "checkout.fulfillment.delay.500ms",
            "checkout.fulfillment.delay.90s"
        ]
    );
    assert_eq!(
        queue(&tiers, "checkout.fulfillment.delay.90s")["arguments"]["x-message-ttl"],
        90_000
    );
    let retry_routes: Vec<&str> = tiers["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["source"] == "checkout.retry")
        .map(|b| b["routing_key"].as_str().unwrap())
        .collect();
    assert_eq!(retry_routes, delay_queues, "each tier bound under its name");
    assert_eq!(
        queue(&tiers, "checkout.fulfillment")["arguments"]["x-delivery-limit"],
        20,
        "the default limit"
    );
}

#[test]
fn worker_definitions_needs_no_database_and_no_stripe_key() {
    // A database URL `worker run` would refuse, and no Stripe settings at all.
    let printed = definitions(&[("APP_DATABASE__URL", "mysql://nowhere")]);
    assert!(printed.contains("\"checkout.fulfillment\""), "{printed}");
}

#[test]
fn a_bad_broker_setting_stops_worker_definitions_naming_the_key() {
    let cases = [
        (
            "APP_BROKER__DELIVERY_LIMIT",
            "0",
            "configuration key `broker.delivery_limit`: must be at least 1",
        ),
        (
            "APP_BROKER__RETRY_TIERS_MS",
            "1000,0",
            "configuration key `broker.retry_tiers_ms`: every tier needs a delay above zero",
        ),
        (
            "APP_BROKER__DELIVERY_LIMIT",
            "seven",
            "broker.delivery_limit",
        ),
    ];
    for (key, value, expected) in cases {
        let output = worker(&["definitions"], &[(key, value)]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{key}={value} is refused");
        assert_eq!(output.status.code(), Some(1), "{key}={value}: {stderr}");
        assert!(stderr.contains(expected), "{key}={value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{key}={value}: {stderr}");
        assert!(
            output.stdout.is_empty(),
            "{key}={value}: nothing to redirect into the file, got {:?}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}
