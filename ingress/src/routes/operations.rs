//! `/readyz` and `/metrics` (`/healthz` is [`shared::http::healthz`]).

use actix_web::{web, HttpResponse};

use super::WebhookContext;
use crate::metrics::BROKER_CONNECTED;

/// `GET /readyz`: 503 while the broker connection is down, so a load balancer sends Stripe's
/// deliveries to a replica that can store them.
pub async fn readyz(context: web::Data<WebhookContext>) -> HttpResponse {
    shared::http::readiness(&[("broker", context.broker.is_connected())])
}

/// `GET /metrics`, with the connection gauge and `dependency_up` brought up to date first.
pub async fn metrics(context: web::Data<WebhookContext>) -> HttpResponse {
    let connected = context.broker.is_connected();
    BROKER_CONNECTED.set(i64::from(connected));
    shared::http::record_dependencies(&[("broker", connected)]);
    shared::http::metrics().await
}
