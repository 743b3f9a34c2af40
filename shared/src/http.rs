//! The operational endpoints every service exposes, the same way.

use actix_web::HttpResponse;

/// `GET /healthz`: the process is alive and serving.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /metrics`: Prometheus text exposition. Each service refreshes what only it knows first
/// (its dependencies' state among it: [`record_dependencies`]), then calls this.
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render())
}

/// Sets `dependency_up{dependency=name}` from named dependency checks. Called by `/readyz` and
/// by every `/metrics` scrape: in a compose stack nothing but Prometheus asks a service anything
/// regularly, so a gauge refreshed only by `/readyz` would keep its last value through an outage.
pub fn record_dependencies(checks: &[(&str, bool)]) {
    for (name, ok) in checks {
        crate::metrics::set_dependency_up(name, *ok);
    }
}

/// The `/readyz` answer from named dependency checks: 200 when all pass, else 503, with each
/// check's result in the body so an operator sees which one failed. Each result also sets
/// `dependency_up{dependency=name}` ([`record_dependencies`]).
pub fn readiness(checks: &[(&str, bool)]) -> HttpResponse {
    record_dependencies(checks);
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
