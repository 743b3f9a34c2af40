//! The `orders` exchange's contract: the typed bodies of what fulfillment announces, for the
//! merchant's own consumers in any language.
//!
//! Each announcement is written to the outbox in the transaction of the state change it
//! announces and relayed to the topic exchange `orders` with its routing key (= the AMQP `type`
//! property) and a `message_id` that is the same on every redelivery: a consumer dedupes on it.
//! The JSON Schemas in `docs/contract/` describe these bodies; a test checks real messages
//! against them and the schemas' properties against these structs.
//!
//! Compatibility: adding a field is compatible (consumers ignore what they do not know);
//! renaming, removing or retyping one is a new `version`, published under a new routing key
//! (`order.fulfilled.v2`) beside the old one for as long as consumers need.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::AccountId;
use crate::store::access::Access;
use crate::store::orders::{Order, OrderLine, OrderSubscription};
use crate::stripe::{CheckoutSession, ShippingDetails};

/// The body version every announcement of this release carries in `version`.
pub const VERSION: u32 = 1;

/// A body announced on the `orders` exchange under a fixed routing key.
pub trait Announcement: Serialize {
    /// The routing key, also the message's AMQP `type`.
    const ROUTING_KEY: &'static str;

    /// Where the notifier mails the customer about it, if anywhere.
    fn customer_email(&self) -> Option<&str>;
}

/// `order.fulfilled`: a paid session became an order, exactly once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFulfilled {
    pub version: u32,
    pub session_id: String,
    /// The connected account (`acct_…`) the session was paid on (Stripe Connect); `null` for
    /// the platform's own sessions. An order is identified by account and session together.
    pub account: Option<String>,
    pub order_number: i64,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub currency: Option<String>,
    pub amount_total: Option<i64>,
    /// `webhook`, `landing` or `reconciler`: which path fulfilled it first.
    pub fulfilled_by: Option<String>,
    pub fulfilled_at: Option<DateTime<Utc>>,
    pub line_items: Vec<AnnouncedLineItem>,
    /// Where it ships (Stripe's `shipping_details` shape); `null` when nothing is shipped.
    /// Added within version 1.
    #[serde(default)]
    pub shipping: Option<ShippingDetails>,
    /// What the order's digital goods and services gave: links and licence keys, one entry per
    /// key. Empty when nothing digital was bought. Added within version 1.
    #[serde(default)]
    pub access: Vec<AnnouncedAccess>,
    /// The subscription a subscription-mode order started; `null` for a one-time order.
    /// Added within version 1.
    #[serde(default)]
    pub subscription: Option<OrderSubscription>,
}

/// One thing the customer now has access to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncedAccess {
    /// Stripe's product id (`prod_…`).
    pub product: String,
    pub title: String,
    /// Where the customer gets it, if it is reached by a link.
    pub url: Option<String>,
    /// The licence key issued for it, if the product issues keys.
    pub licence_key: Option<String>,
}

/// One line of an `order.fulfilled` announcement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncedLineItem {
    /// Stripe's line item id (`li_…`).
    pub id: String,
    pub description: String,
    pub quantity: i64,
    /// Stripe's price id, when the line was for a catalog price.
    pub price: Option<String>,
    pub amount_total: i64,
}

/// `order.payment_failed`: a delayed payment (bank transfer) failed; the customer should hear
/// of it and may try again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPaymentFailed {
    pub version: u32,
    pub session_id: String,
    /// As in [`OrderFulfilled::account`].
    pub account: Option<String>,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
}

impl Announcement for OrderFulfilled {
    const ROUTING_KEY: &'static str = "order.fulfilled";

    fn customer_email(&self) -> Option<&str> {
        self.customer_email.as_deref()
    }
}

impl Announcement for OrderPaymentFailed {
    const ROUTING_KEY: &'static str = "order.payment_failed";

    fn customer_email(&self) -> Option<&str> {
        self.customer_email.as_deref()
    }
}

impl From<&Order> for OrderFulfilled {
    fn from(order: &Order) -> Self {
        OrderFulfilled {
            version: VERSION,
            session_id: order.session_id.clone(),
            account: order.account.clone(),
            order_number: order.order_number,
            customer_name: order.customer_name.clone(),
            customer_email: order.customer_email.clone(),
            currency: order.currency.clone(),
            amount_total: order.amount_total,
            fulfilled_by: order.fulfilled_by.clone(),
            fulfilled_at: order.fulfilled_at,
            line_items: order.lines.iter().map(AnnouncedLineItem::from).collect(),
            shipping: order.shipping.clone(),
            access: order.access.iter().map(AnnouncedAccess::from).collect(),
            subscription: order.subscription.clone(),
        }
    }
}

impl From<&Access> for AnnouncedAccess {
    fn from(access: &Access) -> Self {
        AnnouncedAccess {
            product: access.product_id.clone(),
            title: access.title.clone(),
            url: access.url.clone(),
            licence_key: access.licence_key.clone(),
        }
    }
}

impl From<&OrderLine> for AnnouncedLineItem {
    fn from(line: &OrderLine) -> Self {
        AnnouncedLineItem {
            id: line.line_item_id.clone(),
            description: line.description.clone(),
            quantity: line.quantity,
            price: line.price_id.clone(),
            amount_total: line.amount_total,
        }
    }
}

impl OrderPaymentFailed {
    pub fn new(account: Option<&AccountId>, session_id: &str, session: &CheckoutSession) -> Self {
        OrderPaymentFailed {
            version: VERSION,
            session_id: session_id.to_owned(),
            account: account.map(|a| a.as_str().to_owned()),
            customer_email: session.customer_email().map(str::to_owned),
            customer_name: session.customer_name().map(str::to_owned),
            amount_total: session.amount_total,
            currency: session.currency.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fulfilled_body_keeps_the_field_names_consumers_already_read() {
        let order = Order {
            session_id: "cs_test_a".into(),
            account: None,
            order_number: 7,
            state: crate::store::orders::OrderState::Fulfilled,
            customer_name: Some("Jenny Rosen".into()),
            customer_email: Some("jenny@example.com".into()),
            currency: Some("usd".into()),
            amount_subtotal: Some(4000),
            amount_total: Some(4000),
            fulfilled_by: Some("webhook".into()),
            fulfilled_at: None,
            payment_link: None,
            shipping: None,
            subscription: None,
            access: Vec::new(),
            lines: vec![OrderLine {
                line_item_id: "li_1".into(),
                description: "T-shirt".into(),
                quantity: 2,
                price_id: Some("price_tshirt".into()),
                currency: "usd".into(),
                amount_subtotal: 4000,
                amount_total: 4000,
            }],
        };

        let body = serde_json::to_value(OrderFulfilled::from(&order)).unwrap();

        assert_eq!(body["version"], 1);
        assert_eq!(body["session_id"], "cs_test_a");
        assert_eq!(body["order_number"], 7);
        assert_eq!(
            body["account"],
            serde_json::Value::Null,
            "the platform's: null, not absent"
        );
        assert_eq!(body["line_items"][0]["id"], "li_1");
        assert_eq!(body["line_items"][0]["price"], "price_tshirt");
        assert_eq!(body["line_items"][0]["amount_total"], 4000);
        assert_eq!(body["shipping"], serde_json::Value::Null);
        assert_eq!(body["access"], serde_json::json!([]));
        assert_eq!(body["subscription"], serde_json::Value::Null);
        let back: OrderFulfilled = serde_json::from_value(body).unwrap();
        assert_eq!(back.line_items.len(), 1);
    }
}
