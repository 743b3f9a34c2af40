//! The few fields of a verified Stripe event that routing needs, and nothing else.
//!
//! Only called after the signature has been verified (G4: never parse before verifying). The
//! body itself is forwarded unchanged; this parse exists to pick the routing key, the message id
//! and to refuse (400) a verified body that is not an event at all, which no consumer could use.
//! Strings borrow from the body where JSON escapes allow, so a parse allocates almost nothing.

use std::borrow::Cow;

use serde::Deserialize;
use shared::{CheckoutSessionId, EventId};

/// The prefix of every event type the worker fulfills from.
pub const CHECKOUT_SESSION_PREFIX: &str = "checkout.session.";

/// AMQP `type` and routing keys are short strings: at most 255 bytes.
const MAX_TYPE_LEN: usize = 255;

/// What we route on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub id: EventId,
    pub event_type: Cow<'a, str>,
    pub created: i64,
    pub livemode: bool,
    /// `data.object.id`: for checkout events, the `cs_…` id the worker fulfills.
    pub object_id: Cow<'a, str>,
}

impl Envelope<'_> {
    /// `checkout.session.*` events are published; every other type is acknowledged and counted.
    pub fn is_checkout_session(&self) -> bool {
        self.event_type.starts_with(CHECKOUT_SESSION_PREFIX)
    }
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

/// Parses the envelope of a verified event body.
pub fn parse(body: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    let wire: WireEvent<'_> = serde_json::from_slice(body).map_err(|_| EnvelopeError::NotJson)?;
    let id = wire.id.ok_or(EnvelopeError::MissingField("id"))?;
    let id = EventId::parse(&id).map_err(|_| EnvelopeError::InvalidEventId)?;
    let event_type = wire.event_type.ok_or(EnvelopeError::MissingField("type"))?;
    if !is_event_type(&event_type) {
        return Err(EnvelopeError::InvalidEventType);
    }
    let created = wire.created.ok_or(EnvelopeError::MissingField("created"))?;
    let livemode = wire
        .livemode
        .ok_or(EnvelopeError::MissingField("livemode"))?;
    let object_id = wire
        .data
        .and_then(|data| data.object)
        .and_then(|object| object.id)
        .ok_or(EnvelopeError::MissingField("data.object.id"))?;
    let envelope = Envelope {
        id,
        event_type,
        created,
        livemode,
        object_id,
    };
    // The worker can do nothing with a checkout event that names no session: refuse it here,
    // where Stripe's dashboard shows the failure, rather than dead-letter it later.
    if envelope.is_checkout_session() && CheckoutSessionId::parse(&envelope.object_id).is_err() {
        return Err(EnvelopeError::InvalidSessionId);
    }
    Ok(envelope)
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

    #[test]
    fn a_checkout_event_yields_its_routing_fields() {
        let envelope = parse(COMPLETED).unwrap();
        assert_eq!(envelope.id.as_str(), "evt_1");
        assert_eq!(envelope.event_type, "checkout.session.completed");
        assert_eq!(envelope.created, 1_700_000_000);
        assert!(!envelope.livemode);
        assert_eq!(envelope.object_id, "cs_test_a1");
        assert!(envelope.is_checkout_session());
    }

    #[test]
    fn stripes_published_fixture_is_an_event_of_another_type() {
        let body = include_bytes!("../../shared/fixtures/stripe/event.json");
        let envelope = parse(body).unwrap();
        assert_eq!(envelope.event_type, "plan.created");
        assert!(!envelope.is_checkout_session());
    }

    #[test]
    fn each_missing_field_is_named() {
        for (field, body) in [
            (
                "id",
                r#"{"type":"a.b","created":1,"livemode":false,"data":{"object":{"id":"x"}}}"#,
            ),
            (
                "type",
                r#"{"id":"evt_1","created":1,"livemode":false,"data":{"object":{"id":"x"}}}"#,
            ),
            (
                "created",
                r#"{"id":"evt_1","type":"a.b","livemode":false,"data":{"object":{"id":"x"}}}"#,
            ),
            (
                "livemode",
                r#"{"id":"evt_1","type":"a.b","created":1,"data":{"object":{"id":"x"}}}"#,
            ),
            (
                "data.object.id",
                r#"{"id":"evt_1","type":"a.b","created":1,"livemode":false,"data":{"object":{}}}"#,
            ),
            (
                "data.object.id",
                r#"{"id":"evt_1","type":"a.b","created":1,"livemode":false}"#,
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
        for body in [&b"not json"[..], b"[1,2]", b"", br#"{"id":1}"#] {
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
            refused(body("ev_1", "a.b", "x")),
            EnvelopeError::InvalidEventId
        );
        assert_eq!(
            refused(body("evt_1", "checkout.session.completed", "pi_1")),
            EnvelopeError::InvalidSessionId
        );
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let body = br#"{"id":"evt_\u0031","type":"checkout.session.expired","created":1,"livemode":true,"data":{"object":{"id":"cs_live_\u0041"}}}"#;
        let envelope = parse(body).unwrap();
        assert_eq!(envelope.id.as_str(), "evt_1");
        assert_eq!(envelope.object_id, "cs_live_A");
    }
}
