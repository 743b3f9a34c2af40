//! `console`: settings → telemetry → build → serve until SIGTERM has drained it; or
//! `console hash-password`, which prints a hash for the operators file and exits.

use std::io::BufRead;

use anyhow::Context;
use clap::Parser;
use console::cli::{Cli, Command};
use console::{operators, Application, SERVICE_NAME};
use shared::settings::Uses;
use shared::telemetry::LogOutput;
use shared::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => serve(Settings::load(Uses::CONSOLE)?).await,
        Command::HashPassword => {
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!password.is_empty(), "the password is empty");
            println!("{}", operators::hash_password(password));
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let telemetry = shared::telemetry::init(SERVICE_NAME, &settings, LogOutput::Stdout)?;
    let application = Application::build(settings).await?;
    tracing::info!(port = application.port(), "console listening");
    application.run_until_terminated().await?;
    telemetry.shutdown();
    Ok(())
}
