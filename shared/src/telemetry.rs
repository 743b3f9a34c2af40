//! Telemetry: one `tracing` subscriber per process (human-readable or JSON), with an
//! OpenTelemetry layer so spans carry W3C trace ids that cross the queue (see
//! [`crate::queue::trace_context`]), exported over OTLP/HTTP when an endpoint is configured.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, TracerProvider};
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::{LogFormat, LogSettings, TelemetrySettings};
use crate::Settings;

/// The target of spans that feed traces but not the log output. The log layer formats every
/// field of every span it sees, at its creation and at each recording (the JSON format parses
/// what it holds and writes it again), whether or not a line is ever logged inside it. A span on
/// a hot path whose own log lines name what they need takes this target, and the log layer
/// never sees it: the ingress's request span (benchmarks/ingress.md, "The request span").
pub const TRACE_ONLY: &str = "trace_only";

/// Where log lines go. A service logs to stdout, where container runtimes and `scripts/run`
/// collect it; a one-shot operator command (`worker redrive`, `worker show`, …) logs to stderr,
/// so that its stdout carries its report alone and can be read by a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutput {
    Stdout,
    Stderr,
}

/// Flushes buffered spans when the process stops. Keep it alive in `main` and call
/// [`TelemetryGuard::shutdown`] after the service has drained.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: TracerProvider,
}

impl TelemetryGuard {
    pub fn shutdown(self) {
        for result in self.provider.force_flush() {
            if let Err(e) = result {
                eprintln!("telemetry: flushing spans failed: {e}");
            }
        }
        if let Err(e) = self.provider.shutdown() {
            eprintln!("telemetry: shutdown failed: {e}");
        }
    }
}

/// Builds the tracer provider: always present (so spans have trace ids to propagate), exporting
/// only when `settings.otlp_endpoint` is set.
pub fn tracer_provider(
    service_name: &'static str,
    settings: &TelemetrySettings,
) -> anyhow::Result<TracerProvider> {
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sample_ratio)));
    let mut builder = TracerProvider::builder()
        .with_sampler(sampler)
        .with_resource(Resource::new([KeyValue::new("service.name", service_name)]));
    if !settings.otlp_endpoint.is_empty() {
        use opentelemetry_otlp::WithExportConfig;
        let endpoint = format!("{}/v1/traces", settings.otlp_endpoint.trim_end_matches('/'));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .build()?;
        builder = builder.with_batch_exporter(exporter, opentelemetry_sdk::runtime::Tokio);
    }
    Ok(builder.build())
}

/// Installs the global subscriber and propagator. Call once, first thing in `main`.
pub fn init(
    service_name: &'static str,
    settings: &Settings,
    output: LogOutput,
) -> anyhow::Result<TelemetryGuard> {
    let provider = tracer_provider(service_name, &settings.telemetry)?;
    let writer = match output {
        LogOutput::Stdout => BoxMakeWriter::new(std::io::stdout),
        LogOutput::Stderr => BoxMakeWriter::new(std::io::stderr),
    };
    install_writing_to(service_name, &settings.log, provider.clone(), writer)?;
    Ok(TelemetryGuard { provider })
}

/// Installs a subscriber that logs to stdout and feeds `provider` (tests pass one with an
/// in-memory exporter).
pub fn install(
    service_name: &'static str,
    log: &LogSettings,
    provider: TracerProvider,
) -> anyhow::Result<()> {
    install_writing_to(
        service_name,
        log,
        provider,
        BoxMakeWriter::new(std::io::stdout),
    )
}

/// [`install`] with the log output going to `writer` (tests read what an operator would).
pub fn install_writing_to(
    service_name: &'static str,
    log: &LogSettings,
    provider: TracerProvider,
    writer: BoxMakeWriter,
) -> anyhow::Result<()> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let tracer = provider.tracer(service_name);
    opentelemetry::global::set_tracer_provider(provider);
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&log.filter))?;
    let fmt = match log.format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .compact()
            .boxed(),
    };
    // The log filter applies to the log output only: `warn` logs must not switch off the
    // request and consumer spans, or `traceparent` would stop crossing the queue.
    //
    // Neither the thread a span began on (its name is copied into every span) nor busy/idle
    // time (two clock reads and a lock of the span's extensions at every poll of an
    // instrumented future) tells an operator anything the span's own start and end do not,
    // and both cost every request (benchmarks/ingress.md, "The request span").
    let spans = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let logged = filter.and(tracing_subscriber::filter::filter_fn(|metadata| {
        !(metadata.is_span() && metadata.target() == TRACE_ONLY)
    }));
    tracing_subscriber::registry()
        .with(fmt.with_filter(logged))
        .with(spans)
        .try_init()?;
    Ok(())
}
