//! The success page's request span, which every log line of the request and the exported trace
//! carry, names the route but never the Checkout Session id in its query.
//! Spans are captured with an in-memory exporter.

use std::time::Duration;

use opentelemetry::Value;
use opentelemetry_sdk::testing::trace::InMemorySpanExporter;
use opentelemetry_sdk::trace::TracerProvider;
use shared::settings::{LogFormat, LogSettings};
use tests::landing_support::Landing;
use tests::{eventually, paid_session};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_success_pages_request_span_redacts_the_session_id() {
    let exporter = InMemorySpanExporter::default();
    let provider = TracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let log = LogSettings {
        format: LogFormat::Pretty,
        filter: "warn".into(),
    };
    shared::telemetry::install("access-log-test", &log, provider.clone())
        .expect("one subscriber per test process");

    let landing = Landing::start().await;
    let id = paid_session(&landing.sim, "Jenny Rosen");
    let page = landing.success_page(id.as_str()).await;
    assert_eq!(page.status, 200, "{}", page.body);

    let request = eventually(Duration::from_secs(10), || async {
        for result in provider.force_flush() {
            result.ok()?;
        }
        exporter
            .get_finished_spans()
            .ok()?
            .into_iter()
            .find(|s| s.name == "GET /order/success")
    })
    .await
    .unwrap_or_else(|| {
        let names: Vec<_> = exporter
            .get_finished_spans()
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.name)
            .collect();
        panic!("no request span for the success page; got {names:?}")
    });
    let attribute = |key: &str| {
        request
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    };
    assert_eq!(
        attribute("http.target"),
        Some(Value::from("/order/success?session_id=[redacted]")),
        "the request's target, as logged and traced"
    );
    assert_eq!(attribute("http.status_code"), Some(Value::I64(200)));
    let everything = format!("{:?}", request.attributes);
    assert!(
        !everything.contains(id.as_str()),
        "no attribute of the request span names the session: {everything}"
    );
}
