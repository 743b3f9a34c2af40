use clap::Parser;
use shared::settings::Uses;
use shared::telemetry::LogOutput;
use worker::cli::{self, Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command;
    let uses = command.as_ref().map_or(Uses::WORKER, Command::uses);
    let settings = shared::Settings::load(uses)?;
    if command.as_ref().is_some_and(Command::prints_a_document) {
        return cli::run(command, settings).await;
    }
    let output = command
        .as_ref()
        .map_or(LogOutput::Stdout, Command::log_output);
    let telemetry = shared::telemetry::init("worker", &settings, output)?;
    let result = cli::run(command, settings).await;
    if let Err(e) = &result {
        tracing::error!(error = %shared::errors::error_chain(e.as_ref()), "worker failed");
    }
    telemetry.shutdown();
    result
}
