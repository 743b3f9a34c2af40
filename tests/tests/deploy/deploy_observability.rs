//! The observability configuration, checked with the tools that will load it: Prometheus's
//! config and alert rules with `promtool` (syntax, and the rules' behaviour on synthetic series
//! in deploy/prometheus/rules.test.yml), the Grafana dashboard's structure, and every RabbitMQ
//! metric the dashboard and the rules use against the names a real RabbitMQ 3.10 node exposes.
//! (The services' own metric names are checked against their live `/metrics` in
//! deploy_metrics.rs.) Where the alerts go from there, Alertmanager, is checked with `amtool` in
//! `alertmanager`, and with Alertmanager itself running in `running_alertmanager`.

mod alertmanager;
mod running_alertmanager;

use std::collections::BTreeSet;

use serde_json::Value;
use tests::deploy_support::alerting::{
    alert_rules, github_anchor, runbook_anchors, RUNBOOK_URL_PREFIX,
};
use tests::deploy_support::promql::{exposed_names, metric_names};
use tests::deploy_support::{
    dashboard_exprs, rabbitmq_metric_names, read_repo_file, read_yaml, repo_root, rule_exprs,
    run_in_repo,
};

const PROMTOOL: &str = "Debian's prometheus package, installed by scripts/ensure-services";

#[test]
fn promtool_accepts_the_prometheus_config_and_its_alert_rules() {
    let (ok, stdout, stderr) = run_in_repo(
        "promtool",
        &["check", "config", "deploy/prometheus/prometheus.yml"],
        PROMTOOL,
    );
    assert!(ok, "promtool check config:\n{stdout}{stderr}");
    assert!(
        stdout.contains("1 rule files found"),
        "the config loads rules.yml: {stdout}"
    );
    let (ok, stdout, stderr) = run_in_repo(
        "promtool",
        &["check", "rules", "deploy/prometheus/rules.yml"],
        PROMTOOL,
    );
    assert!(ok, "promtool check rules:\n{stdout}{stderr}");
}

#[test]
fn the_alert_rules_fire_on_their_conditions_and_stay_quiet_otherwise() {
    let (ok, stdout, stderr) = run_in_repo(
        "promtool",
        &["test", "rules", "deploy/prometheus/rules.test.yml"],
        PROMTOOL,
    );
    assert!(ok, "promtool test rules:\n{stdout}{stderr}");
    assert!(stdout.contains("SUCCESS"), "{stdout}");
}

/// An alert nobody has seen fire may never fire (a label typo, a metric renamed); one nobody
/// has seen quiet may page all the time. Watchdog is the exception: it must never be quiet.
#[test]
fn every_alert_rule_has_a_test_case_that_fires_it_and_one_that_shows_it_quiet() {
    let tests = read_yaml("deploy/prometheus/rules.test.yml");
    let cases: Vec<&Value> = tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().unwrap().iter())
        .collect();
    let cases_where = |firing: bool| -> BTreeSet<String> {
        cases
            .iter()
            .filter(|case| {
                let expected = case["exp_alerts"].as_array().map_or(0, Vec::len);
                (expected > 0) == firing
            })
            .map(|case| case["alertname"].as_str().unwrap().to_owned())
            .collect()
    };
    let (fired, quiet) = (cases_where(true), cases_where(false));
    let alerts: Vec<String> = alert_rules()
        .iter()
        .map(|r| r["alert"].as_str().unwrap().to_owned())
        .collect();
    assert!(alerts.len() > 15, "rules.yml has its alerts: {alerts:?}");
    let unfired: Vec<&String> = alerts.iter().filter(|a| !fired.contains(*a)).collect();
    assert!(
        unfired.is_empty(),
        "no rules.test.yml case shows these alerts firing: {unfired:?}"
    );
    let never_quiet: Vec<&String> = alerts
        .iter()
        .filter(|a| *a != "Watchdog" && !quiet.contains(*a))
        .collect();
    assert!(
        never_quiet.is_empty(),
        "no rules.test.yml case shows these alerts quiet (an empty exp_alerts): {never_quiet:?}"
    );
    assert!(
        !quiet.contains("Watchdog"),
        "the dead-man's switch is never quiet"
    );
}

#[test]
fn promtool_rejects_a_rule_with_a_broken_expression() {
    let broken = read_repo_file("deploy/prometheus/rules.yml").replace(
        "max(worker_paid_unfulfilled_sessions) > 0",
        "max(worker_paid_unfulfilled_sessions > 0",
    );
    let path = std::env::temp_dir().join(format!("rules-broken-{}.yml", std::process::id()));
    std::fs::write(&path, broken).unwrap();
    let (ok, stdout, stderr) = run_in_repo(
        "promtool",
        &["check", "rules", path.to_str().unwrap()],
        PROMTOOL,
    );
    let _ = std::fs::remove_file(&path);
    assert!(!ok, "a broken expression passed: {stdout}");
    assert!(
        format!("{stdout}{stderr}").contains("parse error"),
        "{stdout}{stderr}"
    );
}

#[test]
fn every_rabbitmq_metric_the_dashboard_and_the_rules_use_is_one_rabbitmq_exposes() {
    let known = rabbitmq_metric_names();
    assert!(
        known.contains("rabbitmq_detailed_queue_messages_ready"),
        "the list is the detailed one"
    );
    let mut used = 0;
    for (source, expr) in dashboard_exprs().into_iter().chain(rule_exprs()) {
        for name in metric_names(&expr)
            .into_iter()
            .filter(|n| n.starts_with("rabbitmq_"))
        {
            used += 1;
            assert!(
                known.contains(&name),
                "{source}: {name} is not a RabbitMQ 3.10 metric ({expr})"
            );
        }
    }
    assert!(
        used > 5,
        "the dashboard shows queue depths and broker rates"
    );
}

#[test]
fn the_per_queue_metrics_the_dashboard_needs_are_scraped_from_the_detailed_endpoint() {
    let prometheus = read_yaml("deploy/prometheus/prometheus.yml");
    let job = prometheus["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["metrics_path"] == "/metrics/detailed")
        .expect("a job scrapes RabbitMQ's /metrics/detailed");
    let families: Vec<&str> = job["params"]["family"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // queue_coarse_metrics: ready/unacked/total per queue; queue_consumer_count: consumers.
    assert!(families.contains(&"queue_coarse_metrics"), "{families:?}");
    assert!(families.contains(&"queue_consumer_count"), "{families:?}");
    let conf = read_repo_file("deploy/rabbitmq/rabbitmq.conf");
    assert!(conf.contains("prometheus.tcp.port = 15692"));
    let plugins = read_repo_file("deploy/rabbitmq/enabled_plugins");
    assert!(plugins.contains("rabbitmq_prometheus") && plugins.contains("rabbitmq_management"));
}

#[test]
fn the_dashboard_covers_the_on_call_questions_with_valid_panels() {
    let dashboard: Value = serde_json::from_str(&read_repo_file(
        "deploy/grafana/dashboards/fulfillment.json",
    ))
    .unwrap();
    let datasources = read_yaml("deploy/grafana/provisioning/datasources/datasources.yml");
    let uids: BTreeSet<&str> = datasources["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["uid"].as_str())
        .collect();
    let mut ids = BTreeSet::new();
    let mut titles = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let id = panel["id"].as_u64().expect("every panel has an id");
        assert!(ids.insert(id), "panel id {id} is used twice");
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
        assert!(x + w <= 24, "panel {} overflows the grid", panel["title"]);
        if panel["type"] == "row" {
            continue;
        }
        assert!(
            panel["description"].as_str().is_some_and(|d| d.len() > 20),
            "{} explains itself",
            panel["title"]
        );
        let uid = panel["datasource"]["uid"].as_str().unwrap();
        assert!(
            uids.contains(uid),
            "{} uses datasource {uid}, which is not provisioned",
            panel["title"]
        );
        assert!(
            !panel["targets"].as_array().unwrap().is_empty(),
            "{} has no query",
            panel["title"]
        );
        titles.push(panel["title"].as_str().unwrap().to_owned());
    }
    let used: BTreeSet<String> = dashboard_exprs()
        .iter()
        .flat_map(|(_, e)| metric_names(e))
        .collect();
    for needed in [
        "worker_paid_unfulfilled_sessions",
        "rabbitmq_detailed_queue_messages_ready",
        "rabbitmq_detailed_queue_messages_unacked",
        "rabbitmq_global_messages_received_total",
        "rabbitmq_global_messages_delivered_total",
        "rabbitmq_global_messages_acknowledged_total",
        "ingress_webhook_ack_seconds_bucket",
        "ingress_webhook_requests_total",
        "fulfillment_outcomes_total",
        "worker_event_to_fulfilled_seconds_bucket",
        "worker_retries_total",
        "worker_dead_lettered_total",
        "stripe_api_requests_total",
        "worker_outbox_lag_seconds",
        "worker_reconciler_lag_seconds",
    ] {
        assert!(
            used.contains(needed),
            "no panel shows {needed} (panels: {titles:?})"
        );
    }
    let provider = read_yaml("deploy/grafana/provisioning/dashboards/dashboards.yml");
    assert_eq!(
        provider["providers"][0]["options"]["path"],
        "/etc/grafana/dashboards"
    );
}

#[test]
fn every_alert_and_panel_has_its_section_in_the_runbook() {
    let runbook = read_repo_file("RUNBOOK.md");
    let anchors = runbook_anchors();
    for rule in alert_rules() {
        let link = rule["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_else(|| panic!("{} links no runbook_url", rule["alert"]));
        let anchor = link
            .strip_prefix(RUNBOOK_URL_PREFIX)
            .unwrap_or_else(|| panic!("{link} is not {RUNBOOK_URL_PREFIX}<anchor>"));
        assert!(
            anchors.contains(anchor),
            "{} links #{anchor}, which RUNBOOK.md lacks",
            rule["alert"]
        );
    }
    for (title, _) in dashboard_exprs() {
        assert!(
            runbook.contains(&format!("**{title}**")),
            "RUNBOOK.md does not explain the panel {title:?}"
        );
    }
    assert!(repo_root().join("RUNBOOK.md").exists());
}

/// The links resolve wherever the operator serves RUNBOOK.md: Prometheus fills in the base,
/// which ships as the repository-relative `RUNBOOK.md`, and GitHub spells the anchors.
#[test]
fn runbook_links_start_at_the_base_the_operator_sets_and_anchors_follow_github() {
    let prometheus = read_yaml("deploy/prometheus/prometheus.yml");
    assert_eq!(
        prometheus["global"]["external_labels"]["runbook_base_url"], "RUNBOOK.md",
        "prometheus.yml gives the runbook links their base"
    );
    for (heading, anchor) in [
        ("PaidButUnfulfilled", "paidbutunfulfilled"),
        ("Where alerts go", "where-alerts-go"),
        (
            "Rotate the webhook secret without downtime",
            "rotate-the-webhook-secret-without-downtime",
        ),
        (
            "A lock held elsewhere (`a database bound expired` in the worker's log)",
            "a-lock-held-elsewhere-a-database-bound-expired-in-the-workers-log",
        ),
    ] {
        assert_eq!(github_anchor(heading), anchor);
    }
    let anchors = runbook_anchors();
    for section in ["where-alerts-go", "watchdog", "webhooksignaturesrejected"] {
        assert!(anchors.contains(section), "RUNBOOK.md has no #{section}");
    }
}

#[test]
fn the_promql_scanner_finds_metric_names_and_nothing_else() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le, endpoint) (rate(stripe_api_request_duration_seconds_bucket{outcome!="ok", x=~"a(b)"}[$__rate_interval])))
           / on (job) group_left(instance) max(up{job="worker"} offset 5m) > bool 1 or vector(0) unless absent(worker_reconciler_leader)"#,
    );
    let expected: BTreeSet<String> = [
        "stripe_api_request_duration_seconds_bucket",
        "up",
        "worker_reconciler_leader",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(names, expected);
    let exposed =
        exposed_names("# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\nb 1\n");
    assert_eq!(exposed, ["a_total", "b"].map(str::to_owned).into());
}

/// The text of RUNBOOK.md's section under `heading`, up to the next heading of its level or above.
fn runbook_section(heading: &str) -> String {
    let runbook = read_repo_file("RUNBOOK.md");
    let start = runbook
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("RUNBOOK.md has no {heading:?}"));
    let body = &runbook[start + heading.len() + 2..];
    let end = body
        .find("\n### ")
        .into_iter()
        .chain(body.find("\n## "))
        .min()
        .unwrap_or(body.len());
    body[..end].to_owned()
}

/// The broker procedures sit together, and what they quote of the stack's configuration is
/// what the stack is configured with: an operator acts on those numbers mid-incident.
#[test]
fn the_disk_full_and_upgrade_procedures_follow_the_broker_outage_and_quote_the_stacks_settings() {
    let headings: Vec<String> = read_repo_file("RUNBOOK.md")
        .lines()
        .filter(|l| l.starts_with("### "))
        .map(str::to_owned)
        .collect();
    let at = |h: &str| headings.iter().position(|l| l == h).unwrap();
    let outage = at("### Recover from a broker outage");
    assert_eq!(headings[outage + 1], "### Disk full");
    assert_eq!(headings[outage + 2], "### Upgrade RabbitMQ");

    let rabbitmq_conf = read_repo_file("deploy/rabbitmq/rabbitmq.conf");
    let compose = read_repo_file("docker-compose.yml");
    let definitions = read_repo_file("deploy/rabbitmq/definitions.json");
    let disk_full = runbook_section("### Disk full");
    for (quoted, configured, source) in [
        (
            "disk_free_limit.absolute = 1GB",
            "disk_free_limit.absolute = 1GB",
            &rabbitmq_conf,
        ),
        (
            "--storage.tsdb.retention.size=4GB",
            "--storage.tsdb.retention.size=4GB",
            &compose,
        ),
        (
            "retention.time=15d",
            "--storage.tsdb.retention.time=15d",
            &compose,
        ),
        ("max-size: 10m", "max-size: 10m", &compose),
        ("max-file: \"3\"", "max-file: \"3\"", &compose),
        (
            "`MEMORY_MAX_TRACES`, 20000",
            "${JAEGER_MAX_TRACES:-20000}",
            &compose,
        ),
    ] {
        assert!(
            disk_full.contains(quoted),
            "Disk full does not say {quoted}"
        );
        assert!(
            source.contains(configured),
            "the stack is not configured with {configured}"
        );
    }
    let upgrade = runbook_section("### Upgrade RabbitMQ");
    assert!(upgrade.contains("`rabbitmq:4.0-management`"));
    assert!(compose.contains("image: rabbitmq:4.0-management"));
    assert!(upgrade.contains("`x-delivery-limit: 20`"));
    assert!(definitions.contains("\"x-delivery-limit\": 20"));
    for step in [
        "rabbitmqctl enable_feature_flag all",
        "rabbitmqctl export_definitions",
        "3.10 → 3.11",
    ] {
        assert!(upgrade.contains(step), "Upgrade RabbitMQ lacks {step}");
    }
    assert!(
        runbook_section("### BrokerResourceAlarm").contains("[Disk full](#disk-full)"),
        "the disk alarm points to the procedure"
    );
}
