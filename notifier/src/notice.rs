//! A delivery from `notifier.orders` as what the notifier tells people about: the typed
//! announcement of its routing key, and the `message_id` every send is deduped and keyed by.

use shared::announcements::{Announcement, OrderFulfilled, OrderPaymentFailed};
use uuid::Uuid;

/// An announcement the notifier has a message for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Boxed: an order (its lines and address) is several times the size of a failure.
    Fulfilled(Box<OrderFulfilled>),
    PaymentFailed(OrderPaymentFailed),
}

/// Why a delivery cannot be told to anyone, ever: it goes to the dead-letter queue.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unreadable {
    #[error("no message_id that is an outbox id (a UUID): nothing to dedupe on")]
    NoMessageId,
    #[error("routing key {0:?} is no announcement the notifier knows")]
    UnknownRoutingKey(String),
    #[error("the body is not a {routing_key} announcement: {problem}")]
    Body {
        routing_key: String,
        problem: String,
    },
}

impl Notice {
    /// Reads a delivery's `message_id` property, routing key and body.
    pub fn read(
        message_id: Option<&str>,
        routing_key: &str,
        body: &[u8],
    ) -> Result<(Uuid, Notice), Unreadable> {
        let id = message_id
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or(Unreadable::NoMessageId)?;
        let parse_error = |e: serde_json::Error| Unreadable::Body {
            routing_key: routing_key.to_owned(),
            problem: e.to_string(),
        };
        let notice = match routing_key {
            OrderFulfilled::ROUTING_KEY => {
                Notice::Fulfilled(serde_json::from_slice(body).map_err(parse_error)?)
            }
            OrderPaymentFailed::ROUTING_KEY => {
                Notice::PaymentFailed(serde_json::from_slice(body).map_err(parse_error)?)
            }
            other => return Err(Unreadable::UnknownRoutingKey(other.to_owned())),
        };
        Ok((id, notice))
    }

    pub fn routing_key(&self) -> &'static str {
        match self {
            Notice::Fulfilled(_) => OrderFulfilled::ROUTING_KEY,
            Notice::PaymentFailed(_) => OrderPaymentFailed::ROUTING_KEY,
        }
    }

    pub fn session_id(&self) -> &str {
        match self {
            Notice::Fulfilled(order) => &order.session_id,
            Notice::PaymentFailed(failed) => &failed.session_id,
        }
    }

    /// Where the customer's mail goes; `None` when the session collected no address.
    pub fn customer_email(&self) -> Option<&str> {
        match self {
            Notice::Fulfilled(order) => order.customer_email.as_deref(),
            Notice::PaymentFailed(failed) => failed.customer_email.as_deref(),
        }
        .map(str::trim)
        .filter(|email| !email.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_without_an_outbox_id_or_of_another_kind_is_refused_with_its_reason() {
        let body = br#"{"version":1,"session_id":"cs_1","customer_email":null,"customer_name":null,"amount_total":null,"currency":null}"#;
        assert_eq!(
            Notice::read(None, "order.payment_failed", body).unwrap_err(),
            Unreadable::NoMessageId
        );
        let id = Uuid::new_v4().to_string();
        assert_eq!(
            Notice::read(Some(&id), "order.refunded", body).unwrap_err(),
            Unreadable::UnknownRoutingKey("order.refunded".into())
        );
        assert!(matches!(
            Notice::read(Some(&id), "order.fulfilled", body).unwrap_err(),
            Unreadable::Body { .. }
        ));
        let (read_id, notice) = Notice::read(Some(&id), "order.payment_failed", body).unwrap();
        assert_eq!(read_id.to_string(), id);
        assert_eq!(notice.session_id(), "cs_1");
        assert_eq!(notice.customer_email(), None);
    }
}
