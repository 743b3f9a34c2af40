//! What an on-call engineer reads in the ingress's log. The request span feeds traces only
//! (`shared::telemetry::TRACE_ONLY`, so the log layer does not format it on every request): a
//! refusal's own line names the event, and an accepted webhook writes nothing at `info`.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_sdk::trace::TracerProvider;
use serde_json::Value;
use shared::settings::{LogFormat, LogSettings};
use tests::eventually;
use tests::ingress_support::proxy::BrokerProxy;
use tests::ingress_support::*;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// The log output, as the process would have written it to stdout.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Installs the services' subscriber (JSON, as deployed) writing here. Once per process.
    fn install() -> Self {
        let captured = Self::default();
        let writer = captured.clone();
        let log = LogSettings {
            format: LogFormat::Json,
            filter: "info".into(),
        };
        shared::telemetry::install_writing_to(
            "ingress",
            &log,
            TracerProvider::default(),
            BoxMakeWriter::new(move || writer.clone()),
        )
        .expect("one subscriber per test process");
        captured
    }

    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| serde_json::from_str(line).expect("every log line is JSON"))
            .collect()
    }
}

#[tokio::test]
async fn a_503_is_logged_with_its_event_and_an_accepted_webhook_not_at_all() {
    let log = Captured::install();
    let mut proxy = BrokerProxy::start().await;
    let ingress =
        TestIngress::spawn_with(Some(&proxy.amqp_url()), |s| s.ingress.ack_budget_ms = 1000).await;
    let (accepted_id, body) = completed_event();
    assert_eq!(ingress.post_signed(&body).await.status(), 200);

    proxy.cut().await;
    let (refused_id, body) = completed_event();
    assert_eq!(ingress.post_signed(&body).await.status(), 503);

    let line = eventually(Duration::from_secs(5), || async {
        log.lines().into_iter().find(|line| {
            line["message"] == "webhook not stored; answering 503" && line["event.id"] == refused_id
        })
    })
    .await
    .unwrap_or_else(|| panic!("no 503 line naming {refused_id}: {:#?}", log.lines()));
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["event.type"], "checkout.session.completed");
    assert!(
        line["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{line}"
    );

    let lines = log.lines();
    assert!(
        lines
            .iter()
            .all(|line| !line.to_string().contains(&accepted_id)),
        "an accepted webhook writes no line at info: {lines:#?}"
    );
}
