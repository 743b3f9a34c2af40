//! `POST /checkout`: the cart form → a Checkout Session → 303 to Stripe's payment page.
//!
//! Each Checkout Session is a Stripe call, from a public form (G6): a client past its budget
//! (`landing.checkout_rate_per_minute`) gets the 429 page, and a form whose token this shop did
//! not issue ([`crate::form_token`]) a 400 page, both before Stripe is asked.
//!
//! The session's `success_url` carries the literal `{CHECKOUT_SESSION_ID}`, which Stripe
//! replaces on redirect. The idempotency key is derived from the form's one-time token and the
//! cart, so a double-clicked button (or a retried request) yields the same session, while a
//! changed cart on the same page yields a new one instead of Stripe's idempotency error.

use std::collections::BTreeMap;
use std::time::Instant;

use actix_web::http::header::LOCATION;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use shared::errors::error_chain;
use shared::stripe::{CheckoutMode, CreateCheckoutSession, NewLineItem, StripeError};

use super::client_ip;
use crate::catalog::{CatalogError, Offer};
use crate::form_token::FormTokenError;
use crate::metrics;
use crate::pages::ErrorPage;
use crate::state::AppState;

/// Form fields carrying a quantity are named `qty_<price id>`.
const QUANTITY_PREFIX: &str = "qty_";
/// The shop's quantity inputs allow up to this many of one item.
const MAX_QUANTITY: u32 = 99;

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// The customer's form: a 400 page saying what to fix.
    #[error("{0}")]
    Form(String),
    /// The form's token was not issued by this shop, or too long ago: a 400 page that says to
    /// reload the shop page.
    #[error("the order form's token was refused")]
    FormToken(#[from] FormTokenError),
    /// The catalog, to check the cart against, is not available: 503 when it may pass, else
    /// 500.
    #[error("the catalog is not available")]
    Catalog(#[from] CatalogError),
    /// Stripe refused or failed: 503 when it may pass, else 500.
    #[error("creating the Checkout Session failed")]
    Stripe(#[from] StripeError),
    /// Stripe answered without a payment page URL (or, for the embedded form, without a
    /// client secret).
    #[error("the Checkout Session has no url")]
    NoPaymentPage,
}

/// Why a form cannot become an order, in words for the customer.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormError(pub String);

impl From<FormError> for CheckoutError {
    fn from(e: FormError) -> Self {
        Self::Form(e.0)
    }
}

/// What a customer is told about a missing, forged or expired form token.
pub(crate) const EXPIRED_FORM: &str =
    "This order form has expired. Please reload the shop page and try again.";

/// Longer form tokens are not ours; refused before they are hashed or logged.
const MAX_TOKEN_LEN: usize = 200;

/// What the form asks for, parsed but not yet checked against the catalog.
#[derive(Debug, PartialEq, Eq)]
pub struct Cart {
    /// As submitted; [`crate::form_token`] checks it.
    pub form_token: String,
    /// Price id → quantity, only quantities above zero; ordered, so the key is stable.
    pub lines: BTreeMap<String, u32>,
}

pub async fn checkout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let started = Instant::now();
    if let Err(wait) = state.checkout_limiter.check(client_ip(&req, &state)) {
        metrics::page_served("checkout", "rate_limited", started);
        return ErrorPage::too_many_requests(wait);
    }
    if let Some(embedded) = &state.embedded_checkout {
        let (response, outcome) = super::embedded_checkout::page(&state, embedded, &body);
        metrics::page_served("checkout", outcome, started);
        return response;
    }
    let (response, outcome) = match create(&state, &body).await {
        Ok(url) => (
            HttpResponse::SeeOther()
                .insert_header((LOCATION, url))
                .finish(),
            "redirected",
        ),
        Err(CheckoutError::Form(reason)) => (ErrorPage::bad_form(reason), "bad_form"),
        Err(CheckoutError::FormToken(e)) => {
            tracing::info!(reason = %e, "checkout refused: the form token");
            (ErrorPage::bad_form(EXPIRED_FORM), "bad_token")
        }
        Err(e) if e.is_transient() => {
            tracing::warn!(error = %error_chain(&e), "checkout could not start");
            (
                ErrorPage::unavailable("start your checkout"),
                "stripe_unavailable",
            )
        }
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "checkout could not start");
            (ErrorPage::internal(), "error")
        }
    };
    metrics::page_served("checkout", outcome, started);
    response
}

async fn create(state: &AppState, body: &[u8]) -> Result<String, CheckoutError> {
    let cart = Cart::parse(body)?;
    state.form_tokens.verify(&cart.form_token)?;
    let contents = cart_contents(state, &cart).await?;
    let base = &state.public_base_url;
    let params = CreateCheckoutSession {
        mode: contents.mode,
        line_items: contents.line_items,
        success_url: crate::paths::success_url(base),
        cancel_url: crate::paths::cancel_url(base),
        customer_email: None,
        client_reference_id: None,
        metadata: BTreeMap::new(),
        shipping_countries: contents.shipping_countries,
    };
    let session = state
        .fulfiller
        .stripe()
        .create_checkout_session(&params, &cart.idempotency_key())
        .await?;
    tracing::info!(session_id = %session.id, "checkout session created");
    session.url.ok_or(CheckoutError::NoPaymentPage)
}

/// What a Checkout Session for the cart holds.
pub(crate) struct CartContents {
    /// A subscription when any price in the cart is recurring (one-time items go on its first
    /// invoice), a one-time payment otherwise.
    pub mode: CheckoutMode,
    pub line_items: Vec<NewLineItem>,
    /// The shop's shipping countries when the cart holds a shippable product; empty otherwise
    /// (Checkout then asks for no address).
    pub shipping_countries: Vec<String>,
}

/// The cart's lines, checked against the catalog: every price still for sale.
pub(crate) async fn cart_contents(
    state: &AppState,
    cart: &Cart,
) -> Result<CartContents, CheckoutError> {
    let mut offers = Vec::with_capacity(cart.lines.len());
    for (price_id, &quantity) in &cart.lines {
        let offer = state.catalog.find(price_id).await?.ok_or_else(|| {
            CheckoutError::Form("An item in your cart is no longer for sale.".into())
        })?;
        offers.push((offer, quantity));
    }
    CartContents::of(offers, &state.shipping_countries).map_err(CheckoutError::Form)
}

impl CartContents {
    /// What one Checkout Session sells: one currency, and subscriptions on one schedule. The
    /// error is what the customer is told.
    fn of(offers: Vec<(Offer, u32)>, shipping_countries: &[String]) -> Result<Self, String> {
        let mut line_items = Vec::with_capacity(offers.len());
        let mut currency = None;
        let mut ships = false;
        let mut recurring = None;
        for (offer, quantity) in offers {
            let code = offer.unit_amount.currency.code().to_owned();
            if currency.get_or_insert_with(|| code.clone()) != &code {
                // Checkout Sessions have one currency; the shop page never mixes them in a form.
                return Err(
                    "Items priced in different currencies must be bought separately.".into(),
                );
            }
            ships |= offer.shippable;
            if let Some(period) = &offer.recurring {
                if recurring.get_or_insert_with(|| period.clone()) != period {
                    // Checkout bills one subscription on one interval.
                    return Err(
                        "Subscriptions billed on different schedules must be bought separately."
                            .into(),
                    );
                }
            }
            line_items.push(NewLineItem {
                price: offer.price_id,
                quantity,
            });
        }
        Ok(CartContents {
            mode: match recurring {
                Some(_) => CheckoutMode::Subscription,
                None => CheckoutMode::Payment,
            },
            line_items,
            shipping_countries: if ships {
                shipping_countries.to_vec()
            } else {
                Vec::new()
            },
        })
    }
}

impl CheckoutError {
    /// Whether the customer may succeed by retrying in a moment (a 503 page).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Catalog(e) => e.is_transient(),
            Self::Stripe(e) => e.is_transient(),
            Self::Form(_) | Self::FormToken(_) | Self::NoPaymentPage => false,
        }
    }
}

impl Cart {
    pub fn parse(body: &[u8]) -> Result<Self, FormError> {
        let bad = |reason: &str| FormError(reason.to_owned());
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| bad("We couldn't read the order form. Please try again."))?;
        let mut form_token = None;
        let mut lines = BTreeMap::new();
        for (key, value) in pairs {
            if key == "form_token" {
                form_token = Some(value).filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN);
            } else if let Some(price_id) = key.strip_prefix(QUANTITY_PREFIX) {
                let value = value.trim();
                let quantity = if value.is_empty() {
                    0
                } else {
                    value
                        .parse::<u32>()
                        .ok()
                        .filter(|q| *q <= MAX_QUANTITY)
                        .ok_or_else(|| bad("Quantities must be whole numbers from 0 to 99."))?
                };
                if quantity > 0 && lines.insert(price_id.to_owned(), quantity).is_some() {
                    return Err(bad("An item appears twice in the order form."));
                }
            }
        }
        let form_token = form_token.ok_or_else(|| bad(EXPIRED_FORM))?;
        if lines.is_empty() {
            return Err(bad("Please choose at least one item."));
        }
        Ok(Self { form_token, lines })
    }

    /// Stable for the same token and cart; different for anything else.
    pub fn idempotency_key(&self) -> String {
        let mut digest = Sha256::new();
        digest.update(self.form_token.as_bytes());
        for (price_id, quantity) in &self.lines {
            digest.update(format!("\n{price_id}={quantity}").as_bytes());
        }
        format!("landing-checkout-{}", hex::encode(&digest.finalize()[..16]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(price_id: &str, currency: &str, every: Option<&str>, shippable: bool) -> Offer {
        Offer {
            price_id: price_id.into(),
            name: price_id.into(),
            description: None,
            unit_amount: shared::Money::new(100, shared::Currency::parse(currency).unwrap()),
            shippable,
            recurring: every.map(|interval| shared::stripe::Recurring {
                interval: interval.into(),
                interval_count: 1,
            }),
        }
    }

    #[test]
    fn a_recurring_price_makes_the_cart_a_subscription_billed_on_one_schedule() {
        let countries = ["US".to_owned()];
        let contents = |offers: Vec<Offer>| {
            CartContents::of(offers.into_iter().map(|o| (o, 1)).collect(), &countries)
        };
        let one_time = contents(vec![offer("price_mug", "usd", None, true)]).unwrap();
        assert_eq!(one_time.mode, CheckoutMode::Payment);
        assert_eq!(one_time.shipping_countries, countries);
        let subscription = contents(vec![
            offer("price_library", "usd", Some("month"), false),
            offer("price_stickers", "usd", None, false),
        ])
        .unwrap();
        assert_eq!(subscription.mode, CheckoutMode::Subscription);
        assert!(subscription.shipping_countries.is_empty(), "nothing ships");

        for (offers, reason) in [
            (
                vec![
                    offer("price_monthly", "usd", Some("month"), false),
                    offer("price_yearly", "usd", Some("year"), false),
                ],
                "different schedules",
            ),
            (
                vec![
                    offer("price_mug", "usd", None, true),
                    offer("price_tenugui", "jpy", None, true),
                ],
                "different currencies",
            ),
        ] {
            match contents(offers) {
                Err(message) => assert!(message.contains(reason), "{message}"),
                Ok(contents) => panic!("{reason}: accepted as {:?}", contents.mode),
            }
        }
    }

    const TOKEN: &str = "6f1c2a4e-2f53-4c4a-9a54-3f1b2c7d9e10";

    fn parse(body: &str) -> Result<Cart, String> {
        Cart::parse(body.as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_cart_keeps_the_items_with_a_quantity() {
        let cart = parse(&format!(
            "form_token={TOKEN}&qty_price_a=2&qty_price_b=0&qty_price_c="
        ))
        .unwrap();
        assert_eq!(cart.lines, BTreeMap::from([("price_a".to_owned(), 2)]));
    }

    #[test]
    fn bad_forms_are_refused_with_a_reason() {
        assert!(parse("qty_price_a=1").unwrap_err().contains("expired"));
        assert!(parse("form_token=&qty_price_a=1")
            .unwrap_err()
            .contains("expired"));
        assert!(parse(&format!("form_token={TOKEN}&qty_price_a=0"))
            .unwrap_err()
            .contains("at least one"));
        assert!(parse(&format!("form_token={TOKEN}&qty_price_a=-1"))
            .unwrap_err()
            .contains("whole numbers"));
        assert!(parse(&format!("form_token={TOKEN}&qty_price_a=100"))
            .unwrap_err()
            .contains("whole numbers"));
        assert!(
            parse(&format!("form_token={TOKEN}&qty_price_a=1&qty_price_a=2"))
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn the_idempotency_key_follows_the_token_and_the_cart() {
        let key = |body: String| parse(&body).unwrap().idempotency_key();
        let same = key(format!("form_token={TOKEN}&qty_price_a=1&qty_price_b=2"));
        assert_eq!(
            same,
            key(format!("form_token={TOKEN}&qty_price_b=2&qty_price_a=1"))
        );
        assert_ne!(
            same,
            key(format!("form_token={TOKEN}&qty_price_a=2&qty_price_b=2"))
        );
        let other_token = "0e0c2a4e-2f53-4c4a-9a54-3f1b2c7d9e10";
        assert_ne!(
            same,
            key(format!(
                "form_token={other_token}&qty_price_a=1&qty_price_b=2"
            ))
        );
        assert!(same.len() < 255);
    }
}
