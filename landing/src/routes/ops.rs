//! `/readyz`: ready when Postgres answers and Stripe accepts our key. `/metrics`: the registry,
//! with `dependency_up{dependency="database"}` refreshed at every scrape — not Stripe's, whose
//! probe is a call against the account's rate limit that fulfillment needs (`/readyz` alone
//! asks Stripe). `/healthz` is [`shared::http::healthz`].

use std::time::Duration;

use actix_web::{web, HttpResponse};

use crate::startup::AppState;

/// A readiness probe must answer well within the orchestrator's own timeout, even while Stripe
/// hangs and our client is still retrying.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let fulfiller = &state.fulfiller;
    let (database, stripe) = tokio::join!(
        tokio::time::timeout(PROBE_TIMEOUT, shared::store::ping(fulfiller.pool())),
        tokio::time::timeout(PROBE_TIMEOUT, fulfiller.stripe().ping()),
    );
    let database = database.unwrap_or(false);
    let stripe = match stripe {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: Stripe is not reachable");
            false
        }
        Err(_) => false,
    };
    shared::http::readiness(&[("database", database), ("stripe", stripe)])
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let database = tokio::time::timeout(PROBE_TIMEOUT, shared::store::ping(state.fulfiller.pool()))
        .await
        .unwrap_or(false);
    shared::http::record_dependencies(&[("database", database)]);
    shared::http::metrics().await
}
