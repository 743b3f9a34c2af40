//! One delivery attempt: sign the payload with a fresh timestamp, POST it, classify the answer.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::CONTENT_TYPE;
use shared::signature::{signature_header, unix_now};

use super::config::WebhookEndpoint;
use crate::state::AttemptOutcome;

/// What one attempt sent and got.
#[derive(Debug)]
pub(super) struct Sent {
    pub timestamp: i64,
    pub signature: String,
    pub outcome: AttemptOutcome,
    pub duration: Duration,
}

/// Sends `payload` to `endpoint`, waiting at most `timeout` for the whole exchange.
pub(super) async fn send(
    client: &reqwest::Client,
    endpoint: &WebhookEndpoint,
    payload: &Bytes,
    timeout: Duration,
) -> Sent {
    // A fresh timestamp per attempt, as Stripe does: a retry an hour later must still pass the
    // receiver's five-minute tolerance.
    let timestamp = unix_now();
    let signature = signature_header(payload, &endpoint.secrets, timestamp);
    let started = Instant::now();
    let request = client
        .post(&endpoint.url)
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .header("Stripe-Signature", &signature)
        .timeout(timeout)
        .body(payload.clone());
    let outcome = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            // Read (and ignore) the body so the connection can be reused; Stripe ignores it too.
            let _ = response.bytes().await;
            AttemptOutcome::Response { status }
        }
        Err(e) if e.is_timeout() => AttemptOutcome::Timeout { injected: false },
        Err(e) => AttemptOutcome::Error {
            message: error_chain(&e),
        },
    };
    Sent {
        timestamp,
        signature,
        outcome,
        duration: started.elapsed(),
    }
}

// reqwest's top-level message is only "error sending request"; the chain says why.
use shared::errors::error_chain;
