//! `GET /_sim/deliveries` and `GET /_sim/events/{id}/deliveries`: every webhook delivery and its
//! attempts (status, signature header, timing), newest last.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::error::SimError;
use crate::state::{Delivery, DeliveryStatus, SimState};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/deliveries", web::get().to(list))
        .route("/events/{event}/deliveries", web::get().to(of_event));
}

/// `?event=evt_…&status=pending|succeeded|failed`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    event: Option<String>,
    status: Option<String>,
}

async fn list(
    query: web::Query<Filter>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let Filter { event, status } = query.into_inner();
    let status = status.map(|s| parse_status(&s)).transpose()?;
    let deliveries = match &event {
        Some(event) => state.deliveries_of(event),
        None => state.deliveries(),
    };
    let data: Vec<Delivery> = deliveries
        .into_iter()
        .filter(|d| status.is_none_or(|s| d.status == s))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "object": "list", "data": data })))
}

async fn of_event(path: web::Path<String>, state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "object": "list",
        "event": path.as_str(),
        "pending_webhooks": state.pending_webhooks(&path),
        "data": state.deliveries_of(&path),
    }))
}

fn parse_status(raw: &str) -> Result<DeliveryStatus, SimError> {
    match raw {
        "pending" => Ok(DeliveryStatus::Pending),
        "succeeded" => Ok(DeliveryStatus::Succeeded),
        "failed" => Ok(DeliveryStatus::Failed),
        _ => Err(SimError::invalid_param(
            "status",
            format!("Unknown delivery status {raw:?}: use pending, succeeded or failed."),
        )),
    }
}
