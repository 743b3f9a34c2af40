//! Where events are delivered and how, changeable while the simulator runs (tests often start it
//! before they know the port of the endpoint they want it to call).

use std::time::Duration;

use super::{lock, SimState};
use crate::config::SimConfig;
use crate::error::SimError;
use crate::webhooks::config::{DelayedPaymentResolution, WebhookEndpoint, WebhookFaults};

/// A snapshot of the delivery settings; each delivery reads one when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeliverySettings {
    pub endpoints: Vec<WebhookEndpoint>,
    pub redirect_wait: Duration,
    pub retry_schedule: Vec<Duration>,
    pub attempt_timeout: Duration,
    pub delayed_payment: Option<DelayedPaymentResolution>,
    pub faults: WebhookFaults,
}

impl DeliverySettings {
    /// The endpoints an event of `account` (`None`: the platform's) is delivered to.
    pub(crate) fn endpoints_for<'a>(
        &'a self,
        account: Option<&'a str>,
    ) -> impl Iterator<Item = &'a WebhookEndpoint> + 'a {
        self.endpoints.iter().filter(move |e| e.receives(account))
    }

    pub(crate) fn from_config(config: &SimConfig) -> Self {
        DeliverySettings {
            endpoints: config.webhook_endpoints.clone(),
            redirect_wait: config.redirect_wait,
            retry_schedule: config.retry_schedule.clone(),
            attempt_timeout: config.attempt_timeout,
            delayed_payment: config.delayed_payment,
            faults: config.webhook_faults.clone(),
        }
    }
}

impl SimState {
    /// Replaces the webhook endpoints. Events created from now on go to these; deliveries
    /// already under way keep the endpoint they started with.
    pub fn set_webhook_endpoints(&self, endpoints: Vec<WebhookEndpoint>) -> Result<(), SimError> {
        for (i, endpoint) in endpoints.iter().enumerate() {
            endpoint
                .validate()
                .map_err(|m| SimError::invalid_param(&format!("endpoints[{i}]"), m))?;
        }
        lock(&self.inner.delivery_settings).endpoints = endpoints;
        Ok(())
    }

    /// The configured webhook endpoints.
    pub fn webhook_endpoints(&self) -> Vec<WebhookEndpoint> {
        lock(&self.inner.delivery_settings).endpoints.clone()
    }

    /// Replaces the delivery fault knobs (`WebhookFaults::default()` turns them all off).
    pub fn set_webhook_faults(&self, faults: WebhookFaults) {
        lock(&self.inner.delivery_settings).faults = faults;
    }

    /// The delivery fault knobs in force.
    pub fn webhook_faults(&self) -> WebhookFaults {
        lock(&self.inner.delivery_settings).faults.clone()
    }

    pub(crate) fn delivery_settings(&self) -> DeliverySettings {
        lock(&self.inner.delivery_settings).clone()
    }

    /// How many endpoints a connected account's event (or, `false`, a platform's) goes to.
    pub(crate) fn webhook_endpoint_count(&self, connected_account: bool) -> usize {
        lock(&self.inner.delivery_settings)
            .endpoints
            .iter()
            .filter(|e| e.connect == connected_account)
            .count()
    }
}
