//! The notifier binary's commands. Every command reads the same settings as the service.

use clap::{Parser, Subcommand};
use shared::queue::{BrokerEndpoint, Topology};
use shared::settings::Uses;
use shared::telemetry::LogOutput;
use shared::Settings;

use crate::redrive;
use crate::startup::Application;
use crate::templates::{TemplateName, Templates};

/// Tells customers and the merchant's systems about the orders exchange's announcements.
#[derive(Debug, Parser)]
#[command(name = "notifier", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Default, Subcommand)]
pub enum Command {
    /// Consume notifier.orders and send (the default).
    #[default]
    Run,
    /// Render one template (the merchant's, or the shipped one) with a sample order, to check
    /// an edit before the notifier loads it.
    Preview {
        /// order_fulfilled.subject.txt, order_fulfilled.body.txt, payment_failed.subject.txt or
        /// payment_failed.body.txt.
        template: String,
    },
    /// Move the notifier's dead letters (notifier.orders.dead) back to notifier.orders, attempts
    /// reset; channels already sent are not sent again.
    Redrive {
        /// At most this many (default: every message parked now).
        #[arg(long)]
        limit: Option<usize>,
    },
}

impl Command {
    /// The settings sections the command reads.
    pub fn uses(&self) -> Uses {
        match self {
            Command::Run => Uses::NOTIFIER,
            Command::Redrive { .. } => Uses::BROKER,
            Command::Preview { .. } => Uses {
                notifier: true,
                ..Uses::COMMON
            },
        }
    }

    /// Where the command logs: the service to stdout with its container's other output, an
    /// operator command to stderr, so that its stdout is its report alone.
    pub fn log_output(&self) -> LogOutput {
        match self {
            Command::Run => LogOutput::Stdout,
            _ => LogOutput::Stderr,
        }
    }

    /// Whether the command's output is a document on stdout (no log lines mixed in).
    pub fn prints_a_document(&self) -> bool {
        matches!(self, Command::Preview { .. })
    }
}

pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Run => {
            Application::build(settings)
                .await?
                .run_until_terminated()
                .await
        }
        Command::Preview { template } => {
            let name = TemplateName::parse(&template)?;
            let templates = Templates::load(&settings.notifier.template_dir)?;
            let rendered = templates.preview(name, &settings.landing.shop_name)?;
            println!("{rendered}");
            Ok(())
        }
        Command::Redrive { limit } => {
            let report = redrive::redrive(
                &BrokerEndpoint::from_settings(&settings.broker),
                &Topology::from_settings(&settings.broker),
                limit,
                settings.broker.confirm_timeout(),
            )
            .await?;
            println!(
                "redriven: {}; still dead: {}",
                report.moved, report.remaining
            );
            Ok(())
        }
    }
}
