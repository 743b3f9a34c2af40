//! Reading events back: `GET /v1/events` and `GET /v1/events/{id}`, and the live feed.

use std::cmp::Reverse;

use serde_json::Value;
use tokio::sync::broadcast;

use super::SimState;
use crate::error::SimError;
use crate::pagination::{paginate, Page, PageRequest};

/// Stripe keeps events listable and retrievable for 30 days.
pub const EVENT_RETENTION_SECS: i64 = 30 * 24 * 60 * 60;

/// Bounds on `created`, from `created=t` or `created[gt|gte|lt|lte]=t`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreatedFilter {
    pub gt: Option<i64>,
    pub gte: Option<i64>,
    pub lt: Option<i64>,
    pub lte: Option<i64>,
}

impl CreatedFilter {
    /// Exactly one second.
    pub fn exactly(t: i64) -> Self {
        CreatedFilter {
            gte: Some(t),
            lte: Some(t),
            ..Self::default()
        }
    }

    pub fn contains(&self, t: i64) -> bool {
        self.gt.is_none_or(|b| t > b)
            && self.gte.is_none_or(|b| t >= b)
            && self.lt.is_none_or(|b| t < b)
            && self.lte.is_none_or(|b| t <= b)
    }
}

/// The filters of `GET /v1/events`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EventQuery {
    /// The account the request was made for (`Stripe-Account`): its events only; `None`: the
    /// platform's own.
    pub account: Option<String>,
    /// Type patterns (`checkout.session.completed`, `checkout.session.*`); empty: all types.
    pub types: Vec<String>,
    pub created: CreatedFilter,
    pub page: PageRequest,
}

impl SimState {
    /// One page of events, newest first; events past retention are gone.
    pub(crate) fn list_events(&self, query: &EventQuery) -> Result<Page<Value>, SimError> {
        let oldest = self.now() - EVENT_RETENTION_SECS;
        let store = self.lock_store();
        // Newest first; events created in the same second keep their creation order, newest
        // first, so the order is total and cursors are stable.
        let mut items: Vec<(Reverse<(i64, u64)>, &Value)> = store
            .events
            .iter()
            .filter(|e| e.account == query.account)
            .filter(|e| e.created >= oldest && query.created.contains(e.created))
            .filter(|e| {
                query.types.is_empty() || query.types.iter().any(|p| type_matches(p, &e.event_type))
            })
            .map(|e| (Reverse((e.created, e.seq)), &e.body))
            .collect();
        items.sort_by_key(|item| item.0);
        let page = paginate(items, &query.page, "event", |id| {
            let e = &store.events[*store.event_index.get(id)?];
            (e.account == query.account).then_some(Reverse((e.created, e.seq)))
        })?;
        Ok(page.map(Value::clone))
    }

    /// One event by id, unless it is older than the retention window or of another account
    /// than the request's (`account`, from `Stripe-Account`; `None`: the platform).
    pub fn retrieve_event(&self, account: Option<&str>, id: &str) -> Result<Value, SimError> {
        let oldest = self.now() - EVENT_RETENTION_SECS;
        let store = self.lock_store();
        store
            .event_index
            .get(id)
            .map(|&i| &store.events[i])
            .filter(|e| e.created >= oldest && e.account.as_deref() == account)
            .map(|e| e.body.clone())
            .ok_or_else(|| SimError::not_found("event", id, "id"))
    }

    /// Every event created from now on, for webhook delivery and tests. A receiver that falls
    /// more than the channel's capacity behind gets `RecvError::Lagged` rather than blocking
    /// the simulator.
    pub fn subscribe_events(&self) -> broadcast::Receiver<Value> {
        self.inner.events_tx.subscribe()
    }

    /// Events recorded after the first `cursor` ones, and the cursor past them: how delivery
    /// catches up, even after falling behind the live feed.
    pub(crate) fn events_after(&self, cursor: usize) -> (Vec<Value>, usize) {
        self.lock_store().events_after(cursor)
    }

    pub(super) fn publish_event(&self, event: &Value) {
        // No subscriber is the normal case, not an error.
        let _ = self.inner.events_tx.send(event.clone());
    }
}

/// Stripe's event type filter: `*` stands for any run of characters.
pub(crate) fn type_matches(pattern: &str, event_type: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = event_type.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*`: an exact match.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_patterns_match_like_stripe_wildcards() {
        assert!(type_matches(
            "checkout.session.completed",
            "checkout.session.completed"
        ));
        assert!(!type_matches(
            "checkout.session.completed",
            "checkout.session.completed.x"
        ));
        assert!(type_matches(
            "checkout.session.*",
            "checkout.session.expired"
        ));
        assert!(type_matches(
            "checkout.session.async_payment_*",
            "checkout.session.async_payment_failed"
        ));
        assert!(!type_matches(
            "checkout.session.*",
            "payment_intent.created"
        ));
        assert!(type_matches("*", "anything"));
        assert!(type_matches("*.completed", "checkout.session.completed"));
        assert!(type_matches(
            "checkout.*.expired",
            "checkout.session.expired"
        ));
        assert!(!type_matches(
            "checkout.*.expired",
            "checkout.session.completed"
        ));
    }

    #[test]
    fn created_bounds_combine() {
        let f = CreatedFilter {
            gte: Some(10),
            lt: Some(20),
            ..CreatedFilter::default()
        };
        assert!(f.contains(10) && f.contains(19));
        assert!(!f.contains(9) && !f.contains(20));
        assert!(CreatedFilter::exactly(5).contains(5));
        assert!(!CreatedFilter::exactly(5).contains(6));
    }
}
