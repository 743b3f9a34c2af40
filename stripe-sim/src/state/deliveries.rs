//! The record of webhook deliveries: one per event, endpoint and copy, with every attempt.
//!
//! The sending itself happens in `crate::webhooks`; it reports each attempt here, and this is
//! where a delivery's status, its ack latency and the event's `pending_webhooks` change. The
//! payment page waits on the same record before it redirects.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{lock, SimState};
use crate::ids;
use crate::webhooks::config::WebhookEndpoint;

/// One event on its way to one endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: String,
    /// The event id, `evt_…`.
    pub event: String,
    pub event_type: String,
    /// The endpoint URL.
    pub endpoint: String,
    /// 0 for the delivery itself; 1 and up for the extra copies of the `duplicates` fault.
    pub copy: u32,
    pub status: DeliveryStatus,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// From the delivery's creation (right after the event's) to the endpoint's first 2xx,
    /// retries included.
    pub ack_latency_ms: Option<u64>,
    /// Unix milliseconds of the next attempt, while one is scheduled.
    pub next_attempt_at_ms: Option<i64>,
    pub attempts: Vec<DeliveryAttempt>,
    /// Which configured endpoint (by position) this goes to: two endpoints may share a URL.
    #[serde(skip)]
    endpoint_slot: usize,
    #[serde(skip)]
    started: Instant,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not attempted yet, or waiting for a retry.
    Pending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Every attempt of the retry schedule failed; Stripe would disable the endpoint next.
    Failed,
}

/// One HTTP request of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryAttempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Unix milliseconds.
    pub sent_at_ms: i64,
    /// The `t` of the `Stripe-Signature` header: every attempt is signed afresh.
    pub timestamp: i64,
    /// The whole `Stripe-Signature` header sent.
    pub signature: String,
    #[serde(flatten)]
    pub outcome: AttemptOutcome,
    pub duration_ms: u64,
}

/// What an attempt got back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// An HTTP answer; only 2xx counts as delivered.
    Response { status: u16 },
    /// No answer within the attempt timeout; `injected` when the `timeout_attempts` fault threw
    /// a real answer away.
    Timeout { injected: bool },
    /// No HTTP exchange at all (connection refused, reset, DNS).
    Error { message: String },
}

impl AttemptOutcome {
    pub fn is_success(&self) -> bool {
        matches!(self, AttemptOutcome::Response { status } if (200..300).contains(status))
    }
}

/// How the payment page's wait for the webhooks of its event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookWait {
    /// No endpoint is configured, so there was nothing to wait for.
    NoEndpoints,
    /// Every endpoint answered 2xx after this long.
    Acknowledged(Duration),
    /// After this long no delivery of the event was under way any more, and some endpoint
    /// had never answered 2xx (its retry schedule ran out): waiting longer cannot help.
    GaveUp(Duration),
    /// The wait ran out with endpoints still pending.
    TimedOut(Duration),
}

#[derive(Debug, Default)]
pub(crate) struct DeliveryLog {
    /// In creation order.
    deliveries: Vec<Delivery>,
    index: HashMap<String, usize>,
    by_event: HashMap<String, Vec<usize>>,
    /// (event, endpoint slot) pairs that have had a 2xx: a duplicate's success must not count
    /// an endpoint twice in `pending_webhooks`.
    acknowledged: HashSet<(String, usize)>,
}

impl DeliveryLog {
    /// Whether none of the event's deliveries will be attempted again and at least one endpoint
    /// had every delivery fail. A success is recorded here before the event's
    /// `pending_webhooks` drops (another lock), so "nothing pending" alone would call an
    /// acknowledged event given up in that instant.
    fn gave_up(&self, event_id: &str) -> bool {
        let Some(indices) = self.by_event.get(event_id) else {
            return false;
        };
        let deliveries = || indices.iter().map(|&i| &self.deliveries[i]);
        if deliveries().any(|d| d.status == DeliveryStatus::Pending) {
            return false;
        }
        deliveries().any(|failed| {
            failed.status == DeliveryStatus::Failed
                && deliveries()
                    .filter(|d| d.endpoint_slot == failed.endpoint_slot)
                    .all(|d| d.status == DeliveryStatus::Failed)
        })
    }
}

impl SimState {
    /// Creates the deliveries of one event, `1 + copies` per endpoint, and sets the event's
    /// `pending_webhooks` to the number of endpoints. Returns the delivery ids, endpoint by
    /// endpoint.
    pub(crate) fn register_deliveries(
        &self,
        event_id: &str,
        event_type: &str,
        endpoints: &[WebhookEndpoint],
        copies: u32,
    ) -> Vec<String> {
        let created_at_ms = unix_ms();
        let mut ids = Vec::new();
        {
            let mut log = lock(&self.inner.deliveries);
            for (slot, endpoint) in endpoints.iter().enumerate() {
                for copy in 0..=copies {
                    let delivery = Delivery {
                        id: ids::webhook_delivery(),
                        event: event_id.to_string(),
                        event_type: event_type.to_string(),
                        endpoint: endpoint.url.clone(),
                        copy,
                        status: DeliveryStatus::Pending,
                        created_at_ms,
                        ack_latency_ms: None,
                        next_attempt_at_ms: None,
                        attempts: Vec::new(),
                        endpoint_slot: slot,
                        started: Instant::now(),
                    };
                    let i = log.deliveries.len();
                    log.index.insert(delivery.id.clone(), i);
                    log.by_event
                        .entry(event_id.to_string())
                        .or_default()
                        .push(i);
                    ids.push(delivery.id.clone());
                    log.deliveries.push(delivery);
                }
            }
        }
        self.lock_store()
            .set_pending_webhooks(event_id, endpoints.len());
        self.deliveries_changed();
        ids
    }

    /// Records an attempt. `retry_in` is the wait before the next attempt if this one failed
    /// (`None`: the schedule is exhausted). Returns the delivery's status after it.
    pub(crate) fn record_attempt(
        &self,
        delivery_id: &str,
        attempt: DeliveryAttempt,
        retry_in: Option<Duration>,
    ) -> DeliveryStatus {
        let (status, first_ack_of_event) = {
            let mut log = lock(&self.inner.deliveries);
            let Some(&i) = log.index.get(delivery_id) else {
                return DeliveryStatus::Failed;
            };
            let success = attempt.outcome.is_success();
            let d = &mut log.deliveries[i];
            d.attempts.push(attempt);
            d.next_attempt_at_ms = None;
            if success {
                d.status = DeliveryStatus::Succeeded;
                d.ack_latency_ms = Some(d.started.elapsed().as_millis() as u64);
            } else if let Some(wait) = retry_in {
                d.status = DeliveryStatus::Pending;
                d.next_attempt_at_ms = Some(unix_ms() + wait.as_millis() as i64);
            } else {
                d.status = DeliveryStatus::Failed;
            }
            let status = d.status;
            let key = (d.event.clone(), d.endpoint_slot);
            let first = success && log.acknowledged.insert(key.clone());
            (status, first.then_some(key.0))
        };
        if let Some(event_id) = first_ack_of_event {
            self.lock_store().decrement_pending_webhooks(&event_id);
        }
        self.deliveries_changed();
        status
    }

    /// Every delivery so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.inner.deliveries).deliveries.clone()
    }

    /// The deliveries of one event, oldest first.
    pub fn deliveries_of(&self, event_id: &str) -> Vec<Delivery> {
        let log = lock(&self.inner.deliveries);
        log.by_event
            .get(event_id)
            .map(|is| is.iter().map(|&i| log.deliveries[i].clone()).collect())
            .unwrap_or_default()
    }

    /// One delivery by id.
    pub fn delivery(&self, delivery_id: &str) -> Option<Delivery> {
        let log = lock(&self.inner.deliveries);
        log.index
            .get(delivery_id)
            .map(|&i| log.deliveries[i].clone())
    }

    /// How many deliveries there are in each status: `(pending, succeeded, failed)`.
    pub fn delivery_counts(&self) -> (usize, usize, usize) {
        let log = lock(&self.inner.deliveries);
        log.deliveries
            .iter()
            .fold((0, 0, 0), |(p, s, f), d| match d.status {
                DeliveryStatus::Pending => (p + 1, s, f),
                DeliveryStatus::Succeeded => (p, s + 1, f),
                DeliveryStatus::Failed => (p, s, f + 1),
            })
    }

    /// The event's `pending_webhooks`: endpoints that have not answered 2xx yet.
    pub fn pending_webhooks(&self, event_id: &str) -> Option<u64> {
        self.lock_store().pending_webhooks(event_id)
    }

    /// Waits until every endpoint has answered the event with a 2xx, for at most `within`.
    pub async fn wait_for_webhooks(&self, event_id: &str, within: Duration) -> WebhookWait {
        let started = Instant::now();
        // Subscribed before the first check, so a change between the check and the wait is
        // not missed.
        let mut changes = self.inner.deliveries_changed.subscribe();
        if self.pending_webhooks(event_id).unwrap_or(0) == 0
            && !lock(&self.inner.deliveries).by_event.contains_key(event_id)
        {
            return WebhookWait::NoEndpoints;
        }
        let settled = async {
            loop {
                if self.pending_webhooks(event_id).unwrap_or(0) == 0 {
                    return WebhookWait::Acknowledged(started.elapsed());
                }
                if self.deliveries_gave_up(event_id) {
                    return WebhookWait::GaveUp(started.elapsed());
                }
                if changes.changed().await.is_err() {
                    // The sender lives as long as the state, which `self` keeps alive.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(within, settled)
            .await
            .unwrap_or_else(|_| WebhookWait::TimedOut(started.elapsed()))
    }

    /// Whether the event's deliveries are over and some endpoint never acknowledged it.
    fn deliveries_gave_up(&self, event_id: &str) -> bool {
        lock(&self.inner.deliveries).gave_up(event_id)
    }

    /// A receiver that sees a change after every delivery update (a new delivery, an attempt,
    /// a `pending_webhooks` change): tests wait on it instead of polling.
    pub fn watch_deliveries(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.deliveries_changed.subscribe()
    }

    fn deliveries_changed(&self) {
        self.inner.deliveries_changed.send_modify(|n| *n += 1);
    }
}

/// Wall-clock Unix milliseconds (not the simulator's shifted clock: these are real times).
pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(statuses: &[(usize, DeliveryStatus)]) -> DeliveryLog {
        let mut log = DeliveryLog::default();
        for (i, &(slot, status)) in statuses.iter().enumerate() {
            log.deliveries.push(Delivery {
                id: format!("we_{i}"),
                event: "evt_1".into(),
                event_type: "checkout.session.completed".into(),
                endpoint: format!("http://127.0.0.1/{slot}"),
                copy: 0,
                status,
                created_at_ms: 0,
                ack_latency_ms: None,
                next_attempt_at_ms: None,
                attempts: Vec::new(),
                endpoint_slot: slot,
                started: Instant::now(),
            });
            log.by_event.entry("evt_1".into()).or_default().push(i);
        }
        log
    }

    #[test]
    fn an_event_is_given_up_only_when_an_endpoint_failed_every_delivery() {
        use DeliveryStatus::*;
        // Acknowledged, in the instant before `pending_webhooks` drops: not given up.
        assert!(!log_of(&[(0, Succeeded)]).gave_up("evt_1"));
        assert!(!log_of(&[(0, Succeeded), (1, Succeeded)]).gave_up("evt_1"));
        // A failed duplicate of an acknowledged endpoint is not a give-up either.
        assert!(!log_of(&[(0, Succeeded), (0, Failed)]).gave_up("evt_1"));
        // Still being tried.
        assert!(!log_of(&[(0, Pending), (1, Failed)]).gave_up("evt_1"));
        // Over, and one endpoint never answered 2xx.
        assert!(log_of(&[(0, Failed)]).gave_up("evt_1"));
        assert!(log_of(&[(0, Succeeded), (1, Failed)]).gave_up("evt_1"));
        assert!(!log_of(&[(0, Failed)]).gave_up("evt_other"));
    }
}
