//! Subscriptions: what a `mode=subscription` session leaves behind once it completes.
//!
//! Stripe creates the Customer (subscription mode always has one) and the Subscription when
//! the customer submits the payment page; the session then names both. The subscription's
//! status follows the first payment: `active` once it is paid (or nothing was due),
//! `incomplete` while a delayed payment is on its way, `incomplete_expired` when it failed.
//! Renewals, cancellations and invoices are not simulated.

use chrono::{DateTime, Days, Months};
use serde_json::Value;

use super::catalog::PriceRecord;
use super::records::{CustomerRecord, DelayedPayment, PaymentStatus, SessionRecord};
use super::store::Store;
use super::SimState;
use crate::config::Recurring;
use crate::error::SimError;
use crate::{ids, objects};

/// `subscription.status`, as far as a first payment decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubscriptionStatus {
    Active,
    Incomplete,
    IncompleteExpired,
}

impl SubscriptionStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::Incomplete => "incomplete",
            SubscriptionStatus::IncompleteExpired => "incomplete_expired",
        }
    }

    fn of(session: &SessionRecord) -> Self {
        match (session.payment_status, session.delayed_payment) {
            (PaymentStatus::Paid | PaymentStatus::NoPaymentRequired, _) => Self::Active,
            (PaymentStatus::Unpaid, DelayedPayment::Failed) => Self::IncompleteExpired,
            (PaymentStatus::Unpaid, _) => Self::Incomplete,
        }
    }
}

/// One recurring line of the session, billed every period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscriptionItem {
    pub id: String,
    pub price: PriceRecord,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscriptionRecord {
    pub id: String,
    /// The session's connected account, if any; only requests naming it see the subscription.
    pub account: Option<String>,
    pub customer: String,
    pub created: i64,
    pub currency: String,
    pub status: SubscriptionStatus,
    pub items: Vec<SubscriptionItem>,
    pub current_period_start: i64,
    pub current_period_end: i64,
}

impl Store {
    /// Brings the subscription of session `id` in line with the session after a transition:
    /// a completed subscription-mode session gets its Customer and Subscription once, and the
    /// subscription's status follows the payment. Other sessions are left alone.
    pub(crate) fn settle_subscription(&mut self, session_id: &str, now: i64) {
        let Some(session) = self.sessions.get(session_id) else {
            return;
        };
        if session.mode != "subscription" || session.customer.is_none() {
            return;
        }
        let status = SubscriptionStatus::of(session);
        if let Some(existing) = session.subscription.clone() {
            if let Some(subscription) = self.subscriptions.get_mut(&existing) {
                subscription.status = status;
            }
            return;
        }
        let customer = match &session.customer_id {
            Some(id) => id.clone(),
            None => {
                let paid_by = session.customer.as_ref().expect("checked above");
                let record = CustomerRecord {
                    id: ids::customer(),
                    created: now,
                    name: Some(paid_by.name.clone()).filter(|n| !n.is_empty()),
                    email: Some(paid_by.email.clone()).filter(|e| !e.is_empty()),
                    metadata: Default::default(),
                };
                let id = record.id.clone();
                self.customers.insert(id.clone(), record);
                id
            }
        };
        let items: Vec<SubscriptionItem> = session
            .line_items
            .iter()
            .filter(|li| li.price.recurring.is_some())
            .map(|li| SubscriptionItem {
                id: ids::subscription_item(),
                price: li.price.clone(),
                quantity: li.quantity,
            })
            .collect();
        let interval = items[0]
            .price
            .recurring
            .as_ref()
            .expect("filtered to recurring prices");
        let record = SubscriptionRecord {
            id: ids::subscription(),
            account: session.account.clone(),
            customer: customer.clone(),
            created: now,
            currency: session.currency.clone(),
            status,
            current_period_start: now,
            current_period_end: period_end(now, interval),
            items,
        };
        let session = self.sessions.get_mut(session_id).expect("read above");
        session.customer_id = Some(customer);
        session.subscription = Some(record.id.clone());
        self.subscriptions.insert(record.id.clone(), record);
    }
}

/// The end of the first billing period, by the calendar (a month from 31 January ends on the
/// last day of February, as Stripe bills it).
fn period_end(start: i64, recurring: &Recurring) -> i64 {
    let Some(start_at) = DateTime::from_timestamp(start, 0) else {
        return start;
    };
    let n = recurring.interval_count;
    let end = match recurring.interval.as_str() {
        "day" => start_at.checked_add_days(Days::new(n.into())),
        "week" => start_at.checked_add_days(Days::new(7 * u64::from(n))),
        "month" => start_at.checked_add_months(Months::new(n)),
        _ => start_at.checked_add_months(Months::new(12 * n)),
    };
    end.map_or(start, |e| e.timestamp())
}

impl SimState {
    /// `GET /v1/subscriptions/{id}` for `account` (`None`: the platform); another account's
    /// subscription is as missing as one never made.
    pub fn retrieve_subscription(
        &self,
        account: Option<&str>,
        id: &str,
    ) -> Result<Value, SimError> {
        self.lock_store()
            .subscriptions
            .get(id)
            .filter(|s| s.account.as_deref() == account)
            .map(objects::subscription::render)
            .ok_or_else(|| SimError::not_found("subscription", id, "id"))
    }

    /// Replaces a rendered session's `subscription` id with the object, as
    /// `expand[]=subscription` does; a session without one keeps `null`.
    pub(crate) fn expand_subscription(&self, session: &mut Value) {
        let Some(id) = session["subscription"].as_str() else {
            return;
        };
        if let Some(record) = self.lock_store().subscriptions.get(id) {
            session["subscription"] = objects::subscription::render(record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str) -> i64 {
        DateTime::parse_from_rfc3339(date).unwrap().timestamp()
    }

    #[test]
    fn a_billing_period_ends_by_the_calendar() {
        let every = |interval: &str, interval_count| Recurring {
            interval: interval.into(),
            interval_count,
        };
        let start = at("2027-01-31T10:00:00Z");
        for (interval, count, end) in [
            ("month", 1, "2027-02-28T10:00:00Z"),
            ("month", 3, "2027-04-30T10:00:00Z"),
            ("year", 1, "2028-01-31T10:00:00Z"),
            ("week", 2, "2027-02-14T10:00:00Z"),
            ("day", 1, "2027-02-01T10:00:00Z"),
        ] {
            let reached = period_end(start, &every(interval, count));
            assert_eq!(reached, at(end), "{count} {interval}");
        }
    }
}
