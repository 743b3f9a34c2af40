//! This process's share of the deployment's Stripe budget (G6).
//!
//! Stripe rate-limits the account (25 requests per second in test mode, 100 live), whichever
//! process sends the requests. `stripe.rate_limit_per_sec` is therefore the budget of the whole
//! deployment, and `stripe.processes` declares how many processes call Stripe (every worker and
//! every landing replica). Each process takes an equal share and paces it evenly: one request
//! every `processes / rate_limit_per_sec` seconds, without a burst. A burst allowance would let
//! every process spend it in the same second (three workers starting on a backlog), which is
//! exactly how a deployment overruns the account; without one, any one second holds at most
//! `ceil(share)` requests per process, so the deployment never exceeds the budget by more than
//! one request per process.
//!
//! A declared share rather than a bucket in Postgres: no round trip to the database before every
//! Stripe call and no single row that every process contends for; and a guaranteed share per
//! process, so that a flood on landing's public pages spends landing's part while the workers
//! keep theirs. The cost is that the count must follow the replicas (an idle process's share is
//! not lent to the others); every process reports its share and the budget as gauges, and an
//! alert fires when the shares add up to more than the budget.
//!
//! Retries pass through the budget too: a retried call is one more request to Stripe.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::metrics;
use crate::settings::StripeSettings;

/// Paces this process's Stripe requests to its share of the deployment's budget.
#[derive(Debug)]
pub struct RequestBudget {
    limiter: DefaultDirectRateLimiter,
}

impl RequestBudget {
    pub fn new(settings: &StripeSettings) -> Self {
        let interval = request_interval(settings);
        metrics::STRIPE_BUDGET.set(f64::from(settings.rate_limit_per_sec));
        metrics::STRIPE_SHARE.set(share_per_sec(settings));
        tracing::info!(
            budget_per_sec = settings.rate_limit_per_sec,
            processes = settings.processes,
            share_per_sec = share_per_sec(settings),
            "Stripe budget: this process sends one request every {interval:?} at most"
        );
        // A quota of one cell per interval; `with_period` allows a burst of one, i.e. none.
        let quota = Quota::with_period(interval).unwrap_or_else(|| Quota::per_second(MAX_RATE));
        RequestBudget {
            limiter: RateLimiter::direct(quota),
        }
    }

    /// Waits until this process may send its next request to Stripe.
    pub async fn acquire(&self) {
        self.limiter.until_ready().await;
    }
}

/// Requests per second this process may send.
pub fn share_per_sec(settings: &StripeSettings) -> f64 {
    f64::from(settings.rate_limit_per_sec) / f64::from(settings.processes.max(1))
}

/// The spacing between two of this process's requests.
pub fn request_interval(settings: &StripeSettings) -> Duration {
    Duration::from_secs_f64(1.0 / share_per_sec(settings))
}

/// Only for an interval that rounds to zero (an absurd budget): as fast as a quota can go.
const MAX_RATE: NonZeroU32 = NonZeroU32::MAX;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn stripe(budget: &str, processes: &str) -> StripeSettings {
        Settings::load_from(
            crate::settings::Uses::COMMON,
            [
                (
                    "APP_STRIPE__RATE_LIMIT_PER_SEC".to_owned(),
                    budget.to_owned(),
                ),
                ("APP_STRIPE__PROCESSES".to_owned(), processes.to_owned()),
            ],
        )
        .expect("valid settings")
        .stripe
    }

    #[test]
    fn one_process_takes_the_whole_budget() {
        let settings = stripe("20", "1");
        assert_eq!(share_per_sec(&settings), 20.0);
        assert_eq!(request_interval(&settings), Duration::from_millis(50));
    }

    #[test]
    fn processes_divide_the_budget_evenly_even_when_it_does_not_divide() {
        let settings = stripe("20", "5");
        assert_eq!(share_per_sec(&settings), 4.0);
        assert_eq!(request_interval(&settings), Duration::from_millis(250));
        let thirds = request_interval(&stripe("20", "3"));
        assert!(
            thirds.abs_diff(Duration::from_millis(150)) < Duration::from_micros(1),
            "{thirds:?}"
        );
        // More processes than requests per second: each waits more than a second.
        assert_eq!(
            request_interval(&stripe("25", "50")),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn no_process_may_burst_past_its_share() {
        let budget = RequestBudget::new(&stripe("20", "4"));
        assert!(
            budget.limiter.check().is_ok(),
            "the first request goes at once"
        );
        assert!(
            budget.limiter.check().is_err(),
            "the second waits its 200 ms, however long the process was idle"
        );
    }
}
