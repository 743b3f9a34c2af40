//! The `stripe-sim` command line: `stripe-sim serve --port 12111`.

use std::net::TcpListener;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{default_catalog, load_catalog, SimConfig};
use crate::startup::RunningSim;

#[derive(Debug, Parser)]
#[command(
    name = "stripe-sim",
    version,
    about = "A stateful stand-in for the Stripe API subset the fulfillment services call"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Print the built-in catalog as JSON, a starting point for a `--catalog` file.
    PrintCatalog,
    /// Send signed checkout.session.completed webhooks to a local target and measure them.
    Load(crate::load::LoadArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to bind; 0.0.0.0 inside a container.
    #[arg(long, env = "STRIPE_SIM_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind; 0 picks a free one.
    #[arg(long, env = "STRIPE_SIM_PORT", default_value_t = 12111)]
    pub port: u16,
    /// Accepted secret key (repeat, or comma-separate in the variable); none: any sk_test_ key.
    #[arg(long = "api-key", env = "STRIPE_SIM_API_KEYS", value_delimiter = ',')]
    pub api_keys: Vec<String>,
    /// JSON file with the catalog: [{price_id, product_id, product_name, unit_amount, currency}].
    #[arg(long, env = "STRIPE_SIM_CATALOG")]
    pub catalog: Option<PathBuf>,
    /// Base of session.url as a browser reaches the simulator; default: the bound address.
    #[arg(long, env = "STRIPE_SIM_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,
    /// The account's rate limit: /v1/ requests per second (any client) before 429 rate_limit,
    /// as Stripe's 25 in test mode or 100 live; unset: unlimited.
    #[arg(long, env = "STRIPE_SIM_RATE_LIMIT_PER_SEC")]
    pub rate_limit_per_sec: Option<std::num::NonZeroU32>,
    /// The account's business name, shown on the hosted payment page (the shop's name).
    #[arg(long, env = "STRIPE_SIM_BUSINESS_NAME", default_value = crate::config::DEFAULT_BUSINESS_NAME)]
    pub business_name: String,
    /// Webhook endpoints, secrets, retries, redirect wait and delivery faults.
    #[command(flatten)]
    pub delivery: crate::webhooks::args::DeliveryArgs,
}

impl ServeArgs {
    pub fn to_config(&self) -> anyhow::Result<SimConfig> {
        let catalog = match &self.catalog {
            Some(path) => load_catalog(path)?,
            None => default_catalog(),
        };
        let mut config = SimConfig {
            api_keys: self.api_keys.clone(),
            catalog,
            public_base_url: self.public_base_url.clone(),
            rate_limit_per_sec: self.rate_limit_per_sec,
            business_name: self.business_name.clone(),
            ..SimConfig::default()
        };
        self.delivery.apply(&mut config)?;
        Ok(config)
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Load(args) => crate::load::run_cli(args).await,
        Command::PrintCatalog => {
            println!("{}", serde_json::to_string_pretty(&default_catalog())?);
            Ok(())
        }
        Command::Serve(args) => {
            let config = args.to_config()?;
            let address = format!("{}:{}", args.host, args.port);
            let listener =
                TcpListener::bind(&address).with_context(|| format!("binding {address}"))?;
            let sim = RunningSim::start_on(config, listener).await?;
            println!("stripe-sim serving the Stripe API at {}", sim.base_url);
            shutdown_signal().await;
            tracing::info!("shutting down");
            sim.stop().await;
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM (what `docker stop` sends).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
