//! What the deploy tests share: the repository's paths, and throwaway RabbitMQ virtual hosts
//! (made with the local `rabbitmqctl` and read through the management API, both of which
//! `scripts/ensure-services` installs and enables with the broker) so a test can import or
//! declare a whole topology under its real names without touching anybody else's.

pub mod alerting;
pub mod broker_probe;
pub mod broker_users;
pub mod compose_stack;
pub mod failure;
pub mod ledger;
pub mod promql;
pub mod vhost;

// Re-exported where the tests have always found them; not every test file uses them.
#[allow(unused_imports)]
pub use vhost::{default_topology, import_and_wait, Topology, Vhost};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The workspace root (the `tests` package lives one level below it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package is inside the workspace")
        .to_path_buf()
}

/// A file of the repository, read whole.
pub fn read_repo_file(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Runs `rabbitmqctl ARGS` against the local node and returns its stdout; panics with its
/// stderr when it fails.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let output = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run rabbitmqctl (is rabbitmq-server installed?): {e}"));
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("rabbitmqctl prints UTF-8")
}

/// `deploy/rabbitmq/definitions.json`, parsed.
pub fn committed_definitions() -> Value {
    serde_json::from_str(&read_repo_file("deploy/rabbitmq/definitions.json"))
        .expect("deploy/rabbitmq/definitions.json is JSON")
}

/// A YAML file of the repository as JSON values, YAML merge keys (`<<: *anchor`) applied.
pub fn read_yaml(relative: &str) -> Value {
    yaml_to_json(&read_repo_file(relative))
        .unwrap_or_else(|e| panic!("{relative} is not valid YAML: {e}"))
}

pub fn yaml_to_json(text: &str) -> Result<Value, serde_norway::Error> {
    let mut value: serde_norway::Value = serde_norway::from_str(text)?;
    value.apply_merge()?;
    Ok(serde_json::to_value(value).expect("YAML with string keys converts to JSON"))
}

/// Runs a command in the repository root; returns (success, stdout, stderr). Panics when the
/// program is missing, naming what installs it.
pub fn run_in_repo(program: &str, args: &[&str], installed_by: &str) -> (bool, String, String) {
    let output = Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({installed_by}): {e}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `docker-compose ARGS config`: the compose model as Compose resolves it (variables
/// interpolated with their defaults, anchors merged), validated against the Compose
/// specification's schema without a Docker engine. Without an `--env-file` among `args`, the
/// variables are deploy/sim.env's (the simulator's development values): a developer's `.env`
/// never counts.
pub fn compose_config(args: &[&str]) -> Value {
    let mut all = if args.contains(&"--env-file") {
        Vec::new()
    } else {
        vec!["--env-file", "deploy/sim.env"]
    };
    all.extend_from_slice(args);
    all.push("config");
    let (ok, stdout, stderr) = run_in_repo(
        "docker-compose",
        &all,
        "Debian's docker-compose, installed by scripts/ensure-services",
    );
    assert!(ok, "docker-compose {all:?} rejects the file:\n{stderr}");
    yaml_to_json(&stdout).expect("docker-compose prints YAML")
}

/// Every PromQL expression of the Grafana dashboard, with its panel's title.
pub fn dashboard_exprs() -> Vec<(String, String)> {
    let dashboard: Value = serde_json::from_str(&read_repo_file(
        "deploy/grafana/dashboards/fulfillment.json",
    ))
    .expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"]
        .as_array()
        .expect("the dashboard has panels")
    {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                exprs.push((
                    panel["title"].as_str().unwrap_or_default().to_owned(),
                    expr.to_owned(),
                ));
            }
        }
    }
    exprs
}

/// Every alert rule's expression, with the alert's name.
pub fn rule_exprs() -> Vec<(String, String)> {
    let rules = read_yaml("deploy/prometheus/rules.yml");
    let mut exprs = Vec::new();
    for group in rules["groups"].as_array().expect("rules.yml has groups") {
        for rule in group["rules"].as_array().expect("a group has rules") {
            let name = rule["alert"]
                .as_str()
                .or(rule["record"].as_str())
                .unwrap_or_default();
            exprs.push((
                name.to_owned(),
                rule["expr"]
                    .as_str()
                    .expect("a rule has an expr")
                    .to_owned(),
            ));
        }
    }
    exprs
}

/// Names that Prometheus itself makes (per scrape target), not any service.
pub const PROMETHEUS_SYNTHETIC: &[&str] = &[
    "up",
    "ALERTS",
    "ALERTS_FOR_STATE",
    "scrape_duration_seconds",
];

/// The RabbitMQ 3.10 Prometheus plugin's metric names, as deploy/rabbitmq/metric-names.sh
/// recorded them from a real node configured like the compose stack's.
pub fn rabbitmq_metric_names() -> BTreeSet<String> {
    read_repo_file("deploy/prometheus/rabbitmq-metric-names.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}
