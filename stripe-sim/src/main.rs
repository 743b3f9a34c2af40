//! `stripe-sim serve --port 12111`: see `stripe_sim::cli`.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    stripe_sim::cli::run(stripe_sim::cli::Cli::parse()).await
}
