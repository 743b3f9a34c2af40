//! `GET|POST /_sim/webhook_endpoints` and `GET|POST|DELETE /_sim/webhook_faults`: where events
//! are delivered, and how delivery misbehaves on purpose.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::json_body;
use crate::error::SimError;
use crate::state::SimState;
use crate::webhooks::config::{WebhookEndpoint, WebhookFaults};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhook_endpoints")
            .route(web::get().to(endpoints))
            .route(web::post().to(set_endpoints)),
    )
    .service(
        web::resource("/webhook_faults")
            .route(web::get().to(faults))
            .route(web::post().to(set_faults))
            .route(web::delete().to(clear_faults)),
    );
}

/// `{"endpoints": [{"url": "http://…/webhook", "secrets": ["whsec_…"], "connect": false}]}`:
/// replaces them all. `connect: true` makes an endpoint hear the connected accounts' events
/// instead of the platform's.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointsBody {
    endpoints: Vec<WebhookEndpoint>,
}

async fn endpoints(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(endpoints_json(&state))
}

async fn set_endpoints(
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let body: EndpointsBody = json_body(&body)?;
    state.set_webhook_endpoints(body.endpoints)?;
    Ok(HttpResponse::Ok().json(endpoints_json(&state)))
}

/// The endpoints with their secrets counted, not shown.
fn endpoints_json(state: &SimState) -> serde_json::Value {
    let endpoints: Vec<_> = state
        .webhook_endpoints()
        .iter()
        .map(|e| json!({ "url": e.url, "secrets": e.secrets.len(), "connect": e.connect }))
        .collect();
    json!({ "endpoints": endpoints })
}

/// `{"duplicates": 1, "shuffle_window_ms": 200, "delay_ms": 100, "timeout_attempts": 1}`:
/// replaces every knob; an absent one is off.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct FaultsBody {
    duplicates: u32,
    shuffle_window_ms: Option<u64>,
    delay_ms: u64,
    timeout_attempts: u32,
}

impl From<FaultsBody> for WebhookFaults {
    fn from(b: FaultsBody) -> Self {
        WebhookFaults {
            duplicates: b.duplicates,
            shuffle_window: b.shuffle_window_ms.map(Duration::from_millis),
            delay: Duration::from_millis(b.delay_ms),
            timeout_attempts: b.timeout_attempts,
        }
    }
}

impl From<WebhookFaults> for FaultsBody {
    fn from(f: WebhookFaults) -> Self {
        FaultsBody {
            duplicates: f.duplicates,
            shuffle_window_ms: f.shuffle_window.map(|d| d.as_millis() as u64),
            delay_ms: f.delay.as_millis() as u64,
            timeout_attempts: f.timeout_attempts,
        }
    }
}

/// More copies than this is a mistake that would flood the endpoint.
const MAX_DUPLICATES: u32 = 10;

async fn faults(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(FaultsBody::from(state.webhook_faults()))
}

async fn set_faults(
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let body: FaultsBody = json_body(&body)?;
    if body.duplicates > MAX_DUPLICATES {
        return Err(SimError::invalid_param(
            "duplicates",
            format!("At most {MAX_DUPLICATES} extra copies per event."),
        ));
    }
    state.set_webhook_faults(body.into());
    Ok(HttpResponse::Ok().json(FaultsBody::from(state.webhook_faults())))
}

async fn clear_faults(state: web::Data<SimState>) -> HttpResponse {
    state.set_webhook_faults(WebhookFaults::default());
    HttpResponse::Ok().json(FaultsBody::from(state.webhook_faults()))
}
