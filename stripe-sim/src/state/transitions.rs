//! What the customer (or time) does to a session after creation, and the event each step emits.
//!
//! ```text
//! open ──complete(Paid)──────────────▶ complete/paid                  checkout.session.completed
//! open ──complete(NoPaymentRequired)─▶ complete/no_payment_required   checkout.session.completed
//! open ──complete(Unpaid)────────────▶ complete/unpaid                checkout.session.completed
//!                                        ├─succeed_async_payment─▶ paid  …async_payment_succeeded
//!                                        └─fail_async_payment────▶ unpaid …async_payment_failed
//! open ──expire──────────────────────▶ expired                        checkout.session.expired
//! ```
//! Any other step is refused with a 400 that says what state the session is in. A
//! subscription-mode session gets its Customer and Subscription when it completes, and the
//! subscription's status follows each later step (`subscriptions`).

use serde_json::Value;

use super::records::{Customer, DelayedPayment, PaymentStatus, SessionRecord, SessionStatus};
use super::SimState;
use crate::error::SimError;
use crate::ids;

/// How the customer's payment ends on the payment page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// A card (or other immediate method) succeeded.
    Paid,
    /// A delayed method (bank debit, voucher): the session completes while the money is still
    /// on its way; an async payment event follows.
    Unpaid,
    /// Nothing to charge (a zero total). The simulator does not check the total, so tests can
    /// reach this branch with any session.
    NoPaymentRequired,
}

impl SimState {
    /// The customer submits the payment page.
    pub fn complete_session(
        &self,
        id: &str,
        outcome: PaymentOutcome,
        customer: Customer,
    ) -> Result<Value, SimError> {
        self.transition(id, "checkout.session.completed", |s| {
            require_open(s, "completed")?;
            s.status = SessionStatus::Complete;
            s.customer = Some(customer);
            // A subscription's first payment belongs to its invoice, and Stripe leaves the
            // session's `payment_intent` null.
            let payment_intent = (s.mode == "payment").then(ids::payment_intent);
            match outcome {
                PaymentOutcome::Paid => {
                    s.payment_status = PaymentStatus::Paid;
                    s.payment_intent = payment_intent;
                }
                PaymentOutcome::Unpaid => {
                    s.payment_status = PaymentStatus::Unpaid;
                    s.payment_intent = payment_intent;
                    s.delayed_payment = DelayedPayment::Pending;
                }
                PaymentOutcome::NoPaymentRequired => {
                    s.payment_status = PaymentStatus::NoPaymentRequired;
                }
            }
            Ok(())
        })
    }

    /// A delayed payment of a completed session arrives.
    pub fn succeed_async_payment(&self, id: &str) -> Result<Value, SimError> {
        self.transition(id, "checkout.session.async_payment_succeeded", |s| {
            require_pending(s)?;
            s.delayed_payment = DelayedPayment::Succeeded;
            s.payment_status = PaymentStatus::Paid;
            Ok(())
        })
    }

    /// A delayed payment of a completed session fails; the session stays `unpaid`.
    pub fn fail_async_payment(&self, id: &str) -> Result<Value, SimError> {
        self.transition(id, "checkout.session.async_payment_failed", |s| {
            require_pending(s)?;
            s.delayed_payment = DelayedPayment::Failed;
            Ok(())
        })
    }

    /// The session runs out of time (or is expired through the API) before payment.
    pub fn expire_session(&self, id: &str) -> Result<Value, SimError> {
        self.transition(id, "checkout.session.expired", |s| {
            require_open(s, "expired")?;
            s.status = SessionStatus::Expired;
            Ok(())
        })
    }

    /// Applies `change` to session `id` and records `event_type` with the changed session, in
    /// one critical section; then hands the event to subscribers.
    fn transition(
        &self,
        id: &str,
        event_type: &str,
        change: impl FnOnce(&mut SessionRecord) -> Result<(), SimError>,
    ) -> Result<Value, SimError> {
        let now = self.now();
        // Read before the store lock: the two locks are never held together. Which count
        // applies depends on the session's account, known only under the store lock.
        let platform_endpoints = self.webhook_endpoint_count(false);
        let connect_endpoints = self.webhook_endpoint_count(true);
        let event = {
            let mut store = self.lock_store();
            let session = store
                .sessions
                .get_mut(id)
                .ok_or_else(|| SimError::not_found("checkout.session", id, "session"))?;
            change(session)?;
            let endpoints = match session.account {
                None => platform_endpoints,
                Some(_) => connect_endpoints,
            };
            // In the same critical section, so the event's session already names them.
            store.settle_subscription(id, now);
            store.record_session_event(id, event_type, now, endpoints)
        };
        self.publish_event(&event);
        Ok(event)
    }
}

fn require_open(s: &SessionRecord, verb: &str) -> Result<(), SimError> {
    if s.status == SessionStatus::Open {
        return Ok(());
    }
    Err(SimError::invalid_state(format!(
        "Checkout Session {} is {}; only an open session can be {verb}.",
        s.id,
        s.status.as_str()
    )))
}

fn require_pending(s: &SessionRecord) -> Result<(), SimError> {
    match s.delayed_payment {
        DelayedPayment::Pending => Ok(()),
        DelayedPayment::Succeeded | DelayedPayment::Failed => {
            Err(SimError::invalid_state(format!(
                "The delayed payment of Checkout Session {} has already settled.",
                s.id
            )))
        }
        DelayedPayment::NotApplicable => Err(SimError::invalid_state(format!(
            "Checkout Session {} has no delayed payment pending (status {}, payment_status {}); \
             complete it with payment \"unpaid\" first.",
            s.id,
            s.status.as_str(),
            s.payment_status.as_str()
        ))),
    }
}
