//! `stripe-sim serve --port 12111`: see `stripe_sim::cli`.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The log goes through a writer thread. A direct write blocks a runtime thread whenever
    // stdout's reader (dockerd, on a starved host) falls behind. Payments on that thread would
    // then go unread for seconds (408), and webhook timers would fire late: a hang Stripe never
    // shows. Past the buffer, lines are dropped instead.
    let (writer, _flushed_on_exit) = tracing_appender::non_blocking(std::io::stdout());
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(writer)
        .init();
    stripe_sim::cli::run(stripe_sim::cli::Cli::parse()).await
}
