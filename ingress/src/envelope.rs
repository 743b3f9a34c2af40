//! The few fields of a verified Stripe event that routing needs, and nothing else.
//!
//! Only called after the signature has been verified (G4: never parse before verifying). The
//! body itself is forwarded unchanged; this parse exists to pick the routing key and the message
//! id of a checkout event, and to refuse (400) a verified body that is not an event at all.
//! Strings borrow from the body where JSON escapes allow, so a parse allocates almost nothing.
//!
//! Only checkout events are held to a shape. Any other type is authentic Stripe traffic we do
//! not consume, and its shape is Stripe's business (a `balance.available` object has no `id`,
//! newer event formats carry other fields): its type alone decides that it is acknowledged,
//! because a refusal would have Stripe retry it for days and in the end disable the endpoint,
//! checkout events included.

use std::borrow::Cow;

use serde::Deserialize;
use shared::{AccountId, CheckoutSessionId, EventId};

/// The prefix of every event type the worker fulfills from.
pub const CHECKOUT_SESSION_PREFIX: &str = "checkout.session.";

/// AMQP `type` and routing keys are short strings: at most 255 bytes.
const MAX_TYPE_LEN: usize = 255;

/// A verified event, as far as routing goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A `checkout.session.*` event, complete enough to publish.
    Checkout(Envelope<'a>),
    /// Any other type: acknowledged and counted, never published.
    Other {
        event_type: Cow<'a, str>,
        /// The `evt_…` id when the event has a string one, for the logs.
        id: Option<Cow<'a, str>>,
    },
}

/// What a checkout event is routed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub id: EventId,
    pub event_type: Cow<'a, str>,
    pub created: i64,
    pub livemode: bool,
    /// `data.object.id`: the `cs_…` id the worker fulfills.
    pub object_id: Cow<'a, str>,
    /// `account`: the connected account (`acct_…`) the event happened on; `None` for the
    /// platform's own events.
    pub account: Option<Cow<'a, str>>,
}

/// Why a verified body is not a usable event. The messages are ours (never a piece of the
/// body), so a response can show them as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the body is not a JSON object")]
    NotJson,
    #[error("the event has no `{0}`")]
    MissingField(&'static str),
    #[error("the event id is not an evt_ id")]
    InvalidEventId,
    #[error("the event type is not a dotted lowercase name")]
    InvalidEventType,
    #[error("the checkout event's data.object.id is not a Checkout Session id")]
    InvalidSessionId,
    #[error("the checkout event's account is not a connected account id (acct_…)")]
    InvalidAccount,
}

impl EnvelopeError {
    /// A stable code for responses and metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotJson => "not_json",
            Self::MissingField(_) => "missing_field",
            Self::InvalidEventId => "invalid_event_id",
            Self::InvalidEventType => "invalid_event_type",
            Self::InvalidSessionId => "invalid_session_id",
            Self::InvalidAccount => "invalid_account",
        }
    }
}

/// The wire shape, every field optional so that a missing one is named in the answer.
#[derive(Deserialize)]
struct WireEvent<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    event_type: Option<Cow<'a, str>>,
    created: Option<i64>,
    livemode: Option<bool>,
    #[serde(borrow)]
    account: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<WireData<'a>>,
}

#[derive(Deserialize)]
struct WireData<'a> {
    #[serde(borrow)]
    object: Option<WireObject<'a>>,
}

#[derive(Deserialize)]
struct WireObject<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
}

/// Only the type, every other field skipped whatever its JSON type: the fallback for a body
/// that the full [`WireEvent`] does not fit.
#[derive(Deserialize)]
struct WireType<'a> {
    #[serde(rename = "type", borrow)]
    event_type: Option<Cow<'a, str>>,
}

/// Parses a verified event body.
pub fn parse(body: &[u8]) -> Result<Event<'_>, EnvelopeError> {
    let wire: WireEvent<'_> = match serde_json::from_slice(body) {
        Ok(wire) => wire,
        // A field of an unexpected JSON type is fine in an event we do not consume; a second,
        // looser parse (only on this rare path) tells whether that is what this is.
        Err(_) => return parse_other(body),
    };
    let event_type = wire.event_type.ok_or(EnvelopeError::MissingField("type"))?;
    if !is_event_type(&event_type) {
        return Err(EnvelopeError::InvalidEventType);
    }
    if !event_type.starts_with(CHECKOUT_SESSION_PREFIX) {
        return Ok(Event::Other {
            event_type,
            id: wire.id,
        });
    }
    let id = wire.id.ok_or(EnvelopeError::MissingField("id"))?;
    let id = EventId::parse(&id).map_err(|_| EnvelopeError::InvalidEventId)?;
    let created = wire.created.ok_or(EnvelopeError::MissingField("created"))?;
    let livemode = wire
        .livemode
        .ok_or(EnvelopeError::MissingField("livemode"))?;
    let object_id = wire
        .data
        .and_then(|data| data.object)
        .and_then(|object| object.id)
        .ok_or(EnvelopeError::MissingField("data.object.id"))?;
    // The worker can do nothing with a checkout event that names no session: refuse it here,
    // where Stripe's dashboard shows the failure, rather than dead-letter it later.
    if CheckoutSessionId::parse(&object_id).is_err() {
        return Err(EnvelopeError::InvalidSessionId);
    }
    // Nor with one on an account it cannot name to Stripe: guessing the platform could fulfill
    // another account's session.
    if wire
        .account
        .as_deref()
        .is_some_and(|a| AccountId::parse(a).is_err())
    {
        return Err(EnvelopeError::InvalidAccount);
    }
    Ok(Event::Checkout(Envelope {
        id,
        event_type,
        created,
        livemode,
        object_id,
        account: wire.account,
    }))
}

/// A JSON object that [`WireEvent`] does not fit is still acknowledged when its type is one we
/// do not consume; anything else is not an event we can use.
fn parse_other(body: &[u8]) -> Result<Event<'_>, EnvelopeError> {
    let wire: WireType<'_> = serde_json::from_slice(body).map_err(|_| EnvelopeError::NotJson)?;
    match wire.event_type {
        Some(event_type)
            if is_event_type(&event_type) && !event_type.starts_with(CHECKOUT_SESSION_PREFIX) =>
        {
            Ok(Event::Other {
                event_type,
                id: None,
            })
        }
        _ => Err(EnvelopeError::NotJson),
    }
}

/// `checkout.session.completed`: lowercase words, digits and underscores separated by dots. The
/// type becomes a routing key, where `*` and `#` are wildcards, so nothing else may pass.
fn is_event_type(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_TYPE_LEN
        && s.split('.').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPLETED: &[u8] = br#"{"id":"evt_1","object":"event","type":"checkout.session.completed","created":1700000000,"livemode":false,"data":{"object":{"id":"cs_test_a1","object":"checkout.session"}}}"#;

    fn checkout(body: &[u8]) -> Envelope<'_> {
        match parse(body) {
            Ok(Event::Checkout(envelope)) => envelope,
            other => panic!("not a checkout event: {other:?}"),
        }
    }

    /// The type of an event we do not consume.
    fn other_type(body: &[u8]) -> String {
        match parse(body) {
            Ok(Event::Other { event_type, .. }) => event_type.into_owned(),
            other => panic!("not an event of another type: {other:?}"),
        }
    }

    #[test]
    fn a_checkout_event_yields_its_routing_fields() {
        let envelope = checkout(COMPLETED);
        assert_eq!(envelope.id.as_str(), "evt_1");
        assert_eq!(envelope.event_type, "checkout.session.completed");
        assert_eq!(envelope.created, 1_700_000_000);
        assert!(!envelope.livemode);
        assert_eq!(envelope.object_id, "cs_test_a1");
    }

    #[test]
    fn stripes_published_fixture_is_an_event_of_another_type() {
        let body = include_bytes!("../../shared/fixtures/stripe/event.json");
        assert_eq!(
            parse(body),
            Ok(Event::Other {
                event_type: "plan.created".into(),
                id: Some("evt_1Pgc76B7WZ01zgkWwyRHS12y".into()),
            })
        );
    }

    #[test]
    fn a_balance_event_whose_object_has_no_id_is_of_another_type() {
        let body = include_bytes!("../../shared/fixtures/stripe/event_balance_available.json");
        assert_eq!(other_type(body), "balance.available");
    }

    #[test]
    fn an_event_of_another_type_needs_nothing_but_its_type() {
        for body in [
            r#"{"type":"balance.available"}"#,
            r#"{"id":"evt_1","type":"payout.paid","data":{"object":{"object":"payout"}}}"#,
            // Another event format: the id is not an evt_ id, created is a timestamp string.
            r#"{"id":"evt_test_65R","object":"v2.core.event","type":"v1.billing.meter.error_report_triggered","created":"2024-10-02T17:06:07.184Z"}"#,
            // Fields of JSON types a checkout event could not have.
            r#"{"id":7,"type":"invoice.upcoming","livemode":"no","data":{"object":{"id":null}}}"#,
            r#"{"type":"customer.updated","data":{"object":{"id":{"nested":true}}}}"#,
        ] {
            assert_ne!(other_type(body.as_bytes()), "", "{body}");
        }
    }

    #[test]
    fn each_missing_field_of_a_checkout_event_is_named() {
        let ty = "checkout.session.completed";
        for (field, body) in [
            (
                "id",
                format!(
                    r#"{{"type":"{ty}","created":1,"livemode":false,"data":{{"object":{{"id":"cs_1"}}}}}}"#
                ),
            ),
            (
                "type",
                r#"{"id":"evt_1","created":1,"livemode":false,"data":{"object":{"id":"cs_1"}}}"#
                    .to_owned(),
            ),
            (
                "created",
                format!(
                    r#"{{"id":"evt_1","type":"{ty}","livemode":false,"data":{{"object":{{"id":"cs_1"}}}}}}"#
                ),
            ),
            (
                "livemode",
                format!(
                    r#"{{"id":"evt_1","type":"{ty}","created":1,"data":{{"object":{{"id":"cs_1"}}}}}}"#
                ),
            ),
            (
                "data.object.id",
                format!(
                    r#"{{"id":"evt_1","type":"{ty}","created":1,"livemode":false,"data":{{"object":{{}}}}}}"#
                ),
            ),
            (
                "data.object.id",
                format!(r#"{{"id":"evt_1","type":"{ty}","created":1,"livemode":false}}"#),
            ),
        ] {
            assert_eq!(
                parse(body.as_bytes()),
                Err(EnvelopeError::MissingField(field)),
                "{body}"
            );
        }
    }

    #[test]
    fn non_json_and_wrong_shapes_are_not_events() {
        for body in [
            &b"not json"[..],
            b"[1,2]",
            b"",
            br#"{"id":1}"#,
            br#"{"type":7}"#,
            // A checkout event is held to its shape.
            br#"{"id":"evt_1","type":"checkout.session.completed","created":1,"livemode":false,"data":{"object":{"id":7}}}"#,
        ] {
            assert_eq!(parse(body), Err(EnvelopeError::NotJson));
        }
    }

    #[test]
    fn routing_key_wildcards_and_bad_ids_are_refused() {
        let body = |id: &str, ty: &str, object: &str| {
            format!(
                r#"{{"id":"{id}","type":"{ty}","created":1,"livemode":false,"data":{{"object":{{"id":"{object}"}}}}}}"#
            )
        };
        let refused = |b: String| parse(b.as_bytes()).map(|_| ()).unwrap_err();
        assert_eq!(
            refused(body("evt_1", "checkout.#", "x")),
            EnvelopeError::InvalidEventType
        );
        assert_eq!(
            refused(body("evt_1", "a..b", "x")),
            EnvelopeError::InvalidEventType
        );
        assert_eq!(
            refused(body("ev_1", "checkout.session.completed", "cs_1")),
            EnvelopeError::InvalidEventId
        );
        assert_eq!(
            refused(body("evt_1", "checkout.session.completed", "pi_1")),
            EnvelopeError::InvalidSessionId
        );
    }

    #[test]
    fn a_connected_accounts_event_carries_its_account_and_a_malformed_one_is_refused() {
        let body = |account: &str| {
            format!(
                r#"{{"id":"evt_1","type":"checkout.session.completed","created":1,"livemode":false,"account":{account},"data":{{"object":{{"id":"cs_test_1"}}}}}}"#
            )
        };
        let connected = body(r#""acct_1Connected""#);
        assert_eq!(
            checkout(connected.as_bytes()).account.as_deref(),
            Some("acct_1Connected")
        );
        assert_eq!(checkout(body("null").as_bytes()).account, None);
        assert_eq!(checkout(COMPLETED).account, None);
        for bad in [r#""cus_1""#, r#""acct_""#, r#""acct_1 OR 1""#] {
            assert_eq!(
                parse(body(bad).as_bytes()),
                Err(EnvelopeError::InvalidAccount),
                "{bad}"
            );
        }
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let body = br#"{"id":"evt_\u0031","type":"checkout.session.expired","created":1,"livemode":true,"data":{"object":{"id":"cs_live_\u0041"}}}"#;
        let envelope = checkout(body);
        assert_eq!(envelope.id.as_str(), "evt_1");
        assert_eq!(envelope.object_id, "cs_live_A");
    }
}
