//! `landing`: settings → telemetry → build → serve until SIGTERM has drained it; or
//! `landing payment-links create`, which prints one link per line and exits.

use clap::Parser;
use landing::cli::{Cli, Command, PaymentLinksCommand};
use landing::{payment_links, Application, SERVICE_NAME};
use shared::stripe::StripeClient;
use shared::telemetry::LogOutput;
use shared::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command.unwrap_or(Command::Serve);
    let settings = Settings::load(command.uses())?;
    match command {
        Command::Serve => serve(settings).await,
        Command::PaymentLinks(PaymentLinksCommand::Create { price }) => {
            let stripe = StripeClient::new(&settings.stripe)?;
            let links = payment_links::create_links(
                &stripe,
                &settings.landing.public_base_url,
                &settings.landing.catalog,
                &settings.landing.shipping_countries,
                price.as_deref(),
            )
            .await?;
            for created in links {
                println!(
                    "{}\t{}\t{}",
                    created.price_id, created.link.id, created.link.url
                );
            }
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let telemetry = shared::telemetry::init(SERVICE_NAME, &settings, LogOutput::Stdout)?;
    let application = Application::build(settings).await?;
    tracing::info!(port = application.port(), "landing listening");
    application.run_until_terminated().await?;
    telemetry.shutdown();
    Ok(())
}
