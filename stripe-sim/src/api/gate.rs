//! What every `/v1/` request goes through before its handler, in this order:
//! 1. counted (so tests can assert what reached "Stripe", 401s included);
//! 2. authenticated (a client with a wrong key sees 401, not an injected fault);
//! 3. matched against the armed faults (fail now, or answer late).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};

use super::auth::{authenticate, invalid_key};
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
    if let Some(error) = injected {
        return Ok(req.error_response(error));
    }
    req.extensions_mut().insert(key);
    Ok(next.call(req).await?.map_into_boxed_body())
}
