//! `stripe-sim load`: signed `checkout.session.completed` webhooks at a target, measured.
//!
//! ```text
//! stripe-sim load --target http://127.0.0.1:8080/webhook --rate 1000 --duration 10
//! stripe-sim load --target … --concurrency 64 --duration 10 --json report.json
//! stripe-sim load --target … --rate 500 --sim-url http://127.0.0.1:12111 --sessions 5000
//! ```
//!
//! Layout, in the order a run goes:
//! - [`target`]: the URL, resolved, and refused unless it is loopback.
//! - [`events`]: event templates, made before the measured window: real sessions created and
//!   paid in the simulator (so a worker can fulfill them afterwards), or synthetic session ids
//!   when only the ingress is measured. Every request gets a unique event id and is signed with
//!   [`shared::signature::signature_header`] as it is sent.
//! - [`driver`]: open loop at a fixed rate, or closed loop at fixed concurrency.
//! - [`client`]: one keep-alive HTTP/1.1 connection per sender.
//! - [`report`]: throughput, status counts, latency percentiles (HdrHistogram), as text and JSON.
//!
//! Every run is bounded: at most [`MAX_DURATION`] and [`MAX_REQUESTS`].

pub mod client;
pub mod driver;
pub mod events;
pub mod report;
pub mod target;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

pub use driver::{LoadPlan, Pace};
pub use events::EventSource;
pub use report::LoadReport;
pub use target::Target;

/// The longest run the generator agrees to.
pub const MAX_DURATION: Duration = Duration::from_secs(60);
/// The most requests one run sends.
pub const MAX_REQUESTS: u64 = 2_000_000;
/// The most senders (connections) one run opens.
pub const MAX_CONCURRENCY: usize = 4096;

/// `stripe-sim load …`
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// The webhook URL to load (loopback addresses only).
    #[arg(long, default_value = "http://127.0.0.1:8080/webhook")]
    pub target: String,
    /// The endpoint secret to sign with (the target's `webhook.secrets`).
    #[arg(
        long,
        env = "STRIPE_WEBHOOK_SECRET",
        default_value = "whsec_local_development_only"
    )]
    pub secret: String,
    /// Open loop: requests per second, sent on schedule however fast the answers come.
    #[arg(long, conflicts_with = "concurrency")]
    pub rate: Option<u32>,
    /// Closed loop: concurrent senders, each sending again as soon as it is answered.
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Open loop: connections to spread the schedule over (a request waits for a free one,
    /// and the wait counts as latency).
    #[arg(long, default_value_t = 256)]
    pub connections: usize,
    /// Seconds to run (at most 60).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Stop after this many requests.
    #[arg(long, default_value_t = 1_000_000)]
    pub requests: u64,
    /// Create real sessions in the simulator at this URL first and send their events;
    /// without it, session ids are synthetic (only the ingress is measured).
    #[arg(long)]
    pub sim_url: Option<String>,
    /// The simulator's API key.
    #[arg(
        long,
        env = "STRIPE_SIM_API_KEY",
        default_value = "sk_test_local_development_only"
    )]
    pub sim_key: String,
    /// Sessions to create before the run; events cycle through them, each with its own id.
    #[arg(long, default_value_t = 1000)]
    pub sessions: usize,
    /// Also write the report as JSON to this file (`-` for standard output).
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl LoadArgs {
    /// Checks the bounds and the target; nothing is sent.
    pub async fn plan(&self) -> anyhow::Result<LoadPlan> {
        let target = Target::parse(&self.target).await?;
        if !(self.duration > 0.0 && self.duration <= MAX_DURATION.as_secs_f64()) {
            bail!(
                "--duration must be above 0 and at most {} seconds",
                MAX_DURATION.as_secs()
            );
        }
        if self.requests == 0 || self.requests > MAX_REQUESTS {
            bail!("--requests must be between 1 and {MAX_REQUESTS}");
        }
        let pace = match (self.rate, self.concurrency) {
            (Some(0), _) => bail!("--rate must be above 0"),
            (Some(per_sec), None) => Pace::Rate {
                per_sec,
                connections: self.connections,
            },
            (None, Some(n)) => Pace::Concurrency(n),
            (None, None) => bail!("give --rate (open loop) or --concurrency (closed loop)"),
            (Some(_), Some(_)) => bail!("give either --rate or --concurrency, not both"),
        };
        let plan = LoadPlan {
            target,
            secret: self.secret.clone(),
            pace,
            duration: Duration::from_secs_f64(self.duration),
            max_requests: self.requests,
        };
        if plan.senders() > MAX_CONCURRENCY {
            bail!("at most {MAX_CONCURRENCY} connections");
        }
        Ok(plan)
    }
}

/// Sends the plan's load with bodies from `events`; returns the report.
pub async fn run(plan: LoadPlan, events: EventSource) -> LoadReport {
    let header = report::ReportHeader {
        mode: match plan.pace {
            Pace::Rate { .. } => "rate".into(),
            Pace::Concurrency(_) => "concurrency".into(),
        },
        target: plan.target.url.to_string(),
        rate_per_sec: match plan.pace {
            Pace::Rate { per_sec, .. } => Some(per_sec),
            Pace::Concurrency(_) => None,
        },
        concurrency: plan.senders(),
        events: if events.is_synthetic() {
            "synthetic".into()
        } else {
            format!("{} real sessions", events.sessions())
        },
        body_bytes: events.body(0).len(),
    };
    let cpu_before = report::process_cpu_time();
    let (tally, elapsed) = driver::drive(plan, events).await;
    let generator_cpu = report::process_cpu_time().saturating_sub(cpu_before);
    LoadReport::from_tally(header, &tally, elapsed, generator_cpu)
}

/// The `load` subcommand: prepare events, run, print the report (and write its JSON).
pub async fn run_cli(args: LoadArgs) -> anyhow::Result<()> {
    let plan = args.plan().await?;
    let events = match &args.sim_url {
        Some(url) => {
            let sessions = args.sessions.clamp(1, 100_000);
            eprintln!("creating and paying {sessions} sessions in the simulator at {url} …");
            EventSource::from_sim_api(url, &args.sim_key, sessions).await?
        }
        None => EventSource::synthetic()?,
    };
    let report = run(plan, events).await;
    print!("{}", report.to_text());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        if path.as_os_str() == "-" {
            println!("{json}");
        } else {
            std::fs::write(path, json + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}
