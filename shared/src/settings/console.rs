//! The `[console]` section: the operators' console — where it listens (operators only), who may
//! sign in, how long a sign-in lasts, and how it reads the broker's queues. Checked at start-up,
//! each problem naming its key.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::SettingsError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    pub host: String,
    pub port: u16,
    /// The operators who may sign in: one per line, `name role password-hash`. Usually from a
    /// file (`APP_CONSOLE__OPERATORS_FILE`, the services' secrets-as-files convention).
    pub operators: SecretString,
    /// Cookies are sent only over HTTPS (and loopback, which browsers treat as secure). Off only
    /// behind a proxy that itself speaks plain HTTP to the browser, which it should not.
    pub secure_cookie: bool,
    /// How long a sign-in lasts.
    pub session_ttl_secs: u64,
    /// A request header in which a trusted reverse proxy names the operator it has already
    /// authenticated (`Remote-User`, `X-Forwarded-User`…); empty: operators sign in with their
    /// password only.
    pub proxy_user_header: String,
    /// The addresses (or CIDR ranges) of the proxies whose `proxy_user_header` is believed;
    /// from any other peer the header is ignored.
    pub trusted_proxies: Vec<String>,
    /// Failed sign-ins allowed per operator name per minute; past it the form answers 429.
    pub login_failures_per_minute: u32,
    /// RabbitMQ's management API (`http://host:15672`); empty: the queue table says it is not
    /// configured.
    pub management_url: String,
    pub management_username: String,
    pub management_password: SecretString,
    /// Prometheus's HTTP API (`http://host:9090`), for the webhook charts (the ingress keeps
    /// those numbers in its metrics, not in the database); empty: the charts say so.
    pub prometheus_url: String,
    /// Rows on the overview's lists and a search's results.
    pub list_limit: u32,
    /// How often the overview refreshes itself when the operator ticks its box (a script; the
    /// pages work without it).
    pub refresh_secs: u64,
    /// The longest one action (a fulfillment, a redrive) may run before the page says so.
    pub action_timeout_ms: u64,
}

impl ConsoleSettings {
    /// The trusted proxies, parsed ([`super::ip_ranges`]).
    pub fn trusted_proxy_ranges(&self) -> Result<Vec<ipnet::IpNet>, String> {
        super::ip_ranges(&self.trusted_proxies)
    }

    pub(super) fn check(&self) -> Result<(), SettingsError> {
        let invalid = |key: &'static str, problem: &str| {
            Err(SettingsError::Invalid {
                key,
                problem: problem.to_owned(),
            })
        };
        if self.operators.expose_secret().trim().is_empty() {
            return invalid(
                "console.operators",
                "is required: the operators, one `name role password-hash` per line, usually \
                 from a file named by APP_CONSOLE__OPERATORS_FILE (`console hash-password` makes \
                 the hash)",
            );
        }
        let proxies = match self.trusted_proxy_ranges() {
            Ok(proxies) => proxies,
            Err(problem) => return invalid("console.trusted_proxies", &problem),
        };
        let header = self.proxy_user_header.trim();
        if !header.is_empty()
            && actix_web::http::header::HeaderName::from_bytes(header.as_bytes()).is_err()
        {
            return invalid("console.proxy_user_header", "is not an HTTP header name");
        }
        // Either half alone is a mistake: a header believed from everyone lets anyone name
        // themselves; proxies without a header look configured and sign nobody in.
        if !header.is_empty() && proxies.is_empty() {
            return invalid(
                "console.trusted_proxies",
                "is required with console.proxy_user_header: the addresses of the proxies \
                 whose header is believed",
            );
        }
        if header.is_empty() && !proxies.is_empty() {
            return invalid(
                "console.proxy_user_header",
                "is required with console.trusted_proxies: the header in which they name the \
                 operator",
            );
        }
        if self.session_ttl_secs == 0 {
            return invalid("console.session_ttl_secs", "must be at least 1");
        }
        if self.login_failures_per_minute == 0 {
            return invalid("console.login_failures_per_minute", "must be at least 1");
        }
        if self.list_limit == 0 {
            return invalid("console.list_limit", "must be at least 1");
        }
        if self.refresh_secs == 0 {
            return invalid("console.refresh_secs", "must be at least 1");
        }
        if self.action_timeout_ms == 0 {
            return invalid("console.action_timeout_ms", "must be at least 1");
        }
        let url = self.management_url.as_str();
        let http = url.starts_with("http://") || url.starts_with("https://");
        if !url.is_empty() && !http {
            return invalid("console.management_url", "must be an http(s) URL or empty");
        }
        let url = self.prometheus_url.as_str();
        let http = url.starts_with("http://") || url.starts_with("https://");
        if !url.is_empty() && !http {
            return invalid("console.prometheus_url", "must be an http(s) URL or empty");
        }
        Ok(())
    }
}
