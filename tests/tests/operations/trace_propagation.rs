//! One trace across the queue: the ingress request, the worker's processing of the message it
//! published, and the Stripe API call made while fulfilling share a trace id (W3C
//! `traceparent` in the AMQP headers). Spans are captured with an in-memory exporter.

use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::testing::trace::InMemorySpanExporter;
use opentelemetry_sdk::trace::TracerProvider;
use shared::settings::{LogFormat, LogSettings};
use stripe_sim::PaymentOutcome;
use tests::stack::Stack;
use tests::{completed_session, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_request_the_worker_and_the_stripe_call_share_one_trace() {
    let exporter = InMemorySpanExporter::default();
    let provider = TracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    // Logs at `warn` only: the log filter must not switch the spans (and traceparent) off.
    let log = LogSettings {
        format: LogFormat::Pretty,
        filter: "warn".into(),
    };
    shared::telemetry::install("trace-test", &log, provider.clone())
        .expect("one subscriber per test process");

    let stack = Stack::start().await;
    // Paying creates checkout.session.completed; the simulator delivers it, signed, to ingress.
    let id = completed_session(
        &stack.sim,
        &[("price_mug", 1)],
        PaymentOutcome::Paid,
        "Jenny Rosen",
    );
    let fulfilled = eventually(Duration::from_secs(20), || async {
        (stack.fulfilled_orders(id.as_str()).await == 1).then_some(())
    })
    .await;
    assert!(
        fulfilled.is_some(),
        "the worker fulfilled the order from the webhook"
    );

    let spans = eventually(Duration::from_secs(10), || async {
        for result in provider.force_flush() {
            result.ok()?;
        }
        let spans = exporter.get_finished_spans().ok()?;
        let named = |name: &str| spans.iter().find(|s| s.name == name).cloned();
        Some((
            named("POST webhook").or_else(|| named("webhook"))?,
            named("process checkout event")?,
            named("fulfill_checkout")?,
            named("retrieve_checkout_session")?,
        ))
    })
    .await;
    let (webhook, process, fulfill, stripe_call) = spans.unwrap_or_else(|| {
        let names: Vec<_> = exporter
            .get_finished_spans()
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.name)
            .collect();
        panic!("the spans were not all exported; got {names:?}")
    });

    assert_ne!(webhook.span_context.trace_id(), TraceId::INVALID);
    // The request span names what it carried and how it was answered, for whoever looks the
    // trace up.
    let attribute = |key: &str| {
        webhook
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str().into_owned())
    };
    assert!(
        attribute("event.id").is_some_and(|id| id.starts_with("evt_")),
        "{:?}",
        webhook.attributes
    );
    assert_eq!(
        attribute("event.type").as_deref(),
        Some("checkout.session.completed")
    );
    assert_eq!(
        attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        process.span_context.trace_id(),
        webhook.span_context.trace_id(),
        "the worker continues the ingress trace"
    );
    assert_ne!(
        process.parent_span_id,
        SpanId::INVALID,
        "the worker's span has a remote parent"
    );
    assert_eq!(
        stripe_call.span_context.trace_id(),
        webhook.span_context.trace_id(),
        "the Stripe call is in the same trace"
    );
    // process → fulfill_checkout → the Stripe call, one tree.
    assert_eq!(fulfill.parent_span_id, process.span_context.span_id());
    assert_eq!(stripe_call.parent_span_id, fulfill.span_context.span_id());
    stack.stop().await;
}
