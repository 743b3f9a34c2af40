//! The control API under `/_sim/`: what a test (or a developer with curl) does to the
//! simulator that a Stripe API client cannot: pay or expire a session, inject faults, move the
//! clock, read counters, point webhook delivery somewhere and watch it. JSON in and out (but
//! for the HTML status page at `/_sim/`), no authentication.

mod deliveries;
mod faults;
mod misc;
mod sessions;
mod status_page;
mod webhooks;

use actix_web::web;
use serde::de::DeserializeOwned;

use crate::api::unrecognized;
use crate::error::SimError;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sim")
            .configure(sessions::routes)
            .configure(faults::routes)
            .configure(misc::routes)
            .configure(webhooks::routes)
            .configure(deliveries::routes)
            .configure(status_page::routes)
            .default_service(web::to(unrecognized)),
    );
}

/// A JSON body; an empty body means "all defaults", which keeps curl one-liners short.
fn json_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, SimError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| SimError::invalid_param("body", format!("Invalid JSON body: {e}")))
}
