use clap::Parser;
use worker::cli::{self, Cli};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command;
    let settings = shared::Settings::load()?;
    let telemetry = shared::telemetry::init("worker", &settings.log, &settings.telemetry)?;
    let result = cli::run(command, settings).await;
    if let Err(e) = &result {
        tracing::error!(error = ?e, "worker failed");
    }
    telemetry.shutdown();
    result
}
