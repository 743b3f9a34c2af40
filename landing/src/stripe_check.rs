//! Whether Stripe answers and accepts our key, for `/readyz`: one cheap API call at most every
//! `landing.stripe_check_secs`, whatever the rate of probes.
//!
//! Readiness probes come from orchestrators and load balancers every few seconds, per replica,
//! and `/readyz` is reachable by anyone who reaches the service; a Stripe call per probe would
//! spend the API budget that fulfillment needs (G6). So the result is reused until it is older
//! than the setting, and concurrent probes then share one check.

use std::time::{Duration, Instant};

use shared::stripe::StripeClient;

/// The check itself is bounded well within an orchestrator's probe timeout, even while Stripe
/// hangs and our client is still retrying.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub struct StripeCheck {
    stripe: StripeClient,
    max_age: Duration,
    /// When Stripe was last checked, and whether it answered. A tokio mutex, held across the
    /// check (at most [`CHECK_TIMEOUT`]), so that probes arriving meanwhile wait for that one
    /// check instead of each making its own.
    last: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

impl std::fmt::Debug for StripeCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeCheck")
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl StripeCheck {
    pub fn new(stripe: StripeClient, max_age: Duration) -> Self {
        Self {
            stripe,
            max_age,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The last result while it is fresh, else a new check's.
    pub async fn up(&self) -> bool {
        let mut last = self.last.lock().await;
        if let Some((checked, up)) = *last {
            if checked.elapsed() < self.max_age {
                return up;
            }
        }
        let up = match tokio::time::timeout(CHECK_TIMEOUT, self.stripe.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %shared::errors::error_chain(&e), "readiness: Stripe is not reachable");
                false
            }
            Err(_) => {
                tracing::warn!("readiness: Stripe did not answer in time");
                false
            }
        };
        *last = Some((Instant::now(), up));
        up
    }
}
