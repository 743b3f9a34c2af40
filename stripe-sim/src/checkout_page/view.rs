//! The pages as askama templates (`stripe-sim/templates/`, HTML-escaped automatically) and the
//! view models that feed them: display-ready strings, so templates hold no logic beyond loops
//! and conditionals.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use askama::Template;
use shared::{Currency, Money};

use super::payment_form::{FieldError, Method, PaymentForm};
use crate::config::Recurring;
use crate::state::records::SessionRecord;

/// What a page may load: its own stylesheet, nothing else. `form-action` is left open because
/// the payment form's answer redirects to the shop's `success_url`, on another origin.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";

/// Renders `page` with `status` and the page headers; a template that fails to render (a bug)
/// is a plain 500 rather than half a page.
pub(crate) fn respond(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "same-origin"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("The page failed to render.")
        }
    }
}

/// The payment page of an open session.
#[derive(Debug, Template)]
#[template(path = "checkout.html")]
pub(crate) struct CheckoutPage {
    /// The account's business name: whom the customer pays.
    pub merchant: String,
    pub session_id: String,
    pub lines: Vec<LineView>,
    pub total: String,
    pub cancel_url: Option<String>,
    pub form: PaymentForm,
    /// Stripe locks the email field when the session was created with `customer_email`.
    pub email_locked: bool,
    /// The countries the shipping address may be in; `None`: no address is asked for.
    pub shipping_countries: Option<Vec<String>>,
    pub error: Option<FieldError>,
}

/// One line of the order summary.
#[derive(Debug)]
pub(crate) struct LineView {
    pub name: String,
    pub quantity: i64,
    pub unit: String,
    pub amount: String,
    /// ` / month` for a subscription price (charged again each period); empty otherwise.
    pub period: String,
}

impl CheckoutPage {
    /// The page of `session`, with the form as the customer left it and the error to show.
    pub(crate) fn new(
        merchant: &str,
        session: &SessionRecord,
        form: Option<PaymentForm>,
        error: Option<FieldError>,
    ) -> Self {
        let form = form.unwrap_or_else(|| PaymentForm {
            email: session.customer_email.clone().unwrap_or_default(),
            ..PaymentForm::default()
        });
        CheckoutPage {
            merchant: merchant.to_string(),
            session_id: session.id.clone(),
            lines: session
                .line_items
                .iter()
                .map(|li| LineView {
                    name: li.price.product_name.clone(),
                    quantity: li.quantity,
                    unit: money(li.price.unit_amount, &li.price.currency),
                    amount: money(li.amount, &li.price.currency),
                    period: li
                        .price
                        .recurring
                        .as_ref()
                        .map(per_period)
                        .unwrap_or_default(),
                })
                .collect(),
            total: money(session.amount_total, &session.currency),
            cancel_url: session.cancel_url.clone(),
            email_locked: session.customer_email.is_some(),
            shipping_countries: session.shipping_countries.clone(),
            form,
            error,
        }
    }

    /// Whether `field` is the one the error is about (for `aria-invalid`).
    pub(crate) fn invalid(&self, field: &str) -> bool {
        self.error.is_some_and(|e| e.field == field)
    }

    /// Whether `country` is the one the form was submitted with (or the only one allowed).
    pub(crate) fn country_selected(&self, country: &str) -> bool {
        self.form.shipping.country == country
    }

    pub(crate) fn bank_transfer(&self) -> bool {
        self.form.method == Method::BankTransfer
    }
}

/// A page for a session that cannot be paid (any more), or a payment with nowhere to go.
#[derive(Debug, Template)]
#[template(path = "closed.html")]
pub(crate) struct ClosedPage {
    pub title: String,
    pub message: String,
    /// Where the customer can go from here: `(href, text)`.
    pub link: Option<(String, String)>,
}

/// ` / month`, ` / 3 months`: how often a subscription price is charged again.
fn per_period(recurring: &Recurring) -> String {
    match recurring.interval_count {
        1 => format!(" / {}", recurring.interval),
        n => format!(" / {n} {}s", recurring.interval),
    }
}

/// `20.00 USD`, `1500 JPY`, `12.500 KWD`: the currency's own number of decimals.
fn money(minor_units: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Some(currency) => Money::new(minor_units, currency).to_string(),
        None => format!("{minor_units} {currency}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_use_the_currency_exponent() {
        assert_eq!(money(4000, "usd"), "40.00 USD");
        assert_eq!(money(1500, "jpy"), "1500 JPY");
        assert_eq!(money(12500, "kwd"), "12.500 KWD");
    }

    #[test]
    fn a_subscription_price_says_how_often_it_is_charged() {
        let every = |interval_count| Recurring {
            interval: "month".into(),
            interval_count,
        };
        assert_eq!(per_period(&every(1)), " / month");
        assert_eq!(per_period(&every(3)), " / 3 months");
    }
}
