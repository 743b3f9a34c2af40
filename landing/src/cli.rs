//! The landing binary's commands: serve the pages (the default), or create Payment Links.

use clap::{Parser, Subcommand};
use shared::settings::Uses;

/// The shop page and the success page that fulfills the order.
#[derive(Debug, Parser)]
#[command(name = "landing", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the shop and the success page (the default).
    Serve,
    /// Payment Links that redirect to our success page after payment.
    #[command(subcommand)]
    PaymentLinks(PaymentLinksCommand),
}

#[derive(Debug, Subcommand)]
pub enum PaymentLinksCommand {
    /// Create a link per catalog price (or for one price) and print each link's URL.
    Create {
        /// Only this price (price_…); it must be an active price of the Stripe account.
        #[arg(long)]
        price: Option<String>,
    },
}

impl Command {
    /// The settings the command reads: creating links needs Stripe and the public base URL,
    /// not the database.
    pub fn uses(&self) -> Uses {
        match self {
            Command::Serve => Uses::LANDING,
            Command::PaymentLinks(_) => Uses {
                database: false,
                ..Uses::LANDING
            },
        }
    }
}
