//! Settings: compiled defaults (`config/default.toml`, which documents every key) → an optional
//! TOML file named by `APP_CONFIG` → `APP_<SECTION>__<KEY>` environment variables.
//!
//! Secrets are [`SecretString`]s: `Debug` and logs print `[REDACTED]`. [`Settings::load`] fails
//! with a message that names the offending key, so a bad deployment stops at start-up. Each
//! process checks only the sections it uses ([`Uses`], in `checks`): ingress needs no Stripe key
//! and no database, landing no broker.

use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::signature::WebhookSecrets;

mod checks;
mod console;
mod durations;
mod notifier;

pub use checks::Uses;
pub use console::ConsoleSettings;
pub use notifier::{NotifierSettings, SmtpTls};

/// The commented defaults, compiled in so that no binary or test depends on its working
/// directory.
pub const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub log: LogSettings,
    pub telemetry: TelemetrySettings,
    pub database: DatabaseSettings,
    pub broker: BrokerSettings,
    pub stripe: StripeSettings,
    pub webhook: WebhookSettings,
    pub ingress: IngressSettings,
    pub worker: WorkerSettings,
    pub landing: LandingSettings,
    pub notifier: NotifierSettings,
    pub console: ConsoleSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub otlp_endpoint: String,
    pub sample_ratio: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    /// Replaces the URL's password when not empty: any character works here, where the URL
    /// would need it percent-encoded.
    pub password: SecretString,
    /// Pool size; 0: sized by the service ([`Settings::worker_database`] for the worker,
    /// [`crate::store::DEFAULT_POOL_SIZE`] for the others).
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    /// Postgres's `lock_timeout` on every session (0: off).
    pub lock_timeout_ms: u64,
    /// Postgres's `statement_timeout` on every session (0: off).
    pub statement_timeout_ms: u64,
    /// Postgres's `idle_in_transaction_session_timeout` on every session (0: off).
    pub idle_in_transaction_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSettings {
    pub url: SecretString,
    /// Replaces the password of every node of `url` when not empty.
    pub password: SecretString,
    /// PEM file of the CA(s) that signed the broker's certificate, trusted besides the system's
    /// roots on `amqps://` connections. Empty: the system's roots only.
    pub ca_file: String,
    pub prefix: String,
    pub confirm_timeout_ms: u64,
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    pub delivery_limit: u32,
    #[serde(deserialize_with = "one_or_more_millis")]
    pub retry_tiers_ms: Vec<u64>,
}

/// A list of milliseconds from the file (a sequence) or the environment (`10,20`, or `200`).
/// `try_parsing` turns a single `200` into a number before the list split sees it, and the split
/// leaves each entry a string, so both shapes and both entry types are accepted here.
fn one_or_more_millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Millis {
        Number(u64),
        Text(String),
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMore {
        One(Millis),
        More(Vec<Millis>),
    }
    let entries = match OneOrMore::deserialize(d)? {
        OneOrMore::One(one) => vec![one],
        OneOrMore::More(more) => more,
    };
    entries
        .into_iter()
        .map(|entry| match entry {
            Millis::Number(ms) => Ok(ms),
            Millis::Text(text) => text.trim().parse().map_err(|_| {
                serde::de::Error::custom(format!("{text:?} is not a number of milliseconds"))
            }),
        })
        .collect()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSettings {
    pub api_base: String,
    pub secret_key: SecretString,
    pub api_version: String,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub max_retries: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// The whole deployment's budget of Stripe requests per second.
    pub rate_limit_per_sec: u32,
    /// How many processes call Stripe (workers and landings): each takes an equal share of
    /// `rate_limit_per_sec` (see `stripe::budget`).
    pub processes: u32,
    /// How long a caller waits for another that is already asking Stripe about the same session
    /// (see `store::claims`); 0: never wait.
    pub claim_wait_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub secrets: Vec<SecretString>,
    pub tolerance_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressSettings {
    pub host: String,
    pub port: u16,
    pub path: String,
    pub body_limit_bytes: usize,
    /// Longest wait for a request's whole body, from the end of its headers.
    pub body_read_timeout_ms: u64,
    /// How long an idle connection stays open, before its first request or between two.
    pub keep_alive_secs: u64,
    pub ack_budget_ms: u64,
    pub retry_after_secs: u32,
    /// HTTP worker threads; 0 = one per CPU core.
    pub workers: usize,
    /// Confirm-mode channels the webhook publishes on.
    pub confirm_channels: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub host: String,
    pub port: u16,
    pub prefetch: u16,
    /// Longest pause before a delivery whose retry or dead-letter copy was not confirmed is
    /// handed back to its queue.
    pub hand_back_max_ms: u64,
    pub outbox_interval_ms: u64,
    pub outbox_batch: u32,
    pub reconcile_interval_secs: u64,
    pub reconcile_overlap_secs: u64,
    /// Events a reconciler sweep processes at once.
    pub reconcile_concurrency: u32,
    /// Connected accounts swept besides those with an order (see `store::orders::accounts`).
    pub reconcile_accounts: Vec<String>,
    pub unfulfilled_threshold_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandingSettings {
    pub host: String,
    pub port: u16,
    pub public_base_url: String,
    pub fulfill_deadline_ms: u64,
    pub success_rate_per_minute: u32,
    pub catalog: Vec<String>,
    /// Where the shop ships (two-letter codes): a cart holding a `shippable` product asks
    /// for an address in one of these.
    pub shipping_countries: Vec<String>,
    /// How long a fetched catalog is fresh; after that it is still served while one refresh
    /// runs.
    pub catalog_ttl_secs: u64,
    /// `POST /checkout` requests allowed per client per minute (each may create a Checkout
    /// Session, a call against the Stripe budget).
    pub checkout_rate_per_minute: u32,
    /// Signs the shop's form tokens; every replica needs the same one.
    pub form_secret: SecretString,
    /// Addresses (or CIDR ranges) of the reverse proxies whose client-address header is
    /// believed. Empty: the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// The header in which a trusted proxy names the client (`X-Forwarded-For` style: a
    /// comma-separated chain, each proxy appending the address it received from).
    pub client_ip_header: String,
    /// How long `/readyz` reuses its last check of Stripe.
    pub stripe_check_secs: u64,
    /// How long an idle connection stays open, before its first request or between two.
    pub keep_alive_secs: u64,
    /// The shop's name on every page (the Stripe account's business name should match it).
    pub shop_name: String,
    /// Where the customer pays: Stripe's hosted page, or the embedded form on our own page.
    #[serde(deserialize_with = "CheckoutUiMode::deserialize_named")]
    pub checkout_ui_mode: CheckoutUiMode,
    /// Stripe.js, which mounts the embedded form (the simulator's `/v3` offline). The page's
    /// Content-Security-Policy allows scripts and frames from this URL's origin.
    pub stripe_js_url: String,
    /// The publishable key (`pk_…`) Stripe.js is started with; needed in embedded mode.
    pub publishable_key: String,
}

/// `landing.checkout_ui_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutUiMode {
    /// The checkout button redirects to Stripe's payment page.
    Hosted,
    /// The checkout button leads to our page, where Stripe.js mounts the payment form.
    Embedded,
}

impl CheckoutUiMode {
    /// Reads the setting with an error that names its key and values (serde's own names only
    /// the Rust type).
    fn deserialize_named<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        match raw.trim() {
            "hosted" => Ok(Self::Hosted),
            "embedded" => Ok(Self::Embedded),
            other => Err(serde::de::Error::custom(format!(
                "landing.checkout_ui_mode must be \"hosted\" or \"embedded\", not {other:?}"
            ))),
        }
    }
}

impl LandingSettings {
    /// The trusted proxies, parsed ([`ip_ranges`]).
    pub fn trusted_proxy_ranges(&self) -> Result<Vec<ipnet::IpNet>, String> {
        ip_ranges(&self.trusted_proxies)
    }
}

/// Addresses or CIDR ranges as a setting lists them; a single address is a range of one. Blank
/// entries (an empty environment variable) are skipped.
pub fn ip_ranges(entries: &[String]) -> Result<Vec<ipnet::IpNet>, String> {
    entries
        .iter()
        .map(|entry| entry.trim())
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("{entry:?} is neither an IP address nor a CIDR range"))
        })
        .collect()
}

/// Connections the worker holds besides its deliveries' and the reconciler's: the outbox
/// relay's transaction, and one for `/readyz` and `/metrics`.
pub const WORKER_OTHER_CONNECTIONS: u32 = 2;

/// A setting that cannot be used, named by its key.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration key `{key}`: {problem}")]
    Invalid { key: &'static str, problem: String },
}

impl Settings {
    /// Loads from the process environment and checks what `uses` names.
    pub fn load(uses: Uses) -> Result<Self, SettingsError> {
        Self::load_from(uses, std::env::vars())
    }

    /// Loads with `vars` standing in for the environment (tests pass their own), and checks
    /// what `uses` names.
    pub fn load_from(
        uses: Uses,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let vars: std::collections::HashMap<String, String> = vars.into_iter().collect();
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = vars.get("APP_CONFIG").filter(|p| !p.is_empty()) {
            builder = builder.add_source(File::with_name(path).required(true));
        }
        let verbatim = Verbatim::take(&vars);
        let env = Environment::with_prefix("APP")
            .prefix_separator("_")
            .separator("__")
            .list_separator(",")
            .with_list_parse_key("webhook.secrets")
            .with_list_parse_key("broker.retry_tiers_ms")
            .with_list_parse_key("landing.catalog")
            .with_list_parse_key("worker.reconcile_accounts")
            .with_list_parse_key("landing.shipping_countries")
            .with_list_parse_key("landing.trusted_proxies")
            .with_list_parse_key("console.trusted_proxies")
            .with_list_parse_key("notifier.callback_urls")
            .try_parsing(true)
            .source(Some(
                vars.into_iter()
                    .filter(|(k, _)| k != "APP_CONFIG")
                    .collect(),
            ));
        let mut settings: Settings = builder.add_source(env).build()?.try_deserialize()?;
        verbatim.apply(&mut settings);
        settings.normalize();
        settings.check(uses)?;
        Ok(settings)
    }

    /// Surrounding whitespace is never part of a secret: a hand-typed list (`whsec_a, whsec_b`)
    /// or a secrets file saved with CRLF line ends would otherwise make every signature fail,
    /// with nothing to say why. Nor of an account id, and a blank one (compose passes an unset
    /// variable as the empty string) is no account.
    fn normalize(&mut self) {
        for secret in &mut self.webhook.secrets {
            let trimmed = secret.expose_secret().trim();
            if trimmed.len() != secret.expose_secret().len() {
                *secret = SecretString::from(trimmed.to_owned());
            }
        }
        let accounts = &mut self.worker.reconcile_accounts;
        *accounts = accounts
            .iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
    }

    /// Database connections the worker can be using at once: one per delivery it holds
    /// (`worker.prefetch`), one per event of a reconciler sweep (when the reconciler is on),
    /// and [`WORKER_OTHER_CONNECTIONS`].
    pub fn worker_connections_needed(&self) -> u32 {
        let reconciler = if self.worker.reconcile_interval_secs == 0 {
            0
        } else {
            self.worker.reconcile_concurrency
        };
        u32::from(self.worker.prefetch.max(1)) + reconciler + WORKER_OTHER_CONNECTIONS
    }

    /// The worker's database settings, its pool sized with its concurrency: to
    /// [`Self::worker_connections_needed`] when `database.max_connections` is 0, else as set,
    /// refused when that is fewer (a delivery waiting for a connection past
    /// `database.acquire_timeout_ms` is retried for nothing).
    pub fn worker_database(&self) -> Result<DatabaseSettings, SettingsError> {
        let needed = self.worker_connections_needed();
        let configured = self.database.max_connections;
        if configured != 0 && configured < needed {
            let reconciler = if self.worker.reconcile_interval_secs == 0 {
                String::new()
            } else {
                format!(
                    " + worker.reconcile_concurrency ({})",
                    self.worker.reconcile_concurrency
                )
            };
            return Err(SettingsError::Invalid {
                key: "database.max_connections",
                problem: format!(
                    "{configured} is fewer than the worker can use at once: worker.prefetch ({}){reconciler} \
                     + {WORKER_OTHER_CONNECTIONS} (outbox relay, ops endpoints) = {needed}; raise it, \
                     set it to 0 to size the pool from those, or lower worker.prefetch",
                    self.worker.prefetch
                ),
            });
        }
        Ok(DatabaseSettings {
            max_connections: if configured == 0 { needed } else { configured },
            ..self.database.clone()
        })
    }

    pub fn webhook_secrets(&self) -> WebhookSecrets {
        WebhookSecrets::new(self.webhook.secrets.clone())
    }

    pub fn webhook_tolerance(&self) -> Duration {
        Duration::from_secs(self.webhook.tolerance_secs)
    }
}

/// Passwords as the environment has them. `try_parsing` (which turns `APP_INGRESS__PORT=8080`
/// into a number) would also turn a password of `0123` into `123` and `TRUE` into `true`; a
/// password is never anything but its exact characters.
struct Verbatim {
    database_password: Option<String>,
    broker_password: Option<String>,
    callback_secret: Option<String>,
    management_password: Option<String>,
}

impl Verbatim {
    fn take(vars: &std::collections::HashMap<String, String>) -> Self {
        Self {
            database_password: vars.get("APP_DATABASE__PASSWORD").cloned(),
            broker_password: vars.get("APP_BROKER__PASSWORD").cloned(),
            callback_secret: vars.get("APP_NOTIFIER__CALLBACK_SECRET").cloned(),
            management_password: vars.get("APP_CONSOLE__MANAGEMENT_PASSWORD").cloned(),
        }
    }

    fn apply(self, settings: &mut Settings) {
        if let Some(password) = self.database_password {
            settings.database.password = SecretString::from(password);
        }
        if let Some(password) = self.broker_password {
            settings.broker.password = SecretString::from(password);
        }
        if let Some(secret) = self.callback_secret {
            settings.notifier.callback_secret = SecretString::from(secret);
        }
        if let Some(password) = self.management_password {
            settings.console.management_password = SecretString::from(password);
        }
    }
}

#[cfg(test)]
mod tests;
