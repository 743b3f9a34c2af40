//! Creating a Checkout Session: the parameters, their validation, and the new record.
//!
//! The HTTP handler only converts the form into [`CreateSession`] (wire concerns: presence,
//! integer syntax); every rule about values lives here, so tests that create sessions through
//! [`SimState::create_session`](super::SimState::create_session) meet the same errors as SDKs do.

use std::collections::BTreeMap;

use serde_json::Value;

use super::catalog::PriceRecord;
use super::records::{DelayedPayment, LineItemRecord, PaymentStatus, SessionRecord, SessionStatus};
use super::shipping::check_allowed_countries;
use super::ui_mode::{UiMode, UiModeParams};
use super::SimState;
use crate::config::is_currency_code;
use crate::error::SimError;
use crate::{ids, objects};

/// How long a session stays open when `expires_at` is not given (Stripe: 24 hours).
const DEFAULT_LIFETIME_SECS: i64 = 24 * 60 * 60;
/// The shortest `expires_at` Stripe accepts, from creation.
const MIN_LIFETIME_SECS: i64 = 30 * 60;
/// Stripe caps payment-mode sessions at 100 line items; the simulator allows more so that
/// clients can be tested on line-item pagination beyond one 100-item page.
pub const MAX_LINE_ITEMS: usize = 1000;
/// Stripe's metadata limits.
const MAX_METADATA_KEYS: usize = 50;
const MAX_METADATA_KEY_LEN: usize = 40;
const MAX_METADATA_VALUE_LEN: usize = 500;
/// Stripe's largest per-line quantity.
const MAX_QUANTITY: i64 = 999_999;

/// The parameters of `POST /v1/checkout/sessions` that the simulator models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSession {
    /// `payment` (one-time prices only) or `subscription` (at least one recurring price);
    /// `setup` is not simulated.
    pub mode: String,
    pub line_items: Vec<LineItemParams>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    /// A Customer (`cus_…`) this session is for; it must exist.
    pub customer: Option<String>,
    pub customer_email: Option<String>,
    pub client_reference_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// Unix seconds; default 24 hours after creation.
    pub expires_at: Option<i64>,
    pub locale: Option<String>,
    /// Default `["card"]`.
    pub payment_method_types: Vec<String>,
    /// `shipping_address_collection[allowed_countries]`.
    pub shipping_countries: Option<Vec<String>>,
    /// `hosted` (the default) or `embedded`, either spelling; see `ui_mode`.
    pub ui_mode: Option<String>,
    /// Where the embedded form sends the customer; may hold `{CHECKOUT_SESSION_ID}`.
    pub return_url: Option<String>,
    /// `always` (the default), `if_required` or `never`; embedded only.
    pub redirect_on_completion: Option<String>,
    /// The connected account (`acct_…`) the session is created on, as `Stripe-Account` names
    /// it; `None` for the platform's own session.
    pub account: Option<String>,
}

impl Default for CreateSession {
    fn default() -> Self {
        CreateSession {
            mode: "payment".into(),
            line_items: Vec::new(),
            success_url: None,
            cancel_url: None,
            customer: None,
            customer_email: None,
            client_reference_id: None,
            metadata: BTreeMap::new(),
            expires_at: None,
            locale: None,
            payment_method_types: Vec::new(),
            shipping_countries: None,
            ui_mode: None,
            return_url: None,
            redirect_on_completion: None,
            account: None,
        }
    }
}

/// `line_items[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItemParams {
    pub price: PriceSpec,
    pub quantity: i64,
}

impl LineItemParams {
    /// A line for a catalog price (`line_items[i][price]`).
    pub fn catalog(price_id: &str, quantity: i64) -> Self {
        LineItemParams {
            price: PriceSpec::Catalog(price_id.into()),
            quantity,
        }
    }

    /// A line with an ad-hoc price (`line_items[i][price_data]`).
    pub fn inline(currency: &str, unit_amount: i64, product_name: &str, quantity: i64) -> Self {
        LineItemParams {
            price: PriceSpec::Inline(InlinePrice {
                currency: currency.into(),
                unit_amount,
                product_name: product_name.into(),
            }),
            quantity,
        }
    }
}

/// Where a line's price comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceSpec {
    /// `line_items[i][price]`: an id from the catalog.
    Catalog(String),
    /// `line_items[i][price_data]`: a price (and product) created for this session.
    Inline(InlinePrice),
}

/// `line_items[i][price_data]` with `product_data[name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlinePrice {
    pub currency: String,
    pub unit_amount: i64,
    pub product_name: String,
}

impl SimState {
    /// Validates `params` and stores a new open session; returns it as the API renders it.
    pub fn create_session(&self, params: CreateSession) -> Result<Value, SimError> {
        let now = self.now();
        let record = self.build_session(params, now)?;
        let rendered = objects::session::render(&record);
        self.lock_store().insert_session(record);
        Ok(rendered)
    }

    pub(super) fn build_session(
        &self,
        p: CreateSession,
        now: i64,
    ) -> Result<SessionRecord, SimError> {
        check_mode(&p.mode)?;
        for (param, value) in [
            ("success_url", &p.success_url),
            ("cancel_url", &p.cancel_url),
            ("customer", &p.customer),
            ("customer_email", &p.customer_email),
            ("client_reference_id", &p.client_reference_id),
            ("locale", &p.locale),
        ] {
            if value.as_deref() == Some("") {
                return Err(SimError::empty_param(param));
            }
        }
        let ui_mode = UiMode::decide(UiModeParams {
            ui_mode: p.ui_mode.as_deref(),
            success_url: p.success_url.as_deref(),
            cancel_url: p.cancel_url.as_deref(),
            return_url: p.return_url.as_deref(),
            redirect_on_completion: p.redirect_on_completion.as_deref(),
        })?;
        for (param, url) in [
            ("success_url", &p.success_url),
            ("cancel_url", &p.cancel_url),
            ("return_url", &p.return_url),
        ] {
            if let Some(url) = url {
                check_url(param, url)?;
            }
        }
        if let Some(reference) = &p.client_reference_id {
            if reference.len() > 200 {
                return Err(SimError::invalid_param(
                    "client_reference_id",
                    "client_reference_id must be at most 200 characters.",
                ));
            }
        }
        check_metadata(&p.metadata)?;
        if let Some(countries) = &p.shipping_countries {
            check_allowed_countries(countries)?;
        }
        if let Some(account) = &p.account {
            if !ids::is_account(account) {
                return Err(SimError::invalid_header(format!(
                    "The Stripe-Account header must name a connected account (acct_…); got \
                     {account:?}."
                )));
            }
            if let Some(customer) = &p.customer {
                // Customers are the platform's here (the simulator scopes only sessions and
                // events), and a connected account cannot see the platform's customers.
                return Err(SimError::missing_reference(
                    "customer", customer, "customer",
                ));
            }
        }
        self.check_customer(&p)?;
        let line_items = self.build_line_items(&p.line_items, now)?;
        check_prices_fit_mode(&p.mode, &line_items)?;
        let currency = line_items[0].price.currency.clone();
        let amount_total = line_items
            .iter()
            .try_fold(0i64, |sum, li| sum.checked_add(li.amount))
            .ok_or_else(|| {
                SimError::invalid_param("line_items", "The total amount is too large.")
            })?;
        let expires_at = match p.expires_at {
            None => now + DEFAULT_LIFETIME_SECS,
            Some(t) if t < now + MIN_LIFETIME_SECS || t > now + DEFAULT_LIFETIME_SECS => {
                return Err(SimError::invalid_param(
                    "expires_at",
                    "The `expires_at` timestamp must be between 30 minutes and 24 hours from \
                     Checkout Session creation.",
                ))
            }
            Some(t) => t,
        };
        let payment_method_types = if p.payment_method_types.is_empty() {
            vec!["card".to_string()]
        } else {
            p.payment_method_types
        };
        let id = ids::checkout_session();
        let client_secret = match ui_mode {
            UiMode::Hosted => None,
            UiMode::Embedded(_) => Some(ids::client_secret(&id)),
        };
        Ok(SessionRecord {
            account: p.account,
            client_secret,
            ui_mode,
            url: format!("{}/c/pay/{id}", self.public_base_url()),
            id,
            seq: 0,
            created: now,
            expires_at,
            mode: p.mode,
            currency,
            amount_total,
            success_url: p.success_url,
            cancel_url: p.cancel_url,
            customer_email: p.customer_email,
            client_reference_id: p.client_reference_id,
            metadata: p.metadata,
            locale: p.locale,
            payment_method_types,
            shipping_countries: p.shipping_countries,
            status: SessionStatus::Open,
            payment_status: PaymentStatus::Unpaid,
            customer: None,
            customer_id: p.customer,
            payment_intent: None,
            delayed_payment: DelayedPayment::NotApplicable,
            line_items,
            payment_link: None,
            confirmation_message: None,
            subscription: None,
        })
    }

    /// `customer` names an existing Customer, and Stripe takes the email from it: giving
    /// `customer_email` as well is refused.
    fn check_customer(&self, p: &CreateSession) -> Result<(), SimError> {
        let Some(id) = &p.customer else {
            return Ok(());
        };
        if p.customer_email.is_some() {
            return Err(SimError::exclusive_params("customer", "customer_email"));
        }
        if !self.has_customer(id) {
            return Err(SimError::missing_reference("customer", id, "customer"));
        }
        Ok(())
    }

    fn build_line_items(
        &self,
        params: &[LineItemParams],
        now: i64,
    ) -> Result<Vec<LineItemRecord>, SimError> {
        if params.is_empty() {
            return Err(SimError::missing_param("line_items"));
        }
        if params.len() > MAX_LINE_ITEMS {
            return Err(SimError::invalid_param(
                "line_items",
                format!("stripe-sim accepts at most {MAX_LINE_ITEMS} line items."),
            ));
        }
        let mut items: Vec<LineItemRecord> = Vec::with_capacity(params.len());
        for (i, line) in params.iter().enumerate() {
            let price = self.resolve_price(i, &line.price, now)?;
            if let Some(first) = items.first() {
                if first.price.currency != price.currency {
                    return Err(SimError::invalid_param(
                        &price_param(i, &line.price, "currency"),
                        format!(
                            "All line items must use the same currency: line_items[{i}] is in {} \
                             but line_items[0] is in {}.",
                            price.currency, first.price.currency
                        ),
                    ));
                }
            }
            let quantity_param = format!("line_items[{i}][quantity]");
            if !(1..=MAX_QUANTITY).contains(&line.quantity) {
                return Err(SimError::invalid_param(
                    &quantity_param,
                    format!("Quantity must be between 1 and {MAX_QUANTITY}."),
                ));
            }
            let amount = price
                .unit_amount
                .checked_mul(line.quantity)
                .ok_or_else(|| {
                    SimError::invalid_param(&quantity_param, "The line item amount is too large.")
                })?;
            items.push(LineItemRecord {
                id: ids::line_item(),
                price,
                quantity: line.quantity,
                amount,
            });
        }
        Ok(items)
    }

    fn resolve_price(&self, i: usize, spec: &PriceSpec, now: i64) -> Result<PriceRecord, SimError> {
        match spec {
            PriceSpec::Catalog(id) => {
                let param = format!("line_items[{i}][price]");
                if id.is_empty() {
                    return Err(SimError::empty_param(&param));
                }
                let price = self
                    .catalog()
                    .price(id)
                    .ok_or_else(|| SimError::missing_reference("price", id, &param))?;
                if !price.active {
                    return Err(SimError::inactive_price(&param));
                }
                Ok(price.clone())
            }
            PriceSpec::Inline(data) => {
                let base = format!("line_items[{i}][price_data]");
                if !is_currency_code(&data.currency) {
                    return Err(SimError::invalid_param(
                        &format!("{base}[currency]"),
                        format!("Invalid currency: {}", data.currency),
                    ));
                }
                if data.unit_amount < 0 {
                    return Err(SimError::invalid_param(
                        &format!("{base}[unit_amount]"),
                        "This value must be greater than or equal to 0.",
                    ));
                }
                if data.product_name.is_empty() {
                    return Err(SimError::empty_param(&format!(
                        "{base}[product_data][name]"
                    )));
                }
                Ok(PriceRecord {
                    id: ids::price(),
                    product_id: ids::product(),
                    product_name: data.product_name.clone(),
                    unit_amount: data.unit_amount,
                    currency: data.currency.clone(),
                    created: now,
                    // Single-use: it belongs to this session, not to the listable catalog.
                    active: false,
                    recurring: None,
                })
            }
        }
    }
}

/// The parameter that determined a line's currency, for the mixed-currency error.
fn price_param(i: usize, spec: &PriceSpec, field: &str) -> String {
    match spec {
        PriceSpec::Catalog(_) => format!("line_items[{i}][price]"),
        PriceSpec::Inline(_) => format!("line_items[{i}][price_data][{field}]"),
    }
}

/// Stripe's rules on which prices a mode sells: one-time prices in `payment` mode; in
/// `subscription` mode at least one recurring price (one-time ones go on the first invoice),
/// all billed on one interval.
fn check_prices_fit_mode(mode: &str, items: &[LineItemRecord]) -> Result<(), SimError> {
    let mut recurring = items
        .iter()
        .enumerate()
        .filter_map(|(i, li)| li.price.recurring.as_ref().map(|r| (i, r)));
    if mode == "payment" {
        return match recurring.next() {
            Some((i, _)) => Err(SimError::invalid_param(
                &format!("line_items[{i}][price]"),
                "You specified `payment` mode but passed a recurring price. Either switch to \
                 `subscription` mode or use only one-time prices.",
            )),
            None => Ok(()),
        };
    }
    let Some((_, first)) = recurring.next() else {
        return Err(SimError::invalid_param(
            "line_items",
            "You must provide at least one recurring price in `subscription` mode when using \
             prices.",
        ));
    };
    match recurring.find(|(_, r)| *r != first) {
        Some((i, _)) => Err(SimError::invalid_param(
            &format!("line_items[{i}][price]"),
            "Checkout does not support multiple prices with different billing intervals.",
        )),
        None => Ok(()),
    }
}

fn check_mode(mode: &str) -> Result<(), SimError> {
    match mode {
        "payment" | "subscription" => Ok(()),
        "" => Err(SimError::empty_param("mode")),
        "setup" => Err(SimError::invalid_param(
            "mode",
            "stripe-sim simulates mode=payment and mode=subscription, not mode=setup.",
        )),
        other => Err(SimError::invalid_param(
            "mode",
            format!("Invalid mode: must be one of payment, setup, or subscription (got {other})."),
        )),
    }
}

pub(super) fn check_url(param: &str, raw: &str) -> Result<(), SimError> {
    // `{CHECKOUT_SESSION_ID}` is a template Stripe fills in on redirect; braces are not valid in
    // a URL, so replace it before checking the rest.
    let candidate = raw.replace("{CHECKOUT_SESSION_ID}", "x");
    match url::Url::parse(&candidate) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        _ => Err(SimError::invalid_param(
            param,
            format!("Invalid URL: {raw}. URLs must be absolute http or https URLs."),
        )),
    }
}

fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), SimError> {
    if metadata.len() > MAX_METADATA_KEYS {
        return Err(SimError::invalid_param(
            "metadata",
            format!("You can specify up to {MAX_METADATA_KEYS} keys in metadata."),
        ));
    }
    for (key, value) in metadata {
        let param = format!("metadata[{key}]");
        if key.is_empty() || key.chars().count() > MAX_METADATA_KEY_LEN {
            return Err(SimError::invalid_param(
                &param,
                format!("Metadata keys must be 1 to {MAX_METADATA_KEY_LEN} characters long."),
            ));
        }
        if value.chars().count() > MAX_METADATA_VALUE_LEN {
            return Err(SimError::invalid_param(
                &param,
                format!("Metadata values can have up to {MAX_METADATA_VALUE_LEN} characters."),
            ));
        }
    }
    Ok(())
}
