//! Claims (`shared::store::claims`): callers that reach the same unfulfilled session together
//! (the worker and the success page) ask Stripe once between them, and a claimant that does not
//! finish costs a waiter time, never an order.

use std::time::{Duration, Instant};

use shared::store::{claims, outbox};
use shared::{CheckoutSessionId, Fulfiller, FulfillmentOutcome, Trigger};
use stripe_sim::{Fault, FaultKind, PaymentOutcome, RouteMatch};
use tests::probes::{announcements, fulfilled_orders};
use tests::{completed_session, paid_session, TestStack};

const RETRIEVE: &str = "/v1/checkout/sessions/";

/// Another caller's claim on `id`, made `age` ago, as if it were asking Stripe now.
async fn claim_elsewhere(stack: &TestStack, id: &CheckoutSessionId, age: Duration) {
    sqlx::query(
        "INSERT INTO fulfillment_claims (session_id, account, claimed_at) \
         VALUES ($1, '', clock_timestamp() - make_interval(secs => $2))",
    )
    .bind(id.as_str())
    .bind(age.as_secs_f64())
    .execute(&stack.db.pool)
    .await
    .unwrap();
}

async fn claims_on(stack: &TestStack, id: &CheckoutSessionId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM fulfillment_claims WHERE session_id = $1")
        .bind(id.as_str())
        .fetch_one(&stack.db.pool)
        .await
        .unwrap()
}

fn retrievals(stack: &TestStack) -> u64 {
    stack.sim.state.requests_to(RETRIEVE)
}

fn assert_newly_fulfilled(outcome: &FulfillmentOutcome) {
    assert!(
        matches!(outcome, FulfillmentOutcome::Fulfilled { newly: true, .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn ten_callers_racing_a_slow_stripe_ask_it_once_and_fulfill_once() {
    let stack = TestStack::start().await;
    let id = paid_session(&stack.sim, "Jenny Rosen");
    // Stripe slow enough that every caller arrives while the first is still asking.
    stack.sim.state.inject_fault(Fault {
        route: RouteMatch::new("GET", RETRIEVE),
        kind: FaultKind::Delay(Duration::from_millis(300)),
        count: 0,
    });
    let wait = Duration::from_secs(10);
    let here = stack.fulfiller.clone().waiting_for_claims(wait);
    // Half from a second "process": its own pool.
    let there = Fulfiller::new(stack.db.another_pool(5).await, stack.stripe.clone())
        .waiting_for_claims(wait);

    let calls = (0..10).map(|i| {
        let fulfiller = if i % 2 == 0 { &here } else { &there };
        let trigger = if i % 2 == 0 {
            Trigger::Webhook
        } else {
            Trigger::Landing
        };
        fulfiller.fulfill_checkout(&id, trigger)
    });
    let outcomes = futures::future::join_all(calls).await;

    let mut newly = 0;
    for outcome in outcomes {
        match outcome.expect("every caller succeeds") {
            FulfillmentOutcome::Fulfilled { newly: n, order } => {
                newly += usize::from(n);
                assert_eq!(order.lines.len(), 2, "every caller sees the whole order");
            }
            other => panic!("every caller must be told fulfilled, got {other:?}"),
        }
    }
    assert_eq!(newly, 1);
    assert_eq!(
        retrievals(&stack),
        1,
        "one caller asked Stripe, nine waited"
    );
    assert_eq!(fulfilled_orders(&stack.db.pool, id.as_str()).await, 1);
    assert_eq!(
        announcements(&stack.db.pool, id.as_str(), outbox::ORDER_FULFILLED).await,
        1
    );
}

#[tokio::test]
async fn a_waiter_asks_stripe_itself_as_soon_as_the_claimant_releases() {
    let stack = TestStack::start().await;
    let id = paid_session(&stack.sim, "Jenny Rosen");
    claim_elsewhere(&stack, &id, Duration::ZERO).await;
    let fulfiller = stack
        .fulfiller
        .clone()
        .waiting_for_claims(Duration::from_secs(30));
    let mut waiter = tokio::spawn({
        let id = id.clone();
        async move { fulfiller.fulfill_checkout(&id, Trigger::Landing).await }
    });

    // While the claim is held, the waiter neither finishes nor asks Stripe.
    let early = tokio::time::timeout(Duration::from_millis(300), &mut waiter).await;
    assert!(
        early.is_err(),
        "finished while another caller held the claim: {early:?}"
    );
    assert_eq!(retrievals(&stack), 0);

    claims::release(&stack.db.pool, None, &id).await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter asks Stripe well before its 30 s wait ends")
        .expect("the waiter's task")
        .unwrap();
    assert_newly_fulfilled(&outcome);
    assert_eq!(retrievals(&stack), 1);
}

#[tokio::test]
async fn a_claimant_that_never_finishes_costs_the_waiter_its_wait_not_the_order() {
    let stack = TestStack::start().await;
    let id = paid_session(&stack.sim, "Jenny Rosen");
    // A caller that claimed and died (a killed worker): its claim is never released.
    claim_elsewhere(&stack, &id, Duration::ZERO).await;
    let wait = Duration::from_millis(300);
    let fulfiller = stack.fulfiller.clone().waiting_for_claims(wait);

    let started = Instant::now();
    let outcome = fulfiller
        .fulfill_checkout(&id, Trigger::Landing)
        .await
        .unwrap();
    assert_newly_fulfilled(&outcome);
    assert!(
        started.elapsed() >= wait,
        "it waited for the claimant first"
    );
    assert_eq!(retrievals(&stack), 1);
    assert_eq!(fulfilled_orders(&stack.db.pool, id.as_str()).await, 1);
}

#[tokio::test]
async fn a_claim_older_than_the_wait_is_taken_over_at_once() {
    let stack = TestStack::start().await;
    let id = paid_session(&stack.sim, "Jenny Rosen");
    claim_elsewhere(&stack, &id, Duration::from_secs(3600)).await;
    let fulfiller = stack
        .fulfiller
        .clone()
        .waiting_for_claims(Duration::from_secs(30));

    let outcome = tokio::time::timeout(
        Duration::from_secs(5),
        fulfiller.fulfill_checkout(&id, Trigger::Webhook),
    )
    .await
    .expect("an expired claim is not waited for")
    .unwrap();
    assert_newly_fulfilled(&outcome);
    assert_eq!(retrievals(&stack), 1);
}

#[tokio::test]
async fn a_claimant_that_does_not_fulfill_releases_its_claim() {
    let stack = TestStack::start().await;
    // Unpaid: a delayed payment still processing.
    let unpaid = completed_session(
        &stack.sim,
        &[("price_mug", 1)],
        PaymentOutcome::Unpaid,
        "Ada",
    );
    let outcome = stack
        .fulfiller
        .fulfill_checkout(&unpaid, Trigger::Webhook)
        .await
        .unwrap();
    assert!(
        matches!(outcome, FulfillmentOutcome::AwaitingPayment),
        "{outcome:?}"
    );
    assert_eq!(claims_on(&stack, &unpaid).await, 0);

    // Stripe failing: an error, and no claim left to make the next caller wait.
    let paid = paid_session(&stack.sim, "Jenny Rosen");
    stack.sim.state.inject_fault(Fault {
        route: RouteMatch::new("GET", RETRIEVE),
        kind: FaultKind::Status500,
        count: 0,
    });
    let err = stack
        .fulfiller
        .fulfill_checkout(&paid, Trigger::Webhook)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(claims_on(&stack, &paid).await, 0);

    stack.sim.state.clear_faults();
    let started = Instant::now();
    let outcome = stack
        .fulfiller
        .fulfill_checkout(&paid, Trigger::Webhook)
        .await
        .unwrap();
    assert_newly_fulfilled(&outcome);
    assert!(
        started.elapsed() < stack.settings.stripe.claim_wait(),
        "the retry did not wait for the failed caller's claim"
    );
}

#[tokio::test]
async fn each_fulfillment_purges_claims_older_than_a_minute() {
    let stack = TestStack::start().await;
    let stale: Vec<CheckoutSessionId> = (0..3)
        .map(|_| paid_session(&stack.sim, "Someone Else"))
        .collect();
    for id in &stale {
        claim_elsewhere(&stack, id, Duration::from_secs(claims::RETENTION_SECS + 5)).await;
    }
    let recent = paid_session(&stack.sim, "Ada Lovelace");
    claim_elsewhere(
        &stack,
        &recent,
        Duration::from_secs(claims::RETENTION_SECS - 5),
    )
    .await;

    let id = paid_session(&stack.sim, "Jenny Rosen");
    let outcome = stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap();
    assert_newly_fulfilled(&outcome);
    for old in &stale {
        assert_eq!(
            claims_on(&stack, old).await,
            0,
            "a claim past retention is gone"
        );
    }
    assert_eq!(claims_on(&stack, &recent).await, 1, "a younger claim stays");
}
