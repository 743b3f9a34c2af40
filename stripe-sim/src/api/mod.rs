//! The Stripe API surface, `/v1/*`: one file per resource, plus the gate every request passes.

mod auth;
mod checkout_sessions;
mod connected_account;
mod create_session_params;
mod customers;
mod events;
mod gate;
mod params;
mod payment_links;
mod prices;
mod respond;
mod subscriptions;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::error::SimError;

/// Registers `/v1` and its gate (request counting, authentication, faults).
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .wrap(from_fn(gate::v1_gate))
            .configure(checkout_sessions::routes)
            .configure(customers::routes)
            .configure(events::routes)
            .configure(prices::routes)
            .configure(payment_links::routes)
            .configure(subscriptions::routes)
            .default_service(web::to(unrecognized)),
    );
}

/// Stripe's 404 for a path or method it has no endpoint for.
pub(crate) async fn unrecognized(req: HttpRequest) -> HttpResponse {
    SimError::unrecognized_url(req.method().as_str(), req.path()).error_response()
}
