//! Alertmanager itself, Debian's binary (0.25, the offline stand-in's) started on a free loopback
//! port with the configuration its entrypoint renders: the counters the alert rules read from it
//! exist, a failing notification path silences the heartbeat so that the dead-man service
//! pages, and notifications leave it: the on-call mail reaches an SMTP server (aiosmtpd) and the
//! Watchdog reaches the heartbeat URL. (The shipped image, upstream 0.27, exposes the same names,
//! with a `reason` label added to the failure counter.)

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tests::eventually;
use tests::free_port;
use tests::smtp::SmtpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tests::deploy_support::alerting::{alert_rules, runbook_anchors, RenderedConfig, AMTOOL};
use tests::deploy_support::promql::{exposed_labels, exposed_names, metric_names};
use tests::deploy_support::read_yaml;

const STARTUP: Duration = Duration::from_secs(20);
const INHIBITION: Duration = Duration::from_secs(20);

/// `prometheus-alertmanager` with the rendered configuration, stopped on drop.
struct RunningAlertmanager {
    child: Child,
    port: u16,
    // Dropped after the process is stopped, it removes the configuration, the data directory and
    // the log.
    config: RenderedConfig,
}

impl RunningAlertmanager {
    fn start() -> RunningAlertmanager {
        RunningAlertmanager::start_with(&[])
    }

    /// Started with the configuration the entrypoint renders from these `ALERT_*` values; its
    /// log in the configuration's directory ([`Self::log`]).
    fn start_with(values: &[(&str, &str)]) -> RunningAlertmanager {
        let config = RenderedConfig::render(values);
        let log = std::fs::File::create(config.dir.join("alertmanager.log")).unwrap();
        let port = free_port();
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
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run prometheus-alertmanager ({AMTOOL}): {e}"));
        let running = RunningAlertmanager {
            child,
            port,
            config,
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

    /// What Alertmanager logged so far (its notifications' failures among it).
    fn log(&self) -> String {
        std::fs::read_to_string(self.config.dir.join("alertmanager.log")).unwrap_or_default()
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

/// Whether what the delivery test runs is here; if not, says so as `SKIPPED: …`.
fn skipped() -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut missing = Vec::new();
    if !std::env::split_paths(&path).any(|dir| dir.join("prometheus-alertmanager").is_file()) {
        missing.push("prometheus-alertmanager");
    }
    let aiosmtpd = Command::new("/usr/bin/python3")
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status();
    if !aiosmtpd.is_ok_and(|s| s.success()) {
        missing.push("python3-aiosmtpd");
    }
    if missing.is_empty() {
        return false;
    }
    println!(
        "SKIPPED: {} not installed (Debian's packages; scripts/ensure-services installs them)",
        missing.join(", ")
    );
    true
}

/// A stand-in for the dead-man service: answers every request 200 and records each one's
/// request line and body.
struct Heartbeat {
    port: u16,
    calls: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeat {
    async fn start() -> Heartbeat {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorder = calls.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(record(stream, recorder.clone()));
            }
        });
        Heartbeat { port, calls, task }
    }

    fn calls(&self) -> Vec<(String, String)> {
        self.calls.lock().unwrap().clone()
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request (its body by Content-Length, as Alertmanager's webhook sends it), records
/// it and answers 200.
async fn record(mut stream: tokio::net::TcpStream, calls: Arc<Mutex<Vec<(String, String)>>>) {
    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, length) = loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
        }
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]);
            let length = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while received.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&received[..head_end]);
    let request_line = head.lines().next().unwrap_or_default().to_owned();
    let body = String::from_utf8_lossy(&received[head_end..head_end + length]).into_owned();
    calls.lock().unwrap().push((request_line, body));
    let _ = stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .await;
}

/// A quoted-printable body (Alertmanager's mail text) decoded: soft line breaks joined, `=XX`
/// turned back into its byte.
fn quoted_printable(text: &str) -> String {
    let text = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex_pair| hex::decode(hex_pair).ok());
        match escaped {
            Some(byte) => {
                out.extend_from_slice(&byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A Go duration of the config as the route writes it (`30s`, `5m`).
fn route_duration(text: &str) -> Duration {
    let (number, unit) = text.split_at(text.len() - 1);
    let number: u64 = number
        .parse()
        .unwrap_or_else(|_| panic!("a duration: {text}"));
    match unit {
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number * 60),
        _ => panic!("a duration in s or m: {text}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_is_mailed_to_on_call_and_the_watchdog_reaches_the_heartbeat_url() {
    if skipped() {
        return;
    }
    let smtp_port = free_port();
    let mailbox = SmtpServer::start(smtp_port).await;
    let heartbeat = Heartbeat::start().await;
    let token = uuid::Uuid::new_v4();
    let smarthost = format!("127.0.0.1:{smtp_port}");
    let heartbeat_url = format!("http://127.0.0.1:{}/ping/{token}", heartbeat.port);
    let destinations = [
        ("ALERT_EMAIL_TO", "oncall@shop.example"),
        ("ALERT_EMAIL_FROM", "alerts@shop.example"),
        ("ALERT_SMTP_SMARTHOST", smarthost.as_str()),
        // aiosmtpd offers no STARTTLS: the setting of a relay on the local network.
        ("ALERT_SMTP_REQUIRE_TLS", "false"),
        ("ALERT_HEARTBEAT_URL", heartbeat_url.as_str()),
    ];
    // Its start is a blocking, bounded wait: off the runtime's other workers.
    let alertmanager =
        tokio::task::block_in_place(|| RunningAlertmanager::start_with(&destinations));

    // A page as Prometheus sends it: the rule's labels and annotations, the external label
    // runbook_base_url filled into the link.
    let rule = alert_rules()
        .into_iter()
        .find(|r| r["alert"] == "PaidButUnfulfilled")
        .expect("rules.yml has PaidButUnfulfilled");
    let base = "https://git.shop.example/ops/blob/main/RUNBOOK.md";
    let mut labels = rule["labels"].clone();
    labels["alertname"] = "PaidButUnfulfilled".into();
    labels["runbook_base_url"] = base.into();
    let mut annotations = serde_json::Map::new();
    for (name, text) in rule["annotations"].as_object().unwrap() {
        let text = text
            .as_str()
            .unwrap()
            .replace("{{ $externalLabels.runbook_base_url }}", base)
            .replace("{{ $value }}", "2");
        annotations.insert(name.clone(), text.into());
    }
    let runbook_url = annotations["runbook_url"].as_str().unwrap().to_owned();
    let summary = annotations["summary"].as_str().unwrap().to_owned();
    let alerts = serde_json::json!([
        { "labels": labels, "annotations": annotations },
        { "labels": { "alertname": "Watchdog", "severity": "none", "runbook_base_url": base } },
    ]);
    let answer = alertmanager.request("POST", "/api/v2/alerts", Some(&alerts));
    assert_eq!(answer.as_ref().map(|(s, _)| *s), Some(200), "{answer:?}");

    // The heartbeat route waits for nothing (group_wait 0s).
    let ping = eventually(Duration::from_secs(20), || async {
        heartbeat.calls().into_iter().next()
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the Watchdog never reached {heartbeat_url}:\n{}",
            alertmanager.log()
        )
    });
    let (request_line, body) = ping;
    assert!(
        request_line.starts_with(&format!("POST /ping/{token} ")),
        "the heartbeat is a POST to the configured URL: {request_line}"
    );
    let body: Value = serde_json::from_str(&body).expect("the webhook's body is JSON");
    assert_eq!(body["receiver"], "heartbeat", "{body}");
    assert_eq!(body["status"], "firing", "{body}");
    let names: Vec<&Value> = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["labels"]["alertname"])
        .collect();
    assert_eq!(names, vec!["Watchdog"], "{body}");

    // A page goes out after the route's group_wait, which batches the alerts that start together.
    let group_wait = route_duration(
        read_yaml("deploy/alertmanager/alertmanager.yml")["route"]["group_wait"]
            .as_str()
            .expect("the route sets group_wait"),
    );
    let limit = group_wait + Duration::from_secs(30);
    let mail = eventually(limit, || async { mailbox.mails().into_iter().next() })
        .await
        .unwrap_or_else(|| {
            panic!(
                "no mail at {smarthost} within {limit:?}:\n{}",
                alertmanager.log()
            )
        });
    assert_eq!(mail.header("To"), Some("oncall@shop.example"), "{mail:?}");
    assert_eq!(mail.header("From"), Some("alerts@shop.example"), "{mail:?}");
    assert_eq!(
        mail.header("Subject"),
        Some("[FIRING:1] PaidButUnfulfilled (page)"),
        "{mail:?}"
    );
    let text = quoted_printable(&mail.body);
    for expected in [
        summary.as_str(),
        &format!("Runbook: {runbook_url}"),
        "alertname=PaidButUnfulfilled",
    ] {
        assert!(
            text.contains(expected),
            "the mail lacks {expected:?}:\n{text}"
        );
    }
    // The link points at a section that exists.
    let anchor = runbook_url.rsplit_once('#').unwrap().1;
    assert!(
        runbook_anchors().contains(anchor),
        "RUNBOOK.md has no #{anchor}"
    );
}
