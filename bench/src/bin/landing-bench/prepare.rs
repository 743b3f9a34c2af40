//! `landing-bench prepare`: paid sessions, created through the real shop form.

use std::path::PathBuf;

use anyhow::{bail, Context};
use futures::stream::{self, StreamExt, TryStreamExt};

/// How many sessions are prepared at once.
const CONCURRENCY: usize = 16;

#[derive(Debug, clap::Args)]
pub struct PrepareArgs {
    /// The landing service, e.g. http://127.0.0.1:8082.
    #[arg(long)]
    landing: String,
    /// The simulator's address (its control API pays the sessions).
    #[arg(long)]
    sim: String,
    /// Postgres URL of the landing service's database; the migrations are applied to it.
    #[arg(long)]
    database_url: String,
    /// How many sessions.
    #[arg(long)]
    count: usize,
    /// The catalog price each session buys one of.
    #[arg(long, default_value = "price_tshirt")]
    price: String,
    /// Where to write the success-page URLs.
    #[arg(long)]
    out: PathBuf,
}

pub async fn prepare(args: PrepareArgs) -> anyhow::Result<()> {
    migrate(&args.database_url).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let urls: Vec<String> = stream::iter(0..args.count)
        .map(|_| paid_session(&http, &args))
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    std::fs::write(&args.out, urls.join("\n") + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("{} paid sessions -> {}", urls.len(), args.out.display());
    Ok(())
}

/// The shop page's form token (checkout accepts only tokens the shop issued).
async fn form_token(http: &reqwest::Client, landing: &str) -> anyhow::Result<String> {
    let shop = http
        .get(format!("{landing}/"))
        .send()
        .await
        .context("GET /")?
        .error_for_status()
        .context("GET /")?
        .text()
        .await
        .context("reading the shop page")?;
    shop.split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
        .context("the shop page has no form token")
}

async fn migrate(database_url: &str) -> anyhow::Result<()> {
    let settings = shared::Settings::load_from(
        shared::settings::Uses::DATABASE,
        [("APP_DATABASE__URL".to_owned(), database_url.to_owned())],
    )?;
    let pool = shared::store::pool(&settings.database)?;
    shared::store::migrate(&pool)
        .await
        .context("applying the migrations")?;
    Ok(())
}

/// One customer: open the shop page, submit its form, take the 303's session id, pay through
/// the simulator.
async fn paid_session(http: &reqwest::Client, args: &PrepareArgs) -> anyhow::Result<String> {
    let token = form_token(http, &args.landing).await?;
    let quantity_field = format!("qty_{}", args.price);
    let response = http
        .post(format!("{}/checkout", args.landing))
        .form(&[
            ("form_token", token.as_str()),
            (quantity_field.as_str(), "1"),
        ])
        .send()
        .await
        .context("POST /checkout")?;
    if response.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("POST /checkout answered {}", response.status());
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .context("the 303 has no Location")?;
    let id = location
        .rsplit('/')
        .find(|segment| segment.starts_with("cs_"))
        .with_context(|| format!("no session id in {location}"))?
        .to_owned();
    let paid = http
        .post(format!("{}/_sim/checkout/sessions/{id}/complete", args.sim))
        .json(&serde_json::json!({
            "payment": "paid", "name": "Jenny Rosen", "email": "jenny.rosen@example.com"
        }))
        .send()
        .await
        .context("paying through the simulator")?;
    if !paid.status().is_success() {
        bail!("the simulator refused to pay {id}: {}", paid.status());
    }
    Ok(format!(
        "{}{}",
        args.landing,
        landing::paths::success_page(&id)
    ))
}
