//! One delivery: attempts until a 2xx, waiting out the retry schedule between failures.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::attempt;
use super::config::WebhookEndpoint;
use crate::state::{AttemptOutcome, DeliveryAttempt, DeliveryStatus, SimState};

/// A delivery to make: which record it reports to, where it goes, what it sends.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub delivery_id: String,
    pub endpoint: WebhookEndpoint,
    /// The exact bytes signed and sent, the same on every attempt.
    pub payload: Bytes,
}

/// What every delivery needs: the state to report to, an HTTP client, and the simulator's
/// shutdown signal (a stopped simulator sends nothing more).
#[derive(Debug, Clone)]
pub(super) struct Deliverer {
    pub state: SimState,
    pub client: reqwest::Client,
    pub shutdown: CancellationToken,
}

impl Deliverer {
    /// Runs `work` in the background until it ends or the simulator stops.
    pub(super) fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = work => {}
            }
        });
    }

    /// The whole delivery in the background, after `delay` (the delay fault).
    pub(super) fn start(&self, job: Job, delay: Duration) {
        let this = self.clone();
        self.spawn(async move {
            if !delay.is_zero() {
                // The delay a test asked for with the delay fault.
                tokio::time::sleep(delay).await;
            }
            this.run(job).await;
        });
    }

    /// The first attempt now; the retries, if any are needed, in the background.
    pub(super) async fn first_attempt_then_background(&self, job: Job) {
        if let Some(wait) = self.attempt(&job, 1).await {
            let this = self.clone();
            self.spawn(async move { this.retries(job, wait, 2).await });
        }
    }

    async fn run(&self, job: Job) {
        if let Some(wait) = self.attempt(&job, 1).await {
            self.retries(job, wait, 2).await;
        }
    }

    /// Attempts `next` and on, each after its wait, until one succeeds or the schedule ends.
    async fn retries(&self, job: Job, mut wait: Duration, mut next: u32) {
        loop {
            // The backoff between attempts is the point here, not a wait for something to
            // settle.
            tokio::time::sleep(wait).await;
            match self.attempt(&job, next).await {
                Some(again) => wait = again,
                None => return,
            }
            next += 1;
        }
    }

    /// Attempt number `n` (from 1); returns the wait before the next one, if one is due.
    async fn attempt(&self, job: &Job, n: u32) -> Option<Duration> {
        // Read per attempt, so the control API can change timeouts and faults mid-delivery.
        let settings = self.state.delivery_settings();
        let sent_at_ms = crate::state::unix_ms();
        let sent = attempt::send(
            &self.client,
            &job.endpoint,
            &job.payload,
            settings.attempt_timeout,
        )
        .await;
        let outcome = if n <= settings.faults.timeout_attempts {
            // The endpoint's answer is thrown away, as if it had been lost on the way back.
            AttemptOutcome::Timeout { injected: true }
        } else {
            sent.outcome
        };
        let retry_in = settings.retry_schedule.get(n as usize - 1).copied();
        let record = DeliveryAttempt {
            attempt: n,
            sent_at_ms,
            timestamp: sent.timestamp,
            signature: sent.signature,
            outcome: outcome.clone(),
            duration_ms: sent.duration.as_millis() as u64,
        };
        let status = self
            .state
            .record_attempt(&job.delivery_id, record, retry_in);
        tracing::info!(
            delivery = %job.delivery_id,
            endpoint = %job.endpoint.url,
            attempt = n,
            outcome = ?outcome,
            duration_ms = sent.duration.as_millis() as u64,
            "webhook attempt"
        );
        match status {
            DeliveryStatus::Pending => retry_in,
            DeliveryStatus::Succeeded => None,
            DeliveryStatus::Failed => {
                tracing::warn!(
                    delivery = %job.delivery_id,
                    endpoint = %job.endpoint.url,
                    attempts = n,
                    "webhook delivery gave up"
                );
                None
            }
        }
    }
}
