//! Every way a webhook is not accepted, with the status it earns (G5) and a short JSON reason.
//!
//! The client's fault (4xx) and ours (503) are split so that Stripe retries exactly what may
//! succeed later. Reasons are fixed strings written here: none echoes the body, a header value
//! or a secret.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;
use shared::queue::PublishError;
use shared::signature::VerifyError;

use crate::envelope::EnvelopeError;

/// Why a webhook request was refused.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// 413: the body is larger than `ingress.body_limit_bytes`.
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// 408: the whole body did not arrive within `ingress.body_read_timeout_ms`.
    #[error("the body was not received within {} ms", after.as_millis())]
    BodyTimeout { after: Duration },
    /// 400: the connection failed while the body was read.
    #[error("the body could not be read")]
    UnreadableBody,
    /// 400: missing or malformed `Stripe-Signature`, no matching signature, or a timestamp
    /// outside the tolerance.
    #[error("signature verification failed: {0}")]
    Signature(#[from] VerifyError),
    /// 400: authentic, but not an event we can route.
    #[error("the verified body is not a usable event: {0}")]
    Envelope(#[from] EnvelopeError),
    /// 503 with `Retry-After`: the broker did not durably take the event (not connected, nack,
    /// unroutable, timeout, channel error). Stripe will deliver it again.
    #[error("the event was not stored")]
    Unavailable {
        #[source]
        cause: PublishError,
        retry_after: Duration,
    },
}

/// The JSON every refusal answers with.
#[derive(Debug, Serialize)]
struct Reason<'a> {
    error: &'a str,
    reason: &'a str,
    message: String,
}

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::UnreadableBody | Self::Signature(_) | Self::Envelope(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The metric `outcome` label: which family of refusal.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::BodyTimeout { .. } => "too_slow",
            Self::UnreadableBody => "unreadable_body",
            Self::Signature(_) => "bad_signature",
            Self::Envelope(_) => "bad_payload",
            Self::Unavailable { .. } => "unavailable",
        }
    }

    /// The metric `reason` label and the response's `reason`: the precise cause.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "body_too_large",
            Self::BodyTimeout { .. } => "body_read_timeout",
            Self::UnreadableBody => "unreadable_body",
            Self::Signature(e) => e.code(),
            Self::Envelope(e) => e.code(),
            Self::Unavailable { cause, .. } => cause.label(),
        }
    }

    pub fn to_response(&self) -> HttpResponse {
        let message = match self {
            // The publish error's own text may carry broker internals; the client needs only
            // to know that retrying is right.
            Self::Unavailable { .. } => "the event could not be stored; retry later".to_owned(),
            other => other.to_string(),
        };
        let mut response = HttpResponse::build(self.status());
        if self.status().is_client_error() {
            // A refusal may leave (part of) a body unread, and reading or draining it would
            // hand the connection back to a client that is too slow or sent too much: close it.
            response.force_close();
        }
        if let Self::Unavailable { retry_after, .. } = self {
            response.insert_header((
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs()),
            ));
        }
        response.json(Reason {
            error: self.outcome(),
            reason: self.reason(),
            message,
        })
    }
}

/// `405` for anything but `POST` on the webhook path.
pub fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "POST"))
        .json(Reason {
            error: "method_not_allowed",
            reason: "method_not_allowed",
            message: "the webhook endpoint only accepts POST".to_owned(),
        })
}
