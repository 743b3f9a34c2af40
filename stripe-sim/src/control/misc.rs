//! `GET /_sim/healthz`, `GET /_sim/stats`, `GET|POST /_sim/clock`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::json_body;
use crate::error::SimError;
use crate::state::SimState;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/stats", web::get().to(stats))
        .service(
            web::resource("/clock")
                .route(web::get().to(clock))
                .route(web::post().to(set_clock)),
        );
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn stats(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.stats())
}

/// `{"offset_secs": -2592000}`: objects created from now on are stamped that far from the wall
/// clock.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    offset_secs: i64,
}

async fn clock(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(clock_json(&state))
}

async fn set_clock(body: web::Bytes, state: web::Data<SimState>) -> Result<HttpResponse, SimError> {
    let body: ClockBody = json_body(&body)?;
    state.set_clock_offset(body.offset_secs);
    Ok(HttpResponse::Ok().json(clock_json(&state)))
}

fn clock_json(state: &SimState) -> serde_json::Value {
    json!({ "offset_secs": state.clock_offset(), "now": state.now() })
}
