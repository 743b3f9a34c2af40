//! `ingress`: telemetry → settings → build → serve until SIGTERM has drained it.

use ingress::{Application, SERVICE_NAME};
use shared::settings::Uses;
use shared::telemetry::LogOutput;
use shared::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load(Uses::INGRESS)?;
    let telemetry = shared::telemetry::init(SERVICE_NAME, &settings, LogOutput::Stdout)?;
    let application = Application::build(settings).await?;
    tracing::info!(port = application.port(), "ingress listening");
    application.run_until_terminated().await?;
    telemetry.shutdown();
    Ok(())
}
