//! The reconciler: sessions whose webhooks never arrived are fulfilled from Stripe's event list,
//! by exactly one leader, from a cursor that never skips a failure.

use std::time::Duration;

use shared::store::cursors;
use stripe_sim::{Fault, FaultKind, PaymentOutcome, RouteMatch};
use tests::probes::{event_outcome, fulfillment_effects, order_state, wait_for_state};
use tests::worker_support::*;
use tests::{eventually, TestStack};
use worker::reconciler::{Reconciler, ReconcilerOptions, EVENT_RETENTION_SECS};
use worker::Processor;

fn reconciler(stack: &TestStack, overlap: Duration) -> Reconciler {
    Reconciler::new(
        Processor::new(stack.fulfiller.clone(), 2),
        ReconcilerOptions {
            database: shared::store::connect_options(&stack.settings.database).unwrap(),
            interval: Duration::from_secs(1),
            overlap,
            concurrency: 4,
            accounts: Vec::new(),
        },
    )
}

async fn fulfilled_by(stack: &TestStack, session_id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT fulfilled_by FROM checkout_orders WHERE session_id = $1")
        .bind(session_id)
        .fetch_optional(&stack.db.pool)
        .await
        .unwrap()
        .flatten()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn paid_sessions_whose_events_never_arrived_are_fulfilled_by_the_sweep_and_a_second_sweep_changes_nothing(
) {
    let stack = TestStack::start().await;
    let paid: Vec<String> = (0..3).map(|_| paid_session(&stack.sim.state).0).collect();
    let (delayed, _) = delayed_session(&stack.sim.state);
    let expired = open_session(&stack.sim.state);
    stack.sim.state.expire_session(&expired).unwrap();

    // No event is ever published: the webhooks were lost.
    let worker = start_worker(&stack, |s| s.worker.reconcile_interval_secs = 1).await;

    for id in &paid {
        assert!(
            wait_for_state(&stack.db.pool, id, "fulfilled").await,
            "{id}"
        );
        assert_eq!(
            fulfilled_by(&stack, id).await.as_deref(),
            Some("reconciler")
        );
    }
    assert!(wait_for_state(&stack.db.pool, &delayed, "awaiting_payment").await);
    assert!(wait_for_state(&stack.db.pool, &expired, "expired").await);
    worker.shutdown().await;

    let second = reconciler(&stack, Duration::from_secs(300))
        .sweep()
        .await
        .unwrap();

    assert_eq!(second.listed, 5);
    assert_eq!(second.count("skipped"), 5, "{second}");
    assert_eq!(second.count("fulfilled"), 0);
    for id in &paid {
        assert_eq!(fulfillment_effects(&stack.db.pool, id).await, (1, 1, 1));
    }
}

#[tokio::test]
async fn two_workers_elect_exactly_one_leader_and_the_other_takes_over_when_it_stops() {
    let stack = TestStack::start().await;
    let reconciling = |s: &mut shared::Settings| s.worker.reconcile_interval_secs = 1;
    let a = start_worker(&stack, reconciling).await;
    let b = start_worker(&stack, reconciling).await;

    let elected = eventually(WAIT, || async {
        (a.is_leader() || b.is_leader()).then_some(())
    })
    .await;
    assert!(elected.is_some(), "someone leads");
    assert!(a.is_leader() != b.is_leader(), "exactly one leads");

    let (leader, standby) = if a.is_leader() { (a, b) } else { (b, a) };
    leader.shutdown().await;
    let took_over = eventually(WAIT, || async { standby.is_leader().then_some(()) }).await;
    assert!(took_over.is_some(), "the standby takes over");

    // The new leader sweeps too.
    let (id, _) = paid_session(&stack.sim.state);
    assert!(wait_for_state(&stack.db.pool, &id, "fulfilled").await);
    standby.shutdown().await;
}

#[tokio::test]
async fn the_cursor_waits_for_an_event_whose_processing_failed() {
    let stack = TestStack::start().await;
    let reconciler = reconciler(&stack, Duration::ZERO);
    // The event was created 100 s ago; the last sweep got to 200 s ago.
    stack.sim.state.set_clock_offset(-100);
    let (id, _) = paid_session(&stack.sim.state);
    stack.sim.state.set_clock_offset(0);
    cursors::set(&stack.db.pool, cursors::RECONCILER, now() - 200)
        .await
        .unwrap();
    stack.sim.state.inject_fault(Fault {
        route: RouteMatch::new("GET", &format!("/v1/checkout/sessions/{id}")),
        kind: FaultKind::Status500,
        count: 0,
    });

    let first = reconciler.sweep().await.unwrap();
    assert_eq!(first.failed, 1, "{first}");
    assert_eq!(order_state(&stack.db.pool, &id).await, None);

    stack.sim.state.clear_faults();
    let second = reconciler.sweep().await.unwrap();

    assert_eq!(second.count("fulfilled"), 1, "{second}");
    assert!(wait_for_state(&stack.db.pool, &id, "fulfilled").await);
    let third = reconciler.sweep().await.unwrap();
    assert_eq!(
        (third.listed, third.count("skipped")),
        (1, 1),
        "the cursor stays at the newest event, which is listed again only as settled: {third}"
    );
}

#[tokio::test]
async fn the_cursor_follows_stripes_clock_so_a_worker_clock_ahead_of_it_skips_no_event() {
    let stack = TestStack::start().await;
    let reconciler = reconciler(&stack, Duration::from_secs(300));
    // Stripe's clock an hour behind this worker's: this worker's clock is an hour fast.
    stack.sim.state.set_clock_offset(-3600);
    cursors::set(
        &stack.db.pool,
        cursors::RECONCILER,
        stack.sim.state.now() - 600,
    )
    .await
    .unwrap();
    let (_, event) = paid_session(&stack.sim.state);

    let first = reconciler.sweep().await.unwrap();
    assert_eq!(first.count("fulfilled"), 1, "{first}");
    let after_first = cursors::get(&stack.db.pool, cursors::RECONCILER)
        .await
        .unwrap();
    // Created after that sweep, by Stripe's clock.
    let (later, later_event) = paid_session(&stack.sim.state);
    let second = reconciler.sweep().await.unwrap();

    assert_eq!(
        second.count("fulfilled"),
        1,
        "the event created since the last sweep is listed: {second}"
    );
    assert_eq!(
        order_state(&stack.db.pool, &later).await.as_deref(),
        Some("fulfilled")
    );
    assert_eq!(
        after_first,
        event["created"].as_i64(),
        "the cursor is the newest listed event's `created`, not this worker's clock"
    );
    assert_eq!(
        cursors::get(&stack.db.pool, cursors::RECONCILER)
            .await
            .unwrap(),
        later_event["created"].as_i64()
    );
}

#[tokio::test]
async fn a_listing_longer_than_one_page_is_processed_in_full() {
    let stack = TestStack::start().await;
    stack.sim.state.set_clock_offset(-120);
    let paid: Vec<(String, serde_json::Value)> =
        (0..130).map(|_| paid_session(&stack.sim.state)).collect();
    stack.sim.state.set_clock_offset(0);
    cursors::set(&stack.db.pool, cursors::RECONCILER, now() - 600)
        .await
        .unwrap();

    let report = reconciler(&stack, Duration::from_secs(60))
        .sweep()
        .await
        .unwrap();

    assert_eq!(report.listed, 130, "{report}");
    assert_eq!(report.count("fulfilled"), 130, "{report}");
    assert_eq!(
        stack.sim.state.requests_to("/v1/events"),
        2,
        "Stripe's pages hold 100 events"
    );
    for (id, _) in &paid {
        assert_eq!(
            order_state(&stack.db.pool, id).await.as_deref(),
            Some("fulfilled")
        );
    }
    let newest = paid.iter().filter_map(|(_, e)| e["created"].as_i64()).max();
    assert_eq!(
        cursors::get(&stack.db.pool, cursors::RECONCILER)
            .await
            .unwrap(),
        newest
    );
}

/// A paid session whose customer typed a NUL character into the name field: Postgres text
/// cannot hold one, so the order can never be written, however often it is tried.
fn paid_session_postgres_refuses(sim: &stripe_sim::SimState) -> (String, serde_json::Value) {
    let id = open_session(sim);
    let customer = stripe_sim::Customer {
        name: "Jenny\u{0}Rosen".into(),
        email: "jenny@example.com".into(),
        shipping: None,
    };
    let event = sim
        .complete_session(&id, PaymentOutcome::Paid, customer)
        .unwrap();
    (id, event)
}

#[tokio::test]
async fn an_event_the_database_refuses_for_good_is_reported_failed_and_the_cursor_moves_past_it() {
    let stack = TestStack::start().await;
    let reconciler = reconciler(&stack, Duration::ZERO);
    stack.sim.state.set_clock_offset(-100);
    let (refused, refused_event) = paid_session_postgres_refuses(&stack.sim.state);
    stack.sim.state.set_clock_offset(-50);
    let (healthy, healthy_event) = paid_session(&stack.sim.state);
    stack.sim.state.set_clock_offset(0);
    cursors::set(&stack.db.pool, cursors::RECONCILER, now() - 200)
        .await
        .unwrap();

    let report = reconciler.sweep().await.unwrap();

    assert_eq!(report.count("fulfilled"), 1, "{report}");
    assert_eq!(report.count("failed"), 1, "{report}");
    assert_eq!(
        order_state(&stack.db.pool, &healthy).await.as_deref(),
        Some("fulfilled")
    );
    assert_eq!(
        cursors::get(&stack.db.pool, cursors::RECONCILER)
            .await
            .unwrap(),
        healthy_event["created"].as_i64(),
        "the cursor does not wait for an event that can never be recorded"
    );
    assert_eq!(
        event_outcome(&stack.db.pool, refused_event["id"].as_str().unwrap())
            .await
            .as_deref(),
        Some("dead")
    );
    let shown = worker::show::render(
        &stack.db.pool,
        None,
        &shared::CheckoutSessionId::parse(&refused).unwrap(),
    )
    .await
    .unwrap()
    .expect("the session is known");
    assert!(
        shown.contains("outcome=dead") && shown.contains("0x00"),
        "`worker show` says what went wrong:\n{shown}"
    );
    let next = reconciler.sweep().await.unwrap();
    assert_eq!(next.count("failed"), 0, "not tried again: {next}");
}

/// Pretends the reconciler last caught up an hour ago.
async fn caught_up_an_hour_ago(stack: &TestStack) {
    sqlx::query("UPDATE sweep_cursors SET updated_at = now() - interval '1 hour' WHERE name = $1")
        .bind(cursors::RECONCILER)
        .execute(&stack.db.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_reconciler_lag_grows_while_a_failure_holds_the_cursor_not_while_stripe_is_quiet() {
    let stack = TestStack::start().await;
    let reconciler = reconciler(&stack, Duration::ZERO);
    let position = now() - 3600;
    cursors::set(&stack.db.pool, cursors::RECONCILER, position)
        .await
        .unwrap();
    caught_up_an_hour_ago(&stack).await;

    // No event for an hour: a quiet shop, nothing behind.
    let quiet = reconciler.sweep().await.unwrap();
    assert_eq!(quiet.listed, 0, "{quiet}");
    assert!(worker::metrics::RECONCILER_LAG_SECONDS.get() < 60.0);
    assert_eq!(
        cursors::get(&stack.db.pool, cursors::RECONCILER)
            .await
            .unwrap(),
        Some(position),
        "no event, no move"
    );

    let (id, _) = paid_session(&stack.sim.state);
    stack.sim.state.inject_fault(Fault {
        route: RouteMatch::new("GET", &format!("/v1/checkout/sessions/{id}")),
        kind: FaultKind::Status500,
        count: 0,
    });
    caught_up_an_hour_ago(&stack).await;
    let held = reconciler.sweep().await.unwrap();
    assert_eq!(held.failed, 1, "{held}");
    assert!(worker::metrics::RECONCILER_LAG_SECONDS.get() >= 3600.0);
}

#[tokio::test]
async fn a_one_shot_reconcile_covers_exactly_the_given_range() {
    let stack = TestStack::start().await;
    stack.sim.state.set_clock_offset(-2 * 24 * 3600);
    let (old, _) = paid_session(&stack.sim.state);
    stack.sim.state.set_clock_offset(0);
    let (recent, _) = paid_session(&stack.sim.state);

    let report = reconciler(&stack, Duration::from_secs(300))
        .reconcile_range(now() - 3 * 24 * 3600, Some(now() - 24 * 3600))
        .await
        .unwrap();

    assert_eq!(report.listed, 1, "{report}");
    assert_eq!(report.count("fulfilled"), 1);
    assert_eq!(
        order_state(&stack.db.pool, &old).await.as_deref(),
        Some("fulfilled")
    );
    assert_eq!(order_state(&stack.db.pool, &recent).await, None);
    assert_eq!(
        cursors::get(&stack.db.pool, cursors::RECONCILER)
            .await
            .unwrap(),
        None,
        "a one-shot range leaves the leader's cursor alone"
    );
}

#[tokio::test]
async fn a_sweep_never_reaches_back_beyond_stripes_30_day_retention() {
    let stack = TestStack::start().await;
    cursors::set(&stack.db.pool, cursors::RECONCILER, now() - 40 * 24 * 3600)
        .await
        .unwrap();
    let (id, _) = paid_session(&stack.sim.state);

    let report = reconciler(&stack, Duration::from_secs(300))
        .sweep()
        .await
        .unwrap();

    assert!(report.since >= now() - EVENT_RETENTION_SECS, "{report}");
    assert_eq!(report.count("fulfilled"), 1);
    assert_eq!(
        order_state(&stack.db.pool, &id).await.as_deref(),
        Some("fulfilled")
    );
    let cursor = cursors::get(&stack.db.pool, cursors::RECONCILER)
        .await
        .unwrap()
        .unwrap();
    assert!(
        cursor >= now() - 5,
        "the cursor moved up to the newest event"
    );
}

#[tokio::test]
async fn a_failing_event_list_leaves_the_cursor_where_it_was() {
    let stack = TestStack::start().await;
    let before = now() - 600;
    cursors::set(&stack.db.pool, cursors::RECONCILER, before)
        .await
        .unwrap();
    stack.sim.state.inject_fault(Fault {
        route: RouteMatch::new("GET", "/v1/events"),
        kind: FaultKind::Status500,
        count: 0,
    });
    let id = open_session(&stack.sim.state);
    stack
        .sim
        .state
        .complete_session(&id, PaymentOutcome::Paid, customer())
        .unwrap();

    let result = reconciler(&stack, Duration::from_secs(60)).sweep().await;

    assert!(result.is_err());
    assert_eq!(
        cursors::get(&stack.db.pool, cursors::RECONCILER)
            .await
            .unwrap(),
        Some(before)
    );
    assert_eq!(order_state(&stack.db.pool, &id).await, None);
}

/// A session for two T-shirts on connected account `account`, paid by card, its webhook lost.
fn paid_session_on(sim: &stripe_sim::SimState, account: &str) -> String {
    let session = sim
        .create_session(stripe_sim::CreateSession {
            line_items: vec![stripe_sim::LineItemParams::catalog("price_tshirt", 2)],
            success_url: Some("http://shop.test/ok?session_id={CHECKOUT_SESSION_ID}".into()),
            account: Some(account.into()),
            ..stripe_sim::CreateSession::default()
        })
        .unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    sim.complete_session(&id, PaymentOutcome::Paid, customer())
        .unwrap();
    id
}

async fn order_account(stack: &TestStack, session_id: &str) -> Option<(String, Option<String>)> {
    sqlx::query_as("SELECT account, fulfilled_by FROM checkout_orders WHERE session_id = $1")
        .bind(session_id)
        .fetch_optional(&stack.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn connected_accounts_sessions_whose_webhooks_were_lost_are_fulfilled_under_their_accounts() {
    use shared::{AccountId, CheckoutSessionId, Trigger};
    const CONFIGURED: &str = "acct_1ShopAlpha";
    const KNOWN: &str = "acct_1ShopBravo";
    const UNKNOWN: &str = "acct_1ShopCharlie";
    let stack = TestStack::start().await;
    // Bravo is known here from an earlier order; Alpha only from the setting; Charlie not at all.
    let earlier = paid_session_on(&stack.sim.state, KNOWN);
    stack
        .fulfiller
        .fulfill_checkout_on(
            Some(&AccountId::parse(KNOWN).unwrap()),
            &CheckoutSessionId::parse(&earlier).unwrap(),
            Trigger::Landing,
        )
        .await
        .unwrap();
    let configured = paid_session_on(&stack.sim.state, CONFIGURED);
    let known = paid_session_on(&stack.sim.state, KNOWN);
    let unknown = paid_session_on(&stack.sim.state, UNKNOWN);

    let worker = start_worker(&stack, |s| {
        s.worker.reconcile_interval_secs = 1;
        s.worker.reconcile_accounts = vec![CONFIGURED.into()];
    })
    .await;
    assert!(wait_for_state(&stack.db.pool, &configured, "fulfilled").await);
    assert!(wait_for_state(&stack.db.pool, &known, "fulfilled").await);
    // An account's cursor is written when its sweep ends, after the orders it fulfilled are
    // visible; a stop before that drops the sweep and leaves the cursor for the next leader.
    for account in [CONFIGURED, KNOWN] {
        let name = cursors::reconciler(Some(&AccountId::parse(account).unwrap()));
        let cursor = eventually(Duration::from_secs(10), || async {
            cursors::get(&stack.db.pool, &name).await.unwrap()
        })
        .await;
        assert!(cursor.is_some(), "{account} has its own cursor");
    }
    worker.shutdown().await;

    for (id, account) in [(&configured, CONFIGURED), (&known, KNOWN)] {
        assert_eq!(
            order_account(&stack, id).await,
            Some((account.to_owned(), Some("reconciler".to_owned()))),
            "{id}"
        );
    }
    // The sweep that fulfilled them read every account it knew of; Charlie's events are not in
    // the platform's list, so nothing fulfilled its session.
    assert_eq!(order_account(&stack, &unknown).await, None);

    // An operator reconciles Charlie's range by hand, under its account.
    let report = reconciler(&stack, Duration::from_secs(300))
        .reconcile_range_on(Some(&AccountId::parse(UNKNOWN).unwrap()), now() - 600, None)
        .await
        .unwrap();
    assert_eq!(report.count("fulfilled"), 1, "{report}");
    assert_eq!(
        order_account(&stack, &unknown).await,
        Some((UNKNOWN.to_owned(), Some("reconciler".to_owned())))
    );
}
