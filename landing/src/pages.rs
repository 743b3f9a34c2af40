//! The pages, as askama templates (in `landing/templates/`, HTML-escaped automatically), their
//! view models, and the step from a template to a response.
//!
//! View models hold display-ready strings (amounts formatted for their currency, dates written
//! out), so templates contain no logic beyond loops and conditionals.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;
use chrono::{DateTime, Utc};
use shared::errors::error_chain;
use shared::store::access::Access;
use shared::store::notifications::CustomerMail;
use shared::store::orders::{OrderLine, OrderSubscription};
use shared::{Currency, Money, Order};

use crate::catalog::Offer;
use crate::headers;

/// Renders `page` with `status`; a template that fails to render (a bug) is logged and answered
/// with a plain 500 rather than half a page.
pub fn respond(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "a page failed to render");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("Something went wrong on our side. Please try again.")
        }
    }
}

/// `GET /`: one cart form per currency (a Checkout Session has a single currency).
#[derive(Debug, Template)]
#[template(path = "shop.html")]
pub struct ShopPage {
    pub sections: Vec<ShopSection>,
    /// One-time token of these forms; the checkout's idempotency key is derived from it.
    pub form_token: String,
}

#[derive(Debug)]
pub struct ShopSection {
    /// `USD`, `JPY`…
    pub currency: String,
    pub offers: Vec<OfferView>,
}

#[derive(Debug)]
pub struct OfferView {
    pub price_id: String,
    pub name: String,
    pub description: Option<String>,
    pub price: String,
    /// What the quantity field starts at: 1 for the section's first product, so that the
    /// checkout button works on the first click, 0 for the rest.
    pub initial_quantity: u8,
}

impl ShopPage {
    pub fn new(offers: &[Offer], form_token: String) -> Self {
        let mut sections: Vec<ShopSection> = Vec::new();
        for offer in offers {
            let currency = offer.unit_amount.currency.code().to_ascii_uppercase();
            let view = OfferView {
                price_id: offer.price_id.clone(),
                name: offer.name.clone(),
                description: offer.description.clone(),
                price: match &offer.recurring {
                    Some(recurring) => format!("{} / {}", offer.unit_amount, recurring.period()),
                    None => offer.unit_amount.to_string(),
                },
                initial_quantity: 0,
            };
            match sections.iter_mut().find(|s| s.currency == currency) {
                Some(section) => section.offers.push(view),
                None => sections.push(ShopSection {
                    currency,
                    offers: vec![OfferView {
                        initial_quantity: 1,
                        ..view
                    }],
                }),
            }
        }
        Self {
            sections,
            form_token,
        }
    }
}

/// The confirmation: who, what, how much, and when it was fulfilled.
#[derive(Debug, Template)]
#[template(path = "order_fulfilled.html")]
pub struct FulfilledPage {
    pub order: OrderView,
    /// The confirmation mail, when one is to be sent: the page says it was sent, or is on its
    /// way, only then.
    pub mail: Option<CustomerMail>,
}

impl FulfilledPage {
    /// What the page says of the confirmation mail, before the address; nothing when none is
    /// coming for sure (no notifier, no address, or its sends are failing).
    pub fn mail_note(&self) -> Option<&'static str> {
        match self.mail? {
            CustomerMail::Sent => Some("We’ve emailed a confirmation to"),
            CustomerMail::Pending => Some("A confirmation is on its way to"),
            CustomerMail::Failing => None,
        }
    }
}

#[derive(Debug)]
pub struct OrderView {
    /// `#001042`, the reference the customer quotes to support (the order number, padded so
    /// that early orders do not look like test data).
    pub reference: String,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub lines: Vec<LineView>,
    /// Shown only when it differs from the total (discounts, tax).
    pub subtotal: Option<String>,
    pub total: String,
    pub fulfilled_at: Option<Timestamp>,
    /// Where it ships, as lines of a parcel label; empty when nothing ships.
    pub ships_to: Vec<String>,
    /// The links and licence keys the order gave; empty when nothing digital was bought.
    pub access: Vec<AccessView>,
    /// What a subscription order started; `None` for a one-time order.
    pub subscription: Option<SubscriptionView>,
}

/// The subscription an order started, in words: `Active`, `every month`, `4 January 2027`.
#[derive(Debug)]
pub struct SubscriptionView {
    pub status: String,
    pub renews: Option<String>,
    pub next_renewal: Option<String>,
}

impl From<&OrderSubscription> for SubscriptionView {
    fn from(subscription: &OrderSubscription) -> Self {
        let mut status = subscription.status.replace('_', " ");
        if let Some(first) = status.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        Self {
            status,
            renews: subscription
                .recurring
                .as_ref()
                .map(|r| format!("every {}", r.period())),
            next_renewal: subscription
                .current_period_end
                .map(|at| at.format("%-d %B %Y").to_string()),
        }
    }
}

/// One thing the customer now has access to.
#[derive(Debug)]
pub struct AccessView {
    pub title: String,
    /// Only `http(s)` links are made clickable; anything else is not shown as a link.
    pub url: Option<String>,
    pub licence_key: Option<String>,
}

impl From<&Access> for AccessView {
    fn from(access: &Access) -> Self {
        Self {
            title: access.title.clone(),
            url: access
                .url
                .clone()
                .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
            licence_key: access.licence_key.clone(),
        }
    }
}

#[derive(Debug)]
pub struct LineView {
    pub description: String,
    pub quantity: i64,
    pub amount: String,
}

/// A moment, for people (`24 November 2026 at 14:05 UTC`) and machines (RFC 3339).
#[derive(Debug)]
pub struct Timestamp {
    pub human: String,
    pub machine: String,
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self {
            human: at.format("%-d %B %Y at %H:%M UTC").to_string(),
            machine: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

impl From<&Order> for OrderView {
    fn from(order: &Order) -> Self {
        let order_currency = order.currency.as_deref();
        let total = amount(order.amount_total, order_currency);
        let subtotal = amount(order.amount_subtotal, order_currency);
        Self {
            reference: format!("#{:06}", order.order_number),
            customer_name: non_blank(order.customer_name.as_deref()),
            customer_email: non_blank(order.customer_email.as_deref()),
            lines: order.lines.iter().map(LineView::from).collect(),
            subtotal: (subtotal != total).then_some(subtotal),
            total,
            fulfilled_at: order.fulfilled_at.map(Timestamp::from),
            ships_to: order
                .shipping
                .as_ref()
                .map(|s| s.label_lines())
                .unwrap_or_default(),
            access: order.access.iter().map(AccessView::from).collect(),
            subscription: order.subscription.as_ref().map(SubscriptionView::from),
        }
    }
}

impl From<&OrderLine> for LineView {
    fn from(line: &OrderLine) -> Self {
        Self {
            description: line.description.clone(),
            quantity: line.quantity,
            amount: amount(Some(line.amount_total), Some(&line.currency)),
        }
    }
}

/// `12.500 KWD`; a dash when Stripe gave no amount or an unusable currency.
fn amount(minor_units: Option<i64>, currency: Option<&str>) -> String {
    match (minor_units, currency.and_then(Currency::parse)) {
        (Some(units), Some(currency)) => Money::new(units, currency).to_string(),
        _ => "—".to_owned(),
    }
}

fn non_blank(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Paid with a delayed method (or not paid yet): the page checks again by itself.
#[derive(Debug, Template)]
#[template(path = "order_processing.html")]
pub struct ProcessingPage {
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    /// Polled by `/static/status.js` (Postgres only; never fulfills).
    pub status_url: String,
    /// This page again, for the "check now" link.
    pub page_url: String,
}

impl ProcessingPage {
    pub fn new(session_id: &str, stored: Option<&Order>) -> Self {
        Self {
            customer_name: non_blank(stored.and_then(|o| o.customer_name.as_deref())),
            customer_email: non_blank(stored.and_then(|o| o.customer_email.as_deref())),
            status_url: crate::paths::status_page(session_id),
            page_url: crate::paths::success_page(session_id),
        }
    }
}

/// The fulfillment deadline passed; the attempt goes on and this page reloads itself.
#[derive(Debug, Template)]
#[template(path = "order_confirming.html")]
pub struct ConfirmingPage {
    pub refresh_secs: u32,
    pub page_url: String,
}

/// A delayed payment failed.
#[derive(Debug, Template)]
#[template(path = "order_failed.html")]
pub struct PaymentFailedPage {
    pub customer_email: Option<String>,
}

/// Checkout's back link.
#[derive(Debug, Template)]
#[template(path = "cancel.html")]
pub struct CancelPage;

/// Every error page: a status, what happened, and what to do next.
#[derive(Debug, Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub status: u16,
    pub title: &'static str,
    pub message: String,
    pub action_href: &'static str,
    pub action_label: &'static str,
}

impl ErrorPage {
    fn page(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: status.as_u16(),
            title,
            message: message.into(),
            action_href: "/",
            action_label: "Back to the shop",
        }
    }

    fn respond(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        respond(status, &self)
    }

    /// 400: the link is not an order link (the reason is safe to show; it names no input).
    pub fn bad_link(reason: impl std::fmt::Display) -> HttpResponse {
        Self::page(
            StatusCode::BAD_REQUEST,
            "That link doesn’t look right",
            format!(
                "We couldn’t read the order in this link ({reason}). Please check that the link \
                 is complete, or contact us if you need help."
            ),
        )
        .respond()
    }

    /// 400: a form we cannot accept.
    pub fn bad_form(reason: impl Into<String>) -> HttpResponse {
        Self::page(StatusCode::BAD_REQUEST, "Please check your order", reason).respond()
    }

    /// 404: unknown or expired session, or an unknown path.
    pub fn not_found() -> HttpResponse {
        Self::page(
            StatusCode::NOT_FOUND,
            "We couldn’t find that order",
            "This checkout may have expired before it was paid, or the link is incomplete. \
             You have not been charged for an expired checkout.",
        )
        .respond()
    }

    /// 404 for a path we do not serve.
    pub fn page_not_found() -> HttpResponse {
        Self::page(
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is nothing at this address. It may have moved, or the link may be incomplete.",
        )
        .respond()
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(wait: std::time::Duration) -> HttpResponse {
        let mut response = Self::page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "We’ve had many requests from you in a short while. Please wait a minute and try \
             again.",
        )
        .respond();
        let (name, value) = headers::retry_after(wait);
        response.headers_mut().insert(name, value);
        response
    }

    /// 503 with `Retry-After`: a dependency is down; the customer's payment is safe.
    pub fn unavailable(what: &str) -> HttpResponse {
        let mut response = Self::page(
            StatusCode::SERVICE_UNAVAILABLE,
            "We’re having trouble right now",
            format!(
                "We couldn’t {what} just now. Your payment is safe and nothing was lost. \
                 Please retry in a few seconds."
            ),
        )
        .respond();
        let (name, value) = headers::retry_after(std::time::Duration::from_secs(5));
        response.headers_mut().insert(name, value);
        response
    }

    /// 500: our fault, not a transient one; the cause is in the logs.
    pub fn internal() -> HttpResponse {
        Self::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side",
            "If you completed a payment, it is safe. Please try again in a minute.",
        )
        .respond()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(currency: &str, lines: &[(&str, i64, i64)]) -> Order {
        Order {
            session_id: "cs_test_a".into(),
            account: None,
            order_number: 7,
            state: shared::OrderState::Fulfilled,
            customer_name: Some("<b>Jenny</b>".into()),
            customer_email: Some("jenny@example.com".into()),
            currency: Some(currency.into()),
            amount_subtotal: Some(lines.iter().map(|l| l.2).sum()),
            amount_total: Some(lines.iter().map(|l| l.2).sum()),
            fulfilled_by: Some("landing".into()),
            fulfilled_at: Some("2026-11-24T14:05:09Z".parse().unwrap()),
            payment_link: None,
            shipping: None,
            subscription: None,
            access: Vec::new(),
            lines: lines
                .iter()
                .enumerate()
                .map(|(i, (d, q, a))| OrderLine {
                    line_item_id: format!("li_{i}"),
                    description: (*d).into(),
                    quantity: *q,
                    price_id: None,
                    currency: currency.into(),
                    amount_subtotal: *a,
                    amount_total: *a,
                })
                .collect(),
        }
    }

    #[test]
    fn the_confirmation_escapes_names_and_formats_amounts() {
        let page = FulfilledPage {
            order: OrderView::from(&order("kwd", &[("Dallah", 1, 12500)])),
            mail: None,
        };
        let html = page.render().unwrap();
        assert!(html.contains("&#60;b&#62;Jenny&#60;/b&#62;") || html.contains("&lt;b&gt;Jenny"));
        assert!(!html.contains("<b>Jenny"));
        assert!(html.contains("12.500 KWD"));
        assert!(html.contains("#000007"));
        assert!(html.contains("24 November 2026 at 14:05 UTC"));
    }

    #[test]
    fn the_confirmation_mail_is_promised_only_when_it_was_sent_or_is_pending() {
        let said = |mail: Option<CustomerMail>| {
            let html = FulfilledPage {
                order: OrderView::from(&order("usd", &[("Mug", 1, 1200)])),
                mail,
            }
            .render()
            .unwrap();
            html.lines()
                .find(|l| l.contains("data-testid=\"confirmation-mail\""))
                .map(str::to_owned)
        };
        let sent = said(Some(CustomerMail::Sent)).expect("a sent mail is mentioned");
        assert!(sent.contains("emailed a confirmation to") && sent.contains("jenny@example.com"));
        let pending = said(Some(CustomerMail::Pending)).expect("a pending mail is mentioned");
        assert!(pending.contains("on its way to"));
        assert_eq!(said(Some(CustomerMail::Failing)), None);
        assert_eq!(said(None), None);
    }

    #[test]
    fn a_subscription_order_says_what_is_active_and_when_it_renews() {
        let mut o = order("usd", &[("Pattern library membership", 1, 900)]);
        let page = |o: &Order| {
            FulfilledPage {
                order: OrderView::from(o),
                mail: None,
            }
            .render()
            .unwrap()
        };
        assert!(!page(&o).contains("data-testid=\"subscription\""));
        o.subscription = Some(OrderSubscription {
            id: "sub_1".into(),
            status: "active".into(),
            recurring: Some(shared::stripe::Recurring {
                interval: "month".into(),
                interval_count: 1,
            }),
            current_period_end: Some("2027-01-04T10:00:00Z".parse().unwrap()),
        });
        let html = page(&o);
        assert!(
            html.contains("<strong>Active</strong>, renews every month; next on 4 January 2027."),
            "{html}"
        );
    }

    #[test]
    fn a_subtotal_is_shown_only_when_it_differs() {
        let mut o = order("usd", &[("Mug", 1, 1200)]);
        assert_eq!(OrderView::from(&o).subtotal, None);
        o.amount_total = Some(1000);
        assert_eq!(OrderView::from(&o).subtotal.as_deref(), Some("12.00 USD"));
        assert_eq!(OrderView::from(&o).total, "10.00 USD");
    }

    #[test]
    fn the_shop_groups_offers_by_currency() {
        let offer = |id: &str, cur: &str| Offer {
            price_id: id.into(),
            name: id.into(),
            description: None,
            shippable: false,
            recurring: None,
            unit_amount: Money::new(100, Currency::parse(cur).unwrap()),
        };
        let page = ShopPage::new(
            &[
                offer("price_a", "usd"),
                offer("price_b", "jpy"),
                offer("price_c", "usd"),
            ],
            "token".into(),
        );
        assert_eq!(page.sections.len(), 2);
        assert_eq!(page.sections[0].currency, "USD");
        assert_eq!(page.sections[0].offers.len(), 2);
        assert_eq!(page.sections[1].offers[0].price, "100 JPY");
        let monthly = Offer {
            recurring: Some(shared::stripe::Recurring {
                interval: "month".into(),
                interval_count: 1,
            }),
            ..offer("price_d", "usd")
        };
        let page = ShopPage::new(&[monthly], "token".into());
        assert_eq!(page.sections[0].offers[0].price, "1.00 USD / month");
    }
}
