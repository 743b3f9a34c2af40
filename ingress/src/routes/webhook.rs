//! `POST /webhook`: signature header present → bounded body → verify → envelope → publish and
//! await the confirm → answer.

use std::time::{Duration, Instant};

use actix_web::http::header::{ContentType, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use shared::errors::error_chain;
use shared::queue::Broker;
use shared::signature::{self, VerifyError, WebhookSecrets};
use shared::telemetry::TRACE_ONLY;
use tracing::field::Empty;
use tracing::Instrument;

use crate::envelope::{self, Envelope, Event};
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

/// The event a request carried, as far as it was read: what its span and log lines name.
#[derive(Debug, Default, Clone, Copy)]
struct Named<'e> {
    id: Option<&'e str>,
    event_type: Option<&'e str>,
}

impl<'e> Named<'e> {
    fn of(event: &'e Event<'_>) -> Self {
        match event {
            Event::Checkout(envelope) => Self {
                id: Some(envelope.id.as_str()),
                event_type: Some(&envelope.event_type),
            },
            Event::Other { event_type, id } => Self {
                id: id.as_deref(),
                event_type: Some(event_type),
            },
        }
    }
}

/// The webhook handler: one span per request, given the event id, type and status once, when
/// the answer is known.
pub async fn receive(
    request: HttpRequest,
    payload: web::Payload,
    context: web::Data<WebhookContext>,
) -> HttpResponse {
    let started = Instant::now();
    // A span for traces only (the log layer would format its fields on every request, see
    // `TRACE_ONLY`), with few fields, all recorded in one call when the answer is known. The
    // method is always POST, and the outcome is in the metrics and in the log line of a
    // refusal.
    let span = tracing::info_span!(
        target: TRACE_ONLY,
        "webhook",
        otel.kind = "server",
        event.id = Empty,
        event.type = Empty,
        http.response.status_code = Empty,
    );
    answer(&request, payload, &context, started)
        .instrument(span)
        .await
}

/// Handles the request inside its span and turns what happened into the answer, its metrics and
/// (for a refusal) its log line.
async fn answer(
    request: &HttpRequest,
    payload: web::Payload,
    context: &WebhookContext,
    started: Instant,
) -> HttpResponse {
    let body = match read_verified(request, payload, context).await {
        Ok(body) => body,
        Err(rejection) => return refused(rejection, Named::default(), started),
    };
    let event = match envelope::parse(&body) {
        Ok(event) => event,
        Err(e) => return refused(e.into(), Named::default(), started),
    };
    let named = Named::of(&event);
    let result = match &event {
        Event::Checkout(envelope) => publish(envelope, &body, context, started).await,
        // Authentic, and nobody consumes it: acknowledged whatever its shape (see `envelope`).
        Event::Other { .. } => Ok(Accepted::Ignored),
    };
    match result {
        Ok(accepted) => {
            let elapsed = started.elapsed();
            record_span(named, 200);
            record_answer(accepted.outcome(), "none", elapsed);
            tracing::debug!(event.id = named.id, ?elapsed, "webhook accepted");
            HttpResponse::Ok()
                .content_type(ContentType::json())
                .body(RECEIVED)
        }
        Err(rejection) => refused(rejection, named, started),
    }
}

fn refused(rejection: Rejection, named: Named<'_>, started: Instant) -> HttpResponse {
    let elapsed = started.elapsed();
    let status = rejection.status();
    record_span(named, status.as_u16());
    record_answer(rejection.outcome(), rejection.reason(), elapsed);
    // The request span is not in the log output (`TRACE_ONLY`): the line names the event.
    if status.is_server_error() {
        tracing::warn!(
            event.id = named.id,
            event.type = named.event_type,
            error = %error_chain(&rejection),
            ?elapsed,
            "webhook not stored; answering 503"
        );
    } else {
        tracing::info!(
            event.id = named.id,
            event.type = named.event_type,
            error = %error_chain(&rejection),
            "webhook refused"
        );
    }
    rejection.to_response()
}

/// The one recording of the request span's fields.
fn record_span(named: Named<'_>, status: u16) {
    tracing::record_all!(
        tracing::Span::current(),
        event.id = named.id,
        event.type = named.event_type,
        http.response.status_code = status,
    );
}

/// The body, once its signature is known to be good. Without a signature header nothing in the
/// body could be used: refused before a byte is read.
async fn read_verified(
    request: &HttpRequest,
    payload: web::Payload,
    context: &WebhookContext,
) -> Result<Bytes, Rejection> {
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
    Ok(body)
}

/// Hands a checkout event to the broker and awaits its confirm within the ack budget.
async fn publish(
    envelope: &Envelope<'_>,
    body: &[u8],
    context: &WebhookContext,
    started: Instant,
) -> Result<Accepted, Rejection> {
    publish_event(
        &context.broker,
        &context.exchange,
        envelope,
        body,
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
