//! The one-message step: a delivery's body and headers in, a [`Disposition`] out. No broker
//! here; the consumer acts on the disposition, and tests call [`Processor::process`] directly.
//!
//! The flow for one event:
//! 1. Parse (malformed body, bad event id, bad session id or a connected `account` that is not
//!    an `acct_…` id → dead at once: permanent).
//! 2. An event already processed to a settled outcome (`stripe_events`) is skipped: a redelivery
//!    or a duplicate costs one round trip, the primary-key read that also reads the session's
//!    order for step 3 (one statement).
//! 3. By type, on the event's account (`account`: a connected account's session, retrieved with
//!    `Stripe-Account` and ordered under that account; absent: the platform's):
//!    `completed` / `async_payment_succeeded` → `fulfill_checkout`;
//!    `async_payment_failed` → `record_payment_failed`; `expired` → `record_expired`; any other
//!    type is recorded as `ignored`.
//! 4. Record the outcome in `stripe_events` (a new fulfillment has: its statement records the
//!    event too, so a new order from a webhook costs 2 round trips), then answer: settled → [`Disposition::Ack`];
//!    Stripe does not know the session → dead; a Stripe outage (our key rejected, or a 4xx
//!    Stripe says to retry) → retry in the next tier, the last one over and over, never dead
//!    (see [`during_outage`]); another transient error → retry in the next tier, or dead when
//!    the tiers are spent; a permanent error → dead.

use std::sync::Arc;
use std::time::Instant;

use lapin::types::FieldTable;
use shared::errors::error_chain;
use shared::queue::trace_context;
use shared::store::events::{self, EventKey, EventOutcome};
use shared::store::orders::{self, OrderRead};
use shared::{FulfillError, Fulfiller, FulfillmentOutcome, Trigger};
use tokio::sync::Notify;
use tracing::Instrument;

use crate::event::{CheckoutEvent, EventKind, MalformedEvent};
use crate::metrics;

use crate::attempts::previous_attempts;
use crate::disposition::{after_transient_failure, during_outage, DeadReason, Disposition};

/// What [`Processor::handle`] did with an event.
// One value per event, moved once and never stored in bulk: boxing the order would cost an
// allocation for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Handled {
    /// Already settled earlier (a redelivery or a duplicate).
    Skipped,
    /// Not a type the worker acts on.
    Ignored,
    Outcome(FulfillmentOutcome),
}

impl Handled {
    /// What the event is recorded as; a skipped one is not recorded again.
    pub fn recorded(&self) -> Option<EventOutcome> {
        match self {
            Self::Skipped => None,
            Self::Ignored => Some(EventOutcome::Ignored),
            Self::Outcome(outcome) => Some(outcome.event_outcome()),
        }
    }

    /// What is left to record once handled: a new fulfillment recorded its event in its own
    /// statement.
    pub fn to_record(&self) -> Option<EventOutcome> {
        match self {
            Self::Outcome(outcome) if outcome.event_recorded() => None,
            _ => self.recorded(),
        }
    }

    /// A short label for metrics and logs: the recorded outcome's name, or `skipped`.
    pub fn label(&self) -> &'static str {
        self.recorded().map_or("skipped", EventOutcome::as_str)
    }
}

/// Why an event could not be handled this time.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error(transparent)]
    Fulfill(#[from] FulfillError),
    /// Reading or writing `stripe_events`.
    #[error("recording the event")]
    Record(#[source] sqlx::Error),
}

impl HandleError {
    /// The metric label of the Stripe outage behind this failure, if it is one (see
    /// [`shared::stripe::StripeError::is_outage`]).
    pub fn stripe_outage(&self) -> Option<&'static str> {
        match self {
            Self::Fulfill(e) => e.stripe_outage().map(|e| e.kind()),
            Self::Record(_) => None,
        }
    }

    /// Transient: Stripe unavailable, rate limited or refusing our key, Postgres unreachable, a
    /// lock held elsewhere past `database.lock_timeout_ms` (see [`FulfillError::is_transient`]).
    /// Postgres refusing this event's data, in the audit table as anywhere, is permanent: the
    /// same event brings the same data again ([`shared::store::is_transient`]).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Fulfill(e) => e.is_transient(),
            Self::Record(e) => shared::store::is_transient(e),
        }
    }

    /// The database setting whose bound ended a statement, if one did: the operator's lead to
    /// a lock holder elsewhere or a server in trouble.
    pub fn expired_bound(&self) -> Option<&'static str> {
        match self {
            Self::Fulfill(e) => e.expired_bound(),
            Self::Record(e) => shared::store::expired_bound(e),
        }
    }
}

/// The processing step, shared by the consumer's tasks and the reconciler. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Processor {
    fulfiller: Fulfiller,
    /// How many retry tiers exist: a message's attempt N+1 goes to tier N while N < this.
    retry_tiers: usize,
    /// Wakes the outbox relay when a fulfillment wrote an announcement, so `order.fulfilled`
    /// leaves now rather than at the next poll.
    outbox_written: Arc<Notify>,
}

impl Processor {
    pub fn new(fulfiller: Fulfiller, retry_tiers: usize) -> Self {
        Self {
            fulfiller,
            retry_tiers,
            outbox_written: Arc::new(Notify::new()),
        }
    }

    pub fn fulfiller(&self) -> &Fulfiller {
        &self.fulfiller
    }

    /// Notified after a commit that wrote to the outbox.
    pub fn outbox_written(&self) -> Arc<Notify> {
        self.outbox_written.clone()
    }

    /// Processes one delivery from `checkout.fulfillment`. `headers` carry the attempt count
    /// and the trace context.
    pub async fn process(&self, body: &[u8], headers: Option<&FieldTable>) -> Disposition {
        let span = tracing::info_span!(
            "process checkout event",
            otel.kind = "consumer",
            messaging.system = "rabbitmq",
            messaging.operation = "process",
            messaging.message.id = tracing::field::Empty,
            event_type = tracing::field::Empty,
            session_id = tracing::field::Empty,
            account = tracing::field::Empty,
            attempt = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        trace_context::continue_trace(&span, headers);
        self.process_in_span(body, headers).instrument(span).await
    }

    async fn process_in_span(&self, body: &[u8], headers: Option<&FieldTable>) -> Disposition {
        let started = Instant::now();
        let span = tracing::Span::current();
        let attempt = previous_attempts(headers) + 1;
        span.record("attempt", attempt);
        let event = match CheckoutEvent::parse(body) {
            Ok(event) => event,
            Err(e) => return self.reject(e).await,
        };
        span.record("messaging.message.id", event.id.as_str());
        span.record("event_type", event.event_type.as_str());
        if let Some(session) = &event.session {
            span.record("session_id", session.as_str());
        }
        if let Some(account) = &event.account {
            span.record("account", account.as_str());
        }

        let result = self.handle(&event, Trigger::Webhook).await;
        metrics::PROCESSING_SECONDS
            .with_label_values(&[Trigger::Webhook.as_str()])
            .observe(started.elapsed().as_secs_f64());
        let disposition = match &result {
            Ok(Handled::Outcome(FulfillmentOutcome::NotFound)) => Disposition::Dead {
                reason: DeadReason::SessionNotFound(session_str(&event).to_owned()),
            },
            Ok(_) => Disposition::Ack,
            Err(e) => {
                let error = error_chain(&e);
                if let Some(setting) = e.expired_bound() {
                    tracing::warn!(
                        setting,
                        "a database bound expired: another session held a lock too long or \
                         the server was slow"
                    );
                }
                if let Some(outage) = e.stripe_outage() {
                    metrics::STRIPE_OUTAGE.with_label_values(&[outage]).inc();
                    during_outage(attempt, self.retry_tiers, error)
                } else if !e.is_transient() {
                    Disposition::Dead {
                        reason: DeadReason::Permanent(error),
                    }
                } else {
                    after_transient_failure(attempt, self.retry_tiers, error)
                }
            }
        };
        let label = match (&result, &disposition) {
            (Ok(handled), Disposition::Ack) => handled.label(),
            (_, Disposition::Retry { .. }) => "retry",
            _ => "dead",
        };
        span.record("outcome", label);
        metrics::DELIVERIES
            .with_label_values(&[&event.event_type, label])
            .inc();
        match &disposition {
            Disposition::Retry { error, .. } => {
                tracing::warn!(%error, attempt, "transient failure; will retry");
                self.record_failure(&event, EventOutcome::Retrying, error)
                    .await;
            }
            Disposition::Dead { reason } => {
                tracing::error!(%reason, attempt, "giving up on the event");
                // A 404 was recorded as `not_found` already; keep that more precise outcome.
                if !matches!(reason, DeadReason::SessionNotFound(_)) {
                    self.record_failure(&event, EventOutcome::Dead, &reason.to_string())
                        .await;
                }
            }
            Disposition::Ack => {}
        }
        disposition
    }

    /// Steps 2–4 of the module docs, without the queue: also what the reconciler calls.
    pub async fn handle(
        &self,
        event: &CheckoutEvent,
        trigger: Trigger,
    ) -> Result<Handled, HandleError> {
        let pool = self.fulfiller.pool();
        let account = event.account.as_ref();
        // The event's recorded outcome, and (for the types decided by `fulfill_checkout`) the
        // session's order, in one statement: a settled duplicate costs this one round trip.
        let (recorded, stored) = match &event.session {
            Some(id) if event.kind.is_fulfillment() => {
                let mut conn = pool.acquire().await.map_err(HandleError::Record)?;
                let claim_wait = self.fulfiller.claim_wait();
                orders::find_with_event_outcome(
                    &mut conn,
                    account,
                    id,
                    event.id.as_str(),
                    claim_wait,
                )
                .await
                .map_err(HandleError::Record)?
            }
            _ => (
                events::outcome(pool, event.id.as_str())
                    .await
                    .map_err(HandleError::Record)?,
                OrderRead::default(),
            ),
        };
        if recorded.is_some_and(EventOutcome::is_settled) {
            return Ok(Handled::Skipped);
        }
        let fulfiller = &self.fulfiller;
        let handled = match (event.kind, &event.session) {
            (EventKind::Other, _) | (_, None) => Handled::Ignored,
            (EventKind::AsyncPaymentFailed, Some(id)) => Handled::Outcome(
                fulfiller
                    .record_payment_failed_on(account, id, trigger, Some(key(event)))
                    .await?,
            ),
            // `completed`, `async_payment_succeeded` and `expired` (decided as `fulfill_checkout`
            // decides, see `record_expired_on`), from the order read above.
            (_, Some(id)) => Handled::Outcome(
                fulfiller
                    .fulfill_checkout_read_on(account, id, trigger, stored, key(event))
                    .await?,
            ),
        };
        if let Some(outcome) = handled.to_record() {
            events::record_keeping_settled(pool, key(event), outcome, None)
                .await
                .map_err(HandleError::Record)?;
        }
        match &handled {
            Handled::Outcome(FulfillmentOutcome::Fulfilled { newly: true, .. }) => {
                let age =
                    chrono::Utc::now().timestamp_millis() as f64 / 1000.0 - event.created as f64;
                metrics::EVENT_TO_FULFILLED_SECONDS.observe(age.max(0.0));
                self.outbox_written.notify_one();
            }
            Handled::Outcome(FulfillmentOutcome::PaymentFailed) => {
                self.outbox_written.notify_one();
            }
            _ => {}
        }
        Ok(handled)
    }

    /// Records a failed attempt; a failure to record is logged, not escalated (the disposition
    /// stands, and the next attempt records again).
    pub async fn record_failure(&self, event: &CheckoutEvent, outcome: EventOutcome, error: &str) {
        let result =
            events::record_keeping_settled(self.fulfiller.pool(), key(event), outcome, Some(error))
                .await;
        if let Err(e) = result {
            tracing::warn!(error = %error_chain(&e), event_id = %event.id, "could not record the failed attempt");
        }
    }

    /// A message that can never be processed: recorded when its event id is known, then dead.
    async fn reject(&self, error: MalformedEvent) -> Disposition {
        let reason = DeadReason::Malformed(error_chain(&error));
        tracing::error!(%reason, "dead-lettering a malformed message");
        let event_type = match &error {
            MalformedEvent::SessionId {
                event_id,
                event_type,
                created,
                ..
            }
            | MalformedEvent::Account {
                event_id,
                event_type,
                created,
                ..
            } => {
                let key = EventKey {
                    event_id: event_id.as_str(),
                    event_type,
                    session_id: None,
                    // Not a valid account: not worth keeping beside the reason that quotes why.
                    account: None,
                    created: *created,
                };
                let result = events::record_keeping_settled(
                    self.fulfiller.pool(),
                    key,
                    EventOutcome::Rejected,
                    Some(&reason.to_string()),
                )
                .await;
                if let Err(e) = result {
                    tracing::warn!(error = %error_chain(&e), "could not record the rejected event");
                }
                event_type.as_str()
            }
            _ => "malformed",
        };
        metrics::DELIVERIES
            .with_label_values(&[event_type, "dead"])
            .inc();
        Disposition::Dead { reason }
    }
}

fn key(event: &CheckoutEvent) -> EventKey<'_> {
    EventKey {
        event_id: event.id.as_str(),
        event_type: &event.event_type,
        session_id: event.session.as_ref().map(|s| s.as_str()),
        account: event.account.as_ref().map(|a| a.as_str()),
        created: event.created,
    }
}

fn session_str(event: &CheckoutEvent) -> &str {
    event.session.as_ref().map_or("", |s| s.as_str())
}
