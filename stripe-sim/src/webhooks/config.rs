//! What delivery is configured with: the endpoints, the retry schedule, how long the payment page
//! waits for an acknowledgement, how delayed payments settle, and the fault knobs.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The payment page's default wait for the endpoints' 2xx before it redirects anyway.
pub const DEFAULT_REDIRECT_WAIT: Duration = Duration::from_secs(10);
/// How long one attempt may take (connect, send, response) before it counts as a timeout.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// More retries than this is a configuration mistake, not a schedule.
pub const MAX_RETRIES: usize = 32;

/// Stripe retries a failed delivery with exponential backoff for up to three days; the same
/// doubling here is compressed into about four minutes (1 s, 2 s, … 128 s), so that a test or
/// a local run sees retries without waiting hours.
pub fn default_retry_schedule() -> Vec<Duration> {
    (0..8).map(|i| Duration::from_secs(1 << i)).collect()
}

/// One webhook endpoint: where events are POSTed and the secrets they are signed with.
///
/// As at Stripe, an endpoint hears either the platform's own events or its connected accounts'
/// (an endpoint created with `connect=true`), never both: a platform that wants both registers
/// two endpoints, each with its own secret, which may share a URL.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub url: String,
    /// `whsec_…`. Two during a rotation: each delivery then carries one `v1` per secret.
    pub secrets: Vec<String>,
    /// Receives the events of connected accounts (those with `account`) instead of the
    /// platform's.
    #[serde(default)]
    pub connect: bool,
}

impl WebhookEndpoint {
    /// An endpoint for the platform's own events.
    pub fn new(url: impl Into<String>, secrets: &[&str]) -> Self {
        WebhookEndpoint {
            url: url.into(),
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
            connect: false,
        }
    }

    /// An endpoint for the events of connected accounts (Stripe's `connect=true`).
    pub fn for_connected_accounts(url: impl Into<String>, secrets: &[&str]) -> Self {
        WebhookEndpoint {
            connect: true,
            ..Self::new(url, secrets)
        }
    }

    /// Whether an event of `account` (`None`: the platform's) is delivered here.
    pub fn receives(&self, account: Option<&str>) -> bool {
        self.connect == account.is_some()
    }

    /// Refuses an endpoint delivery could never reach or sign for.
    pub fn validate(&self) -> Result<(), String> {
        match url::Url::parse(&self.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            _ => {
                return Err(format!(
                    "webhook endpoint url {:?} is not an absolute http(s) URL",
                    self.url
                ))
            }
        }
        if self.secrets.is_empty() {
            return Err(format!("webhook endpoint {} has no secret", self.url));
        }
        if self.secrets.iter().any(|s| s.is_empty()) {
            return Err(format!("webhook endpoint {} has an empty secret", self.url));
        }
        Ok(())
    }
}

/// Secrets stay out of logs and panics.
impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("url", &self.url)
            .field("connect", &self.connect)
            .field(
                "secrets",
                &format_args!("[REDACTED; {}]", self.secrets.len()),
            )
            .finish()
    }
}

/// How a delayed (bank transfer) payment settles when nobody settles it through the control API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelayedPaymentResolution {
    /// Time from `checkout.session.completed` (unpaid) to the async payment event.
    pub after: Duration,
    pub outcome: AsyncPaymentOutcome,
}

/// The end of a delayed payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AsyncPaymentOutcome {
    /// `checkout.session.async_payment_succeeded`.
    Succeeded,
    /// `checkout.session.async_payment_failed`.
    Failed,
}

/// Ways to make delivery misbehave on purpose, the way the real thing sometimes does. All off by
/// default; changed at run time through `POST /_sim/webhook_faults`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookFaults {
    /// Extra copies of every event per endpoint, each delivered (and retried) on its own and at
    /// the same time: Stripe may deliver an event more than once.
    pub duplicates: u32,
    /// Hold new events this long, then deliver the batch one after another in a shuffled order
    /// (never the order they happened in, when there are two or more): Stripe does not
    /// guarantee order.
    pub shuffle_window: Option<Duration>,
    /// Wait this long before the first attempt of every delivery.
    pub delay: Duration,
    /// The first N attempts of every delivery are sent, but their answers are thrown away and
    /// counted as timeouts, as if the response had been lost: the endpoint processed the event
    /// and then sees it again on the retry.
    pub timeout_attempts: u32,
}

impl WebhookFaults {
    pub fn is_off(&self) -> bool {
        *self == WebhookFaults::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_doubles_and_stays_within_minutes() {
        let schedule = default_retry_schedule();
        assert_eq!(schedule[0], Duration::from_secs(1));
        assert!(schedule.windows(2).all(|w| w[1] == w[0] * 2));
        assert!(schedule.iter().sum::<Duration>() < Duration::from_secs(300));
    }

    #[test]
    fn an_endpoint_needs_an_http_url_and_a_secret() {
        assert!(
            WebhookEndpoint::new("http://127.0.0.1:1/webhook", &["whsec_a"])
                .validate()
                .is_ok()
        );
        assert!(WebhookEndpoint::new("ftp://example.com/", &["whsec_a"])
            .validate()
            .is_err());
        assert!(WebhookEndpoint::new("/webhook", &["whsec_a"])
            .validate()
            .is_err());
        assert!(WebhookEndpoint::new("http://127.0.0.1:1/", &[])
            .validate()
            .is_err());
        assert!(WebhookEndpoint::new("http://127.0.0.1:1/", &[""])
            .validate()
            .is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let endpoint = WebhookEndpoint::new("http://127.0.0.1:1/", &["whsec_topsecret"]);
        let debug = format!("{endpoint:?}");
        assert!(!debug.contains("topsecret"), "{debug}");
        assert!(debug.contains("REDACTED; 1"), "{debug}");
    }
}
