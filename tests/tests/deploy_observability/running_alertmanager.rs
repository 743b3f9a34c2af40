//! Alertmanager itself, Debian's binary (0.25, the offline stand-in's) started on a free loopback
//! port with the configuration its entrypoint renders: the counters the alert rules read from it
//! exist, and a failing notification path silences the heartbeat so that the dead-man service
//! pages. (The shipped image, upstream 0.27, exposes the same names, with a `reason` label added
//! to the failure counter.)

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::deploy_support::alerting::{alert_rules, RenderedConfig, AMTOOL};
use crate::deploy_support::promql::{exposed_labels, exposed_names, metric_names};

const STARTUP: Duration = Duration::from_secs(20);
const INHIBITION: Duration = Duration::from_secs(20);

/// `prometheus-alertmanager` with the rendered configuration, stopped on drop.
struct RunningAlertmanager {
    child: Child,
    port: u16,
    // Held, not read: dropped after the process is stopped, it removes the configuration and the
    // data directory.
    _config: RenderedConfig,
}

impl RunningAlertmanager {
    fn start() -> RunningAlertmanager {
        let config = RenderedConfig::render(&[]);
        // A port the kernel just handed out and nobody holds: free for Alertmanager to bind.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.path().display()))
            .arg(format!(
                "--storage.path={}",
                config.dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // No gossip: nothing else listens on 9094 here.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run prometheus-alertmanager ({AMTOOL}): {e}"));
        let running = RunningAlertmanager {
            child,
            port,
            _config: config,
        };
        let ready = poll(STARTUP, || {
            running
                .request("GET", "/-/ready", None)
                .filter(|(status, _)| *status == 200)
        });
        assert!(
            ready.is_some(),
            "Alertmanager was not ready on port {port} within {STARTUP:?}"
        );
        running
    }

    /// One HTTP/1.0 exchange: (status, body), or `None` while nothing answers.
    fn request(&self, method: &str, path: &str, json: Option<&Value>) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let body = json.map(Value::to_string).unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        let status = head.split(' ').nth(1)?.parse().ok()?;
        Some((status, body.to_owned()))
    }

    /// Posts alerts as Prometheus does: firing, with these label sets.
    fn fire(&self, alerts: &[&[(&str, &str)]]) {
        let alerts: Vec<Value> = alerts
            .iter()
            .map(|labels| {
                let labels: serde_json::Map<String, Value> = labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::from(*v)))
                    .collect();
                serde_json::json!({ "labels": labels })
            })
            .collect();
        let answer = self.request("POST", "/api/v2/alerts", Some(&Value::from(alerts)));
        assert_eq!(answer.as_ref().map(|(s, _)| *s), Some(200), "{answer:?}");
    }

    /// What Alertmanager says of the alert named `alertname`: its `status` object.
    fn status_of(&self, alertname: &str) -> Option<Value> {
        let (_, body) = self.request("GET", "/api/v2/alerts", None)?;
        let alerts: Value = serde_json::from_str(&body).ok()?;
        alerts
            .as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == alertname)
            .map(|a| a["status"].clone())
    }
}

impl Drop for RunningAlertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls `check` until it gives a value or `limit` has passed.
fn poll<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if started.elapsed() > limit {
            return None;
        }
        // The pause between two checks of this bounded wait.
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_alertmanager_metric_the_rules_use_is_one_alertmanager_exposes() {
    let alertmanager = RunningAlertmanager::start();
    let (status, exposition) = alertmanager
        .request("GET", "/metrics", None)
        .expect("Alertmanager answers /metrics");
    assert_eq!(status, 200);
    let exposed = exposed_names(&exposition);
    let labels = exposed_labels(&exposition);
    let used: BTreeSet<String> = alert_rules()
        .iter()
        .flat_map(|r| metric_names(r["expr"].as_str().unwrap()))
        .filter(|n| n.starts_with("alertmanager_"))
        .collect();
    assert!(
        used.contains("alertmanager_notifications_failed_total"),
        "the rules watch failed notifications: {used:?}"
    );
    for name in &used {
        assert!(
            exposed.contains(name),
            "rules.yml uses {name}, which Alertmanager does not expose"
        );
    }
    // AlertNotificationsFailing sums by it, and names it in its summary.
    assert!(
        labels
            .get("alertmanager_notifications_failed_total")
            .is_some_and(|l| l.contains("integration")),
        "{labels:?}"
    );
}

#[test]
fn while_notifications_fail_the_heartbeat_is_held_back_so_the_dead_man_service_pages() {
    let alertmanager = RunningAlertmanager::start();
    let watchdog: &[(&str, &str)] = &[("alertname", "Watchdog"), ("severity", "none")];
    alertmanager.fire(&[watchdog]);
    let active = poll(INHIBITION, || {
        alertmanager
            .status_of("Watchdog")
            .filter(|s| s["state"] == "active")
    });
    assert!(
        active.is_some(),
        "the Watchdog goes out while notifications succeed: {:?}",
        alertmanager.status_of("Watchdog")
    );

    alertmanager.fire(&[
        watchdog,
        &[
            ("alertname", "AlertNotificationsFailing"),
            ("integration", "email"),
            ("severity", "page"),
        ],
    ]);
    let held = poll(INHIBITION, || {
        alertmanager
            .status_of("Watchdog")
            .filter(|s| s["state"] == "suppressed")
            .filter(|s| s["inhibitedBy"].as_array().is_some_and(|i| !i.is_empty()))
    });
    assert!(
        held.is_some(),
        "the Watchdog is inhibited while AlertNotificationsFailing fires: {:?}",
        alertmanager.status_of("Watchdog")
    );
}
