//! `landing-bench run`: a fixed-rate, open-loop GET load with latency percentiles.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use tokio::time::Instant;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A label for the result line.
    #[arg(long, default_value = "run")]
    label: String,
    /// One URL to request over and over.
    #[arg(long, conflicts_with = "urls_file")]
    url: Option<String>,
    /// A file of URLs, one per line, requested in order (each once if there are enough).
    #[arg(long)]
    urls_file: Option<PathBuf>,
    /// Requests per second.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Seconds at the same rate before measuring (connections, caches); not recorded.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Refuse to reuse URLs from the file (for "first visit" runs).
    #[arg(long)]
    each_once: bool,
}

/// One finished request: its latency from when it was due, and whether it was a 2xx.
type Sample = (Duration, bool);

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let urls = Arc::new(urls(&args)?);
    let warmup = u64::from(args.rate) * args.warmup_secs;
    let measured = u64::from(args.rate) * args.duration_secs;
    if args.each_once && (warmup + measured) as usize > urls.len() {
        bail!(
            "{} URLs for {} requests; prepare more or shorten the run",
            urls.len(),
            warmup + measured
        );
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(1024)
        .build()?;
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Sample>();
    let start = Instant::now() + Duration::from_millis(50);
    for i in 0..warmup + measured {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let (http, urls) = (http.clone(), urls.clone());
        let tx = (i >= warmup).then(|| tx.clone());
        tokio::spawn(async move {
            let url = &urls[i as usize % urls.len()];
            let ok = match http.get(url).send().await {
                Ok(response) => {
                    let ok = response.status().is_success();
                    ok && response.bytes().await.is_ok()
                }
                Err(_) => false,
            };
            if let Some(tx) = tx {
                let _ = tx.send((due.elapsed(), ok));
            }
        });
    }
    drop(tx);
    let sending_took = start.elapsed();
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0u64;
    while let Some((latency, ok)) = rx.recv().await {
        histogram.saturating_record(latency.as_micros().max(1) as u64);
        errors += u64::from(!ok);
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    let achieved = (warmup + measured) as f64 / sending_took.as_secs_f64();
    println!(
        "{label}: rate={rate}/s achieved={achieved:.0}/s n={n} errors={errors} \
         p50={p50:.2}ms p90={p90:.2}ms p99={p99:.2}ms p99.9={p999:.2}ms max={max:.2}ms",
        label = args.label,
        rate = args.rate,
        n = histogram.len(),
        p50 = ms(0.5),
        p90 = ms(0.9),
        p99 = ms(0.99),
        p999 = ms(0.999),
        max = histogram.max() as f64 / 1000.0,
    );
    Ok(())
}

fn urls(args: &RunArgs) -> anyhow::Result<Vec<String>> {
    let urls: Vec<String> = match (&args.url, &args.urls_file) {
        (Some(url), None) => vec![url.clone()],
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => bail!("give --url or --urls-file"),
    };
    if urls.is_empty() {
        bail!("no URLs to request");
    }
    Ok(urls)
}
