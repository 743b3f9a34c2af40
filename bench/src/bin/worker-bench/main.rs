//! The worker benchmark (how to run and read it: `benchmarks/worker.md`, `bench/worker.sh`).
//!
//! - `ceiling`: the fulfillment's database work alone, driven straight at Postgres with the
//!   same statements the worker issues per event (audit and stored-order read with the claim,
//!   the one statement writing lock + order + lines + outbox, audit write) and no Stripe, no
//!   broker. The
//!   number the pipeline is compared with.
//! - `pipeline`: stripe-sim in this process (no artificial latency, no rate limit), N paid
//!   sessions, W worker processes (the release binary) consuming, and N `completed` events
//!   published to `checkout.events` the way the ingress does. Either as fast as possible
//!   (saturation: fulfillments/s) or paced at a fixed rate (latency from publish to the
//!   fulfillment transaction, p50/p99). Reports each worker's peak RSS, and the CPU each part
//!   spent per fulfillment ([`cpu`]). With `--stripe-limit`, the simulator limits requests per
//!   second as Stripe does, and the drain is reported against its ideal time.
//!
//! Every run uses its own database ([`tests::TestDb`]) and broker prefix ([`tests::TestBroker`])
//! and removes both at the end. Bounded: every wait has a deadline.

use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod cpu;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use futures::future::join_all;
use futures::StreamExt;
use hdrhistogram::Histogram;
use lapin::options::{ConfirmSelectOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use shared::queue::{publish_confirmed, OutgoingMessage};
use shared::store::events::EventKey;
use shared::store::{fulfilled, orders};
use shared::stripe::CheckoutSession;
use shared::{CheckoutSessionId, Trigger};
use sqlx::PgPool;
use stripe_sim::{CreateSession, Customer, LineItemParams, PaymentOutcome};
use tests::{TestBroker, TestDb};

#[derive(Debug, Parser)]
struct Cli {
    /// Postgres server (a database is created on it for the run and dropped after); by default
    /// the test harness's, `TEST_DATABASE_URL` or the local one.
    #[arg(long, default_value_t = tests::admin_database_url())]
    database: String,
    /// RabbitMQ (a topology is declared on it under a prefix of its own and deleted after); by
    /// default the test harness's, `TEST_AMQP_URL` or the local one.
    #[arg(long, default_value_t = tests::amqp_url())]
    amqp: String,
    #[command(subcommand)]
    command: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// The database ceiling: the fulfillment transaction shape without Stripe or the broker.
    Ceiling {
        #[arg(long, default_value_t = 20_000)]
        sessions: usize,
        /// Concurrent fulfillments (and pool size).
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// The full pipeline through W worker processes.
    Pipeline {
        #[arg(long, default_value_t = 10_000)]
        sessions: usize,
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Events per second, paced; 0 publishes as fast as the broker confirms (saturation).
        #[arg(long, default_value_t = 0)]
        rate: u32,
        /// The worker binary.
        #[arg(long, default_value = "target/release/worker")]
        worker_bin: String,
        /// Worker prefetch (= concurrent deliveries per worker).
        #[arg(long, default_value_t = 64)]
        prefetch: u16,
        /// Worker pool size per process; 0: sized by the worker from its prefetch.
        #[arg(long, default_value_t = 0)]
        pool: u32,
        /// Stripe's limit, requests per second, enforced by the simulator as Stripe limits an
        /// account (live mode: 100); the workers' budget (`stripe.rate_limit_per_sec`, shared
        /// by `stripe.processes`) is set to it. Reports the drain against the ideal time.
        #[arg(long)]
        stripe_limit: Option<u32>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let db = TestDb::create_on(&cli.database).await;
    let result = match cli.command {
        Mode::Ceiling {
            sessions,
            concurrency,
        } => ceiling(&db, sessions, concurrency).await,
        Mode::Pipeline {
            sessions,
            workers,
            rate,
            ref worker_bin,
            prefetch,
            pool,
            stripe_limit,
        } => {
            let run = PipelineRun {
                sessions,
                workers,
                rate,
                worker_bin: worker_bin.clone(),
                prefetch,
                pool,
                stripe_limit,
            };
            pipeline(&db, &cli.amqp, &run).await
        }
    };
    drop(db);
    result
}

/// A paid session as Stripe returns it with `expand[]=line_items`: one line, like the
/// pipeline's sessions.
fn paid_session_json(i: usize) -> CheckoutSession {
    let id = format!("cs_test_bench{i:08}");
    serde_json::from_value(serde_json::json!({
        "id": id, "object": "checkout.session", "status": "complete", "payment_status": "paid",
        "mode": "payment", "livemode": false, "created": Utc::now().timestamp(),
        "currency": "usd", "amount_subtotal": 4000, "amount_total": 4000,
        "customer_details": {"name": "Jenny Rosen", "email": "jenny@example.com"},
        "payment_intent": format!("pi_bench{i}"),
        "line_items": {"object": "list", "has_more": false, "url": "/v1/line_items", "data": [{
            "id": format!("li_bench{i}"), "object": "item", "description": "Stripe T-shirt",
            "quantity": 2, "amount_subtotal": 4000, "amount_total": 4000, "currency": "usd",
            "price": {"id": "price_tshirt", "object": "price", "unit_amount": 2000,
                      "currency": "usd", "product": "prod_tshirt", "active": true},
        }]},
    }))
    .expect("the fixture is a session")
}

/// What the worker does to Postgres for one `completed` event of a paid session.
async fn fulfill_in_database(
    pool: &PgPool,
    granting: &fulfilled::GrantingProducts,
    session: &CheckoutSession,
) -> anyhow::Result<()> {
    let id = CheckoutSessionId::parse(&session.id)?;
    let event_id = format!("evt_bench_{}", &session.id[8..]);
    let key = EventKey {
        event_id: &event_id,
        event_type: "checkout.session.completed",
        session_id: Some(&session.id),
        account: None,
        created: session.created,
    };
    {
        let mut conn = pool.acquire().await?;
        // The worker's read, claim included (the wait only bounds how long a claim holds).
        let claim_wait = Duration::from_millis(2000);
        let (recorded, _) =
            orders::find_with_event_outcome(&mut conn, None, &id, &event_id, claim_wait).await?;
        if recorded.is_some() {
            bail!("not a fresh event");
        }
    }
    let fulfillment = fulfilled::Fulfillment {
        account: None,
        id: &id,
        session,
        items: &session.line_items.as_ref().expect("expanded").data,
        trigger: Trigger::Webhook,
        customer_mail: false,
        event: Some(key),
    };
    let written = fulfilled::write(pool, granting, fulfillment).await?;
    if !matches!(written, fulfilled::Written::Newly(_)) {
        bail!("{id} was not newly fulfilled: {written:?}");
    }
    Ok(())
}

async fn ceiling(db: &TestDb, sessions: usize, concurrency: usize) -> anyhow::Result<()> {
    let pool = db.another_pool(concurrency as u32).await;
    // One per process, as the worker's fulfiller holds one.
    let granting = fulfilled::GrantingProducts::default();
    let fixtures: Vec<CheckoutSession> = (0..sessions).map(paid_session_json).collect();
    let started = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(&fixtures)
        .map(|s| fulfill_in_database(&pool, &granting, s))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let failed = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        eprintln!("first failure: {e:#}");
    }
    println!(
        "ceiling: {} fulfillments in {:.2} s = {:.0}/s (concurrency {concurrency}, {failed} failed)",
        sessions - failed,
        elapsed.as_secs_f64(),
        (sessions - failed) as f64 / elapsed.as_secs_f64()
    );
    pool.close().await;
    Ok(())
}

#[derive(Debug)]
struct PipelineRun {
    sessions: usize,
    workers: usize,
    rate: u32,
    worker_bin: String,
    prefetch: u16,
    pool: u32,
    stripe_limit: Option<u32>,
}

/// Kills the worker processes however the run ends.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn pipeline(db: &TestDb, amqp: &str, run: &PipelineRun) -> anyhow::Result<()> {
    let sim = match run.stripe_limit {
        Some(limit) => tests::start_rate_limited_sim(limit).await,
        None => tests::start_sim().await,
    };
    let budget = run.stripe_limit.unwrap_or(1_000_000).to_string();
    let broker = TestBroker::with_tiers_on(
        amqp,
        vec![Duration::from_secs(1), Duration::from_secs(10)],
        20,
    )
    .await;
    let topology = &broker.topology;
    let channel = broker.channel.clone();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    // A subscriber to the announcements, as production has (without one every order.fulfilled
    // comes back unroutable).
    let subscriber = broker.watch(&topology.orders_exchange(), "order.#").await;

    // The sessions, paid, and their `completed` events, before any clock starts.
    let mut events = Vec::with_capacity(run.sessions);
    for _ in 0..run.sessions {
        let session = sim.state.create_session(CreateSession {
            line_items: vec![LineItemParams::catalog("price_tshirt", 2)],
            success_url: Some(
                "http://shop.test/order/success?session_id={CHECKOUT_SESSION_ID}".into(),
            ),
            ..CreateSession::default()
        })?;
        let id = session["id"].as_str().context("a session id")?.to_owned();
        let event = sim.state.complete_session(
            &id,
            PaymentOutcome::Paid,
            Customer {
                name: "Jenny Rosen".into(),
                email: "jenny@example.com".into(),
                shipping: None,
            },
        )?;
        events.push((id, event));
    }

    let mut workers = Workers(Vec::new());
    for i in 0..run.workers {
        let child = Command::new(&run.worker_bin)
            .arg("run")
            .env("APP_DATABASE__URL", &db.url)
            .env("APP_DATABASE__MAX_CONNECTIONS", run.pool.to_string())
            .env("APP_BROKER__URL", amqp)
            .env("APP_BROKER__PREFIX", &broker.prefix)
            .env("APP_BROKER__RETRY_TIERS_MS", "1000,10000")
            .env("APP_BROKER__DELIVERY_LIMIT", "20")
            .env("APP_STRIPE__API_BASE", &sim.base_url)
            .env("APP_STRIPE__SECRET_KEY", tests::SIM_KEY)
            .env("APP_STRIPE__RATE_LIMIT_PER_SEC", &budget)
            .env("APP_STRIPE__PROCESSES", run.workers.to_string())
            .env("APP_WORKER__HOST", "127.0.0.1")
            .env("APP_WORKER__PORT", (18_500 + i).to_string())
            .env("APP_WORKER__PREFETCH", run.prefetch.to_string())
            .env("APP_WORKER__RECONCILE_INTERVAL_SECS", "0")
            .env("APP_LOG__FILTER", "warn")
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (build it with cargo build --release -p worker)",
                    run.worker_bin
                )
            })?;
        workers.0.push(child);
    }
    for i in 0..run.workers {
        wait_ready(18_500 + i as u16).await?;
    }

    let exchange = topology.checkout_exchange();
    let channel = Arc::new(channel);
    let published_at: Vec<DateTime<Utc>>;
    let worker_pids: Vec<u32> = workers.0.iter().map(Child::id).collect();
    let cpu_before = cpu::snapshot(&worker_pids);
    let started = Instant::now();
    if run.rate == 0 {
        // Saturation: publish everything, confirms in flight 256 at a time.
        let mut times = Vec::with_capacity(events.len());
        for chunk in events.chunks(256) {
            let now = Utc::now();
            let publishes = chunk
                .iter()
                .map(|(_, event)| publish(&channel, &exchange, event));
            for result in join_all(publishes).await {
                result?;
                times.push(now);
            }
        }
        published_at = times;
    } else {
        // Open loop: event i leaves at start + i/rate, whatever the confirms of earlier ones.
        let interval = Duration::from_secs_f64(1.0 / f64::from(run.rate));
        let begin = tokio::time::Instant::now();
        let mut tasks = Vec::with_capacity(events.len());
        for (i, (_, event)) in events.iter().enumerate() {
            tokio::time::sleep_until(begin + interval * i as u32).await;
            let channel = channel.clone();
            let exchange = exchange.clone();
            let event = event.clone();
            tasks.push(tokio::spawn(async move {
                let at = Utc::now();
                publish(&channel, &exchange, &event).await.map(|()| at)
            }));
        }
        let mut times = Vec::with_capacity(tasks.len());
        for task in tasks {
            times.push(task.await??);
        }
        published_at = times;
    }
    let publish_secs = started.elapsed().as_secs_f64();

    let pool = db.another_pool(2).await;
    // At Stripe's pace the drain itself takes sessions / limit seconds: allow twice that.
    let paced = run
        .stripe_limit
        .map_or(0.0, |limit| 2.0 * run.sessions as f64 / f64::from(limit));
    let deadline =
        Instant::now() + Duration::from_secs(120) + Duration::from_secs_f64(publish_secs + paced);
    loop {
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM checkout_orders WHERE state = 'fulfilled'")
                .fetch_one(&pool)
                .await?;
        if done as usize >= run.sessions {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "only {done} of {} fulfilled before the deadline",
                run.sessions
            );
        }
        // Polling the orders table: nothing announces "all fulfilled". Latencies come from each
        // order's `fulfilled_at`, so the interval does not enter them; the deadline bounds it.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu_after = cpu::snapshot(&worker_pids);
    let ids: Vec<String> = events.iter().map(|(id, _)| id.clone()).collect();
    let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT session_id, fulfilled_at FROM checkout_orders WHERE session_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&pool)
    .await?;
    let fulfilled: std::collections::HashMap<String, DateTime<Utc>> = rows.into_iter().collect();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut last = published_at[0];
    for ((id, _), sent) in events.iter().zip(&published_at) {
        let at = fulfilled[id];
        last = last.max(at);
        let micros = (at - *sent).num_microseconds().unwrap_or(0).max(1) as u64;
        latency.record(micros.min(600_000_000))?;
    }
    let span = (last - published_at[0]).num_milliseconds().max(1) as f64 / 1000.0;
    let rss: Vec<String> = workers.0.iter().map(|c| peak_rss(c.id())).collect();
    println!(
        "pipeline: {} sessions, {} worker(s), rate {}: {:.0} fulfillments/s (first publish to last \
         fulfillment {span:.2} s; publishing took {publish_secs:.2} s); latency p50 {:.1} ms, p99 \
         {:.1} ms, max {:.1} ms; worker peak RSS {}",
        run.sessions,
        run.workers,
        if run.rate == 0 { "max".to_owned() } else { format!("{}/s", run.rate) },
        run.sessions as f64 / span,
        latency.value_at_quantile(0.50) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.max() as f64 / 1000.0,
        rss.join(", ")
    );
    println!(
        "{}",
        cpu::per_fulfillment(&cpu_before, &cpu_after, run.sessions)
    );
    if let Some(limit) = run.stripe_limit {
        let ideal = run.sessions as f64 / f64::from(limit);
        let retried: i64 =
            sqlx::query_scalar("SELECT count(*) FROM stripe_events WHERE failed_attempts <> '[]'")
                .fetch_one(&pool)
                .await?;
        println!(
            "drain at Stripe's pace ({limit}/s): {span:.1} s against the ideal {ideal:.1} s = \
             {:.3} x; 429s answered by the simulator: {}; events that failed an attempt (sent to \
             a retry tier): {retried}",
            span / ideal,
            sim.state.rate_limited_count()
        );
    }
    let duplicates: i64 =
        sqlx::query_scalar("SELECT count(*) - count(DISTINCT session_id) FROM order_line_items")
            .fetch_one(&pool)
            .await?;
    if duplicates != 0 {
        bail!("{duplicates} duplicate fulfillments");
    }

    drop(workers);
    pool.close().await;
    let _ = channel
        .queue_delete(&subscriber, QueueDeleteOptions::default())
        .await;
    drop(broker);
    sim.stop().await;
    Ok(())
}

async fn publish(
    channel: &lapin::Channel,
    exchange: &str,
    event: &serde_json::Value,
) -> anyhow::Result<()> {
    let body = serde_json::to_vec(event)?;
    let kind = event["type"].as_str().unwrap_or_default();
    publish_confirmed(
        channel,
        OutgoingMessage {
            exchange,
            routing_key: kind,
            body: &body,
            message_id: event["id"].as_str().unwrap_or_default(),
            kind,
            headers: FieldTable::default(),
        },
        Duration::from_secs(10),
    )
    .await?;
    Ok(())
}

async fn wait_ready(port: u16) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}/readyz");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(response) = reqwest::get(&url).await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        // A started worker says it is ready only through `/readyz`: polled, bounded.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the worker on port {port} did not become ready")
}

/// `VmHWM` of a process, e.g. "14.2 MB".
fn peak_rss(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or_else(|| "?".to_owned(), |kb| format!("{:.1} MB", kb / 1024.0))
}
