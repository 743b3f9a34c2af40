//! The worker binary's commands. Every command reads the same settings as the service.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use shared::queue::{BrokerEndpoint, Topology};
use shared::settings::Uses;
use shared::stripe::StripeClient;
use shared::telemetry::LogOutput;
use shared::{AccountId, CheckoutSessionId, Fulfiller, Settings};

use crate::reconciler::Reconciler;
use crate::redrive::RedriveSource;
use crate::startup::Application;
use crate::{access, redrive, show};

/// Fulfills paid Stripe Checkout Sessions from the checkout.fulfillment queue.
#[derive(Debug, Parser)]
#[command(name = "worker", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Consume, relay the outbox, reconcile (the default).
    Run,
    /// Apply the database migrations, then exit.
    Migrate,
    /// Move parked messages back: dead-lettered ones to checkout.fulfillment (attempts reset),
    /// unrouted ones through the exchange they were published to.
    Redrive {
        /// Which queue to empty: checkout.fulfillment.dead, checkout.unrouted or orders.unrouted.
        #[arg(long, value_enum, default_value_t = RedriveSource::Dead)]
        from: RedriveSource,
        /// At most this many (default: every message parked now).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Reconcile the checkout events Stripe created in a time range, once.
    Reconcile {
        /// Start of the range: RFC 3339 (2025-01-31T12:00:00Z) or unix seconds.
        #[arg(long, value_parser = parse_time)]
        since: i64,
        /// End of the range (default: now), same formats.
        #[arg(long, value_parser = parse_time)]
        until: Option<i64>,
        /// A connected account (acct_…) whose events to reconcile; without it, the platform's.
        #[arg(long)]
        account: Option<String>,
    },
    /// Print a Checkout Session's state, lines and event history.
    Show {
        /// The Checkout Session id (cs_test_… or cs_live_…).
        session_id: String,
        /// The connected account (acct_…) the session is on; without it, the platform's.
        #[arg(long)]
        account: Option<String>,
    },
    /// Digital goods and services: what a Stripe product gives the customer.
    #[command(subcommand)]
    Access(access::AccessCommand),
    /// Print the RabbitMQ definitions (exchanges, queues with their arguments, bindings,
    /// policies) that the broker settings declare, as JSON for deploy/rabbitmq/definitions.json.
    /// Connects to nothing.
    Definitions,
}

impl Command {
    /// The settings this command reads, and so checks at start-up: `migrate` needs no Stripe
    /// key, `redrive` and `definitions` no database.
    pub fn uses(&self) -> Uses {
        match self {
            Command::Run => Uses::WORKER,
            Command::Migrate | Command::Show { .. } | Command::Access(_) => Uses::DATABASE,
            Command::Redrive { .. } | Command::Definitions => Uses::BROKER,
            Command::Reconcile { .. } => Uses::RECONCILE,
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

    /// Whether the command's product is its stdout, where the log goes too: such a command
    /// runs without the log and the tracer (nothing it does is worth a span, and an exporter
    /// to a collector that is not running would only add noise).
    pub fn prints_a_document(&self) -> bool {
        matches!(self, Command::Definitions)
    }
}

/// Runs `command` (default: [`Command::Run`]).
pub async fn run(command: Option<Command>, settings: Settings) -> anyhow::Result<()> {
    let command = command.unwrap_or(Command::Run);
    settings.check(command.uses())?;
    match command {
        Command::Run => {
            Application::build(settings)
                .await?
                .run_until_terminated()
                .await
        }
        Command::Migrate => {
            let pool = shared::store::migration_pool(&settings.database)?;
            shared::store::migrate(&pool)
                .await
                .context("applying migrations")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Redrive { from, limit } => {
            let report = redrive::redrive(
                &BrokerEndpoint::from_settings(&settings.broker),
                &Topology::from_settings(&settings.broker),
                from,
                limit,
                settings.broker.confirm_timeout(),
            )
            .await?;
            let still = match from {
                RedriveSource::Dead => "still dead",
                RedriveSource::Unrouted | RedriveSource::OrdersUnrouted => "still parked",
            };
            println!("redriven: {}; {still}: {}", report.moved, report.remaining);
            Ok(())
        }
        Command::Reconcile {
            since,
            until,
            account,
        } => {
            if until.is_some_and(|until| until < since) {
                bail!("--until is before --since");
            }
            let account = account
                .as_deref()
                .map(AccountId::parse)
                .transpose()
                .with_context(|| format!("{account:?} is not a connected account id"))?;
            let pool = shared::store::pool(&settings.worker_database()?)?;
            let stripe = StripeClient::new(&settings.stripe)?;
            let fulfiller = Fulfiller::from_settings(pool, stripe, &settings);
            let report = Reconciler::one_shot(fulfiller, &settings)?
                .reconcile_range_on(account.as_ref(), since, until)
                .await?;
            println!("{report}");
            if report.failed > 0 {
                bail!("{} event(s) failed; run again to retry them", report.failed);
            }
            Ok(())
        }
        Command::Definitions => {
            print!(
                "{}",
                Topology::from_settings(&settings.broker).definitions_json()
            );
            Ok(())
        }
        Command::Access(command) => {
            let pool = shared::store::pool(&settings.database)?;
            println!("{}", access::run(&pool, command).await?);
            Ok(())
        }
        Command::Show {
            session_id,
            account,
        } => {
            let id = CheckoutSessionId::parse(&session_id)
                .with_context(|| format!("{session_id:?} is not a Checkout Session id"))?;
            let account = account
                .as_deref()
                .map(AccountId::parse)
                .transpose()
                .with_context(|| format!("{account:?} is not a connected account id"))?;
            let pool = shared::store::pool(&settings.database)?;
            match show::render(&pool, account.as_ref(), &id).await? {
                Some(report) => print!("{report}"),
                None => bail!("no order and no event recorded for {id}"),
            }
            Ok(())
        }
    }
}

/// Unix seconds from `1700000000` or `2023-11-14T22:13:20Z`.
pub fn parse_time(raw: &str) -> Result<i64, String> {
    if let Ok(secs) = raw.trim().parse::<i64>() {
        return Ok(secs);
    }
    chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.timestamp())
        .map_err(|e| format!("expected RFC 3339 (2025-01-31T12:00:00Z) or unix seconds: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_unix_seconds_or_rfc3339() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14T23:13:20+01:00"), Ok(1_700_000_000));
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn no_subcommand_means_run_and_flags_parse() {
        let cli = Cli::try_parse_from(["worker"]).unwrap();
        assert!(cli.command.is_none());
        let cli = Cli::try_parse_from(["worker", "redrive", "--limit", "5"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Redrive {
                from: RedriveSource::Dead,
                limit: Some(5)
            })
        ));
        let cli = Cli::try_parse_from(["worker", "redrive", "--from", "orders-unrouted"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Redrive {
                from: RedriveSource::OrdersUnrouted,
                limit: None
            })
        ));
        assert!(Cli::try_parse_from(["worker", "redrive", "--from", "elsewhere"]).is_err());
        let cli = Cli::try_parse_from(["worker", "reconcile", "--since", "2023-11-14T22:13:20Z"])
            .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Reconcile {
                since: 1_700_000_000,
                until: None,
                account: None,
            })
        ));
        let cli = Cli::try_parse_from([
            "worker",
            "reconcile",
            "--since",
            "1700000000",
            "--account",
            "acct_1Shop",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Reconcile { account: Some(ref a), .. }) if a == "acct_1Shop"
        ));
        assert!(Cli::try_parse_from(["worker", "reconcile"]).is_err());
        let cli = Cli::try_parse_from(["worker", "definitions"]).unwrap();
        let definitions = cli.command.unwrap();
        assert_eq!(
            definitions.uses(),
            Uses::BROKER,
            "no database, no Stripe key"
        );
        assert!(definitions.prints_a_document());
    }
}
