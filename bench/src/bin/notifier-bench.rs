//! The notifier's throughput and latency with a real SMTP server (Debian's aiosmtpd, storing
//! every mail in a maildir), real RabbitMQ and real Postgres:
//!
//! ```sh
//! cargo run --release -p bench --bin notifier-bench -- [MAILS] [RATE] [SECONDS]
//! ```
//!
//! 1. **Baselines**: `MAILS` confirmation mails sent straight through the notifier's `Mailer` by
//!    as many concurrent senders as the notifier handles at once (its prefetch), no broker and
//!    no database: the SMTP ceiling. Then the same path paced at `RATE` for `SECONDS`: send to
//!    stored, the latency floor.
//! 2. **Throughput**: `MAILS` `order.fulfilled` announcements queued first, then the notifier
//!    started; notifications per second from its start to the last mail stored, and the ratio
//!    to the baseline.
//! 3. **Latency at `RATE` orders/s** for `SECONDS`: announcements published at that pace to a
//!    running notifier; for each, the time from its publish to its mail being stored by the
//!    SMTP server (the maildir file's modification time; the mail's `Message-ID` names the
//!    announcement).
//!
//! Defaults: 2000 mails, 100 orders/s for 20 s. Needs `TEST_DATABASE_URL`, `TEST_AMQP_URL`
//! and `python3-aiosmtpd` (scripts/ensure-services installs all three).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bench::report_latency;
use hdrhistogram::Histogram;
use lapin::options::{BasicPublishOptions, QueueDeleteOptions};
use lapin::BasicProperties;
use shared::announcements::{AnnouncedLineItem, Announcement, OrderFulfilled, VERSION};
use tests::free_port;
use tests::smtp::SmtpServer;
use tests::{TestBroker, TestDb};
use uuid::Uuid;

/// The longest any phase may take before the bench gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(300);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mails: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(2000);
    let rate: u64 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(100);
    let seconds: u64 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(20);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("notifier bench: {mails} mails, {rate}/s for {seconds} s, {cpus} CPUs");

    let db = TestDb::create().await;
    let broker = TestBroker::create().await;
    broker.topology.declare_notifier(&broker.channel).await?;
    let port = free_port();
    let smtp = SmtpServer::start(port).await;
    let settings = tests::settings(&db, &broker, "http://127.0.0.1:9", |s| {
        s.notifier.host = "127.0.0.1".into();
        s.notifier.port = 0;
        s.notifier.smtp_port = port;
    });
    let concurrency = settings.notifier.prefetch as usize;

    // 1. The SMTP ceiling through the notifier's own mail path.
    let mailer = Arc::new(notifier::mail::Mailer::new(
        &settings.notifier,
        &settings.landing.shop_name,
    )?);
    let started = Instant::now();
    let senders = (0..concurrency).map(|sender| {
        let mailer = mailer.clone();
        tokio::spawn(async move {
            for i in (sender..mails).step_by(concurrency) {
                let notice = notifier::notice::Notice::Fulfilled(Box::new(order(i)));
                mailer
                    .send(Uuid::new_v4(), &notice, "bench@example.com")
                    .await
                    .map_err(|e| anyhow::anyhow!("baseline send {i}: {e:?}"))?;
            }
            anyhow::Ok(())
        })
    });
    for sender in futures::future::join_all(senders).await {
        sender??;
    }
    wait_for_count(&smtp, mails).await?;
    let ceiling = mails as f64 / started.elapsed().as_secs_f64();
    println!("baseline: SMTP ceiling ({concurrency} senders): {ceiling:.0} mails/s");

    // 1b. The same mail path at the steady rate: send -> stored, the latency baseline.
    let total = (rate * seconds) as usize;
    let mut direct: HashMap<Uuid, SystemTime> = HashMap::with_capacity(total);
    let mut pace = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = Vec::with_capacity(total);
    for i in 0..total {
        pace.tick().await;
        let id = Uuid::new_v4();
        direct.insert(id, SystemTime::now());
        let mailer = mailer.clone();
        sends.push(tokio::spawn(async move {
            let notice = notifier::notice::Notice::Fulfilled(Box::new(order(i)));
            mailer
                .send(id, &notice, "bench@example.com")
                .await
                .map_err(|e| anyhow::anyhow!("paced send {i}: {e:?}"))
        }));
    }
    for send in futures::future::join_all(sends).await {
        send??;
    }
    wait_for_count(&smtp, mails + total).await?;
    let baseline = latencies(&smtp, &direct, total)?;
    report_latency(
        &format!("baseline: send -> mail stored at {rate}/s"),
        &baseline,
    );

    // 2. Throughput: a backlog, then the notifier.
    for i in 0..mails {
        announce(&broker, Uuid::new_v4(), &order(i)).await?;
    }
    let application = notifier::Application::build(settings.clone()).await?;
    let stop = application.stop_handle();
    let started = Instant::now();
    let running = tokio::spawn(application.run_until_stopped());
    wait_for_count(&smtp, 2 * mails + total).await?;
    let throughput = mails as f64 / started.elapsed().as_secs_f64();
    println!(
        "notifier: {mails} queued announcements mailed at {throughput:.0} notifications/s \
         ({:.2} x the SMTP ceiling)",
        throughput / ceiling
    );

    // 3. Latency at a steady rate.
    let mut published: HashMap<Uuid, SystemTime> = HashMap::with_capacity(total);
    let mut pace = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for i in 0..total {
        pace.tick().await;
        let id = Uuid::new_v4();
        published.insert(id, SystemTime::now());
        announce(&broker, id, &order(i)).await?;
    }
    wait_for_count(&smtp, 2 * mails + 2 * total).await?;
    let latency = latencies(&smtp, &published, total)?;
    report_latency(
        &format!("notifier: announcement -> mail stored at {rate}/s"),
        &latency,
    );
    println!(
        "ratio p50 / p99 notifier to baseline: {:.2} / {:.2}",
        latency.value_at_quantile(0.5) as f64 / baseline.value_at_quantile(0.5).max(1) as f64,
        latency.value_at_quantile(0.99) as f64 / baseline.value_at_quantile(0.99).max(1) as f64
    );

    stop.stop().await;
    running.await??;
    let sent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE channel = 'email' AND sent_at IS NOT NULL",
    )
    .fetch_one(&db.pool)
    .await?;
    println!(
        "recorded sent: {sent} (expected {}); mails stored: {}",
        mails + total,
        smtp.count() - mails - total
    );
    for queue in [
        broker.topology.notifier_queue(),
        broker.topology.notifier_dead_queue(),
    ] {
        broker
            .channel
            .queue_delete(&queue, QueueDeleteOptions::default())
            .await?;
    }
    for exchange in [
        broker.topology.notifier_dead_exchange(),
        broker.topology.notifier_redrive_exchange(),
    ] {
        broker
            .channel
            .exchange_delete(&exchange, Default::default())
            .await?;
    }
    Ok(())
}

/// Order `i`'s confirmation, as the worker announces it.
fn order(i: usize) -> OrderFulfilled {
    OrderFulfilled {
        version: VERSION,
        session_id: format!("cs_test_bench_{i}"),
        account: None,
        order_number: i as i64 + 1,
        customer_name: Some("Jenny Rosen".into()),
        customer_email: Some(format!("customer{i}@example.com")),
        currency: Some("usd".into()),
        amount_total: Some(5200),
        fulfilled_by: Some("webhook".into()),
        fulfilled_at: None,
        line_items: vec![AnnouncedLineItem {
            id: format!("li_bench_{i}"),
            description: "Stripe T-shirt".into(),
            quantity: 2,
            price: Some("price_tshirt".into()),
            amount_total: 4000,
        }],
        shipping: None,
        access: Vec::new(),
        subscription: None,
    }
}

/// Publishes `order` on `orders` as the outbox relay does, confirmed by the broker.
async fn announce(broker: &TestBroker, id: Uuid, order: &OrderFulfilled) -> anyhow::Result<()> {
    let body = serde_json::to_vec(order)?;
    broker
        .channel
        .basic_publish(
            &broker.topology.orders_exchange(),
            OrderFulfilled::ROUTING_KEY,
            BasicPublishOptions::default(),
            &body,
            BasicProperties::default()
                .with_message_id(id.to_string().into())
                .with_type(OrderFulfilled::ROUTING_KEY.into())
                .with_content_type("application/json".into())
                .with_delivery_mode(2),
        )
        .await?
        .await?;
    Ok(())
}

/// For every stored mail whose `Message-ID` names a key of `started`: the time from that start
/// to the mail being stored. All `expected` must be found.
fn latencies(
    smtp: &SmtpServer,
    started: &HashMap<Uuid, SystemTime>,
    expected: usize,
) -> anyhow::Result<Histogram<u64>> {
    let mut latency = Histogram::<u64>::new(3)?;
    for (mail, arrived) in smtp.mails_with_arrival() {
        let Some(id) = mail
            .header("Message-ID")
            .and_then(|m| m.trim_start_matches('<').split('@').next())
            .and_then(|id| Uuid::parse_str(id).ok())
        else {
            continue;
        };
        if let Some(start) = started.get(&id) {
            let waited = arrived.duration_since(*start).unwrap_or_default();
            latency.record(waited.as_micros() as u64)?;
        }
    }
    anyhow::ensure!(
        latency.len() as usize == expected,
        "matched {} of {expected} mails to their start",
        latency.len()
    );
    Ok(latency)
}

/// Waits until the SMTP server stored `count` mails, polling its maildir (aiosmtpd tells no one
/// when it stores a mail; the poll is bounded by [`PHASE_LIMIT`], and a mail's time is its file's,
/// not the poll's, so the 20 ms interval does not enter the latencies).
async fn wait_for_count(smtp: &SmtpServer, count: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + PHASE_LIMIT;
    while smtp.count() < count {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} of {count} mails within {PHASE_LIMIT:?}",
            smtp.count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
