//! The fields of Stripe's objects that the product reads. Everything else is ignored, so new
//! fields Stripe adds never break deserialization; unknown enum values map to `Unknown`.

use serde::{Deserialize, Serialize};

/// A page of a list endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Open,
    Complete,
    Expired,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Paid,
    Unpaid,
    NoPaymentRequired,
    #[serde(other)]
    Unknown,
}

impl PaymentStatus {
    /// G3: only these are fulfilled.
    pub fn allows_fulfillment(self) -> bool {
        matches!(self, Self::Paid | Self::NoPaymentRequired)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CustomerDetails {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// Stripe's `address`: every part optional, as countries differ in which they have.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// Two-letter ISO code.
    pub country: Option<String>,
}

/// Where an order ships: Stripe's `shipping_details` (recipient and address), as the customer
/// gave it on the payment page. Stored with the order and announced in this same shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingDetails {
    pub name: Option<String>,
    #[serde(default)]
    pub address: Address,
}

impl ShippingDetails {
    /// The address as it is written on a parcel: recipient, street lines, "city, state postal
    /// code", country; empty parts left out.
    pub fn label_lines(&self) -> Vec<String> {
        let a = &self.address;
        let locality = [
            a.city.as_deref(),
            a.state.as_deref(),
            a.postal_code.as_deref(),
        ]
        .into_iter()
        .flatten()
        .filter(|p| !p.trim().is_empty())
        .collect::<Vec<_>>();
        let locality = match locality.as_slice() {
            [] => String::new(),
            [city, rest @ ..] if a.city.is_some() => {
                if rest.is_empty() {
                    city.to_string()
                } else {
                    format!("{city}, {}", rest.join(" "))
                }
            }
            parts => parts.join(" "),
        };
        [
            self.name.clone(),
            a.line1.clone(),
            a.line2.clone(),
            Some(locality),
            a.country.clone(),
        ]
        .into_iter()
        .flatten()
        .filter(|line| !line.trim().is_empty())
        .collect()
    }
}

/// `collected_information`: what the payment page collected (newer API versions keep the
/// shipping details here rather than on the session).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CollectedInformation {
    #[serde(default)]
    pub shipping_details: Option<ShippingDetails>,
}

/// A Customer object, as far as the product reads it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Customer {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// A price's `recurring`: a subscription price is charged every `interval_count` `interval`s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurring {
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
    pub interval_count: u32,
}

impl Recurring {
    /// `month`, `3 months`: the period as a customer reads it after "every".
    pub fn period(&self) -> String {
        match self.interval_count {
            1 => self.interval.clone(),
            n => format!("{n} {}s", self.interval),
        }
    }
}

/// A Subscription, as far as fulfillment reads it: what a subscription-mode session started.
#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    pub id: String,
    /// `active`, `trialing`, `incomplete`, `past_due`, …
    pub status: String,
    pub items: List<SubscriptionItem>,
    /// API versions before 2025-03-31 keep the period here; later ones on each item.
    #[serde(default)]
    pub current_period_end: Option<i64>,
}

impl Subscription {
    /// When the current period ends (the next renewal): the items' (newer API versions),
    /// otherwise the subscription's own.
    pub fn current_period_end(&self) -> Option<i64> {
        self.items
            .data
            .iter()
            .find_map(|item| item.current_period_end)
            .or(self.current_period_end)
    }

    /// How often it renews: the first item's billing interval (Checkout bills all of a
    /// subscription's prices on one interval).
    pub fn recurring(&self) -> Option<&Recurring> {
        self.items
            .data
            .iter()
            .find_map(|item| item.price.recurring.as_ref())
    }
}

/// One price of a subscription.
#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionItem {
    pub id: String,
    pub price: Price,
    #[serde(default)]
    pub current_period_end: Option<i64>,
}

/// `session.subscription`: an id, or the object when retrieved with `expand[]=subscription`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SessionSubscription {
    Expanded(Box<Subscription>),
    Id(String),
}

/// `session.customer`: an id, or the object when the session is retrieved with
/// `expand[]=customer` (which the product always asks for, so the name costs no second call).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SessionCustomer {
    Expanded(Customer),
    Id(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    pub status: Option<SessionStatus>,
    pub payment_status: PaymentStatus,
    pub mode: Option<String>,
    pub livemode: bool,
    pub created: i64,
    pub currency: Option<String>,
    pub amount_subtotal: Option<i64>,
    pub amount_total: Option<i64>,
    /// The Customer the merchant created the session for, if any.
    #[serde(default)]
    pub customer: Option<SessionCustomer>,
    pub customer_details: Option<CustomerDetails>,
    pub customer_email: Option<String>,
    /// An id, or the object when expanded; we only keep the id.
    #[serde(default, deserialize_with = "id_or_object")]
    pub payment_intent: Option<String>,
    pub url: Option<String>,
    pub success_url: Option<String>,
    /// Embedded-form sessions only: what Stripe.js mounts the form with.
    #[serde(default)]
    pub client_secret: Option<String>,
    pub line_items: Option<List<LineItem>>,
    /// The Payment Link (`plink_…`) the customer opened, for sessions Stripe created from one.
    #[serde(default, deserialize_with = "id_or_object")]
    pub payment_link: Option<String>,
    /// Where the order ships (API versions from 2025-03-31).
    #[serde(default)]
    pub collected_information: Option<CollectedInformation>,
    /// Where the order ships, on API versions before `collected_information` held it.
    #[serde(default)]
    pub shipping_details: Option<ShippingDetails>,
    /// `mode=subscription`: the subscription the session started.
    #[serde(default)]
    pub subscription: Option<SessionSubscription>,
}

impl CheckoutSession {
    /// G3: fulfilled only once Checkout is complete, the payment is in (paid, or nothing to pay:
    /// a 100 % discount, a free trial) and something was sold. A setup-mode session only saves a
    /// payment method, and reports `no_payment_required` while it is still open.
    pub fn is_fulfillable(&self) -> bool {
        self.status == Some(SessionStatus::Complete)
            && self.payment_status.allows_fulfillment()
            && self.mode.as_deref() != Some("setup")
    }

    /// The name to thank: the Customer object's when the session was made for one (the
    /// merchant's own record of the person, as the seeds' success page reads it), otherwise
    /// what was entered on the payment page.
    pub fn customer_name(&self) -> Option<&str> {
        let from_customer = match &self.customer {
            Some(SessionCustomer::Expanded(customer)) => customer.name.as_deref(),
            _ => None,
        };
        from_customer.filter(|n| !n.trim().is_empty()).or_else(|| {
            self.customer_details
                .as_ref()
                .and_then(|c| c.name.as_deref())
        })
    }

    /// Where the order ships, whichever API version the session was rendered in; `None` for a
    /// session that collected no shipping address.
    pub fn shipping(&self) -> Option<&ShippingDetails> {
        self.collected_information
            .as_ref()
            .and_then(|c| c.shipping_details.as_ref())
            .or(self.shipping_details.as_ref())
    }

    /// The subscription the session started, when it was retrieved expanded (as fulfillment
    /// always retrieves it).
    pub fn subscription(&self) -> Option<&Subscription> {
        match &self.subscription {
            Some(SessionSubscription::Expanded(subscription)) => Some(subscription),
            _ => None,
        }
    }

    pub fn customer_email(&self) -> Option<&str> {
        self.customer_details
            .as_ref()
            .and_then(|c| c.email.as_deref())
            .or(self.customer_email.as_deref())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Price {
    pub id: String,
    pub unit_amount: Option<i64>,
    pub currency: String,
    #[serde(default, deserialize_with = "id_or_object")]
    pub product: Option<String>,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub nickname: Option<String>,
    /// `None` for a one-time price.
    #[serde(default)]
    pub recurring: Option<Recurring>,
}

/// A product, as `GET /v1/prices?expand[]=data.product` embeds it.
#[derive(Debug, Clone, Deserialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub active: bool,
    /// Physical goods: a cart holding one needs a shipping address. `null` means not marked.
    #[serde(default)]
    pub shippable: Option<bool>,
}

/// A price with its product expanded: one entry of a shop's catalog.
#[derive(Debug, Clone, Deserialize)]
pub struct CatalogPrice {
    pub id: String,
    /// `None` for prices without a fixed amount (customer-chosen or tiered).
    pub unit_amount: Option<i64>,
    pub currency: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub nickname: Option<String>,
    /// `None` for a one-time price; a recurring one sells only in a subscription-mode session.
    #[serde(default)]
    pub recurring: Option<Recurring>,
    pub product: Product,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LineItem {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub quantity: Option<i64>,
    pub amount_subtotal: i64,
    pub amount_total: i64,
    pub currency: String,
    #[serde(default)]
    pub price: Option<Price>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
    /// The connected account (`acct_…`) the event happened on (Stripe Connect); absent on the
    /// platform's own events. Kept as sent: the worker parses it, so that a malformed one is
    /// dead-lettered with a reason rather than refused with the whole event.
    #[serde(default)]
    pub account: Option<String>,
    pub data: EventData,
}

impl Event {
    /// `data.object.id`: for checkout events, the Checkout Session id.
    pub fn object_id(&self) -> Option<&str> {
        self.data.object.get("id").and_then(|v| v.as_str())
    }
}

fn id_or_object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match value {
        Some(serde_json::Value::String(id)) => Some(id),
        Some(serde_json::Value::Object(map)) => {
            map.get("id").and_then(|v| v.as_str()).map(str::to_owned)
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_fixtures_deserialize() {
        let session: CheckoutSession =
            serde_json::from_str(include_str!("../../fixtures/stripe/checkout_session.json"))
                .unwrap();
        assert_eq!(session.payment_status, PaymentStatus::Unpaid);
        assert_eq!(session.status, Some(SessionStatus::Open));
        assert_eq!(session.customer_email(), Some("example@example.com"));
        let item: LineItem =
            serde_json::from_str(include_str!("../../fixtures/stripe/line_item.json")).unwrap();
        assert!(item.id.starts_with("li_"));
        let event: Event =
            serde_json::from_str(include_str!("../../fixtures/stripe/event.json")).unwrap();
        assert!(event.id.starts_with("evt_"));
    }

    #[test]
    fn a_price_with_its_product_expanded_deserializes() {
        let price: CatalogPrice = serde_json::from_value(serde_json::json!({
            "id": "price_1", "object": "price", "active": true, "currency": "jpy",
            "unit_amount": 1500, "nickname": null, "type": "one_time",
            "product": {"id": "prod_1", "object": "product", "name": "Tenugui towel",
                        "active": true, "description": null}
        }))
        .unwrap();
        assert_eq!(price.product.name, "Tenugui towel");
        assert_eq!(price.unit_amount, Some(1500));
    }

    fn session(status: &str, payment_status: &str, mode: &str) -> CheckoutSession {
        serde_json::from_value(serde_json::json!({
            "id": "cs_test_a", "object": "checkout.session", "status": status,
            "payment_status": payment_status, "mode": mode, "livemode": false, "created": 1
        }))
        .unwrap()
    }

    #[test]
    fn only_complete_sessions_that_sold_something_and_are_paid_are_fulfillable() {
        assert!(session("complete", "paid", "payment").is_fulfillable());
        assert!(session("complete", "no_payment_required", "payment").is_fulfillable());
        assert!(session("complete", "no_payment_required", "subscription").is_fulfillable());
        // An open setup-mode session reports no_payment_required: nothing was bought.
        assert!(!session("open", "no_payment_required", "setup").is_fulfillable());
        assert!(!session("complete", "no_payment_required", "setup").is_fulfillable());
        assert!(!session("open", "paid", "payment").is_fulfillable());
        assert!(!session("expired", "unpaid", "payment").is_fulfillable());
        assert!(!session("complete", "unpaid", "payment").is_fulfillable());
    }

    fn paid_by(customer: serde_json::Value) -> CheckoutSession {
        serde_json::from_value(serde_json::json!({
            "id": "cs_test_a", "status": "complete", "payment_status": "paid", "livemode": false,
            "created": 1, "customer": customer,
            "customer_details": {"name": "J. Rosen (card)", "email": "j@example.com"}
        }))
        .unwrap()
    }

    #[test]
    fn the_customer_objects_name_wins_over_what_was_typed_on_the_payment_page() {
        let expanded = paid_by(serde_json::json!({"id": "cus_1", "object": "customer",
                                                  "name": "Jenny Rosen", "email": null}));
        assert_eq!(expanded.customer_name(), Some("Jenny Rosen"));
        // Not expanded, deleted, or nameless: the name typed on the payment page.
        for customer in [
            serde_json::json!("cus_1"),
            serde_json::json!({"id": "cus_1", "object": "customer", "deleted": true}),
            serde_json::json!({"id": "cus_1", "object": "customer", "name": " "}),
            serde_json::Value::Null,
        ] {
            assert_eq!(
                paid_by(customer.clone()).customer_name(),
                Some("J. Rosen (card)"),
                "{customer}"
            );
        }
    }

    #[test]
    fn a_subscriptions_renewal_is_read_from_its_items_or_on_older_api_versions_from_itself() {
        let with = |subscription: serde_json::Value| -> CheckoutSession {
            serde_json::from_value(serde_json::json!({
                "id": "cs_test_a", "payment_status": "paid", "livemode": false, "created": 1,
                "mode": "subscription", "subscription": subscription
            }))
            .unwrap()
        };
        let price = serde_json::json!({"id": "price_a", "currency": "usd", "unit_amount": 900,
            "recurring": {"interval": "month", "interval_count": 3, "usage_type": "licensed"}});
        let current = with(serde_json::json!({"id": "sub_1", "object": "subscription",
        "status": "active", "items": {"object": "list", "has_more": false, "data": [
            {"id": "si_1", "price": price, "quantity": 1, "current_period_end": 1_800_000_000}
        ]}}));
        let subscription = current.subscription().unwrap();
        assert_eq!(subscription.current_period_end(), Some(1_800_000_000));
        assert_eq!(subscription.recurring().unwrap().period(), "3 months");
        let older = with(serde_json::json!({"id": "sub_1", "status": "active",
            "current_period_end": 1_700_000_000, "items": {"object": "list", "has_more": false,
            "data": [{"id": "si_1", "price": price, "quantity": 1}]}}));
        assert_eq!(
            older.subscription().unwrap().current_period_end(),
            Some(1_700_000_000)
        );
        // Not expanded: nothing to read; a payment-mode session has none.
        assert!(with(serde_json::json!("sub_1")).subscription().is_none());
        assert!(with(serde_json::Value::Null).subscription().is_none());
    }

    #[test]
    fn a_payment_link_is_read_as_its_id_whether_expanded_or_not() {
        let plain: CheckoutSession = serde_json::from_value(serde_json::json!({
            "id": "cs_test_a", "payment_status": "paid", "livemode": false, "created": 1,
            "payment_link": "plink_1"
        }))
        .unwrap();
        assert_eq!(plain.payment_link.as_deref(), Some("plink_1"));
        let expanded: CheckoutSession = serde_json::from_value(serde_json::json!({
            "id": "cs_test_a", "payment_status": "paid", "livemode": false, "created": 1,
            "payment_link": {"id": "plink_2", "object": "payment_link"}
        }))
        .unwrap();
        assert_eq!(expanded.payment_link.as_deref(), Some("plink_2"));
        assert_eq!(session("complete", "paid", "payment").payment_link, None);
    }

    #[test]
    fn shipping_is_read_from_either_api_versions_place() {
        let address = serde_json::json!({
            "name": "Jenny Rosen",
            "address": {"line1": "354 Oyster Point Blvd", "line2": null,
                        "city": "South San Francisco", "state": "CA",
                        "postal_code": "94080", "country": "US"}
        });
        for body in [
            serde_json::json!({"collected_information": {"shipping_details": address}}),
            serde_json::json!({"shipping_details": address}),
        ] {
            let mut session = serde_json::json!({
                "id": "cs_test_a", "payment_status": "paid", "livemode": false, "created": 1
            });
            session
                .as_object_mut()
                .unwrap()
                .extend(body.as_object().unwrap().clone());
            let session: CheckoutSession = serde_json::from_value(session).unwrap();
            assert_eq!(
                session.shipping().unwrap().label_lines(),
                [
                    "Jenny Rosen",
                    "354 Oyster Point Blvd",
                    "South San Francisco, CA 94080",
                    "US"
                ]
            );
        }
        assert!(session("complete", "paid", "payment").shipping().is_none());
    }

    #[test]
    fn unknown_statuses_do_not_break_parsing() {
        let s: PaymentStatus = serde_json::from_str("\"something_new\"").unwrap();
        assert_eq!(s, PaymentStatus::Unknown);
        assert!(!s.allows_fulfillment());
    }
}
