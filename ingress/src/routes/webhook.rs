//! `POST /webhook`: signature header present → bounded body → verify → envelope → publish and
//! await the confirm → answer.

use std::time::{Duration, Instant};

use actix_web::http::header::{ContentType, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use shared::errors::error_chain;
use shared::queue::Broker;
use shared::signature::{self, VerifyError, WebhookSecrets};
use tracing::field::Empty;
use tracing::Instrument;

use crate::envelope::{self, Event};
use crate::forward::publish_event;
use crate::metrics::record_answer;
use crate::rejection::{self, Rejection};

const SIGNATURE_HEADER: &str = "Stripe-Signature";
/// The answer Stripe gets for an event that is ours: a constant, serialized once.
const RECEIVED: &str = r#"{"received":true}"#;

/// What every webhook request needs, built once at start-up and shared by all workers.
#[derive(Debug)]
pub struct WebhookContext {
    pub secrets: WebhookSecrets,
    pub tolerance: Duration,
    pub body_limit: usize,
    /// The whole body must arrive within this, however the client paces it.
    pub body_read_timeout: Duration,
    /// From the start of handling to the answer; the confirm wait gets what is left of it.
    pub ack_budget: Duration,
    pub retry_after: Duration,
    /// `checkout.events`, with the deployment's prefix.
    pub exchange: String,
    pub broker: Broker,
}

/// What a request that was not refused came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accepted {
    /// A checkout event, confirmed by the broker.
    Published,
    /// An authentic event of a type nobody consumes.
    Ignored,
}

impl Accepted {
    fn outcome(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Ignored => "ignored",
        }
    }
}

/// The webhook handler: one span per request, carrying the event id and type once known.
pub async fn receive(
    request: HttpRequest,
    payload: web::Payload,
    context: web::Data<WebhookContext>,
) -> HttpResponse {
    let started = Instant::now();
    // Few fields, each recorded once: every field costs a formatting pass in the log layer and
    // an attribute in the trace layer, on every request (benchmarks/ingress.md). The method is
    // always POST, and the outcome is in the metrics and in the log line of a refusal.
    let span = tracing::info_span!(
        "webhook",
        otel.kind = "server",
        event.id = Empty,
        event.type = Empty,
        http.response.status_code = Empty,
    );
    let result = handle(&request, payload, &context, started)
        .instrument(span.clone())
        .await;
    let elapsed = started.elapsed();
    let _entered = span.enter();
    match result {
        Ok(accepted) => {
            span.record("http.response.status_code", 200);
            record_answer(accepted.outcome(), "none", elapsed);
            tracing::debug!(?elapsed, "webhook accepted");
            HttpResponse::Ok()
                .content_type(ContentType::json())
                .body(RECEIVED)
        }
        Err(rejection) => {
            let status = rejection.status();
            span.record("http.response.status_code", status.as_u16());
            record_answer(rejection.outcome(), rejection.reason(), elapsed);
            if status.is_server_error() {
                tracing::warn!(error = %error_chain(&rejection), ?elapsed, "webhook not stored; answering 503");
            } else {
                tracing::info!(error = %error_chain(&rejection), "webhook refused");
            }
            rejection.to_response()
        }
    }
}

async fn handle(
    request: &HttpRequest,
    payload: web::Payload,
    context: &WebhookContext,
    started: Instant,
) -> Result<Accepted, Rejection> {
    // Without a signature nothing in the body could be used: refuse before reading a byte.
    let header = signature_header(request)?;
    let body = crate::body::read_limited(
        request,
        payload,
        context.body_limit,
        context.body_read_timeout,
    )
    .await?;
    signature::verify(
        &body,
        header,
        &context.secrets,
        context.tolerance,
        signature::unix_now(),
    )?;
    let span = tracing::Span::current();
    let event = match envelope::parse(&body)? {
        Event::Checkout(event) => event,
        // Authentic, and nobody consumes it: acknowledged whatever its shape (see `envelope`).
        Event::Other { event_type, id } => {
            if let Some(id) = id {
                span.record("event.id", &*id);
            }
            span.record("event.type", &*event_type);
            return Ok(Accepted::Ignored);
        }
    };
    span.record("event.id", event.id.as_str());
    span.record("event.type", &*event.event_type);
    publish_event(
        &context.broker,
        &context.exchange,
        &event,
        &body,
        started + context.ack_budget,
    )
    .await
    .map_err(|cause| Rejection::Unavailable {
        cause,
        retry_after: context.retry_after,
    })?;
    Ok(Accepted::Published)
}

/// The `Stripe-Signature` value; a header that is not visible ASCII is malformed.
fn signature_header(request: &HttpRequest) -> Result<&str, VerifyError> {
    request
        .headers()
        .get(SIGNATURE_HEADER)
        .ok_or(VerifyError::MissingHeader)
        .and_then(|value: &HeaderValue| value.to_str().map_err(|_| VerifyError::MalformedHeader))
}

/// Any method but `POST` on the webhook path.
pub async fn method_not_allowed() -> HttpResponse {
    record_answer("method_not_allowed", "method_not_allowed", Duration::ZERO);
    rejection::method_not_allowed()
}
