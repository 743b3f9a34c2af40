//! Pay click → success page rendered, with the whole stack (stripe-sim with signed webhooks,
//! ingress, worker, landing, real Postgres and RabbitMQ) in one process:
//!
//! ```sh
//! cargo run --release -p bench --bin checkout-bench -- [RUNS] [CLAIM_WAIT_MS]
//! ```
//!
//! Each run creates an open session, then times what the customer waits for: submitting the
//! hosted payment form (the simulator completes the session, delivers the signed webhook and
//! holds the redirect until ingress has acknowledged it) and loading the success page it
//! redirects to (landing's synchronous `fulfill_checkout` racing the worker). The baseline,
//! measured in the same run, is a success page for an order already fulfilled (render only).
//! `CLAIM_WAIT_MS` is `stripe.claim_wait_ms` (its default unless given): 0 makes the worker and
//! the page each ask Stripe, as they did before claims, for an A/B in one sitting.

use std::time::{Duration, Instant};

use bench::report_latency;
use hdrhistogram::Histogram;
use tests::stack::Stack;

const PAYMENT_FORM: &[(&str, &str)] = &[
    ("email", "jenny.rosen@example.com"),
    ("cardholder-name", "Jenny Rosen"),
    ("payment-method", "card"),
    ("card-number", "4242 4242 4242 4242"),
    ("card-expiry", "12/34"),
    ("card-cvc", "123"),
    ("billing-postal-code", "90210"),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(200);
    let claim_wait_ms: Option<u64> = std::env::args().nth(2).map(|n| n.parse()).transpose()?;
    // One client makes every request: lift the per-client rate limit of the success page.
    let stack = Stack::start_with(|s| {
        s.landing.success_rate_per_minute = 1_000_000;
        if let Some(ms) = claim_wait_ms {
            s.stripe.claim_wait_ms = ms;
        }
    })
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let success_url = format!(
        "{}/order/success?session_id={{CHECKOUT_SESSION_ID}}",
        stack.shop
    );

    let mut pay_to_page = Histogram::<u64>::new(3)?;
    let mut pay_only = Histogram::<u64>::new(3)?;
    let mut rendered_only = Histogram::<u64>::new(3)?;
    let mut last_success_page = String::new();
    for run in 0..runs {
        let session = stack.sim.state.create_session(stripe_sim::CreateSession {
            line_items: vec![stripe_sim::LineItemParams::catalog("price_tshirt", 2)],
            success_url: Some(success_url.clone()),
            cancel_url: Some(format!("{}/order/cancel", stack.shop)),
            ..Default::default()
        })?;
        let pay_url = session["url"]
            .as_str()
            .expect("a session has a url")
            .to_owned();

        let clicked = Instant::now();
        let paid = http.post(&pay_url).form(PAYMENT_FORM).send().await?;
        anyhow::ensure!(
            paid.status() == 303,
            "run {run}: payment answered {}",
            paid.status()
        );
        pay_only.record(clicked.elapsed().as_micros() as u64)?;
        let location = paid.headers()["location"].to_str()?.to_owned();
        let page = http.get(&location).send().await?;
        let status = page.status();
        let body = page.text().await?;
        pay_to_page.record(clicked.elapsed().as_micros() as u64)?;
        anyhow::ensure!(
            status == 200 && body.contains("Thanks for your order, Jenny Rosen!"),
            "run {run}: the success page answered {status}"
        );

        // Baseline: the same page again, now only a render from Postgres.
        let started = Instant::now();
        let again = http.get(&location).send().await?.text().await?;
        rendered_only.record(started.elapsed().as_micros() as u64)?;
        last_success_page = again;
    }
    anyhow::ensure!(last_success_page.contains("Thanks for your order"));

    println!(
        "{runs} checkouts, whole stack in one process on {} CPUs, stripe.claim_wait_ms = {}",
        num_cpus(),
        stack.settings.stripe.claim_wait_ms
    );
    report_latency("baseline: fulfilled page render", &rendered_only);
    report_latency("pay click -> 303 (webhook acked)", &pay_only);
    report_latency("pay click -> success page", &pay_to_page);
    println!(
        "ratio p50 pay->page / baseline: {:.1}x",
        pay_to_page.value_at_quantile(0.5) as f64
            / rendered_only.value_at_quantile(0.5).max(1) as f64
    );
    let orders: i64 =
        sqlx::query_scalar("SELECT count(*) FROM checkout_orders WHERE state = 'fulfilled'")
            .fetch_one(&stack.db.pool)
            .await?;
    println!("fulfilled orders: {orders} (expected {runs})");
    // Every retrieval the worker and the success page made between them (sessions are created
    // on the simulator directly, not through the API): what racing the webhook costs in
    // Stripe calls.
    let retrievals = stack.sim.state.requests_to("/v1/checkout/sessions");
    println!(
        "Stripe API calls: {} in all, {retrievals} session retrievals = {:.2} per fulfilled order",
        stack.sim.state.request_count(),
        retrievals as f64 / orders.max(1) as f64
    );
    tokio::time::timeout(Duration::from_secs(20), stack.stop())
        .await
        .ok();
    Ok(())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
