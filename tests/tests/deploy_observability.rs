//! The observability configuration, checked with the tools that will load it: Prometheus's
//! config and alert rules with `promtool` (syntax, and the rules' behaviour on synthetic series
//! in deploy/prometheus/rules.test.yml), the Grafana dashboard's structure, and every RabbitMQ
//! metric the dashboard and the rules use against the names a real RabbitMQ 3.10 node exposes.
//! (The services' own metric names are checked against their live `/metrics` in
//! deploy_metrics.rs.)

mod deploy_support;

use std::collections::BTreeSet;

use deploy_support::alerting::{
    alert_rules, amtool_in, github_anchor, runbook_anchors, RenderedConfig, RUNBOOK_URL_PREFIX,
};
use deploy_support::promql::{exposed_names, metric_names};
use deploy_support::{
    dashboard_exprs, rabbitmq_metric_names, read_repo_file, read_yaml, repo_root, rule_exprs,
    run_in_repo,
};
use serde_json::Value;

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

/// What an operator sets (docker-compose.yml passes the ALERT_* variables through); the SMTP
/// password from a file, as a secret would come.
fn operators_destinations(password_file: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("ALERT_EMAIL_TO", "oncall@shop.example".to_owned()),
        ("ALERT_EMAIL_FROM", "alerts@shop.example".to_owned()),
        ("ALERT_SMTP_SMARTHOST", "smtp.shop.example:587".to_owned()),
        ("ALERT_SMTP_USERNAME", "alerts".to_owned()),
        (
            "ALERT_SMTP_PASSWORD_FILE",
            password_file.display().to_string(),
        ),
        (
            "ALERT_HEARTBEAT_URL",
            "https://hc-ping.example/0b5e0c1e-token?a=1&b=2".to_owned(),
        ),
    ]
}

#[test]
fn amtool_accepts_the_alertmanager_config_rendered_with_the_operators_destinations() {
    let password_file =
        std::env::temp_dir().join(format!("smtp-password-{}", uuid::Uuid::new_v4()));
    // A quote, an ampersand and a backslash: characters YAML and sed would both mangle.
    std::fs::write(&password_file, "it's&a\\secret\n").unwrap();
    let values = operators_destinations(&password_file);
    let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rendered = RenderedConfig::render(&pairs);
    let _ = std::fs::remove_file(&password_file);

    let (ok, out) = rendered.amtool(&["check-config", "alertmanager.yml"]);
    assert!(ok, "amtool check-config:\n{out}");
    assert!(
        out.contains("1 templates") && out.contains("2 receivers"),
        "the message templates and both receivers load: {out}"
    );
    assert!(!rendered.log.contains("not set"), "{}", rendered.log);
    let config: Value = deploy_support::yaml_to_json(&rendered.text()).unwrap();
    let global = &config["global"];
    assert_eq!(global["smtp_smarthost"], "smtp.shop.example:587");
    assert_eq!(global["smtp_from"], "alerts@shop.example");
    assert_eq!(global["smtp_auth_username"], "alerts");
    assert_eq!(global["smtp_auth_password"], "it's&a\\secret");
    assert_eq!(global["smtp_require_tls"], true);
    let receiver = |name: &str| {
        config["receivers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no receiver {name}"))
            .clone()
    };
    assert_eq!(
        receiver("on-call")["email_configs"][0]["to"],
        "oncall@shop.example"
    );
    assert_eq!(
        receiver("heartbeat")["webhook_configs"][0]["url"],
        "https://hc-ping.example/0b5e0c1e-token?a=1&b=2"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(rendered.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the rendered config, with its password, is private"
    );
}

/// `docker compose up` with no destinations set still starts Alertmanager (the stack stays
/// usable for trying it out), and its log says that alerts reach nobody.
#[test]
fn without_destinations_alertmanager_starts_and_its_log_says_alerts_reach_nobody() {
    let rendered = RenderedConfig::render(&[]);
    let (ok, out) = rendered.amtool(&["check-config", "alertmanager.yml"]);
    assert!(ok, "amtool check-config:\n{out}");
    for unset in [
        "ALERT_EMAIL_TO",
        "ALERT_SMTP_SMARTHOST",
        "ALERT_HEARTBEAT_URL",
    ] {
        assert!(
            rendered.log.contains(&format!(
                "{unset} is not set: alerts sent there reach nobody"
            )),
            "{}",
            rendered.log
        );
    }
    assert!(
        !rendered.text().contains("${"),
        "every placeholder is filled"
    );

    let refused = std::process::Command::new("sh")
        .arg(repo_root().join("deploy/alertmanager/entrypoint.sh"))
        .arg("true")
        .env("ALERTMANAGER_CONFIG_DIR", rendered.dir.join("refused"))
        .env("ALERT_SMTP_REQUIRE_TLS", "yes")
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "a malformed setting stops the start"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ALERT_SMTP_REQUIRE_TLS"));
}

/// The labels an alert of this rule carries (its name and its rule labels).
fn labels_of(alert: &str) -> Vec<String> {
    let rule = alert_rules()
        .into_iter()
        .find(|r| r["alert"] == alert)
        .unwrap_or_else(|| panic!("rules.yml has no {alert}"));
    let mut labels = vec![format!("alertname={alert}")];
    for (name, value) in rule["labels"].as_object().into_iter().flatten() {
        labels.push(format!("{name}={}", value.as_str().unwrap()));
    }
    labels
}

#[test]
fn the_watchdog_goes_to_the_heartbeat_receiver_and_every_other_alert_to_on_call() {
    let rendered = RenderedConfig::render(&[]);
    let route = |alert: &str, receiver: &str| -> (bool, String) {
        let mut args = vec![
            "config".to_owned(),
            "routes".to_owned(),
            "test".to_owned(),
            "--config.file=alertmanager.yml".to_owned(),
            format!("--verify.receivers={receiver}"),
        ];
        args.extend(labels_of(alert));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rendered.amtool(&args)
    };
    let (ok, out) = route("Watchdog", "heartbeat");
    assert!(ok, "Watchdog is not routed to heartbeat alone: {out}");
    let (ok, out) = route("PaidButUnfulfilled", "on-call");
    assert!(ok, "PaidButUnfulfilled is not routed to on-call: {out}");
    // The check can fail: the heartbeat is nobody's pager.
    let (ok, _) = route("Watchdog", "on-call");
    assert!(!ok, "the Watchdog reaches the on-call receiver");
    for rule in alert_rules().iter().filter(|r| r["alert"] != "Watchdog") {
        let alert = rule["alert"].as_str().unwrap();
        let (ok, out) = route(alert, "on-call");
        assert!(ok, "{alert} is not routed to on-call: {out}");
    }
}

#[test]
fn the_on_call_message_carries_the_summary_description_and_runbook_link() {
    let config = read_yaml("deploy/alertmanager/alertmanager.yml");
    let on_call = config["receivers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "on-call")
        .expect("an on-call receiver");
    let email = &on_call["email_configs"][0];
    assert_eq!(email["text"], r#"{{ template "fulfillment.text" . }}"#);
    assert_eq!(
        email["headers"]["Subject"],
        r#"{{ template "fulfillment.subject" . }}"#
    );
    assert_eq!(
        config["route"]["receiver"], "on-call",
        "the default receiver"
    );

    // One alert as Alertmanager hands it to the template: Prometheus has filled in the rule's
    // annotations and the runbook base.
    let data = serde_json::json!({
        "receiver": "on-call",
        "status": "firing",
        "externalURL": "http://alerts.shop.example:9093",
        "groupLabels": { "alertname": "PaidButUnfulfilled" },
        "commonLabels": { "alertname": "PaidButUnfulfilled", "severity": "page" },
        "commonAnnotations": {},
        "alerts": [{
            "status": "firing",
            "labels": { "alertname": "PaidButUnfulfilled", "severity": "page",
                        "runbook_base_url": "https://git.shop.example/RUNBOOK.md" },
            "annotations": {
                "summary": "2 paid Checkout Session(s) without an order",
                "description": "Customers paid and are waiting.",
                "runbook_url": "https://git.shop.example/RUNBOOK.md#paidbutunfulfilled"
            },
            "startsAt": "2024-05-01T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z"
        }]
    });
    let dir = repo_root().join("deploy/alertmanager");
    let data_file = std::env::temp_dir().join(format!("alert-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&data_file, data.to_string()).unwrap();
    let render = |template: &str| {
        let (ok, out) = amtool_in(
            &dir,
            &[
                "template",
                "render",
                "--template.glob=templates/*.tmpl",
                &format!("--template.data={}", data_file.display()),
                &format!(r#"--template.text={{{{ template "{template}" . }}}}"#),
            ],
        );
        assert!(ok, "amtool template render {template}: {out}");
        out
    };
    let (subject, text) = (render("fulfillment.subject"), render("fulfillment.text"));
    let _ = std::fs::remove_file(&data_file);
    assert_eq!(subject.trim(), "[FIRING:1] PaidButUnfulfilled (page)");
    for expected in [
        "2 paid Checkout Session(s) without an order",
        "Customers paid and are waiting.",
        "Runbook: https://git.shop.example/RUNBOOK.md#paidbutunfulfilled",
        "severity=page",
        "http://alerts.shop.example:9093/#/alerts",
    ] {
        assert!(
            text.contains(expected),
            "the message lacks {expected:?}:\n{text}"
        );
    }
    assert!(
        !text.contains("runbook_base_url="),
        "the base is in the link, not listed again:\n{text}"
    );
}

#[test]
fn prometheus_sends_its_alerts_to_the_alertmanager_service_of_the_stack() {
    let prometheus = read_yaml("deploy/prometheus/prometheus.yml");
    let targets = &prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"];
    assert_eq!(targets, &serde_json::json!(["alertmanager:9093"]));

    let model = deploy_support::compose_config(&[]);
    let alertmanager = &model["services"]["alertmanager"];
    assert!(
        alertmanager["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("prom/alertmanager:v")),
        "{alertmanager}"
    );
    // docker-compose v1 prints a port as "HOST_IP:PUBLISHED:TARGET/PROTOCOL".
    let ports = alertmanager["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1);
    let port = ports[0].as_str().unwrap();
    // Like the other operations UIs: on the loopback unless OPS_BIND_ADDRESS says otherwise.
    assert!(
        port.starts_with("127.0.0.1:") && port.trim_end_matches("/tcp").ends_with(":9093"),
        "{port}"
    );
    let command: Vec<&str> = alertmanager["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let entrypoint = alertmanager["entrypoint"].as_array().unwrap();
    assert_eq!(entrypoint[1], "/etc/alertmanager/fulfillment/entrypoint.sh");
    // The file Alertmanager loads is the one the entrypoint renders.
    assert!(
        command.contains(&"--config.file=/tmp/alertmanager/alertmanager.yml"),
        "{command:?}"
    );
    assert!(read_repo_file("deploy/alertmanager/entrypoint.sh")
        .contains("dir=${ALERTMANAGER_CONFIG_DIR:-/tmp/alertmanager}"));

    // Offline, the stand-in built from Debian's package replaces the image.
    let offline = deploy_support::compose_config(&[
        "-f",
        "docker-compose.yml",
        "-f",
        "deploy/offline/compose.yml",
    ]);
    let tag = offline["services"]["alertmanager"]["image"]
        .as_str()
        .unwrap();
    assert!(
        read_repo_file("deploy/offline/build-images")
            .contains(&format!("-t {tag} \"$here/images/alertmanager\"")),
        "build-images builds {tag}"
    );
}
