//! A checkout event as the worker reads it: parsed once from the queue's raw bytes or from a
//! `GET /v1/events` page, so the queue and the reconciler meet the same rules.

use shared::domain::{InvalidAccountId, InvalidEventId, InvalidSessionId};
use shared::stripe::Event;
use shared::{AccountId, CheckoutSessionId, EventId};

/// The event types the worker acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `checkout.session.completed`: fulfill if paid, else record awaiting payment.
    Completed,
    /// `checkout.session.async_payment_succeeded`: fulfill.
    AsyncPaymentSucceeded,
    /// `checkout.session.async_payment_failed`: record the failure, tell the customer.
    AsyncPaymentFailed,
    /// `checkout.session.expired`: record it.
    Expired,
    /// Anything else: recorded as `ignored` and acknowledged.
    Other,
}

impl EventKind {
    /// Each handled type and its kind: the one place a type's name is spelled.
    const BY_TYPE: [(&'static str, EventKind); 4] = [
        ("checkout.session.completed", Self::Completed),
        (
            "checkout.session.async_payment_succeeded",
            Self::AsyncPaymentSucceeded,
        ),
        (
            "checkout.session.async_payment_failed",
            Self::AsyncPaymentFailed,
        ),
        ("checkout.session.expired", Self::Expired),
    ];

    /// The types the reconciler lists.
    pub const HANDLED: [&'static str; 4] = [
        Self::BY_TYPE[0].0,
        Self::BY_TYPE[1].0,
        Self::BY_TYPE[2].0,
        Self::BY_TYPE[3].0,
    ];

    /// Decided by `fulfill_checkout`, which starts from the stored order: `completed`,
    /// `async_payment_succeeded`, and `expired` (an expired session that is somehow paid is
    /// fulfilled). The others never read the order first.
    pub const fn is_fulfillment(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::AsyncPaymentSucceeded | Self::Expired
        )
    }

    pub fn from_type(kind: &str) -> Self {
        Self::BY_TYPE
            .iter()
            .find(|(name, _)| *name == kind)
            .map_or(Self::Other, |(_, handled)| *handled)
    }
}

/// A checkout event whose ids have been parsed.
#[derive(Debug, Clone)]
pub struct CheckoutEvent {
    pub id: EventId,
    /// The Stripe type, as sent (also the metric label; the queue only carries
    /// `checkout.session.*`, so the label set stays small).
    pub event_type: String,
    pub kind: EventKind,
    /// Unix seconds, Stripe's clock.
    pub created: i64,
    /// `data.object.id`; `None` for [`EventKind::Other`], which needs none.
    pub session: Option<CheckoutSessionId>,
    /// `account`: the connected account the session lives on (Stripe Connect); `None` for the
    /// platform's own events.
    pub account: Option<AccountId>,
}

/// Why a message cannot be processed, ever: it is dead-lettered at once.
#[derive(Debug, thiserror::Error)]
pub enum MalformedEvent {
    #[error("the body is not a Stripe event")]
    NotAnEvent(#[source] serde_json::Error),
    #[error("invalid event id")]
    EventId(#[source] InvalidEventId),
    /// The event id is fine (so the event is recorded), the session id is not.
    #[error("event {event_id}: invalid session id in data.object.id")]
    SessionId {
        event_id: EventId,
        event_type: String,
        created: i64,
        #[source]
        source: InvalidSessionId,
    },
    /// The event names a connected account that is not an `acct_…` id: its session cannot be
    /// asked for, and a guess (the platform) could fulfill the wrong account's session.
    #[error("event {event_id}: invalid connected account in `account`")]
    Account {
        event_id: EventId,
        event_type: String,
        created: i64,
        #[source]
        source: InvalidAccountId,
    },
}

impl CheckoutEvent {
    /// Parses the verified raw bytes the ingress published.
    pub fn parse(body: &[u8]) -> Result<Self, MalformedEvent> {
        let event: Event = serde_json::from_slice(body).map_err(MalformedEvent::NotAnEvent)?;
        Self::from_event(&event)
    }

    /// Reads an event listed by the Stripe API.
    pub fn from_event(event: &Event) -> Result<Self, MalformedEvent> {
        let id = EventId::parse(&event.id).map_err(MalformedEvent::EventId)?;
        let kind = EventKind::from_type(&event.kind);
        let account = event
            .account
            .as_deref()
            .map(AccountId::parse)
            .transpose()
            .map_err(|source| MalformedEvent::Account {
                event_id: id.clone(),
                event_type: event.kind.clone(),
                created: event.created,
                source,
            })?;
        let session = match kind {
            EventKind::Other => None,
            _ => Some(
                CheckoutSessionId::parse(event.object_id().unwrap_or_default()).map_err(
                    |source| MalformedEvent::SessionId {
                        event_id: id.clone(),
                        event_type: event.kind.clone(),
                        created: event.created,
                        source,
                    },
                )?,
            ),
        };
        Ok(Self {
            id,
            event_type: event.kind.clone(),
            kind,
            created: event.created,
            session,
            account,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_handled_type_reads_as_its_own_kind_and_any_other_as_other() {
        let kinds: Vec<EventKind> = EventKind::HANDLED
            .iter()
            .map(|t| EventKind::from_type(t))
            .collect();
        assert_eq!(
            kinds,
            [
                EventKind::Completed,
                EventKind::AsyncPaymentSucceeded,
                EventKind::AsyncPaymentFailed,
                EventKind::Expired
            ]
        );
        assert_eq!(
            EventKind::from_type("checkout.session.created"),
            EventKind::Other
        );
        assert_eq!(
            EventKind::from_type("checkout.session.completed.x"),
            EventKind::Other
        );
    }

    fn body(kind: &str, object_id: &str) -> Vec<u8> {
        body_with_id("evt_1abc", kind, object_id)
    }

    fn body_with_id(id: &str, kind: &str, object_id: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "id": id, "object": "event", "type": kind, "created": 1_700_000_000,
            "livemode": false, "data": {"object": {"id": object_id, "object": "checkout.session"}},
        }))
        .unwrap()
    }

    #[test]
    fn a_checkout_event_is_parsed_with_its_session() {
        let event =
            CheckoutEvent::parse(&body("checkout.session.completed", "cs_test_a1")).unwrap();
        assert_eq!(event.kind, EventKind::Completed);
        assert_eq!(event.session.unwrap().as_str(), "cs_test_a1");
        assert_eq!(event.created, 1_700_000_000);
    }

    #[test]
    fn a_bad_session_id_keeps_the_event_id_for_the_audit_trail() {
        let err = CheckoutEvent::parse(&body("checkout.session.expired", "../etc")).unwrap_err();
        assert!(
            matches!(err, MalformedEvent::SessionId { ref event_id, .. } if event_id.as_str() == "evt_1abc")
        );
    }

    #[test]
    fn a_connected_accounts_event_names_its_account() {
        let mut event: serde_json::Value =
            serde_json::from_slice(&body("checkout.session.completed", "cs_test_a1")).unwrap();
        let platform = CheckoutEvent::parse(&serde_json::to_vec(&event).unwrap()).unwrap();
        assert_eq!(platform.account, None);
        event["account"] = "acct_1Connected".into();
        let connected = CheckoutEvent::parse(&serde_json::to_vec(&event).unwrap()).unwrap();
        assert_eq!(connected.account.unwrap().as_str(), "acct_1Connected");
        event["account"] = serde_json::Value::Null;
        let null = CheckoutEvent::parse(&serde_json::to_vec(&event).unwrap()).unwrap();
        assert_eq!(null.account, None, "null is the platform, as absent is");
    }

    #[test]
    fn a_malformed_account_keeps_the_event_id_and_says_why() {
        let mut event: serde_json::Value =
            serde_json::from_slice(&body("checkout.session.completed", "cs_test_a1")).unwrap();
        event["account"] = "cus_not_an_account".into();
        let err = CheckoutEvent::parse(&serde_json::to_vec(&event).unwrap()).unwrap_err();
        assert!(
            matches!(err, MalformedEvent::Account { ref event_id, .. } if event_id.as_str() == "evt_1abc")
        );
        assert!(shared::errors::error_chain(&err).contains("acct_"));
    }

    #[test]
    fn other_types_need_no_session() {
        let event = CheckoutEvent::parse(&body("checkout.session.something_new", "x")).unwrap();
        assert_eq!(event.kind, EventKind::Other);
        assert!(event.session.is_none());
    }

    #[test]
    fn garbage_is_not_an_event() {
        assert!(matches!(
            CheckoutEvent::parse(b"{not json"),
            Err(MalformedEvent::NotAnEvent(_))
        ));
        assert!(matches!(
            CheckoutEvent::parse(&body_with_id(
                "bogus",
                "checkout.session.completed",
                "cs_test_1"
            )),
            Err(MalformedEvent::EventId(_))
        ));
    }
}
