//! What every `/v1/` request goes through before its handler, in this order:
//! 1. counted (so tests can assert what reached "Stripe", 401s included);
//! 2. authenticated (a client with a wrong key sees 401, not an injected fault), and its
//!    `Stripe-Account` header read (a malformed one is a 400; see `connected_account`);
//! 3. held to the account's rate limit, when one is configured (429 `rate_limit` past it, as
//!    Stripe limits an account whichever of its processes calls);
//! 4. matched against the armed faults (fail now, or answer late).
//!
//! Every 429 it answers, from the limit or a fault, is counted for `GET /_sim/stats`.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};

use super::auth::{authenticate, invalid_key};
use super::connected_account;
use crate::error::SimError;
use crate::state::{FaultKind, SimState};

pub(crate) async fn v1_gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let state = req
        .app_data::<web::Data<SimState>>()
        .expect("the app registers SimState")
        .clone();
    state.record_request(req.path());
    let key = match authenticate(req.headers(), &state) {
        Ok(key) => key,
        Err(e) => return Ok(req.error_response(e)),
    };
    req.extensions_mut().insert(key.clone());
    match connected_account::from_headers(req.headers(), req.path()) {
        Ok(Some(account)) => {
            req.extensions_mut().insert(account);
        }
        Ok(None) => {}
        Err(e) => return Ok(req.error_response(e)),
    }
    if !state.admit_under_account_limit() {
        return Ok(rate_limited(req, &state));
    }
    let injected = match state.take_fault(req.method().as_str(), req.path()) {
        None => None,
        Some(FaultKind::Delay(delay)) => {
            // The injected latency itself: this sleep is the fault a test asked for.
            tokio::time::sleep(delay).await;
            None
        }
        Some(FaultKind::Status500) => Some(SimError::api_error(
            500,
            "An unknown error occurred (injected by stripe-sim).",
        )),
        Some(FaultKind::RateLimited) => Some(SimError::rate_limited()),
        Some(FaultKind::Status(status)) => Some(SimError::with_status(
            status,
            format!("Injected fault: HTTP {status}."),
        )),
        // As if the key had been rolled in the Dashboard since the client started.
        Some(FaultKind::Unauthorized) => Some(invalid_key(&key.0)),
        Some(FaultKind::ShouldRetry(status)) => Some(
            SimError::with_status(
                status,
                format!("Injected fault: HTTP {status}; the request may be retried."),
            )
            .advising_retry(true),
        ),
    };
    match injected {
        Some(error) if error.status() == 429 => Ok(rate_limited(req, &state)),
        Some(error) => Ok(req.error_response(error)),
        None => Ok(next.call(req).await?.map_into_boxed_body()),
    }
}

/// Stripe's 429 `rate_limit`, counted.
fn rate_limited(req: ServiceRequest, state: &SimState) -> ServiceResponse<BoxBody> {
    state.record_rate_limited(req.path());
    req.error_response(SimError::rate_limited())
}
