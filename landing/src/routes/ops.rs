//! `/readyz`: ready when Postgres answers and Stripe accepts our key. (`/healthz` and `/metrics`
//! come from [`shared::http`].)

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
