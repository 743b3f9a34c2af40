//! Start-up checks, section by section, each naming the key at fault.
//!
//! A process checks only what it uses ([`Uses`]): ingress verifies signatures and publishes, so
//! a deployment gives it the webhook secrets and the broker and nothing else; a missing Stripe
//! key or a database URL it never opens must not stop it. What a process does use must be set
//! explicitly where there is no safe default: the Stripe API base, the secret key and the
//! webhook secrets have none, so a service started without them refuses, naming the key.

use secrecy::ExposeSecret;

use super::{Settings, SettingsError};

/// The sections a process reads. Each service and command has its constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uses {
    pub database: bool,
    pub broker: bool,
    pub stripe: bool,
    pub webhook: bool,
    pub ingress: bool,
    pub worker: bool,
    pub landing: bool,
    pub notifier: bool,
    pub console: bool,
}

impl Uses {
    /// Only the sections every process reads (log, telemetry): tools that read one setting.
    pub const COMMON: Uses = Uses {
        database: false,
        broker: false,
        stripe: false,
        webhook: false,
        ingress: false,
        worker: false,
        landing: false,
        notifier: false,
        console: false,
    };
    /// Verifies webhooks and publishes them: no Stripe API call, no database.
    pub const INGRESS: Uses = Uses {
        broker: true,
        webhook: true,
        ingress: true,
        ..Uses::COMMON
    };
    /// Consumes, fulfills (Stripe and the database), relays the outbox, reconciles.
    pub const WORKER: Uses = Uses {
        database: true,
        broker: true,
        stripe: true,
        worker: true,
        ..Uses::COMMON
    };
    /// The shop and the success page: Stripe and the database, no broker.
    pub const LANDING: Uses = Uses {
        database: true,
        stripe: true,
        landing: true,
        ..Uses::COMMON
    };
    /// Consumes announcements and tells people: the database (the dedupe) and the broker; no
    /// Stripe call.
    pub const NOTIFIER: Uses = Uses {
        database: true,
        broker: true,
        notifier: true,
        ..Uses::COMMON
    };
    /// The operators' console: reads the database and the broker, fulfills with Stripe.
    pub const CONSOLE: Uses = Uses {
        database: true,
        broker: true,
        stripe: true,
        console: true,
        ..Uses::COMMON
    };
    /// `worker migrate` and `worker show`.
    pub const DATABASE: Uses = Uses {
        database: true,
        ..Uses::COMMON
    };
    /// `worker redrive`.
    pub const BROKER: Uses = Uses {
        broker: true,
        ..Uses::COMMON
    };
    /// `worker reconcile`: the worker's settings without its broker.
    pub const RECONCILE: Uses = Uses {
        broker: false,
        ..Uses::WORKER
    };
    /// Everything (tests that build every service from one set of settings).
    pub const ALL: Uses = Uses {
        database: true,
        broker: true,
        stripe: true,
        webhook: true,
        ingress: true,
        worker: true,
        landing: true,
        notifier: true,
        console: true,
    };
}

type Checked = Result<(), SettingsError>;

fn invalid(key: &'static str, problem: impl Into<String>) -> Checked {
    Err(SettingsError::Invalid {
        key,
        problem: problem.into(),
    })
}

impl Settings {
    /// Checks the sections `uses` names (and the ones every process reads). Each service's
    /// `build` calls it too, so a service refuses settings it cannot run with however they
    /// were loaded.
    pub fn check(&self, uses: Uses) -> Checked {
        if !(0.0..=1.0).contains(&self.telemetry.sample_ratio) {
            return invalid("telemetry.sample_ratio", "must be between 0.0 and 1.0");
        }
        if uses.stripe {
            self.check_stripe()?;
        }
        if uses.webhook {
            self.check_webhook()?;
        }
        if uses.database {
            self.check_database()?;
        }
        if uses.broker {
            self.check_broker()?;
        }
        if uses.ingress {
            self.check_ingress()?;
        }
        if uses.worker {
            self.check_worker()?;
        }
        if uses.landing {
            self.check_landing()?;
        }
        if uses.notifier {
            self.notifier.check()?;
        }
        if uses.console {
            self.console.check()?;
        }
        Ok(())
    }

    fn check_stripe(&self) -> Checked {
        let stripe = &self.stripe;
        let key = stripe.secret_key.expose_secret();
        if key.is_empty() {
            return invalid(
                "stripe.secret_key",
                "must be set (the account's sk_test_…, sk_live_… or restricted rk_… key); \
                 there is no default",
            );
        }
        if !(key.starts_with("sk_test_") || key.starts_with("sk_live_") || key.starts_with("rk_")) {
            return invalid(
                "stripe.secret_key",
                "must start with sk_test_, sk_live_ or rk_",
            );
        }
        if stripe.api_base.trim().is_empty() {
            return invalid(
                "stripe.api_base",
                "must be set (https://api.stripe.com, or stripe-sim's address in development); \
                 there is no default",
            );
        }
        let Ok(api_base) = url::Url::parse(&stripe.api_base) else {
            return invalid("stripe.api_base", "is not a URL");
        };
        let live = key.starts_with("sk_live_") || key.starts_with("rk_live_");
        if live && api_base.scheme() != "https" {
            // The base is no secret; the key is named by its kind only.
            return invalid(
                "stripe.api_base",
                format!(
                    "is {api_base} while stripe.secret_key is a live key (sk_live_/rk_live_): a \
                     live key is only ever sent over https"
                ),
            );
        }
        if stripe.rate_limit_per_sec == 0 {
            return invalid("stripe.rate_limit_per_sec", "must be at least 1");
        }
        if stripe.processes == 0 {
            return invalid(
                "stripe.processes",
                "must be at least 1 (every worker and landing replica counts)",
            );
        }
        let longest = crate::store::claims::RETENTION_SECS * 1000;
        if stripe.claim_wait_ms > longest {
            return invalid(
                "stripe.claim_wait_ms",
                format!("must be at most {longest} (claims older than that are purged)"),
            );
        }
        Ok(())
    }

    fn check_webhook(&self) -> Checked {
        if self.webhook.secrets.is_empty() {
            return invalid(
                "webhook.secrets",
                "must be set: at least one endpoint secret (whsec_…); there is no default",
            );
        }
        let count = self.webhook.secrets.len();
        for (index, secret) in self.webhook.secrets.iter().enumerate() {
            // Named by position, never by value: the message goes to logs.
            let position = format!("secret {} of {count}", index + 1);
            let secret = secret.expose_secret();
            if secret.is_empty() {
                return invalid(
                    "webhook.secrets",
                    format!("{position} is empty (two commas in a row, or one at the end?)"),
                );
            }
            let token = secret.strip_prefix("whsec_").unwrap_or_default();
            if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
                return invalid(
                    "webhook.secrets",
                    format!(
                        "{position} does not start with whsec_ or is not one Stripe endpoint \
                         secret (whsec_ then letters and digits, no spaces)"
                    ),
                );
            }
        }
        Ok(())
    }

    fn check_database(&self) -> Checked {
        if !self.database.url.expose_secret().starts_with("postgres") {
            return invalid("database.url", "must be a postgres:// URL");
        }
        Ok(())
    }

    fn check_broker(&self) -> Checked {
        let broker = &self.broker;
        if !crate::queue::connection::broker_nodes(broker.url.expose_secret())
            .iter()
            .all(|node| node.starts_with("amqp"))
        {
            return invalid(
                "broker.url",
                "must be an amqp:// or amqps:// URL, or several separated by commas",
            );
        }
        if let Err(problem) = crate::queue::endpoint::read_ca_file(&broker.ca_file) {
            return invalid("broker.ca_file", problem);
        }
        if broker.retry_tiers_ms.contains(&0) {
            return invalid(
                "broker.retry_tiers_ms",
                "every tier needs a delay above zero",
            );
        }
        if broker.delivery_limit == 0 {
            return invalid("broker.delivery_limit", "must be at least 1");
        }
        Ok(())
    }

    fn check_ingress(&self) -> Checked {
        let ingress = &self.ingress;
        if !ingress.path.starts_with('/') {
            return invalid("ingress.path", "must start with /");
        }
        if ingress.body_read_timeout_ms == 0 {
            return invalid("ingress.body_read_timeout_ms", "must be above zero");
        }
        if ingress.ack_budget_ms == 0 {
            return invalid("ingress.ack_budget_ms", "must be above zero");
        }
        if ingress.keep_alive_secs == 0 {
            return invalid("ingress.keep_alive_secs", "must be at least 1");
        }
        if ingress.confirm_channels == 0 {
            return invalid("ingress.confirm_channels", "must be at least 1");
        }
        Ok(())
    }

    fn check_worker(&self) -> Checked {
        if self.worker.reconcile_concurrency == 0 {
            return invalid("worker.reconcile_concurrency", "must be at least 1");
        }
        if self.worker.hand_back_max_ms == 0 {
            return invalid("worker.hand_back_max_ms", "must be above zero");
        }
        if let Some(Err(e)) = self
            .worker
            .reconcile_accounts
            .iter()
            .map(|a| crate::domain::AccountId::parse(a))
            .find(Result::is_err)
        {
            return invalid(
                "worker.reconcile_accounts",
                format!("must list connected account ids (acct_…): {e}"),
            );
        }
        Ok(())
    }

    fn check_landing(&self) -> Checked {
        let landing = &self.landing;
        if url::Url::parse(&landing.public_base_url).is_err() {
            return invalid("landing.public_base_url", "is not a URL");
        }
        if landing.form_secret.expose_secret().trim().len() < 16 {
            return invalid("landing.form_secret", "must be at least 16 characters");
        }
        if let Err(problem) = landing.trusted_proxy_ranges() {
            return invalid("landing.trusted_proxies", problem);
        }
        if actix_web::http::header::HeaderName::from_bytes(landing.client_ip_header.as_bytes())
            .is_err()
        {
            return invalid("landing.client_ip_header", "is not an HTTP header name");
        }
        if landing.stripe_check_secs == 0 {
            return invalid("landing.stripe_check_secs", "must be at least 1");
        }
        let shop_name = landing.shop_name.trim();
        if shop_name.is_empty() || shop_name.chars().count() > 80 {
            return invalid("landing.shop_name", "must be 1 to 80 characters");
        }
        if landing.keep_alive_secs == 0 {
            return invalid("landing.keep_alive_secs", "must be at least 1");
        }
        let country_code = |c: &String| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase());
        if landing.shipping_countries.is_empty()
            || !landing.shipping_countries.iter().all(country_code)
        {
            return invalid(
                "landing.shipping_countries",
                "must list one or more two-letter country codes in capitals (US, CA, …)",
            );
        }
        self.check_embedded_checkout()
    }

    /// Stripe.js's URL always (its origin goes into a Content-Security-Policy); the publishable
    /// key only when the embedded form is used.
    fn check_embedded_checkout(&self) -> Checked {
        let landing = &self.landing;
        match url::Url::parse(&landing.stripe_js_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => return invalid("landing.stripe_js_url", "is not an http or https URL"),
        }
        if landing.checkout_ui_mode == super::CheckoutUiMode::Embedded
            && !landing.publishable_key.starts_with("pk_")
        {
            return invalid(
                "landing.publishable_key",
                "must be a publishable key (pk_test_… or pk_live_…) when \
                 landing.checkout_ui_mode is embedded",
            );
        }
        Ok(())
    }
}
