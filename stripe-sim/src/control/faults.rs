//! `POST /_sim/faults` arms a fault, `DELETE /_sim/faults` disarms them all.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::json_body;
use crate::error::SimError;
use crate::state::{Fault, FaultKind, RouteMatch, SimState};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/faults")
            .route(web::post().to(arm))
            .route(web::delete().to(clear)),
    );
}

/// `{"method": "GET", "path_prefix": "/v1/checkout/sessions/", "kind": "500"|"429"|"401"|"503"|
/// "status"|"delay", "status": 503, "should_retry": true, "delay_ms": 200, "count": 3}`.
/// `method` absent: any; `path_prefix` absent: every `/v1/` path; `count` absent: 1, 0: until
/// cleared. A 401 is worded as for a rolled key; `should_retry: true` adds
/// `Stripe-Should-Retry: true` to any status.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultBody {
    method: Option<String>,
    path_prefix: Option<String>,
    kind: String,
    status: Option<u16>,
    should_retry: Option<bool>,
    delay_ms: Option<u64>,
    count: Option<u32>,
}

impl FaultBody {
    fn into_fault(self) -> Result<Fault, SimError> {
        let should_retry = self.should_retry.unwrap_or(false);
        let kind = match self.kind.as_str() {
            "delay" => {
                let ms = self
                    .delay_ms
                    .ok_or_else(|| SimError::missing_param("delay_ms"))?;
                FaultKind::Delay(Duration::from_millis(ms))
            }
            "status" => status_kind(
                self.status
                    .ok_or_else(|| SimError::missing_param("status"))?,
                should_retry,
            )?,
            "" => return Err(SimError::missing_param("kind")),
            other => match other.parse::<u16>() {
                Ok(status) => status_kind(status, should_retry)?,
                Err(_) => {
                    return Err(SimError::invalid_param(
                        "kind",
                        format!(
                            "Unknown fault kind {other:?}: use \"500\", \"429\", another status \
                             code, \"status\" (with \"status\") or \"delay\" (with \"delay_ms\")."
                        ),
                    ))
                }
            },
        };
        let path_prefix = self.path_prefix.unwrap_or_else(|| "/v1/".into());
        Ok(Fault {
            route: match self.method {
                Some(method) => RouteMatch::new(&method, &path_prefix),
                None => RouteMatch {
                    method: None,
                    path_prefix,
                },
            },
            kind,
            count: self.count.unwrap_or(1),
        })
    }
}

fn status_kind(status: u16, should_retry: bool) -> Result<FaultKind, SimError> {
    match status {
        400..=599 if should_retry => Ok(FaultKind::ShouldRetry(status)),
        500 => Ok(FaultKind::Status500),
        429 => Ok(FaultKind::RateLimited),
        401 => Ok(FaultKind::Unauthorized),
        400..=599 => Ok(FaultKind::Status(status)),
        _ => Err(SimError::invalid_param(
            "status",
            format!("A fault answers with an error status (400–599), not {status}."),
        )),
    }
}

async fn arm(body: web::Bytes, state: web::Data<SimState>) -> Result<HttpResponse, SimError> {
    let fault = json_body::<FaultBody>(&body)?.into_fault()?;
    let armed = json!({
        "method": fault.route.method,
        "path_prefix": fault.route.path_prefix,
        "kind": format!("{:?}", fault.kind),
        "count": fault.count,
    });
    state.inject_fault(fault);
    Ok(HttpResponse::Created().json(json!({ "armed": armed })))
}

async fn clear(state: web::Data<SimState>) -> HttpResponse {
    state.clear_faults();
    HttpResponse::Ok().json(json!({ "cleared": true }))
}
