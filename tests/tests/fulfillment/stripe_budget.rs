//! G6 across the deployment: Stripe limits the account, not a process. Three workers built from
//! the same settings, as three replicas would be, fulfil a backlog against a simulator that
//! limits the account to Stripe's test-mode 25 requests per second; the budget the settings
//! declare (`stripe.rate_limit_per_sec`, shared by `stripe.processes`) holds for all of them
//! together, so "Stripe" never has to turn one away.

use std::time::Duration;

use shared::Settings;
use tests::probes::fulfillment_effects;
use tests::worker_support::{paid_session, publish_event, publisher, start_worker};
use tests::{eventually, start_rate_limited_sim, TestStack};

/// Stripe's limit in test mode, requests per second for the whole account.
const ACCOUNT_LIMIT: u32 = 25;
/// A backlog several seconds long at the budget, so the limit is met many times over.
const SESSIONS: usize = 100;
/// The deployment: three workers sharing the default budget of 20 per second.
fn deployment(settings: &mut Settings) {
    settings.stripe.rate_limit_per_sec = 20;
    settings.stripe.processes = 3;
    // Stripe's own backoff, so that a 429 (if any) is retried as in production.
    settings.stripe.retry_base_ms = 250;
    settings.stripe.retry_max_ms = 4000;
    // Three workers' pools must leave Postgres connections for the tests running beside this one;
    // a worker's pool covers its prefetch plus the outbox relay and ops endpoints.
    settings.database.max_connections = 5;
    settings.worker.prefetch = 3;
}

// Several threads: the three workers, like three processes, must not take turns on one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_workers_fulfilling_a_backlog_stay_within_the_accounts_rate_limit() {
    let stack = TestStack::start_on(start_rate_limited_sim(ACCOUNT_LIMIT).await, deployment).await;
    let channel = publisher(&stack).await;
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let (id, event) = paid_session(&stack.sim.state);
        publish_event(&stack, &channel, &event).await;
        sessions.push(id);
    }

    let workers = futures::future::join_all((0..3).map(|_| start_worker(&stack, deployment))).await;
    // 100 retrievals at 20 per second take five seconds; the rest is slack for a loaded machine.
    let fulfilled = eventually(Duration::from_secs(40), || async {
        let done = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM checkout_orders WHERE state = 'fulfilled'",
        )
        .fetch_one(&stack.db.pool)
        .await
        .expect("count the orders");
        (done == SESSIONS as i64).then_some(())
    })
    .await;
    let rate_limited = stack.sim.state.rate_limited_count();
    let retrievals = stack.sim.state.requests_to("/v1/checkout/sessions/");

    // Each worker's share is one request every 150 ms, so in any one second it sends at most 7
    // (ceil(20 / 3)) and the three at most 21: four under the account's 25, room for requests
    // that a busy machine delivers a little late and bunched. No 429 at all is the bound.
    assert_eq!(
        rate_limited, 0,
        "the simulator answered {rate_limited} of {retrievals} session retrievals with 429: the \
         workers together went over the account's {ACCOUNT_LIMIT} requests per second"
    );
    assert!(fulfilled.is_some(), "every order is fulfilled");
    for id in &sessions {
        assert_eq!(
            fulfillment_effects(&stack.db.pool, id).await,
            (1, 1, 1),
            "{id} is fulfilled once: one order, its line item, one announcement"
        );
    }
    assert_eq!(retrievals, SESSIONS as u64, "one retrieval per session");
    for worker in workers {
        worker.shutdown().await;
    }
}
