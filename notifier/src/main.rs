use clap::Parser;
use notifier::cli::{self, Cli};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command.unwrap_or_default();
    let settings = shared::Settings::load(command.uses())?;
    if command.prints_a_document() {
        return cli::run(command, settings).await;
    }
    let telemetry = shared::telemetry::init("notifier", &settings, command.log_output())?;
    let result = cli::run(command, settings).await;
    if let Err(e) = &result {
        tracing::error!(error = %shared::errors::error_chain(e.as_ref()), "notifier failed");
    }
    telemetry.shutdown();
    result
}
