//! The dead letters as an operator reads them: each parked event with its session, why it was
//! given up on and its attempt history, from the message itself (body and headers) as the
//! management API shows it. The body is Stripe's event, so nothing here depends on the routing
//! key a redrive may have changed.

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::queue::topology::headers;

use crate::management::PeekedMessage;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The Stripe event id (`evt_…`), the message id a redrive selects by.
    pub event_id: String,
    pub event_type: String,
    pub session_id: Option<String>,
    /// `acct_…` of a connected account's event; empty for the platform's.
    pub account: String,
    pub created: Option<DateTime<Utc>>,
    pub reason: String,
    /// One line per failed attempt, oldest first.
    pub history: Vec<String>,
}

fn header_text(message: &PeekedMessage, name: &str) -> String {
    match message.properties.headers.get(name) {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

impl DeadLetter {
    pub fn of(message: &PeekedMessage) -> DeadLetter {
        // A body that is not an event (why it may have died) still shows, with what is known.
        let event: Value = if message.payload_encoding == "string" {
            serde_json::from_str(&message.payload).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        let text = |value: &Value| value.as_str().map(str::to_owned);
        DeadLetter {
            event_id: message
                .properties
                .message_id
                .clone()
                .or_else(|| text(&event["id"]))
                .unwrap_or_default(),
            event_type: text(&event["type"]).unwrap_or_else(|| "(not an event)".into()),
            session_id: text(&event["data"]["object"]["id"]),
            account: text(&event["account"]).unwrap_or_default(),
            created: event["created"]
                .as_i64()
                .and_then(|secs| DateTime::from_timestamp(secs, 0)),
            reason: header_text(message, headers::DEAD_REASON),
            history: header_text(message, headers::ATTEMPT_HISTORY)
                .lines()
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::management::PeekedProperties;

    #[test]
    fn a_dead_letter_reads_its_event_reason_and_history() {
        let mut headers = serde_json::Map::new();
        headers.insert(
            "x-dead-reason".into(),
            "out of attempts: Stripe: 500".into(),
        );
        headers.insert(
            "x-attempt-history".into(),
            "attempt=1 error=Stripe: 500\nattempt=2 error=Stripe: 500".into(),
        );
        let message = PeekedMessage {
            message_count: 0,
            payload: r#"{"id":"evt_1","type":"checkout.session.completed","created":1700000000,
                "account":"acct_9","data":{"object":{"id":"cs_test_a"}}}"#
                .into(),
            payload_encoding: "string".into(),
            properties: PeekedProperties {
                message_id: Some("evt_1".into()),
                headers,
            },
        };
        let dead = DeadLetter::of(&message);
        assert_eq!(dead.event_id, "evt_1");
        assert_eq!(dead.session_id.as_deref(), Some("cs_test_a"));
        assert_eq!(dead.account, "acct_9");
        assert_eq!(dead.reason, "out of attempts: Stripe: 500");
        assert_eq!(dead.history.len(), 2);
        assert_eq!(dead.created.unwrap().timestamp(), 1_700_000_000);
    }

    #[test]
    fn a_body_that_is_not_an_event_still_shows() {
        let message = PeekedMessage {
            message_count: 0,
            payload: "bm90IGpzb24=".into(),
            payload_encoding: "base64".into(),
            properties: PeekedProperties::default(),
        };
        let dead = DeadLetter::of(&message);
        assert_eq!(dead.event_type, "(not an event)");
        assert_eq!(dead.session_id, None);
    }
}
