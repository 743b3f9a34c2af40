//! The operational endpoints every service exposes, the same way, and the ops server of the
//! services that serve nothing else (the worker and the notifier: [`ops_server`]).

use std::future::Future;
use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};

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

/// What a service without pages of its own reports on its ops port.
pub trait Dependencies: Send + Sync + 'static {
    /// Each dependency's name and whether it is up: what `/readyz` answers and every `/metrics`
    /// scrape records as `dependency_up`.
    fn check(&self) -> impl Future<Output = Vec<(&'static str, bool)>>;

    /// What a `/metrics` scrape refreshes first besides the dependencies (gauges read from the
    /// database).
    fn refresh(&self) -> impl Future<Output = ()> {
        async {}
    }
}

/// `/healthz`, `/readyz` and `/metrics` for a worker-like service, on `listener`.
pub fn ops_server<D: Dependencies>(
    listener: TcpListener,
    dependencies: D,
) -> std::io::Result<Server> {
    let dependencies = web::Data::new(dependencies);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(dependencies.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz::<D>))
            .route("/metrics", web::get().to(scrape::<D>))
    })
    .listen(listener)?
    // Three endpoints polled every few seconds: one thread is plenty and leaves the cores to
    // the service's own work.
    .workers(1)
    // Signals are the Application's to handle, so the drain happens in order.
    .disable_signals()
    .shutdown_timeout(5)
    .run())
}

async fn readyz<D: Dependencies>(dependencies: web::Data<D>) -> HttpResponse {
    readiness(&dependencies.check().await)
}

async fn scrape<D: Dependencies>(dependencies: web::Data<D>) -> HttpResponse {
    record_dependencies(&dependencies.check().await);
    dependencies.refresh().await;
    metrics().await
}
