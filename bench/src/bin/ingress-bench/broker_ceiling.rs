//! The broker ceiling: `concurrency` tasks, each publishing a persistent, `mandatory` message
//! to the real topology's `checkout.events` and awaiting its confirm, over `channels` confirm
//! channels — the ingress's publish path without HTTP. The bench topology has its own prefix and
//! is deleted afterwards.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use lapin::options::ConfirmSelectOptions;
use lapin::types::FieldTable;
use lapin::Channel;
use secrecy::SecretString;
use shared::queue::{connect, publish_confirmed, OutgoingMessage, Topology};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long, default_value_t = 4)]
    channels: usize,
    /// Seconds (at most 60).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Message size; a Checkout event is about 3 KB.
    #[arg(long, default_value_t = 3000)]
    body_bytes: usize,
    /// Open loop: publish at this many messages per second (latency at a given load) instead
    /// of back to back (throughput).
    #[arg(long)]
    rate: Option<u32>,
    /// Tokio worker threads; 0: one per core.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.duration > 0.0 && args.duration <= 60.0,
        "--duration: 0 < s ≤ 60"
    );
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if args.threads > 0 {
        runtime.worker_threads(args.threads);
    }
    runtime.enable_all().build()?.block_on(measure(args))
}

async fn measure(args: Args) -> anyhow::Result<()> {
    let url = SecretString::from(args.amqp_url.clone());
    let connection = connect(&url, "ingress-bench").await.context("connecting")?;
    let prefix = format!("bench{:08x}.", rand_suffix());
    let topology = Topology::new(prefix, vec![Duration::from_secs(1)], 20);
    let mut channels = Vec::new();
    for _ in 0..args.channels.max(1) {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        channels.push(channel);
    }
    topology.declare(&channels[0]).await?;

    let started = Instant::now();
    let schedule = Arc::new(Schedule {
        exchange: topology.checkout_exchange(),
        body: vec![b'x'; args.body_bytes],
        sequence: AtomicU64::new(0),
        start: started,
        end: started + Duration::from_secs_f64(args.duration),
        rate: args.rate,
    });
    let tasks: Vec<_> = (0..args.concurrency.max(1))
        .map(|i| {
            let channel = channels[i % channels.len()].clone();
            tokio::spawn(publisher(channel, schedule.clone()))
        })
        .collect();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut failures = 0u64;
    for task in tasks {
        let (histogram, failed) = task.await?;
        latency.add(&histogram)?;
        failures += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let confirmed = latency.len() - failures;

    let _ = topology.delete(&channels[0]).await;
    let _ = connection.close(200, "bench done").await;

    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    let pace = match args.rate {
        Some(rate) => format!("open loop at {rate}/s"),
        None => "closed loop".to_owned(),
    };
    println!(
        "broker ceiling ({pace}): concurrency {} over {} channels, {} B bodies\n\
         confirmed: {confirmed} in {elapsed:.2} s = {:.0}/s; failures: {failures}\n\
         confirm latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
        args.concurrency,
        args.channels,
        args.body_bytes,
        confirmed as f64 / elapsed,
        ms(0.5),
        ms(0.9),
        ms(0.99),
        latency.max() as f64 / 1000.0,
    );
    Ok(())
}

/// What every publisher shares.
struct Schedule {
    exchange: String,
    body: Vec<u8>,
    sequence: AtomicU64,
    start: Instant,
    end: Instant,
    /// Open loop: message `n` is due at `start + n / rate`.
    rate: Option<u32>,
}

async fn publisher(channel: Channel, schedule: Arc<Schedule>) -> (Histogram<u64>, u64) {
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let mut failures = 0;
    loop {
        let n = schedule.sequence.fetch_add(1, Ordering::Relaxed);
        let mut started = Instant::now();
        if let Some(rate) = schedule.rate {
            let due = schedule.start + Duration::from_secs_f64(n as f64 / f64::from(rate));
            if due >= schedule.end {
                break;
            }
            if due > started {
                tokio::time::sleep_until(due.into()).await;
                started = Instant::now();
            } else {
                // Behind schedule: the wait counts, as it would for a webhook.
                started = due;
            }
        } else if started >= schedule.end {
            break;
        }
        let id = format!("evt_bench{n}");
        let message = OutgoingMessage {
            exchange: &schedule.exchange,
            routing_key: "checkout.session.completed",
            body: &schedule.body,
            message_id: &id,
            kind: "checkout.session.completed",
            headers: FieldTable::default(),
        };
        if publish_confirmed(&channel, message, Duration::from_secs(2))
            .await
            .is_err()
        {
            failures += 1;
        }
        latency.saturating_record(started.elapsed().as_micros().max(1) as u64);
    }
    (latency, failures)
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0)
        ^ std::process::id()
}
