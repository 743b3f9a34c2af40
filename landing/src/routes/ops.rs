//! `/readyz`: ready when Postgres answers and Stripe accepts our key, Stripe's part being the
//! result of a check made at most every `landing.stripe_check_secs` ([`crate::stripe_check`]):
//! a call against the account's rate limit that fulfillment needs is never made per probe.
//! `/metrics`: the registry, with `dependency_up{dependency="database"}` refreshed at every
//! scrape. `/healthz` is [`shared::http::healthz`].

use std::time::Duration;

use actix_web::{web, HttpResponse};

use crate::state::AppState;

/// A readiness probe must answer well within the orchestrator's own timeout, even while
/// Postgres hangs.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let fulfiller = &state.fulfiller;
    let (database, stripe) = tokio::join!(
        tokio::time::timeout(PROBE_TIMEOUT, shared::store::ping(fulfiller.pool())),
        state.stripe_check.up(),
    );
    let database = database.unwrap_or(false);
    shared::http::readiness(&[("database", database), ("stripe", stripe)])
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let database = tokio::time::timeout(PROBE_TIMEOUT, shared::store::ping(state.fulfiller.pool()))
        .await
        .unwrap_or(false);
    shared::http::record_dependencies(&[("database", database)]);
    shared::http::metrics().await
}
