//! `landing`: settings → telemetry → build → serve until SIGTERM has drained it.

use landing::{Application, SERVICE_NAME};
use shared::settings::Uses;
use shared::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load(Uses::LANDING)?;
    let telemetry = shared::telemetry::init(SERVICE_NAME, &settings.log, &settings.telemetry)?;
    let application = Application::build(settings).await?;
    tracing::info!(port = application.port(), "landing listening");
    application.run_until_terminated().await?;
    telemetry.shutdown();
    Ok(())
}
