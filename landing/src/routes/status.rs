//! `GET /order/status?session_id=…`: the order's state as Postgres has it, as JSON, for the
//! "payment processing" page's script. It only reads: it never calls Stripe and never
//! fulfills, so polling it for days costs one indexed query per poll.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use shared::errors::error_chain;
use shared::CheckoutSessionId;

use super::{client_ip, session_id_param};
use crate::headers::retry_after;
use crate::metrics;
use crate::state::AppState;

pub async fn status(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let started = Instant::now();
    let (response, outcome) = answer(&req, &state).await;
    metrics::page_served("status", outcome, started);
    response
}

async fn answer(req: &HttpRequest, state: &AppState) -> (HttpResponse, &'static str) {
    if let Err(wait) = state.status_limiter.check(client_ip(req, state)) {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        let (name, value) = retry_after(wait);
        response.headers_mut().insert(name, value);
        return (response, "rate_limited");
    }
    let id = match CheckoutSessionId::parse(&session_id_param(req).unwrap_or_default()) {
        Ok(id) => id,
        Err(reason) => {
            return (
                error(StatusCode::BAD_REQUEST, &reason.to_string()),
                "bad_link",
            )
        }
    };
    match state.fulfiller.stored_order(&id).await {
        // `pending`: nothing recorded yet (an open session, or one nobody has looked at).
        Ok(order) => {
            let label = order.map_or("pending", |o| o.state.as_str());
            (HttpResponse::Ok().json(json!({ "state": label })), "ok")
        }
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "order status unavailable");
            (
                error(StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                "unavailable",
            )
        }
    }
}

fn error(status: StatusCode, reason: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": reason }))
}
