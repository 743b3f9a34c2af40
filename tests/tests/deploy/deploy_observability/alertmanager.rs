//! Alertmanager's configuration as the stack runs it: rendered by its entrypoint with an
//! operator's destinations (or none), loaded by `amtool check-config`, its routes followed for
//! every rule's alert, its on-call message rendered, and Prometheus and the compose stack
//! pointing at it.

use serde_json::Value;

use tests::deploy_support::alerting::{alert_rules, amtool_in, RenderedConfig};
use tests::deploy_support::{read_repo_file, read_yaml, repo_root};

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
    let config: Value = tests::deploy_support::yaml_to_json(&rendered.text()).unwrap();
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

    let model = tests::deploy_support::compose_config(&[]);
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
    let offline = tests::deploy_support::compose_config(&[
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
