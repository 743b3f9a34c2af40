//! The mutable data behind one lock: sessions, their customers and subscriptions, events and
//! payment links.
//!
//! One `std::sync::Mutex` guards both because a transition changes a session and records its
//! event in one step: a reader never sees a completed session without its
//! `checkout.session.completed` event, nor the other way round. No lock is held across an
//! `.await`, so a blocking mutex is the right tool.

use std::collections::HashMap;

use serde_json::Value;

use super::payment_links::PaymentLinkRecord;
use super::records::{CustomerRecord, EventRecord, SessionRecord};
use super::subscriptions::SubscriptionRecord;
use crate::{ids, objects};

#[derive(Debug, Default)]
pub(crate) struct Store {
    /// Source of `seq` for sessions and events: creation order across both.
    next_seq: u64,
    pub sessions: HashMap<String, SessionRecord>,
    /// In the same lock as sessions, so a session never names a customer that is not there.
    pub customers: HashMap<String, CustomerRecord>,
    /// Events in creation order.
    pub events: Vec<EventRecord>,
    pub event_index: HashMap<String, usize>,
    pub payment_links: HashMap<String, PaymentLinkRecord>,
    /// Made by completed subscription-mode sessions, with their customers, in the same lock.
    pub subscriptions: HashMap<String, SubscriptionRecord>,
}

impl Store {
    fn take_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub(crate) fn insert_session(&mut self, mut session: SessionRecord) {
        session.seq = self.take_seq();
        self.sessions.insert(session.id.clone(), session);
    }

    /// Records an event whose `data.object` is the session as it is now; returns the event.
    /// `pending_webhooks` is the number of endpoints it is about to be delivered to.
    pub(crate) fn record_session_event(
        &mut self,
        session_id: &str,
        event_type: &str,
        created: i64,
        pending_webhooks: usize,
    ) -> Value {
        let session = &self.sessions[session_id];
        let account = session.account.clone();
        let snapshot = objects::session::render(session);
        let id = ids::event();
        let body = objects::event::render(
            &id,
            event_type,
            created,
            snapshot,
            pending_webhooks,
            account.as_deref(),
        );
        let record = EventRecord {
            id: id.clone(),
            account,
            seq: self.take_seq(),
            created,
            event_type: event_type.to_string(),
            body: body.clone(),
        };
        self.event_index.insert(id, self.events.len());
        self.events.push(record);
        body
    }

    /// Events recorded after the first `cursor` ones, and the cursor past them.
    pub(crate) fn events_after(&self, cursor: usize) -> (Vec<Value>, usize) {
        let new = self
            .events
            .get(cursor..)
            .unwrap_or_default()
            .iter()
            .map(|e| e.body.clone())
            .collect();
        (new, self.events.len())
    }

    pub(crate) fn pending_webhooks(&self, event_id: &str) -> Option<u64> {
        let i = *self.event_index.get(event_id)?;
        self.events[i].body["pending_webhooks"].as_u64()
    }

    /// Sets `pending_webhooks` on the stored event, which is what `GET /v1/events` shows.
    pub(crate) fn set_pending_webhooks(&mut self, event_id: &str, pending: usize) {
        if let Some(&i) = self.event_index.get(event_id) {
            self.events[i].body["pending_webhooks"] = pending.into();
        }
    }

    /// One endpoint has acknowledged the event.
    pub(crate) fn decrement_pending_webhooks(&mut self, event_id: &str) {
        if let Some(pending) = self.pending_webhooks(event_id) {
            self.set_pending_webhooks(event_id, pending.saturating_sub(1) as usize);
        }
    }
}
