//! `GET /order/cancel`: where Checkout's back link (`cancel_url`) leads. Nothing was paid.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::metrics;
use crate::pages::{respond, CancelPage};

pub async fn cancel() -> HttpResponse {
    let started = Instant::now();
    let response = respond(StatusCode::OK, &CancelPage);
    metrics::page_served("cancel", "ok", started);
    response
}
