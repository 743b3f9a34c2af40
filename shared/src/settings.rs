//! Settings: compiled defaults (`config/default.toml`, which documents every key) → an optional
//! TOML file named by `APP_CONFIG` → `APP_<SECTION>__<KEY>` environment variables.
//!
//! Secrets are [`SecretString`]s: `Debug` and logs print `[REDACTED]`. [`Settings::load`] fails
//! with a message that names the offending key, so a bad deployment stops at start-up.

use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::signature::WebhookSecrets;

/// The commented defaults, compiled in so that no binary or test depends on its working
/// directory.
pub const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    pub otlp_endpoint: String,
    pub sample_ratio: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: SecretString,
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
pub struct BrokerSettings {
    pub url: SecretString,
    pub prefix: String,
    pub confirm_timeout_ms: u64,
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    pub delivery_limit: u32,
    pub retry_tiers_ms: Vec<u64>,
}

#[derive(Debug, Clone, Deserialize)]
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
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookSettings {
    pub secrets: Vec<SecretString>,
    pub tolerance_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IngressSettings {
    pub host: String,
    pub port: u16,
    pub path: String,
    pub body_limit_bytes: usize,
    /// Longest wait for a request's whole body, from the end of its headers.
    pub body_read_timeout_ms: u64,
    /// How long an idle connection stays open.
    pub keep_alive_secs: u64,
    pub ack_budget_ms: u64,
    pub retry_after_secs: u32,
    /// HTTP worker threads; 0 = one per CPU core.
    pub workers: usize,
    /// Confirm-mode channels the webhook publishes on.
    pub confirm_channels: usize,
}

#[derive(Debug, Clone, Deserialize)]
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
    pub unfulfilled_threshold_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LandingSettings {
    pub host: String,
    pub port: u16,
    pub public_base_url: String,
    pub fulfill_deadline_ms: u64,
    pub success_rate_per_minute: u32,
    pub catalog: Vec<String>,
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
}

impl LandingSettings {
    /// The trusted proxies, parsed; a single address is a range of one. Blank entries (an empty
    /// environment variable) are skipped.
    pub fn trusted_proxy_ranges(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
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
    /// Loads from the process environment.
    pub fn load() -> Result<Self, SettingsError> {
        Self::load_from(std::env::vars())
    }

    /// Loads with `vars` standing in for the environment (tests pass their own).
    pub fn load_from(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let vars: std::collections::HashMap<String, String> = vars.into_iter().collect();
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = vars.get("APP_CONFIG").filter(|p| !p.is_empty()) {
            builder = builder.add_source(File::with_name(path).required(true));
        }
        let env = Environment::with_prefix("APP")
            .prefix_separator("_")
            .separator("__")
            .list_separator(",")
            .with_list_parse_key("webhook.secrets")
            .with_list_parse_key("broker.retry_tiers_ms")
            .with_list_parse_key("landing.catalog")
            .with_list_parse_key("landing.trusted_proxies")
            .try_parsing(true)
            .source(Some(
                vars.into_iter()
                    .filter(|(k, _)| k != "APP_CONFIG")
                    .collect(),
            ));
        let mut settings: Settings = builder.add_source(env).build()?.try_deserialize()?;
        settings.normalize();
        settings.validate()?;
        Ok(settings)
    }

    /// Surrounding whitespace is never part of a secret: a hand-typed list (`whsec_a, whsec_b`)
    /// or a secrets file saved with CRLF line ends would otherwise make every signature fail,
    /// with nothing to say why.
    fn normalize(&mut self) {
        for secret in &mut self.webhook.secrets {
            let trimmed = secret.expose_secret().trim();
            if trimmed.len() != secret.expose_secret().len() {
                *secret = SecretString::from(trimmed.to_owned());
            }
        }
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |key, problem: &str| {
            Err(SettingsError::Invalid {
                key,
                problem: problem.into(),
            })
        };
        let key = self.stripe.secret_key.expose_secret();
        if !(key.starts_with("sk_test_") || key.starts_with("sk_live_") || key.starts_with("rk_")) {
            return invalid(
                "stripe.secret_key",
                "must start with sk_test_, sk_live_ or rk_",
            );
        }
        if url::Url::parse(&self.stripe.api_base).is_err() {
            return invalid("stripe.api_base", "is not a URL");
        }
        if self.stripe.rate_limit_per_sec == 0 {
            return invalid("stripe.rate_limit_per_sec", "must be at least 1");
        }
        if self.stripe.processes == 0 {
            return invalid(
                "stripe.processes",
                "must be at least 1 (every worker and landing replica counts)",
            );
        }
        if self.webhook.secrets.is_empty() {
            return invalid("webhook.secrets", "needs at least one endpoint secret");
        }
        let count = self.webhook.secrets.len();
        for (index, secret) in self.webhook.secrets.iter().enumerate() {
            // Named by position, never by value: the message goes to logs.
            let position = format!("secret {} of {count}", index + 1);
            let secret = secret.expose_secret();
            if secret.is_empty() {
                return invalid(
                    "webhook.secrets",
                    &format!("{position} is empty (two commas in a row, or one at the end?)"),
                );
            }
            let token = secret.strip_prefix("whsec_").unwrap_or_default();
            if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
                return invalid(
                    "webhook.secrets",
                    &format!(
                        "{position} does not start with whsec_ or is not one Stripe endpoint \
                         secret (whsec_ then letters and digits, no spaces)"
                    ),
                );
            }
        }
        if !self.database.url.expose_secret().starts_with("postgres") {
            return invalid("database.url", "must be a postgres:// URL");
        }
        if !crate::queue::connection::broker_nodes(self.broker.url.expose_secret())
            .iter()
            .all(|node| node.starts_with("amqp"))
        {
            return invalid(
                "broker.url",
                "must be an amqp:// or amqps:// URL, or several separated by commas",
            );
        }
        if self.broker.retry_tiers_ms.contains(&0) {
            return invalid(
                "broker.retry_tiers_ms",
                "every tier needs a delay above zero",
            );
        }
        if self.broker.delivery_limit == 0 {
            return invalid("broker.delivery_limit", "must be at least 1");
        }
        if self.worker.reconcile_concurrency == 0 {
            return invalid("worker.reconcile_concurrency", "must be at least 1");
        }
        if self.worker.hand_back_max_ms == 0 {
            return invalid("worker.hand_back_max_ms", "must be above zero");
        }
        if !self.ingress.path.starts_with('/') {
            return invalid("ingress.path", "must start with /");
        }
        if self.ingress.body_read_timeout_ms == 0 {
            return invalid("ingress.body_read_timeout_ms", "must be above zero");
        }
        if self.ingress.ack_budget_ms == 0 {
            return invalid("ingress.ack_budget_ms", "must be above zero");
        }
        if self.ingress.confirm_channels == 0 {
            return invalid("ingress.confirm_channels", "must be at least 1");
        }
        if url::Url::parse(&self.landing.public_base_url).is_err() {
            return invalid("landing.public_base_url", "is not a URL");
        }
        if self.landing.form_secret.expose_secret().trim().len() < 16 {
            return invalid("landing.form_secret", "must be at least 16 characters");
        }
        if let Err(problem) = self.landing.trusted_proxy_ranges() {
            return invalid("landing.trusted_proxies", &problem);
        }
        if actix_web::http::header::HeaderName::from_bytes(self.landing.client_ip_header.as_bytes())
            .is_err()
        {
            return invalid("landing.client_ip_header", "is not an HTTP header name");
        }
        if self.landing.stripe_check_secs == 0 {
            return invalid("landing.stripe_check_secs", "must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.telemetry.sample_ratio) {
            return invalid("telemetry.sample_ratio", "must be between 0.0 and 1.0");
        }
        Ok(())
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

impl IngressSettings {
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_without_any_file_or_variable() {
        let s = Settings::load_from(vars(&[])).unwrap();
        assert_eq!(s.ingress.port, 8080);
        assert_eq!(s.broker.retry_tiers_ms.len(), 5);
        // Bounded by default: a lock held elsewhere never blocks a session of ours for long.
        assert_eq!(s.database.lock_timeout_ms, 5000);
        assert_eq!(s.database.statement_timeout_ms, 30000);
        assert_eq!(s.database.idle_in_transaction_timeout_ms, 30000);
    }

    #[test]
    fn environment_variables_override_defaults_including_lists() {
        let s = Settings::load_from(vars(&[
            ("APP_INGRESS__PORT", "9999"),
            ("APP_WEBHOOK__SECRETS", "whsec_old,whsec_new"),
            ("APP_BROKER__RETRY_TIERS_MS", "10,20"),
            ("APP_STRIPE__SECRET_KEY", "sk_test_abc"),
        ]))
        .unwrap();
        assert_eq!(s.ingress.port, 9999);
        assert_eq!(s.webhook.secrets.len(), 2);
        assert_eq!(s.webhook.secrets[1].expose_secret(), "whsec_new");
        assert_eq!(s.broker.retry_tiers_ms, vec![10, 20]);
    }

    #[test]
    fn a_file_named_by_app_config_is_layered_between() {
        let dir = std::env::temp_dir().join(format!("settings-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("app.toml");
        std::fs::write(&file, "[ingress]\nport = 7000\npath = \"/stripe\"\n").unwrap();
        let s = Settings::load_from(vars(&[
            ("APP_CONFIG", file.to_str().unwrap()),
            ("APP_INGRESS__PORT", "7001"),
        ]))
        .unwrap();
        assert_eq!(s.ingress.path, "/stripe");
        assert_eq!(s.ingress.port, 7001, "the environment wins over the file");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        let err =
            Settings::load_from(vars(&[("APP_CONFIG", "/nonexistent/app.toml")])).unwrap_err();
        assert!(err.to_string().contains("app.toml"), "{err}");
    }

    #[test]
    fn a_bad_value_is_reported_with_its_key() {
        let err = Settings::load_from(vars(&[("APP_INGRESS__PORT", "not-a-port")])).unwrap_err();
        assert!(err.to_string().contains("ingress.port"), "{err}");
        let err =
            Settings::load_from(vars(&[("APP_STRIPE__SECRET_KEY", "pk_test_123")])).unwrap_err();
        assert!(err.to_string().contains("stripe.secret_key"), "{err}");
        let err = Settings::load_from(vars(&[("APP_WEBHOOK__SECRETS", "")])).unwrap_err();
        assert!(err.to_string().contains("webhook.secrets"), "{err}");
        let err =
            Settings::load_from(vars(&[("APP_INGRESS__BODY_READ_TIMEOUT_MS", "0")])).unwrap_err();
        assert!(
            err.to_string().contains("ingress.body_read_timeout_ms"),
            "{err}"
        );
        let err = Settings::load_from(vars(&[("APP_WORKER__HAND_BACK_MAX_MS", "0")])).unwrap_err();
        assert!(err.to_string().contains("worker.hand_back_max_ms"), "{err}");
    }

    #[test]
    fn the_workers_pool_is_sized_with_its_prefetch_and_reconciler() {
        let s = Settings::load_from(vars(&[])).unwrap();
        assert_eq!(s.database.max_connections, 0, "sized by the service");
        assert_eq!(
            s.worker_database().unwrap().max_connections,
            32 + 8 + WORKER_OTHER_CONNECTIONS
        );
        let s = Settings::load_from(vars(&[
            ("APP_WORKER__PREFETCH", "10"),
            ("APP_WORKER__RECONCILE_INTERVAL_SECS", "0"),
        ]))
        .unwrap();
        assert_eq!(s.worker_database().unwrap().max_connections, 12);
        let s = Settings::load_from(vars(&[("APP_DATABASE__MAX_CONNECTIONS", "60")])).unwrap();
        assert_eq!(s.worker_database().unwrap().max_connections, 60);
    }

    #[test]
    fn a_pool_smaller_than_the_workers_concurrency_is_refused_naming_both_keys() {
        let s = Settings::load_from(vars(&[("APP_DATABASE__MAX_CONNECTIONS", "16")])).unwrap();
        let shown = s.worker_database().unwrap_err().to_string();
        assert!(shown.contains("`database.max_connections`"), "{shown}");
        assert!(shown.contains("worker.prefetch (32)"), "{shown}");
        assert!(
            shown.contains("worker.reconcile_concurrency (8)"),
            "{shown}"
        );
        assert!(shown.contains("= 42"), "{shown}");
    }

    #[test]
    fn webhook_secrets_are_trimmed_of_spaces_and_line_ends() {
        let s = Settings::load_from(vars(&[(
            "APP_WEBHOOK__SECRETS",
            " whsec_old , whsec_new\r\n",
        )]))
        .unwrap();
        let secrets: Vec<&str> = s
            .webhook
            .secrets
            .iter()
            .map(|secret| secret.expose_secret())
            .collect();
        assert_eq!(secrets, ["whsec_old", "whsec_new"]);

        let dir = std::env::temp_dir().join(format!("settings-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("app.toml");
        std::fs::write(&file, "[webhook]\r\nsecrets = [\"whsec_file\\r\\n\"]\r\n").unwrap();
        let s = Settings::load_from(vars(&[("APP_CONFIG", file.to_str().unwrap())])).unwrap();
        assert_eq!(s.webhook.secrets[0].expose_secret(), "whsec_file");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_empty_or_malformed_webhook_secret_is_refused_naming_the_key() {
        for (value, problem) in [
            ("whsec_a,,whsec_b", "secret 2 of 3 is empty"),
            ("whsec_a,", "secret 2 of 2 is empty"),
            (" \r\n", "secret 1 of 1 is empty"),
            (
                "whsec_a, sk_test_b",
                "secret 2 of 2 does not start with whsec_",
            ),
            ("whsec_a,whsec_", "secret 2 of 2 does not start with whsec_"),
            (
                "whsec_a whsec_b",
                "secret 1 of 1 does not start with whsec_",
            ),
        ] {
            let err = Settings::load_from(vars(&[("APP_WEBHOOK__SECRETS", value)])).unwrap_err();
            let shown = err.to_string();
            assert!(shown.contains("`webhook.secrets`"), "{value:?}: {shown}");
            assert!(shown.contains(problem), "{value:?}: {shown}");
            assert!(
                !shown.contains("sk_test_b"),
                "never the secret itself: {shown}"
            );
        }
    }

    #[test]
    fn a_broker_url_may_list_the_nodes_of_a_cluster_but_each_must_be_amqp() {
        let nodes = "amqp://u:p@rabbitmq-1:5672/%2f,amqp://u:p@rabbitmq-2:5672/%2f";
        let s = Settings::load_from(vars(&[("APP_BROKER__URL", nodes)])).unwrap();
        assert_eq!(
            s.broker.url.expose_secret(),
            nodes,
            "kept whole, not split by config"
        );
        let err = Settings::load_from(vars(&[(
            "APP_BROKER__URL",
            "amqp://u:p@rabbitmq-1:5672/%2f,rabbitmq-2:5672",
        )]))
        .unwrap_err();
        assert!(err.to_string().contains("broker.url"), "{err}");
        assert!(err.to_string().contains("several"), "{err}");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let s = Settings::load_from(vars(&[(
            "APP_LANDING__TRUSTED_PROXIES",
            "10.0.0.7, 172.16.0.0/12,2001:db8::/64",
        )]))
        .unwrap();
        let ranges = s.landing.trusted_proxy_ranges().unwrap();
        assert_eq!(ranges.len(), 3);
        assert!(ranges[0].contains(&"10.0.0.7".parse::<std::net::IpAddr>().unwrap()));
        let none = Settings::load_from(vars(&[("APP_LANDING__TRUSTED_PROXIES", "")])).unwrap();
        assert!(none.landing.trusted_proxy_ranges().unwrap().is_empty());
        let err = Settings::load_from(vars(&[("APP_LANDING__TRUSTED_PROXIES", "proxy.local")]))
            .unwrap_err();
        assert!(err.to_string().contains("landing.trusted_proxies"), "{err}");
        let err = Settings::load_from(vars(&[("APP_LANDING__CLIENT_IP_HEADER", "X Forwarded")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("landing.client_ip_header"),
            "{err}"
        );
        let err = Settings::load_from(vars(&[("APP_LANDING__FORM_SECRET", "short")])).unwrap_err();
        assert!(err.to_string().contains("landing.form_secret"), "{err}");
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let s = Settings::load_from(vars(&[
            ("APP_STRIPE__SECRET_KEY", "sk_test_verysecret"),
            ("APP_WEBHOOK__SECRETS", "whsec_verysecret"),
            ("APP_DATABASE__URL", "postgres://u:dbpassword@h/d"),
            ("APP_BROKER__URL", "amqp://u:brokerpassword@h"),
        ]))
        .unwrap();
        let shown = format!("{s:?}");
        for secret in [
            "sk_test_verysecret",
            "whsec_verysecret",
            "dbpassword",
            "brokerpassword",
        ] {
            assert!(!shown.contains(secret), "{secret} leaked");
        }
    }
}
