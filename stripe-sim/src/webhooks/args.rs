//! The `stripe-sim serve` flags for webhook delivery (flattened into `cli::ServeArgs`).

use std::time::Duration;

use anyhow::bail;

use super::config::{
    default_retry_schedule, AsyncPaymentOutcome, DelayedPaymentResolution, WebhookEndpoint,
    WebhookFaults, DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_REDIRECT_WAIT,
};
use crate::config::SimConfig;

#[derive(Debug, Clone, clap::Args)]
pub struct DeliveryArgs {
    /// Webhook endpoint URL every event is POSTed to (repeat, or comma-separate in the variable).
    #[arg(long = "webhook", env = "STRIPE_SIM_WEBHOOKS", value_delimiter = ',')]
    pub webhooks: Vec<String>,
    /// Endpoint secret (whsec_…) deliveries are signed with; two during a rotation put two v1
    /// signatures in each header. Applies to every --webhook.
    #[arg(
        long = "webhook-secret",
        env = "STRIPE_SIM_WEBHOOK_SECRETS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub webhook_secrets: Vec<String>,
    /// How long the payment page waits for the endpoints' 2xx before redirecting anyway.
    #[arg(long, env = "STRIPE_SIM_REDIRECT_WAIT_MS", default_value_t = DEFAULT_REDIRECT_WAIT.as_millis() as u64)]
    pub redirect_wait_ms: u64,
    /// Delays before each retry, comma-separated; default 1000,2000,…,128000.
    #[arg(long, env = "STRIPE_SIM_RETRY_SCHEDULE_MS", value_delimiter = ',')]
    pub retry_schedule_ms: Option<Vec<u64>>,
    /// How long one delivery attempt may take before it counts as a timeout.
    #[arg(long, env = "STRIPE_SIM_ATTEMPT_TIMEOUT_MS", default_value_t = DEFAULT_ATTEMPT_TIMEOUT.as_millis() as u64)]
    pub attempt_timeout_ms: u64,
    /// Settle delayed (bank transfer) payments this long after completion; unset: only
    /// through the control API.
    #[arg(long, env = "STRIPE_SIM_DELAYED_PAYMENT_AFTER_MS")]
    pub delayed_payment_after_ms: Option<u64>,
    /// How delayed payments settle by themselves.
    #[arg(
        long,
        env = "STRIPE_SIM_DELAYED_PAYMENT_OUTCOME",
        value_enum,
        default_value = "succeeded"
    )]
    pub delayed_payment_outcome: OutcomeArg,
    /// Fault: extra copies of every event per endpoint.
    #[arg(long, env = "STRIPE_SIM_DUPLICATE_DELIVERIES", default_value_t = 0)]
    pub duplicate_deliveries: u32,
    /// Fault: hold events this long and deliver them in a shuffled order.
    #[arg(long, env = "STRIPE_SIM_SHUFFLE_WINDOW_MS")]
    pub shuffle_window_ms: Option<u64>,
    /// Fault: wait this long before the first attempt of every delivery.
    #[arg(long, env = "STRIPE_SIM_DELIVERY_DELAY_MS", default_value_t = 0)]
    pub delivery_delay_ms: u64,
    /// Fault: count the first N attempts of every delivery as timed out, whatever the answer.
    #[arg(long, env = "STRIPE_SIM_TIMEOUT_ATTEMPTS", default_value_t = 0)]
    pub timeout_attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutcomeArg {
    Succeeded,
    Failed,
}

impl DeliveryArgs {
    /// Sets the delivery fields of `config`.
    pub fn apply(&self, config: &mut SimConfig) -> anyhow::Result<()> {
        if !self.webhooks.is_empty() && self.webhook_secrets.is_empty() {
            bail!("--webhook needs at least one --webhook-secret to sign deliveries with");
        }
        let secrets: Vec<&str> = self.webhook_secrets.iter().map(String::as_str).collect();
        config.webhook_endpoints = self
            .webhooks
            .iter()
            .map(|url| WebhookEndpoint::new(url.clone(), &secrets))
            .collect();
        config.redirect_wait = Duration::from_millis(self.redirect_wait_ms);
        config.retry_schedule = match &self.retry_schedule_ms {
            Some(ms) => ms.iter().copied().map(Duration::from_millis).collect(),
            None => default_retry_schedule(),
        };
        config.attempt_timeout = Duration::from_millis(self.attempt_timeout_ms);
        config.delayed_payment = self
            .delayed_payment_after_ms
            .map(|ms| DelayedPaymentResolution {
                after: Duration::from_millis(ms),
                outcome: match self.delayed_payment_outcome {
                    OutcomeArg::Succeeded => AsyncPaymentOutcome::Succeeded,
                    OutcomeArg::Failed => AsyncPaymentOutcome::Failed,
                },
            });
        config.webhook_faults = WebhookFaults {
            duplicates: self.duplicate_deliveries,
            shuffle_window: self.shuffle_window_ms.map(Duration::from_millis),
            delay: Duration::from_millis(self.delivery_delay_ms),
            timeout_attempts: self.timeout_attempts,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn config(args: &[&str]) -> anyhow::Result<crate::SimConfig> {
        let cli = Cli::try_parse_from(["stripe-sim", "serve"].iter().chain(args))?;
        match cli.command {
            Command::Serve(serve) => serve.to_config(),
            _ => unreachable!("serve was parsed"),
        }
    }

    #[test]
    fn two_secrets_sign_every_webhook_and_the_schedule_is_in_milliseconds() {
        let config = config(&[
            "--webhook",
            "http://127.0.0.1:8080/webhook",
            "--webhook-secret",
            "whsec_old",
            "--webhook-secret",
            "whsec_new",
            "--retry-schedule-ms",
            "10,20",
            "--redirect-wait-ms",
            "500",
            "--delayed-payment-after-ms",
            "3000",
            "--delayed-payment-outcome",
            "failed",
            "--duplicate-deliveries",
            "1",
        ])
        .unwrap();
        assert_eq!(config.webhook_endpoints.len(), 1);
        assert_eq!(
            config.webhook_endpoints[0].secrets,
            ["whsec_old", "whsec_new"]
        );
        assert_eq!(
            config.retry_schedule,
            [Duration::from_millis(10), Duration::from_millis(20)]
        );
        assert_eq!(config.redirect_wait, Duration::from_millis(500));
        let delayed = config.delayed_payment.unwrap();
        assert_eq!(delayed.outcome, AsyncPaymentOutcome::Failed);
        assert_eq!(delayed.after, Duration::from_secs(3));
        assert_eq!(config.webhook_faults.duplicates, 1);
    }

    #[test]
    fn without_flags_the_defaults_deliver_nowhere() {
        let config = config(&[]).unwrap();
        let defaults = crate::SimConfig::default();
        assert!(config.webhook_endpoints.is_empty());
        assert_eq!(config.redirect_wait, defaults.redirect_wait);
        assert_eq!(config.retry_schedule, defaults.retry_schedule);
        assert_eq!(config.delayed_payment, None);
    }

    #[test]
    fn a_webhook_without_a_secret_is_refused() {
        let err = config(&["--webhook", "http://127.0.0.1:8080/webhook"]).unwrap_err();
        assert!(err.to_string().contains("--webhook-secret"), "{err}");
    }
}
