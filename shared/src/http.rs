//! The operational endpoints every service exposes, the same way.

use actix_web::{web, HttpResponse};

/// `GET /healthz`: the process is alive and serving.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render())
}

/// The `/readyz` answer from named dependency checks: 200 when all pass, else 503, with each
/// check's result in the body so an operator sees which one failed. Each result also sets
/// `dependency_up{dependency=name}` ([`crate::metrics::set_dependency_up`]).
pub fn readiness(checks: &[(&str, bool)]) -> HttpResponse {
    for (name, ok) in checks {
        crate::metrics::set_dependency_up(name, *ok);
    }
    let ready = checks.iter().all(|(_, ok)| *ok);
    let body = serde_json::json!({
        "ready": ready,
        "checks": checks.iter().map(|(name, ok)| (name.to_string(), serde_json::Value::Bool(*ok))).collect::<serde_json::Map<_, _>>(),
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Routes `/healthz` and `/metrics`; each service adds its own `/readyz`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/metrics", web::get().to(metrics));
}
