//! The simulator's own typed records. The Stripe JSON shapes are rendered from these by
//! `crate::objects`, so a state change is a field assignment here and every response stays
//! consistent with it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::catalog::PriceRecord;
use super::shipping::Shipping;
use super::ui_mode::UiMode;

/// `checkout.session.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionStatus {
    Open,
    Complete,
    Expired,
}

impl SessionStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Open => "open",
            SessionStatus::Complete => "complete",
            SessionStatus::Expired => "expired",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(SessionStatus::Open),
            "complete" => Some(SessionStatus::Complete),
            "expired" => Some(SessionStatus::Expired),
            _ => None,
        }
    }
}

/// `checkout.session.payment_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PaymentStatus {
    Paid,
    Unpaid,
    NoPaymentRequired,
}

impl PaymentStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Paid => "paid",
            PaymentStatus::Unpaid => "unpaid",
            PaymentStatus::NoPaymentRequired => "no_payment_required",
        }
    }
}

/// Where a delayed payment method (status `complete`, `unpaid`) stands. Stripe settles such a
/// payment once, either way, so a second settlement is a wrong transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DelayedPayment {
    NotApplicable,
    Pending,
    Succeeded,
    Failed,
}

/// Who paid, as collected on the payment page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub name: String,
    pub email: String,
    /// Where the order ships, for sessions that collect a shipping address.
    pub shipping: Option<Shipping>,
}

/// One line of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineItemRecord {
    pub id: String,
    pub price: PriceRecord,
    pub quantity: i64,
    /// `unit_amount × quantity`; no discounts or taxes are modelled.
    pub amount: i64,
}

/// A Checkout Session and everything needed to render it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRecord {
    pub id: String,
    /// The connected account (`acct_…`) the session was created on with `Stripe-Account`;
    /// `None` for the platform's own. Only requests naming the same account see it.
    pub account: Option<String>,
    /// Creation order; breaks ties between objects created in the same second.
    pub seq: u64,
    pub created: i64,
    pub expires_at: i64,
    pub mode: String,
    pub currency: String,
    pub amount_total: i64,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub customer_email: Option<String>,
    pub client_reference_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub locale: Option<String>,
    pub payment_method_types: Vec<String>,
    /// `shipping_address_collection[allowed_countries]`: the payment page asks for an address
    /// in one of these; `None` when the session collects none.
    pub shipping_countries: Option<Vec<String>>,
    /// The hosted payment page; Stripe clears `url` once the session is no longer open.
    pub url: String,
    /// The hosted page, or the embedded form and where it returns to.
    pub ui_mode: UiMode,
    /// Embedded sessions only: what Stripe.js mounts the form with.
    pub client_secret: Option<String>,
    pub status: SessionStatus,
    pub payment_status: PaymentStatus,
    pub customer: Option<Customer>,
    /// The Customer object the session was created for (`customer=cus_…`), if any.
    pub customer_id: Option<String>,
    pub payment_intent: Option<String>,
    pub delayed_payment: DelayedPayment,
    pub line_items: Vec<LineItemRecord>,
    /// The Payment Link (`plink_…`) whose URL created the session.
    pub payment_link: Option<String>,
    /// A link's `after_completion[hosted_confirmation][custom_message]`, shown after payment.
    pub confirmation_message: Option<String>,
    /// `mode=subscription`: the Subscription (`sub_…`) created when the session completed.
    pub subscription: Option<String>,
}

/// A Customer object: the merchant's record of a person, created through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CustomerRecord {
    pub id: String,
    pub created: i64,
    pub name: Option<String>,
    pub email: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// An event, stored fully rendered: its `data.object` is a snapshot taken when it happened and
/// must not change when the session does later.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EventRecord {
    pub id: String,
    /// The connected account it happened on (its session's); `None` on the platform.
    pub account: Option<String>,
    pub seq: u64,
    pub created: i64,
    pub event_type: String,
    pub body: Value,
}
